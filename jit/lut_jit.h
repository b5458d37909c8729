// jit/lut_jit.h: JIT kernels of the lookup GEMM family (LutGemm, quantized
// activations).
//
// A kernel replaces, for one rows count, the AOT (microkernel, epilogue)
// pairs of `panels` consecutive NR = 4 column panels of an int8 config
// (kernels/lut_gemm/lut_kernels.h): it reads the same packed X rows and
// index panels, keeps the rows x (4 * panels) sums in registers over all of
// K, reduces them across lanes together (one vector of sums per row instead
// of one horizontal sum per column) and writes Y through the int8 GEMM's
// epilogue arithmetic (jit/epilogue_jit.h), so the bytes are the reference's.
//
// Baked into the code: the block count (K), X's row stride, the bit width
// (the label planes and their masks), the rows and the panels of a call, the
// columns stored (a partial last group stores exactly its columns), the table
// layout (one codebook for the tensor: one table register, loaded once; per
// row: each column's table, in registers where they fit), how far ahead the
// indices are prefetched (only where they do not fit the L2), the output
// kind, zero point, clamp and a per-tensor multiplier.
//
// Signature: internal::LutJitFn
//   fn(x_rows, idx_panel, y = &Y[m0][n0], ldy (elements), &epilogue, n0, tables + 16 * n0)
// The madd kernels multiply by the weights + 128 (unsigned: zero-extended,
// one instruction less per vector than sign-extending) and subtract 128 *
// sum_k x: they read each row's sum (int32) right after its K_pad int16
// elements, which the driver stores there (a_stride leaves room).
//
// Supported: avx512_vnni (vpdpbusd on u8 X, the dot config), avx2 and avx512
// (vpshufb, sign-extension, vpmaddwd on int16 X, the madd configs); outputs
// int32, float and fp32-requantized u8/s8. fp32 activations, the 7-bit
// vpmaddubsw kernels and fixed-point requantization keep their AOT kernels.
#ifndef QKERN_JIT_LUT_JIT_H_
#define QKERN_JIT_LUT_JIT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "jit/epilogue_jit.h"
#include "jit/jit.h"
#include "kernels/lut_gemm/lut_kernels.h"
#include "qkern/isa.hpp"

namespace qkern {
namespace jit {

// Immutable: everything the generated code depends on. key() is its bytes.
struct LutJitConf {
  Isa isa = Isa::kScalar;
  int bits = 4;            // 2 or 4
  bool dot = false;        // vpdpbusd on bytes (else vpmaddwd on int16 X)
  int bb = 0;              // block bytes (the config's vector width)
  int rows = 0;            // X rows, 1..lut_jit_max_rows(isa)
  int panels = 0;          // NR = 4 column panels per call, 1..lut_jit_group(isa, rows)
  int nr_valid = 0;        // columns stored, in (4 * (panels - 1), 4 * panels]
  uint32_t blocks = 0;     // K_pad / (bb * 8 / bits)
  int64_t a_stride = 0;    // bytes between X rows
  bool shared_table = false;  // one codebook for every column
  int prefetch_bytes = 0;     // software prefetch distance on the indices (0: none)
  EpilogueConf ep;

  std::string key() const;
  // e.g. lutgemm_4bit_dot_r1x16_b32_s4096_pt_u8_fp32__avx512_vnni
  std::string name() const;
};

int lut_jit_max_rows(Isa isa);
// The panels one call of `rows` rows covers (its sums fill the registers).
int lut_jit_group(Isa isa, int rows);

// Why `conf` cannot be generated ("" when it can).
std::string lut_jit_unsupported(const LutJitConf& conf);

// The kernel for `conf` from the global cache (generated on a miss); null
// with *why when the conf is unsupported or generation failed.
std::shared_ptr<const Kernel> lut_jit_kernel(const LutJitConf& conf, std::string* why);

// Every kernel a lookup GEMM of n columns (ceil(n / 4) panels) may call,
// from `conf` with rows, panels and nr_valid varied: rows 1..max_rows,
// groups of min(max_panels, lut_jit_group()) panels (max_panels a power of
// 2, so that every group divides the first), whole ones and the partial one
// holding column n - 1. On success *fns holds them and *keep their owners;
// false with *why (nothing changed) when one cannot be had.
bool lut_jit_kernel_set(LutJitConf conf, int max_rows, int max_panels, int64_t n,
                        std::vector<std::shared_ptr<const Kernel>>* keep, internal::LutJitFns* fns, std::string* why);

}  // namespace jit
}  // namespace qkern

#endif  // QKERN_JIT_LUT_JIT_H_
