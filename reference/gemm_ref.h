// reference/gemm_ref.h: the int8 GEMM's specification, in scalar C++.
//
// Exactly the formulas of qkern/gemm.hpp, straight from the unpacked weights:
// the answer every QGemm path (scalar included) must reproduce byte for byte.
// Inputs are assumed valid (tests call it with what QGemm::create accepted).
#ifndef QKERN_REFERENCE_GEMM_REF_H_
#define QKERN_REFERENCE_GEMM_REF_H_

#include <cstdint>

#include "qkern/gemm.hpp"

namespace qkern {
namespace ref {

// W[n][k] of the params' layout.
int8_t gemm_weight(const QGemmParams& p, int64_t n, int64_t k);

// acc[m][n] = bias[n] + sum_k (A[m][k] - za) * W[n][k], the bias added modulo 2^32.
int32_t gemm_acc(const QGemmParams& p, const void* a, int64_t lda, int64_t m, int64_t n);

// The fp32 multiplier of channel n: (sa * sw[n]) / so; the float-output scale sa * sw[n].
float gemm_multiplier(const QGemmParams& p, int64_t n);
float gemm_float_scale(const QGemmParams& p, int64_t n);

// Copies the output half of an operator's parameters (bias, output kind and
// scheme, range, scale, zero point, clamp, float bias), which LutGemmParams
// and QConv2dParams name exactly as QGemmParams does.
template <class P>
void copy_gemm_output(const P& p, QGemmParams* g) {
  g->bias = p.bias;
  g->output = p.output;
  g->scheme = p.scheme;
  g->output_range = p.output_range;
  g->output_scale = p.output_scale;
  g->output_zero_point = p.output_zero_point;
  g->lo = p.lo;
  g->hi = p.hi;
  g->bias_f = p.bias_f;
}

// Writes element i of C (of p's output type) from channel n's accumulator.
void gemm_store(const QGemmParams& p, int32_t acc, int64_t n, void* c, int64_t i);

// C (M x N, row stride ldc elements of the output type) from A (M x K, stride lda).
void gemm(const QGemmParams& p, const void* a, int64_t m, int64_t lda, void* c, int64_t ldc);

}  // namespace ref
}  // namespace qkern

#endif  // QKERN_REFERENCE_GEMM_REF_H_
