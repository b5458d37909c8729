// qkern/lut_gemm.hpp: GEMM with weights stored as packed 4-bit or 2-bit
// indices into a k-means codebook (LutGemm), decoded inside the kernel.
//
// Semantics (docs/semantics.md "Lookup GEMM"; reference/lut_gemm_ref.h is the code):
//   W[n][k] = C_n[idx[n][k]]   C_n: the codebook of row n (per row) or the one codebook
//
//   fp32 activations:  Y[m][n] = sum_k X[m][k] * W[n][k] + bias_f[n]     (float output only)
//     Summed in fp32 in an unspecified order (every path may differ); the
//     documented bound: |Y - exact| <= gamma(K + 1) * (sum_k |X[m][k] * W[n][k]| + |bias_f[n]|),
//     gamma(j) = j*u / (1 - j*u), u = 2^-24; plus (K + 1) * 2^-149 where products
//     underflow to subnormals.
//
//   u8/s8 activations: each codebook is first quantized to int8 with its own scale
//     (quantize_codebook_int8 below: s = max|C| / 127, Cq = clamp(rne(C / s), -127, 127)),
//     and then Y is exactly QGemm (qkern/gemm.hpp) with W[n][k] = Cq_n[idx[n][k]] and
//     weight_scale[n] = s_n: the int32 sums are exact and every output kind
//     (requantized u8/s8 with either scheme and clamps, int32, float) gives the
//     reference's bytes on every ISA. The codebook's own rounding error is at most
//     s/2 = max|C|/254 per entry (0.39% of the codebook's largest magnitude).
//
// Indices are the packing of qkern/codebook.hpp (pack_indices): row n holds K
// labels, 2 per byte (4-bit: byte j = label[2j] | label[2j+1] << 4) or 4 per
// byte (2-bit), rows ld_indices bytes apart. create() repacks them into the
// kernel's interleaved layout; the caller's buffers may be freed afterwards.
#ifndef QKERN_LUT_GEMM_HPP_
#define QKERN_LUT_GEMM_HPP_

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

enum class LutActivation {
  kFp32,  // float X, float Y
  kU8,    // quantized X (zero point, scale), int8 codebooks, exact int32 sums
  kS8,
};

// The largest K: the int8 variant's sums stay exact (|X - za| <= 255, |Cq| <= 127),
// and one packed row of X fits run()'s per-thread workspace.
constexpr int64_t kLutGemmMaxK = kQGemmMaxK;

// The per-thread workspace of the decode-to-panel path (quantized activations,
// M >= 48 on avx2 and NEON, 128 on avx512, not used on avx512_vnni): packed
// rows of X and one decoded weight panel.
constexpr size_t kLutGemmPanelWorkspaceBytes = (size_t{4} << 20) + (size_t{256} << 10);

struct LutGemmParams {
  int64_t n = 0;  // output channels (rows of the index matrix), >= 1
  int64_t k = 0;  // reduction length, in [1, kLutGemmMaxK]
  int bits = 4;   // 4 (16-entry codebooks) or 2 (4 entries)

  // Packed indices: n rows of packed_row_bytes(k, bits) bytes, ld_indices apart.
  const uint8_t* indices = nullptr;
  int64_t ld_indices = 0;    // 0: packed_row_bytes(k, bits)
  int64_t indices_size = 0;  // bytes readable at `indices` (checked: >= (n - 1) * ld + row bytes)

  // Codebooks: 2^bits floats (per tensor) or n x 2^bits (per row); finite; any order.
  const float* codebook = nullptr;
  int64_t codebook_size = 0;  // floats at `codebook`: must be exactly 2^bits or n * 2^bits
  bool codebook_per_row = false;

  LutActivation activation = LutActivation::kFp32;
  int32_t activation_zero_point = 0;  // u8: [0, 255], s8: [-128, 127]
  float activation_scale = 1.0f;      // quantized activations, requantized/float outputs
  // A promise that every u8 activation is <= 127 (QGemmParams::activation_7bit):
  // lets AVX2/AVX-512 without VNNI multiply bytes with vpmaddubsw (about 1.5x the
  // GEMV). A larger activation then gives unspecified (memory-safe) results.
  bool activation_7bit = false;

  // Output: fp32 activations give kFloat only; quantized activations any
  // GemmOutput (note the default: kFloat here, kRequantized in QGemmParams).
  GemmOutput output = GemmOutput::kFloat;
  const int32_t* bias = nullptr;   // quantized activations: optional int32[n], in accumulator units
  const float* bias_f = nullptr;   // kFloat: optional float[n]
  RequantScheme scheme = RequantScheme::kFp32;
  QuantRange output_range;
  float output_scale = 1.0f;
  int32_t output_zero_point = 0;
  int32_t lo = INT32_MIN;  // fused clamp in codes, as QGemmParams
  int32_t hi = INT32_MAX;
};

// Quantizes one codebook of `count` finite floats to int8: s = max|C| / 127
// (1 when every entry is 0), q[i] = clamp(rne(C[i] / s), -127, 127).
// The rule LutGemm uses for quantized activations.
Status quantize_codebook_int8(const float* codebook, int count, int8_t* q, float* scale);

// A lookup GEMM for one packed index matrix. create() validates, repacks the
// indices for the active ISA's kernel (QKERN_MAX_ISA / set_max_isa cap it),
// quantizes the codebooks (quantized activations) and folds the zero point
// into a packed bias. run() is const and may be called concurrently.
class LutGemm {
 public:
  LutGemm();
  ~LutGemm();
  LutGemm(LutGemm&&) noexcept;
  LutGemm& operator=(LutGemm&&) noexcept;

  // On error *gemm is left unchanged.
  static Status create(const LutGemmParams& params, LutGemm* gemm);

  // Y[m][n] for m < M: X is M x K (row stride ldx >= K elements: float, u8 or
  // s8 as declared), Y is M x N (row stride ldy >= N elements of the output
  // type). M == 0 does nothing. No heap allocation except each thread's first
  // use of its workspaces (kQGemmWorkspaceBytes, shared with QGemm, and with
  // the decode-to-panel path, kLutGemmPanelWorkspaceBytes).
  Status run(const void* x, int64_t m, int64_t ldx, void* y, int64_t ldy,
             const ParallelFor& pf = ParallelFor()) const;

  bool valid() const;
  int64_t n() const;
  int64_t k() const;
  int bits() const;
  Isa isa() const;
  // The kernels, e.g. lut_gemm_4bit_u8_u8_fp32_2x4madd+6x16c2__avx2: the fused
  // decode-and-dot kernel, and after `+` the int8 GEMM tile that quantized
  // activations use from M >= 48 (128 on avx512; avx512_vnni has no `+`: its
  // fused kernels serve every M). QKERN_VERBOSE names the one each run used.
  const std::string& kernel() const;
  size_t packed_bytes() const;  // indices, tables, bias and per-channel parameters
  // Quantized activations: the int8 codebooks' scales s (n values per row, or
  // one), the weight scale of the equivalent QGemm: an int32 bias is in units
  // of activation_scale * s[n], and Y's float value is acc * activation_scale * s[n].
  // Null for fp32 activations.
  const float* codebook_scales() const;

 private:
  struct __attribute__((visibility("hidden"))) Impl;  // not exported
  std::unique_ptr<Impl> impl_;
};

}  // namespace qkern
#pragma GCC visibility pop

#endif  // QKERN_LUT_GEMM_HPP_
