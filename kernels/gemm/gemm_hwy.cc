// kernels/gemm/gemm_hwy.cc: the int8 GEMM microkernels and epilogues, written
// once with Highway and compiled for avx2, avx512 (AVX3), avx512_vnni
// (AVX3_DL) and neon (+ a dotprod variant). Contract and packed layouts:
// gemm_kernels.h.
//
// Two kernel shapes, each an MR x NRV-vector tile of int32 accumulators held
// in registers for the whole K loop (one vector = L columns, L int32 lanes):
//  - c2 (widening, exact for all inputs): per k pair, each weight vector is
//    2L int8 sign-extended to int16 (vpmovsxbw / sxtl) and each row's pair of
//    int16 activations is broadcast; vpmaddwd (x86) or smlal/smlal2 (NEON)
//    multiply-adds 16-bit products into int32. No product can saturate.
//  - c4 (8-bit dot products, K quads): vpdpbusd (AVX-512 VNNI, u8 x s8, exact),
//    sdot (NEON dotprod, s8 x s8, exact), or vpmaddubsw + vpmaddwd(1) (x86
//    without VNNI: saturates int16 unless each adjacent K pair has
//    |w0| + |w1| <= 128 or activations are 7-bit; create() decides).
// Register budgets (accumulators + weight vectors + one broadcast):
//   AVX2 (16 ymm):  6x16c2 12 + 2 + 1 (measured 15% faster than 4x16c2 at
//   1024^3); 4x16c4 8 + 2 + 1 + ones.
//   AVX-512 (32 zmm): 6x32c2 12 + 2 + 1; 8x32c4 maddubs 16 + 2 + 1 + ones;
//   VNNI 6x64c4 24 + 4 + 1.
//   NEON (32 q): 4x8c2 keeps two partial sums per vector (smlal low/high
//   halves, paired up once after the K loop): 16 + 2 + 1; 4x16c4 16 + 4 + 1.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/gemm/gemm_hwy.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <cstring>
#include <type_traits>
#include <utility>

#include "hwy/highway.h"
#include "kernels/common/hwy_slots.h"
#include "kernels/gemm/gemm_kernels.h"
#include "kernels/quantize/requant-inl.h"

