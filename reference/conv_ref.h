// reference/conv_ref.h: the int8 convolution's specification, in scalar C++.
//
// A direct seven-loop convolution (batch, output rows, columns, channels,
// kernel rows, columns, input channels), independent of im2col and of the
// GEMM: the answer every QConv2d path must reproduce byte for byte. Inputs are
// assumed valid (tests call it with what QConv2d::create accepted).
#ifndef QKERN_REFERENCE_CONV_REF_H_
#define QKERN_REFERENCE_CONV_REF_H_

#include <cstdint>

#include "qkern/conv.hpp"
#include "qkern/gemm.hpp"

namespace qkern {
namespace ref {

// W[oc][kh][kw][ic] of the params' layout (ic < IC / groups).
int8_t conv_weight(const QConv2dParams& p, int64_t oc, int64_t kh, int64_t kw, int64_t ic);

// OH and OW of an H x W input; <= 0 when the dilated kernel does not fit.
int64_t conv_out_dim(int64_t in, int64_t pad0, int64_t pad1, int64_t kernel, int64_t dilation, int64_t stride);

// The output half of the parameters as QGemmParams (n = OC): what
// ref::gemm_store needs to write an accumulator.
QGemmParams conv_output_params(const QConv2dParams& p);

// acc of output (b, oh, ow, oc): bias + sum over taps inside the input of
// (x - za) * w, the bias added modulo 2^32. Input pixel i at x + i * x_ps.
int32_t conv_acc(const QConv2dParams& p, const void* x, int64_t h, int64_t w, int64_t x_ps, int64_t b,
                 int64_t oh, int64_t ow, int64_t oc);

// Y (batch x OH x OW pixels of OC channels, pixel i at y + i * y_ps elements
// of the output type) from X.
void conv2d(const QConv2dParams& p, const void* x, int64_t batch, int64_t h, int64_t w, int64_t x_ps, void* y,
            int64_t y_ps);

}  // namespace ref
}  // namespace qkern

#endif  // QKERN_REFERENCE_CONV_REF_H_
