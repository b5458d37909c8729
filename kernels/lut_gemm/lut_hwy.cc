// kernels/lut_gemm/lut_hwy.cc: the lookup GEMM microkernels, written once with
// Highway and compiled for avx2, avx512 (AVX3), avx512_vnni (AVX3_DL) and neon
// (+ a dotprod variant). Contract and packed layouts: lut_kernels.h.
//
// Per block of BB packed bytes of one column (KB = BB * 8/bits labels):
//   planes:  label planes t = (byte >> bits*t) & (2^bits - 1), P = 8/bits of them
//   int8:    w = TableLookupBytes(Cq column table, plane)   (vpshufb / tbl; the
//            16-entry table is the same in every 128-bit block)
//            widening (avx2, avx512, neon): w -> int16 halves, vpmaddwd / smlal
//            with int16 X (exact for every input);
//            dot (avx512_vnni vpdpbusd u8 x s8, neon_dotprod sdot s8 x s8):
//            4 bytes per int32 lane (exact); on avx2/avx512 the same kernel with
//            vpmaddubsw serves callers that declare 7-bit u8 activations.
//   fp32:    4-bit on avx2 and neon: four byte-plane lookups (vpshufb / tbl)
//            interleaved into floats (GemvF32Planes); otherwise labels widened to
//            int32 lanes and w = vpermps over the column's floats (one on avx2
//            2-bit and avx512, TableLookupLanes on neon 2-bit); fma with X.
//   The packed indices are prefetched 4 KiB ahead (a GEMV streams them once),
//   except by the 4-bit avx512_vnni dot kernel (see GemvI8Dot).
// Accumulators: MR rows x NR = 4 columns, one vector each (NEON widening keeps
// a second one for smlal2), reduced across lanes once after the K loop.
//   AVX2 (16 ymm): 2x4: 8 accumulators + table, packed bytes, plane, weights
//   (fp32 with one row: two accumulators per column, eight FMA chains).
//   AVX-512 (32 zmm): 4x4: 16 accumulators.   NEON (32 q): 2x4 (x2 for smlal).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/lut_gemm/lut_hwy.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <utility>

#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "kernels/common/hwy_slots.h"
#include "kernels/lut_gemm/lut_kernels.h"

