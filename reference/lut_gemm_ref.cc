// reference/lut_gemm_ref.cc: see lut_gemm_ref.h.
#include "reference/lut_gemm_ref.h"

#include <algorithm>
#include <cmath>

#include "qkern/codebook.hpp"
#include "reference/gemm_ref.h"

namespace qkern {
namespace ref {

namespace {
int64_t ld_indices(const LutGemmParams& p) {
  return p.ld_indices ? p.ld_indices : packed_row_bytes(p.k, p.bits);
}
const float* codebook_of(const LutGemmParams& p, int64_t n) {
  return p.codebook + (p.codebook_per_row ? n << p.bits : 0);
}
}  // namespace

int lut_label(const LutGemmParams& p, int64_t n, int64_t k) {
  const int per_byte = 8 / p.bits;
  const uint8_t byte = p.indices[n * ld_indices(p) + k / per_byte];
  return (byte >> (k % per_byte * p.bits)) & ((1 << p.bits) - 1);
}

float lut_weight(const LutGemmParams& p, int64_t n, int64_t k) {
  return codebook_of(p, n)[lut_label(p, n, k)];
}

void quantize_codebook_int8(const float* c, int count, int8_t* q, float* scale) {
  float amax = 0.0f;
  for (int i = 0; i < count; ++i) amax = std::max(amax, std::fabs(c[i]));
  float s = amax / 127.0f;
  if (amax == 0.0f) s = 1.0f;
  if (!(s > 0.0f)) s = amax;  // max|C| / 127 underflowed to zero: codes -1, 0, 1
  for (int i = 0; i < count; ++i) {
    const float v = std::nearbyint(c[i] / s);  // round half to even (default rounding mode)
    q[i] = static_cast<int8_t>(std::min(127.0f, std::max(-127.0f, v)));
  }
  *scale = s;
}

QGemmParams lut_as_qgemm(const LutGemmParams& p, std::vector<int8_t>* w, std::vector<float>* scales) {
  const int entries = 1 << p.bits;
  const int64_t books = p.codebook_per_row ? p.n : 1;
  std::vector<int8_t> cq(static_cast<size_t>(books * entries));
  scales->assign(static_cast<size_t>(books), 0.0f);
  for (int64_t b = 0; b < books; ++b) {
    quantize_codebook_int8(p.codebook + b * entries, entries, cq.data() + b * entries, &(*scales)[b]);
  }
  w->assign(static_cast<size_t>(p.n * p.k), 0);
  for (int64_t n = 0; n < p.n; ++n) {
    for (int64_t k = 0; k < p.k; ++k) {
      (*w)[n * p.k + k] = cq[(p.codebook_per_row ? n * entries : 0) + lut_label(p, n, k)];
    }
  }
  QGemmParams g;
  g.n = p.n;
  g.k = p.k;
  g.activation_signed = p.activation == LutActivation::kS8;
  g.activation_zero_point = p.activation_zero_point;
  g.activation_scale = p.activation_scale;
  g.weights = w->data();
  g.weight_layout = WeightLayout::kNK;
  g.weight_scale = scales->data();
  g.weight_scale_per_channel = p.codebook_per_row;
  copy_gemm_output(p, &g);
  return g;
}

double lut_gemm_exact_f32(const LutGemmParams& p, const float* x, int64_t ldx, int64_t m, int64_t n) {
  double sum = 0;
  for (int64_t k = 0; k < p.k; ++k) sum += double{x[m * ldx + k]} * lut_weight(p, n, k);
  return sum + (p.bias_f ? p.bias_f[n] : 0.0f);
}

double lut_gemm_bound_f32(const LutGemmParams& p, const float* x, int64_t ldx, int64_t m, int64_t n) {
  double mag = p.bias_f ? std::fabs(double{p.bias_f[n]}) : 0.0;
  for (int64_t k = 0; k < p.k; ++k) mag += std::fabs(double{x[m * ldx + k]} * lut_weight(p, n, k));
  const double u = std::ldexp(1.0, -24), j = static_cast<double>(p.k + 1);
  return j * u / (1 - j * u) * mag;
}

void lut_gemm(const LutGemmParams& p, const void* x, int64_t m, int64_t ldx, void* y, int64_t ldy) {
  if (p.activation == LutActivation::kFp32) {
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t n = 0; n < p.n; ++n) {
        static_cast<float*>(y)[i * ldy + n] =
            static_cast<float>(lut_gemm_exact_f32(p, static_cast<const float*>(x), ldx, i, n));
      }
    }
    return;
  }
  std::vector<int8_t> w;
  std::vector<float> scales;
  const QGemmParams g = lut_as_qgemm(p, &w, &scales);
  gemm(g, x, m, ldx, y, ldy);
}

}  // namespace ref
}  // namespace qkern
