// qkern/codebook.hpp: k-means codebook quantization (Deep Compression-style
// weight sharing with QAT). A weight matrix W[rows][cols] is represented by
// k = 2^bits sorted centroids (one codebook for the tensor, or one per row)
// and one label per weight; labels pack 4 or 2 bits each.
//
// Semantics (docs/semantics.md, "k-means codebooks"):
//   label(w)   = the index of the nearest centroid; ties go to the lower index
//   decode     w = C[label]
//   pack 4-bit byte j of a row = label[2j] | label[2j+1] << 4
//   pack 2-bit byte j of a row = label[4j] | label[4j+1] << 2 | label[4j+2] << 4 | label[4j+3] << 6
//              rows are padded to whole bytes with label 0
//   update     C[c] = mean of the weights labelled c (unchanged when none is)
//   gradient   dC[c] = sum of dW over the weights labelled c
// Centroid arrays hold k values per codebook: [k] per tensor, [rows][k] per row.
#ifndef QKERN_CODEBOOK_HPP_
#define QKERN_CODEBOOK_HPP_

#include <cstdint>

#include "qkern/status.hpp"

// The shared library exports what this header declares (cmake/qkern.map).
#pragma GCC visibility push(default)
namespace qkern {

// The shape of a codebook-quantized matrix.
struct CodebookShape {
  int64_t rows = 0;
  int64_t cols = 0;
  int bits = 4;          // k = 2^bits centroids; 1..8 (packing: 2 or 4)
  bool per_row = false;  // one codebook per row instead of one per tensor
};

enum class KmeansMethod {
  kOptimal1D,  // exact 1-D k-means by dynamic programming: the globally minimal (weighted) SSE
  kLloyd,      // Lloyd's iterations from k-means++ seeding (fixed seed: deterministic)
};

struct KmeansOptions {
  KmeansMethod method = KmeansMethod::kOptimal1D;
  const float* importance = nullptr;  // optional per-weight weights, finite and >= 0 ([rows][cols])
  int max_iterations = 100;           // Lloyd: at most this many assignment/update rounds (>= 1)
  double tolerance = 1e-7;            // Lloyd: stop when the SSE improves by less than this fraction
  uint64_t seed = 0x9E3779B97F4A7C15ull;  // Lloyd: the k-means++ seeding's generator seed
};

// Fits the codebook(s) and labels every weight. centroids: [k] or [rows][k],
// sorted ascending; labels: [rows][cols], one byte each; sse (optional): the
// total (importance-weighted) squared error of the result. When a codebook
// has fewer distinct weights than centroids, the distinct values come first
// and the largest repeats. NaN or infinite weights are an error.
Status kmeans_fit(const float* w, const CodebookShape& shape, const KmeansOptions& options,
                  float* centroids, uint8_t* labels, double* sse = nullptr);

// labels = nearest centroid (ties to the lower index). Centroids must be
// finite and sorted ascending.
Status assign(const float* w, const CodebookShape& shape, const float* centroids, uint8_t* labels);

// Bytes per packed row: ceil(cols * bits / 8), bits = 2 or 4.
int64_t packed_row_bytes(int64_t cols, int bits);
// labels [rows][cols] (each < 2^bits) -> packed [rows][packed_row_bytes]. bits = 2 or 4.
Status pack_indices(const uint8_t* labels, const CodebookShape& shape, uint8_t* packed);
Status unpack_indices(const uint8_t* packed, const CodebookShape& shape, uint8_t* labels);

// w[r][c] = C[labels[r][c]] (C of row r when per_row). Labels must be < 2^bits.
Status decode(const uint8_t* labels, const CodebookShape& shape, const float* centroids, float* w);

// QAT: centroid = mean of its members (summed in double, then rounded to fp32),
// unchanged when it has none.
Status update_centroids(const float* w, const uint8_t* labels, const CodebookShape& shape,
                        float* centroids);
// QAT: dC[c] = sum of dW over the members of c (fp32 sums: the reordering bound
// of docs/semantics.md applies).
Status centroid_gradient(const float* dw, const uint8_t* labels, const CodebookShape& shape,
                         float* dcentroids);

}  // namespace qkern
#pragma GCC visibility pop

#endif  // QKERN_CODEBOOK_HPP_
