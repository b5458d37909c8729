// fuzz/fuzz_util.h: what every libFuzzer target of fuzz/ shares.
//
// A target decodes the fuzzer's bytes into sizes, parameters and data
// (Input), runs the operation once per ISA this machine has (ForEachIsa caps
// dispatch with set_max_isa), and compares each ISA's outputs with the scalar
// reference of reference/*.h and its Status with the other ISAs'. Outputs sit
// in Guarded buffers (a sentinel pattern, with guard bytes before and after),
// so a write past the output, into a stride gap, or after an error is seen.
// On any disagreement Fail() prints the target, the ISA, what differed and
// where, and the decoded case, then abort()s: libFuzzer saves the input.
//
// QKERN_FUZZ_TAMPER=<isa name> (e.g. avx512_vnni) makes Tamper() flip one
// bit of the last output byte of every call on that ISA before it is checked:
// a target that does not then abort cannot detect a wrong answer
// (scripts/fuzz.sh runs this self-test before fuzzing).
#ifndef QKERN_FUZZ_FUZZ_UTIL_H_
#define QKERN_FUZZ_FUZZ_UTIL_H_

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "jit/jit.h"
#include "kernels/common/registry.h"
#include "kernels/gemm/gemm_kernels.h"
#include "qkern/gemm.hpp"
#include "qkern/isa.hpp"
#include "qkern/parallel.hpp"
#include "qkern/quantize.hpp"
#include "qkern/status.hpp"

// The harness's own byte loops (decoding, presetting and comparing buffers)
// run without coverage callbacks: their branches say nothing about the
// library, and the callbacks were a third of an execution.
#define QKERN_FUZZ_NO_COVERAGE __attribute__((no_sanitize("coverage")))

namespace qkern {
namespace fuzz {

// ------------------------------------------------------------------ input

// The fuzzer's bytes, read front to back. Past the end every read returns
// bytes of a splitmix64 stream seeded from the whole input, so a short input
// still decodes into a full case (and the same input always into the same case).
class Input {
 public:
  QKERN_FUZZ_NO_COVERAGE Input(const uint8_t* data, size_t size) : data_(data), size_(size) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ size;
    for (size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 0x100000001B3ull;
    state_ = h;
  }

  QKERN_FUZZ_NO_COVERAGE uint8_t u8() {
    if (pos_ < size_) return data_[pos_++];
    if (have_ == 0) {
      bits_ = next();
      have_ = 8;
    }
    const uint8_t b = static_cast<uint8_t>(bits_);
    bits_ >>= 8;
    --have_;
    return b;
  }
  uint16_t u16() { return static_cast<uint16_t>(u8() | u8() << 8); }
  uint32_t u32() { return static_cast<uint32_t>(u16()) | static_cast<uint32_t>(u16()) << 16; }
  uint64_t u64() { return static_cast<uint64_t>(u32()) | static_cast<uint64_t>(u32()) << 32; }
  bool boolean() { return u8() & 1; }
  // True with probability about num / 256.
  bool chance(int num) { return u8() < num; }
  // Uniform-ish in [lo, hi] (modulo bias is fine for fuzzing).
  int64_t range(int64_t lo, int64_t hi) {
    const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    const uint64_t v = span <= 0x100 ? u8() : span <= 0x10000 ? u16() : u64();
    return lo + static_cast<int64_t>(span == 0 ? v : v % span);
  }
  // One of the values.
  template <typename T, size_t N>
  T pick(const T (&values)[N]) {
    return values[range(0, N - 1)];
  }
  float raw_float() {
    const uint32_t u = u32();
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  bool exhausted() const { return pos_ >= size_; }

 private:
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  const uint8_t* data_;
  size_t size_, pos_ = 0;
  uint64_t state_, bits_ = 0;
  int have_ = 0;
};

// Floats that stress rounding and special-value paths.
inline float SpecialFloat(Input& in) {
  static const float kSpecials[] = {std::numeric_limits<float>::quiet_NaN(),
                                    -std::numeric_limits<float>::quiet_NaN(),
                                    std::numeric_limits<float>::infinity(),
                                    -std::numeric_limits<float>::infinity(),
                                    std::numeric_limits<float>::max(),
                                    -std::numeric_limits<float>::max(),
                                    std::numeric_limits<float>::min(),
                                    -std::numeric_limits<float>::min(),
                                    std::numeric_limits<float>::denorm_min(),
                                    1e-40f, -1e-40f, 0.0f, -0.0f, 0.5f, -0.5f, 1.5f, -2.5f,
                                    8388608.0f, 8388607.5f, -8388609.0f, 16777217.0f,
                                    2147483520.0f, 2147483648.0f, -2147483904.0f, 1e30f, -1e30f};
  return in.pick(kSpecials);
}

// ------------------------------------------------------------- diagnostics

// The decoded case, printed with every failure: "m=3 n=17 k=40 ...".
class Case {
 public:
  template <typename T>
  Case& add(const char* name, const T& v) {
    std::ostringstream os;
    os.precision(9);
    os << v;
    text_ += (text_.empty() ? "" : " ") + std::string(name) + "=" + os.str();
    return *this;
  }
  const std::string& str() const { return text_; }

