// kernels/codebook/codebook_kernels.h: the codebook family's microkernel
// contract. Each kernel processes one contiguous row of n elements (any n,
// any alignment) of one codebook, never allocates, never validates.
// assign and decode equal the reference (reference/codebook_ref.h) byte for
// byte; centroid_sums may add in another order (the bound of docs/semantics.md).
#ifndef QKERN_KERNELS_CODEBOOK_CODEBOOK_KERNELS_H_
#define QKERN_KERNELS_CODEBOOK_CODEBOOK_KERNELS_H_

#include <cstddef>
#include <cstdint>

namespace qkern {
namespace internal {

// Centroid sums keep one vector accumulator per centroid: up to this many.
constexpr int kMaxVectorCentroids = 16;

struct CodebookKernels {
  // labels[j] = #{ i < k - 1 : w[j] > t[i] } (t: the k - 1 thresholds of ref::thresholds).
  void (*assign)(const float* w, size_t n, const float* t, int k, uint8_t* labels);
  // w[j] = centroids[labels[j]] (every label < k, the codebook's size).
  void (*decode)(const uint8_t* labels, size_t n, const float* centroids, int k, float* w);
  // sums[c] += sum of x[j] over labels[j] == c, for k <= kMaxVectorCentroids.
  void (*centroid_sums)(const float* x, const uint8_t* labels, size_t n, int k, float* sums);
};

const CodebookKernels* codebook_kernels_avx2();
const CodebookKernels* codebook_kernels_avx512();
const CodebookKernels* codebook_kernels_avx512_vnni();
const CodebookKernels* codebook_kernels_neon();

}  // namespace internal
}  // namespace qkern

#endif  // QKERN_KERNELS_CODEBOOK_CODEBOOK_KERNELS_H_
