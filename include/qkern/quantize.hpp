// qkern/quantize.hpp: linear quantization, dequantization, requantization,
// choosing scale and zero point, and LSQ fake quantization (forward and
// backward). Stateless functions over dense row-major tensors.
//
// Semantics (docs/semantics.md has the full text; reference/ is the code):
//   quantize    q = clamp(rne(x * (1/s)) + zp, qmin, qmax)   (kDivide: rne(x / s))
//               NaN -> zp, +Inf -> qmax, -Inf -> qmin
//   dequantize  x = float(q - zp) * s
//   requantize  kFp32:       y = clamp(rne(float(acc) * m) + zo, lo, hi)
//               kFixedPoint: y = clamp(MultiplyByQuantizedMultiplier(acc, qm, shift) + zo, lo, hi)
//   fake quant  y = (clamp(rne(x * (1/s)) + zp, qmin, qmax) - zp) * s     (LSQ / PyTorch parity)
// rne = round half to even; all float math is IEEE fp32 without contraction.
//
// Per-channel parameters run along one axis of `dims`: the tensor is viewed as
// [outer][C = dims[axis]][inner] and channel c uses scale[c], zero_point[c].
// Every function validates everything before it writes anything.
#ifndef QKERN_QUANTIZE_HPP_
#define QKERN_QUANTIZE_HPP_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>

#include "qkern/status.hpp"

// The shared library exports what this header declares (cmake/qkern.map).
#pragma GCC visibility push(default)
namespace qkern {

// A dense row-major shape, rank 0..8 (rank 0 is a scalar: one element).
struct Dims {
  static constexpr int kMaxRank = 8;
  int rank = 0;
  int64_t d[kMaxRank] = {};

  Dims() = default;
  // A 1-D tensor of n elements.
  explicit Dims(int64_t n) : rank(1) { d[0] = n; }
  // Extra entries beyond kMaxRank make the Dims invalid (rank = kMaxRank + 1).
  Dims(std::initializer_list<int64_t> dims);
};

// The integer code range: bits in [2, 8]; signed [-2^(b-1), 2^(b-1)-1] stored
// as int8_t (narrow_range drops the lowest code), unsigned [0, 2^b-1] as uint8_t.
struct QuantRange {
  int bits = 8;
  bool is_signed = false;
  bool narrow_range = false;  // signed only: [-2^(b-1)+1, 2^(b-1)-1], symmetric around 0
};
// The code range of a valid QuantRange.
int32_t qmin(const QuantRange& r);
int32_t qmax(const QuantRange& r);

struct QuantParams {
  QuantRange range;
  // One value (axis < 0: per tensor) or dims[axis] values (per channel).
  const float* scale = nullptr;         // each finite and > 0
  const int32_t* zero_point = nullptr;  // each in [qmin, qmax]; nullptr means all 0
  int axis = -1;                        // -1: per tensor; else 0..rank-1
};

enum class QuantizeMode {
  kMultiply,  // rne(x * inv), inv = 1.0f / scale computed once (PyTorch, FBGEMM)
  kDivide,    // rne(x / scale) (ONNX QuantizeLinear)
};

// f32 -> codes. y is uint8_t[numel] (unsigned range) or int8_t[numel] (signed).
Status quantize(const float* x, const Dims& dims, const QuantParams& params, void* y,
                QuantizeMode mode = QuantizeMode::kMultiply);

// codes -> f32. q is uint8_t or int8_t per params.range.is_signed.
Status dequantize(const void* q, const Dims& dims, const QuantParams& params, float* y);

enum class RequantScheme {
  kFp32,        // y = rne(float(acc) * m): m = s_in * s_w[c] / s_out precomputed in fp32
  kFixedPoint,  // TFLite's MultiplyByQuantizedMultiplier (Q31 multiplier + power-of-two shift)
};

struct RequantParams {
  RequantScheme scheme = RequantScheme::kFp32;
  QuantRange range;  // output type and code range
  // One value (axis < 0) or dims[axis] values.
  const float* multiplier = nullptr;          // kFp32: each finite and > 0
  const int32_t* fixed_multiplier = nullptr;  // kFixedPoint: each in [1, 2^31 - 1]
  const int32_t* shift = nullptr;             // kFixedPoint: each in [-31, 30]; > 0 shifts left
  int axis = -1;
  int32_t zero_point = 0;  // output zero point, in [qmin, qmax]
  // Fused activation clamp; the effective bounds are [max(lo, qmin), min(hi, qmax)],
  // which must not be empty. The defaults leave the code range.
  int32_t lo = INT32_MIN;
  int32_t hi = INT32_MAX;
};

// int32 accumulators -> codes (uint8_t or int8_t per params.range.is_signed).
Status requantize(const int32_t* acc, const Dims& dims, const RequantParams& params, void* y);

// Splits a real multiplier in (0, 2^31) into TFLite's (Q31 multiplier, shift)
// with real ~= q31 * 2^(shift - 31); q31 in [2^30, 2^31 - 1], shift in [-31, 30].
// Multipliers too small for shift -31, and from 2^30 - 0.25 up (shift 31), are an error.
Status quantize_multiplier(double real_multiplier, int32_t* q31, int32_t* shift);

enum class QParamsMode {
  kAsymmetric,  // range [min(rmin, 0), max(rmax, 0)] onto [qmin, qmax]
  kSymmetric,   // zero point at the middle of the code range (0 when signed)
};

// Chooses scale(s) and zero point(s) from the data: one pair (axis < 0) or one
// per channel along `axis`. An all-zero channel gets scale kMinScale.
// Non-finite data (NaN, Inf) is an error.
constexpr float kMinScale = 1.1920928955078125e-07f;  // FLT_EPSILON, as PyTorch's observers
Status choose_qparams(const float* x, const Dims& dims, const QuantRange& range, QParamsMode mode,
                      int axis, float* scale, int32_t* zero_point);

// LSQ fake quantization, forward: y = (clamp(rne(x * inv) + zp, qmin, qmax) - zp) * s.
Status fake_quantize(const float* x, const Dims& dims, const QuantParams& params, float* y);

// LSQ backward (PyTorch _fake_quantize_learnable_per_{tensor,channel}_affine_backward).
// With q = rne(zp + x * inv) (PyTorch rounds after adding zp here) and g the gradient scale:
//   inside  (qmin <= q <= qmax): dx = dy; ds += dy * ((q - zp) * s - x) * inv * g; dzp += 0
//   below   (q < qmin):          dx = 0;  ds += dy * (qmin - zp) * g;             dzp += -dy * s * g
//   above   (q > qmax):          dx = 0;  ds += dy * (qmax - zp) * g;             dzp += -dy * s * g
// dscale / dzero_point hold one sum (per tensor) or one per channel; they are
// overwritten, not accumulated into. dx, dscale, dzero_point may each be null to skip.
// grad_scale defaults to 1 / sqrt(numel * qmax) (the LSQ paper). Sums are fp32;
// docs/semantics.md states their error bound.
struct FakeQuantGrads {
  float* dx = nullptr;
  float* dscale = nullptr;
  float* dzero_point = nullptr;
};
Status fake_quantize_backward(const float* x, const float* dy, const Dims& dims,
                              const QuantParams& params, const FakeQuantGrads& grads,
                              std::optional<float> grad_scale = std::nullopt);

}  // namespace qkern
#pragma GCC visibility pop

#endif  // QKERN_QUANTIZE_HPP_
