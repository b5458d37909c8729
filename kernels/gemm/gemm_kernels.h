// kernels/gemm/gemm_kernels.h: the int8 GEMM family's microkernel contract.
//
// One config per ISA (XNNPACK's rule): a microkernel, the packing it reads
// and its tile sizes are chosen together. A config computes an MR x NR tile
// of int32 sums from two packed panels, KR consecutive k at a time:
//
//   packed W, one panel per NR columns (N padded up to NR, zero columns):
//     panel j = [K_pad / KR][NR][KR] int8       byte (kb, c, r) = W[j*NR + c][kb*KR + r]
//   packed A, one panel per MR rows (built per run, in the workspace):
//     KR == 2: [K_pad / 2][MR][2] int16         A[m][k] + shift (0 for c2 kernels)
//     KR == 4: [K_pad / 4][MR][4] uint8/int8    A[m][k] + shift, stored as the kernel's byte type
//   K_pad = K rounded up to KR; padded k read 0 from W, so whatever A holds there adds 0.
//   Rows of A past M inside a panel are zero.
//
//   ukernel[mr - 1](kb = K_pad / KR, a_panel, w_panel, tile):
//     tile[m * NR + c] = sum_{k < K_pad} a'[m][k] * W[c][k]   for m < mr, c < NR
//   (int32, wrapping; a' = A + shift as packed). Never reads past the panels.
//
// The zero point and the shift never reach the microkernel: with a' = a + shift,
//   sum (a - za) * w = sum a' * w - (shift + za) * sum w,
// so the packed bias is bias[n] - (shift + za) * sum_k W[n][k] (modulo 2^32).
// The epilogue adds it and writes C: it reads tile rows m < mr and columns
// c < nr (nr <= NR valid columns starting at column n0), and the per-channel
// arrays of GemmEpilogue at [n0, n0 + NR) (padded to N_pad, so whole vectors
// may be loaded). It writes exactly C[m][n0 + c] for m < mr, c < nr.
//
// Shifts: c2 kernels widen A to int16 (shift 0, u8 or s8 as they are). c4
// kernels multiply bytes: vpdpbusd / vpmaddubsw take u8 activations (s8 is
// shifted by +128, i.e. xor 0x80), NEON sdot takes s8 (u8 shifted by -128).
#ifndef QKERN_KERNELS_GEMM_GEMM_KERNELS_H_
#define QKERN_KERNELS_GEMM_GEMM_KERNELS_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/common/buffer.h"
#include "qkern/gemm.hpp"