HWY_BEFORE_NAMESPACE();
namespace qkern {
namespace internal {
namespace HWY_NAMESPACE {
namespace lut_family {
#if QKERN_HWY_SIMD_TARGET
namespace hn = hwy::HWY_NAMESPACE;

using D8 = hn::ScalableTag<int8_t>;
using DU8 = hn::RebindToUnsigned<D8>;
using D16 = hn::Repartition<int16_t, D8>;
using D32 = hn::Repartition<int32_t, D8>;
using DF = hn::Repartition<float, D8>;
using DU8Q = hn::Rebind<uint8_t, D32>;  // one byte per int32 lane
using V8 = hn::Vec<D8>;
using VU8 = hn::Vec<DU8>;
using V32 = hn::Vec<D32>;
using VF = hn::Vec<DF>;
constexpr size_t kBB = hn::MaxLanes(D8());    // block bytes
constexpr size_t kL32 = hn::MaxLanes(D32());  // int32 / float lanes
constexpr size_t kNR = 4;
// Software prefetch distance on the packed indices (a GEMV streams them once):
// 4 KiB ahead took the avx512 fp32 GEMV from DRAM from 0.57 to 0.71x of the
// DRAM read on Zen 5 (2 KiB is about one DRAM latency at its rate; 8 KiB
// measured the same as 4).
constexpr size_t kPrefetchBytes = 4096;

#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr size_t kMR = 4;
#define QKERN_LUT_TILE "4x4"
#else
constexpr size_t kMR = 2;
#define QKERN_LUT_TILE "2x4"
#endif

// Every cache line of the block kPrefetchBytes ahead of idx (NR * BB bytes:
// two lines on avx2, four on avx512; prefetching two of four left the avx512
// GEMV at 0.7x of the DRAM read).
HWY_INLINE void PrefetchBlock(const uint8_t* idx) {
#pragma GCC unroll 4
  for (size_t line = 0; line < kNR * kBB; line += 64) hwy::Prefetch(idx + kPrefetchBytes + line);
}

// Label plane t of packed bytes v.
template <int kBits>
HWY_INLINE VU8 Plane(VU8 v, int t) {
  const DU8 du8;
  const VU8 mask = hn::Set(du8, static_cast<uint8_t>((1 << kBits) - 1));
  return t == 0 ? hn::And(v, mask) : hn::And(hn::ShiftRightSame(v, kBits * t), mask);
}

// ------------------------------------------------------------- int8, widening
template <int kBits, size_t kRows>
void GemvI8Madd(size_t blocks, const void* a_, size_t a_stride, const uint8_t* HWY_RESTRICT idx,
                const int8_t* HWY_RESTRICT tables, int32_t* HWY_RESTRICT tile) {
  constexpr int kP = 8 / kBits;
  const D8 d8;
  const DU8 du8;
  const D16 d16;
  const D32 d32;
  const V8 zero = hn::Zero(d8);
  const uint8_t* a = static_cast<const uint8_t*>(a_);
  V32 acc0[kRows][kNR], acc1[kRows][kNR];
#pragma GCC unroll 8
  for (size_t m = 0; m < kRows; ++m) {
#pragma GCC unroll 4
    for (size_t c = 0; c < kNR; ++c) acc0[m][c] = acc1[m][c] = hn::Zero(d32);
  }
  for (size_t b = 0; b < blocks; ++b) {
#pragma GCC unroll 4
    for (size_t c = 0; c < kNR; ++c) {
      const VU8 v = hn::LoadU(du8, idx + c * kBB);
      const V8 table = hn::LoadDup128(d8, tables + 16 * c);
#pragma GCC unroll 4
      for (int t = 0; t < kP; ++t) {
        const V8 w = hn::TableLookupBytes(table, hn::BitCast(d8, Plane<kBits>(v, t)));
        // Sign-extend inside 128-bit blocks (vpunpck[lh]bw with the sign
        // bytes): vpmovsxbw ymm crosses lanes and ran at a third of the rate.
        const V8 sign = hn::VecFromMask(d8, hn::Lt(w, zero));
        const auto wlo = hn::BitCast(d16, hn::InterleaveLower(d8, w, sign));
        const auto whi = hn::BitCast(d16, hn::InterleaveUpper(d8, w, sign));
#pragma GCC unroll 8
        for (size_t m = 0; m < kRows; ++m) {
          const int16_t* ap =
              reinterpret_cast<const int16_t*>(a + m * a_stride) + (b * kP + t) * kBB;
          acc0[m][c] = hn::ReorderWidenMulAccumulate(d32, hn::LoadU(d16, ap), wlo, acc0[m][c], acc1[m][c]);
          acc0[m][c] = hn::ReorderWidenMulAccumulate(d32, hn::LoadU(d16, ap + kBB / 2), whi, acc0[m][c],
                                                     acc1[m][c]);
        }
      }
    }
    PrefetchBlock(idx);
    idx += kNR * kBB;
  }
#pragma GCC unroll 8
  for (size_t m = 0; m < kRows; ++m) {
#pragma GCC unroll 4
    for (size_t c = 0; c < kNR; ++c) {
      tile[m * kNR + c] = hn::GetLane(hn::SumOfLanes(d32, hn::Add(acc0[m][c], acc1[m][c])));
    }
  }
}

// ------------------------------------------------------------------ int8, dot
#undef QKERN_LUT_DOT_TARGET
#undef QKERN_LUT_DOT4
#if HWY_TARGET == HWY_AVX3_DL
// Highway 1.0.3's AVX3_DL target string lacks avx512vnni (TOOLCHAIN.md).
// clang lets a function's target attribute replace the enclosing HWY_ATTR one (g++
// merges them): repeat Highway's own string so the kernel keeps AVX3_DL's features.
#define QKERN_LUT_DOT_TARGET __attribute__((target(HWY_TARGET_STR ",avx512vnni")))
#define QKERN_LUT_DOT4(vacc, va, vw) V32 { _mm512_dpbusd_epi32((vacc).raw, (va).raw, (vw).raw) }
#elif HWY_TARGET == HWY_NEON
#define QKERN_LUT_DOT_TARGET __attribute__((target("arch=armv8.2-a+dotprod+crypto")))
#define QKERN_LUT_DOT4(vacc, va, vw) \
  V32 { vdotq_s32((vacc).raw, vreinterpretq_s8_s32((va).raw), vreinterpretq_s8_s32((vw).raw)) }
// x86 without VNNI: vpmaddubsw + vpmaddwd(1), exact only for 7-bit activations
// (|2 * 127 * 127| < 2^15, codes |Cq| <= 127): the activation_7bit kernels.
#elif HWY_TARGET == HWY_AVX3
#define QKERN_LUT_DOT_TARGET
#define QKERN_LUT_DOT4(vacc, va, vw) \
  V32 { _mm512_add_epi32((vacc).raw, _mm512_madd_epi16(_mm512_maddubs_epi16((va).raw, (vw).raw), _mm512_set1_epi16(1))) }
#elif HWY_TARGET == HWY_AVX2
#define QKERN_LUT_DOT_TARGET
#define QKERN_LUT_DOT4(vacc, va, vw) \
  V32 { _mm256_add_epi32((vacc).raw, _mm256_madd_epi16(_mm256_maddubs_epi16((va).raw, (vw).raw), _mm256_set1_epi16(1))) }
#endif

template <int kBits, size_t kRows>
QKERN_LUT_DOT_TARGET void GemvI8Dot(size_t blocks, const void* a_, size_t a_stride,
                                    const uint8_t* HWY_RESTRICT idx, const int8_t* HWY_RESTRICT tables,
                                    int32_t* HWY_RESTRICT tile) {
  constexpr int kP = 8 / kBits;
  const D8 d8;
  const DU8 du8;
  const D32 d32;
  const uint8_t* a = static_cast<const uint8_t*>(a_);
  V32 acc[kRows][kNR];
#pragma GCC unroll 8
  for (size_t m = 0; m < kRows; ++m) {
#pragma GCC unroll 4
    for (size_t c = 0; c < kNR; ++c) acc[m][c] = hn::Zero(d32);
  }
#if HWY_TARGET == HWY_AVX2
  // 16 ymm: column by column (its table, plane and weights), X reloaded per column.
  for (size_t b = 0; b < blocks; ++b) {
#pragma GCC unroll 4
    for (size_t c = 0; c < kNR; ++c) {
      const VU8 v = hn::LoadU(du8, idx + c * kBB);
      const V8 table = hn::LoadDup128(d8, tables + 16 * c);
#pragma GCC unroll 4
      for (int t = 0; t < kP; ++t) {
        const V32 w = hn::BitCast(d32, hn::TableLookupBytes(table, hn::BitCast(d8, Plane<kBits>(v, t))));
#pragma GCC unroll 8
        for (size_t m = 0; m < kRows; ++m) {
          const uint8_t* ap = a + m * a_stride + (b * kP + t) * kBB;
          const V32 va = hn::BitCast(d32, hn::LoadU(du8, ap));
          acc[m][c] = QKERN_LUT_DOT4(acc[m][c], va, w);
        }
      }
    }
    PrefetchBlock(idx);
    idx += kNR * kBB;
  }
#else
  // 32 registers: the NR tables stay in registers, each plane's NR weight
  // vectors are decoded once, and each row's X vector is loaded once for the
  // NR columns (Zen 5, avx512_vnni 4096 x 4096 GEMV in L3: 244 -> 277 Gop/s;
  // reloading X per column spent a 64-byte load per dot product).
  V8 table[kNR];
#pragma GCC unroll 4
  for (size_t c = 0; c < kNR; ++c) table[c] = hn::LoadDup128(d8, tables + 16 * c);
  for (size_t b = 0; b < blocks; ++b) {
    VU8 v[kNR];
#pragma GCC unroll 4
    for (size_t c = 0; c < kNR; ++c) v[c] = hn::LoadU(du8, idx + c * kBB);
#pragma GCC unroll 4
    for (int t = 0; t < kP; ++t) {
      V32 w[kNR];
#pragma GCC unroll 4
      for (size_t c = 0; c < kNR; ++c) {
        w[c] = hn::BitCast(d32, hn::TableLookupBytes(table[c], hn::BitCast(d8, Plane<kBits>(v[c], t))));
      }
#pragma GCC unroll 8
      for (size_t m = 0; m < kRows; ++m) {
        const V32 va = hn::BitCast(d32, hn::LoadU(du8, a + m * a_stride + (b * kP + t) * kBB));
#pragma GCC unroll 4
        for (size_t c = 0; c < kNR; ++c) acc[m][c] = QKERN_LUT_DOT4(acc[m][c], va, w[c]);
      }
    }
    // The 4-bit vpdpbusd GEMV consumes the indices faster than the DRAM
    // delivers them, and prefetching 4 KiB ahead slowed it (Zen 5, M = 1
    // from DRAM: 0.72-0.73x of the DRAM read with it, 0.80-0.82x without);
    // the 2-bit one, with twice the planes per byte, gains from it
    // (0.76-0.78x, 0.69-0.70x without).
#if HWY_TARGET == HWY_AVX3_DL
    if (kBits == 2) PrefetchBlock(idx);
#else
    PrefetchBlock(idx);
#endif
    idx += kNR * kBB;
  }
#endif
#pragma GCC unroll 8
  for (size_t m = 0; m < kRows; ++m) {
#pragma GCC unroll 4
    for (size_t c = 0; c < kNR; ++c) tile[m * kNR + c] = hn::GetLane(hn::SumOfLanes(d32, acc[m][c]));
  }
}

// ----------------------------------------------------------------------- fp32
// Floats per column table: 2^bits, at least one whole vector.
template <int kBits>
constexpr size_t TableFloats() {
  return (size_t{1} << kBits) > kL32 ? (size_t{1} << kBits) : kL32;
}

// The column's weights for label lanes `v` shifted right by bits*t. x86's
// vpermps reads only the low 3 (ymm) or 4 (zmm) bits of each index and the
// table repeats its 2^bits entries to a whole vector, so the labels above are
// never masked off; 16 entries on avx2 are two vpermps and a blend on bit 3.
template <int kBits>
HWY_INLINE VF LookupF32(const float* HWY_RESTRICT table, V32 v, int t) {
  const DF df;
  const D32 d32;
#if HWY_TARGET == HWY_AVX2
  const __m256i idx = t == 0 ? v.raw : _mm256_srli_epi32(v.raw, kBits * t);
  const __m256 lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(table), idx);
  if constexpr (kBits == 2) return VF{lo};
  const __m256 hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(table + 8), idx);
  return VF{_mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)))};
