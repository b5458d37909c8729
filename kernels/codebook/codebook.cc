// kernels/codebook/codebook.cc: front end and driver of the codebook family's
// elementwise operations (assign, pack, unpack, decode, the QAT updates).
// kmeans_fit lives in kmeans_fit.cc.
//
// Validation reads everything a call depends on (labels < k, centroids
// finite and sorted) before anything is written. The driver calls the
// microkernels once per codebook: once for a per-tensor codebook (the matrix
// is dense), once per row otherwise. Pack, unpack and the mean update are
// scatters of a few bits or a few bins with no SIMD win worth its code: one
// scalar implementation (the reference) serves every ISA.
#include <cmath>
#include <string>

#include "kernels/codebook/codebook_kernels.h"
#include "kernels/common/registry.h"
#include "kernels/common/validate.h"
#include "kernels/common/verbose.h"
#include "qkern/codebook.hpp"
#include "qkern/isa.hpp"
#include "reference/codebook_ref.h"

namespace qkern {
namespace internal {
namespace {

const Registry<CodebookKernels>& registry() {
  // scalar stays null (the reference); neon_dotprod falls back to neon.
  static const Registry<CodebookKernels> r(nullptr, codebook_kernels_avx2(), codebook_kernels_avx512(),
                                           codebook_kernels_avx512_vnni(), codebook_kernels_neon(), nullptr);
  return r;
}

struct Geometry {
  int64_t numel = 0;
  int64_t codebooks = 1;  // rows when per_row, else 1
  int64_t row_len = 0;    // elements per codebook call: cols (per row) or numel
  int k = 0;
};

// rows/cols >= 0 without overflow, bits in [min_bits, 8] (or 2/4 when packing).
Status check_shape(const CodebookShape& s, bool packing, Geometry* g) {
  if (s.rows < 0 || s.cols < 0) {
    return invalid("shape: rows and cols must be >= 0 (got " + std::to_string(s.rows) + " x " +
                   std::to_string(s.cols) + ")");
  }
  if (Status st = check_dims("shape", Dims{s.rows, s.cols}, 4, &g->numel); !st.ok()) return st;
  if (packing ? (s.bits != 2 && s.bits != 4) : (s.bits < 1 || s.bits > 8)) {
    return out_of_range(std::string("shape.bits: must be ") + (packing ? "2 or 4" : "in [1, 8]") +
                        " (got " + std::to_string(s.bits) + ")");
  }
  g->k = 1 << s.bits;
  g->codebooks = s.per_row ? s.rows : 1;
  g->row_len = s.per_row ? s.cols : g->numel;
  return Status();
}

Status check_labels(const uint8_t* labels, int64_t n, int k) {
  if (Status st = check_pointer("labels", labels, n); !st.ok()) return st;
  for (int64_t i = 0; i < n; ++i) {
    if (labels[i] >= k) {
      return out_of_range(indexed("labels", i) + ": must be < " + std::to_string(k) + " (got " +
                          std::to_string(labels[i]) + ")");
    }
  }
  return Status();
}

Status check_sorted_centroids(const float* c, const Geometry& g) {
  if (Status st = check_pointer("centroids", c, g.codebooks * g.k); !st.ok()) return st;
  for (int64_t i = 0; i < g.codebooks * g.k; ++i) {
    if (!std::isfinite(c[i])) {
      return out_of_range(indexed("centroids", i) + ": must be finite (got " + str(c[i]) + ")");
    }
    if (i % g.k != 0 && c[i] < c[i - 1]) {
      return out_of_range(indexed("centroids", i) + ": each codebook must be sorted ascending (" +
                          str(c[i - 1]) + " > " + str(c[i]) + ")");
    }
  }
  return Status();
}

std::string describe(const CodebookShape& s) {
  return "rows=" + std::to_string(s.rows) + " cols=" + std::to_string(s.cols) +
         " bits=" + std::to_string(s.bits) + (s.per_row ? " per_row" : " per_tensor");
}

}  // namespace
}  // namespace internal

int64_t packed_row_bytes(int64_t cols, int bits) { return (cols * bits + 7) / 8; }

Status assign(const float* w, const CodebookShape& shape, const float* centroids,
              uint8_t* labels) {
  internal::VerboseScope verbose("exec", "assign");
  internal::Geometry g;
  if (Status st = internal::check_shape(shape, false, &g); !st.ok()) return st;
  if (Status st = internal::check_pointer("w", w, g.numel); !st.ok()) return st;
  if (Status st = internal::check_pointer("labels", labels, g.numel); !st.ok()) return st;
  if (Status st = internal::check_sorted_centroids(centroids, g); !st.ok()) return st;

  const auto sel = internal::registry().select(active_isa());
  float t[255];
  for (int64_t b = 0; b < g.codebooks && g.row_len > 0; ++b) {
    ref::thresholds(centroids + b * g.k, g.k, t);
    const int64_t off = b * g.row_len;
    if (sel.kernels) {
      sel.kernels->assign(w + off, g.row_len, t, g.k, labels + off);
    } else {
      ref::assign_row(w + off, g.row_len, t, g.k, labels + off);
    }
  }
  if (verbose.active()) {
    verbose.record(sel.isa, std::string("assign_f32_u8__") + isa_name(sel.isa),
                   internal::describe(shape));
  }
  return Status();
}

Status pack_indices(const uint8_t* labels, const CodebookShape& shape, uint8_t* packed) {
  internal::Geometry g;
  if (Status st = internal::check_shape(shape, true, &g); !st.ok()) return st;
  if (Status st = internal::check_pointer("packed", packed, g.numel); !st.ok()) return st;
  if (Status st = internal::check_labels(labels, g.numel, g.k); !st.ok()) return st;
  const int64_t row_bytes = packed_row_bytes(shape.cols, shape.bits);
  for (int64_t r = 0; r < shape.rows; ++r) {
    ref::pack_row(labels + r * shape.cols, shape.cols, shape.bits, packed + r * row_bytes);
  }
  return Status();
}

Status unpack_indices(const uint8_t* packed, const CodebookShape& shape, uint8_t* labels) {
  internal::Geometry g;
  if (Status st = internal::check_shape(shape, true, &g); !st.ok()) return st;
  if (Status st = internal::check_pointer("packed", packed, g.numel); !st.ok()) return st;
  if (Status st = internal::check_pointer("labels", labels, g.numel); !st.ok()) return st;
  const int64_t row_bytes = packed_row_bytes(shape.cols, shape.bits);
  for (int64_t r = 0; r < shape.rows; ++r) {
    ref::unpack_row(packed + r * row_bytes, shape.cols, shape.bits, labels + r * shape.cols);
  }
  return Status();
}

Status decode(const uint8_t* labels, const CodebookShape& shape, const float* centroids, float* w) {
  internal::VerboseScope verbose("exec", "decode");
  internal::Geometry g;
  if (Status st = internal::check_shape(shape, false, &g); !st.ok()) return st;
  if (Status st = internal::check_pointer("centroids", centroids, g.codebooks * g.k); !st.ok())
    return st;
  if (Status st = internal::check_pointer("w", w, g.numel); !st.ok()) return st;
  if (Status st = internal::check_labels(labels, g.numel, g.k); !st.ok()) return st;

  const auto sel = internal::registry().select(active_isa());
  for (int64_t b = 0; b < g.codebooks && g.row_len > 0; ++b) {
    const int64_t off = b * g.row_len;
    if (sel.kernels) {
      sel.kernels->decode(labels + off, g.row_len, centroids + b * g.k, g.k, w + off);
    } else {
      ref::decode_row(labels + off, g.row_len, centroids + b * g.k, w + off);
    }
  }
  if (verbose.active()) {
    verbose.record(sel.isa, std::string("decode_u8_f32__") + isa_name(sel.isa),
                   internal::describe(shape));
  }
  return Status();
}

Status update_centroids(const float* w, const uint8_t* labels, const CodebookShape& shape,
                        float* centroids) {
  internal::Geometry g;
  if (Status st = internal::check_shape(shape, false, &g); !st.ok()) return st;
  if (Status st = internal::check_pointer("w", w, g.numel); !st.ok()) return st;
  if (Status st = internal::check_pointer("centroids", centroids, g.codebooks * g.k); !st.ok())
    return st;
  if (Status st = internal::check_labels(labels, g.numel, g.k); !st.ok()) return st;
  for (int64_t b = 0; b < g.codebooks && g.row_len > 0; ++b) {
    double sums[256] = {};
    int64_t counts[256] = {};
    const int64_t off = b * g.row_len;
    ref::centroid_sums_row(w + off, labels + off, g.row_len, sums, counts);
    for (int c = 0; c < g.k; ++c) {
      if (counts[c] > 0) centroids[b * g.k + c] = static_cast<float>(sums[c] / counts[c]);
    }
  }
  return Status();
}

Status centroid_gradient(const float* dw, const uint8_t* labels, const CodebookShape& shape,
                         float* dcentroids) {
  internal::VerboseScope verbose("exec", "centroid_gradient");
  internal::Geometry g;
  if (Status st = internal::check_shape(shape, false, &g); !st.ok()) return st;
  if (Status st = internal::check_pointer("dw", dw, g.numel); !st.ok()) return st;
  if (Status st = internal::check_pointer("dcentroids", dcentroids, g.codebooks * g.k); !st.ok())
    return st;
  if (Status st = internal::check_labels(labels, g.numel, g.k); !st.ok()) return st;

  const auto sel = internal::registry().select(active_isa());
  const bool vector = sel.kernels != nullptr && g.k <= internal::kMaxVectorCentroids;
  for (int64_t i = 0; i < g.codebooks * g.k; ++i) dcentroids[i] = 0.0f;
  for (int64_t b = 0; b < g.codebooks && g.row_len > 0; ++b) {
    const int64_t off = b * g.row_len;
    if (vector) {
      sel.kernels->centroid_sums(dw + off, labels + off, g.row_len, g.k, dcentroids + b * g.k);
    } else {
      ref::centroid_sums_row(dw + off, labels + off, g.row_len, dcentroids + b * g.k);
    }
  }
  if (verbose.active()) {
    const Isa ran = vector ? sel.isa : Isa::kScalar;
    verbose.record(ran, std::string("centroid_gradient_f32__") + isa_name(ran),
                   internal::describe(shape));
  }
  return Status();
}

}  // namespace qkern
