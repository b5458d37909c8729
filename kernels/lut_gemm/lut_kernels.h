// kernels/lut_gemm/lut_kernels.h: the lookup GEMM family's microkernel contract.
//
// Each output column is one dot product of K terms, computed in vectors that
// hold K-lanes of ONE column (llama.cpp's vec_dot shape, not the int8 GEMM's
// outer product): the per-row codebook of a column then sits whole in one
// table register, decoded with one pshufb/tbl (int8) or vpermps (fp32), and
// the sums are reduced across lanes once, after the K loop.
//
// A config has a block of BB bytes (the vector width: 32 avx2, 64 avx512, 16
// neon and scalar), NR columns per panel and up to MR rows per call.
// P = 8 / bits labels per byte, KB = BB * P k per block, K_pad = K rounded up to KB.
//
//   packed indices, one panel per NR columns (N padded with label-0 columns):
//     panel j = [K_pad / KB][NR][BB] bytes: column c's block b is its natural
//     packing (qkern/codebook.hpp) of labels k in [b*KB, (b+1)*KB); pad labels 0.
//     Byte i of the block holds k = b*KB + P*i + t in bits [t*bits, (t+1)*bits).
//   packed X (built per run), one row after another, a_stride bytes apart:
//     [K_pad / KB][P][BB] elements: element (b, t, i) = X[k = b*KB + P*i + t]
//     (plane t of block b), as the kernel's type: int16 (widening kernels,
//     which sign-extend with unpack-low/high inside 128-bit blocks: lane i of
//     a plane, i = 16q + r, is stored at (r / 8) * BB/2 + 8q + r % 8, the
//     identity for BB = 16),
//     the shifted byte (dot kernels: vpdpbusd takes u8, s8 xor 0x80; sdot takes
//     s8, u8 xor 0x80) or float. k >= K is 0 there, so padding adds 0.
//   tables, per column of the panel (row n's codebook, or the tensor's, repeated):
//     int8: 16 bytes (2-bit: entries 4..15 are 0); fp32: max(2^bits, L32) floats,
//     entry i = C[i mod 2^bits] (x86 kernels index with unmasked label bits),
//     or, for 4-bit in f32_byte_planes configs, 64 bytes: byte 16j + e = byte j of C[e]
//     (e < 2^bits, the rest 0), and fp32 X stores plane lane i = 16q + r at
//     (r / 4) * BB/4 + 4q + r % 4 (the identity for BB = 16).
//
//   ukernel_i8[rows - 1](blocks, a, a_stride, idx_panel, tables, tile):
//     tile[m * NR + c] = sum_{k < K_pad} x'[m][k] * Cq_c[idx[c][k]]   int32, wrapping
//   ukernel_f32[rows - 1](...): tile[m * NR + c] = the same sum of float products.
// The int8 driver folds the shift and the zero point into a bias
// (bias - (shift + za) * sum_k Cq[idx]) and writes the output with the int8
// GEMM's epilogue (kernels/gemm/gemm_kernels.h) of the same ISA.
#ifndef QKERN_KERNELS_LUT_GEMM_LUT_KERNELS_H_
#define QKERN_KERNELS_LUT_GEMM_LUT_KERNELS_H_

#include <cstddef>
#include <cstdint>

namespace qkern {
namespace internal {

struct GemmEpilogue;  // kernels/gemm/gemm_kernels.h

constexpr int kLutMaxMR = 8;

using LutUkernelI8 = void (*)(size_t blocks, const void* a, size_t a_stride, const uint8_t* idx,
                              const int8_t* tables, int32_t* tile);
using LutUkernelF32 = void (*)(size_t blocks, const void* a, size_t a_stride, const uint8_t* idx,
                               const float* tables, float* tile);

// X bytes -> the byte kernels' label planes (the layout above), `blocks`
// whole blocks of BB * 8 / bits bytes from x, each byte xor flip.
using LutPackBytesFn = void (*)(const uint8_t* x, size_t blocks, int bits, uint8_t flip, uint8_t* out);
// The same for the widening kernels' int16 planes (u8 or, is_signed, s8 X).
using LutPackInt16Fn = void (*)(const uint8_t* x, size_t blocks, int bits, bool is_signed, int16_t* out);
struct LutConfig {
  const char* name = nullptr;  // e.g. "3x4"
  int mr = 0, nr = 0;
  int bb = 0;                   // block bytes
  int shift_u8 = 0, shift_s8 = 0;  // int8 dot kernels: added to X when packing
  bool a_int16 = false;         // int8: X packed as int16 (widening kernels)
  const char* method = nullptr; // "madd" (widening), "dot" (vpdpbusd / sdot)
  LutUkernelI8 i8[2][kLutMaxMR] = {};    // [bits == 4][rows - 1]
  // u8 activations declared 7-bit (x86 without VNNI: vpmaddubsw, exact for
  // x <= 127): X packed as bytes, no shift. Null where i8 is already a dot.
  LutUkernelI8 i8_7bit[2][kLutMaxMR] = {};
  LutUkernelF32 f32[2][kLutMaxMR] = {};  // [bits == 4][rows - 1]
  LutPackBytesFn pack_bytes = nullptr;   // byte planes, whole blocks (null: the portable loop)
  LutPackInt16Fn pack_int16 = nullptr;   // int16 planes, whole blocks (null: the portable loop)
  int f32_table = 0;            // floats per column table for 4-bit (2-bit: see f32_table2)
  int f32_table2 = 0;
  bool f32_byte_planes = false; // 4-bit fp32 tables as 4 x 16 byte planes (see above)
  // Quantized activations from this M on decode each weight panel once for the
  // int8 GEMM's microkernel (the measured crossover; 0: never, the fused
  // kernels are faster at every M).
  int panel_min_m = 48;
};

// A JIT kernel (jit/lut_jit.h) replacing (ukernel, epilogue) for `panels`
// consecutive NR-column panels of one rows count on an int8 config:
// a = the rows' packed X (the config's layout and a_stride), idx = the first
// panel, y = &Y[m0][n0] (ldy in elements), tables = the first column's table.
using LutJitFn = void (*)(const void* a, const uint8_t* idx, void* y, size_t ldy, const GemmEpilogue* ep,
                          size_t n0, const int8_t* tables);
// fn[t][rows - 1]: t = 0 whole groups of panels, t = 1 the group holding
// column N - 1 when it is partial (null: none generated). group[rows - 1]:
// the panels one call covers.
struct LutJitFns {
  LutJitFn fn[2][kLutMaxMR] = {};
  int group[kLutMaxMR] = {};
};

const LutConfig* lut_kernels_avx2();
const LutConfig* lut_kernels_avx512();
const LutConfig* lut_kernels_avx512_vnni();
const LutConfig* lut_kernels_neon();
const LutConfig* lut_kernels_neon_dotprod();
const LutConfig* lut_kernels_scalar();  // lut_scalar.cc

}  // namespace internal
}  // namespace qkern

#endif  // QKERN_KERNELS_LUT_GEMM_LUT_KERNELS_H_