#elif HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  const __m512i idx = t == 0 ? v.raw : _mm512_srli_epi32(v.raw, kBits * t);
  return VF{_mm512_permutexvar_ps(idx, _mm512_loadu_ps(table))};
#else
  constexpr size_t kChunks = TableFloats<kBits>() / kL32;
  const V32 label = hn::And(t == 0 ? v : hn::ShiftRightSame(v, kBits * t), hn::Set(d32, (1 << kBits) - 1));
  const auto lane = hn::IndicesFromVec(df, hn::And(label, hn::Set(d32, static_cast<int32_t>(kL32 - 1))));
  VF w = hn::TableLookupLanes(hn::LoadU(df, table), lane);
#pragma GCC unroll 4
  for (size_t ch = 1; ch < kChunks; ++ch) {
    const auto in_chunk = hn::RebindMask(df, hn::Gt(label, hn::Set(d32, static_cast<int32_t>(ch * kL32 - 1))));
    w = hn::IfThenElse(in_chunk, hn::TableLookupLanes(hn::LoadU(df, table + ch * kL32), lane), w);
  }
  return w;
#endif
}

// The fp32 accumulators of a kRows x NR tile. One row (a GEMV) keeps two
// chains per column: eight independent FMA chains hide the FMA latency.
template <size_t kRows>
struct F32Sums {
  static constexpr size_t kChains = kRows == 1 ? 2 : 1;
  VF acc[kRows][kNR][kChains];

