// kernels/codebook/kmeans_fit.cc: qkern::kmeans_fit, the codebook fitting
// front end and its two fitters.
//
// Front end: validate every argument (shape, options, pointers, every weight
// and importance) and allocate every buffer before anything is written. Then
// per codebook (the whole matrix, or one row): sort and merge the values,
// fit, sort the centroids ascending; finally label every weight with
// qkern::assign (the nearest centroid, ties to the lower index) and sum the
// SSE.
//
// Both fitters work on the codebook's points: its values sorted (radix) and
// merged by value, each point weighted by the summed importance of its copies
// (importance null: 1 each; a codebook whose importances are all 0: 1 each).
// Points of weight 0 are left out of the fit, so weights of importance 0 are
// labelled but do not move centroids. With d points of weight > 0 and d <= k,
// the centroids are the d values then the largest repeated (SSE 0). A
// codebook with no values at all (rows * cols == 0) gets k centroids of 0.
//
// kOptimal1D: the exact 1-D k-means dynamic program (as Ckmeans.1d.dp).
// D[q][i], the least SSE of points [0, i] in q + 1 clusters, is the min over
// j of D[q-1][j-1] + cost(j, i), the cost of a contiguous cluster being
// S2 - S1^2 / W from prefix sums (around the middle value). The cost matrix
// of sorted points is Monge, so the leftmost argmin grows with i, and it also
// grows with q: each layer is a divide and conquer over the argmin
// (O(d log d) candidate evaluations, about 9 per row on Gaussian data;
// kmeans_dp-inl.h). The scans run on scalar code, AVX2 (4 lanes) or AVX-512
// (8 lanes), all bit-identical: the same operations per candidate, the
// leftmost minimum. With unit weights (distinct values, no importances) 1/W
// comes from a table instead of a divide. O(k d) bytes of argmins (4 bytes
// each) backtrack the clusters; the centroids are the clusters' weighted
// means summed directly.
//
// kLloyd: k-means++ seeding (splitmix64 from options.seed: the same on every
// platform), then Lloyd rounds. On sorted points a cluster under the
// threshold rule is a contiguous range, found by binary search, and its sums
// come from the prefix sums: a round costs O(k log d), not O(d).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>

#ifdef __linux__
#include <sys/mman.h>
#endif

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "hwy/base.h"  // HWY_PUSH_ATTRIBUTES
#include "kernels/common/validate.h"
#include "kernels/common/verbose.h"
#include "qkern/codebook.hpp"
#include "qkern/isa.hpp"
#include "reference/codebook_ref.h"

