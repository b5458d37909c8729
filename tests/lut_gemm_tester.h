// tests/lut_gemm_tester.h: the lookup GEMM tester, GemmTester's twin: set a
// shape, the index width, the codebook kind and the quantization parameters
// fluently; Test() builds random (or adversarial) labels, codebooks and X,
// runs LutGemm on the active ISA and compares with reference/lut_gemm_ref.h:
// every byte for quantized activations, the documented error bound for fp32.
// Y is surrounded by guard bytes and strided rows keep their gaps; index rows
// carry garbage in their stride gap and in the unused bits of the last byte.
#ifndef QKERN_TESTS_LUT_GEMM_TESTER_H_
#define QKERN_TESTS_LUT_GEMM_TESTER_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "qkern/codebook.hpp"
#include "qkern/lut_gemm.hpp"
#include "reference/gemm_ref.h"
#include "reference/lut_gemm_ref.h"
#include "tests/test_util.h"

namespace qkern {
namespace test {

enum class LutData {
  kRandom,       // uniform labels, Gaussian codebooks, X uniform over its range (fp32: Gaussian)
  kMaxPositive,  // X at its largest distance from za, every weight +max|C| (int8 code 127)
  kMaxNegative,  // ... every weight -max|C| (code -127)
  kAlternating,  // ... weights alternating +-max|C| along k
  kWideRange,    // fp32: X and codebook magnitudes 2^[-30, 30] of both signs (cancellation)
};

class LutGemmTester {
 public:
  LutGemmTester& m(int64_t v) { m_ = v; return *this; }
  LutGemmTester& n(int64_t v) { p_.n = v; return *this; }
  LutGemmTester& k(int64_t v) { p_.k = v; return *this; }
  LutGemmTester& bits(int v) { p_.bits = v; return *this; }
  LutGemmTester& per_row(bool v) { p_.codebook_per_row = v; return *this; }
  LutGemmTester& activation(LutActivation v) { p_.activation = v; return *this; }
  LutGemmTester& za(int32_t v) { p_.activation_zero_point = v; return *this; }
  LutGemmTester& output(GemmOutput v) { p_.output = v; return *this; }
  LutGemmTester& scheme(RequantScheme v) { p_.scheme = v; return *this; }
  LutGemmTester& out_signed(bool v) { p_.output_range.is_signed = v; return *this; }
  LutGemmTester& zo(int32_t v) { zo_ = v; return *this; }
  LutGemmTester& clamp(int32_t lo, int32_t hi) { p_.lo = lo; p_.hi = hi; return *this; }
  LutGemmTester& ldx(int64_t v) { ldx_ = v; return *this; }
  LutGemmTester& ldy(int64_t v) { ldy_ = v; return *this; }
  LutGemmTester& ld_indices(int64_t v) { p_.ld_indices = v; return *this; }
  LutGemmTester& bias(bool v) { bias_ = v; return *this; }
  // u8 X <= 127, declared with activation_7bit.
  LutGemmTester& x7bit(bool v) { p_.activation_7bit = v; return *this; }
  LutGemmTester& data(LutData v) { data_ = v; return *this; }
  LutGemmTester& seed(uint32_t v) { seed_ = v; return *this; }
  LutGemmTester& pool(ParallelFor pf) { pf_ = pf; return *this; }
  // The created kernel's name must contain this (e.g. "_jit__").
  LutGemmTester& expect_kernel(std::string v) { expect_kernel_ = std::move(v); return *this; }