  HWY_INLINE F32Sums() {
#pragma GCC unroll 8
    for (size_t m = 0; m < kRows; ++m) {
#pragma GCC unroll 4
      for (size_t c = 0; c < kNR; ++c) {
#pragma GCC unroll 2
        for (size_t h = 0; h < kChains; ++h) acc[m][c][h] = hn::Zero(DF());
      }
    }
  }
  // The chain that term i of (m, c) adds to.
  HWY_INLINE VF& Chain(size_t m, size_t c, size_t i) { return acc[m][c][i % kChains]; }
  // tile[m * NR + c] = the sum of (m, c)'s chains and lanes.
  HWY_INLINE void Store(float* HWY_RESTRICT tile) const {
#pragma GCC unroll 8
    for (size_t m = 0; m < kRows; ++m) {
#pragma GCC unroll 4
      for (size_t c = 0; c < kNR; ++c) {
        VF sum = acc[m][c][0];
        if constexpr (kChains == 2) sum = hn::Add(sum, acc[m][c][1]);
        tile[m * kNR + c] = hn::GetLane(hn::SumOfLanes(DF(), sum));
      }
    }
  }
};

// Columns are the inner loop, so that their FMA chains (F32Sums) are adjacent
// (column after column, with one or two chains each, measured 2-3x slower).
template <int kBits, size_t kRows>
void GemvF32(size_t blocks, const void* a_, size_t a_stride, const uint8_t* HWY_RESTRICT idx,
             const float* HWY_RESTRICT tables, float* HWY_RESTRICT tile) {
  constexpr int kP = 8 / kBits;
  constexpr size_t kTable = TableFloats<kBits>();
  const DF df;
  const D32 d32;
  const DU8Q du8q;
  const uint8_t* a = static_cast<const uint8_t*>(a_);
  F32Sums<kRows> acc;
  for (size_t b = 0; b < blocks; ++b) {
    for (size_t j = 0; j < kBB; j += kL32) {
      V32 v[kNR];
#pragma GCC unroll 4
      for (size_t c = 0; c < kNR; ++c) v[c] = hn::PromoteTo(d32, hn::LoadU(du8q, idx + c * kBB + j));
#pragma GCC unroll 4
      for (int t = 0; t < kP; ++t) {
        // Columns innermost: their FMA chains are independent and adjacent.
#pragma GCC unroll 4
        for (size_t c = 0; c < kNR; ++c) {
          const VF w = LookupF32<kBits>(tables + c * kTable, v[c], t);
#pragma GCC unroll 8
          for (size_t m = 0; m < kRows; ++m) {
            const float* ap = reinterpret_cast<const float*>(a + m * a_stride) + (b * kP + t) * kBB + j;
            VF& sum = acc.Chain(m, c, t);
            sum = hn::MulAdd(hn::LoadU(df, ap), w, sum);
          }
        }
      }
    }
    PrefetchBlock(idx);
    idx += kNR * kBB;
  }
  acc.Store(tile);
}