namespace qkern {
namespace internal {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Buffers of trivial values (no constructors run): malloc'd, and from 4 MiB
// on 2 MiB-aligned and marked for transparent huge pages, because the
// per-tensor fit of 16M values touches ~2.5 GB of workspace and 4 KiB page
// faults cost ~15% of it on the development VM (THP set to "madvise").
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
template <typename T>
using Buffer = std::unique_ptr<T[], FreeDeleter>;

template <typename T>
Buffer<T> allocate(int64_t n) {
  static_assert(std::is_trivial<T>::value, "Buffer holds trivial values only");
  constexpr size_t kHuge = size_t{2} << 20;
  if (static_cast<uint64_t>(n) > (std::numeric_limits<size_t>::max() - kHuge) / sizeof(T)) {
    return nullptr;
  }
  size_t bytes = static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(T);
  void* p = nullptr;
  if (bytes >= 2 * kHuge) {
    bytes = (bytes + kHuge - 1) / kHuge * kHuge;
    p = std::aligned_alloc(kHuge, bytes);
#ifdef __linux__
    if (p != nullptr) madvise(p, bytes, MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
  } else {
    p = std::malloc(bytes);
  }
  return Buffer<T>(static_cast<T*>(p));
}

Status out_of_memory(const std::string& what) {
  return Status(StatusCode::kOutOfMemory, what + ": allocation failed");
}

// ---------------------------------------------------------------------------
// Points: a codebook's sorted distinct values and their weights.

// IEEE order as unsigned order: flip all bits of negatives, the sign of positives.
inline uint32_t order_key(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Stable LSD radix sort of `a` by bits [shift0, shift0 + 32) (3 passes of
// 11 bits); `tmp` has n elements. The result is in `a`.
template <typename T>
void radix_sort(T* a, T* tmp, int64_t n, int shift0) {
  constexpr int kBits = 11, kBuckets = 1 << kBits;
  T* src = a;
  T* dst = tmp;
  for (int pass = 0; pass < 3; ++pass) {
    const int shift = shift0 + pass * kBits;
    int64_t count[kBuckets + 1] = {};
    for (int64_t i = 0; i < n; ++i) ++count[((src[i] >> shift) & (kBuckets - 1)) + 1];
    for (int b = 0; b < kBuckets; ++b) count[b + 1] += count[b];
    for (int64_t i = 0; i < n; ++i) dst[count[(src[i] >> shift) & (kBuckets - 1)]++] = src[i];
    std::swap(src, dst);
  }
  if (src != a) std::memcpy(a, src, static_cast<size_t>(n) * sizeof(T));
}

// The float of an order key.
inline float from_order_key(uint32_t u) {
  u = (u & 0x80000000u) ? (u & 0x7FFFFFFFu) : ~u;
  float v;
  std::memcpy(&v, &u, 4);
  return v;
}

// The per-codebook buffers, sized once for the largest codebook (n values).
struct Workspace {
  static constexpr int64_t kPad = 4;
  int64_t n = 0;
  // [n] sort keys: with importances value key << 32 | importance bits,
  // without them the value key alone (half the bytes to sort).
  Buffer<uint64_t> keys, tmp;
  Buffer<uint32_t> keys32, tmp32;
  Buffer<double> x, wt;        // [n] points: value, weight
  Buffer<double> p1, p2, pw;   // [n + 1 + kPad] prefix sums of wt*(x-s), wt*(x-s)^2, wt
  Buffer<double> dprev, dcur;  // [n + kPad] two DP layers (Lloyd: dprev = D(x)^2)
  // kOptimal1D's reciprocals (see Prefix): [n + 1 + 2 kInvPad]
  // inv[kInvPad + m] = 1 / m for m in [1, n], zeros around. Filled by
  // reciprocals() for the first codebook that needs them, so that a fit
  // without one never touches those pages (16M values: 128 MiB).
  static constexpr int64_t kInvPad = 8;
  Buffer<double> inv;
  bool inv_filled = false;

  Status init(int64_t size, bool optimal, bool importance) {
    n = size;
    if (importance) {
      keys = allocate<uint64_t>(n);
      tmp = allocate<uint64_t>(n);
    } else {
      keys32 = allocate<uint32_t>(n);
      tmp32 = allocate<uint32_t>(n);
    }
    x = allocate<double>(n);
    wt = allocate<double>(n);
    // kPad more: the vector scans read past their last candidate.
    p1 = allocate<double>(n + 1 + kPad);
    p2 = allocate<double>(n + 1 + kPad);
    pw = allocate<double>(n + 1 + kPad);
    dprev = allocate<double>(n + kPad);
    if (optimal) {
      dcur = allocate<double>(n + kPad);
      inv = allocate<double>(n + 1 + 2 * kInvPad);
    }
    if ((importance ? !keys || !tmp : !keys32 || !tmp32) || !x || !wt || !p1 || !p2 || !pw ||
        !dprev || (optimal && (!dcur || !inv))) {
      return out_of_memory("kmeans_fit workspace");
    }
    // What the scans read past the rows a layer wrote must be finite: zeros
    // (prefix_sums zeroes the prefix sums' tails).
    if (optimal) {
      for (double* a : {dprev.get(), dcur.get()}) std::fill(a, a + n + kPad, 0.0);
    }
    return Status();
  }

  // inv + kInvPad, filled.
  const double* reciprocals() {
    if (!inv_filled) {
      std::fill(inv.get(), inv.get() + n + 1 + 2 * kInvPad, 0.0);
      for (int64_t m = 1; m <= n; ++m) inv[kInvPad + m] = 1.0 / static_cast<double>(m);
      inv_filled = true;
    }
    return inv.get() + kInvPad;
  }
};

// Whether a codebook has importances that count: not null and not all 0.
bool weighted(const float* importance, int64_t n) {
  for (int64_t i = 0; i < n && importance; ++i) {
    if (importance[i] > 0.0f) return true;
  }
  return false;
}

// Sorts and merges values [0, n) of a codebook into ws.x/ws.wt; returns the
// number d of points with weight > 0 (zero-weight values are dropped).
int64_t gather_points(const float* w, const float* importance, int64_t n, Workspace& ws) {
  int64_t d = 0;
  // -0 and +0 have different keys but are equal: runs are cut by comparing floats.
  if (importance == nullptr) {
    for (int64_t i = 0; i < n; ++i) ws.keys32[i] = order_key(w[i]);
    radix_sort(ws.keys32.get(), ws.tmp32.get(), n, 0);
    for (int64_t i = 0; i < n;) {
      const float v = from_order_key(ws.keys32[i]);
      int64_t e = i + 1;
      while (e < n && from_order_key(ws.keys32[e]) == v) ++e;
      ws.x[d] = v;
      ws.wt[d] = static_cast<double>(e - i);
      ++d;
      i = e;
    }
    return d;
  }
  const bool use_importance = weighted(importance, n);  // all 0: 1 each
  for (int64_t i = 0; i < n; ++i) {
    const float imp = use_importance ? importance[i] : 1.0f;
    uint32_t ib;
    std::memcpy(&ib, &imp, 4);
    ws.keys[i] = static_cast<uint64_t>(order_key(w[i])) << 32 | ib;
  }
  radix_sort(ws.keys.get(), ws.tmp.get(), n, 32);
  for (int64_t i = 0; i < n;) {
    const float v = from_order_key(static_cast<uint32_t>(ws.keys[i] >> 32));
    double sum = 0;
    int64_t e = i;
    for (; e < n && from_order_key(static_cast<uint32_t>(ws.keys[e] >> 32)) == v; ++e) {
      const uint32_t ib = static_cast<uint32_t>(ws.keys[e]);
      float imp;
      std::memcpy(&imp, &ib, 4);
      sum += imp;
    }
    if (sum > 0) {  // weight-0 values are labelled but not clustered
      ws.x[d] = v;
      ws.wt[d] = sum;
      ++d;
    }
    i = e;
  }
  return d;
}

// Prefix sums around the middle point's value (s), which keeps S2 - S1^2/W
// from cancelling catastrophically when the values sit far from 0.
void prefix_sums(int64_t d, Workspace& ws, double* shift) {
  const double s = ws.x[d / 2];
  *shift = s;
  ws.p1[0] = ws.p2[0] = ws.pw[0] = 0;
  for (int64_t i = 0; i < d; ++i) {
    const double y = ws.x[i] - s, wy = ws.wt[i] * y;
    ws.p1[i + 1] = ws.p1[i] + wy;
    ws.p2[i + 1] = ws.p2[i] + wy * y;
    ws.pw[i + 1] = ws.pw[i] + ws.wt[i];
  }
  for (int64_t i = d + 1; i <= d + Workspace::kPad; ++i) ws.p1[i] = ws.p2[i] = ws.pw[i] = 0;
}

// ---------------------------------------------------------------------------
// kOptimal1D.

// The leftmost argmin over j in [lo, hi] of dprev[j - 1] + cost(j, i), with
// cost(j, i) = max(0, S2 - S1 * S1 / W) over points [j, i] from the prefix
// sums. Every path computes each candidate with the same operations in the
// same order (no contraction: -ffp-contract=off), so all pick the same j.
//
// Where every point of the codebook has weight 1 (distinct values, no
// importances: the usual float weight row), W = i + 1 - j, and the scans
// multiply by 1 / W from a table instead of dividing: the divider issues
// one vector of quotients per ~5-10 cycles on Zen 4 and 5 at any width, so
// it bounded every scan path at about the same speed. The product is within
// an ulp of the quotient, and every path uses the same form.
struct Prefix {
  const double* p1;
  const double* p2;
  const double* pw;
  // Unit weights: inv[m] = 1 / m for m in [1, d], so 1 / W = inv[i + 1 - j]
  // (descending in j: the scans of a row load a vector and reverse it;
  // ascending in i: the scans of a block of rows load it as it is), and 0
  // for m in [-kInvPad, 0] and past d, which the vector loads read for their
  // idle lanes. Null otherwise: divide.
  const double* inv;
};

// The Prefix of a codebook of d points (ws.wt) after prefix_sums.
Prefix prefix_of(Workspace& ws, int64_t d) {
  bool unit = true;
  for (int64_t i = 0; i < d && unit; ++i) unit = ws.wt[i] == 1.0;
  return Prefix{ws.p1.get(), ws.p2.get(), ws.pw.get(), unit ? ws.reciprocals() : nullptr};
}

int64_t scan_scalar(const Prefix& p, int64_t i, int64_t lo, int64_t hi, const double* dprev,
                    double* best_v) {
  const double wi = p.pw[i + 1], s1i = p.p1[i + 1], s2i = p.p2[i + 1];
  double best = kInf;
  int64_t bj = lo;
  const double* r = p.inv ? p.inv + i + 1 : nullptr;  // r[-j] = 1 / (i + 1 - j)
  for (int64_t j = lo; j <= hi; ++j) {
    const double w = wi - p.pw[j], s1 = s1i - p.p1[j], s2 = s2i - p.p2[j];
    const double c = s2 - (r ? s1 * s1 * r[-j] : s1 * s1 / w);
    const double v = dprev[j - 1] + (c > 0 ? c : 0);
    const bool better = v < best;  // branch-free: which j wins is a coin flip for a predictor
    bj = better ? j : bj;
    best = better ? v : best;
  }
  *best_v = best;
  return bj;
}

// What the scans of one layer read and write (kmeans_dp-inl.h): layer
// q - 1's values (dprev) and argmins (lower, null for q = 1), rows up to
// imax, and layer q's values and argmins.
struct LayerIo {
  int64_t imax;
  const double* dprev;
  const uint32_t* lower;
  double* dcur;
  uint32_t* arg;

  // Row i's candidates [lo, hi], narrowed by layer q - 1's argmin (whose rows
  // end at imax - 1; its argmins grow with i). min with hi: rounding must
  // not empty the range.
  int64_t narrow(int64_t i, int64_t lo, int64_t hi) const {
    return lower ? std::min(hi, std::max<int64_t>(lo, lower[std::min(i, imax - 1)])) : lo;
  }
};

// Rows [i0, i1] whose argmins all lie in [lo, hi]: row i's candidates are
// [narrow(i, lo, min(hi, i)), min(hi, i)].
void block_scalar(const Prefix& p, const LayerIo& io, int64_t i0, int64_t i1, int64_t lo,
                  int64_t hi) {
  for (int64_t i = i0; i <= i1; ++i) {
    const int64_t h = std::min(hi, i);
    io.arg[i] = static_cast<uint32_t>(scan_scalar(p, i, io.narrow(i, lo, h), h, io.dprev,
                                                  &io.dcur[i]));
  }
}

// The scalar layer.
namespace dp_scalar {
inline int64_t scan(const Prefix& p, int64_t i, int64_t lo, int64_t hi, const double* dprev,
                    double* best_v) {
  return scan_scalar(p, i, lo, hi, dprev, best_v);
}
inline void scan_block(const Prefix& p, const LayerIo& io, int64_t i0, int64_t i1, int64_t lo,
                       int64_t hi) {
  block_scalar(p, io, i0, i1, lo, hi);
}
#include "kernels/codebook/kmeans_dp-inl.h"  // NOLINT(build/include): once per scan
}  // namespace dp_scalar

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define QKERN_KMEANS_X86 1
// GCC 12 warns inside its own AVX-512 intrinsics (their self-initialised
// "undefined" operands) under a target pragma: a known false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

// The AVX2 layer. The scans of one row: four candidates per step, four
// running minima (lane l: j = lo + 4m + l), the index kept as a double
// (exact below 2^53) so one blend moves both; the blocks of rows: a row per
// lane. The divide does not set the pace: on the Zen 5 VM vdivpd zmm issues
// every ~4 cycles (measured), while a step's other work takes longer.
HWY_PUSH_ATTRIBUTES("avx2")
namespace dp_avx2 {
inline int64_t scan(const Prefix& p, int64_t i, int64_t lo, int64_t hi, const double* dprev,
                    double* best_v) {
  const __m256d vwi = _mm256_set1_pd(p.pw[i + 1]), vs1i = _mm256_set1_pd(p.p1[i + 1]),
                vs2i = _mm256_set1_pd(p.p2[i + 1]);
  const __m256d zero = _mm256_setzero_pd(), four = _mm256_set1_pd(4.0);
  const __m256d inf = _mm256_set1_pd(kInf), vhi = _mm256_set1_pd(static_cast<double>(hi));
  __m256d vbest = inf;
  __m256d vj = _mm256_add_pd(_mm256_set1_pd(static_cast<double>(lo)), _mm256_setr_pd(0, 1, 2, 3));
  __m256d vbj = vj;
  const double* r = p.inv ? p.inv + i + 1 : nullptr;  // r[-j] = 1 / (i + 1 - j)
  // The last step reads up to 3 candidates past hi (the workspace pads its
  // arrays): they are masked to +inf. No scalar tail, so the many short
  // scans of the deep levels are one or two steps of a predictable loop.
  for (int64_t j = lo; j <= hi; j += 4) {
    const __m256d s1 = _mm256_sub_pd(vs1i, _mm256_loadu_pd(p.p1 + j));
    const __m256d s2 = _mm256_sub_pd(vs2i, _mm256_loadu_pd(p.p2 + j));
    const __m256d q = _mm256_mul_pd(s1, s1);
    __m256d c = _mm256_sub_pd(
        s2, r ? _mm256_mul_pd(q, _mm256_permute4x64_pd(_mm256_loadu_pd(r - j - 3), 0x1B))
              : _mm256_div_pd(q, _mm256_sub_pd(vwi, _mm256_loadu_pd(p.pw + j))));
    c = _mm256_and_pd(c, _mm256_cmp_pd(c, zero, _CMP_GT_OQ));  // c > 0 ? c : +0
    __m256d v = _mm256_add_pd(_mm256_loadu_pd(dprev + j - 1), c);
    v = _mm256_blendv_pd(inf, v, _mm256_cmp_pd(vj, vhi, _CMP_LE_OQ));
    const __m256d better = _mm256_cmp_pd(v, vbest, _CMP_LT_OQ);
    vbest = _mm256_blendv_pd(vbest, v, better);
    vbj = _mm256_blendv_pd(vbj, vj, better);
    vj = _mm256_add_pd(vj, four);
  }
  // Branch-free reduction: the least value, then the least j among the lanes
  // holding it (each lane kept its leftmost).
  __m256d m = _mm256_min_pd(vbest, _mm256_permute4x64_pd(vbest, 0x4E));  // swap halves
  m = _mm256_min_pd(m, _mm256_permute_pd(m, 0x5));                       // swap pairs
  __m256d idx = _mm256_blendv_pd(inf, vbj, _mm256_cmp_pd(vbest, m, _CMP_EQ_OQ));
  idx = _mm256_min_pd(idx, _mm256_permute4x64_pd(idx, 0x4E));
  idx = _mm256_min_pd(idx, _mm256_permute_pd(idx, 0x5));
  *best_v = _mm256_cvtsd_f64(m);
  return static_cast<int64_t>(_mm256_cvtsd_f64(idx));
}
// Rows [i0, i1] (at most 7), four per vector, one per lane; each lane keeps
// its leftmost minimum as the scalar scan does.
inline void scan_block(const Prefix& p, const LayerIo& io, int64_t i0, int64_t i1, int64_t lo,
                       int64_t hi) {
  for (; i0 <= i1; i0 += 4) {
    const int64_t m = std::min<int64_t>(4, i1 - i0 + 1);
    // Lanes past the rows get an empty range.
    alignas(32) double los[4] = {kInf, kInf, kInf, kInf}, his[4] = {-1, -1, -1, -1};
    int64_t jmin = hi, jmax = lo;
    for (int64_t l = 0; l < m; ++l) {
      const int64_t h = std::min(hi, i0 + l), a = io.narrow(i0 + l, lo, h);
      los[l] = static_cast<double>(a);
      his[l] = static_cast<double>(h);
      jmin = std::min(jmin, a);
      jmax = std::max(jmax, h);
    }
    const __m256d vlo = _mm256_load_pd(los), vhi = _mm256_load_pd(his);
    // p1, p2, pw hold kPad entries past d: the lanes past i1 read those.
    const __m256d vs1i = _mm256_loadu_pd(p.p1 + i0 + 1), vs2i = _mm256_loadu_pd(p.p2 + i0 + 1),
                  vwi = _mm256_loadu_pd(p.pw + i0 + 1);
    const __m256d zero = _mm256_setzero_pd(), inf = _mm256_set1_pd(kInf);
    __m256d vbest = inf, vbj = vlo;
    for (int64_t j = jmin; j <= jmax; ++j) {
      const __m256d vj = _mm256_set1_pd(static_cast<double>(j));
      const __m256d live = _mm256_and_pd(_mm256_cmp_pd(vlo, vj, _CMP_LE_OQ),
                                         _mm256_cmp_pd(vj, vhi, _CMP_LE_OQ));
      const __m256d s1 = _mm256_sub_pd(vs1i, _mm256_broadcast_sd(p.p1 + j));
      const __m256d s2 = _mm256_sub_pd(vs2i, _mm256_broadcast_sd(p.p2 + j));
      const __m256d q = _mm256_mul_pd(s1, s1);
      // inv[i + 1 - j] for the lanes' rows i: ascending in the lane.
      __m256d c = _mm256_sub_pd(
          s2, p.inv ? _mm256_mul_pd(q, _mm256_loadu_pd(p.inv + i0 + 1 - j))
                    : _mm256_div_pd(q, _mm256_sub_pd(vwi, _mm256_broadcast_sd(p.pw + j))));
      c = _mm256_and_pd(c, _mm256_cmp_pd(c, zero, _CMP_GT_OQ));
      __m256d v = _mm256_add_pd(_mm256_broadcast_sd(io.dprev + j - 1), c);
      v = _mm256_blendv_pd(inf, v, live);
      const __m256d better = _mm256_cmp_pd(v, vbest, _CMP_LT_OQ);
      vbest = _mm256_blendv_pd(vbest, v, better);
      vbj = _mm256_blendv_pd(vbj, vj, better);
    }
    alignas(32) double best[4], bj[4];
    _mm256_store_pd(best, vbest);
    _mm256_store_pd(bj, vbj);
    for (int64_t l = 0; l < m; ++l) {
      io.dcur[i0 + l] = best[l];
      io.arg[i0 + l] = static_cast<uint32_t>(bj[l]);
    }
  }
}
#include "kernels/codebook/kmeans_dp-inl.h"  // NOLINT(build/include): once per scan
}  // namespace dp_avx2
HWY_POP_ATTRIBUTES

// The AVX-512 layer. Eight candidates per step under masks: the lanes past
// hi are not compared, and loaded only from the reciprocal table (whose
// padding covers them); the prefix sums' loads are masked. Lane l holds the
// candidates j = lo + 8m + l. A scan of at most 8 candidates (most rows of
// the deep levels, whose neighbours' argmins are close) is one step without
// a loop, and there lane order is j order: the leftmost minimum is the
// lowest lane holding the least value, one compare and a tzcnt instead of
// the index reduction.
HWY_PUSH_ATTRIBUTES("avx512f,avx512dq,avx512vl,avx2,bmi,bmi2")
namespace dp_avx512 {
inline __mmask8 live_lanes(int64_t left) {  // the first min(left, 8) lanes
  return static_cast<__mmask8>(_bzhi_u32(0xFFu, static_cast<uint32_t>(std::min<int64_t>(left, 8))));
}
// The 8 values dprev[j - 1] + max(cost(j, i), +0) of the live lanes (r: the
// row's reciprocals, r[-j] = 1 / (i + 1 - j), or null; see Prefix).
inline __m512d candidates(const Prefix& p, const double* r, __m512d vwi, __m512d vs1i,
                          __m512d vs2i, const double* dprev, int64_t j, __mmask8 live) {
  const __m512d s1 = _mm512_sub_pd(vs1i, _mm512_maskz_loadu_pd(live, p.p1 + j));
  const __m512d s2 = _mm512_sub_pd(vs2i, _mm512_maskz_loadu_pd(live, p.p2 + j));
  const __m512d q = _mm512_mul_pd(s1, s1);
  __m512d c = _mm512_sub_pd(
      s2, r ? _mm512_mul_pd(q, _mm512_permutexvar_pd(
                                  _mm512_setr_epi64(7, 6, 5, 4, 3, 2, 1, 0),
                                  _mm512_loadu_pd(r - j - 7)))
            : _mm512_div_pd(q, _mm512_sub_pd(vwi, _mm512_maskz_loadu_pd(live, p.pw + j))));
  c = _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(c, _mm512_setzero_pd(), _CMP_GT_OQ), c);
  return _mm512_add_pd(_mm512_maskz_loadu_pd(live, dprev + j - 1), c);
}
// The least of 8 lanes, in every lane: swap halves, pairs, neighbours.
inline __m512d lanes_min(__m512d v) {
  __m512d m = _mm512_min_pd(v, _mm512_shuffle_f64x2(v, v, 0x4E));
  m = _mm512_min_pd(m, _mm512_shuffle_f64x2(m, m, 0xB1));
  return _mm512_min_pd(m, _mm512_permute_pd(m, 0x55));
}
inline int64_t scan(const Prefix& p, int64_t i, int64_t lo, int64_t hi, const double* dprev,
                    double* best_v) {
  const __m512d vwi = _mm512_set1_pd(p.pw[i + 1]), vs1i = _mm512_set1_pd(p.p1[i + 1]),
                vs2i = _mm512_set1_pd(p.p2[i + 1]);
  const __m512d inf = _mm512_set1_pd(kInf);
  const double* r = p.inv ? p.inv + i + 1 : nullptr;
  if (hi < lo) {  // as the scalar scan: no candidate
    *best_v = kInf;
    return lo;
  }
  if (hi - lo < 8) {
    const __mmask8 live = live_lanes(hi - lo + 1);
    const __m512d v =
        _mm512_mask_mov_pd(inf, live, candidates(p, r, vwi, vs1i, vs2i, dprev, lo, live));
    const __m512d m = lanes_min(v);
    *best_v = _mm512_cvtsd_f64(m);
    return lo + static_cast<int64_t>(_tzcnt_u32(_mm512_mask_cmp_pd_mask(live, v, m, _CMP_EQ_OQ)));
  }
  __m512d vbest = inf;
  __m512i vj = _mm512_add_epi64(_mm512_set1_epi64(lo), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
  __m512i vbj = vj;
  for (int64_t j = lo; j <= hi; j += 8) {
    const __mmask8 live = live_lanes(hi - j + 1);
    const __m512d v = candidates(p, r, vwi, vs1i, vs2i, dprev, j, live);
    const __mmask8 better = _mm512_mask_cmp_pd_mask(live, v, vbest, _CMP_LT_OQ);
    vbest = _mm512_mask_mov_pd(vbest, better, v);
    vbj = _mm512_mask_mov_epi64(vbj, better, vj);
    vj = _mm512_add_epi64(vj, _mm512_set1_epi64(8));
  }
  // The least j among the lanes holding the least value (each kept its leftmost).
  const __m512d m = lanes_min(vbest);
  *best_v = _mm512_cvtsd_f64(m);
  return _mm512_mask_reduce_min_epi64(_mm512_cmp_pd_mask(vbest, m, _CMP_EQ_OQ), vbj);
}
// Rows [i0, i1] (at most 8), one per lane; each lane keeps its leftmost
// minimum as the scalar scan does.
inline void scan_block(const Prefix& p, const LayerIo& io, int64_t i0, int64_t i1, int64_t lo,
                       int64_t hi) {
  const int64_t n = i1 - i0 + 1;
  const __mmask8 rows = live_lanes(n);
  const __m512i vi =
      _mm512_add_epi64(_mm512_set1_epi64(i0), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
  const __m512i vhi = _mm512_min_epi64(_mm512_set1_epi64(hi), vi);
  __m512i vlo = _mm512_set1_epi64(lo);
  if (io.lower != nullptr) {  // io.narrow in every lane: lower[min(i, imax - 1)]
    const __mmask8 inside = rows & live_lanes(io.imax - i0);
    __m256i l32 = _mm256_maskz_loadu_epi32(inside, io.lower + i0);
    if (i1 == io.imax) {
      l32 = _mm256_mask_set1_epi32(l32, static_cast<__mmask8>(1u << (n - 1)),
                                   static_cast<int>(io.lower[io.imax - 1]));
    }
    vlo = _mm512_min_epi64(vhi, _mm512_max_epi64(vlo, _mm512_cvtepu32_epi64(l32)));
  }
  const int64_t jmin = _mm512_mask_reduce_min_epi64(rows, vlo);
  const int64_t jmax = std::min(hi, i1);
  const __m512d vs1i = _mm512_maskz_loadu_pd(rows, p.p1 + i0 + 1);
  const __m512d vs2i = _mm512_maskz_loadu_pd(rows, p.p2 + i0 + 1);
  const __m512d vwi = _mm512_maskz_loadu_pd(rows, p.pw + i0 + 1);
  const __m512d zero = _mm512_setzero_pd();
  // Candidate j into one of two running minima (even and odd steps: two
  // dependency chains), each a lane's leftmost.
  const auto step = [&](int64_t j, __m512d& best, __m512i& bj) {
    const __m512i vj = _mm512_set1_epi64(j);
    const __mmask8 live = _mm512_mask_cmp_epi64_mask(
        _mm512_mask_cmp_epi64_mask(rows, vlo, vj, _MM_CMPINT_LE), vj, vhi, _MM_CMPINT_LE);
    const __m512d s1 = _mm512_sub_pd(vs1i, _mm512_set1_pd(p.p1[j]));
    const __m512d s2 = _mm512_sub_pd(vs2i, _mm512_set1_pd(p.p2[j]));
    const __m512d q = _mm512_mul_pd(s1, s1);
    // inv[i + 1 - j] for the lanes' rows i, ascending in the lane (inside
    // the table's zero padding for the lanes where j > i).
    __m512d c = _mm512_sub_pd(
        s2, p.inv ? _mm512_mul_pd(q, _mm512_loadu_pd(p.inv + i0 + 1 - j))
                  : _mm512_div_pd(q, _mm512_sub_pd(vwi, _mm512_set1_pd(p.pw[j]))));
    c = _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(c, zero, _CMP_GT_OQ), c);
    const __m512d v = _mm512_add_pd(_mm512_set1_pd(io.dprev[j - 1]), c);
    const __mmask8 better = _mm512_mask_cmp_pd_mask(live, v, best, _CMP_LT_OQ);
    best = _mm512_mask_mov_pd(best, better, v);
    bj = _mm512_mask_mov_epi64(bj, better, vj);
  };
  __m512d vbest = _mm512_set1_pd(kInf), best2 = vbest;
  __m512i vbj = vlo, bj2 = vlo;
  int64_t j = jmin;
  for (; j + 1 <= jmax; j += 2) {
    step(j, vbest, vbj);
    step(j + 1, best2, bj2);
  }
  if (j <= jmax) step(j, vbest, vbj);
  // The second chain's where it is less, or equal at a lower j.
  const __mmask8 take = _mm512_cmp_pd_mask(best2, vbest, _CMP_LT_OQ) |
                        (_mm512_cmp_pd_mask(best2, vbest, _CMP_EQ_OQ) &
                         _mm512_cmp_epi64_mask(bj2, vbj, _MM_CMPINT_LT));
  vbest = _mm512_mask_mov_pd(vbest, take, best2);
  vbj = _mm512_mask_mov_epi64(vbj, take, bj2);
  _mm512_mask_storeu_pd(io.dcur + i0, rows, vbest);
  _mm256_mask_storeu_epi32(io.arg + i0, rows, _mm512_cvtepi64_epi32(vbj));
}
#include "kernels/codebook/kmeans_dp-inl.h"  // NOLINT(build/include): once per scan
}  // namespace dp_avx512
HWY_POP_ATTRIBUTES
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop  // -Wmaybe-uninitialized, -Wuninitialized (above)
#endif
#endif  // QKERN_KMEANS_X86

// Which scan the DP runs: each computes every candidate with the same
// operations in the same order, so all pick the same argmins.
enum class DpPath { kScalar, kAvx2, kAvx512 };

class Optimal1D {
 public:
  Optimal1D(Workspace& ws, int64_t d, DpPath path) : p_(prefix_of(ws, d)), path_(path) {}

  // The weighted SSE of points [j, i] around their mean (>= 0 despite rounding).
  double cost(int64_t j, int64_t i) const {
    const double w = p_.pw[i + 1] - p_.pw[j], s1 = p_.p1[i + 1] - p_.p1[j],
                 s2 = p_.p2[i + 1] - p_.p2[j];
    const double c = s2 - s1 * s1 / w;
    return c > 0 ? c : 0;
  }

  // One scan (the last layer's single row): see scan_scalar. The target
  // namespaces' functions are called out of line (a target function does
  // not inline into this one).
  int64_t scan(int64_t i, int64_t lo, int64_t hi, const double* dprev, double* best_v) const {
#ifdef QKERN_KMEANS_X86
    if (path_ == DpPath::kAvx512) return dp_avx512::scan(p_, i, lo, hi, dprev, best_v);
    if (path_ == DpPath::kAvx2) return dp_avx2::scan(p_, i, lo, hi, dprev, best_v);
#endif
    return scan_scalar(p_, i, lo, hi, dprev, best_v);
  }

  // Fills layer q (kmeans_dp-inl.h) with the path's scan.
  void layer(int64_t q, int64_t imax, const double* dprev, const uint32_t* lower, double* dcur,
             uint32_t* arg) const {
#ifdef QKERN_KMEANS_X86
    if (path_ == DpPath::kAvx512) return dp_avx512::layer(p_, q, imax, dprev, lower, dcur, arg);
    if (path_ == DpPath::kAvx2) return dp_avx2::layer(p_, q, imax, dprev, lower, dcur, arg);
#endif
    dp_scalar::layer(p_, q, imax, dprev, lower, dcur, arg);
  }

 private:
  Prefix p_;
  DpPath path_;
};


// The optimal clustering of d > k points into k clusters; writes the k
// weighted means (ascending). `args` has (k - 1) * d entries.
void fit_optimal(int64_t d, int k, Workspace& ws, DpPath path, uint32_t* args,
                 float* centroids) {
  const Optimal1D dp(ws, d, path);
  double* dprev = ws.dprev.get();
  double* dcur = ws.dcur.get();
  // Layer q covers rows [q, d - k + q]: the clusters after it need a point each.
  for (int64_t i = 0; i <= d - k; ++i) dprev[i] = dp.cost(0, i);
  for (int q = 1; q < k; ++q) {
    const int64_t imax = d - k + q;
    uint32_t* arg = args + static_cast<int64_t>(q - 1) * d;
    // Layer q's argmins are >= layer q - 1's (none for q = 1: all 0).
    const uint32_t* lower = q == 1 ? nullptr : args + static_cast<int64_t>(q - 2) * d;
    if (q == k - 1) {
      // The last layer only needs row d - 1: one scan.
      double best;
      const int64_t lo = std::max<int64_t>(q, lower ? lower[imax - 1] : 0);
      arg[d - 1] = static_cast<uint32_t>(dp.scan(d - 1, lo, imax, dprev, &best));
    } else {
      dp.layer(q, imax, dprev, lower, dcur, arg);
      std::swap(dprev, dcur);
    }
  }
  // Backtrack the cluster starts, then each cluster's mean summed directly.
  int64_t end = d;  // one past the cluster's last point
  for (int q = k - 1; q >= 0; --q) {
    const int64_t start = q == 0 ? 0 : args[static_cast<int64_t>(q - 1) * d + end - 1];
    double sw = 0, swx = 0;
    for (int64_t i = start; i < end; ++i) {
      sw += ws.wt[i];
      swx += ws.wt[i] * ws.x[i];
    }
    centroids[q] = static_cast<float>(swx / sw);
    end = start;
  }
}

// ---------------------------------------------------------------------------
// kLloyd.

// splitmix64 (Steele, Lea, Flood 2014): a 64-bit state, the same stream everywhere.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1), 53 bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t s_;
};

// The first point whose running sum of v exceeds u (u < the total of v).
// The first point whose running sum of wt[i] * f[i] (f null: 1) exceeds u
// (u < the total, summed in the same order).
int64_t sample(const double* wt, const double* f, int64_t d, double u) {
  double cum = 0;
  for (int64_t i = 0; i < d; ++i) {
    cum += f ? wt[i] * f[i] : wt[i];
    if (cum > u) return i;
  }
  for (int64_t i = d - 1; i >= 0; --i) {  // unreachable unless rounding: the last positive one
    if (f ? wt[i] * f[i] > 0 : wt[i] > 0) return i;
  }
  return d - 1;
}

// k-means++ then Lloyd on d > k points; writes k centroids, ascending.
void fit_lloyd(int64_t d, int k, const KmeansOptions& o, double shift, Workspace& ws,
               float* centroids) {
  const double* x = ws.x.get();
  const double* wt = ws.wt.get();
  double* dist = ws.dprev.get();  // [d] squared distance to the nearest centre so far
  SplitMix64 rng(o.seed);
  // Seeding: the first centre by weight, each next by weight * squared distance.
  int64_t pick = sample(wt, nullptr, d, rng.uniform() * ws.pw[d]);
  centroids[0] = static_cast<float>(x[pick]);
  for (int64_t i = 0; i < d; ++i) dist[i] = kInf;
  for (int c = 1; c < k; ++c) {
    const double cc = centroids[c - 1];
    double total = 0;
    for (int64_t i = 0; i < d; ++i) {
      const double e = x[i] - cc;
      dist[i] = std::min(dist[i], e * e);
      total += wt[i] * dist[i];
    }
    pick = sample(wt, dist, d, rng.uniform() * total);
    centroids[c] = static_cast<float>(x[pick]);
  }
  std::sort(centroids, centroids + k);

  // Lloyd rounds: assign (a cluster is the contiguous range of points
  // between two thresholds), update to the weighted means, measure the SSE.
  float t[255];
  int64_t bound[257];  // cluster c is points [bound[c], bound[c + 1])
  int64_t prev_bound[257] = {};
  double prev_sse = kInf;
  for (int it = 0; it < o.max_iterations; ++it) {
    ref::thresholds(centroids, k, t);
    bound[0] = 0;
    bound[k] = d;
    for (int c = 0; c + 1 < k; ++c) {
      // Points with x > t[c] are above centroid c.
      bound[c + 1] = std::upper_bound(x, x + d, static_cast<double>(t[c])) - x;
    }
    // The same clusters as last round: the means, so the centroids, are fixed.
    if (it > 0 && std::equal(bound, bound + k + 1, prev_bound)) break;
    std::copy(bound, bound + k + 1, prev_bound);
    double sse = 0;
    for (int c = 0; c < k; ++c) {
      const int64_t a = bound[c], b = bound[c + 1];
      const double w = ws.pw[b] - ws.pw[a];
      if (!(w > 0)) continue;  // empty: keep the old centroid
      const double s1 = ws.p1[b] - ws.p1[a], s2 = ws.p2[b] - ws.p2[a];
      centroids[c] = static_cast<float>(shift + s1 / w);
      const double m = static_cast<double>(centroids[c]) - shift;
      sse += std::max(0.0, s2 - 2 * m * s1 + m * m * w);
    }
    std::sort(centroids, centroids + k);  // rounding could swap neighbours; cheap insurance
    if (sse == 0 || prev_sse - sse < o.tolerance * prev_sse) break;
    prev_sse = sse;
  }
}

// ---------------------------------------------------------------------------
// The front end's pieces.

struct Geometry {
  int64_t numel = 0;
  int64_t codebooks = 1;  // rows when per_row, else 1
  int64_t row_len = 0;    // values per codebook: cols (per row) or numel
  int k = 0;
};

Status check_arguments(const float* w, const CodebookShape& s, const KmeansOptions& o,
                       const float* centroids, const uint8_t* labels, Geometry* g) {
  if (s.rows < 0 || s.cols < 0) {
    return invalid("shape: rows and cols must be >= 0 (got " + std::to_string(s.rows) + " x " +
                   std::to_string(s.cols) + ")");
  }
  if (Status st = check_dims("shape", Dims{s.rows, s.cols}, 4, &g->numel); !st.ok()) return st;
  if (s.bits < 1 || s.bits > 8) {
    return out_of_range("shape.bits: must be in [1, 8] (got " + std::to_string(s.bits) + ")");
  }
  g->k = 1 << s.bits;
  g->codebooks = s.per_row ? s.rows : 1;
  g->row_len = s.per_row ? s.cols : g->numel;
  if (o.method != KmeansMethod::kOptimal1D && o.method != KmeansMethod::kLloyd) {
    return invalid("options.method: not a KmeansMethod");
  }
  if (o.max_iterations < 1) {
    return out_of_range("options.max_iterations: must be >= 1 (got " +
                        std::to_string(o.max_iterations) + ")");
  }
  if (!(std::isfinite(o.tolerance) && o.tolerance >= 0)) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%g", o.tolerance);
    return out_of_range(std::string("options.tolerance: must be finite and >= 0 (got ") + buf +
                        ")");
  }
  if (Status st = check_pointer("w", w, g->numel); !st.ok()) return st;
  if (Status st = check_pointer("centroids", centroids, g->codebooks * g->k); !st.ok()) return st;
  if (Status st = check_pointer("labels", labels, g->numel); !st.ok()) return st;
  for (int64_t i = 0; i < g->numel; ++i) {
    if (!std::isfinite(w[i]))
      return out_of_range(indexed("w", i) + ": must be finite (got " + str(w[i]) + ")");
  }
  if (o.importance != nullptr) {
    for (int64_t i = 0; i < g->numel; ++i) {
      if (!(std::isfinite(o.importance[i]) && o.importance[i] >= 0.0f)) {
        return out_of_range(indexed("options.importance", i) + ": must be finite and >= 0 (got " +
                            str(o.importance[i]) + ")");
      }
    }
  }
  return Status();
}

std::string describe(const CodebookShape& s, const KmeansOptions& o) {
  return "rows=" + std::to_string(s.rows) + " cols=" + std::to_string(s.cols) +
         " bits=" + std::to_string(s.bits) + (s.per_row ? " per_row" : " per_tensor") +
         (o.importance ? " weighted" : "") +
         (o.method == KmeansMethod::kLloyd ? " max_iterations=" + std::to_string(o.max_iterations)
                                           : "");
}

}  // namespace
}  // namespace internal

Status kmeans_fit(const float* w, const CodebookShape& shape, const KmeansOptions& options,
                  float* centroids, uint8_t* labels, double* sse) {
  internal::VerboseScope verbose("exec", "kmeans_fit");
  internal::Geometry g;
  if (Status st = internal::check_arguments(w, shape, options, centroids, labels, &g); !st.ok()) {
    return st;
  }
  const bool optimal = options.method == KmeansMethod::kOptimal1D;
  const int k = g.k;
  const int64_t n = g.row_len;
  // The DP's candidate scans have AVX2 and AVX-512 paths (same results, bit
  // for bit). The rest is scalar code.
  internal::DpPath path = internal::DpPath::kScalar;
  Isa used = Isa::kScalar;
#ifdef QKERN_KMEANS_X86
  const Isa isa = active_isa();
  if (optimal && (isa == Isa::kAvx512 || isa == Isa::kAvx512Vnni || isa == Isa::kAvx512Amx)) {
    path = internal::DpPath::kAvx512;
    used = Isa::kAvx512;
  } else if (optimal && isa == Isa::kAvx2) {
    path = internal::DpPath::kAvx2;
    used = Isa::kAvx2;
  }
#endif
  // Everything is allocated before anything is written: a failed allocation
  // leaves the outputs untouched. The DP's argmins take (k - 1) * n * 4 bytes.
  internal::Workspace ws;
  if (Status st = ws.init(n, optimal, options.importance != nullptr); !st.ok()) return st;
  internal::Buffer<uint32_t> args;
  if (optimal && n > k) {
    // Point indices are stored in 32 bits.
    if (n > int64_t{0xFFFFFFF0}) {
      return Status(StatusCode::kUnsupported,
                    "shape: kOptimal1D takes at most 2^32 - 16 values per codebook (got " +
                        std::to_string(n) + ")");
    }
    args = internal::allocate<uint32_t>(static_cast<int64_t>(k - 1) * n);
    if (!args) return internal::out_of_memory("kmeans_fit backtracking table");
  }

  const float* imp = options.importance;
  for (int64_t b = 0; b < g.codebooks; ++b) {
    float* c = centroids + b * k;
    const int64_t off = b * n;
    if (n == 0) {  // no values: k zeros (SSE 0)
      std::fill(c, c + k, 0.0f);
      continue;
    }
    const float* cw = w + off;
    const float* cimp = imp ? imp + off : nullptr;
    const int64_t d = internal::gather_points(cw, cimp, n, ws);
    if (d <= k) {
      // Every point its own centroid; the largest repeats.
      for (int i = 0; i < k; ++i) c[i] = static_cast<float>(ws.x[std::min<int64_t>(i, d - 1)]);
    } else {
      double shift = 0;
      internal::prefix_sums(d, ws, &shift);
      if (optimal) {
        internal::fit_optimal(d, k, ws, path, args.get(), c);
      } else {
        internal::fit_lloyd(d, k, options, shift, ws, c);
      }
    }
  }
  // Labels by the exact rule of qkern::assign (the nearest centroid, ties to
  // the lower index; its SIMD kernels), over every codebook at once. It cannot
  // fail: the centroids are finite means of finite values, sorted ascending.
  if (Status st = assign(w, shape, centroids, labels); !st.ok()) {
    return Status(StatusCode::kInternal, "kmeans_fit: assign failed: " + st.message());
  }
  // The SSE with the importances the fit used (1 each in a codebook whose
  // importances are all 0).
  double total_sse = 0;
  for (int64_t b = 0; b < g.codebooks && sse != nullptr; ++b) {
    const int64_t off = b * n;
    const float* c = centroids + b * k;
    const bool use_importance = internal::weighted(imp ? imp + off : nullptr, n);
    for (int64_t i = 0; i < n; ++i) {
      const double e = static_cast<double>(w[off + i]) - c[labels[off + i]];
      total_sse += (use_importance ? static_cast<double>(imp[off + i]) : 1.0) * e * e;
    }
  }
  if (sse != nullptr) *sse = total_sse;
  if (verbose.active()) {
    verbose.record(
        used,
        std::string(optimal ? "kmeans_fit_optimal1d__" : "kmeans_fit_lloyd__") + isa_name(used),
        internal::describe(shape, options));
  }
  return Status();
}

}  // namespace qkern
