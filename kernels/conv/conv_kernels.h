// kernels/conv/conv_kernels.h: the depthwise convolution microkernel contract.
//
// Depthwise (groups == IC == OC) convolves each channel with its own KH x KW
// filter: channels are independent, so a kernel holds channels in vector
// lanes (int32, L per vector) and walks the taps of one output pixel. The
// driver builds, per run of output pixels, an indirection buffer (XNNPACK's
// scheme): for pixel p and tap t, a pointer to channel 0 of the input pixel
// the tap reads, or to a row of C zero-point bytes for a tap in the padding.
// With za folded into the bias, a padded tap then adds (za - za) * w = 0
// exactly as the reference's skipped tap does:
//
//   packed weights: [taps][C_pad] int32, C_pad = C rounded up to kDwChannelPad;
//                   w_low16 kernels (x86 vpmaddwd) hold w & 0xffff: the weight
//                   as int16 in the low half, zero in the high half
//   ukernel(pixels, taps, in, channels, w, acc):
//     acc[p * C_pad + c] = sum_{t < taps} x(in[p * taps + t])[c] * w[t * C_pad + c]
//     for p < pixels, c < channels (int32, wrapping). Reads exactly `channels`
//     bytes from each input pointer, never past them; x is u8 or s8 by kernel.
//   row ukernel(pixels, taps, base, step, off, channels, w, acc): the same sums
//     for a run of interior pixels of one output row, pixel p's tap t at
//     base + p * step + off[t] (bytes): no indirection buffer to build.
// The driver then writes the pixels with the int8 GEMM's epilogue of the same
// ISA (kernels/gemm/gemm_kernels.h), acc as a pixels x C_pad tile; the
// epilogue adds the packed bias, bias[c] - za * sum_t w[t][c] (modulo 2^32).
#ifndef QKERN_KERNELS_CONV_CONV_KERNELS_H_
#define QKERN_KERNELS_CONV_CONV_KERNELS_H_

#include <cstddef>
#include <cstdint>

namespace qkern {
namespace internal {

constexpr int64_t kDwChannelPad = 16;  // the widest int32 vector (AVX-512)

using DwUkernel = void (*)(size_t pixels, size_t taps, const void* const* in, size_t channels, const int32_t* w,
                           int32_t* acc);
using DwRowUkernel = void (*)(size_t pixels, size_t taps, const uint8_t* base, size_t step, const int64_t* off,
                              size_t channels, const int32_t* w, int32_t* acc);

struct DwKernels {
  const char* name = nullptr;  // e.g. "dw_madd"
  DwUkernel u8 = nullptr, s8 = nullptr;  // any taps
  DwUkernel u8_3x3 = nullptr, s8_3x3 = nullptr, u8_5x5 = nullptr, s8_5x5 = nullptr;  // 9 / 25 taps baked in (or null)
  // Row runs (null: the driver builds pointers for every pixel).
  DwRowUkernel u8_rows = nullptr, s8_rows = nullptr;
  DwRowUkernel u8_3x3_rows = nullptr, s8_3x3_rows = nullptr, u8_5x5_rows = nullptr, s8_5x5_rows = nullptr;
  bool w_low16 = false;  // weights packed as w & 0xffff (see above)
  // 3x3 row runs with stride_w 1 and dilation_w 1 (off[3 kh + kw] = off[3 kh]
  // + kw * step), by tap quads (avx512_vnni: vpermb + vpdpbusd; null: none).
  // Their weights: [3][C_pad] int32 holding the bytes (w[kh][0][c],
  // w[kh][1][c], w[kh][2][c], 0), then one [C_pad] row the sums start from:
  // 0 for u8, -128 * sum_t w[t][c] for s8 (taken as x + 128).
  DwRowUkernel u8_3x3_s1_quad = nullptr, s8_3x3_s1_quad = nullptr;
};

const DwKernels* dw_kernels_avx2();
const DwKernels* dw_kernels_avx512();
const DwKernels* dw_kernels_avx512_vnni();
const DwKernels* dw_kernels_neon();
const DwKernels* dw_kernels_scalar();  // conv.cc: portable loops

// Tests and benchmarks: whether QConv2d::create may pick the direct path
// (default on; off, its convolutions run im2col, with the JIT's GEMM kernels
// where the JIT is on).
void set_conv_direct_for_test(bool on);

}  // namespace internal
}  // namespace qkern

#endif  // QKERN_KERNELS_CONV_CONV_KERNELS_H_
