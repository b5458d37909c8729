// kernels/conv/dwconv_hwy.cc: the depthwise convolution microkernel, written
// once with Highway and compiled for avx2, avx512 (AVX3), avx512_vnni
// (AVX3_DL) and neon. Contract and layouts: conv_kernels.h.
//
// Per vector of L channels and per tap: the L input bytes widened to int32
// lanes (vpmovzxbd / vpmovsxbd from memory, uxtl / sxtl on NEON) and
// multiplied by the tap's weights into the lane's int32 sum (MulAcc below),
// so each channel stays in its lane with no interleave of taps or channels
// and the epilogue reads channels in order. Two channel vectors per step give
// two independent accumulator chains per tap loop.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/conv/dwconv_hwy.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <cstring>

#include "hwy/highway.h"
#include "kernels/common/hwy_slots.h"
#include "kernels/conv/conv_kernels.h"

HWY_BEFORE_NAMESPACE();
namespace qkern {
namespace internal {
namespace HWY_NAMESPACE {
namespace dw_family {
#if QKERN_HWY_SIMD_TARGET
namespace hn = hwy::HWY_NAMESPACE;

using D32 = hn::ScalableTag<int32_t>;
using V32 = hn::Vec<D32>;
constexpr size_t kL = hn::MaxLanes(D32());

// L channels of an input pixel as int32 lanes.
template <typename T>
HWY_INLINE V32 LoadX(const T* HWY_RESTRICT p) {
  const hn::Rebind<T, D32> d8;
  return hn::PromoteTo(D32(), hn::LoadU(d8, p));
}

// acc + x * w per int32 lane. x86: w is stored as its low 16 bits (the high
// half zero, DwKernels::w_low16), so vpmaddwd's pair sum is x * w + x_hi * 0
// (x fits int16, its sign-extended high half meets the zero); vpmulld zmm
// issues at half vpmaddwd's rate on Zen 5 and was the kernel's bound.
// avx512_vnni fuses the add (vpdpwssd). NEON multiplies int32 lanes (mla).
#undef QKERN_DW_TARGET
#if HWY_TARGET == HWY_AVX3_DL
// clang lets a function's target attribute replace the enclosing HWY_ATTR one (g++
// merges them): repeat Highway's own string so the kernel keeps AVX3_DL's features.
#define QKERN_DW_TARGET __attribute__((target(HWY_TARGET_STR ",avx512vnni")))
#else
#define QKERN_DW_TARGET
#endif
QKERN_DW_TARGET HWY_INLINE V32 MulAcc(V32 acc, V32 x, V32 w) {
#if HWY_TARGET == HWY_AVX3_DL
  return V32{_mm512_dpwssd_epi32(acc.raw, x.raw, w.raw)};
#elif HWY_TARGET == HWY_AVX3
  return V32{_mm512_add_epi32(acc.raw, _mm512_madd_epi16(x.raw, w.raw))};
#elif HWY_TARGET == HWY_AVX2
  return V32{_mm256_add_epi32(acc.raw, _mm256_madd_epi16(x.raw, w.raw))};
#else
  return hn::Add(acc, hn::Mul(x, w));
#endif
}

// Registers for weights held across pixels (32 zmm: 18 of 3x3 x 2 vectors or
// 25 of 5x5 x 1, leaving room for sums and inputs; 16 ymm: 9 of 3x3 x 1).
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_NEON
constexpr size_t kWeightRegs = 25;
#else
constexpr size_t kWeightRegs = 9;
#endif
template <size_t kTaps>
constexpr size_t kWeightVecs = kTaps * 2 <= kWeightRegs ? 2 : 1;

// Where pixel p's tap t is: an indirection buffer, or (a run of interior
// pixels of one output row) base + p * step + off[t].
struct PtrTaps {
  const void* const* in;
  size_t taps;
  HWY_INLINE const void* at(size_t p, size_t t) const { return in[p * taps + t]; }
};
struct RowTaps {
  const uint8_t* base;
  size_t step;
  const int64_t* HWY_RESTRICT off;
  HWY_INLINE const void* at(size_t p, size_t t) const { return base + p * step + off[t]; }
};

// kTaps: the tap count baked in (9: 3x3, 25: 5x5; the tap loop unrolls), or
// 0 for any (taps as passed).
template <typename T, size_t kTaps, class Taps>
QKERN_DW_TARGET HWY_INLINE void DwBody(size_t pixels, size_t taps_any, const Taps& in, size_t channels,
                                       const int32_t* HWY_RESTRICT w, int32_t* HWY_RESTRICT acc) {
  const size_t taps = kTaps ? kTaps : taps_any;
  const D32 d32;
  const size_t c_pad = (channels + kDwChannelPad - 1) / kDwChannelPad * kDwChannelPad;
  const size_t full = channels / kL * kL;
  size_t c_done = 0;
  if constexpr (kTaps != 0 && kTaps * kWeightVecs<kTaps> <= kWeightRegs) {
    // Baked taps whose weights fit in registers: channel blocks outermost, so
    // each block's kTaps x V weight vectors are loaded once for all the run's
    // pixels (a weight load per multiply-add was half of the kernel's loads).
    constexpr size_t kV = kWeightVecs<kTaps>;
    for (; c_done + kV * kL <= full; c_done += kV * kL) {
      V32 wv[kTaps][kV];
#pragma GCC unroll 25
      for (size_t t = 0; t < kTaps; ++t) {
#pragma GCC unroll 2
        for (size_t v = 0; v < kV; ++v) wv[t][v] = hn::LoadU(d32, w + t * c_pad + c_done + v * kL);
      }
      for (size_t p = 0; p < pixels; ++p) {
        V32 sum[kV];
#pragma GCC unroll 2
        for (size_t v = 0; v < kV; ++v) sum[v] = hn::Zero(d32);
#pragma GCC unroll 25
        for (size_t t = 0; t < kTaps; ++t) {
          const T* x = static_cast<const T*>(in.at(p, t)) + c_done;
#pragma GCC unroll 2
          for (size_t v = 0; v < kV; ++v) sum[v] = MulAcc(sum[v], LoadX(x + v * kL), wv[t][v]);
        }
#pragma GCC unroll 2
        for (size_t v = 0; v < kV; ++v) hn::StoreU(sum[v], d32, acc + p * c_pad + c_done + v * kL);
      }
    }
  }
  for (size_t p = 0; p < pixels; ++p) {
    int32_t* HWY_RESTRICT out = acc + p * c_pad;
    size_t c = c_done;
    for (; c + 2 * kL <= full; c += 2 * kL) {
      V32 acc0 = hn::Zero(d32), acc1 = hn::Zero(d32);
#pragma GCC unroll 25
      for (size_t t = 0; t < taps; ++t) {
        const T* x = static_cast<const T*>(in.at(p, t)) + c;
        const int32_t* wt = w + t * c_pad + c;
        acc0 = MulAcc(acc0, LoadX(x), hn::LoadU(d32, wt));
        acc1 = MulAcc(acc1, LoadX(x + kL), hn::LoadU(d32, wt + kL));
      }
      hn::StoreU(acc0, d32, out + c);
      hn::StoreU(acc1, d32, out + c + kL);
    }
    for (; c < channels; c += kL) {
      const size_t count = channels - c < kL ? channels - c : kL;
      V32 acc0 = hn::Zero(d32);
#pragma GCC unroll 25
      for (size_t t = 0; t < taps; ++t) {
        const T* x = static_cast<const T*>(in.at(p, t)) + c;
        V32 xv;
        if (count == kL) {
          xv = LoadX(x);
        } else {  // the last channels: through a stack copy, never past the pixel
          T buf[kL] = {};
          std::memcpy(buf, x, count * sizeof(T));
          xv = LoadX(buf);
        }
        acc0 = MulAcc(acc0, xv, hn::LoadU(d32, w + t * c_pad + c));
      }
      hn::StoreU(acc0, d32, out + c);  // acc rows are c_pad wide: whole vectors fit
    }
  }
}

template <typename T, size_t kTaps>
QKERN_DW_TARGET void DwUkernel(size_t pixels, size_t taps, const void* const* in, size_t channels,
                               const int32_t* HWY_RESTRICT w, int32_t* HWY_RESTRICT acc) {
  DwBody<T, kTaps>(pixels, taps, PtrTaps{in, taps}, channels, w, acc);
}

template <typename T, size_t kTaps>
QKERN_DW_TARGET void DwRowUkernel(size_t pixels, size_t taps, const uint8_t* base, size_t step, const int64_t* off,
                                  size_t channels, const int32_t* HWY_RESTRICT w, int32_t* HWY_RESTRICT acc) {
  DwBody<T, kTaps>(pixels, taps, RowTaps{base, step, off}, channels, w, acc);
}

#if HWY_TARGET == HWY_AVX3_DL
// 3x3 row runs at stride_w 1 and dilation_w 1 through vpdpbusd: for 16
// channels, kernel row kh of pixel p reads the 16-byte chunks of input
// columns p, p + 1, p + 2 (step bytes apart); one vpermb (VBMI) interleaves
// them into tap quads, lane c = bytes (x[p][c], x[p+1][c], x[p+2][c], 0),
// and one vpdpbusd multiplies the quad by (w[kh][0][c], w[kh][1][c],
// w[kh][2][c], 0): 3 instead of 9 multiply-adds and widening loads per
// pixel. Two pixels share a window of four chunks (p .. p + 3). s8 inputs
// are flipped to u8 (x + 128) and the sums start from the packed
// correction -128 * sum_t w[t][c] (DwKernels::u8_3x3_s1_quad). Chunks of a
// partial last channel block are masked loads: never a byte past the pixel's
// channels.
alignas(64) constexpr uint8_t kQuadIdx[2][64] = {
#define QKERN_Q(c, o) static_cast<uint8_t>((o) * 16 + (c)), static_cast<uint8_t>((o) * 16 + 16 + (c)), \
                      static_cast<uint8_t>((o) * 16 + 32 + (c)), 0
#define QKERN_Q16(o)                                                                                    \
  QKERN_Q(0, o), QKERN_Q(1, o), QKERN_Q(2, o), QKERN_Q(3, o), QKERN_Q(4, o), QKERN_Q(5, o), QKERN_Q(6, o), \
      QKERN_Q(7, o), QKERN_Q(8, o), QKERN_Q(9, o), QKERN_Q(10, o), QKERN_Q(11, o), QKERN_Q(12, o),           \
      QKERN_Q(13, o), QKERN_Q(14, o), QKERN_Q(15, o)
    {QKERN_Q16(0)},
    {QKERN_Q16(1)},
#undef QKERN_Q16
#undef QKERN_Q
};

// Chunks 0 .. n - 1 (a, a + step, ...) of 16 bytes (lm: the bytes to load) in the 128-bit blocks of a zmm.
template <bool kFull>
QKERN_DW_TARGET HWY_INLINE __m512i QuadWindow(const uint8_t* a, size_t step, int n, __mmask16 lm) {
  if constexpr (kFull) {
    __m512i z = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a)));
    z = _mm512_inserti32x4(z, _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + step)), 1);
    z = _mm512_inserti32x4(z, _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + 2 * step)), 2);
    if (n == 4) z = _mm512_inserti32x4(z, _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + 3 * step)), 3);
    return z;
  } else {
    __m512i z = _mm512_castsi128_si512(_mm_maskz_loadu_epi8(lm, a));
    z = _mm512_inserti32x4(z, _mm_maskz_loadu_epi8(lm, a + step), 1);
    z = _mm512_inserti32x4(z, _mm_maskz_loadu_epi8(lm, a + 2 * step), 2);
    if (n == 4) z = _mm512_inserti32x4(z, _mm_maskz_loadu_epi8(lm, a + 3 * step), 3);
    return z;
  }
}