namespace qkern {
namespace internal {

constexpr int kGemmMaxMR = 8;
// QGemm asks the JIT (x86) for kernels with K baked up to this K; beyond, the
// AOT kernels run (measured: bench/gemm_bench.cc's jit entries).
constexpr int64_t kGemmJitMaxK = 1024;
// A task of several row panels runs all its weight panels in one JIT call
// per row panel where they hold at most this many bytes (one call per
// panel beyond).
constexpr int64_t kGemmJitRunBytes = 32 * 1024;
// QConv2d's direct path (JIT gather kernels, groups 1, dilation_w 1) takes
// convolutions of at most kConvDirectMaxIc input channels (first layers;
// taps padded to 4 per kernel row), and wider ones with IC % 4 == 0, a
// kernel larger than 1x1 and weight panels (K x NR bytes) of at most
// kConvDirectMaxPanelBytes; those run im2col on rows of fewer than
// kConvDirectMinRow output pixels (partial tiles; measured).
constexpr int kConvDirectMaxIc = 4;
constexpr int64_t kConvDirectMaxPanelBytes = int64_t{128} << 10;
constexpr int64_t kConvDirectMinRow = 24;

struct GemmEpilogue;
// A JIT kernel replacing one (ukernel, epilogue) pair, fused (jit/gemm_jit.h),
// over `panels` >= 1 consecutive weight panels with the same A:
// fn(a, w_panel, &C[m0][n0], ldc, &epilogue, n0, panels).
using GemmJitFn = void (*)(const void* a, const int8_t* w_panel, void* c, size_t ldc, const GemmEpilogue* ep,
                           size_t n0, size_t panels);
// The JIT kernels of one shape: fn[t][mr - 1] for rows counts 1..MR, t = 0
// whole panels, t = 1 the last panel's N % NR columns (null: none generated).
struct GemmJitFns {
  GemmJitFn fn[2][kGemmMaxMR] = {};
  GemmJitFn at(bool tail, size_t mr) const { return fn[tail ? 1 : 0][mr - 1]; }
};

// What the epilogue writes: kind and the per-channel arrays (N_pad entries each).
struct GemmEpilogue {
  enum Kind : int { kInt32 = 0, kFloat, kFp32U8, kFp32S8, kFixedU8, kFixedS8 };
  Kind kind = kInt32;
  const int32_t* bias = nullptr;        // packed bias (zero points folded in)
  const float* multiplier = nullptr;    // kFp32*: (sa*sw)/so; kFloat: sa*sw
  const float* bias_f = nullptr;        // kFloat
  const int32_t* q31 = nullptr;         // kFixed*
  const int32_t* shift = nullptr;       // kFixed*
  int32_t zero_point = 0, lo = 0, hi = 0;  // requantized: output zp and effective clamp
  // kFp32*: every multiplier finite, so float(acc) * m is never NaN and the
  // epilogue skips the NaN -> zp select (a shorter sequence, same bytes).
  bool finite_mult = false;
};

using GemmUkernel = void (*)(size_t kb, const void* a, const int8_t* w, int32_t* tile);
// Optional fast packer of one whole MR-row panel of a c4 config: rows a + r * lda
// (r < MR), k groups [0, g) for the largest g <= groups it handles (a multiple
// of its vector width), each byte xor flip; returns g. gemm_pack_a does the rest.
using GemmPackPanelFn = size_t (*)(const uint8_t* a, size_t lda, size_t groups, uint32_t flip, uint8_t* panel);
// c: &C[m0][n0] of the output type, ldc in elements.
using GemmEpilogueFn = void (*)(const int32_t* tile, size_t mr, size_t nr_tile, size_t nr,
                                size_t n0, const GemmEpilogue& ep, void* c, size_t ldc);

struct GemmConfig {
  const char* name = nullptr;  // tile and method, e.g. "4x16c2"; null: no such config
  int mr = 0, nr = 0, kr = 0;
  int shift_u8 = 0, shift_s8 = 0;  // added to activations when packing A
  bool a_int16 = false;            // KR == 2: A packed as int16
  GemmUkernel ukernel[kGemmMaxMR] = {};  // [mr - 1], mr in [1, MR]
  GemmPackPanelFn pack_panel = nullptr;  // KR == 4 only; null: the portable copy
};

struct GemmKernels {
  GemmConfig exact;    // exact for every input (widening, or a true 8-bit dot product)
  GemmConfig maddubs;  // vpmaddubsw: exact only where create() proved it (x86 without VNNI)
  // An exact config with a narrower NR for N <= narrow.nr (where `exact`'s NR
  // would be mostly padding); null name: none.
  GemmConfig narrow;
  GemmEpilogueFn epilogue = nullptr;
};

const GemmKernels* gemm_kernels_avx2();
const GemmKernels* gemm_kernels_avx512();
const GemmKernels* gemm_kernels_avx512_vnni();
const GemmKernels* gemm_kernels_neon();
const GemmKernels* gemm_kernels_neon_dotprod();
// The portable C++ config (the `scalar` ISA): gemm_scalar.cc.
const GemmKernels* gemm_kernels_scalar();

// The AMX-INT8 kernel (the avx512_amx ISA; kernels/gemm/gemm_amx.cc). It
// reads the avx512_vnni c4 config's weight panels as they are (NR = 64,
// KR = 4) and an A panel of kGemmAmxMR rows packed by rows: [MR][kblocks * 64]
// bytes, A + shift (the c4 xor), zero past K and past the panel's rows. It
// computes a panel's 64 columns as two blocks of 32, each an int32 tile (row
// stride 32), or for at most 16 rows as one (row stride 64), that the
// avx512_vnni epilogue reads. K is taken in blocks of 64, so the weight reads of the last block
// run up to kGemmAmxWeightSlack bytes past the last panel's K_pad rows (their
// products with A's zero padding are 0): QGemm allocates them.
constexpr int kGemmAmxMR = 32;
constexpr int64_t kGemmAmxWeightSlack = 4096;
struct GemmAmxKernel {
  // The calling thread's tile configuration: begin(rows) before a series of
  // ukernel calls on panels of at most `rows` (1..32) valid rows, end() after
  // (releases the tile state).
  void (*begin)(int rows);
  // Columns c0..c0+31 of a weight panel (w = panel + 4 * c0, c0 = 0 or 32),
  // over kblocks k blocks of 64:
  //   tile[m][c] = sum_k a[m][k] * W[c0 + c][k], m < rows, c < 32
  // (row stride 32; rows of begin(), the tile's other rows are not written).
  // block16: rows <= 16 (the A panel still has 32 rows of storage).
  void (*block)(size_t kblocks, const uint8_t* a, size_t lda, const int8_t* w, int32_t* tile);
  void (*block16)(size_t kblocks, const uint8_t* a, size_t lda, const int8_t* w, int32_t* tile);
  // All 64 columns of a panel (w = the panel), rows <= 16, only after
  // begin(rows <= 16): tile[m][c], row stride 64, c < 64.
  void (*block16x64)(size_t kblocks, const uint8_t* a, size_t lda, const int8_t* w, int32_t* tile);
  void (*end)();
  // Rows [0, rows) of A (row stride lda, k bytes) into a panel of 32 rows of
  // `width` bytes, each byte xor flip, zero past k and past rows.
  void (*pack_a)(const uint8_t* a, size_t lda, size_t rows, size_t k, size_t width, uint8_t flip,
                 uint8_t* panel);
};
// Null unless the CPU has AMX-INT8 and this process may use it.
const GemmAmxKernel* gemm_amx_kernel();
// run() takes the AMX kernel from this M up for this K (measured: gemm.cc's
// kAmxMinM), the avx512_vnni kernels below it; INT64_MAX: never (K <= 32:
// create() then leaves the AMX kernel out, and isa() is avx512_vnni).
// Tests lower it to 1 to run every shape.
int64_t gemm_amx_min_m(int64_t k);
void set_gemm_amx_min_m_for_test(int64_t m);  // <= 0: back to the default

// Runs a created QGemm like QGemm::run, without its verbose line (for the
// families built on it: a convolution runs it once per tile). *tasks: how
// many grid tasks ran (0 for m == 0 or an error).
struct GemmOutputPlan;
// What a created QGemm chose, for a family that runs its packed weights with
// kernels of its own (QConv2d's direct path). Pointers live as long as the QGemm.
struct QGemmView {
  const GemmConfig* cfg = nullptr;
  bool exact = false;  // cfg is an exact config (not vpmaddubsw)
  Isa isa = Isa::kScalar;
  int a_shift = 0;
  int64_t n = 0, k_pad = 0;
  const int8_t* w = nullptr;  // panels of k_pad * NR bytes
  const GemmOutputPlan* out = nullptr;
};
struct QGemmAccess {
  static Status run(const QGemm& gemm, const void* a, int64_t m, int64_t lda, void* c, int64_t ldc,
                    const ParallelFor& pf, size_t* tasks);
  static QGemmView view(const QGemm& gemm);
};

// The registry's table for an ISA (after fallback), for families that reuse
// the GEMM's configs or epilogue (LutGemm, QConv2d).
const GemmKernels* gemm_kernels_for(Isa isa);

// QGemmParams checks of QGemm::create (every message names the field).
Status validate_gemm(const QGemmParams& p);

// The epilogue's per-channel arrays for p's output, padded to n_pad entries:
// the packed bias bias[n] - (a_shift + za) * wsum[n] (modulo 2^32), where
// wsum[n] = sum_k W[n][k] of the weights the kernel multiplies, and the
// multipliers of the requantized or float output.
struct GemmOutputPlan {
  Buffer<int32_t> bias, q31, shift;
  Buffer<float> mult, bias_f;
  GemmEpilogue ep;
  size_t out_bytes = 1;
  std::string name;  // "u8_fp32", "s8_fixed", "s32", "f32"
  int arrays = 0;    // per-channel arrays of 4 bytes allocated
};
// scale_name: how errors name the weight scale ("codebook scale" for LutGemm).
Status plan_gemm_output(const QGemmParams& p, int64_t n_pad, const int64_t* wsum, int a_shift,
                        GemmOutputPlan* plan, const char* scale_name = "weight_scale");
const char* type_name(bool is_signed);  // "s8" / "u8"

// Rows [0, rows) of A (u8 or s8, row stride lda) into c's MR-row panels
// ([K_pad / KR][MR][KR]: int16 pairs, or bytes + a_shift), rows_per_panel
// rows in each (0: MR); the panels' other rows and k past K are zero.
void gemm_pack_a(const GemmConfig& c, bool a_signed, int a_shift, const void* a, int64_t lda, int64_t rows,
                 int64_t k, int64_t k_pad, uint8_t* out, int64_t rows_per_panel = 0);
// The row count per panel that splits `rows` into as few MR-row panels as
// before, of heights differing by at most one (8 rows on MR = 6: 4 + 4).
int64_t balanced_panel_rows(int64_t rows, int64_t mr);

}  // namespace internal
}  // namespace qkern

#endif  // QKERN_KERNELS_GEMM_GEMM_KERNELS_H_