 private:
  std::string text_;
};

// The target's name (for messages), set once by each target.
inline const char*& TargetName() {
  static const char* name = "fuzz";
  return name;
}

// With QKERN_FUZZ_PRINT_CASE set, prints the decoded case before it runs
// (for reproducing a crash that happens before any comparison).
inline void Announce(const Case& c) {
  static const bool on = std::getenv("QKERN_FUZZ_PRINT_CASE") != nullptr;
  if (on) std::fprintf(stderr, "%s: case: %s\n", TargetName(), c.str().c_str());
}

// "" or, inside ForEachIsaAndJit, " (jit on)" / " (jit off)".
inline std::string& VariantLabel() {
  static std::string label;
  return label;
}

[[noreturn]] inline void Fail(Isa isa, const std::string& what, const Case& c) {
  std::fprintf(stderr, "\n==== %s: MISMATCH on isa %s%s\n  %s\n  case: %s\n", TargetName(), isa_name(isa),
               VariantLabel().c_str(), what.c_str(), c.str().c_str());
  std::fflush(stderr);
  std::abort();
}

// Builds a message from pieces: Str("index ", i, " is ", v).
template <typename... T>
std::string Str(const T&... parts) {
  std::ostringstream os;
  os.precision(9);
  (os << ... << parts);
  return os.str();
}

// ------------------------------------------------------------------- ISAs

// The ISAs to run: every available one that set_max_isa really selects
// (QKERN_MAX_ISA may exclude the upper ones), lowest first.
inline const std::vector<Isa>& Isas() {
  static const std::vector<Isa> isas = [] {
    std::vector<Isa> out;
    for (Isa isa : available_isas()) {
      if (!set_max_isa(isa).ok()) continue;
      if (active_isa() == isa) out.push_back(isa);
    }
    reset_max_isa();
    if (out.empty() || out.front() != Isa::kScalar) {
      std::fprintf(stderr, "fuzz: the scalar ISA is not selectable\n");
      std::abort();
    }
    static bool printed = false;
    if (!printed && std::getenv("QKERN_FUZZ_QUIET") == nullptr) {
      printed = true;
      std::string names;
      for (Isa i : out) names += std::string(names.empty() ? "" : ", ") + isa_name(i);
      std::fprintf(stderr, "fuzz: comparing ISAs %s\n", names.c_str());
    }
    return out;
  }();
  return isas;
}

// Whether an operator created at dispatch `isa` that reports `got` ran the
// ISA's own kernels: avx512_amx has AMX kernels for QGemm only (and QConv2d
// through it), so the others, and QGemm where it cannot use them (N <= 32,
// K > 32768), report avx512_vnni there.
inline bool OwnIsa(Isa isa, Isa got) {
  return got == isa || (isa == Isa::kAvx512Amx && got == internal::fallback_isa(isa));
}

// f(isa) with dispatch capped at isa, for every ISA; the cap is removed afterwards.
template <class F>
void ForEachIsa(F&& f) {
  for (Isa isa : Isas()) {
    if (!set_max_isa(isa).ok()) std::abort();
    f(isa);
  }
  reset_max_isa();
}

// Whether this build's JIT has generators for `isa` (jit::generator_descriptions()
// names them: "gemm avx2: ..."); avx512_amx runs avx512_vnni's.
inline bool JitHas(Isa isa) {
  if (isa == Isa::kAvx512Amx) isa = internal::fallback_isa(isa);
  static const std::vector<std::string> d = jit::generator_descriptions();
  const std::string prefix = std::string(" ") + isa_name(isa) + ":";
  for (const std::string& line : d) {
    if (line.find(prefix) != std::string::npos) return true;
  }
  return false;
}

// f(isa, jit) for every ISA, with the JIT off (the AOT kernels), and again
// with it on where the JIT has generators for the ISA (QGemm::create asks it
// first: the GEMM, and the GEMMs inside QConv2d). The JIT is left as the
// environment set it. On avx512_amx every QGemm run of M >= 1 takes the AMX
// kernel where the operator has it (not from M = 8), so that every case
// reaches it (the smaller M run avx512_vnni's kernels, fuzzed there).
template <class F>
void ForEachIsaAndJit(F&& f) {
  for (Isa isa : Isas()) {
    if (!set_max_isa(isa).ok()) std::abort();
    internal::set_gemm_amx_min_m_for_test(isa == Isa::kAvx512Amx ? 1 : 0);
    for (bool jit_on : {false, true}) {
      if (jit_on && !JitHas(isa)) continue;
      jit::set_enabled_for_test(jit_on);
      VariantLabel() = jit_on ? " (jit on)" : JitHas(isa) ? " (jit off)" : "";
      f(isa, jit_on);
    }
  }
  jit::reset_enabled_for_test();
  internal::set_gemm_amx_min_m_for_test(0);
  VariantLabel().clear();
  reset_max_isa();
}

// The ISA named by QKERN_FUZZ_TAMPER, if any (read once).
inline bool TamperIsa(Isa* isa) {
  static const int tamper = [] {
    const char* v = std::getenv("QKERN_FUZZ_TAMPER");
    Isa i;
    if (v == nullptr || !isa_from_name(v, &i)) return -1;
    return static_cast<int>(i);
  }();
  if (tamper < 0) return false;
  *isa = static_cast<Isa>(tamper);
  return true;
}

// The self-test's fault: flips bit 6 of the last of `bytes` output bytes
// (the high exponent bits of a little-endian float, bit 30 of an int32, 64
// codes of an int8) when QKERN_FUZZ_TAMPER names `isa`.
inline void Tamper(Isa isa, void* out, size_t bytes) {
  Isa t;
  if (bytes == 0 || out == nullptr || !TamperIsa(&t) || t != isa) return;
  static_cast<uint8_t*>(out)[bytes - 1] ^= 0x40;
}

// The end (in bytes) of the last element of a rows x cols matrix with row
// stride ld elements: where Tamper() hits an element, not a stride gap.
inline size_t MatrixEnd(int64_t rows, int64_t cols, int64_t ld, size_t elem) {
  return rows > 0 && cols > 0 ? static_cast<size_t>((rows - 1) * ld + cols) * elem : 0;
}

// Every ISA must return the same Status (code and message) as the first.
class StatusAgreement {
 public:
  explicit StatusAgreement(const char* what) : what_(what) {}
  void check(Isa isa, const Status& s, const Case& c) {
    if (!have_) {
      first_ = s;
      first_isa_ = isa;
      have_ = true;
      return;
    }
    if (s.code() != first_.code() || s.message() != first_.message()) {
      Fail(isa, Str(what_, " returned \"", s.to_string(), "\" but on ", isa_name(first_isa_), " \"",
                    first_.to_string(), "\""),
           c);
    }
  }

