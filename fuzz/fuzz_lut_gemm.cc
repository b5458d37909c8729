// fuzz/fuzz_lut_gemm.cc: LutGemm (qkern/lut_gemm.hpp) on every ISA against
// reference/lut_gemm_ref.h.
//
// One input is one lookup GEMM: 4- or 2-bit packed indices (any bytes: every
// label is valid; garbage in the row-stride gaps and in the unused bits of a
// row's last byte), one codebook or one per row (Gaussian, wide-range, all
// zero, tiny, duplicated entries, in any order), fp32 activations (Gaussian,
// magnitudes 2^[-30, 30] of both signs, rarely NaN/Inf) with float output,
// or u8/s8 activations with any zero point (7-bit data when declared) and
// every GEMM output kind and scheme. M is mostly <= 16, sometimes 40..160
// (the decode-to-panel path starts at M = 48 on avx2, 128 on avx512).
// About one case in six breaks one argument of create() or run().
// Checks, per ISA:
//   - ok exactly when the arguments are valid, the same Status on every
//     ISA; create() picks the capped ISA's own kernels; a failed run() writes
//     nothing;
//   - quantized activations: Y equals the reference (the equivalent QGemm
//     problem of ref::lut_as_qgemm through ref::gemm_acc / ref::gemm_store,
//     which is ref::lut_gemm) byte for byte, float outputs bit for bit with
//     NaN equal to NaN;
//   - fp32 activations: |Y - exact| <= the documented bound
//     (ref::lut_gemm_bound_f32: gamma(K + 1) * (sum |X W| + |bias_f|)) plus
//     (K + 1) * 2^-149 for products that underflow (the bound assumes none);
//     skipped where fp32 sums may overflow; a NaN/Inf result where the exact
//     one is NaN/Inf. Stride gaps and guards are never written.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "qkern/codebook.hpp"
#include "qkern/lut_gemm.hpp"
#include "reference/gemm_ref.h"
#include "reference/lut_gemm_ref.h"