// fp32 through byte planes (avx2, neon): the column's table is four 16-byte
// tables, byte j of each entry; four pshufb/tbl give the bytes of 32 (avx2)
// weights and two rounds of in-block interleaves assemble the floats: vector q
// holds lanes r in [4q, 4q + 4) of every 16-byte block, which is how X is
// packed for these kernels (lut_kernels.h). Twelve in-lane shuffles per 32
// weights, against two vpermps and a blend per 8 (vpermps ymm measured at a
// third of vpshufb's rate on Zen 3).
template <int kBits, size_t kRows>
void GemvF32Planes(size_t blocks, const void* a_, size_t a_stride, const uint8_t* HWY_RESTRICT idx,
                   const float* HWY_RESTRICT tables_, float* HWY_RESTRICT tile) {
  constexpr int kP = 8 / kBits;
  constexpr size_t kQ = kBB / 4;  // floats per vector
  const DU8 du8;
  const hn::Repartition<uint16_t, DU8> du16;
  const DF df;
  const uint8_t* a = static_cast<const uint8_t*>(a_);
  const uint8_t* tables = reinterpret_cast<const uint8_t*>(tables_);
  F32Sums<kRows> acc;
  for (size_t b = 0; b < blocks; ++b) {
#pragma GCC unroll 4
    for (int t = 0; t < kP; ++t) {
#pragma GCC unroll 4
      for (size_t c = 0; c < kNR; ++c) {
        const VU8 label = Plane<kBits>(hn::LoadU(du8, idx + c * kBB), t);
        const uint8_t* tc = tables + 64 * c;
        const VU8 p0 = hn::TableLookupBytes(hn::LoadDup128(du8, tc), label);
        const VU8 p1 = hn::TableLookupBytes(hn::LoadDup128(du8, tc + 16), label);
        const VU8 p2 = hn::TableLookupBytes(hn::LoadDup128(du8, tc + 32), label);
        const VU8 p3 = hn::TableLookupBytes(hn::LoadDup128(du8, tc + 48), label);
        const auto lo01 = hn::BitCast(du16, hn::InterleaveLower(du8, p0, p1));
        const auto hi01 = hn::BitCast(du16, hn::InterleaveUpper(du8, p0, p1));
        const auto lo23 = hn::BitCast(du16, hn::InterleaveLower(du8, p2, p3));
        const auto hi23 = hn::BitCast(du16, hn::InterleaveUpper(du8, p2, p3));
        VF w[4];
        w[0] = hn::BitCast(df, hn::InterleaveLower(du16, lo01, lo23));
        w[1] = hn::BitCast(df, hn::InterleaveUpper(du16, lo01, lo23));
        w[2] = hn::BitCast(df, hn::InterleaveLower(du16, hi01, hi23));
        w[3] = hn::BitCast(df, hn::InterleaveUpper(du16, hi01, hi23));
#pragma GCC unroll 4
        for (size_t q = 0; q < 4; ++q) {
#pragma GCC unroll 8
          for (size_t m = 0; m < kRows; ++m) {
            const float* ap = reinterpret_cast<const float*>(a + m * a_stride) + (b * kP + t) * kBB + q * kQ;
            VF& sum = acc.Chain(m, c, q);
            sum = hn::MulAdd(hn::LoadU(df, ap), w[q], sum);
          }
        }
      }
    }
    PrefetchBlock(idx);
    idx += kNR * kBB;
  }
  acc.Store(tile);
}