 private:
  const char* what_;
  Status first_;
  Isa first_isa_ = Isa::kScalar;
  bool have_ = false;
};

// The call must succeed exactly when the harness built valid parameters.
inline void ExpectStatus(Isa isa, const char* what, const Status& s, bool expect_ok, const Case& c) {
  if (expect_ok && !s.ok()) Fail(isa, Str(what, " rejected valid parameters: ", s.to_string()), c);
  if (!expect_ok && s.ok()) Fail(isa, Str(what, " accepted invalid parameters (returned ok)"), c);
}

// ---------------------------------------------------------------- buffers

// An output buffer of `bytes` bytes between two guards, every byte (guards,
// payload, stride gaps) preset to a pattern. The expected answer is built in
// a twin with the same pattern, so the two compare byte for byte everywhere.
class Guarded {
 public:
  static constexpr size_t kGuard = 64;
  Guarded() = default;
  Guarded(size_t bytes, uint8_t pattern) { reset(bytes, pattern); }
  void reset(size_t bytes, uint8_t pattern) {
    bytes_ = bytes;
    pattern_ = pattern;
    buf_.assign(bytes + 2 * kGuard, 0);
    fill();
  }
  // The pattern: the byte at offset i is pattern + 37 * i (a sentinel that is
  // not one repeated value, so a stray memset or a shifted copy shows).
  QKERN_FUZZ_NO_COVERAGE void fill() {
    for (size_t i = 0; i < buf_.size(); ++i) buf_[i] = static_cast<uint8_t>(pattern_ + 37 * i);
  }
  uint8_t* data() { return buf_.data() + kGuard; }
  const uint8_t* data() const { return buf_.data() + kGuard; }
  size_t bytes() const { return bytes_; }
  // The first byte (offset from data(), may be negative) that differs from the pattern, or false.
  QKERN_FUZZ_NO_COVERAGE bool untouched(ptrdiff_t* at) const {
    for (size_t i = 0; i < buf_.size(); ++i) {
      if (buf_[i] != static_cast<uint8_t>(pattern_ + 37 * i)) {
        *at = static_cast<ptrdiff_t>(i) - static_cast<ptrdiff_t>(kGuard);
        return false;
      }
    }
    return true;
  }
  // The first byte offset (from data()) where the two buffers differ, or false.
  QKERN_FUZZ_NO_COVERAGE bool same(const Guarded& o, ptrdiff_t* at) const {
    for (size_t i = 0; i < buf_.size(); ++i) {
      if (buf_[i] != o.buf_[i]) {
        *at = static_cast<ptrdiff_t>(i) - static_cast<ptrdiff_t>(kGuard);
        return false;
      }
    }
    return true;
  }
  // The first byte outside the payload [0, bytes) that differs from the pattern, or false.
  QKERN_FUZZ_NO_COVERAGE bool guards_untouched(ptrdiff_t* at) const {
    for (size_t i = 0; i < buf_.size(); ++i) {
      if (i >= kGuard && i < kGuard + bytes_) continue;
      if (buf_[i] != static_cast<uint8_t>(pattern_ + 37 * i)) {
        *at = static_cast<ptrdiff_t>(i) - static_cast<ptrdiff_t>(kGuard);
        return false;
      }
    }
    return true;
  }
  // Byte i (from data(), guards included: -kGuard <= i < bytes + kGuard).
  uint8_t at(ptrdiff_t i) const { return buf_[static_cast<size_t>(i + static_cast<ptrdiff_t>(kGuard))]; }
  bool inside(ptrdiff_t i) const { return i >= 0 && i < static_cast<ptrdiff_t>(bytes_); }

