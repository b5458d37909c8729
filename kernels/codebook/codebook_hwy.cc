// kernels/codebook/codebook_hwy.cc: the codebook family's SIMD microkernels
// (Highway; avx2, avx512, avx512_vnni, neon). Contract: codebook_kernels.h.
// Tails go through stack vectors, as in the quantize family.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/codebook/codebook_hwy.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <cstring>

#include "hwy/highway.h"
#include "kernels/codebook/codebook_kernels.h"
#include "kernels/common/hwy_loops-inl.h"
#include "kernels/common/hwy_slots.h"

HWY_BEFORE_NAMESPACE();
namespace qkern {
namespace internal {
namespace HWY_NAMESPACE {
// Each family's Highway code lives in its own namespace: helpers of the same
// name in two families (Table, ...) would otherwise violate the ODR.
namespace codebook_family {
#if QKERN_HWY_SIMD_TARGET
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using DI = hn::RebindToSigned<DF>;
using D8 = hn::Rebind<uint8_t, DI>;  // N labels, one per float lane
using VF = hn::Vec<DF>;
using VI = hn::Vec<DI>;
constexpr size_t kMaxLanes = hn::MaxLanes(DF());

// The label of each lane: how many thresholds lie strictly below it. The
// thresholds are sorted, so this is the nearest centroid, ties to the lower
// one. Each threshold adds one compare and one subtract to a lane's count; a
// single count vector makes that a chain of k - 1 dependent steps (measured
// 35 cycles per vector on Zen 3), so four vectors share each broadcast
// threshold as four independent chains.
template <size_t kVectors>
HWY_INLINE void AssignVectors(const float* HWY_RESTRICT w, const float* t, int k,
                              uint8_t* HWY_RESTRICT labels) {
  const DF df;
  const DI di;
  const D8 d8;
  const size_t N = hn::Lanes(df);
  VF vw[kVectors];
  VI count[kVectors];
  for (size_t v = 0; v < kVectors; ++v) {
    vw[v] = hn::LoadU(df, w + v * N);
    count[v] = hn::Zero(di);
  }
  for (int c = 0; c + 1 < k; ++c) {
    const VF vt = hn::Set(df, t[c]);
    for (size_t v = 0; v < kVectors; ++v) {
      // A true mask is all ones (-1): subtracting it counts.
      count[v] = hn::Sub(count[v], hn::VecFromMask(di, hn::RebindMask(di, hn::Gt(vw[v], vt))));
    }
  }
  for (size_t v = 0; v < kVectors; ++v) hn::StoreU(hn::DemoteTo(d8, count[v]), d8, labels + v * N);
}

void AssignRow(const float* HWY_RESTRICT w, size_t n, const float* t, int k,
               uint8_t* HWY_RESTRICT labels) {
  const size_t N = hn::Lanes(DF());
  size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) AssignVectors<4>(w + i, t, k, labels + i);
  ForEachVector(DF(), n - i, [&](size_t j, size_t count) {
    if (count == N) return AssignVectors<1>(w + i + j, t, k, labels + i + j);
    HWY_ALIGN float wb[kMaxLanes] = {};
    HWY_ALIGN uint8_t lb[kMaxLanes];
    std::memcpy(wb, w + i + j, count * sizeof(float));
    AssignVectors<1>(wb, t, k, lb);
    std::memcpy(labels + i + j, lb, count);
  });
}

// w = centroids[label]. Codebooks of up to two vectors of entries (16 on
// AVX2, 32 on AVX-512, 8 on NEON) stay in registers: two in-register table
// lookups and a select, where AVX2's gather measured no faster than scalar
// loads. Larger codebooks gather.
void DecodeRow(const uint8_t* HWY_RESTRICT labels, size_t n, const float* centroids, int k,
               float* HWY_RESTRICT w) {
  const DF df;
  const DI di;
  const D8 d8;
  const size_t N = hn::Lanes(df);
  const bool in_registers = static_cast<size_t>(k) <= 2 * N;
  HWY_ALIGN float table[2 * kMaxLanes] = {};
  if (in_registers) std::memcpy(table, centroids, static_cast<size_t>(k) * sizeof(float));
  const VF lo = hn::Load(df, table), hi = hn::Load(df, table + N);
  const VI lane_mask = hn::Set(di, static_cast<int32_t>(N - 1));
  const VI vn = hn::Set(di, static_cast<int32_t>(N));
  auto one = [&](const uint8_t* lp, float* wp) QKERN_INLINE_LAMBDA {
    const VI idx = hn::PromoteTo(di, hn::LoadU(d8, lp));
    VF v;
    if (in_registers) {
      const auto lane = hn::IndicesFromVec(df, hn::And(idx, lane_mask));
      v = hn::IfThenElse(hn::RebindMask(df, hn::Lt(idx, vn)), hn::TableLookupLanes(lo, lane),
                         hn::TableLookupLanes(hi, lane));
    } else {
      v = hn::GatherIndex(df, centroids, idx);
    }
    hn::StoreU(v, df, wp);
  };
  ForEachVector(DF(), n, [&](size_t i, size_t count) {
    if (count == N) return one(labels + i, w + i);
    HWY_ALIGN uint8_t lb[kMaxLanes] = {};  // label 0 for the padding lanes: a valid index
    HWY_ALIGN float wb[kMaxLanes];
    std::memcpy(lb, labels + i, count);
    one(lb, wb);
    std::memcpy(w + i, wb, count * sizeof(float));
  });
}

// Per-centroid sums with one vector accumulator per centroid: a compare and a
// masked add per centroid and vector, instead of a scatter whose repeated
// labels serialize on store-to-load forwarding. Eight accumulators per pass
// (16 would spill AVX2's 16 registers), so k = 16 reads the row twice.
void CentroidSumsRow(const float* HWY_RESTRICT x, const uint8_t* HWY_RESTRICT labels, size_t n,
                     int k, float* sums) {
  const DF df;
  const DI di;
  const D8 d8;
  constexpr int kPass = 8;
  for (int c0 = 0; c0 < k; c0 += kPass) {
    const int pass = HWY_MIN(kPass, k - c0);
    VF acc[kPass];
    for (int c = 0; c < kPass; ++c) acc[c] = hn::Zero(df);
    auto one = [&](const float* xp, const uint8_t* lp) QKERN_INLINE_LAMBDA {
      const VF vx = hn::LoadU(df, xp);
      const VI vl = hn::PromoteTo(di, hn::LoadU(d8, lp));
      for (int c = 0; c < pass; ++c) {
        const auto member = hn::RebindMask(df, hn::Eq(vl, hn::Set(di, c0 + c)));
        acc[c] = hn::Add(acc[c], hn::IfThenElseZero(member, vx));
      }
    };
    ForEachVector(DF(), n, [&](size_t i, size_t count) {
      if (count == hn::Lanes(df)) return one(x + i, labels + i);
      HWY_ALIGN float xb[kMaxLanes] = {};  // padding adds 0 to centroid 0
      HWY_ALIGN uint8_t lb[kMaxLanes] = {};
      std::memcpy(xb, x + i, count * sizeof(float));
      std::memcpy(lb, labels + i, count);
      one(xb, lb);
    });
    for (int c = 0; c < pass; ++c) sums[c0 + c] += hn::GetLane(hn::SumOfLanes(df, acc[c]));
  }
}

const CodebookKernels* Table() {
  static const CodebookKernels k = {&AssignRow, &DecodeRow, &CentroidSumsRow};
  return &k;
}

#endif  // QKERN_HWY_SIMD_TARGET
}  // namespace codebook_family
}  // namespace HWY_NAMESPACE
}  // namespace internal
}  // namespace qkern
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qkern {
namespace internal {
QKERN_HWY_KERNEL_ACCESSORS(CodebookKernels, codebook, codebook_family)
}  // namespace internal
}  // namespace qkern
#endif  // HWY_ONCE