  // Runs the case; on success *y_out (if given) receives Y's bytes.
  void Test(std::vector<uint8_t>* y_out = nullptr) const {
    LutGemmParams p = p_;
    const bool quantized = p.activation != LutActivation::kFp32;
    if (!quantized) p.output = GemmOutput::kFloat;
    const int64_t ldx = ldx_ ? ldx_ : p.k, ldy = ldy_ ? ldy_ : p.n;
    const int entries = 1 << p.bits;
    const int64_t row = packed_row_bytes(p.k, p.bits), ld = p.ld_indices ? p.ld_indices : row;
    std::mt19937 rng(seed_);
    const bool extreme = data_ == LutData::kMaxPositive || data_ == LutData::kMaxNegative ||
                         data_ == LutData::kAlternating;

    // Codebooks: random, with the largest magnitude at entry `hi_label` (positive)
    // and entry `lo_label` (negative) for the adversarial kinds.
    const int64_t books = p.codebook_per_row ? p.n : 1;
    std::vector<float> codebook(static_cast<size_t>(books * entries));
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    std::uniform_real_distribution<float> expo(-30.0f, 30.0f);
    for (float& c : codebook) {
      c = gauss(rng) * 0.05f;
      if (data_ == LutData::kWideRange) c = std::copysign(std::exp2(expo(rng)), gauss(rng));
    }
    const int hi_label = entries - 1, lo_label = 0;
    for (int64_t b = 0; b < books; ++b) {
      codebook[b * entries + hi_label] = 0.5f;
      codebook[b * entries + lo_label] = -0.5f;
    }
    // Labels, packed with pack_indices, then copied into strided rows.
    std::vector<uint8_t> labels(static_cast<size_t>(p.n * p.k));
    std::uniform_int_distribution<int> label(0, entries - 1), byte(0, 255);
    for (int64_t n = 0; n < p.n; ++n) {
      for (int64_t k = 0; k < p.k; ++k) {
        int v = label(rng);
        if (data_ == LutData::kMaxPositive) v = hi_label;
        if (data_ == LutData::kMaxNegative) v = lo_label;
        if (data_ == LutData::kAlternating) v = k % 2 ? lo_label : hi_label;
        labels[n * p.k + k] = static_cast<uint8_t>(v);
      }
    }
    std::vector<uint8_t> dense(static_cast<size_t>(p.n * row));
    const CodebookShape shape{p.n, p.k, p.bits, false};
    ASSERT_TRUE(pack_indices(labels.data(), shape, dense.data()).ok());
    std::vector<uint8_t> indices(static_cast<size_t>((p.n - 1) * ld + row));
    for (uint8_t& b : indices) b = static_cast<uint8_t>(byte(rng));  // garbage in the gaps
    const int per_byte = 8 / p.bits;
    for (int64_t n = 0; n < p.n; ++n) {
      std::memcpy(indices.data() + n * ld, dense.data() + n * row, static_cast<size_t>(row));
      if (p.k % per_byte) {  // garbage in the unused labels of the last byte
        const uint8_t used = static_cast<uint8_t>((1u << (p.k % per_byte * p.bits)) - 1);
        indices[n * ld + row - 1] |= static_cast<uint8_t>(~used & byte(rng));
      }
    }
    p.indices = indices.data();
    p.indices_size = static_cast<int64_t>(indices.size());
    p.codebook = codebook.data();
    p.codebook_size = static_cast<int64_t>(codebook.size());

    // X.
    const size_t x_elem = quantized ? 1 : 4;
    std::vector<uint8_t> x(static_cast<size_t>(std::max<int64_t>(m_ * ldx, 1)) * x_elem, 0xa5);
    const bool xs = p.activation == LutActivation::kS8;
    const int32_t a_min = xs ? -128 : 0, a_max = xs ? 127 : 255;
    for (int64_t m = 0; m < m_; ++m) {
      for (int64_t k = 0; k < p.k; ++k) {
        const size_t i = static_cast<size_t>(m * ldx + k);
        if (quantized) {
          int32_t v = byte(rng) + a_min;
          if (extreme) v = p.activation_zero_point > (a_min + a_max) / 2 ? a_min : a_max;
          if (p.activation_7bit) v = extreme ? 127 : v % 128;
          x[i] = static_cast<uint8_t>(v);
        } else {
          float v = gauss(rng);
          if (data_ == LutData::kWideRange) v = std::copysign(std::exp2(expo(rng)), gauss(rng));
          std::memcpy(&x[i * 4], &v, 4);
        }
      }
    }

    std::vector<int32_t> bias(static_cast<size_t>(p.n));
    std::vector<float> bias_f(static_cast<size_t>(p.n));
    for (int64_t n = 0; n < p.n; ++n) {
      bias[n] = std::uniform_int_distribution<int32_t>(-(1 << 20), 1 << 20)(rng);
      bias_f[n] = gauss(rng);
    }
    p.bias = bias_ && quantized ? bias.data() : nullptr;
    p.bias_f = bias_ ? bias_f.data() : nullptr;
    p.activation_scale = 0.05f;
    if (quantized && p.output == GemmOutput::kRequantized) {
      // Scale so that the accumulators' range spans the code range (+ a little clamping).
      std::vector<int8_t> w;
      std::vector<float> scales;
      LutGemmParams pi = p;
      pi.output = GemmOutput::kInt32;
      const QGemmParams g = ref::lut_as_qgemm(pi, &w, &scales);
      int64_t lo = 0, hi = 1;
      for (int64_t m = 0; m < m_; ++m) {
        for (int64_t n = 0; n < p.n; ++n) {
          const int64_t v = ref::gemm_acc(g, x.data(), ldx, m, n);
          lo = std::min(lo, v);
          hi = std::max(hi, v);
        }
      }
      const float span = static_cast<float>(hi - lo) * p.activation_scale * scales[0];
      p.output_scale = std::max(span / 240.0f, 1e-30f);
      p.output_zero_point = zo_;
    }

    LutGemm gemm;
    const Status created = LutGemm::create(p, &gemm);
    ASSERT_TRUE(created.ok()) << created.to_string();
    ASSERT_EQ(gemm.isa(), FamilyIsa(active_isa())) << gemm.kernel();  // the ISA's own kernels
    if (!expect_kernel_.empty()) {
      ASSERT_NE(gemm.kernel().find(expect_kernel_), std::string::npos) << gemm.kernel();
    }
    const size_t out_bytes = quantized && p.output == GemmOutput::kRequantized ? 1 : 4;
    const size_t y_bytes = static_cast<size_t>(std::max<int64_t>(m_ * ldy, 1)) * out_bytes;
    constexpr size_t kGuard = 64;
    std::vector<uint8_t> y(y_bytes + 2 * kGuard, 0xcd), expected(y_bytes + 2 * kGuard, 0xcd);
    ref::lut_gemm(p, x.data(), m_, ldx, expected.data() + kGuard, ldy);
    const Status ran = gemm.run(x.data(), m_, ldx, y.data() + kGuard, ldy, pf_);
    ASSERT_TRUE(ran.ok()) << ran.to_string();
    for (size_t i = 0; i < y.size(); ++i) {
      const int64_t e = static_cast<int64_t>(i) - static_cast<int64_t>(kGuard);
      const int64_t elem = e / static_cast<int64_t>(out_bytes);
      const bool inside = e >= 0 && e < static_cast<int64_t>(y_bytes) && elem % ldy < p.n && elem / ldy < m_;
      if (quantized || !inside) {
        if (y[i] != expected[i]) {
          FAIL() << gemm.kernel() << ": byte " << e << " (m " << elem / ldy << ", n " << elem % ldy << ") is "
                 << int{y[i]} << ", reference " << int{expected[i]} << "; m " << m_ << " n " << p.n
                 << " k " << p.k;
        }
        continue;
      }
      if (e % 4 != 0) continue;
      float got;
      std::memcpy(&got, &y[i], 4);
      const auto* xf = reinterpret_cast<const float*>(x.data());
      const double exact = ref::lut_gemm_exact_f32(p, xf, ldx, elem / ldy, elem % ldy);
      const double bound = ref::lut_gemm_bound_f32(p, xf, ldx, elem / ldy, elem % ldy);
      if (!(std::fabs(got - exact) <= bound)) {
        FAIL() << gemm.kernel() << ": Y[" << elem / ldy << "][" << elem % ldy << "] = " << got << ", exact "
               << exact << ", error " << std::fabs(got - exact) << " > bound " << bound << "; m " << m_
               << " n " << p.n << " k " << p.k;
      }
    }
    if (y_out) y_out->assign(y.begin() + kGuard, y.end() - kGuard);
  }

 private:
  LutGemmParams p_;
  int64_t m_ = 1, ldx_ = 0, ldy_ = 0;
  int32_t zo_ = 0;
  bool bias_ = true;
  LutData data_ = LutData::kRandom;
  std::string expect_kernel_;
  uint32_t seed_ = 1;
  ParallelFor pf_;
};

}  // namespace test
}  // namespace qkern

#endif  // QKERN_TESTS_LUT_GEMM_TESTER_H_
