// jit/gemm_jit.h: JIT kernels of the int8 GEMM family.
//
// A JIT GEMM kernel replaces one AOT (microkernel, epilogue) pair of a config
// (kernels/gemm/gemm_kernels.h) for one shape: it reads the same packed A
// panel and packed W panel, keeps the MR x NR sums in registers and writes C
// through the epilogue's arithmetic, instruction for instruction the AOT one
// (so the bytes are the reference's). Baked into the code: K (fully unrolled
// up to kGemmJitUnrollKb k steps, else a loop unrolled by 4), the rows
// computed and the panel's row stride, NR and the columns written (a tail
// panel computes only the vectors holding its columns and stores exactly
// them: AVX-512 with one mask, AVX2 with 4/2/1-element stores, no mask
// arithmetic at run time), the output kind,
// the output zero point and clamp, and a per-tensor multiplier.
//
// Signature (AOT equivalent: ukernel(kb, a, w, tile) then epilogue(tile, ...)
// per panel):
//   fn(a_panel, w_panel, c = &C[m0][n0], ldc (elements), &epilogue, n0, panels)
// computes `panels` >= 1 consecutive weight panels (each kb * kr * NR bytes,
// the stride baked) against the same A: panel p writes C columns
// [n0 + p * NR, n0 + (p + 1) * NR) and reads the epilogue's per-channel
// arrays there. A tail kernel (nr_valid < NR) is called with panels = 1.
// One call per row panel and run of panels saves the call, the epilogue's
// set-up and the driver's loop per panel.
//
// Gather mode (conv_g > 0, QConv2d's direct path): A is not a packed panel
// but the convolution's input rows, staged by
// the driver as KH row segments of conv_row_bytes each (elements: bytes + the
// config's shift for c4, int16 for c2). K is the kernel rows' taps padded to
// conv_g k steps per kernel row (padded k have zero weights), so k step s of
// row m reads a[m][s] at
//   a_panel + (s / conv_g) * conv_row_bytes + m * conv_pixel_bytes + (s % conv_g) * 4
// (conv_pixel_bytes: one output pixel's stride in the segments); unrolled up
// to kConvJitUnrollKb steps, else a loop over the kernel rows. With one
// "kernel row" (conv_row_bytes 0) and conv_pixel_bytes = lda it reads a
// GEMM's A rows in place (QGemm's unpacked kernels; a_flip for s8 on c4).
//
// Supported: avx2 and avx512 c2 configs (int16 pairs, vpmaddwd), avx512_vnni
// c4 configs (vpdpbusd); outputs int32, float and fp32-requantized u8/s8.
// Anything else (fixed-point requantization, the vpmaddubsw configs, NEON) is
// an unsupported Conf: the operator keeps its AOT kernels.
#ifndef QKERN_JIT_GEMM_JIT_H_
#define QKERN_JIT_GEMM_JIT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "jit/epilogue_jit.h"
#include "jit/jit.h"
#include "kernels/gemm/gemm_kernels.h"
#include "qkern/isa.hpp"

namespace qkern {
namespace jit {

using internal::GemmJitFn;

constexpr uint32_t kGemmJitUnrollKb = 96;
// Beyond this many k steps, gather mode loops over the kernel rows (a row of
// at most this many steps unrolled, a longer one in a loop of 4) instead of
// unrolling all of K.
constexpr uint32_t kConvJitUnrollKb = 24;
// QGemm's c4 kernels prefetch W this far ahead where K <= kGemmJitPrefetchMaxK
// and the packed weights exceed kGemmJitPrefetchMinBytes (more than an L1).
// Measured on avx512_vnni, Zen 5, N = 1024 (qkern_jit_bench jit_vs_aot,
// 3-5 runs): K = 64, M = 1 / 2: 0.93 / 0.99x AOT without, 1.16-1.20 /
// 1.22-1.27x with; M >= 4 unchanged; K = 200 and 768 no gain (M = 1 lost),
// so longer panels go without. A short panel's loads end with its epilogue,
// before the next panel's are issued; the prefetch keeps the stream ahead
// across panels (and calls).
constexpr int kGemmJitPrefetchBytes = 1024;
constexpr int64_t kGemmJitPrefetchMaxK = 64;
constexpr int64_t kGemmJitPrefetchMinBytes = 48 * 1024;

// Immutable: everything the generated code depends on. key() is its bytes.
struct GemmJitConf {
  Isa isa = Isa::kScalar;
  int kr = 0;        // 2: int16 pairs (vpmaddwd); 4: bytes (vpdpbusd)
  int mr = 0;        // rows computed, 1..panel_mr
  int panel_mr = 0;  // the A panel's rows (its k-step stride: 4 * panel_mr bytes)
  int nrv = 0;       // column vectors: NR = nrv * lanes
  int nr_valid = 0;  // columns written, 1..NR
  uint32_t kb = 0;   // k steps of kr
  EpilogueConf ep;   // output kind, zero point, clamp, a baked per-tensor multiplier
  // Gather mode (above); 0: packed A panels. conv_g = kb, conv_row_bytes = 0,
  // conv_pixel_bytes = lda: A's rows as they are (QGemm's unpacked kernels).
  int conv_g = 0, conv_row_bytes = 0, conv_pixel_bytes = 0;
  bool a_flip = false;  // gather mode, c4: A bytes xor 0x80 (s8 activations as u8 + 128)
  // c4 only: each k step prefetches (prefetcht0) its W lines this many bytes
  // ahead, into the next panel near a panel's end (0: none).
  int prefetch_bytes = 0;

  std::string key() const;
  // e.g. qgemm_6x64c4_u8_fp32_k50_mr6_nr64__avx512_vnni
  std::string name() const;
};

// The conf of a QGemm's kernels (isa, config, K, output kind, the
// per-tensor multiplier folded where every channel shares one); mr,
// nr_valid and the gather fields are left to the caller.
GemmJitConf gemm_jit_base_conf(Isa isa, const internal::GemmConfig& cfg, int64_t k_pad, int64_t n,
                               const internal::GemmEpilogue& ep);

// Why `conf` cannot be generated ("" when it can).
std::string gemm_jit_unsupported(const GemmJitConf& conf);

// The kernel for `conf` from the global cache (generated on a miss); null
// with *why when the conf is unsupported or generation failed.
std::shared_ptr<const Kernel> gemm_jit_kernel(const GemmJitConf& conf, std::string* why);

// Every kernel a GEMM of n columns may call, from `conf` with mr and
// nr_valid varied: rows counts 1..panel_mr, for whole panels (unless n < NR)
// and the last panel's n % NR columns. On success *fns holds them and *keep
// their owners; false with *why (nothing changed) when one cannot be had.
bool gemm_jit_kernel_set(GemmJitConf conf, int64_t n, std::vector<std::shared_ptr<const Kernel>>* keep,
                         internal::GemmJitFns* fns, std::string* why);

}  // namespace jit
}  // namespace qkern

#endif  // QKERN_JIT_GEMM_JIT_H_
