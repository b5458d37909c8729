// qkern/conv.hpp: int8 2-D convolution with per-channel requantization (QConv2d).
//
// Semantics (docs/semantics.md "int8 convolution"; reference/conv_ref.h is the code):
// NHWC input X[b][ih][iw][c] (u8 or s8, zero point za), weights OHWI
// W[oc][kh][kw][ic] (s8, symmetric; ic < IC / groups), output NHWC
// Y[b][oh][ow][oc]. With g = oc / (OC / groups) the group of oc,
//   ih = oh * stride_h - pad_top + kh * dilation_h,  iw likewise,
//   acc = bias[oc] + sum_{kh, kw, ic} (X[b][ih][iw][g * IC/groups + ic] - za) * W[oc][kh][kw][ic]
// where a tap outside the input reads za (so it adds 0). acc is exact in int32
// and is written exactly as QGemm writes its accumulators (qkern/gemm.hpp):
// requantized u8/s8 (fp32 or fixed-point scheme, fused clamp), raw int32, or
// float. Output size: OH = (H + pad_top + pad_bottom - dilation_h * (KH - 1) - 1) / stride_h + 1.
//
// Paths (create() picks one; QKERN_VERBOSE names it):
//   gemm_1x1   1x1, stride 1, no padding: the GEMM runs on the input in place
//              (one per group, the group's channels read through the row stride).
//   im2col     everything else but depthwise: tiles of output pixels are gathered
//              into a bounded per-thread buffer (kQConvIm2colBytes) and multiplied
//              by the group's packed weights (a channel multiplier > 1 lands here).
//   depthwise  groups == IC == OC: a direct kernel per ISA, channels in vectors.
//   direct     x86 with the JIT (avx2, avx512, avx512_vnni), groups == 1, unit
//              dilation_w, and at most 4 input channels (first layers: 3x3x3,
//              7x7x3) or IC % 4 == 0 with a kernel larger than 1x1 and weight
//              panels within 128 KiB: each output row's input rows are staged
//              in the same per-thread buffer and JIT kernels gather the taps at
//              baked offsets into the GEMM's tiles and epilogue (no im2col
//              rows, no packing); with more than 4 channels, rows of fewer
//              than 24 output pixels run im2col. On avx512_amx (first
//              layers only; wide channels run im2col into the AMX GEMM where
//              N > 32) the direct kernels are avx512_vnni's. Elsewhere, or
//              when QKERN_JIT=0, these convolutions run im2col.
#ifndef QKERN_CONV_HPP_
#define QKERN_CONV_HPP_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "qkern/gemm.hpp"
#include "qkern/isa.hpp"
#include "qkern/parallel.hpp"
#include "qkern/quantize.hpp"
#include "qkern/status.hpp"

// The shared library exports what this header declares (cmake/qkern.map).
#pragma GCC visibility push(default)
namespace qkern {

enum class ConvWeightLayout {
  kOHWI,  // W[oc][kh][kw][ic]: qkern's (and TFLite's) layout
  kOIHW,  // W[oc][ic][kh][kw]: PyTorch's Conv2d.weight
};

struct QConv2dParams {
  int64_t input_channels = 0;   // IC, >= 1, divisible by groups
  int64_t output_channels = 0;  // OC, >= 1, divisible by groups
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t groups = 1;

  // Input activations.
  bool activation_signed = false;
  int32_t activation_zero_point = 0;  // in [0, 255] (u8) or [-128, 127] (s8)
  float activation_scale = 1.0f;      // finite, > 0 (requantized and float outputs)

  // Weights, s8, symmetric: OC x KH x KW x IC/groups (kOHWI) or OC x IC/groups x KH x KW (kOIHW).
  const int8_t* weights = nullptr;
  ConvWeightLayout weight_layout = ConvWeightLayout::kOHWI;
  const float* weight_scale = nullptr;  // OC values (per channel) or 1 (per tensor)
  bool weight_scale_per_channel = true;
  const int32_t* bias = nullptr;  // optional int32[OC]

  // Output, as QGemmParams.
  GemmOutput output = GemmOutput::kRequantized;
  RequantScheme scheme = RequantScheme::kFp32;
  QuantRange output_range;
  float output_scale = 1.0f;
  int32_t output_zero_point = 0;
  int32_t lo = INT32_MIN;
  int32_t hi = INT32_MAX;
  const float* bias_f = nullptr;  // kFloat: optional float[OC]
};

enum class ConvPath { kGemm1x1, kIm2col, kDepthwise, kDirect };
const char* conv_path_name(ConvPath path);  // "gemm_1x1", "im2col", "depthwise", "direct"

// A prepacked int8 convolution for one weight tensor. create() validates the
// geometry and parameters, packs the weights for the active ISA's kernels
// (QKERN_MAX_ISA / set_max_isa cap it) and picks the path; the weights may be
// freed afterwards. run() is const and may be called concurrently.
class QConv2d {
 public:
  QConv2d();
  ~QConv2d();
  QConv2d(QConv2d&&) noexcept;
  QConv2d& operator=(QConv2d&&) noexcept;

  // On error *conv is left unchanged.
  static Status create(const QConv2dParams& params, QConv2d* conv);

  // The output size of an H x W input (an error when the padded input is
  // smaller than the dilated kernel).
  Status output_size(int64_t h, int64_t w, int64_t* oh, int64_t* ow) const;

  // Y for a batch of NHWC images: X is batch x H x W pixels of IC channels,
  // pixel p at x + p * x_pixel_stride elements (0: IC); Y is batch x OH x OW
  // pixels of OC channels of the output type, pixel p at y + p * y_pixel_stride
  // elements (0: OC). batch == 0 does nothing. Runs through `pf` (inline when
  // pf.run is null). No heap allocation except each thread's first use of its
  // workspaces (kQGemmWorkspaceBytes and kQConvIm2colBytes, kept for the
  // thread's life).
  Status run(const void* x, int64_t batch, int64_t h, int64_t w, void* y, int64_t x_pixel_stride = 0,
             int64_t y_pixel_stride = 0, const ParallelFor& pf = ParallelFor()) const;

  bool valid() const;
  ConvPath path() const;
  Isa isa() const;
  const std::string& kernel() const;  // e.g. conv2d_im2col_u8s8_u8_fp32_6x64c4__avx512_vnni
  size_t packed_bytes() const;

 private:
  struct __attribute__((visibility("hidden"))) Impl;  // not exported
  std::unique_ptr<Impl> impl_;
};

// The per-thread im2col buffer of the im2col path (rows of gathered taps),
// independent of the image size.
constexpr size_t kQConvIm2colBytes = size_t{256} << 10;

}  // namespace qkern
#pragma GCC visibility pop

#endif  // QKERN_CONV_HPP_