template <bool kS8, bool kFull>
QKERN_DW_TARGET HWY_INLINE void DwQuadBlock(size_t pixels, const uint8_t* const rb[3], size_t step, __mmask16 lm,
                                            const __m512i wq[3], __m512i init, int32_t* HWY_RESTRICT acc,
                                            size_t c_pad) {
  const __m512i idx0 = _mm512_load_si512(kQuadIdx[0]), idx1 = _mm512_load_si512(kQuadIdx[1]);
  const __mmask64 keep = 0x7777777777777777ull;  // byte 3 of each quad: 0
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  size_t p = 0;
  for (; p + 2 <= pixels; p += 2) {
    __m512i s0 = init, s1 = init;
#pragma GCC unroll 3
    for (int kh = 0; kh < 3; ++kh) {
      __m512i z = QuadWindow<kFull>(rb[kh] + p * step, step, 4, lm);
      if constexpr (kS8) z = _mm512_xor_si512(z, flip);
      s0 = _mm512_dpbusd_epi32(s0, _mm512_maskz_permutexvar_epi8(keep, idx0, z), wq[kh]);
      s1 = _mm512_dpbusd_epi32(s1, _mm512_maskz_permutexvar_epi8(keep, idx1, z), wq[kh]);
    }
    _mm512_storeu_si512(acc + p * c_pad, s0);
    _mm512_storeu_si512(acc + (p + 1) * c_pad, s1);
  }
  if (p < pixels) {  // the last pixel: its own three chunks only
    __m512i s0 = init;
#pragma GCC unroll 3
    for (int kh = 0; kh < 3; ++kh) {
      __m512i z = QuadWindow<kFull>(rb[kh] + p * step, step, 3, lm);
      if constexpr (kS8) z = _mm512_xor_si512(z, flip);
      s0 = _mm512_dpbusd_epi32(s0, _mm512_maskz_permutexvar_epi8(keep, idx0, z), wq[kh]);
    }
    _mm512_storeu_si512(acc + p * c_pad, s0);
  }
}

