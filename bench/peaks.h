// bench/peaks.h: the machine's multiply-add peaks, measured in the benchmark
// binary itself (register-only loops in inline assembly, so that the compiler
// can neither hoist nor spill them: an intrinsics loop measured half the true
// rate), and the instruction mixes of the kernels built on them.
//
//   vpmaddwd_ymm / vpmaddwd_zmm / vpdpbusd_zmm   12 independent accumulator
//       chains of one instruction (vpmaddwd's 16/32 multiply-adds count 2
//       ops each, vpdpbusd's 64 likewise): the ceiling of any kernel on it;
//   mix_avx2_exact     the loop body of the exact AVX2 6x16c2 kernel (the
//       compiler's own code for UkernelC2<6, 6, 2>, objdump'ed): per k pair
//       2 vpmovsxbw ymm from memory, 6 vpbroadcastd from memory, 12 vpmaddwd
//       and 12 vpaddd into 12 accumulators; 192 multiply-adds;
//   mix_avx512_exact   the same step of the AVX-512 6x32c2 kernel, in zmm;
//   mix_avx2_maddubs   the inexact 8-bit mix of oneDNN's AVX2 int8 kernels
//       (and of qkern's c4_maddubs path): 12 x {vpmaddubsw, vpmaddwd by
//       ones, vpaddd}; 384 multiply-adds.
// The exact mix spends 26 vector ALU instructions per 192 multiply-adds, the
// maddubs one 36 per 384: where both are bound by the vector ports their
// rates differ by (192 / 26) / (384 / 36) = 0.69, and measuring both loops in
// the same run turns that into a figure of this machine.
#ifndef QKERN_BENCH_PEAKS_H_
#define QKERN_BENCH_PEAKS_H_

#include <cstdint>
#include <string>

#include "benchmark/benchmark.h"
#include "bench/bench_util.h"
#include "qkern/qkern.hpp"