HWY_BEFORE_NAMESPACE();
namespace qkern {
namespace internal {
namespace HWY_NAMESPACE {
namespace gemm_family {
#if QKERN_HWY_SIMD_TARGET
namespace hn = hwy::HWY_NAMESPACE;

using D32 = hn::ScalableTag<int32_t>;
using D16 = hn::Repartition<int16_t, D32>;
using D8H = hn::Rebind<int8_t, D16>;     // half a vector of int8: one per int16 lane
using D8 = hn::Repartition<int8_t, D32>;  // a full vector of int8
using DF = hn::Repartition<float, D32>;
using V32 = hn::Vec<D32>;
using V16 = hn::Vec<D16>;
constexpr size_t kLanes = hn::MaxLanes(D32());  // int32 lanes = columns per vector

HWY_INLINE int32_t LoadI32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// ---------------------------------------------------------------- c2 kernel
// kRows rows computed (<= kMR, the panel's row count), NRV vectors of columns.
template <size_t kRows, size_t kMR, size_t NRV>
void UkernelC2(size_t kb, const void* a_panel, const int8_t* HWY_RESTRICT w,
               int32_t* HWY_RESTRICT tile) {
  const D32 d32;
  const D16 d16;
  const D8H d8h;
  const int16_t* HWY_RESTRICT a = static_cast<const int16_t*>(a_panel);
  V32 vacc0[kRows][NRV], vacc1[kRows][NRV];  // vacc1 stays zero on x86 (vpmaddwd pairs in place)
#pragma GCC unroll 8
  for (size_t m = 0; m < kRows; ++m) {
#pragma GCC unroll 8
    for (size_t v = 0; v < NRV; ++v) vacc0[m][v] = vacc1[m][v] = hn::Zero(d32);
  }
  for (size_t k = 0; k < kb; ++k) {
    V16 vw[NRV];
#pragma GCC unroll 8
    for (size_t v = 0; v < NRV; ++v) vw[v] = hn::PromoteTo(d16, hn::LoadU(d8h, w + v * 2 * kLanes));
#pragma GCC unroll 8
    for (size_t m = 0; m < kRows; ++m) {
      const V16 va = hn::BitCast(d16, hn::Set(d32, LoadI32(a + 2 * m)));  // (a[k], a[k+1]) in every lane
#pragma GCC unroll 8
      for (size_t v = 0; v < NRV; ++v) {
        vacc0[m][v] = hn::ReorderWidenMulAccumulate(d32, va, vw[v], vacc0[m][v], vacc1[m][v]);
      }
    }
    w += NRV * 2 * kLanes;
    a += 2 * kMR;
  }
#pragma GCC unroll 8
  for (size_t m = 0; m < kRows; ++m) {
#pragma GCC unroll 8
    for (size_t v = 0; v < NRV; ++v) {
      hn::StoreU(hn::RearrangeToOddPlusEven(vacc0[m][v], vacc1[m][v]), d32,
                 tile + m * NRV * kLanes + v * kLanes);
    }
  }
}

// ---------------------------------------------------------------- c4 kernel
// The 8-bit dot product of each int32 lane's four bytes, added to vacc.
// (foreach_target includes this file once per target: macros are redefined.)
#undef QKERN_GEMM_C4_TARGET
#undef QKERN_GEMM_C4_NAME
#undef QKERN_DOT4
#undef QKERN_GEMM_C2_NAME
#undef QKERN_GEMM_C4_TILE
#if HWY_TARGET == HWY_AVX3_DL
// Highway 1.0.3's AVX3_DL target string lacks avx512vnni (TOOLCHAIN.md): the
// kernel function carries it; the EVEX zmm form is the only one emitted.
// clang lets a function's target attribute replace the enclosing HWY_ATTR one (g++
// merges them): repeat Highway's own string so the kernel keeps AVX3_DL's features.
#define QKERN_GEMM_C4_TARGET __attribute__((target(HWY_TARGET_STR ",avx512vnni")))
#define QKERN_GEMM_C4_NAME "c4"
#define QKERN_DOT4(vacc, va, vw) V32 { _mm512_dpbusd_epi32((vacc).raw, (va).raw, (vw).raw) }
#elif HWY_TARGET == HWY_AVX3
#define QKERN_GEMM_C4_TARGET
#define QKERN_GEMM_C4_NAME "c4_maddubs"
#define QKERN_DOT4(vacc, va, vw) \
  V32 { _mm512_add_epi32((vacc).raw, _mm512_madd_epi16(_mm512_maddubs_epi16((va).raw, (vw).raw), _mm512_set1_epi16(1))) }
#elif HWY_TARGET == HWY_AVX2
#define QKERN_GEMM_C4_TARGET
#define QKERN_GEMM_C4_NAME "c4_maddubs"
#define QKERN_DOT4(vacc, va, vw) \
  V32 { _mm256_add_epi32((vacc).raw, _mm256_madd_epi16(_mm256_maddubs_epi16((va).raw, (vw).raw), _mm256_set1_epi16(1))) }
#elif HWY_TARGET == HWY_NEON
// g++ 12 rejects plain "+dotprod"; +crypto keeps Highway's NEON ops inlinable.
#define QKERN_GEMM_C4_TARGET __attribute__((target("arch=armv8.2-a+dotprod+crypto")))
#define QKERN_GEMM_C4_NAME "c4"
#define QKERN_DOT4(vacc, va, vw) \
  V32 { vdotq_s32((vacc).raw, vreinterpretq_s8_s32((vw).raw), vreinterpretq_s8_s32((va).raw)) }
#endif

template <size_t kRows, size_t kMR, size_t NRV>
QKERN_GEMM_C4_TARGET void UkernelC4(size_t kb, const void* a_panel, const int8_t* HWY_RESTRICT w,
                                    int32_t* HWY_RESTRICT tile) {
  const D32 d32;
  const uint8_t* HWY_RESTRICT a = static_cast<const uint8_t*>(a_panel);
  V32 vacc[kRows][NRV];
#pragma GCC unroll 8
  for (size_t m = 0; m < kRows; ++m) {
#pragma GCC unroll 8
    for (size_t v = 0; v < NRV; ++v) vacc[m][v] = hn::Zero(d32);
  }
  // Two k steps per iteration: the loop's own four instructions measured 2-3%
  // of the 6x64 VNNI kernel (and up to 2x at 2-3 rows, K = 1024).
#pragma GCC unroll 2
  for (size_t k = 0; k < kb; ++k) {
    V32 vw[NRV];
#pragma GCC unroll 8
    for (size_t v = 0; v < NRV; ++v) vw[v] = hn::LoadU(d32, reinterpret_cast<const int32_t*>(w + v * 4 * kLanes));
#pragma GCC unroll 8
    for (size_t m = 0; m < kRows; ++m) {
      const V32 va = hn::Set(d32, LoadI32(a + 4 * m));  // a[k..k+3] in every lane
#pragma GCC unroll 8
      for (size_t v = 0; v < NRV; ++v) vacc[m][v] = QKERN_DOT4(vacc[m][v], va, vw[v]);
    }
    w += NRV * 4 * kLanes;
    a += 4 * kMR;
  }
#pragma GCC unroll 8
  for (size_t m = 0; m < kRows; ++m) {
#pragma GCC unroll 8
    for (size_t v = 0; v < NRV; ++v) hn::StoreU(vacc[m][v], d32, tile + m * NRV * kLanes + v * kLanes);
  }
}

#if HWY_TARGET == HWY_AVX3_DL
// ------------------------------------------------------------- A packing
// One 6-row panel of the 6x64c4 config, 16 k groups (64 bytes of each row)
// at a time: out dword (g, r) = row r's dword g, i.e. a 6 x 16 transpose of
// dwords. vpermt2d pairs rows (0,1), (2,3), (4,5) into qwords (r, r+1) per
// group; then each output zmm takes 8 qwords (group i, pair p) = q / 3, q % 3
// from the three pair vectors: one vpermt2q for pairs 0 and 1, one masked
// vpermq for pair 2. 18 shuffles and 6 stores per 384 bytes, where the
// portable copy spends 96 four-byte stores (3% of a 1024^3 GEMM).
size_t PackPanel6x4(const uint8_t* a, size_t lda, size_t groups, uint32_t flip, uint8_t* panel) {
  const __m512i vflip = _mm512_set1_epi32(static_cast<int>(flip));
  const __m512i lo32 = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi32 = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  __m512i idx01[3], idx2[3];
  __mmask8 mask2[3];
  for (int j = 0; j < 3; ++j) {
    alignas(64) int64_t i01[8], i2[8];
    unsigned m = 0;
    for (int slot = 0; slot < 8; ++slot) {
      const int q = 8 * j + slot, pair = q % 3, i = q / 3;
      i01[slot] = pair == 0 ? i : pair == 1 ? 8 + i : 0;
      i2[slot] = i;
      if (pair == 2) m |= 1u << slot;
    }
    idx01[j] = _mm512_load_si512(i01);
    idx2[j] = _mm512_load_si512(i2);
    mask2[j] = static_cast<__mmask8>(m);
  }
  size_t g = 0;
  for (; g + 16 <= groups; g += 16) {
    __m512i r[6];
    for (int row = 0; row < 6; ++row) {
      r[row] = _mm512_xor_si512(_mm512_loadu_si512(a + row * lda + 4 * g), vflip);
    }
    uint8_t* out = panel + g * 24;  // 6 rows x 4 bytes per group
    for (int half = 0; half < 2; ++half) {
      const __m512i sel = half ? hi32 : lo32;
      const __m512i p01 = _mm512_permutex2var_epi32(r[0], sel, r[1]);
      const __m512i p23 = _mm512_permutex2var_epi32(r[2], sel, r[3]);
      const __m512i p45 = _mm512_permutex2var_epi32(r[4], sel, r[5]);
      for (int j = 0; j < 3; ++j) {
        const __m512i t = _mm512_permutex2var_epi64(p01, idx01[j], p23);
        _mm512_storeu_si512(out + (half * 3 + j) * 64, _mm512_mask_permutexvar_epi64(t, mask2[j], idx2[j], p45));
      }
    }
  }
  return g;
}
#endif

// --------------------------------------------------------------- epilogue

// kFinite (kFp32* with every multiplier finite): requant::CodesFromFinite
// instead of the NaN-guarded Round + CodesFromRounded, the same bytes.
template <GemmEpilogue::Kind kKind, bool kFinite = false>
HWY_INLINE void EpilogueT(const int32_t* tile, size_t mr, size_t nr_tile, size_t nr, size_t n0,
                          const GemmEpilogue& ep, void* c, size_t ldc) {
  const D32 d32;
  const DF df;
  using requant::kMagic;
  const hn::Vec<DF> zom = hn::Set(df, static_cast<float>(ep.zero_point) + kMagic);
  const hn::Vec<DF> lom = hn::Set(df, static_cast<float>(ep.lo) + kMagic);
  const hn::Vec<DF> him = hn::Set(df, static_cast<float>(ep.hi) + kMagic);
  // clamp(v + zo, lo, hi) == clamp(v, lo - zo, hi - zo) + zo, without overflow.
  const V32 vlo = hn::Set(d32, ep.lo - ep.zero_point), vhi = hn::Set(d32, ep.hi - ep.zero_point);
  const V32 vzo = hn::Set(d32, ep.zero_point);
  const hn::Vec<DF> vhi_f = hn::Set(df, static_cast<float>(ep.hi - ep.zero_point));
  // Locals, not ep's fields: C's bytes may alias anything, so fields would be
  // reloaded after every store.
  const int32_t* HWY_RESTRICT bias = ep.bias;
  const float* HWY_RESTRICT mult = ep.multiplier;
  const float* HWY_RESTRICT bias_f = ep.bias_f;
  const int32_t* HWY_RESTRICT q31 = ep.q31;
  const int32_t* HWY_RESTRICT shift = ep.shift;
  for (size_t m = 0; m < mr; ++m) {
    const int32_t* t = tile + m * nr_tile;
    for (size_t j = 0; j < nr; j += kLanes) {
      const size_t count = nr - j < kLanes ? nr - j : kLanes;
      const size_t n = n0 + j;  // per-channel arrays are padded: whole vectors are in bounds
      const V32 acc = hn::Add(hn::LoadU(d32, t + j), hn::LoadU(d32, bias + n));  // wraps
      if constexpr (kKind == GemmEpilogue::kInt32 || kKind == GemmEpilogue::kFloat) {
        V32 y = acc;
        if constexpr (kKind == GemmEpilogue::kFloat) {
          y = hn::BitCast(d32, hn::MulAdd(hn::ConvertTo(df, acc), hn::LoadU(df, mult + n),
                                          hn::LoadU(df, bias_f + n)));
        }
        int32_t* out = static_cast<int32_t*>(c) + m * ldc + j;  // float bits or int32
        if (count == kLanes) {
          hn::StoreU(y, d32, out);
        } else {  // the last columns: through a stack vector, never past C's row
          HWY_ALIGN int32_t buf[kLanes];
          hn::Store(y, d32, buf);
          std::memcpy(out, buf, count * sizeof(int32_t));
        }
      } else {
        V32 codes;
        if constexpr (kKind == GemmEpilogue::kFp32U8 || kKind == GemmEpilogue::kFp32S8) {
          const auto t = hn::Mul(hn::ConvertTo(df, acc), hn::LoadU(df, mult + n));
          if constexpr (kFinite) {
            codes = requant::CodesFromFinite(t, vhi_f, vlo, vzo);
          } else {
            codes = requant::CodesFromRounded(hn::Round(t), zom, lom, him);  // NaN (0 * inf) -> zo
          }
        } else {
          const V32 v = requant::MultiplyByQuantizedMultiplier(acc, hn::LoadU(d32, q31 + n),
                                                               hn::LoadU(d32, shift + n));
          codes = hn::Add(hn::Min(hn::Max(v, vlo), vhi), vzo);
        }
        using TOut = std::conditional_t<kKind == GemmEpilogue::kFp32S8 || kKind == GemmEpilogue::kFixedS8,
                             int8_t, uint8_t>;
        TOut* out = static_cast<TOut*>(c) + m * ldc + j;
        if (count == kLanes) {
          requant::StoreCodes(codes, out);
        } else {
          HWY_ALIGN TOut buf[kLanes];
          requant::StoreCodes(codes, buf);
          std::memcpy(out, buf, count);
        }
      }
    }
  }
}

void Epilogue(const int32_t* tile, size_t mr, size_t nr_tile, size_t nr, size_t n0,
              const GemmEpilogue& ep, void* c, size_t ldc) {
  switch (ep.kind) {
    case GemmEpilogue::kInt32:
      return EpilogueT<GemmEpilogue::kInt32>(tile, mr, nr_tile, nr, n0, ep, c, ldc);
    case GemmEpilogue::kFloat:
      return EpilogueT<GemmEpilogue::kFloat>(tile, mr, nr_tile, nr, n0, ep, c, ldc);
    case GemmEpilogue::kFp32U8:
      return ep.finite_mult ? EpilogueT<GemmEpilogue::kFp32U8, true>(tile, mr, nr_tile, nr, n0, ep, c, ldc)
                            : EpilogueT<GemmEpilogue::kFp32U8>(tile, mr, nr_tile, nr, n0, ep, c, ldc);
    case GemmEpilogue::kFp32S8:
      return ep.finite_mult ? EpilogueT<GemmEpilogue::kFp32S8, true>(tile, mr, nr_tile, nr, n0, ep, c, ldc)
                            : EpilogueT<GemmEpilogue::kFp32S8>(tile, mr, nr_tile, nr, n0, ep, c, ldc);
    case GemmEpilogue::kFixedU8:
      return EpilogueT<GemmEpilogue::kFixedU8>(tile, mr, nr_tile, nr, n0, ep, c, ldc);
    case GemmEpilogue::kFixedS8:
      return EpilogueT<GemmEpilogue::kFixedS8>(tile, mr, nr_tile, nr, n0, ep, c, ldc);
  }
}

// ------------------------------------------------------------------ tables

// The tables are constant-initialized (constexpr): building them at run time
// would execute this target's instructions while the registry is filled,
// before dispatch knows whether the CPU has them.
template <size_t kMR, size_t NRV, size_t... kRows>
constexpr GemmConfig MakeC2(const char* name, std::index_sequence<kRows...>) {
  GemmConfig c;
  c.name = name;
  c.mr = kMR;
  c.nr = NRV * kLanes;
  c.kr = 2;
  c.a_int16 = true;
  ((c.ukernel[kRows] = &UkernelC2<kRows + 1, kMR, NRV>), ...);
  return c;
}

template <size_t kMR, size_t NRV, size_t... kRows>
constexpr GemmConfig MakeC4(const char* name, int shift_u8, int shift_s8, std::index_sequence<kRows...>) {
  GemmConfig c;
  c.name = name;
  c.mr = kMR;
  c.nr = NRV * kLanes;
  c.kr = 4;
  c.shift_u8 = shift_u8;
  c.shift_s8 = shift_s8;
  ((c.ukernel[kRows] = &UkernelC4<kRows + 1, kMR, NRV>), ...);
#if HWY_TARGET == HWY_AVX3_DL
  if (kMR == 6) c.pack_panel = &PackPanel6x4;  // the 8x32 narrow config packs portably
#endif
  return c;
}

#if HWY_TARGET == HWY_AVX2
constexpr size_t kMRC2 = 6, kNRVC2 = 2, kMRC4 = 4, kNRVC4 = 2;
#define QKERN_GEMM_C2_NAME "6x16c2"
#define QKERN_GEMM_C4_TILE "4x16"
#elif HWY_TARGET == HWY_AVX3
// c2 stops at 6 rows: a 6-row int16 panel of the largest K (kQGemmMaxK) fits
// the 1 MiB workspace; 8 rows would not.
constexpr size_t kMRC2 = 6, kNRVC2 = 2, kMRC4 = 8, kNRVC4 = 2;
#define QKERN_GEMM_C2_NAME "6x32c2"
#define QKERN_GEMM_C4_TILE "8x32"
#elif HWY_TARGET == HWY_AVX3_DL
// vpdpbusd zmm issues twice per cycle on Zen 5: 6x64 (24 accumulators, 4
// weight vectors and 6 broadcasts per 24 dot products) measured 1-3% above
// 8x32 and 8x48 at M >= 256 and, with four independent chains per row, 15%
// above them on the GEMV. Small M is split into balanced row panels (8 rows
// run as 4 + 4, not 6 + 2).
constexpr size_t kMRC2 = 6, kNRVC2 = 2, kMRC4 = 6, kNRVC4 = 4;
#define QKERN_GEMM_C2_NAME "6x32c2"
#define QKERN_GEMM_C4_TILE "6x64"
#else  // NEON
constexpr size_t kMRC2 = 4, kNRVC2 = 2, kMRC4 = 4, kNRVC4 = 4;
#define QKERN_GEMM_C2_NAME "4x8c2"
#define QKERN_GEMM_C4_TILE "4x16"
#endif

constexpr GemmConfig ConfigC2() {
  return MakeC2<kMRC2, kNRVC2>(QKERN_GEMM_C2_NAME, std::make_index_sequence<kMRC2>());
}
// vpdpbusd and vpmaddubsw take u8 activations (s8 shifted by +128); sdot takes s8 (u8 by -128).
constexpr GemmConfig ConfigC4() {
#if HWY_TARGET == HWY_NEON
  return MakeC4<kMRC4, kNRVC4>(QKERN_GEMM_C4_TILE QKERN_GEMM_C4_NAME, -128, 0,
                               std::make_index_sequence<kMRC4>());
#else
  return MakeC4<kMRC4, kNRVC4>(QKERN_GEMM_C4_TILE QKERN_GEMM_C4_NAME, 0, 128,
                               std::make_index_sequence<kMRC4>());
#endif
}

constexpr GemmKernels MakeTable() {
  GemmKernels k;
#if HWY_TARGET == HWY_AVX3_DL
  k.exact = ConfigC4();  // vpdpbusd: exact for every input
  // N <= 32: 6x64 would multiply half padding; 8x32 (16 accumulators) took
  // MobileNetV2's 16- to 32-channel 1x1 projections from 0.113 to 0.078 ms
  // (112 x 112 x 32 -> 16) and 0.091 to 0.069 ms (56 x 56 x 144 -> 24) on Zen 5.
  k.narrow = MakeC4<8, 2>("8x32c4", 0, 128, std::make_index_sequence<8>());
#else
  k.exact = ConfigC2();
#if HWY_TARGET != HWY_NEON
  k.maddubs = ConfigC4();
#endif
#endif
  k.epilogue = &Epilogue;
  return k;
}

const GemmKernels* Table() {
  static constexpr GemmKernels kTable = MakeTable();
  return &kTable;
}

#if HWY_TARGET == HWY_NEON
// neon_dotprod: sdot kernels; dispatch selects this table only after HWCAP_ASIMDDP.
constexpr GemmKernels MakeTableDot() {
  GemmKernels k;
  k.exact = ConfigC4();
  k.epilogue = &Epilogue;
  return k;
}
const GemmKernels* TableDot() {
  static constexpr GemmKernels kTable = MakeTableDot();
  return &kTable;
}
#endif

#endif  // QKERN_HWY_SIMD_TARGET
}  // namespace gemm_family
}  // namespace HWY_NAMESPACE
}  // namespace internal
}  // namespace qkern
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qkern {
namespace internal {
QKERN_HWY_KERNEL_ACCESSORS(GemmKernels, gemm, gemm_family)
const GemmKernels* gemm_kernels_neon_dotprod() {
  return QKERN_HWY_SLOT_NEON(gemm_family::TableDot());
}
}  // namespace internal
}  // namespace qkern
#endif
