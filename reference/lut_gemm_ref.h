// reference/lut_gemm_ref.h: the lookup GEMM's specification, in scalar C++.
//
// Straight from the caller's packed indices and float codebooks (qkern/lut_gemm.hpp):
// the fp32 variant sums in double (every product of two floats is exact in
// double), the quantized variant builds the equivalent QGemm problem and runs
// the GEMM reference. Inputs are assumed valid (what LutGemm::create accepted).
#ifndef QKERN_REFERENCE_LUT_GEMM_REF_H_
#define QKERN_REFERENCE_LUT_GEMM_REF_H_

#include <cstdint>
#include <vector>

#include "qkern/gemm.hpp"
#include "qkern/lut_gemm.hpp"

namespace qkern {
namespace ref {

// idx[n][k] from the caller's packing.
int lut_label(const LutGemmParams& p, int64_t n, int64_t k);
// C_n[idx[n][k]].
float lut_weight(const LutGemmParams& p, int64_t n, int64_t k);

// The int8 codebook rule (qkern::quantize_codebook_int8 without the checks).
void quantize_codebook_int8(const float* codebook, int count, int8_t* q, float* scale);

// The QGemm problem a quantized-activation LutGemm equals: W[n][k] = Cq_n[idx]
// (N x K, stored in *w) and weight_scale[n] = s_n (stored in *scales).
QGemmParams lut_as_qgemm(const LutGemmParams& p, std::vector<int8_t>* w, std::vector<float>* scales);

// Y (M x N, row stride ldy elements of the output type) from X (M x K, stride ldx).
void lut_gemm(const LutGemmParams& p, const void* x, int64_t m, int64_t ldx, void* y, int64_t ldy);

// fp32 activations: the exact value of Y[m][n] (in double; products and sums of
// K <= kLutGemmMaxK floats lose at most K * 2^-53 relative) and the documented
// error bound gamma(K + 1) * (sum_k |X W| + |bias_f|).
double lut_gemm_exact_f32(const LutGemmParams& p, const float* x, int64_t ldx, int64_t m, int64_t n);
double lut_gemm_bound_f32(const LutGemmParams& p, const float* x, int64_t ldx, int64_t m, int64_t n);

}  // namespace ref
}  // namespace qkern

#endif  // QKERN_REFERENCE_LUT_GEMM_REF_H_