namespace qkern_bench {

#if defined(__x86_64__)
// AT&T operand order: src2, src1, dst.
#define QKERN_X12(op, r)                                                                    \
  op " %%" r "12, %%" r "0, %%" r "0\n" op " %%" r "12, %%" r "1, %%" r "1\n"               \
  op " %%" r "12, %%" r "2, %%" r "2\n" op " %%" r "12, %%" r "3, %%" r "3\n"               \
  op " %%" r "12, %%" r "4, %%" r "4\n" op " %%" r "12, %%" r "5, %%" r "5\n"               \
  op " %%" r "12, %%" r "6, %%" r "6\n" op " %%" r "12, %%" r "7, %%" r "7\n"               \
  op " %%" r "12, %%" r "8, %%" r "8\n" op " %%" r "12, %%" r "9, %%" r "9\n"               \
  op " %%" r "12, %%" r "10, %%" r "10\n" op " %%" r "12, %%" r "11, %%" r "11\n"
#define QKERN_PEAK_LOOP(op, r)                                                              \
  asm volatile("vpxor %%xmm12, %%xmm12, %%xmm12\n1:\n" QKERN_X12(op, r) "dec %0\njnz 1b\n" \
               : "+r"(iters)                                                                \
               :                                                                            \
               : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",    \
                 "xmm9", "xmm10", "xmm11", "xmm12", "cc")
inline int64_t peak_vpmaddwd_ymm(int64_t iters) {
  QKERN_PEAK_LOOP("vpmaddwd", "ymm");
  return iters;
}
inline int64_t peak_vpmaddwd_zmm(int64_t iters) {
  QKERN_PEAK_LOOP("vpmaddwd", "zmm");
  return iters;
}
inline int64_t peak_vpdpbusd_zmm(int64_t iters) {
  QKERN_PEAK_LOOP("vpdpbusd", "zmm");  // EVEX: the only encoding of the zmm form
  return iters;
}
#undef QKERN_PEAK_LOOP
#undef QKERN_X12

// One row of the exact mix in register class r: broadcast row m's int16
// pair (offset o into the A buffer), multiply by both weight vectors, add
// into accumulators a0, a1.
#define QKERN_EXACT_ROW(r, o, a0, a1)                     \
  "vpbroadcastd " o "(%2), %%" r "14\n"                   \
  "vpmaddwd %%" r "12, %%" r "14, %%" r "15\n"             \
  "vpaddd %%" r "15, %%" r a0 ", %%" r a0 "\n"             \
  "vpmaddwd %%" r "13, %%" r "14, %%" r "14\n"             \
  "vpaddd %%" r "14, %%" r a1 ", %%" r a1 "\n"
// The 6-row K-pair step of the c2 kernels: 2 weight vectors sign-extended
// from memory (the second `half` bytes on), then 6 rows.
#define QKERN_EXACT_MIX(r, half)                                                                       \
  asm volatile("1:\n"                                                                                  \
               "vpmovsxbw (%1), %%" r "12\n"                                                           \
               "vpmovsxbw " half "(%1), %%" r "13\n" QKERN_EXACT_ROW(r, "0", "0", "1")                 \
                   QKERN_EXACT_ROW(r, "4", "2", "3") QKERN_EXACT_ROW(r, "8", "4", "5")                 \
                       QKERN_EXACT_ROW(r, "12", "6", "7") QKERN_EXACT_ROW(r, "16", "8", "9")           \
                           QKERN_EXACT_ROW(r, "20", "10", "11") "dec %0\njnz 1b\n"                    \
               : "+r"(iters)                                                                           \
               : "r"(w), "r"(a)                                                                        \
               : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",       \
                 "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc", "memory")
alignas(64) inline const int8_t kMixWeights[64] = {1, 2, 3};
alignas(64) inline const int16_t kMixActivations[12] = {1, 2, 3};
inline int64_t mix_avx2_exact(int64_t iters) {
  const int8_t* w = kMixWeights;
  const int16_t* a = kMixActivations;
  QKERN_EXACT_MIX("ymm", "16");
  return iters;
}
// The same step of the AVX-512 6x32c2 kernel (zmm: 384 multiply-adds).
inline int64_t mix_avx512_exact(int64_t iters) {
  const int8_t* w = kMixWeights;
  const int16_t* a = kMixActivations;
  QKERN_EXACT_MIX("zmm", "32");
  return iters;
}
#undef QKERN_EXACT_MIX
#undef QKERN_EXACT_ROW

// vpmaddubsw (u8 ymm14 x s8 ymm12/13, int16 pairs, saturating), vpmaddwd by
// ones (ymm13 doubles as them: the rate does not depend on values), vpaddd.
#define QKERN_MADDUBS(w, acc)                       \
  "vpmaddubsw %%ymm" w ", %%ymm14, %%ymm15\n"       \
  "vpmaddwd %%ymm13, %%ymm15, %%ymm15\n"            \
  "vpaddd %%ymm15, %%ymm" acc ", %%ymm" acc "\n"
inline int64_t mix_avx2_maddubs(int64_t iters) {
  asm volatile(
      "vpxor %%xmm12, %%xmm12, %%xmm12\nvpxor %%xmm13, %%xmm13, %%xmm13\nvpxor %%xmm14, %%xmm14, %%xmm14\n"
      "1:\n"
      QKERN_MADDUBS("12", "0") QKERN_MADDUBS("12", "1") QKERN_MADDUBS("12", "2") QKERN_MADDUBS("12", "3")
      QKERN_MADDUBS("12", "4") QKERN_MADDUBS("12", "5") QKERN_MADDUBS("12", "6") QKERN_MADDUBS("12", "7")
      QKERN_MADDUBS("12", "8") QKERN_MADDUBS("12", "9") QKERN_MADDUBS("12", "10") QKERN_MADDUBS("12", "11")
      "dec %0\njnz 1b\n"
      : "+r"(iters)
      :
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
        "xmm12", "xmm13", "xmm14", "xmm15", "cc");
  return iters;
}
#undef QKERN_MADDUBS
#endif

struct Peak {
  const char* name = nullptr;
  double ops_per_iter = 0;  // multiply-adds per loop iteration x 2
  int64_t (*fn)(int64_t) = nullptr;
};

// The multiply-add instruction the given ISA's GEMM kernels are built on
// (empty where there is none to measure: scalar, Arm).
inline Peak isa_peak(qkern::Isa isa) {
  Peak p;
#if defined(__x86_64__)
  switch (isa) {
    case qkern::Isa::kAvx2: p = {"vpmaddwd_ymm", 12.0 * 16 * 2, &peak_vpmaddwd_ymm}; break;
    case qkern::Isa::kAvx512: p = {"vpmaddwd_zmm", 12.0 * 32 * 2, &peak_vpmaddwd_zmm}; break;
    case qkern::Isa::kAvx512Vnni:
    case qkern::Isa::kAvx512Amx: p = {"vpdpbusd_zmm", 12.0 * 64 * 2, &peak_vpdpbusd_zmm}; break;
    default: break;
  }
#else
  (void)isa;
#endif
  return p;
}

// The best vector ISA's peak (AMX's tiles are measured on their own).
inline Peak best_peak() {
  qkern::Isa best = qkern::best_isa();
  if (best == qkern::Isa::kAvx512Amx) best = qkern::Isa::kAvx512Vnni;
  return isa_peak(best);
}

#if defined(__x86_64__)
inline Peak mix_avx2_exact_peak() { return {"mix_avx2_exact", 192.0 * 2, &mix_avx2_exact}; }
inline Peak mix_avx512_exact_peak() { return {"mix_avx512_exact", 384.0 * 2, &mix_avx512_exact}; }
inline Peak mix_avx2_maddubs_peak() { return {"mix_avx2_maddubs", 384.0 * 2, &mix_avx2_maddubs}; }
#endif

// The K loop body of the ISA's exact kernels where it is more than its
// multiply-add instruction (the c2 kernels' widening mixes); empty where the
// instruction is the body (avx512_vnni's vpdpbusd with memory broadcasts,
// which take load ports only) or there is nothing to measure.
inline Peak isa_kernel_mix(qkern::Isa isa) {
#if defined(__x86_64__)
  if (isa == qkern::Isa::kAvx2) return mix_avx2_exact_peak();
  if (isa == qkern::Isa::kAvx512) return mix_avx512_exact_peak();
#else
  (void)isa;
#endif
  return Peak();
}

// Gop/s of p's loop, recorded under `key` for the ratios of later entries.
inline void BM_Peak(benchmark::State& st, Peak p, std::string key) {
  const int64_t n = 1 << 16;
  const double s = timed_loop(st, [&](int64_t) { benchmark::DoNotOptimize(p.fn(n)); });
  const double g = p.ops_per_iter * n / s * 1e-9;
  st.counters["Gops"] = g;
  record(key, g);
}

}  // namespace qkern_bench

#endif  // QKERN_BENCH_PEAKS_H_
