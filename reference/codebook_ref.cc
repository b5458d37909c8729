// reference/codebook_ref.cc: see codebook_ref.h.
#include "reference/codebook_ref.h"

#include <cmath>
#include <limits>

namespace qkern {
namespace ref {

void thresholds(const float* centroids, int k, float* t) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  for (int i = 0; i + 1 < k; ++i) {
    const double mid = (static_cast<double>(centroids[i]) + centroids[i + 1]) / 2;
    float f = static_cast<float>(mid);
    if (static_cast<double>(f) > mid) f = std::nextafter(f, -kInf);
    t[i] = f;
  }
  // Equal centroids: the later one must never win a tie, so the boundary
  // inside a group of equal centroids moves up to the group's upper boundary
  // (+inf for the last group); the thresholds stay sorted.
  for (int i = k - 2; i >= 0; --i) {
    if (centroids[i] == centroids[i + 1]) t[i] = i + 1 < k - 1 ? t[i + 1] : kInf;
  }
}

void assign_row(const float* w, int64_t n, const float* t, int k, uint8_t* labels) {
  for (int64_t j = 0; j < n; ++j) {
    int label = 0;
    for (int i = 0; i + 1 < k; ++i) label += w[j] > t[i] ? 1 : 0;
    labels[j] = static_cast<uint8_t>(label);
  }
}

void pack_row(const uint8_t* labels, int64_t n, int bits, uint8_t* packed) {
  const int per_byte = 8 / bits;
  for (int64_t b = 0; b < (n * bits + 7) / 8; ++b) packed[b] = 0;
  for (int64_t j = 0; j < n; ++j) {
    packed[j / per_byte] |= static_cast<uint8_t>(labels[j] << ((j % per_byte) * bits));
  }
}

void unpack_row(const uint8_t* packed, int64_t n, int bits, uint8_t* labels) {
  const int per_byte = 8 / bits;
  const int mask = (1 << bits) - 1;
  for (int64_t j = 0; j < n; ++j) {
    labels[j] = static_cast<uint8_t>((packed[j / per_byte] >> ((j % per_byte) * bits)) & mask);
  }
}

void decode_row(const uint8_t* labels, int64_t n, const float* centroids, float* w) {
  for (int64_t j = 0; j < n; ++j) w[j] = centroids[labels[j]];
}

void centroid_sums_row(const float* x, const uint8_t* labels, int64_t n, float* sums) {
  for (int64_t j = 0; j < n; ++j) sums[labels[j]] += x[j];
}

void centroid_sums_row(const float* x, const uint8_t* labels, int64_t n, double* sums,
                       int64_t* counts) {
  for (int64_t j = 0; j < n; ++j) {
    sums[labels[j]] += x[j];
    ++counts[labels[j]];
  }
}

}  // namespace ref
}  // namespace qkern
