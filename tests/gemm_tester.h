// tests/gemm_tester.h: the int8 GEMM tester, in the style of XNNPACK's
// GemmMicrokernelTester: set a shape and the quantization parameters
// fluently, then Test() builds random (or adversarial) A and W, runs QGemm on
// whatever ISA is active and compares every output byte with the reference
// (reference/gemm_ref.h). Shared by every GEMM kernel, AOT or JIT.
//
// Output scales come from the actual accumulator range, so requantized
// outputs span the whole code range instead of sitting on one clamp.
// C is surrounded by guard bytes (and strided rows keep their gaps): a kernel
// that writes outside its M x N must fail.
#ifndef QKERN_TESTS_GEMM_TESTER_H_
#define QKERN_TESTS_GEMM_TESTER_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "qkern/gemm.hpp"
#include "reference/gemm_ref.h"

namespace qkern {
namespace test {

enum class GemmData {
  kRandom,       // uniform over the full ranges
  kMaxPositive,  // A at its maximum, W = 127: the largest positive sums
  kMaxNegative,  // A at its maximum, W = -128
  kAlternating,  // A at its maximum, W alternating 127, -128 along k
  kMaddubsSafe,  // random W with |w[2i]| + |w[2i+1]| <= 128, A random
  kSmallA,       // random u8 A <= 127 (declared 7-bit), random W
};

class GemmTester {
 public:
  GemmTester& m(int64_t v) { m_ = v; return *this; }
  GemmTester& n(int64_t v) { p_.n = v; return *this; }
  GemmTester& k(int64_t v) { p_.k = v; return *this; }
  GemmTester& lda(int64_t v) { lda_ = v; return *this; }
  GemmTester& ldc(int64_t v) { ldc_ = v; return *this; }
  GemmTester& ldw(int64_t v) { p_.ldw = v; return *this; }
  GemmTester& a_signed(bool v) { p_.activation_signed = v; return *this; }
  GemmTester& za(int32_t v) { p_.activation_zero_point = v; return *this; }
  GemmTester& layout(WeightLayout v) { p_.weight_layout = v; return *this; }
  GemmTester& per_channel(bool v) { p_.weight_scale_per_channel = v; return *this; }
  GemmTester& bias(bool v) { bias_ = v; return *this; }
  GemmTester& output(GemmOutput v) { p_.output = v; return *this; }
  GemmTester& scheme(RequantScheme v) { p_.scheme = v; return *this; }
  GemmTester& out_signed(bool v) { p_.output_range.is_signed = v; return *this; }
  GemmTester& zo(int32_t v) { zo_ = v; return *this; }
  GemmTester& clamp(int32_t lo, int32_t hi) { p_.lo = lo; p_.hi = hi; return *this; }
  GemmTester& data(GemmData v) { data_ = v; return *this; }
  GemmTester& seed(uint32_t v) { seed_ = v; return *this; }
  GemmTester& pool(ParallelFor pf) { pf_ = pf; return *this; }
  // A substring the chosen kernel's name must contain (e.g. "maddubs").
  GemmTester& expect_kernel(std::string v) { expect_kernel_ = std::move(v); return *this; }

