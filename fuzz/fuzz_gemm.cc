// fuzz/fuzz_gemm.cc: QGemm (qkern/gemm.hpp) on every ISA against
// reference/gemm_ref.h.
//
// One input is one GEMM: M x N x K (mostly small, sometimes long K), u8 or s8
// activations with any zero point (7-bit u8 data when activation_7bit is
// declared, never otherwise), weights in either layout with a row stride and
// garbage in its gaps (random, extreme, alternating, vpmaddubsw-safe pairs,
// sparse), per-channel or per-tensor weight scales, every output kind
// (requantized u8/s8 of 2..8 bits with either scheme, zero point and fused
// clamp; int32; float with an optional float bias), optional int32 bias
// (extremes included: the sum wraps modulo 2^32), strides lda and ldc, and a
// ParallelFor that runs the tasks in a shuffled order or on a 3-thread pool.
// About one case in six breaks one argument of create() or run().
// Checks, per ISA, with the JIT off (AOT kernels) and, where the JIT has
// generators for the ISA, on (QGemm::create asks it first):
//   - create() and run() return ok exactly when the arguments are valid
//     (kFixedPoint: when quantize_multiplier accepts every channel's
//     multiplier), with the same Status on every ISA; create() picks the
//     capped ISA's kernel;
//   - a failed create() leaves the QGemm it was given as it was (it still
//     runs its previous problem correctly); a failed run() writes nothing;
//   - C equals the reference (ref::gemm_acc and ref::gemm_store, which is
//     ref::gemm) byte for byte, stride gaps and guards included; float
//     outputs bit for bit with NaN equal to NaN.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "qkern/gemm.hpp"
#include "reference/gemm_ref.h"

