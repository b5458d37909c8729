// kernels/quantize/quantize_kernels.h: the quantize family's microkernel contract.
//
// A microkernel processes ONE contiguous row of n elements (n >= 0, any
// alignment, any tail) and never allocates or validates. Its per-channel
// parameters come in one of two forms, chosen by the driver:
//   per_element == false  every array parameter holds 1 value for the whole row
//                         (per-tensor, or one channel's row when inner > 1);
//   per_element == true   every array parameter holds n values, one per element
//                         (channel-last: the row is one [C] slice of [outer][C]).
// Float parameters that the reference keeps as integers (zero points, clamp
// bounds) are passed as floats holding those integers exactly.
//
// Outputs must equal the reference (reference/quantize_ref.h) bit for bit,
// except the scalar sums of fake_quantize_backward's uniform form, which may
// differ by the reordering bound of docs/semantics.md.
#ifndef QKERN_KERNELS_QUANTIZE_QUANTIZE_KERNELS_H_
#define QKERN_KERNELS_QUANTIZE_QUANTIZE_KERNELS_H_

#include <cstddef>
#include <cstdint>

namespace qkern {
namespace internal {

struct QuantizeKernels {
  // y = clamp(rne(x * s) + zp, qmin, qmax), or rne(x / s) when divide; NaN -> zp.
  // s is 1/scale (multiply) or scale (divide).
  void (*quantize_u8)(const float* x, size_t n, const float* s, const float* zp, bool per_element,
                      bool divide, float qmin, float qmax, uint8_t* y);
  void (*quantize_s8)(const float* x, size_t n, const float* s, const float* zp, bool per_element,
                      bool divide, float qmin, float qmax, int8_t* y);
  // y = float(q - zp) * scale
  void (*dequantize_u8)(const uint8_t* q, size_t n, const float* scale, const int32_t* zp,
                        bool per_element, float* y);
  void (*dequantize_s8)(const int8_t* q, size_t n, const float* scale, const int32_t* zp,
                        bool per_element, float* y);
  // y = clamp(rne(float(acc) * m) + zo, lo, hi)
  void (*requantize_fp32_u8)(const int32_t* acc, size_t n, const float* m, bool per_element,
                             float zo, float lo, float hi, uint8_t* y);
  void (*requantize_fp32_s8)(const int32_t* acc, size_t n, const float* m, bool per_element,
                             float zo, float lo, float hi, int8_t* y);
  // y = clamp(MultiplyByQuantizedMultiplier(acc, qm, shift) + zo, lo, hi)
  void (*requantize_fixed_u8)(const int32_t* acc, size_t n, const int32_t* qm,
                              const int32_t* shift, bool per_element, int32_t zo, int32_t lo,
                              int32_t hi, uint8_t* y);
  void (*requantize_fixed_s8)(const int32_t* acc, size_t n, const int32_t* qm,
                              const int32_t* shift, bool per_element, int32_t zo, int32_t lo,
                              int32_t hi, int8_t* y);
  // y = (clamp(rne(x * inv) + zp, qmin, qmax) - zp) * scale
  void (*fake_quantize)(const float* x, size_t n, const float* inv, const float* scale,
                        const float* zp, bool per_element, float qmin, float qmax, float* y);
  // LSQ backward terms (quantize.hpp). dx may be null. Uniform form: adds the
  // row's sums to ds[0] and dzp[0]. Per-element form: ds[i] += term_i,
  // dzp[i] += term_i (the reference's order when called for o = 0, 1, ...).
  void (*fake_quantize_backward)(const float* x, const float* dy, size_t n, const float* inv,
                                 const float* scale, const float* zp, bool per_element,
                                 float qmin, float qmax, float g, float* dx, float* ds,
                                 float* dzp);
  // Uniform form: mn[0] = min(mn[0], x[..]), mx[0] likewise. Per-element form:
  // mn[i] = min(mn[i], x[i]). Returns false if any x is NaN or infinite.
  bool (*minmax)(const float* x, size_t n, bool per_element, float* mn, float* mx);
};

// The table for each Highway target this build compiled (null otherwise).
const QuantizeKernels* quantize_kernels_avx2();
const QuantizeKernels* quantize_kernels_avx512();
const QuantizeKernels* quantize_kernels_avx512_vnni();
const QuantizeKernels* quantize_kernels_neon();

}  // namespace internal
}  // namespace qkern

#endif  // QKERN_KERNELS_QUANTIZE_QUANTIZE_KERNELS_H_
