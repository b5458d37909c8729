// reference/conv_ref.cc: see conv_ref.h. Clarity over speed, always.
#include "reference/conv_ref.h"

#include "reference/gemm_ref.h"

namespace qkern {
namespace ref {

int8_t conv_weight(const QConv2dParams& p, int64_t oc, int64_t kh, int64_t kw, int64_t ic) {
  const int64_t icg = p.input_channels / p.groups;
  if (p.weight_layout == ConvWeightLayout::kOHWI) {
    return p.weights[((oc * p.kernel_h + kh) * p.kernel_w + kw) * icg + ic];
  }
  return p.weights[((oc * icg + ic) * p.kernel_h + kh) * p.kernel_w + kw];
}

int64_t conv_out_dim(int64_t in, int64_t pad0, int64_t pad1, int64_t kernel, int64_t dilation, int64_t stride) {
  const int64_t span = dilation * (kernel - 1) + 1;
  const int64_t padded = in + pad0 + pad1;
  return padded < span ? 0 : (padded - span) / stride + 1;
}

QGemmParams conv_output_params(const QConv2dParams& p) {
  QGemmParams g;
  g.n = p.output_channels;
  g.k = 1;
  g.activation_signed = p.activation_signed;
  g.activation_zero_point = p.activation_zero_point;
  g.activation_scale = p.activation_scale;
  g.weight_scale = p.weight_scale;
  g.weight_scale_per_channel = p.weight_scale_per_channel;
  copy_gemm_output(p, &g);
  return g;
}

int32_t conv_acc(const QConv2dParams& p, const void* x, int64_t h, int64_t w, int64_t x_ps, int64_t b,
                 int64_t oh, int64_t ow, int64_t oc) {
  const int64_t icg = p.input_channels / p.groups, ocg = p.output_channels / p.groups;
  const int64_t g = oc / ocg;
  int64_t sum = 0;  // |sum| <= KH * KW * ICg * 255 * 128: exact in int64
  for (int64_t kh = 0; kh < p.kernel_h; ++kh) {
    const int64_t ih = oh * p.stride_h - p.pad_top + kh * p.dilation_h;
    if (ih < 0 || ih >= h) continue;  // a padded tap reads za: (za - za) * w = 0
    for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
      const int64_t iw = ow * p.stride_w - p.pad_left + kw * p.dilation_w;
      if (iw < 0 || iw >= w) continue;
      const int64_t pixel = (b * h + ih) * w + iw;
      for (int64_t ic = 0; ic < icg; ++ic) {
        const int64_t i = pixel * x_ps + g * icg + ic;
        const int32_t v = p.activation_signed ? static_cast<const int8_t*>(x)[i]
                                              : static_cast<const uint8_t*>(x)[i];
        sum += int64_t{v - p.activation_zero_point} * conv_weight(p, oc, kh, kw, ic);
      }
    }
  }
  const uint32_t bias = p.bias ? static_cast<uint32_t>(p.bias[oc]) : 0u;
  return static_cast<int32_t>(static_cast<uint32_t>(sum) + bias);  // wraps modulo 2^32
}

void conv2d(const QConv2dParams& p, const void* x, int64_t batch, int64_t h, int64_t w, int64_t x_ps, void* y,
            int64_t y_ps) {
  const int64_t oh_n = conv_out_dim(h, p.pad_top, p.pad_bottom, p.kernel_h, p.dilation_h, p.stride_h);
  const int64_t ow_n = conv_out_dim(w, p.pad_left, p.pad_right, p.kernel_w, p.dilation_w, p.stride_w);
  const QGemmParams out = conv_output_params(p);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t oh = 0; oh < oh_n; ++oh) {
      for (int64_t ow = 0; ow < ow_n; ++ow) {
        const int64_t pixel = (b * oh_n + oh) * ow_n + ow;
        for (int64_t oc = 0; oc < p.output_channels; ++oc) {
          gemm_store(out, conv_acc(p, x, h, w, x_ps, b, oh, ow, oc), oc, y, pixel * y_ps + oc);
        }
      }
    }
  }
}

}  // namespace ref
}  // namespace qkern