// 4-bit only: 2-bit tables fit one vector (one vpermps ymm per 8 weights was
// 10% faster than byte planes on avx2); avx512 looks up 16 entries in one vpermps zmm.
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr bool kF32BytePlanes = false;
#else
constexpr bool kF32BytePlanes = true;
#endif

// ------------------------------------------------------------- X packing
// X bytes -> label planes, whole blocks: plane t of a block = x[P * i + t],
// i < BB (de-interleaved: vld2/vld4 on NEON, shuffles on x86), each handed
// to store(plane, out + t * BB). The portable per-byte loop took 3.7 cycles
// per byte on Zen 5: three quarters of a K = 256 GEMV on 16 columns.
template <class T, class Store>
HWY_INLINE void PackPlanes(const uint8_t* HWY_RESTRICT x, size_t blocks, int bits, T* HWY_RESTRICT out,
                           const Store& store) {
  const DU8 du8;
  const size_t planes = bits == 4 ? 2 : 4;
  for (size_t b = 0; b < blocks; ++b, x += planes * kBB, out += planes * kBB) {
    VU8 p0, p1, p2, p3;
    if (planes == 2) {
      hn::LoadInterleaved2(du8, x, p0, p1);
    } else {
      hn::LoadInterleaved4(du8, x, p0, p1, p2, p3);
    }
    store(p0, out);
    store(p1, out + kBB);
    if (planes == 4) {
      store(p2, out + 2 * kBB);
      store(p3, out + 3 * kBB);
    }
  }
}

// The byte kernels' planes: each byte xor flip.
struct XorStore {
  VU8 flip;
  HWY_INLINE void operator()(VU8 p, uint8_t* HWY_RESTRICT out) const {
    hn::StoreU(hn::Xor(p, flip), DU8(), out);
  }
};

// The widening kernels' int16 planes: each plane widened within 128-bit
// blocks (bytes 0-7 of block q at 8q.., bytes 8-15 at BB/2 + 8q..: the order
// vpunpck[lh]bw gives the weights), zero- or sign-extended.
struct Int16Store {
  bool is_signed;
  HWY_INLINE void operator()(VU8 p, int16_t* HWY_RESTRICT out) const {
    const DU8 du8;
    const D8 d8;
    const D16 d16;
    const hn::Repartition<uint16_t, DU8> du16;
    const VU8 ext = is_signed ? hn::BitCast(du8, hn::VecFromMask(d8, hn::Lt(hn::BitCast(d8, p), hn::Zero(d8))))
                              : hn::Zero(du8);
    hn::StoreU(hn::BitCast(d16, hn::ZipLower(du16, p, ext)), d16, out);
    hn::StoreU(hn::BitCast(d16, hn::ZipUpper(du16, p, ext)), d16, out + kBB / 2);
  }
};

