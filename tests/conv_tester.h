// tests/conv_tester.h: the int8 convolution tester, GemmTester's twin: set
// the geometry and the quantization parameters fluently, then Test() builds
// random (or adversarial) X and W, runs QConv2d on the active ISA and compares
// every output byte with the direct convolution of reference/conv_ref.h.
//
// Output scales come from the actual accumulator range (outputs span the code
// range); Y is surrounded by guard bytes and strided pixels keep their gaps,
// so a kernel that writes outside its pixels' channels fails.
#ifndef QKERN_TESTS_CONV_TESTER_H_
#define QKERN_TESTS_CONV_TESTER_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "qkern/conv.hpp"
#include "reference/conv_ref.h"
#include "tests/test_util.h"

namespace qkern {
namespace test {

enum class ConvData {
  kRandom,       // uniform over the full ranges
  kMaxPositive,  // X at the end of its range away from za, W = 127
  kMaxNegative,  // the same with W = -128
  kAlternating,  // X at that end, W alternating 127, -128
};

class ConvTester {
 public:
  ConvTester& batch(int64_t v) { batch_ = v; return *this; }
  ConvTester& hw(int64_t h, int64_t w) { h_ = h; w_ = w; return *this; }
  ConvTester& channels(int64_t ic, int64_t oc) { p_.input_channels = ic; p_.output_channels = oc; return *this; }
  ConvTester& kernel(int64_t kh, int64_t kw) { p_.kernel_h = kh; p_.kernel_w = kw; return *this; }
  ConvTester& stride(int64_t sh, int64_t sw) { p_.stride_h = sh; p_.stride_w = sw; return *this; }
  ConvTester& dilation(int64_t dh, int64_t dw) { p_.dilation_h = dh; p_.dilation_w = dw; return *this; }
  ConvTester& pad(int64_t top, int64_t left, int64_t bottom, int64_t right) {
    p_.pad_top = top; p_.pad_left = left; p_.pad_bottom = bottom; p_.pad_right = right; return *this;
  }
  ConvTester& groups(int64_t v) { p_.groups = v; return *this; }
  ConvTester& a_signed(bool v) { p_.activation_signed = v; return *this; }
  ConvTester& za(int32_t v) { p_.activation_zero_point = v; return *this; }
  ConvTester& layout(ConvWeightLayout v) { p_.weight_layout = v; return *this; }
  ConvTester& per_channel(bool v) { p_.weight_scale_per_channel = v; return *this; }
  ConvTester& bias(bool v) { bias_ = v; return *this; }
  ConvTester& output(GemmOutput v) { p_.output = v; return *this; }
  ConvTester& scheme(RequantScheme v) { p_.scheme = v; return *this; }
  ConvTester& out_signed(bool v) { p_.output_range.is_signed = v; return *this; }
  ConvTester& zo(int32_t v) { zo_ = v; return *this; }
  ConvTester& clamp(int32_t lo, int32_t hi) { p_.lo = lo; p_.hi = hi; return *this; }
  ConvTester& x_pixel_stride(int64_t v) { x_ps_ = v; return *this; }
  ConvTester& y_pixel_stride(int64_t v) { y_ps_ = v; return *this; }
  ConvTester& data(ConvData v) { data_ = v; return *this; }
  ConvTester& seed(uint32_t v) { seed_ = v; return *this; }
  ConvTester& pool(ParallelFor pf) { pf_ = pf; return *this; }
  // The path create() must pick (checked when set).
  ConvTester& expect_path(ConvPath v) { expect_path_ = v; check_path_ = true; return *this; }

