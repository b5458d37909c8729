// kernels/codebook/codebook_hwy.cc: the codebook family's SIMD microkernels
// (Highway; avx2, avx512, avx512_vnni, neon). Contract: codebook_kernels.h.
// Tails go through stack vectors, as in the quantize family.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/codebook/codebook_hwy.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <cstring>

#include "hwy/highway.h"
#include "kernels/codebook/codebook_kernels.h"
#include "kernels/common/hwy_slots.h"

HWY_BEFORE_NAMESPACE();
namespace qkern {
namespace internal {
namespace HWY_NAMESPACE {
// Each family's Highway code lives in its own namespace: helpers of the same
// name in two families (ForEachVector, Table) would otherwise violate the ODR.
namespace codebook_family {
#if QKERN_HWY_SIMD_TARGET
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using DI = hn::RebindToSigned<DF>;
using D8 = hn::Rebind<uint8_t, DI>;  // N labels, one per float lane
using VF = hn::Vec<DF>;
using VI = hn::Vec<DI>;
constexpr size_t kMaxLanes = hn::MaxLanes(DF());

// Runs body(i, count) on every full vector (count = N), then once on the tail.
template <class Body>
HWY_INLINE void ForEachVector(size_t n, const Body& body) {
  const size_t N = hn::Lanes(DF());
  size_t i = 0;
  for (; i + N <= n; i += N) body(i, N);
  if (i < n) body(i, n - i);
}

// The label of each lane: how many thresholds lie strictly below it. The
// thresholds are sorted, so this is the nearest centroid, ties to the lower
// one; k - 1 compares per vector (k <= 16 for the 4-bit codebooks that matter).
void AssignRow(const float* HWY_RESTRICT w, size_t n, const float* t, int k,
               uint8_t* HWY_RESTRICT labels) {
  const DF df;
  const DI di;
  const D8 d8;
  auto one = [&](const float* wp, uint8_t* lp) QKERN_INLINE_LAMBDA {
    const VF vw = hn::LoadU(df, wp);
    VI count = hn::Zero(di);
    for (int c = 0; c + 1 < k; ++c) {
      // A true mask is all ones (-1): subtracting it counts.
      count = hn::Sub(count, hn::VecFromMask(di, hn::RebindMask(di, hn::Gt(vw, hn::Set(df, t[c])))));
    }
    hn::StoreU(hn::DemoteTo(d8, count), d8, lp);
  };
  ForEachVector(n, [&](size_t i, size_t count) {
    if (count == hn::Lanes(df)) return one(w + i, labels + i);
    HWY_ALIGN float wb[kMaxLanes] = {};
    HWY_ALIGN uint8_t lb[kMaxLanes];
    std::memcpy(wb, w + i, count * sizeof(float));
    one(wb, lb);
    std::memcpy(labels + i, lb, count);
  });
}

// w = centroids[label]: a gather from the codebook, which stays in L1.
void DecodeRow(const uint8_t* HWY_RESTRICT labels, size_t n, const float* centroids,
               float* HWY_RESTRICT w) {
  const DF df;
  const DI di;
  const D8 d8;
  auto one = [&](const uint8_t* lp, float* wp) QKERN_INLINE_LAMBDA {
    hn::StoreU(hn::GatherIndex(df, centroids, hn::PromoteTo(di, hn::LoadU(d8, lp))), df, wp);
  };
  ForEachVector(n, [&](size_t i, size_t count) {
    if (count == hn::Lanes(df)) return one(labels + i, w + i);
    HWY_ALIGN uint8_t lb[kMaxLanes] = {};  // label 0 for the padding lanes: a valid index
    HWY_ALIGN float wb[kMaxLanes];
    std::memcpy(lb, labels + i, count);
    one(lb, wb);
    std::memcpy(w + i, wb, count * sizeof(float));
  });
}

// Per-centroid sums with one vector accumulator per centroid: a compare and a
// masked add per centroid and vector, instead of a scatter whose repeated
// labels serialize on store-to-load forwarding.
void CentroidSumsRow(const float* HWY_RESTRICT x, const uint8_t* HWY_RESTRICT labels, size_t n,
                     int k, float* sums) {
  const DF df;
  const DI di;
  const D8 d8;
  VF acc[kMaxVectorCentroids];
  for (int c = 0; c < k; ++c) acc[c] = hn::Zero(df);
  auto one = [&](const float* xp, const uint8_t* lp) QKERN_INLINE_LAMBDA {
    const VF vx = hn::LoadU(df, xp);
    const VI vl = hn::PromoteTo(di, hn::LoadU(d8, lp));
    for (int c = 0; c < k; ++c) {
      acc[c] = hn::Add(acc[c], hn::IfThenElseZero(hn::RebindMask(df, hn::Eq(vl, hn::Set(di, c))), vx));
    }
  };
  ForEachVector(n, [&](size_t i, size_t count) {
    if (count == hn::Lanes(df)) return one(x + i, labels + i);
    HWY_ALIGN float xb[kMaxLanes] = {};  // padding adds 0 to centroid 0
    HWY_ALIGN uint8_t lb[kMaxLanes] = {};
    std::memcpy(xb, x + i, count * sizeof(float));
    std::memcpy(lb, labels + i, count);
    one(xb, lb);
  });
  for (int c = 0; c < k; ++c) sums[c] += hn::GetLane(hn::SumOfLanes(df, acc[c]));
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
const CodebookKernels* codebook_kernels_avx2() { return QKERN_HWY_SLOT_AVX2(codebook_family::Table()); }
const CodebookKernels* codebook_kernels_avx512() { return QKERN_HWY_SLOT_AVX512(codebook_family::Table()); }
const CodebookKernels* codebook_kernels_avx512_vnni() { return QKERN_HWY_SLOT_AVX512_VNNI(codebook_family::Table()); }
const CodebookKernels* codebook_kernels_neon() { return QKERN_HWY_SLOT_NEON(codebook_family::Table()); }
}  // namespace internal
}  // namespace qkern
#endif  // HWY_ONCE