// Row kernel contract (conv_kernels.h) with off[3 kh + kw] = off[3 kh] + kw * step.
template <bool kS8>
QKERN_DW_TARGET void DwQuadRows(size_t pixels, size_t /*taps: 9*/, const uint8_t* base, size_t step,
                                const int64_t* off, size_t channels, const int32_t* HWY_RESTRICT w,
                                int32_t* HWY_RESTRICT acc) {
  const size_t c_pad = (channels + kDwChannelPad - 1) / kDwChannelPad * kDwChannelPad;
  for (size_t c0 = 0; c0 < channels; c0 += 16) {
    __m512i wq[3];
#pragma GCC unroll 3
    for (int kh = 0; kh < 3; ++kh) wq[kh] = _mm512_loadu_si512(w + kh * c_pad + c0);
    const __m512i init = kS8 ? _mm512_loadu_si512(w + 3 * c_pad + c0) : _mm512_setzero_si512();
    const uint8_t* const rb[3] = {base + off[0] + c0, base + off[3] + c0, base + off[6] + c0};
    if (channels - c0 >= 16) {
      DwQuadBlock<kS8, true>(pixels, rb, step, 0xFFFF, wq, init, acc + c0, c_pad);
    } else {
      const __mmask16 lm = static_cast<__mmask16>((1u << (channels - c0)) - 1);
      DwQuadBlock<kS8, false>(pixels, rb, step, lm, wq, init, acc + c0, c_pad);
    }
  }
}
#endif

