// qkern/gemm.hpp: int8 GEMM with per-channel requantization (QGemm).
//
// Semantics (docs/semantics.md "int8 GEMM"; reference/gemm_ref.h is the code):
//   acc[m][n] = bias[n] + sum_k (A[m][k] - za) * W[n][k]        int32, exact
//   kRequantized, kFp32:       C = clamp(rne(float(acc) * mult[n]) + zo, lo, hi),
//                              mult[n] = (sa * sw[n]) / so in fp32
//   kRequantized, kFixedPoint: C = clamp(MultiplyByQuantizedMultiplier(acc, q31[n], shift[n]) + zo,
//                              lo, hi), (q31, shift) = quantize_multiplier(double(sa) * sw[n] / so)
//   kInt32:                    C = acc
//   kFloat:                    C = fma(float(acc), sa * sw[n], bias_f[n])
// A is u8 or s8 (zero point za, scale sa), W is s8 and symmetric (zero point 0)
// with one scale (per tensor) or one per output channel n. The sum is exact
// because K <= kQGemmMaxK; adding the int32 bias wraps modulo 2^32 (two's
// complement), as every SIMD path does.
//
// Every path gives the same bytes: AVX2 and AVX-512 without VNNI multiply with
// widened 16-bit operands (vpmaddwd), never with the saturating vpmaddubsw,
// unless create() proved vpmaddubsw exact for these weights (every adjacent
// K pair has |w0| + |w1| <= 128) or the caller declared 7-bit activations.
// On avx512_amx, runs of M >= 8 (K >= 96; M >= 16 for K = 64, M >= 24 for
// other K in 33..95) take an AMX-INT8 kernel (tdpbusd, exact int32 sums) on
// the avx512_vnni config's packed weights, and smaller M its avx512_vnni
// kernels; an operator that cannot use it (N <= 32, K <= 32, K > 32768) runs
// avx512_vnni's alone, and isa() says avx512_vnni.
#ifndef QKERN_GEMM_HPP_
#define QKERN_GEMM_HPP_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "qkern/isa.hpp"
#include "qkern/parallel.hpp"
#include "qkern/quantize.hpp"
#include "qkern/status.hpp"

// The shared library exports what this header declares (cmake/qkern.map).
#pragma GCC visibility push(default)
namespace qkern {

namespace internal {
// The library's own families (QConv2d) run a QGemm without its verbose line; not exported.
struct __attribute__((visibility("hidden"))) QGemmAccess;
}  // namespace internal

// The largest K whose sum of products cannot overflow int32:
// |A - za| <= 255 and |W| <= 128, so K * 255 * 128 <= 2^31 - 1.
constexpr int64_t kQGemmMaxK = 65793;

enum class WeightLayout {
  kNK,  // W[n][k]: N rows of K (PyTorch Linear, out x in)
  kKN,  // W[k][n]: K rows of N (matmul)
};

enum class GemmOutput {
  kRequantized,  // u8/s8 codes (output_range, output_scale, output_zero_point, scheme, lo/hi)
  kInt32,        // the raw accumulators
  kFloat,        // fma(float(acc), sa * sw[n], bias_f[n])
};

struct QGemmParams {
  int64_t n = 0;  // output channels, >= 1
  int64_t k = 0;  // reduction length, in [1, kQGemmMaxK]

  // Activations A (M x K at run time).
  bool activation_signed = false;     // s8 (true) or u8
  int32_t activation_zero_point = 0;  // in [0, 255] (u8) or [-128, 127] (s8)
  float activation_scale = 1.0f;      // finite, > 0 (requantized and float outputs)
  // A promise that every u8 activation is <= 127 (for example the output of a
  // 7-bit quantizer): lets AVX2/AVX-512 use vpmaddubsw for any weights. An
  // activation above 127 then gives unspecified (but memory-safe) results.
  bool activation_7bit = false;

  // Weights W, s8, symmetric.
  const int8_t* weights = nullptr;
  WeightLayout weight_layout = WeightLayout::kNK;
  int64_t ldw = 0;  // row stride in elements; 0 means dense (K for kNK, N for kKN)
  const float* weight_scale = nullptr;  // n values (per channel) or 1 (per tensor)
  bool weight_scale_per_channel = true;
  const int32_t* bias = nullptr;  // optional int32[n]

  // Output C (M x N at run time).
  GemmOutput output = GemmOutput::kRequantized;
  RequantScheme scheme = RequantScheme::kFp32;
  QuantRange output_range;  // kRequantized: u8 or s8 codes of `bits` bits
  float output_scale = 1.0f;
  int32_t output_zero_point = 0;  // in the output range
  // Fused activation clamp (ReLU, ReLU6), in codes: effective [max(lo, qmin), min(hi, qmax)].
  int32_t lo = INT32_MIN;
  int32_t hi = INT32_MAX;
  const float* bias_f = nullptr;  // kFloat: optional float[n], added by the fma
};

// A prepacked int8 GEMM for one weight matrix. create() validates, packs W for
// the kernel of the active ISA (QKERN_MAX_ISA / set_max_isa cap it), folds
// every zero-point and shift term into a packed bias and precomputes the
// per-channel multipliers; the weights may be freed afterwards. run() is const
// and may be called concurrently from several threads.
class QGemm {
 public:
  QGemm();
  ~QGemm();
  QGemm(QGemm&&) noexcept;
  QGemm& operator=(QGemm&&) noexcept;

  // On error *gemm is left unchanged.
  static Status create(const QGemmParams& params, QGemm* gemm);

  // C[m][n] for m < M: A is M x K (row stride lda >= K elements, u8 or s8 as
  // declared), C is M x N (row stride ldc >= N elements of the output type:
  // u8/s8, int32 or float). M == 0 does nothing. Runs the tasks through `pf`
  // (inline when pf.run is null). No heap allocation except each thread's
  // first use of its workspace (kQGemmWorkspaceBytes, kept for the thread's life).
  Status run(const void* a, int64_t m, int64_t lda, void* c, int64_t ldc,
             const ParallelFor& pf = ParallelFor()) const;

  bool valid() const;
  int64_t n() const;
  int64_t k() const;
  Isa isa() const;                 // the ISA whose kernel create() picked
  const std::string& kernel() const;  // e.g. qgemm_u8s8_u8_fp32_6x16c2__avx2
  size_t packed_bytes() const;     // weights, bias and per-channel parameters

 private:
  friend struct internal::QGemmAccess;
  struct __attribute__((visibility("hidden"))) Impl;  // not exported
  std::unique_ptr<Impl> impl_;
};

// The per-thread workspace bound of QGemm::run (packed activation blocks).
constexpr size_t kQGemmWorkspaceBytes = size_t{1} << 20;

}  // namespace qkern
#pragma GCC visibility pop

#endif  // QKERN_GEMM_HPP_