  void Test() const {
    QGemmParams p = p_;
    const int64_t lda = lda_ ? lda_ : p.k, ldc = ldc_ ? ldc_ : p.n;
    std::mt19937 rng(seed_);
    const bool nk = p.weight_layout == WeightLayout::kNK;
    const int64_t ldw = p.ldw ? p.ldw : (nk ? p.k : p.n);
    std::vector<int8_t> w(static_cast<size_t>((nk ? p.n : p.k) * ldw), 0x5a);
    std::vector<uint8_t> a(static_cast<size_t>(std::max<int64_t>(m_ * lda, 1)), 0xa5);
    const int32_t a_max = p.activation_signed ? 127 : 255;
    const int32_t a_min = p.activation_signed ? -128 : 0;
    std::uniform_int_distribution<int> byte(0, 255), wdist(-128, 127);
    auto set_w = [&](int64_t n, int64_t k, int8_t v) { w[nk ? n * ldw + k : k * ldw + n] = v; };
    for (int64_t n = 0; n < p.n; ++n) {
      int prev = 0;
      for (int64_t k = 0; k < p.k; ++k) {
        int v = wdist(rng);
        switch (data_) {
          case GemmData::kMaxPositive: v = 127; break;
          case GemmData::kMaxNegative: v = -128; break;
          case GemmData::kAlternating: v = k % 2 ? -128 : 127; break;
          case GemmData::kMaddubsSafe:
            if (k % 2) {  // the pair (k - 1, k) sums to at most 128 in magnitude
              const int room = 128 - std::abs(prev);
              v = std::uniform_int_distribution<int>(-room, std::min(room, 127))(rng);
            }
            break;
          default: break;
        }
        set_w(n, k, static_cast<int8_t>(v));
        prev = v;
      }
    }
    for (int64_t m = 0; m < m_; ++m) {
      for (int64_t k = 0; k < p.k; ++k) {
        int32_t v = byte(rng) + a_min;
        if (data_ == GemmData::kMaxPositive || data_ == GemmData::kMaxNegative ||
            data_ == GemmData::kAlternating) {
          v = p.activation_zero_point > (a_min + a_max) / 2 ? a_min : a_max;
        }
        if (data_ == GemmData::kSmallA) v = byte(rng) % 128;
        a[static_cast<size_t>(m * lda + k)] = static_cast<uint8_t>(v);
      }
    }
    p.activation_7bit = data_ == GemmData::kSmallA;
    p.weights = w.data();
    std::vector<int32_t> bias(static_cast<size_t>(p.n));
    std::vector<float> bias_f(static_cast<size_t>(p.n));
    std::vector<float> wscale(static_cast<size_t>(p.n));
    std::uniform_real_distribution<float> unit(0.5f, 2.0f);
    for (int64_t n = 0; n < p.n; ++n) {
      bias[n] = std::uniform_int_distribution<int32_t>(-(1 << 20), 1 << 20)(rng);
      bias_f[n] = unit(rng) - 1.25f;
      wscale[n] = unit(rng) * 0.01f;
    }
    p.bias = bias_ ? bias.data() : nullptr;
    p.bias_f = bias_ ? bias_f.data() : nullptr;
    p.weight_scale = wscale.data();
    p.activation_scale = 0.05f;
    if (p.output == GemmOutput::kRequantized) {
      // Scale so that the accumulators' range spans the code range (+ a little clamping).
      QGemmParams pi = p;
      pi.output = GemmOutput::kInt32;
      int64_t lo = 0, hi = 1;
      for (int64_t m = 0; m < m_; ++m) {
        for (int64_t n = 0; n < p.n; ++n) {
          const int64_t v = ref::gemm_acc(pi, a.data(), lda, m, n);
          lo = std::min(lo, v);
          hi = std::max(hi, v);
        }
      }
      const float span = static_cast<float>(hi - lo) * p.activation_scale * 0.01f;
      p.output_scale = std::max(span / 240.0f, 1e-30f);
      p.output_zero_point = zo_;
    }

    QGemm gemm;
    const Status created = QGemm::create(p, &gemm);
    ASSERT_TRUE(created.ok()) << created.to_string();
    if (!expect_kernel_.empty()) {
      ASSERT_NE(gemm.kernel().find(expect_kernel_), std::string::npos) << gemm.kernel();
    }
    const size_t out_bytes = p.output == GemmOutput::kRequantized ? 1 : 4;
    const size_t c_bytes = static_cast<size_t>(std::max<int64_t>(m_ * ldc, 1)) * out_bytes;
    constexpr size_t kGuard = 64;
    std::vector<uint8_t> c(c_bytes + 2 * kGuard, 0xcd), expected(c_bytes + 2 * kGuard, 0xcd);
    ref::gemm(p, a.data(), m_, lda, expected.data() + kGuard, ldc);
    const Status ran = gemm.run(a.data(), m_, lda, c.data() + kGuard, ldc, pf_);
    ASSERT_TRUE(ran.ok()) << ran.to_string();
    for (size_t i = 0; i < c.size(); ++i) {
      if (c[i] != expected[i]) {
        const int64_t e = static_cast<int64_t>(i) - static_cast<int64_t>(kGuard);
        const int64_t elem = e / static_cast<int64_t>(out_bytes);
        FAIL() << gemm.kernel() << ": byte " << e << " (m " << elem / ldc << ", n " << elem % ldc
               << ") is " << int{c[i]} << ", reference " << int{expected[i]} << "; m " << m_
               << " n " << p.n << " k " << p.k << " lda " << lda << " ldc " << ldc;
      }
    }
  }

 private:
  QGemmParams p_;
  int64_t m_ = 1, lda_ = 0, ldc_ = 0;
  int32_t zo_ = 0;
  bool bias_ = true;
  GemmData data_ = GemmData::kRandom;
  uint32_t seed_ = 1;
  ParallelFor pf_;
  std::string expect_kernel_;
};

}  // namespace test
}  // namespace qkern

#endif  // QKERN_TESTS_GEMM_TESTER_H_