namespace qkern {
namespace fuzz {
namespace {

enum class Bad {
  kNone,
  // create()
  kN, kK, kZeroPoint, kSevenBitSigned, kNullWeights, kLdw, kLdwOverflow, kLayout, kOutput, kScheme,
  kActivationScale, kNullWeightScale, kWeightScale, kOutputScale, kOutputZeroPoint, kOutputBits,
  kNarrowUnsigned, kClamp,
  // run()
  kM, kLda, kLdc, kNullA, kNullC, kRunOverflow, kNotCreated,
  kCount
};
bool IsRunBad(Bad b) { return b >= Bad::kM; }

int8_t DecodeWeight(Input& in, int kind, int64_t k, int prev) {
  switch (kind) {
    case 1: return 127;
    case 2: return -128;
    case 3: return k % 2 ? -128 : 127;
    case 4: {  // adjacent K pairs (2i, 2i + 1) with |w0| + |w1| <= 128: vpmaddubsw is exact
      if (k % 2 == 0) return static_cast<int8_t>(in.range(-128, 127));
      const int room = 128 - std::abs(prev);
      return static_cast<int8_t>(in.range(-room, std::min(room, 127)));
    }
    case 5: return in.chance(30) ? static_cast<int8_t>(in.u8()) : 0;
    case 6: return static_cast<int8_t>(in.range(-64, 64));
    default: return static_cast<int8_t>(in.u8());
  }
}

void Run(Input& in) {
  Case c;
  // ---- shape
  const int size_kind = in.u8();
  int64_t m, n, k;
  if (size_kind < 180) {
    m = in.range(0, 8), n = in.range(1, 24), k = in.range(1, 40);
    if (m == 0 && in.chance(200)) m = 1;  // M = 0 now and then
  } else if (size_kind < 245) {
    m = in.range(1, 16), n = in.range(1, 96), k = in.range(1, 320);
  } else if (size_kind < 252) {
    m = in.range(1, 4), n = in.range(1, 16), k = in.range(321, 2100);
  } else {
    m = in.range(17, 40), n = in.range(1, 16), k = in.range(1, 64);
  }
  QGemmParams p;
  p.n = n;
  p.k = k;
  p.weight_layout = in.boolean() ? WeightLayout::kKN : WeightLayout::kNK;
  const bool nk = p.weight_layout == WeightLayout::kNK;
  const int64_t row = nk ? k : n, rows = nk ? n : k;
  p.ldw = in.chance(160) ? 0 : row + in.range(0, 9);
  const int64_t ldw = p.ldw ? p.ldw : row;
  const int64_t lda = k + (in.chance(150) ? 0 : in.range(1, 9));
  const int64_t ldc = n + (in.chance(150) ? 0 : in.range(1, 9));
  p.activation_signed = in.boolean();
  const int32_t a_min = p.activation_signed ? -128 : 0, a_max = p.activation_signed ? 127 : 255;
  const int zk = in.u8();
  p.activation_zero_point = zk < 50 ? a_min : zk < 100 ? a_max : zk < 130 ? 0 : static_cast<int32_t>(in.range(a_min, a_max));
  p.activation_7bit = !p.activation_signed && in.chance(40);
  c.add("m", m).add("n", n).add("k", k).add("layout", nk ? "nk" : "kn").add("ldw", p.ldw).add("lda", lda)
      .add("ldc", ldc).add("a_signed", p.activation_signed).add("za", p.activation_zero_point)
      .add("a7bit", p.activation_7bit);

  // ---- weights (garbage in the stride gaps) and scales
  const int w_kind = static_cast<int>(in.range(0, 7));
  std::vector<int8_t> w(static_cast<size_t>((rows - 1) * ldw + row));  // to the last row's last element
  for (auto& v : w) v = static_cast<int8_t>(in.u8());
  for (int64_t nn = 0; nn < n; ++nn) {
    int prev = 0;
    for (int64_t kk = 0; kk < k; ++kk) {
      const int8_t v = DecodeWeight(in, w_kind, kk, prev);
      w[static_cast<size_t>(nk ? nn * ldw + kk : kk * ldw + nn)] = v;
      prev = v;
    }
  }
  p.weights = w.data();
  p.weight_scale_per_channel = in.chance(170);
  std::vector<float> wscale(static_cast<size_t>(n));
  const bool uniform_scale = in.chance(60);
  for (auto& s : wscale) s = uniform_scale && &s != wscale.data() ? wscale[0] : DecodeGemmScale(in);
  p.weight_scale = wscale.data();
  p.activation_scale = DecodeGemmScale(in);
  GemmOutputData out;
  DecodeGemmOutput(in, c, n, true, &p, &out);
  c.add("w_kind", w_kind).add("per_channel", p.weight_scale_per_channel).add("sa", p.activation_scale)
      .add("sw0", wscale[0]);

  // ---- activations (garbage in the stride gaps), allocated to the last row's
  // K-th element: a read past A is an ASan report
  const int a_kind = static_cast<int>(in.range(0, 4));
  std::vector<uint8_t> a(static_cast<size_t>(m > 0 ? (m - 1) * lda + k : 1));
  for (auto& v : a) v = in.u8();
  const int32_t far = p.activation_zero_point > (a_min + a_max) / 2 ? a_min : a_max;
  for (int64_t mm = 0; mm < m; ++mm) {
    for (int64_t kk = 0; kk < k; ++kk) {
      int32_t v;
      switch (a_kind) {
        case 0: v = far; break;
        case 1: v = p.activation_zero_point; break;
        case 2: v = in.chance(128) ? far : static_cast<int32_t>(in.range(a_min, a_max)); break;
        default: v = static_cast<int32_t>(in.range(a_min, a_max)); break;
      }
      if (p.activation_7bit) v &= 0x7f;  // the promise: every u8 activation <= 127
      a[static_cast<size_t>(mm * lda + kk)] = static_cast<uint8_t>(v);
    }
  }
  c.add("a_kind", a_kind);

  // ---- the reference: accumulators once, then the epilogue per element
  std::vector<int32_t> acc(static_cast<size_t>(m * n));
  int64_t acc_lo = 0, acc_hi = 1;
  for (int64_t mm = 0; mm < m; ++mm) {
    for (int64_t nn = 0; nn < n; ++nn) {
      const int32_t v = ref::gemm_acc(p, a.data(), lda, mm, nn);
      acc[static_cast<size_t>(mm * n + nn)] = v;
      acc_lo = std::min<int64_t>(acc_lo, v), acc_hi = std::max<int64_t>(acc_hi, v);
    }
  }
  if (out.span_scale) p.output_scale = SpanOutputScale(acc_lo, acc_hi, p.activation_scale * wscale[0]);
  c.add("so", p.output_scale);
  const bool scales_ok = FixedPointScalesValid(p, wscale.data(), p.weight_scale_per_channel ? n : 1);
  c.add("fixed_scales_ok", scales_ok);

  // ---- one broken argument, now and then
  Bad bad = Bad::kNone;
  QGemmParams pc = p;  // what create() gets
  int64_t run_m = m, run_lda = lda, run_ldc = ldc;
  bool null_a = false, null_c = false;
  std::vector<float> bad_wscale;
  if (in.chance(40)) {
    bad = static_cast<Bad>(in.range(1, static_cast<int64_t>(Bad::kCount) - 1));
    const bool requant = p.output == GemmOutput::kRequantized, scaled = p.output != GemmOutput::kInt32;
    switch (bad) {
      case Bad::kN: pc.n = -in.range(0, 5); break;
      case Bad::kK: pc.k = in.boolean() ? -in.range(0, 5) : kQGemmMaxK + in.range(1, 1000); break;
      case Bad::kZeroPoint: pc.activation_zero_point = in.boolean() ? a_min - static_cast<int32_t>(in.range(1, 300)) : a_max + static_cast<int32_t>(in.range(1, 300)); break;
      case Bad::kSevenBitSigned: pc.activation_signed = true, pc.activation_7bit = true, pc.activation_zero_point = 0; break;
      case Bad::kNullWeights: pc.weights = nullptr; break;
      case Bad::kLdw: pc.ldw = row > 1 && in.boolean() ? in.range(1, row - 1) : -in.range(1, 5); break;
      case Bad::kLdwOverflow:  // rows * ldw beyond int64 (one row cannot overflow)
        if (rows < 2) bad = Bad::kNone; else pc.ldw = INT64_MAX / rows + in.range(1, 100);
        break;
      case Bad::kLayout: pc.weight_layout = static_cast<WeightLayout>(in.range(2, 9)); break;
      case Bad::kOutput: pc.output = static_cast<GemmOutput>(in.range(3, 9)); break;
      case Bad::kScheme: if (!requant) bad = Bad::kNone; else pc.scheme = static_cast<RequantScheme>(in.range(2, 9)); break;
      case Bad::kActivationScale: if (!scaled) bad = Bad::kNone; else pc.activation_scale = in.pick({0.0f, -0.0f, -1.0f, NAN, INFINITY}); break;
      case Bad::kNullWeightScale: if (!scaled) bad = Bad::kNone; else pc.weight_scale = nullptr; break;
      case Bad::kWeightScale:
        if (!scaled) {
          bad = Bad::kNone;
        } else {
          const size_t i = static_cast<size_t>(in.range(0, p.weight_scale_per_channel ? n - 1 : 0));
          bad_wscale = wscale;
          bad_wscale[i] = in.pick({0.0f, -0.0f, -2.0f, NAN, INFINITY, -INFINITY});
          pc.weight_scale = bad_wscale.data();
          c.add("bad_scale_at", i);
        }
        break;
      case Bad::kOutputScale: if (!requant) bad = Bad::kNone; else pc.output_scale = in.pick({0.0f, -1.0f, NAN, INFINITY}); break;
      case Bad::kOutputZeroPoint:
        if (!requant) bad = Bad::kNone;
        else pc.output_zero_point = in.boolean() ? qmin(p.output_range) - static_cast<int32_t>(in.range(1, 300)) : qmax(p.output_range) + static_cast<int32_t>(in.range(1, 300));
        break;
      case Bad::kOutputBits: if (!requant) bad = Bad::kNone; else pc.output_range.bits = in.boolean() ? static_cast<int>(in.range(-2, 1)) : static_cast<int>(in.range(9, 32)); break;
      case Bad::kNarrowUnsigned:
        if (!requant) bad = Bad::kNone;
        else pc.output_range.is_signed = false, pc.output_range.narrow_range = true, pc.output_zero_point = 0, pc.lo = INT32_MIN, pc.hi = INT32_MAX;
        break;
      case Bad::kClamp:
        if (!requant) {
          bad = Bad::kNone;
        } else if (in.boolean()) {
          pc.lo = qmax(p.output_range) + static_cast<int32_t>(in.range(1, 100)), pc.hi = INT32_MAX;
        } else {
          pc.hi = qmin(p.output_range) - static_cast<int32_t>(in.range(1, 100)), pc.lo = INT32_MIN;
        }
        break;
      case Bad::kM: run_m = -in.range(1, 100); break;
      case Bad::kLda: run_lda = k - in.range(1, k + 3); break;
      case Bad::kLdc: run_ldc = n - in.range(1, n + 3); break;
      case Bad::kNullA: if (m == 0) bad = Bad::kNone; else null_a = true; break;
      case Bad::kNullC: if (m == 0) bad = Bad::kNone; else null_c = true; break;
      case Bad::kRunOverflow:
        run_m = INT64_MAX / 2;
        if (in.boolean()) run_lda = INT64_MAX / 4; else run_ldc = INT64_MAX / 16;
        break;
      default: break;  // kNotCreated
    }
    c.add("bad", static_cast<int>(bad));
  }
  const bool create_ok = scales_ok && (bad == Bad::kNone || IsRunBad(bad));
  const bool run_ok = bad == Bad::kNone || !IsRunBad(bad);

  Announce(c);
  // ---- the expected C
  const size_t elem = p.output == GemmOutput::kRequantized ? 1 : 4;
  const uint8_t pattern = in.u8();
  Guarded want(static_cast<size_t>(m * ldc) * elem, pattern), got(want.bytes(), pattern);
  for (int64_t mm = 0; mm < m; ++mm) {
    for (int64_t nn = 0; nn < n; ++nn) ref::gemm_store(p, acc[static_cast<size_t>(mm * n + nn)], nn, want.data(), mm * ldc + nn);
  }
  const int pool_kind = in.chance(200) ? 0 : in.chance(220) ? 1 : 2;
  FuzzPool pool(pool_kind, in.u64());
  c.add("pool", pool_kind);

  StatusAgreement agree_create("QGemm::create"), agree_run("QGemm::run");
  ForEachIsaAndJit([&](Isa isa, bool jit_on) {
    QGemm g;
    const bool expect_create_ok = create_ok && bad != Bad::kNotCreated;
    Status s = bad == Bad::kNotCreated ? Status() : QGemm::create(pc, &g);
    agree_create.check(isa, s, c);
    ExpectStatus(isa, "QGemm::create", s, bad == Bad::kNotCreated || expect_create_ok, c);
    if (!s.ok()) {
      if (g.valid()) Fail(isa, "QGemm::create failed but left a valid QGemm", c);
      if (!scales_ok || bad == Bad::kNone) return;
      // A failed create() leaves its QGemm as it was: it still runs p.
      QGemm prior;
      if (!QGemm::create(p, &prior).ok()) Fail(isa, "QGemm::create rejected the uncorrupted parameters", c);
      const std::string kernel = prior.kernel();
      if (QGemm::create(pc, &prior).ok()) Fail(isa, "QGemm::create accepted the corrupted parameters", c);
      if (!prior.valid() || prior.kernel() != kernel) Fail(isa, "a failed QGemm::create changed the QGemm it was given", c);
      got.fill();
      if (!prior.run(a.data(), m, lda, got.data(), ldc).ok()) Fail(isa, "QGemm::run failed after a failed create", c);
      Tamper(isa, got.data(), MatrixEnd(m, n, ldc, elem));
      return CheckGemmOutput(isa, "C after a failed create", got, want, p.output == GemmOutput::kFloat, elem, m, n, ldc, c);
    }
    if (bad != Bad::kNotCreated &&
        (!OwnIsa(isa, g.isa()) || g.kernel().find(std::string("__") + isa_name(g.isa())) == std::string::npos)) {
      Fail(isa, Str("create() picked ", g.kernel(), " (isa ", isa_name(g.isa()), ")"), c);
    }
    if (!jit_on && g.kernel().find("_jit") != std::string::npos) Fail(isa, Str("the JIT is off but create() picked ", g.kernel()), c);
    got.fill();
    s = g.run(null_a ? nullptr : a.data(), run_m, run_lda, null_c ? nullptr : got.data(), run_ldc, pool.hook());
    Tamper(isa, got.data(), s.ok() ? MatrixEnd(m, n, ldc, elem) : got.bytes());
    agree_run.check(isa, s, c);
    ExpectStatus(isa, "QGemm::run", s, run_ok, c);
    if (!s.ok()) return ExpectUntouched(isa, "QGemm::run", got, c);
    CheckGemmOutput(isa, g.kernel().c_str(), got, want, p.output == GemmOutput::kFloat, elem, m, n, ldc, c);
  });
}

}  // namespace
}  // namespace fuzz
}  // namespace qkern

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  qkern::fuzz::TargetName() = "fuzz_gemm";
  qkern::fuzz::Input in(data, size);
  qkern::fuzz::Run(in);
  return 0;
}
