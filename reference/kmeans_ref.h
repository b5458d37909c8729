// reference/kmeans_ref.h: the specification of kmeans_fit's kOptimal1D
// ("globally minimal weighted SSE") as code too slow for anything but small
// tests, and the SSE of a labelling.
//
// Points are the codebook's weights merged by value: equal floats become one
// point whose weight is the sum of their importances (importance null: 1
// each; all importances 0: 1 each). Points of weight 0 are not clustered
// (they do not influence centroids). With d points of weight > 0 and k
// centroids, an optimal clustering has min(d, k) contiguous clusters of the
// sorted points.
#ifndef QKERN_REFERENCE_KMEANS_REF_H_
#define QKERN_REFERENCE_KMEANS_REF_H_

#include <cstdint>
#include <vector>

namespace qkern {
namespace ref {

struct Kmeans1D {
  double sse = 0;                 // the minimal weighted SSE
  std::vector<double> centroids;  // the optimal clusters' weighted means, ascending (min(d, k))
  bool unique = true;  // no other partition's SSE is within 1e-9 relative (brute force only)
};

// Enumerates every partition of the sorted points into min(d, k) contiguous
// clusters: C(d - 1, k - 1) of them, so keep d small (<= ~16).
Kmeans1D kmeans_1d_brute_force(const float* w, const float* importance, int64_t n, int k);

// The textbook O(k d^2) dynamic program, every cluster's SSE accumulated
// point by point (no prefix sums): for checking the fast DP on up to a few
// thousand points.
// `unique` is not computed (left true).
Kmeans1D kmeans_1d_dp(const float* w, const float* importance, int64_t n, int k);

// sum_i imp_i * (w_i - centroids[labels_i])^2 in double (importance null: 1 each).
double labelling_sse(const float* w, const float* importance, int64_t n, const float* centroids,
                     const uint8_t* labels);

}  // namespace ref
}  // namespace qkern

#endif  // QKERN_REFERENCE_KMEANS_REF_H_
