// reference/gemm_ref.cc: see gemm_ref.h. Clarity over speed, always.
#include "reference/gemm_ref.h"

#include <algorithm>
#include <cmath>

#include "reference/quantize_ref.h"

namespace qkern {
namespace ref {

int8_t gemm_weight(const QGemmParams& p, int64_t n, int64_t k) {
  if (p.weight_layout == WeightLayout::kNK) {
    const int64_t ldw = p.ldw ? p.ldw : p.k;
    return p.weights[n * ldw + k];
  }
  const int64_t ldw = p.ldw ? p.ldw : p.n;
  return p.weights[k * ldw + n];
}

int32_t gemm_acc(const QGemmParams& p, const void* a, int64_t lda, int64_t m, int64_t n) {
  int64_t sum = 0;  // |sum| <= K * 255 * 128 < 2^31: exact
  for (int64_t k = 0; k < p.k; ++k) {
    const int64_t i = m * lda + k;
    const int32_t x = p.activation_signed ? static_cast<const int8_t*>(a)[i]
                                          : static_cast<const uint8_t*>(a)[i];
    sum += int64_t{x - p.activation_zero_point} * gemm_weight(p, n, k);
  }
  const uint32_t bias = p.bias ? static_cast<uint32_t>(p.bias[n]) : 0u;
  return static_cast<int32_t>(static_cast<uint32_t>(sum) + bias);  // wraps modulo 2^32
}

float gemm_float_scale(const QGemmParams& p, int64_t n) {
  return p.activation_scale * p.weight_scale[p.weight_scale_per_channel ? n : 0];
}

float gemm_multiplier(const QGemmParams& p, int64_t n) {
  return gemm_float_scale(p, n) / p.output_scale;
}

void gemm_store(const QGemmParams& p, int32_t acc, int64_t n, void* c, int64_t i) {
  switch (p.output) {
    case GemmOutput::kInt32:
      static_cast<int32_t*>(c)[i] = acc;
      break;
    case GemmOutput::kFloat:
      static_cast<float*>(c)[i] =
          std::fma(static_cast<float>(acc), gemm_float_scale(p, n), p.bias_f ? p.bias_f[n] : 0.0f);
      break;
    case GemmOutput::kRequantized: {
      const int32_t lo = std::max(p.lo, qmin(p.output_range));
      const int32_t hi = std::min(p.hi, qmax(p.output_range));
      int32_t q;
      if (p.scheme == RequantScheme::kFp32) {
        q = requantize_fp32_one(acc, gemm_multiplier(p, n), p.output_zero_point, lo, hi);
      } else {
        const double real = static_cast<double>(p.activation_scale) *
                            p.weight_scale[p.weight_scale_per_channel ? n : 0] / p.output_scale;
        int32_t q31 = 0, shift = 0;
        (void)quantize_multiplier(real, &q31, &shift);
        q = requantize_fixed_one(acc, q31, shift, p.output_zero_point, lo, hi);
      }
      static_cast<uint8_t*>(c)[i] = static_cast<uint8_t>(q);  // u8 or s8: the low byte
      break;
    }
  }
}

void gemm(const QGemmParams& p, const void* a, int64_t m_count, int64_t lda, void* c,
          int64_t ldc) {
  for (int64_t m = 0; m < m_count; ++m) {
    for (int64_t n = 0; n < p.n; ++n) gemm_store(p, gemm_acc(p, a, lda, m, n), n, c, m * ldc + n);
  }
}

}  // namespace ref
}  // namespace qkern
