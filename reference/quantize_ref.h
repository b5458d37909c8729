// reference/quantize_ref.h: the quantize family's specification, in scalar C++.
//
// This is the code DESIGN.md section 3 describes, kept short and obviously
// right (never optimized): it is both the `scalar` ISA path and the answer
// every SIMD path is compared with, byte for byte for integer outputs and bit
// for bit for elementwise float outputs.
//
// Tensors are viewed as [outer][channels][inner]; element i belongs to channel
// (i / inner) % channels. Per-tensor parameters are channels == 1. Inputs are
// assumed valid (the front end validated them).
#ifndef QKERN_REFERENCE_QUANTIZE_REF_H_
#define QKERN_REFERENCE_QUANTIZE_REF_H_

#include <cstddef>
#include <cstdint>

#include "qkern/quantize.hpp"

namespace qkern {
namespace ref {

struct Layout {
  int64_t outer = 1;
  int64_t channels = 1;
  int64_t inner = 1;
  int64_t numel() const { return outer * channels * inner; }
};

// Round half to even, independent of the FPU rounding mode. Inf and NaN pass through.
float round_half_even(float v);

// One element of quantize: `scale_or_inv` is 1/scale (kMultiply) or scale (kDivide).
int32_t quantize_one(float x, float scale_or_inv, bool divide, int32_t zp, int32_t qmin,
                     int32_t qmax);

// TFLite MultiplyByQuantizedMultiplier with a saturating left shift:
// RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x << left, qm), right).
int32_t multiply_by_quantized_multiplier(int32_t x, int32_t qm, int32_t shift);

// One accumulator through requantize, the effective clamp [lo, hi] already
// intersected with the code range: clamp(rne(float(acc) * m) + zo, lo, hi) and
// clamp(MultiplyByQuantizedMultiplier(acc, qm, shift) + zo, lo, hi).
int32_t requantize_fp32_one(int32_t acc, float m, int32_t zo, int32_t lo, int32_t hi);
int32_t requantize_fixed_one(int32_t acc, int32_t qm, int32_t shift, int32_t zo, int32_t lo,
                             int32_t hi);

// zero_point may be null (all zero). y is uint8_t or int8_t per range.is_signed.
void quantize(const float* x, const Layout& l, const float* scale, const int32_t* zero_point,
              const QuantRange& range, QuantizeMode mode, void* y);
void dequantize(const void* q, const Layout& l, const float* scale, const int32_t* zero_point,
                const QuantRange& range, float* y);
void requantize(const int32_t* acc, const Layout& l, const RequantParams& p, void* y);

// Per channel: min and max over the channel's elements. Returns false if any
// element is NaN or infinite (mins and maxes are then unspecified).
bool minmax(const float* x, const Layout& l, float* mn, float* mx);
// The scale and zero point for one channel whose data spans [mn, mx] (finite).
void qparams_from_minmax(float mn, float mx, const QuantRange& range, QParamsMode mode,
                         float* scale, int32_t* zero_point);

void fake_quantize(const float* x, const Layout& l, const float* scale, const int32_t* zero_point,
                   const QuantRange& range, float* y);
// Sums are accumulated per channel in memory order (channel c: o = 0.., i = 0..).
void fake_quantize_backward(const float* x, const float* dy, const Layout& l, const float* scale,
                            const int32_t* zero_point, const QuantRange& range, float grad_scale,
                            float* dx, float* dscale, float* dzero_point);

}  // namespace ref
}  // namespace qkern

#endif  // QKERN_REFERENCE_QUANTIZE_REF_H_