namespace qkern {
namespace fuzz {
namespace {

enum class Bad {
  kNone,
  // create()
  kN, kK, kBits, kActivation, kOutput, kFp32NotFloat, kFp32Bias, kFp32SevenBit, kNullIndices, kLdIndices,
  kLdOverflow, kIndicesSize, kNullCodebook, kCodebookSize, kCodebookEntry, kZeroPoint, kSevenBitSigned,
  kActivationScale, kOutputScale, kOutputZeroPoint, kClamp, kScheme,
  // run()
  kM, kLdx, kLdy, kNullX, kNullY, kRunOverflow, kNotCreated,
  kCount
};
bool IsRunBad(Bad b) { return b >= Bad::kM; }

float DecodeCodebookEntry(Input& in, int kind) {
  switch (kind) {
    case 0: return (in.u16() / 32768.0f - 1.0f) * 0.1f;  // a typical weight spread
    case 1: return std::copysign(std::ldexp(1.0f + in.u8() / 256.0f, static_cast<int>(in.range(-30, 30))), in.boolean() ? 1.0f : -1.0f);
    case 2: return 0.0f;
    case 3: return (in.u16() / 32768.0f - 1.0f) * 1e-40f;  // max|C| / 127 underflows: s = max|C|
    case 4: return static_cast<float>(in.range(-8, 8)) * 0.25f;  // duplicates, exact codes
    default: return in.chance(20) ? in.pick({FLT_MAX, -FLT_MAX, FLT_MIN, 1e30f, -1e-30f}) : (in.u16() / 32768.0f - 1.0f);
  }
}

float DecodeX(Input& in, int kind) {
  switch (kind) {
    case 0: return (in.u16() / 32768.0f - 1.0f) * 3.0f;
    case 1: return std::copysign(std::ldexp(1.0f + in.u8() / 256.0f, static_cast<int>(in.range(-30, 30))), in.boolean() ? 1.0f : -1.0f);
    case 2: return in.chance(8) ? SpecialFloat(in) : (in.u16() / 32768.0f - 1.0f);
    default: return static_cast<float>(in.range(-4, 4));
  }
}

void Run(Input& in) {
  Case c;
  const int size_kind = in.u8();
  int64_t m, n, k;
  if (size_kind < 180) {
    m = in.range(0, 8), n = in.range(1, 24), k = in.range(1, 64);
    if (m == 0 && in.chance(200)) m = 1;
  } else if (size_kind < 240) {
    m = in.range(1, 16), n = in.range(1, 96), k = in.range(1, 320);
  } else if (size_kind < 250) {
    m = in.range(40, 160), n = in.range(1, 20), k = in.range(1, 80);  // the panel path
  } else {
    m = in.range(1, 3), n = in.range(1, 8), k = in.range(321, 2100);
  }
  LutGemmParams p;
  p.n = n;
  p.k = k;
  p.bits = in.boolean() ? 2 : 4;
  const int entries = 1 << p.bits;
  const int act = static_cast<int>(in.range(0, 2));
  p.activation = act == 0 ? LutActivation::kFp32 : act == 1 ? LutActivation::kU8 : LutActivation::kS8;
  const bool quantized = p.activation != LutActivation::kFp32;
  const bool xs = p.activation == LutActivation::kS8;
  const int32_t a_min = xs ? -128 : 0, a_max = xs ? 127 : 255;
  const int zk = in.u8();
  p.activation_zero_point =
      !quantized ? 0 : zk < 50 ? a_min : zk < 100 ? a_max : zk < 130 ? 0 : static_cast<int32_t>(in.range(a_min, a_max));
  p.activation_7bit = p.activation == LutActivation::kU8 && in.chance(50);
  p.activation_scale = DecodeGemmScale(in);
  const int64_t row = packed_row_bytes(k, p.bits);
  p.ld_indices = in.chance(160) ? 0 : row + in.range(1, 9);
  const int64_t ld = p.ld_indices ? p.ld_indices : row;
  const int64_t need = (n - 1) * ld + row;
  const int64_t ldx = k + (in.chance(150) ? 0 : in.range(1, 9));
  const int64_t ldy = n + (in.chance(150) ? 0 : in.range(1, 9));
  c.add("m", m).add("n", n).add("k", k).add("bits", p.bits).add("act", act).add("za", p.activation_zero_point)
      .add("x7bit", p.activation_7bit).add("sa", p.activation_scale).add("ld_indices", p.ld_indices).add("ldx", ldx)
      .add("ldy", ldy);

  // Indices: any bytes are valid labels; sized exactly as declared.
  std::vector<uint8_t> indices(static_cast<size_t>(need + (in.chance(200) ? 0 : in.range(1, 7))));
  const int idx_kind = static_cast<int>(in.range(0, 4));
  for (auto& b : indices) {
    b = idx_kind == 0 ? 0xFF : idx_kind == 1 ? 0x00 : idx_kind == 2 ? 0x0F : in.u8();  // max, min, alternating (4-bit)
  }
  p.indices = indices.data();
  p.indices_size = static_cast<int64_t>(indices.size());
  // Codebooks, sized exactly.
  p.codebook_per_row = in.boolean();
  const int64_t books = p.codebook_per_row ? n : 1;
  std::vector<float> codebook(static_cast<size_t>(books * entries));
  const int cb_kind = static_cast<int>(in.range(0, 5));
  for (auto& v : codebook) v = DecodeCodebookEntry(in, cb_kind);
  p.codebook = codebook.data();
  p.codebook_size = static_cast<int64_t>(codebook.size());
  GemmOutputData out;
  DecodeGemmOutput(in, c, n, quantized, &p, &out);
  c.add("idx_kind", idx_kind).add("per_row", p.codebook_per_row).add("cb_kind", cb_kind).add("c0", codebook[0]);

  // X (garbage in the stride gaps), allocated to the last row's K-th element.
  const size_t x_elem = quantized ? 1 : 4;
  std::vector<uint8_t> x(static_cast<size_t>(m > 0 ? (m - 1) * ldx + k : 1) * x_elem);
  for (auto& b : x) b = in.u8();
  const int x_kind = static_cast<int>(in.range(0, 3));
  const int32_t far = p.activation_zero_point > (a_min + a_max) / 2 ? a_min : a_max;
  for (int64_t mm = 0; mm < m; ++mm) {
    for (int64_t kk = 0; kk < k; ++kk) {
      const size_t i = static_cast<size_t>(mm * ldx + kk);
      if (quantized) {
        int32_t v = x_kind == 0 ? far : static_cast<int32_t>(in.range(a_min, a_max));
        if (p.activation_7bit) v &= 0x7f;
        x[i] = static_cast<uint8_t>(v);
      } else {
        const float v = DecodeX(in, x_kind);
        std::memcpy(&x[i * 4], &v, 4);
      }
    }
  }
  c.add("x_kind", x_kind);

  // The reference: quantized activations are the QGemm of ref::lut_as_qgemm.
  std::vector<int8_t> qw;
  std::vector<float> qscales;
  QGemmParams g;
  std::vector<int32_t> acc;
  bool scales_ok = true;
  if (quantized) {
    g = ref::lut_as_qgemm(p, &qw, &qscales);
    acc.resize(static_cast<size_t>(m * n));
    int64_t lo = 0, hi = 1;
    for (int64_t mm = 0; mm < m; ++mm) {
      for (int64_t nn = 0; nn < n; ++nn) {
        const int32_t v = ref::gemm_acc(g, x.data(), ldx, mm, nn);
        acc[static_cast<size_t>(mm * n + nn)] = v;
        lo = std::min<int64_t>(lo, v), hi = std::max<int64_t>(hi, v);
      }
    }
    if (out.span_scale) p.output_scale = g.output_scale = SpanOutputScale(lo, hi, p.activation_scale * qscales[0]);
    scales_ok = FixedPointScalesValid(g, qscales.data(), books);
    c.add("so", p.output_scale).add("s0", qscales[0]).add("fixed_scales_ok", scales_ok);
  }

  // One broken argument, now and then.
  Bad bad = Bad::kNone;
  LutGemmParams pc = p;
  int64_t run_m = m, run_ldx = ldx, run_ldy = ldy;
  bool null_x = false, null_y = false;
  std::vector<float> bad_codebook;
  if (in.chance(40)) {
    bad = static_cast<Bad>(in.range(1, static_cast<int64_t>(Bad::kCount) - 1));
    const bool requant = quantized && p.output == GemmOutput::kRequantized;
    const bool scaled = quantized && p.output != GemmOutput::kInt32;
    switch (bad) {
      case Bad::kN: pc.n = -in.range(0, 5); break;
      case Bad::kK: pc.k = in.boolean() ? -in.range(0, 5) : kLutGemmMaxK + in.range(1, 1000); break;
      case Bad::kBits: pc.bits = in.pick({0, 1, 3, 5, 8, -4}); break;
      case Bad::kActivation: pc.activation = static_cast<LutActivation>(in.range(3, 9)); break;
      case Bad::kOutput: pc.output = static_cast<GemmOutput>(in.range(3, 9)); break;
      case Bad::kFp32NotFloat: if (quantized) bad = Bad::kNone; else pc.output = in.boolean() ? GemmOutput::kInt32 : GemmOutput::kRequantized; break;
      case Bad::kFp32Bias: if (quantized) bad = Bad::kNone; else pc.bias = out.bias.data(); break;
      case Bad::kFp32SevenBit: if (quantized) bad = Bad::kNone; else pc.activation_7bit = true; break;
      case Bad::kNullIndices: pc.indices = nullptr; break;
      case Bad::kLdIndices: pc.ld_indices = row > 1 && in.boolean() ? in.range(1, row - 1) : -in.range(1, 5); break;
      case Bad::kLdOverflow: pc.ld_indices = (INT64_MAX - row) / n + in.range(1, std::min<int64_t>(100, row)); break;
      case Bad::kIndicesSize: pc.indices_size = need - in.range(1, need + 2); break;
      case Bad::kNullCodebook: pc.codebook = nullptr; break;
      case Bad::kCodebookSize: {
        const int64_t wrong[] = {p.codebook_size - 1, p.codebook_size + 1, 0, -1,
                                 p.codebook_per_row ? entries : n * entries, int64_t{16} + (p.bits == 4 ? -12 : 0)};
        pc.codebook_size = in.pick(wrong);
        if (pc.codebook_size == p.codebook_size) bad = Bad::kNone;  // (n == 1: per row and per tensor agree)
        break;
      }
      case Bad::kCodebookEntry: {
        bad_codebook = codebook;
        const size_t i = static_cast<size_t>(in.range(0, static_cast<int64_t>(codebook.size()) - 1));
        bad_codebook[i] = in.pick({NAN, INFINITY, -INFINITY});
        pc.codebook = bad_codebook.data();
        c.add("bad_entry", i);
        break;
      }
      case Bad::kZeroPoint:
        if (!quantized) bad = Bad::kNone;
        else pc.activation_zero_point = in.boolean() ? a_min - static_cast<int32_t>(in.range(1, 300)) : a_max + static_cast<int32_t>(in.range(1, 300));
        break;
      case Bad::kSevenBitSigned: if (!xs) bad = Bad::kNone; else pc.activation_7bit = true; break;
      case Bad::kActivationScale: if (!scaled) bad = Bad::kNone; else pc.activation_scale = in.pick({0.0f, -1.0f, NAN, INFINITY}); break;
      case Bad::kOutputScale: if (!requant) bad = Bad::kNone; else pc.output_scale = in.pick({0.0f, -0.0f, -1.0f, NAN, INFINITY}); break;
      case Bad::kOutputZeroPoint:
        if (!requant) bad = Bad::kNone;
        else pc.output_zero_point = in.boolean() ? qmin(p.output_range) - static_cast<int32_t>(in.range(1, 300)) : qmax(p.output_range) + static_cast<int32_t>(in.range(1, 300));
        break;
      case Bad::kClamp:
        if (!requant) bad = Bad::kNone;
        else pc.lo = qmax(p.output_range) + static_cast<int32_t>(in.range(1, 100)), pc.hi = INT32_MAX;
        break;
      case Bad::kScheme: if (!requant) bad = Bad::kNone; else pc.scheme = static_cast<RequantScheme>(in.range(2, 9)); break;
      case Bad::kM: run_m = -in.range(1, 100); break;
      case Bad::kLdx: run_ldx = k - in.range(1, k + 3); break;
      case Bad::kLdy: run_ldy = n - in.range(1, n + 3); break;
      case Bad::kNullX: if (m == 0) bad = Bad::kNone; else null_x = true; break;
      case Bad::kNullY: if (m == 0) bad = Bad::kNone; else null_y = true; break;
      case Bad::kRunOverflow:
        run_m = INT64_MAX / 2;
        if (in.boolean()) run_ldx = INT64_MAX / 4; else run_ldy = INT64_MAX / 16;
        break;
      default: break;  // kNotCreated
    }
    c.add("bad", static_cast<int>(bad));
  }
  const bool create_ok = scales_ok && (bad == Bad::kNone || IsRunBad(bad));
  const bool run_ok = bad == Bad::kNone || !IsRunBad(bad);
  Announce(c);

  // The expected Y (quantized activations), or the exact values and bounds (fp32).
  const bool out_float = !quantized || p.output == GemmOutput::kFloat;
  const size_t elem = quantized && p.output == GemmOutput::kRequantized ? 1 : 4;
  const uint8_t pattern = in.u8();
  Guarded want(static_cast<size_t>(m * ldy) * elem, pattern), got(want.bytes(), pattern);
  std::vector<double> exact, bound, finite_mag;
  if (quantized) {
    for (int64_t mm = 0; mm < m; ++mm) {
      for (int64_t nn = 0; nn < n; ++nn) ref::gemm_store(g, acc[static_cast<size_t>(mm * n + nn)], nn, want.data(), mm * ldy + nn);
    }
  } else if (create_ok && run_ok) {
    const float* xf = reinterpret_cast<const float*>(x.data());
    exact.resize(static_cast<size_t>(m * n)), bound.resize(exact.size()), finite_mag.resize(exact.size());
    for (int64_t mm = 0; mm < m; ++mm) {
      for (int64_t nn = 0; nn < n; ++nn) {
        const size_t i = static_cast<size_t>(mm * n + nn);
        exact[i] = ref::lut_gemm_exact_f32(p, xf, ldx, mm, nn);
        bound[i] = ref::lut_gemm_bound_f32(p, xf, ldx, mm, nn);
        double mag = p.bias_f && std::isfinite(p.bias_f[nn]) ? std::fabs(double{p.bias_f[nn]}) : 0.0;
        for (int64_t kk = 0; kk < k; ++kk) {
          const double v = double{xf[mm * ldx + kk]} * ref::lut_weight(p, nn, kk);
          if (std::isfinite(v)) mag += std::fabs(v);
        }
        finite_mag[i] = mag;
      }
    }
  }
  const int pool_kind = in.chance(200) ? 0 : in.chance(220) ? 1 : 2;
  FuzzPool pool(pool_kind, in.u64());
  c.add("pool", pool_kind);

  StatusAgreement agree_create("LutGemm::create"), agree_run("LutGemm::run");
  ForEachIsa([&](Isa isa) {
    LutGemm gemm;
    Status s = bad == Bad::kNotCreated ? Status() : LutGemm::create(pc, &gemm);
    agree_create.check(isa, s, c);
    ExpectStatus(isa, "LutGemm::create", s, bad == Bad::kNotCreated || create_ok, c);
    if (!s.ok()) {
      if (gemm.valid()) Fail(isa, "LutGemm::create failed but left a valid LutGemm", c);
      return;
    }
    if (bad != Bad::kNotCreated && !OwnIsa(isa, gemm.isa())) {
      Fail(isa, Str("create() picked ", gemm.kernel(), " (isa ", isa_name(gemm.isa()), "), not the ISA's own"), c);
    }
    got.fill();
    s = gemm.run(null_x ? nullptr : x.data(), run_m, run_ldx, null_y ? nullptr : got.data(), run_ldy, pool.hook());
    Tamper(isa, got.data(), s.ok() ? MatrixEnd(m, n, ldy, elem) : got.bytes());
    agree_run.check(isa, s, c);
    ExpectStatus(isa, "LutGemm::run", s, run_ok, c);
    if (!s.ok()) return ExpectUntouched(isa, "LutGemm::run", got, c);
    if (quantized) return CheckGemmOutput(isa, gemm.kernel().c_str(), got, want, out_float, elem, m, n, ldy, c);
    // fp32: nothing outside the elements written; each element within the bound.
    for (ptrdiff_t i = -static_cast<ptrdiff_t>(Guarded::kGuard);
         i < static_cast<ptrdiff_t>(got.bytes() + Guarded::kGuard); ++i) {
      const bool element = got.inside(i) && (i / 4) % ldy < n;
      if (!element && got.at(i) != want.at(i)) {
        Fail(isa, Str(gemm.kernel(), ": wrote byte ", i, got.inside(i) ? " in a stride gap" : " outside Y"), c);
      }
    }
    const double slack = static_cast<double>(k + 1) * std::ldexp(1.0, -149);
    for (int64_t mm = 0; mm < m; ++mm) {
      for (int64_t nn = 0; nn < n; ++nn) {
        const size_t i = static_cast<size_t>(mm * n + nn);
        const float y = LoadFloat(got.data() + (mm * ldy + nn) * 4);
        if (!SumBoundApplies(finite_mag[i])) continue;  // fp32 may overflow: no bound
        if (!std::isfinite(exact[i]) || !std::isfinite(bound[i])) {
          if (!SameFloat(y, static_cast<float>(exact[i]))) {
            Fail(isa, Str(gemm.kernel(), ": Y[", mm, "][", nn, "] = ", y, ", exact ", exact[i]), c);
          }
          continue;
        }
        const double err = std::fabs(static_cast<double>(y) - exact[i]);
        if (!(err <= bound[i] + slack)) {
          Fail(isa, Str(gemm.kernel(), ": Y[", mm, "][", nn, "] = ", y, ", exact ", exact[i], ", error ", err,
                        " > bound ", bound[i], " + ", slack),
               c);
        }
      }
    }
  });
}

}  // namespace
}  // namespace fuzz
}  // namespace qkern

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  qkern::fuzz::TargetName() = "fuzz_lut_gemm";
  qkern::fuzz::Input in(data, size);
  qkern::fuzz::Run(in);
  return 0;
}
