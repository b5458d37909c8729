// jit/epilogue_jit.h: the int8 GEMM's epilogue as generated code, shared by
// the GEMM generator (jit/gemm_jit.cc) and the lookup-GEMM generator
// (jit/lut_jit.cc): int32 sums + the packed bias (wrapping), then by kind
//   int32: stored as they are;
//   float: fma(float(acc), mult, bias_f);
//   fp32-requantized u8/s8: round-half-even(float(acc) * mult), NaN -> zo,
//     clamp [lo, hi], + zo, narrowed to bytes,
// AOT's instruction sequence (kernels/gemm/gemm_hwy.cc,
// kernels/quantize/requant-inl.h), so the bytes are the reference's.
// Fixed-point requantization has no generated epilogue (the operators keep
// their AOT kernels for it).
#ifndef QKERN_JIT_EPILOGUE_JIT_H_
#define QKERN_JIT_EPILOGUE_JIT_H_

#include <cstdint>

#define XBYAK_NO_OP_NAMES
#include <xbyak/xbyak.h>

#include "kernels/gemm/gemm_kernels.h"

namespace qkern {
namespace jit {

// What the epilogue's code depends on (part of each generator's Conf).
struct EpilogueConf {
  internal::GemmEpilogue::Kind kind = internal::GemmEpilogue::kInt32;
  int32_t zero_point = 0, lo = 0, hi = 0;  // requantized kinds
  bool mult_folded = false;                // one multiplier for every channel, baked
  float mult = 0.0f;
  // Every multiplier finite: float(acc) * m cannot be NaN, so the requantized
  // kinds skip the NaN -> zo select (an infinite multiplier keeps it).
  bool finite_mult = false;
  // Every |multiplier| < 1: |float(acc) * m| < 2^31, so the conversion to
  // int32 cannot overflow, and the codes grouped in int16 words (group())
  // take their clamp above there instead of in float.
  bool mult_below_one = false;
};

// The conf of an epilogue over n columns: its kind, zero point and clamp,
// the multiplier folded where every column has the same one, and whether
// all are finite.
EpilogueConf epilogue_conf(const internal::GemmEpilogue& ep, int64_t n);

bool epilogue_supported(internal::GemmEpilogue::Kind kind);
// Bytes per output element of `kind`.
int epilogue_out_bytes(internal::GemmEpilogue::Kind kind);
// For kernel names: s32, f32, u8_fp32, s8_fp32 (u8_fixed, s8_fixed).
const char* epilogue_kind_name(internal::GemmEpilogue::Kind kind);

// Emits the epilogue into `g`. Registers (SysV): rcx ldc in elements on
// entry to row_stride(), which sets r12 (the row stride in bytes: the
// generator saves it) once per call; on entry to setup(): r8 &GemmEpilogue,
// r9 n0 (its per-channel arrays are read from n0 on), rdx &C[m0][n0].
// setup() overwrites r10 (bias, unless in the sums), r11 (multipliers), rax
// (bias_f), rcx and k2 (the tail mask), and on AVX-512 keeps its constants in zmm27..31;
// vector() and group() may also use vector registers `scratch` and
// `scratch + 1` and k1.
class EpilogueEmitter {
 public:
  // bias_in_sums: the generator starts its sums at the bias (load_bias()),
  // so the epilogue does not add it.
  EpilogueEmitter(Xbyak::CodeGenerator& g, const EpilogueConf& c, bool avx512, int scratch,
                  bool bias_in_sums = false)
      : g_(g), c_(c), avx512_(avx512), bias_in_sums_(bias_in_sums), lanes_(avx512 ? 16 : 8),
        scratch_(scratch) {}

  // r10 = the packed bias (r8 as for setup()), then x = its columns
  // n0 + v * lanes .. (r9 as for setup()). An int32 sum that starts there
  // instead of at zero wraps to the same bytes, and the epilogue saves a
  // vpaddd per vector.
  void bias_base();
  void load_bias(const Xbyak::Xmm& x, int v);

  void row_stride();  // r12 = ldc in bytes (before setup(); rcx is free after it)
  // tail_count: the lanes stored by the one partial vector of each row (0: none).
  void setup(int tail_count);
  // Finishes the int32 sums in x (columns v * lanes ..) and stores `count`
  // of them (count < lanes: the partial vector of setup()) at rdx + v * lanes
  // elements.
  void vector(const Xbyak::Xmm& x, int v, int count);
  // vector(xs[i], v + i, lanes) for i < n (2 or 4): codes are narrowed and
  // stored together, other kinds one by one. two_rows (codes only, n = 4):
  // xs are vectors v, v + 1 of the row at rdx, then of the next row (rdx +
  // the row stride). The registers are clobbered.
  void group(const Xbyak::Xmm* xs, int n, int v, bool two_rows = false);
  bool narrows() const;  // codes: group() packs them (two_rows allowed)
  void next_row();  // rdx += the row stride
  // The constants: emit after the code's ret.
  void constants();

 private:
  Xbyak::Xmm vec(int i) const;
  void finish(const Xbyak::Xmm& x, int v, bool words = false);
  void words_zp_lo(const Xbyak::Xmm& w);
  void store(const Xbyak::Xmm& x, int off, int count);

  Xbyak::CodeGenerator& g_;
  const EpilogueConf c_;
  const bool avx512_, bias_in_sums_;
  const int lanes_, scratch_;
  Xbyak::Label k_zpm_, k_lom_, k_him_, k_magic_, k_mult_, k_perm_, k_zpw_, k_low_, k_hiw_;
};

}  // namespace jit
}  // namespace qkern

#endif  // QKERN_JIT_EPILOGUE_JIT_H_