constexpr DwKernels MakeTable() {
  DwKernels k;
#if HWY_TARGET == HWY_NEON
  k.name = "dw_mla32";
#else
  k.name = HWY_TARGET == HWY_AVX3_DL ? "dw_dpwssd" : "dw_madd";
  k.w_low16 = true;
#endif
  k.u8 = &DwUkernel<uint8_t, 0>;
  k.s8 = &DwUkernel<int8_t, 0>;
  k.u8_3x3 = &DwUkernel<uint8_t, 9>;
  k.s8_3x3 = &DwUkernel<int8_t, 9>;
  k.u8_5x5 = &DwUkernel<uint8_t, 25>;
  k.s8_5x5 = &DwUkernel<int8_t, 25>;
  k.u8_rows = &DwRowUkernel<uint8_t, 0>;
  k.s8_rows = &DwRowUkernel<int8_t, 0>;
  k.u8_3x3_rows = &DwRowUkernel<uint8_t, 9>;
  k.s8_3x3_rows = &DwRowUkernel<int8_t, 9>;
  k.u8_5x5_rows = &DwRowUkernel<uint8_t, 25>;
  k.s8_5x5_rows = &DwRowUkernel<int8_t, 25>;
#if HWY_TARGET == HWY_AVX3_DL
  k.u8_3x3_s1_quad = &DwQuadRows<false>;
  k.s8_3x3_s1_quad = &DwQuadRows<true>;
#endif
  return k;
}

const DwKernels* Table() {
  static constexpr DwKernels kTable = MakeTable();
  return &kTable;
}

#endif  // QKERN_HWY_SIMD_TARGET
}  // namespace dw_family
}  // namespace HWY_NAMESPACE
}  // namespace internal
}  // namespace qkern
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qkern {
namespace internal {
QKERN_HWY_KERNEL_ACCESSORS(DwKernels, dw, dw_family)
}  // namespace internal
}  // namespace qkern
#endif
