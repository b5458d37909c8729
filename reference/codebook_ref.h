// reference/codebook_ref.h: the codebook family's specification in scalar C++
// (assign, pack, unpack, decode, the QAT updates). Also the scalar ISA path,
// and the only path of the operations that are scatters (pack, unpack, the
// mean update). Inputs are assumed valid (the front end checked them).
#ifndef QKERN_REFERENCE_CODEBOOK_REF_H_
#define QKERN_REFERENCE_CODEBOOK_REF_H_

#include <cstdint>

namespace qkern {
namespace ref {

// The k - 1 decision thresholds of sorted centroids C[0..k): t[i] is the
// largest float <= the midpoint (C[i] + C[i+1]) / 2 computed in double. A
// float w belongs above centroid i exactly when w > t[i], so
//   label(w) = #{ i : w > t[i] }
// is the nearest centroid with ties to the lower index. Within a group of
// equal centroids every boundary is the group's upper one, so the group's
// first index takes all its members.
void thresholds(const float* centroids, int k, float* t);

// labels[j] = #{ i < k - 1 : w[j] > t[i] } for one row or codebook.
void assign_row(const float* w, int64_t n, const float* t, int k, uint8_t* labels);

// One row of labels (each < 2^bits) to ceil(n * bits / 8) bytes (bits 2 or 4):
// label j sits at bits (j % per_byte) * bits of byte j / per_byte.
void pack_row(const uint8_t* labels, int64_t n, int bits, uint8_t* packed);
void unpack_row(const uint8_t* packed, int64_t n, int bits, uint8_t* labels);

// w[j] = centroids[labels[j]].
void decode_row(const uint8_t* labels, int64_t n, const float* centroids, float* w);

// Adds each member's value to its centroid's sum, in order: sums[labels[j]] += x[j].
void centroid_sums_row(const float* x, const uint8_t* labels, int64_t n, float* sums);
// The same in double, with member counts (for the mean update).
void centroid_sums_row(const float* x, const uint8_t* labels, int64_t n, double* sums,
                       int64_t* counts);

}  // namespace ref
}  // namespace qkern

#endif  // QKERN_REFERENCE_CODEBOOK_REF_H_
