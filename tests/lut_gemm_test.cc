// tests/lut_gemm_test.cc: LutGemm on every ISA against reference/lut_gemm_ref.h
// (LutGemmTester: bytes for quantized activations, the error bound for fp32),
// the int8 codebook rule, and every bad argument.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "qkern/lut_gemm.hpp"
#include "tests/lut_gemm_tester.h"
#include "tests/test_util.h"

namespace qkern {
namespace test {
namespace {

using LutGemmTest = IsaTest;

const LutActivation kActivations[] = {LutActivation::kFp32, LutActivation::kU8, LutActivation::kS8};

int32_t MidZeroPoint(LutActivation a) { return a == LutActivation::kS8 ? -3 : 131; }

// Rows around every MR (2, 4), columns around NR (4) and k around every block
// (16..64 bytes = 32..256 labels) and the labels of one byte.
TEST_P(LutGemmTest, ShapeSweep) {
  for (LutActivation act : kActivations) {
    for (int bits : {4, 2}) {
      for (bool per_row : {false, true}) {
        for (int64_t m : {1, 2, 3, 4, 5, 9}) {
          for (int64_t n : {1, 3, 4, 5, 8, 13}) {
            for (int64_t k : {1, 2, 3, 5, 31, 33, 64, 127, 130, 257, 520}) {
              SCOPED_TRACE(testing::Message() << "act " << int(act) << " bits " << bits << " per_row "
                                              << per_row << " m " << m << " n " << n << " k " << k);
              LutGemmTester()
                  .m(m).n(n).k(k).bits(bits).per_row(per_row).activation(act).za(MidZeroPoint(act))
                  .output(GemmOutput::kInt32)
                  .seed(static_cast<uint32_t>(m * 1000 + n * 10 + k))
                  .Test();
              if (HasFatalFailure()) return;
            }
          }
        }
      }
    }
  }
}

// M >= the config's panel_min_m (48; 128 on avx512; never on avx512_vnni)
// with quantized activations decodes whole weight panels for the
// int8 GEMM's microkernel: its row, column and k tails.
TEST_P(LutGemmTest, PanelPathShapes) {
  for (LutActivation act : {LutActivation::kU8, LutActivation::kS8}) {
    for (int bits : {4, 2}) {
      for (int64_t m : {48, 49, 61, 128, 131}) {  // each ISA's panel_min_m: 48 or 128
        for (int64_t n : {1, 15, 16, 17, 33}) {
          for (int64_t k : {1, 3, 5, 64, 257, 2001}) {
            SCOPED_TRACE(testing::Message() << "act " << int(act) << " bits " << bits << " m " << m << " n "
                                            << n << " k " << k);
            LutGemmTester()
                .m(m).n(n).k(k).bits(bits).per_row(n % 2 == 1).activation(act).za(MidZeroPoint(act))
                .output(k % 2 ? GemmOutput::kRequantized : GemmOutput::kInt32)
                .seed(static_cast<uint32_t>(m * 1000 + n * 10 + k))
                .Test();
            if (HasFatalFailure()) return;
          }
        }
      }
    }
  }
}

// Declared 7-bit u8 activations: vpmaddubsw on x86 without VNNI, in the
// fused kernels and the panel path, at the largest sums.
TEST_P(LutGemmTest, SevenBitActivations) {
  for (int bits : {4, 2}) {
    for (int64_t m : {1, 3, 50}) {
      for (int64_t k : {1, 77, 300}) {
        for (LutData data : {LutData::kRandom, LutData::kMaxPositive, LutData::kAlternating}) {
          SCOPED_TRACE(testing::Message() << "bits " << bits << " m " << m << " k " << k << " data " << int(data));
          LutGemmTester()
              .m(m).n(19).k(k).bits(bits).per_row(true).activation(LutActivation::kU8).za(0).x7bit(true)
              .data(data).output(GemmOutput::kInt32).Test();
          if (HasFatalFailure()) return;
        }
      }
    }
  }
  if (isa() == Isa::kAvx2 || isa() == Isa::kAvx512) {
    std::vector<uint8_t> idx(64 * 32, 0x21);
    std::vector<float> book(16, 0.25f);
    LutGemmParams p;
    p.n = 64;
    p.k = 64;
    p.indices = idx.data();
    p.indices_size = static_cast<int64_t>(idx.size());
    p.codebook = book.data();
    p.codebook_size = 16;
    p.activation = LutActivation::kU8;
    p.output = GemmOutput::kInt32;
    p.activation_7bit = true;
    LutGemm g;
    ASSERT_TRUE(LutGemm::create(p, &g).ok());
    EXPECT_NE(g.kernel().find("maddubs"), std::string::npos) << g.kernel();
  }
}

TEST_P(LutGemmTest, QuantizedOutputs) {
  for (LutActivation act : {LutActivation::kU8, LutActivation::kS8}) {
    for (GemmOutput out : {GemmOutput::kRequantized, GemmOutput::kInt32, GemmOutput::kFloat}) {
      for (RequantScheme scheme : {RequantScheme::kFp32, RequantScheme::kFixedPoint}) {
        for (bool out_signed : {false, true}) {
          for (bool per_row : {false, true}) {
            for (bool bias : {false, true}) {
              SCOPED_TRACE(testing::Message() << "act " << int(act) << " out " << int(out) << " scheme "
                                              << int(scheme) << " out_signed " << out_signed << " per_row "
                                              << per_row << " bias " << bias);
              LutGemmTester()
                  .m(5).n(11).k(301).bits(per_row ? 4 : 2).per_row(per_row)
                  .activation(act).za(MidZeroPoint(act))
                  .output(out).scheme(scheme).out_signed(out_signed).zo(out_signed ? -5 : 120)
                  .bias(bias)
                  .Test();
              if (HasFatalFailure()) return;
            }
          }
        }
      }
    }
  }
}

TEST_P(LutGemmTest, ZeroPointsAndClamps) {
  for (LutActivation act : {LutActivation::kU8, LutActivation::kS8}) {
    const bool s = act == LutActivation::kS8;
    for (int32_t za : {s ? -128 : 0, s ? 127 : 255}) {
      for (auto [lo, hi] : {std::pair<int32_t, int32_t>{INT32_MIN, INT32_MAX}, {10, 100}, {120, 120}}) {
        SCOPED_TRACE(testing::Message() << "act " << int(act) << " za " << za << " lo " << lo << " hi " << hi);
        LutGemmTester()
            .m(3).n(9).k(200).activation(act).za(za).output(GemmOutput::kRequantized).zo(60).clamp(lo, hi)
            .Test();
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST_P(LutGemmTest, Strides) {
  for (LutActivation act : kActivations) {
    for (int bits : {4, 2}) {
      LutGemmTester()
          .m(6).n(10).k(77).bits(bits).activation(act).za(MidZeroPoint(act)).ldx(91).ldy(17).ld_indices(40)
          .per_row(true).Test();
      if (HasFatalFailure()) return;
    }
  }
}

// X at its largest distance from the zero point times +-127 codes: the int32
// sums at their largest, at the largest K.
TEST_P(LutGemmTest, AdversarialLargestK) {
  for (LutActivation act : {LutActivation::kU8, LutActivation::kS8}) {
    for (LutData data : {LutData::kMaxPositive, LutData::kMaxNegative, LutData::kAlternating}) {
      for (int64_t k : {int64_t{1000}, kLutGemmMaxK}) {
        const bool s = act == LutActivation::kS8;
        SCOPED_TRACE(testing::Message() << "act " << int(act) << " data " << int(data) << " k " << k);
        LutGemmTester()
            .m(2).n(5).k(k).activation(act).za(s ? -128 : 0).data(data).output(GemmOutput::kInt32)
            .per_row(true).Test();
        if (HasFatalFailure()) return;
        LutGemmTester()  // the panel path where it fits, else the fused kernel
            .m(49).n(3).k(k).activation(act).za(s ? -128 : 0).data(data).output(GemmOutput::kInt32)
            .Test();
        if (HasFatalFailure()) return;
        LutGemmTester()
            .m(1).n(3).k(k).bits(2).activation(act).za(s ? 127 : 255).data(data)
            .output(GemmOutput::kRequantized).Test();
        if (HasFatalFailure()) return;
      }
    }
  }
}

// fp32: magnitudes over 2^[-60, 60] in the products, both signs: the bound holds.
TEST_P(LutGemmTest, Fp32WideRange) {
  for (int bits : {4, 2}) {
    for (int64_t k : {int64_t{1}, int64_t{300}, int64_t{4099}, kLutGemmMaxK}) {
      SCOPED_TRACE(testing::Message() << "bits " << bits << " k " << k);
      LutGemmTester().m(3).n(6).k(k).bits(bits).per_row(true).data(LutData::kWideRange).Test();
      if (HasFatalFailure()) return;
    }
  }
}

TEST_P(LutGemmTest, ThreadsGiveTheSameBytes) {
#ifdef QKERN_TEST_EMULATED
  GTEST_SKIP() << "threads hang under this qemu-user (tests/CMakeLists.txt)";
#else
  ThreadPool pool(3);
  for (LutActivation act : kActivations) {
    for (int64_t m : {1, 7, 40, 50}) {
      std::vector<uint8_t> one, many;
      LutGemmTester t;
      t.m(m).n(70).k(1030).activation(act).za(MidZeroPoint(act)).per_row(true)
          .output(act == LutActivation::kFp32 ? GemmOutput::kFloat : GemmOutput::kRequantized);
      t.Test(&one);
      if (HasFatalFailure()) return;
      t.pool(pool.parallel_for()).Test(&many);
      if (HasFatalFailure()) return;
      EXPECT_EQ(one, many) << "m " << m;
    }
  }
#endif
}

TEST_P(LutGemmTest, RowBlocks) {
  // fp32 rows of K = 20000 are 80 KB: a task's rows split into several blocks.
  LutGemmTester().m(11).n(6).k(20000).bits(2).Test();
  if (HasFatalFailure()) return;
  LutGemmTester().m(70).n(5).k(3000).activation(LutActivation::kU8).za(7).Test();
}

TEST(LutGemmCodebook, QuantizeRule) {
  const float c[4] = {-1.0f, 0.25f, 0.5f, 0.004f};
  int8_t q[4];
  float s = 0;
  ASSERT_TRUE(quantize_codebook_int8(c, 4, q, &s).ok());
  EXPECT_EQ(s, 1.0f / 127.0f);
  EXPECT_EQ(q[0], -127);
  EXPECT_EQ(q[1], 32);  // 31.75
  EXPECT_EQ(q[2], 64);  // 63.5: ties to even
  EXPECT_EQ(q[3], 1);   // 0.508
  const float zeros[2] = {0.0f, -0.0f};
  ASSERT_TRUE(quantize_codebook_int8(zeros, 2, q, &s).ok());
  EXPECT_EQ(s, 1.0f);
  EXPECT_EQ(q[0], 0);
  EXPECT_EQ(q[1], 0);
  const float tiny[2] = {1e-44f, -1e-45f};  // max|C| / 127 underflows
  ASSERT_TRUE(quantize_codebook_int8(tiny, 2, q, &s).ok());
  EXPECT_GT(s, 0.0f);
  EXPECT_EQ(q[0], 1);
  const float bad[2] = {1.0f, std::numeric_limits<float>::quiet_NaN()};
  const Status st = quantize_codebook_int8(bad, 2, q, &s);
  EXPECT_EQ(st.code(), StatusCode::kOutOfRange);
  EXPECT_EQ(st.message().rfind("codebook[1]", 0), 0u) << st.message();
}

TEST(LutGemmCodebook, ScalesAccessor) {
  std::vector<uint8_t> idx(3 * 4, 0x10);
  std::vector<float> book(3 * 16);
  for (size_t i = 0; i < book.size(); ++i) book[i] = 0.01f * static_cast<float>(i) - 0.2f;
  LutGemmParams p;
  p.n = 3;
  p.k = 8;
  p.indices = idx.data();
  p.indices_size = static_cast<int64_t>(idx.size());
  p.codebook = book.data();
  p.codebook_size = static_cast<int64_t>(book.size());
  p.codebook_per_row = true;
  LutGemm f32;
  ASSERT_TRUE(LutGemm::create(p, &f32).ok());
  EXPECT_EQ(f32.codebook_scales(), nullptr);
  p.activation = LutActivation::kS8;
  p.output = GemmOutput::kInt32;
  LutGemm q;
  ASSERT_TRUE(LutGemm::create(p, &q).ok());
  ASSERT_NE(q.codebook_scales(), nullptr);
  for (int n = 0; n < 3; ++n) {
    int8_t codes[16];
    float s = 0;
    ASSERT_TRUE(quantize_codebook_int8(book.data() + 16 * n, 16, codes, &s).ok());
    EXPECT_EQ(q.codebook_scales()[n], s) << n;
  }
}

// Every bad argument: an error naming it, and the output untouched.
class LutGemmErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    idx.assign(64 * 32, 0x21);
    book.assign(16 * 64, 0.25f);
    p.n = 64;
    p.k = 64;
    p.indices = idx.data();
    p.indices_size = static_cast<int64_t>(idx.size());
    p.codebook = book.data();
    p.codebook_size = 16;
  }
  void ExpectError(const LutGemmParams& q, StatusCode code, const std::string& prefix) {
    LutGemm gemm;
    const Status s = LutGemm::create(q, &gemm);
    EXPECT_EQ(s.code(), code) << s.to_string();
    EXPECT_EQ(s.message().rfind(prefix, 0), 0u) << s.message();
    EXPECT_FALSE(gemm.valid());
  }
  std::vector<uint8_t> idx;
  std::vector<float> book;
  LutGemmParams p;
};

TEST_F(LutGemmErrors, Create) {
  LutGemmParams q = p;
  q.n = 0;
  ExpectError(q, StatusCode::kInvalidArgument, "n:");
  q = p;
  q.k = kLutGemmMaxK + 1;
  ExpectError(q, StatusCode::kOutOfRange, "k:");
  q = p;
  q.bits = 3;
  ExpectError(q, StatusCode::kInvalidArgument, "bits:");
  q.bits = 8;
  ExpectError(q, StatusCode::kInvalidArgument, "bits:");
  q = p;
  q.output = GemmOutput::kInt32;
  ExpectError(q, StatusCode::kInvalidArgument, "output:");
  q = p;
  const int32_t bias[64] = {};
  q.bias = bias;
  ExpectError(q, StatusCode::kInvalidArgument, "bias:");
  q = p;
  q.indices = nullptr;
  ExpectError(q, StatusCode::kInvalidArgument, "indices:");
  q = p;
  q.ld_indices = 31;
  ExpectError(q, StatusCode::kOutOfRange, "ld_indices:");
  q = p;
  q.indices_size = 64 * 32 - 1;
  ExpectError(q, StatusCode::kOutOfRange, "indices_size:");
  q = p;
  q.ld_indices = std::numeric_limits<int64_t>::max() / 2;
  ExpectError(q, StatusCode::kOverflow, "ld_indices:");
  q = p;
  q.codebook = nullptr;
  ExpectError(q, StatusCode::kInvalidArgument, "codebook:");
  q = p;
  q.codebook_size = 15;
  ExpectError(q, StatusCode::kInvalidArgument, "codebook_size:");
  q.codebook_per_row = true;
  q.codebook_size = 16;
  ExpectError(q, StatusCode::kInvalidArgument, "codebook_size:");
  q = p;
  q.bits = 2;
  ExpectError(q, StatusCode::kInvalidArgument, "codebook_size:");  // 16 floats for a 4-entry codebook
  q = p;
  book[5] = std::numeric_limits<float>::infinity();
  ExpectError(q, StatusCode::kOutOfRange, "codebook[5]:");
  book[5] = std::numeric_limits<float>::quiet_NaN();
  ExpectError(q, StatusCode::kOutOfRange, "codebook[5]:");
  book[5] = 0.25f;
  // Quantized activations: the int8 GEMM's checks and names.
  q = p;
  q.activation = LutActivation::kU8;
  q.output = GemmOutput::kRequantized;
  q.activation_zero_point = 256;
  ExpectError(q, StatusCode::kOutOfRange, "activation_zero_point:");
  q.activation_zero_point = 0;
  q.output_scale = 0.0f;
  ExpectError(q, StatusCode::kOutOfRange, "output_scale:");
  q.output_scale = 1e-30f;  // the fixed-point multiplier of codebook scale / output scale overflows
  q.scheme = RequantScheme::kFixedPoint;
  ExpectError(q, StatusCode::kOutOfRange, "codebook_scale[0]:");
  q.scheme = RequantScheme::kFp32;
  q.output_scale = 1.0f;
  q.lo = 200;
  q.hi = 100;
  ExpectError(q, StatusCode::kOutOfRange, "lo:");
  q = p;
  q.activation = LutActivation::kS8;
  q.output = GemmOutput::kFloat;
  q.activation_scale = std::numeric_limits<float>::quiet_NaN();
  ExpectError(q, StatusCode::kOutOfRange, "activation_scale:");
  q = p;
  q.activation_7bit = true;
  ExpectError(q, StatusCode::kInvalidArgument, "activation_7bit:");
  q.activation = LutActivation::kS8;
  q.output = GemmOutput::kInt32;
  ExpectError(q, StatusCode::kInvalidArgument, "activation_7bit:");
  q = p;
  q.activation = static_cast<LutActivation>(7);
  ExpectError(q, StatusCode::kInvalidArgument, "activation:");
  EXPECT_EQ(LutGemm::create(p, nullptr).code(), StatusCode::kInvalidArgument);
}

TEST_F(LutGemmErrors, Run) {
  LutGemm gemm;
  std::vector<float> x(64 * 4, 1.0f), y(64 * 4, -7.0f);
  EXPECT_EQ(gemm.run(x.data(), 1, 64, y.data(), 64).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(LutGemm::create(p, &gemm).ok());
  EXPECT_EQ(gemm.run(x.data(), -1, 64, y.data(), 64).message().rfind("m:", 0), 0u);
  EXPECT_EQ(gemm.run(x.data(), 1, 63, y.data(), 64).message().rfind("ldx:", 0), 0u);
  EXPECT_EQ(gemm.run(x.data(), 1, 64, y.data(), 63).message().rfind("ldy:", 0), 0u);
  EXPECT_EQ(gemm.run(nullptr, 1, 64, y.data(), 64).message().rfind("x:", 0), 0u);
  EXPECT_EQ(gemm.run(x.data(), 1, 64, nullptr, 64).message().rfind("y:", 0), 0u);
  EXPECT_EQ(gemm.run(x.data(), 2, std::numeric_limits<int64_t>::max() / 2, y.data(), 64).code(),
            StatusCode::kOverflow);
  EXPECT_EQ(gemm.run(x.data(), 2, 64, y.data(), std::numeric_limits<int64_t>::max() / 2).code(),
            StatusCode::kOverflow);
  for (float v : y) ASSERT_EQ(v, -7.0f);
  EXPECT_TRUE(gemm.run(nullptr, 0, 64, nullptr, 64).ok());
  ASSERT_TRUE(gemm.run(x.data(), 4, 64, y.data(), 64).ok());
  EXPECT_EQ(y[0], 0.25f * 64);
}

QKERN_INSTANTIATE_ISA_TEST(LutGemmTest);

}  // namespace
}  // namespace test
}  // namespace qkern