void PackBytes(const uint8_t* HWY_RESTRICT x, size_t blocks, int bits, uint8_t flip, uint8_t* HWY_RESTRICT out) {
  PackPlanes(x, blocks, bits, out, XorStore{hn::Set(DU8(), flip)});
}

void PackInt16(const uint8_t* HWY_RESTRICT x, size_t blocks, int bits, bool is_signed, int16_t* HWY_RESTRICT out) {
  PackPlanes(x, blocks, bits, out, Int16Store{is_signed});
}

// ------------------------------------------------------------------ tables
// Constant-initialized (see gemm_hwy.cc: no target code may run while the
// registry is filled).
template <bool kDot, size_t... kRows>
constexpr LutConfig MakeConfig(std::index_sequence<kRows...>) {
  LutConfig c;
  c.name = QKERN_LUT_TILE;
  c.mr = kMR;
  c.nr = kNR;
  c.bb = kBB;
  c.f32_table = TableFloats<4>();
  c.f32_table2 = TableFloats<2>();
  if constexpr (kDot) {
    c.method = "dot";
#if HWY_TARGET == HWY_NEON
    c.shift_u8 = -128;  // sdot: s8 x s8
#else
    c.shift_s8 = 128;   // vpdpbusd: u8 x s8
#endif
    ((c.i8[0][kRows] = &GemvI8Dot<2, kRows + 1>), ...);
    ((c.i8[1][kRows] = &GemvI8Dot<4, kRows + 1>), ...);
  } else {
    c.method = "madd";
    c.a_int16 = true;
    ((c.i8[0][kRows] = &GemvI8Madd<2, kRows + 1>), ...);
    ((c.i8[1][kRows] = &GemvI8Madd<4, kRows + 1>), ...);
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3
    ((c.i8_7bit[0][kRows] = &GemvI8Dot<2, kRows + 1>), ...);
    ((c.i8_7bit[1][kRows] = &GemvI8Dot<4, kRows + 1>), ...);
#endif
  }
  c.f32_byte_planes = kF32BytePlanes;
  c.pack_bytes = &PackBytes;
  c.pack_int16 = &PackInt16;
  // Zen 5, 4096 x 4096, 4-bit u8, against QGemm: avx512_vnni fused 0.76x at
  // M = 64 and 0.74x at 256, decode-to-panel 0.20x and 0.48x (the scalar
  // decode cannot keep up with the 6x64 vpdpbusd kernel); avx512 fused 0.58x
  // at both, panel 0.46x at 64 and 0.80x at 256; avx2 (Zen 3) equal at 48.
#if HWY_TARGET == HWY_AVX3_DL
  c.panel_min_m = 0;
#elif HWY_TARGET == HWY_AVX3
  c.panel_min_m = 128;
#endif
  ((c.f32[0][kRows] = &GemvF32<2, kRows + 1>), ...);
  if constexpr (kF32BytePlanes) {
    ((c.f32[1][kRows] = &GemvF32Planes<4, kRows + 1>), ...);
  } else {
    ((c.f32[1][kRows] = &GemvF32<4, kRows + 1>), ...);
  }
  return c;
}

const LutConfig* Table() {
  static constexpr LutConfig kTable = MakeConfig<HWY_TARGET == HWY_AVX3_DL>(std::make_index_sequence<kMR>());
  return &kTable;
}

#if HWY_TARGET == HWY_NEON
// neon_dotprod: sdot kernels; dispatch selects this table only after HWCAP_ASIMDDP.
const LutConfig* TableDot() {
  static constexpr LutConfig kTable = MakeConfig<true>(std::make_index_sequence<kMR>());
  return &kTable;
}
#endif

#endif  // QKERN_HWY_SIMD_TARGET
}  // namespace lut_family
}  // namespace HWY_NAMESPACE
}  // namespace internal
}  // namespace qkern
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qkern {
namespace internal {
QKERN_HWY_KERNEL_ACCESSORS(LutConfig, lut, lut_family)
const LutConfig* lut_kernels_neon_dotprod() { return QKERN_HWY_SLOT_NEON(lut_family::TableDot()); }
}  // namespace internal
}  // namespace qkern
#endif