 private:
  std::vector<uint8_t> buf_;
  size_t bytes_ = 0;
  uint8_t pattern_ = 0;
};

// After an error the buffer must be exactly as preset.
inline void ExpectUntouched(Isa isa, const char* what, const Guarded& g, const Case& c) {
  ptrdiff_t at = 0;
  if (!g.untouched(&at)) {
    Fail(isa, Str(what, " failed but wrote output byte ", at, g.inside(at) ? "" : " (outside the output)"),
         c);
  }
}

// Bitwise float equality, with every NaN equal to every NaN (tests/test_util.h's SameFloat).
inline bool SameFloat(float a, float b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  uint32_t ua, ub;
  std::memcpy(&ua, &a, 4);
  std::memcpy(&ub, &b, 4);
  return ua == ub;
}

inline float LoadFloat(const uint8_t* p) {
  float f;
  std::memcpy(&f, p, 4);
  return f;
}
inline int32_t LoadInt32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// |fp32 sum - exact| <= gamma_n * sum |terms| (+ an absolute slack): the
// reordering bound of docs/semantics.md, gamma_n = n u / (1 - n u), u = 2^-24.
// Returns false where a sum in fp32 may overflow (the bound does not apply).
inline bool SumBoundApplies(double abs_sum) {
  return abs_sum <= 0.5 * static_cast<double>(std::numeric_limits<float>::max());
}
inline double Gamma(int64_t n) {
  const double u = std::ldexp(1.0, -24);
  return n * u / (1.0 - n * u);
}

// ------------------------------------------- the GEMM families' outputs

// Scales that are ordinary, powers of two, or extreme (products and
// quotients of them overflow, underflow and go subnormal).
inline float DecodeGemmScale(Input& in) {
  static const float kScales[] = {0.05f,  0.01f, 0.0078125f, 1.0f,     0.5f,    2.0f,   0.1f,
                                  0.003f, 7.5f,  1e-5f,      FLT_MIN,  1e-20f,  1e20f,  FLT_MAX,
                                  1.4e-45f, 0.25f, 3e-3f, 1.7f};
  const int kind = in.u8();
  if (kind < 150) return in.pick(kScales);
  if (kind < 230) return std::ldexp(1.0f + in.u8() / 256.0f, static_cast<int>(in.range(-20, 10)));
  const float f = std::fabs(in.raw_float());
  return std::isfinite(f) && f > 0 ? f : 0.02f;
}

// The output half shared by QGemmParams, LutGemmParams and QConv2dParams
// (the fields ref::copy_gemm_output names), decoded valid; the arrays live here.
struct GemmOutputData {
  std::vector<int32_t> bias;
  std::vector<float> bias_f;
  bool span_scale = false;  // set output_scale from the accumulators' range (SpanOutputScale)
};

template <class P>
void DecodeGemmOutput(Input& in, Case& c, int64_t n, bool quantized_input, P* p, GemmOutputData* d) {
  const int kind = in.u8();
  p->output = !quantized_input ? GemmOutput::kFloat
              : kind < 130   ? GemmOutput::kRequantized
              : kind < 180   ? GemmOutput::kInt32
                             : GemmOutput::kFloat;
  p->scheme = in.boolean() ? RequantScheme::kFixedPoint : RequantScheme::kFp32;
  p->output_range.bits = in.chance(180) ? 8 : static_cast<int>(in.range(2, 8));
  p->output_range.is_signed = in.boolean();
  p->output_range.narrow_range = p->output_range.is_signed && in.chance(40);
  const int32_t lo = qmin(p->output_range), hi = qmax(p->output_range);
  const int zk = in.u8();
  p->output_zero_point = zk < 40 ? lo : zk < 80 ? hi : static_cast<int32_t>(in.range(lo, hi));
  if (in.chance(90)) p->lo = static_cast<int32_t>(in.range(lo - 2, p->output_zero_point));  // ReLU-like
  if (in.chance(70)) p->hi = static_cast<int32_t>(in.range(std::max(p->lo, lo), hi + 2));  // ReLU6-like
  p->output_scale = DecodeGemmScale(in);
  d->span_scale = p->output == GemmOutput::kRequantized && in.chance(160);
  // Biases: small, large, and the int32 extremes (the sum wraps modulo 2^32).
  d->bias.assign(static_cast<size_t>(n), 0);
  d->bias_f.assign(static_cast<size_t>(n), 0.0f);
  const int bias_kind = in.u8();
  for (int64_t i = 0; i < n; ++i) {
    const int b = in.u8();
    d->bias[static_cast<size_t>(i)] =
        bias_kind < 120 ? static_cast<int32_t>(in.range(-(1 << 20), 1 << 20))
        : bias_kind < 200 ? static_cast<int32_t>(in.range(-1000, 1000))
                          : (b < 64 ? INT32_MAX - static_cast<int32_t>(in.range(0, 40000))
                             : b < 128 ? INT32_MIN + static_cast<int32_t>(in.range(0, 40000))
                                       : static_cast<int32_t>(in.u32()));
    const int f = in.u8();
    d->bias_f[static_cast<size_t>(i)] = f < 240 ? (in.u16() / 16384.0f - 2.0f) : SpecialFloat(in);
  }
  p->bias = quantized_input && in.chance(180) ? d->bias.data() : nullptr;
  p->bias_f = in.chance(180) ? d->bias_f.data() : nullptr;
  c.add("out", p->output == GemmOutput::kRequantized ? "requant" : p->output == GemmOutput::kInt32 ? "int32" : "float")
      .add("scheme", p->scheme == RequantScheme::kFp32 ? "fp32" : "fixed")
      .add("out_bits", p->output_range.bits).add("out_signed", p->output_range.is_signed)
      .add("out_narrow", p->output_range.narrow_range).add("zo", p->output_zero_point).add("lo", p->lo).add("hi", p->hi)
      .add("bias", p->bias != nullptr).add("bias_f", p->bias_f != nullptr);
}

// An output scale under which the accumulators [acc_lo, acc_hi] span the
// code range (as the tests' testers choose it), for a float scale `unit`
// (activation_scale * weight_scale) per accumulator step.
inline float SpanOutputScale(int64_t acc_lo, int64_t acc_hi, float unit) {
  const float span = static_cast<float>(std::max<int64_t>(acc_hi - acc_lo, 1)) * unit;
  const float s = span / 240.0f;
  return std::isfinite(s) && s > 1e-30f ? s : 1e-30f;
}

// Whether create() must accept the output's scales: kFixedPoint needs every
// channel's activation_scale * weight_scale / output_scale (in double) inside
// quantize_multiplier's range (docs/semantics.md, int8 GEMM).
template <class P>
bool FixedPointScalesValid(const P& p, const float* weight_scale, int64_t count) {
  if (p.output != GemmOutput::kRequantized || p.scheme != RequantScheme::kFixedPoint) return true;
  for (int64_t i = 0; i < count; ++i) {
    int32_t q = 0, s = 0;
    const double real = static_cast<double>(p.activation_scale) * weight_scale[i] / p.output_scale;
    if (!quantize_multiplier(real, &q, &s).ok()) return false;
  }
  return true;
}

// Compares an M x N output (row stride ld elements of elem_bytes) with the
// reference's: every byte, guards and stride gaps included, except that two
// NaNs of a float output are equal whatever their bits.
inline void CheckGemmOutput(Isa isa, const char* what, const Guarded& got, const Guarded& want, bool is_float,
                            size_t elem_bytes, int64_t rows, int64_t cols, int64_t ld, const Case& c) {
  ptrdiff_t at = 0;
  if (got.same(want, &at)) return;
  const ptrdiff_t end = static_cast<ptrdiff_t>(got.bytes() + Guarded::kGuard);
  for (ptrdiff_t i = at; i < end; ++i) {
    if (got.at(i) == want.at(i)) continue;
    const bool inside = got.inside(i);
    const int64_t e = inside ? static_cast<int64_t>(i) / static_cast<int64_t>(elem_bytes) : -1;
    const int64_t r = inside ? e / ld : -1, col = inside ? e % ld : -1;
    const bool element = inside && r < rows && col < cols;
    if (element && is_float) {
      const float g = LoadFloat(got.data() + e * 4), w = LoadFloat(want.data() + e * 4);
      if (SameFloat(g, w)) continue;
      Fail(isa, Str(what, ": element (", r, ", ", col, ") is ", g, ", reference ", w), c);
    }
    if (element) {
      const int64_t gv = elem_bytes == 4 ? LoadInt32(got.data() + e * 4) : got.at(static_cast<ptrdiff_t>(e));
      const int64_t wv = elem_bytes == 4 ? LoadInt32(want.data() + e * 4) : want.at(static_cast<ptrdiff_t>(e));
      Fail(isa, Str(what, ": element (", r, ", ", col, ") is ", gv, ", reference ", wv), c);
    }
    Fail(isa, Str(what, ": wrote byte ", i, inside ? " in a stride gap" : " outside the output", " (row ", r, ", column ", col, ")"), c);
  }
}

// A ParallelFor that runs the tasks inline in a shuffled order (the order
// must not change a byte), or through a small ThreadPool.
class FuzzPool {
 public:
  // kind 0: no hook (inline in order); 1: shuffled inline; 2: a 3-thread pool.
  FuzzPool(int kind, uint64_t seed) : kind_(kind), seed_(seed) {}
  ParallelFor hook() {
    if (kind_ == 1) {
      ParallelFor pf;
      pf.run = &Shuffled;
      pf.ctx = this;
      return pf;
    }
    if (kind_ == 2) {
      static ThreadPool pool(3);
      return pool.parallel_for();
    }
    return ParallelFor();
  }

 private:
  static void Shuffled(void* ctx, size_t n, void (*task)(void*, size_t), void* arg) {
    auto* self = static_cast<FuzzPool*>(ctx);
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = i;
    uint64_t x = self->seed_ | 1;
    for (size_t i = n; i > 1; --i) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      std::swap(order[i - 1], order[x % i]);
    }
    for (size_t i : order) task(arg, i);
  }
  int kind_;
  uint64_t seed_;
};

}  // namespace fuzz
}  // namespace qkern

#endif  // QKERN_FUZZ_FUZZ_UTIL_H_