  void Test() const {
    QConv2dParams p = p_;
    std::mt19937 rng(seed_);
    const int64_t icg = p.input_channels / p.groups;
    const int64_t wcount = p.output_channels * p.kernel_h * p.kernel_w * icg;
    std::vector<int8_t> w(static_cast<size_t>(wcount));
    std::uniform_int_distribution<int> byte(0, 255), wdist(-128, 127);
    for (int64_t i = 0; i < wcount; ++i) {
      int v = wdist(rng);
      if (data_ == ConvData::kMaxPositive) v = 127;
      if (data_ == ConvData::kMaxNegative) v = -128;
      if (data_ == ConvData::kAlternating) v = i % 2 ? -128 : 127;
      w[static_cast<size_t>(i)] = static_cast<int8_t>(v);
    }
    const int64_t x_ps = x_ps_ ? x_ps_ : p.input_channels;
    const int64_t pixels_in = batch_ * h_ * w_;
    std::vector<uint8_t> x(static_cast<size_t>(std::max<int64_t>(pixels_in * x_ps, 1)), 0xa5);
    const int32_t a_min = p.activation_signed ? -128 : 0, a_max = p.activation_signed ? 127 : 255;
    for (int64_t i = 0; i < pixels_in; ++i) {
      for (int64_t c = 0; c < p.input_channels; ++c) {
        int32_t v = byte(rng) + a_min;
        if (data_ != ConvData::kRandom) v = p.activation_zero_point > (a_min + a_max) / 2 ? a_min : a_max;
        x[static_cast<size_t>(i * x_ps + c)] = static_cast<uint8_t>(v);
      }
    }
    p.weights = w.data();
    std::vector<int32_t> bias(static_cast<size_t>(p.output_channels));
    std::vector<float> bias_f(static_cast<size_t>(p.output_channels)), wscale(bias_f.size());
    std::uniform_real_distribution<float> unit(0.5f, 2.0f);
    for (size_t n = 0; n < bias.size(); ++n) {
      bias[n] = std::uniform_int_distribution<int32_t>(-(1 << 16), 1 << 16)(rng);
      bias_f[n] = unit(rng) - 1.25f;
      wscale[n] = unit(rng) * 0.01f;
    }
    p.bias = bias_ ? bias.data() : nullptr;
    p.bias_f = bias_ ? bias_f.data() : nullptr;
    p.weight_scale = wscale.data();
    p.activation_scale = 0.05f;
    const int64_t oh = ref::conv_out_dim(h_, p.pad_top, p.pad_bottom, p.kernel_h, p.dilation_h, p.stride_h);
    const int64_t ow = ref::conv_out_dim(w_, p.pad_left, p.pad_right, p.kernel_w, p.dilation_w, p.stride_w);
    ASSERT_GT(oh, 0);
    ASSERT_GT(ow, 0);
    if (p.output == GemmOutput::kRequantized) {
      QConv2dParams pi = p;
      pi.output = GemmOutput::kInt32;
      int64_t lo = 0, hi = 1;
      for (int64_t b = 0; b < batch_; ++b) {
        for (int64_t y = 0; y < oh; ++y) {
          for (int64_t xo = 0; xo < ow; ++xo) {
            for (int64_t oc = 0; oc < p.output_channels; ++oc) {
              const int64_t v = ref::conv_acc(pi, x.data(), h_, w_, x_ps, b, y, xo, oc);
              lo = std::min(lo, v);
              hi = std::max(hi, v);
            }
          }
        }
      }
      const float span = static_cast<float>(hi - lo) * p.activation_scale * 0.01f;
      p.output_scale = std::max(span / 240.0f, 1e-30f);
      p.output_zero_point = zo_;
    }

    QConv2d conv;
    const Status created = QConv2d::create(p, &conv);
    ASSERT_TRUE(created.ok()) << created.to_string();
    if (check_path_) {
      ASSERT_EQ(conv.path(), expect_path_) << conv.kernel();
    }
    // The ISA's own kernels (avx512_amx: its QGemm's AMX kernel, or avx512_vnni's).
    ASSERT_TRUE(conv.isa() == active_isa() || conv.isa() == FamilyIsa(active_isa()))
        << isa_name(conv.isa()) << " " << conv.kernel();
    const int64_t y_ps = y_ps_ ? y_ps_ : p.output_channels;
    const size_t out_bytes = p.output == GemmOutput::kRequantized ? 1 : 4;
    const size_t y_bytes = static_cast<size_t>(std::max<int64_t>(batch_ * oh * ow * y_ps, 1)) * out_bytes;
    constexpr size_t kGuard = 64;
    std::vector<uint8_t> y(y_bytes + 2 * kGuard, 0xcd), expected(y_bytes + 2 * kGuard, 0xcd);
    ref::conv2d(p, x.data(), batch_, h_, w_, x_ps, expected.data() + kGuard, y_ps);
    const Status ran = conv.run(x.data(), batch_, h_, w_, y.data() + kGuard, x_ps_, y_ps_, pf_);
    ASSERT_TRUE(ran.ok()) << ran.to_string();
    for (size_t i = 0; i < y.size(); ++i) {
      if (y[i] != expected[i]) {
        const int64_t e = static_cast<int64_t>(i) - static_cast<int64_t>(kGuard);
        const int64_t elem = e / static_cast<int64_t>(out_bytes);
        FAIL() << conv.kernel() << ": byte " << e << " (pixel " << elem / y_ps << ", oc " << elem % y_ps
               << ") is " << int{y[i]} << ", reference " << int{expected[i]} << "; batch " << batch_ << " "
               << h_ << "x" << w_ << " ic " << p.input_channels << " oc " << p.output_channels << " k "
               << p.kernel_h << "x" << p.kernel_w << " s " << p.stride_h << "x" << p.stride_w << " d "
               << p.dilation_h << "x" << p.dilation_w << " g " << p.groups;
      }
    }
  }

 private:
  QConv2dParams p_ = [] {
    QConv2dParams p;
    p.input_channels = 1;
    p.output_channels = 1;
    return p;
  }();
  int64_t batch_ = 1, h_ = 5, w_ = 5, x_ps_ = 0, y_ps_ = 0;
  int32_t zo_ = 0;
  bool bias_ = true, check_path_ = false;
  ConvPath expect_path_ = ConvPath::kIm2col;
  ConvData data_ = ConvData::kRandom;
  uint32_t seed_ = 1;
  ParallelFor pf_;
};

}  // namespace test
}  // namespace qkern

#endif  // QKERN_TESTS_CONV_TESTER_H_
