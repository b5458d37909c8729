// tests/gemm_test.cc: QGemm on every ISA against reference/gemm_ref.h, byte
// for byte (GemmTester), and every bad argument.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "kernels/gemm/gemm_kernels.h"
#include "qkern/gemm.hpp"
#include "reference/gemm_ref.h"
#include "tests/gemm_tester.h"
#if QKERN_HAVE_JIT
#include "jit/jit.h"
#endif
#include "tests/test_util.h"

namespace qkern {
namespace test {
namespace {

// On avx512_amx every run of an operator with the AMX kernel takes it (from
// M = 1, not from gemm_amx_min_m(k)), so that every sweep here covers it;
// AmxPanels checks the default split.
class GemmTest : public IsaTest {
 protected:
  void SetUp() override {
    IsaTest::SetUp();
    if (isa() == Isa::kAvx512Amx) internal::set_gemm_amx_min_m_for_test(1);
  }
  void TearDown() override {
    internal::set_gemm_amx_min_m_for_test(0);
    IsaTest::TearDown();
  }
};

// Rows around every MR (1..8) and columns around every NR (8, 16, 32, 64) and
// vector width; k around every K group (2, 4) and unrolled length.
TEST_P(GemmTest, ShapeSweep) {
  for (int64_t m : {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13}) {
    for (int64_t n : {1, 3, 8, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 127, 128}) {
      for (int64_t k : {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 64, 100, 257}) {
        SCOPED_TRACE(testing::Message() << "m " << m << " n " << n << " k " << k);
        GemmTester().m(m).n(n).k(k).seed(static_cast<uint32_t>(m * 1000 + n * 10 + k)).Test();
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST_P(GemmTest, OutputsAndTypes) {
  for (bool a_signed : {false, true}) {
    for (GemmOutput out : {GemmOutput::kRequantized, GemmOutput::kInt32, GemmOutput::kFloat}) {
      for (RequantScheme scheme : {RequantScheme::kFp32, RequantScheme::kFixedPoint}) {
        for (bool out_signed : {false, true}) {
          for (bool per_channel : {false, true}) {
            for (WeightLayout layout : {WeightLayout::kNK, WeightLayout::kKN}) {
              for (bool bias : {false, true}) {
                SCOPED_TRACE(testing::Message()
                             << "a_signed " << a_signed << " out " << int(out) << " scheme "
                             << int(scheme) << " out_signed " << out_signed << " per_channel "
                             << per_channel << " kn " << int(layout) << " bias " << bias);
                GemmTester()
                    .m(7).n(37).k(67)
                    .a_signed(a_signed).za(a_signed ? -3 : 131)
                    .output(out).scheme(scheme).out_signed(out_signed).zo(out_signed ? -5 : 120)
                    .per_channel(per_channel).layout(layout).bias(bias)
                    .Test();
                if (HasFatalFailure()) return;
              }
            }
          }
        }
      }
    }
  }
}

TEST_P(GemmTest, ZeroPointsAtBothEnds) {
  for (bool a_signed : {false, true}) {
    for (int32_t za : a_signed ? std::vector<int32_t>{-128, 127} : std::vector<int32_t>{0, 255}) {
      for (bool out_signed : {false, true}) {
        for (int32_t zo : out_signed ? std::vector<int32_t>{-128, 127} : std::vector<int32_t>{0, 255}) {
          for (RequantScheme scheme : {RequantScheme::kFp32, RequantScheme::kFixedPoint}) {
            SCOPED_TRACE(testing::Message() << "za " << za << " zo " << zo << " scheme " << int(scheme));
            GemmTester().m(6).n(19).k(45).a_signed(a_signed).za(za).out_signed(out_signed).zo(zo)
                .scheme(scheme).Test();
            if (HasFatalFailure()) return;
          }
        }
      }
    }
  }
}

TEST_P(GemmTest, FusedClamps) {
  // ReLU and ReLU6-like clamps, in codes, and clamps beyond the code range.
  GemmTester().m(9).n(40).k(70).zo(10).clamp(10, 255).Test();
  GemmTester().m(9).n(40).k(70).zo(10).clamp(10, 70).Test();
  GemmTester().m(9).n(40).k(70).out_signed(true).zo(-20).clamp(-20, 40).Test();
  GemmTester().m(9).n(40).k(70).out_signed(true).clamp(-1000, 1000).Test();
  GemmTester().m(9).n(40).k(70).scheme(RequantScheme::kFixedPoint).zo(3).clamp(50, 60).Test();
}

TEST_P(GemmTest, Strides) {
  GemmTester().m(11).n(21).k(35).lda(40).ldc(29).Test();
  GemmTester().m(11).n(21).k(35).lda(35).ldc(21).ldw(50).Test();
  GemmTester().m(11).n(21).k(35).layout(WeightLayout::kKN).ldw(24).lda(64).ldc(100).Test();
  GemmTester().m(3).n(17).k(9).output(GemmOutput::kInt32).ldc(19).lda(100).Test();
  GemmTester().m(3).n(17).k(9).output(GemmOutput::kFloat).ldc(18).Test();
}

// Full-range operands that saturate vpmaddubsw (255 * 127 * 2 > 32767).
TEST_P(GemmTest, AdversarialFullRange) {
  for (GemmData data : {GemmData::kMaxPositive, GemmData::kMaxNegative, GemmData::kAlternating}) {
    for (bool a_signed : {false, true}) {
      for (int64_t k : {2, 16, 1000}) {
        SCOPED_TRACE(testing::Message() << "data " << int(data) << " a_signed " << a_signed << " k " << k);
        GemmTester().m(5).n(33).k(k).a_signed(a_signed).data(data).output(GemmOutput::kInt32).Test();
        GemmTester().m(5).n(33).k(k).a_signed(a_signed).za(a_signed ? 127 : 255).data(data)
            .output(GemmOutput::kInt32).Test();
        GemmTester().m(5).n(33).k(k).a_signed(a_signed).data(data).Test();
        if (HasFatalFailure()) return;
      }
    }
  }
}

// The largest K: sums reach 65793 * 255 * 128 = 2^31 - 8832 in magnitude.
// Requantization multipliers (sa * sw / so) at the ends of float: finite
// ones whose products leave int32 or reach +-inf, 1 and its neighbours on
// sums that wrap next to INT32_MAX / INT32_MIN through the bias, tiny ones;
// and an infinite one (0 * inf = NaN -> zo), which takes the NaN-guarded
// epilogue. AOT and (on x86) JIT epilogues, u8 and s8, byte for byte.
TEST_P(GemmTest, ExtremeMultipliers) {
  const int64_t n = 40, k = 70;
  const float mults[] = {1e30f, 3e38f, 1.0f, 0.99999994f, 1.0000001f, 2.0f, 0.5f, 1e-30f, 4e9f, 1e-9f};
  std::vector<int8_t> w(static_cast<size_t>(n * k));
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int8_t>((i * 89 + 3) % 256 - 128);
  std::vector<float> ws(n);
  std::vector<int32_t> bias(n);
  for (int64_t j = 0; j < n; ++j) {
    ws[j] = mults[j % 10];
    const int32_t big[] = {std::numeric_limits<int32_t>::max() - 1000, std::numeric_limits<int32_t>::min() + 1000,
                           0, 1 << 24};
    bias[j] = big[(j / 10) % 4];
  }
  for (int64_t m : {int64_t{5}, int64_t{40}}) {
    std::vector<uint8_t> a(static_cast<size_t>(m * k));
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i < static_cast<size_t>(k) ? 9 : (i * 37) % 256);
    for (bool infinite : {false, true}) {
      for (bool s8 : {false, true}) {
#if QKERN_HAVE_JIT
        for (bool jit_on : {true, false}) {
          jit::set_enabled_for_test(jit_on);
#endif
          QGemmParams p;
          p.n = n;
          p.k = k;
          p.activation_zero_point = 9;  // row 0 sums to the bias alone
          p.activation_scale = infinite ? 1e30f : 1.0f;
          p.weights = w.data();
          p.weight_scale = ws.data();
          p.bias = bias.data();
          p.output_scale = 1.0f;
          p.output_range.is_signed = s8;
          p.output_zero_point = s8 ? -7 : 77;
          QGemm g;
          ASSERT_TRUE(QGemm::create(p, &g).ok());
          std::vector<uint8_t> c(static_cast<size_t>(m * n), 0xcd), want(static_cast<size_t>(m * n));
          ASSERT_TRUE(g.run(a.data(), m, k, c.data(), n).ok());
          ref::gemm(p, a.data(), m, k, want.data(), n);
          ASSERT_EQ(c, want) << g.kernel() << " m " << m << " infinite " << infinite << " s8 " << s8;
#if QKERN_HAVE_JIT
        }
        jit::reset_enabled_for_test();
#endif
      }
    }
  }
}

TEST_P(GemmTest, LargestK) {
  for (GemmData data : {GemmData::kMaxPositive, GemmData::kMaxNegative, GemmData::kAlternating}) {
    GemmTester().m(2).n(3).k(kQGemmMaxK).data(data).za(0).output(GemmOutput::kInt32).bias(false).Test();
    GemmTester().m(2).n(3).k(kQGemmMaxK).data(data).za(255).output(GemmOutput::kInt32).bias(false).Test();
    GemmTester().m(1).n(2).k(kQGemmMaxK).a_signed(true).data(data).za(-128).output(GemmOutput::kInt32)
        .bias(false).Test();
  }
}

// vpmaddubsw is used only where it is exact; the other ISAs run their exact kernels.
TEST_P(GemmTest, MaddubsOnlyWhenProven) {
  const bool x86_no_vnni = isa() == Isa::kAvx2 || isa() == Isa::kAvx512;
  const std::string madd = x86_no_vnni ? "maddubs" : "";
  for (bool a_signed : {false, true}) {
    GemmTester().m(9).n(50).k(77).a_signed(a_signed).data(GemmData::kMaddubsSafe).expect_kernel(madd).Test();
    GemmTester().m(9).n(50).k(1000).a_signed(a_signed).za(a_signed ? 127 : 0)
        .data(GemmData::kMaddubsSafe).output(GemmOutput::kInt32).expect_kernel(madd).Test();
  }
  GemmTester().m(9).n(50).k(77).data(GemmData::kSmallA).expect_kernel(madd).Test();
  GemmTester().m(9).n(50).k(300).data(GemmData::kSmallA).output(GemmOutput::kInt32).expect_kernel(madd).Test();
  // Random full-range weights break the pair bound: the exact kernel runs.
  QGemmParams p;
  std::vector<int8_t> w(64, 127);
  float s = 1.0f;
  p.n = 8;
  p.k = 8;
  p.weights = w.data();
  p.weight_scale = &s;
  p.weight_scale_per_channel = false;
  QGemm g;
  ASSERT_TRUE(QGemm::create(p, &g).ok());
  EXPECT_EQ(g.kernel().find("maddubs"), std::string::npos) << g.kernel();
  // avx512_amx: this N takes the narrow avx512_vnni config, which the AMX kernel does not read.
  EXPECT_EQ(g.isa(), FamilyIsa(isa()));
  EXPECT_NE(g.kernel().find(std::string("__") + isa_name(g.isa())), std::string::npos) << g.kernel();
}

// The AMX kernel: 32-row panels of two 16-row tiles, K in blocks of 64
// (weight reads past the last panel's K land in the slack), 64-column panels
// as two 32-column halves.
TEST_P(GemmTest, AmxPanels) {
  if (isa() != Isa::kAvx512Amx) GTEST_SKIP() << "the AMX kernel runs on avx512_amx only";
  for (int64_t m : {1, 15, 16, 17, 31, 32, 33, 48, 65, 100}) {
    for (int64_t n : {33, 64, 65, 130}) {
      for (int64_t k : {1, 4, 63, 64, 65, 127, 128, 300}) {
        SCOPED_TRACE(testing::Message() << "m " << m << " n " << n << " k " << k);
        GemmTester().m(m).n(n).k(k).seed(static_cast<uint32_t>(m * 1000 + n * 10 + k))
            .a_signed(k % 2 == 1).expect_kernel("32x64c4_amx").Test();
        if (HasFatalFailure()) return;
      }
    }
  }
  // Several row blocks (A blocks of 512 KiB: 3 panels of 32 x 5056 bytes),
  // and through a pool, 16 weight panels in 2 ranges of 8.
  GemmTester().m(200).n(64).k(5000).output(GemmOutput::kInt32).expect_kernel("32x64c4_amx").Test();
  // At most 16 rows: whole 64-column panels per tile block (block16x64), long K.
  GemmTester().m(8).n(130).k(5000).a_signed(true).expect_kernel("32x64c4_amx").Test();
  ThreadPool pool(3);
  GemmTester().m(300).n(1024).k(1100).a_signed(true).pool(pool.parallel_for()).expect_kernel("32x64c4_amx").Test();
  GemmTester().m(16).n(1000).k(700).pool(pool.parallel_for()).expect_kernel("32x64c4_amx").Test();
  // K whose 32 rows of A no longer fit the workspace: the avx512_vnni kernels.
  GemmTester().m(40).n(64).k(40000).output(GemmOutput::kInt32).expect_kernel("__avx512_vnni").Test();
  // The default split: the avx512_vnni kernels below gemm_amx_min_m(k), AMX
  // from it; for K <= 32 never, and create() leaves the AMX kernel out.
  internal::set_gemm_amx_min_m_for_test(0);
  EXPECT_EQ(std::numeric_limits<int64_t>::max(), internal::gemm_amx_min_m(32));
  EXPECT_LT(internal::gemm_amx_min_m(33), std::numeric_limits<int64_t>::max());
  // K = 32: the operator's kernel (and isa()) is avx512_vnni's, no AMX in its name.
  GemmTester().m(90).n(100).k(32).expect_kernel("__avx512_vnni").Test();
  for (int64_t k : {int64_t{48}, int64_t{64}, int64_t{200}}) {
    const int64_t min_m = internal::gemm_amx_min_m(k);
    for (int64_t m : {int64_t{1}, min_m - 1, min_m, int64_t{90}}) {
      SCOPED_TRACE(testing::Message() << "m " << m << " k " << k);
      GemmTester().m(m).n(100).k(k).expect_kernel("32x64c4_amx").Test();
      if (HasFatalFailure()) return;
    }
  }
}

// qemu-user (cross builds' test runner) hangs on guest thread creation.
#ifdef QKERN_TEST_EMULATED
#define QKERN_SKIP_THREADS_UNDER_EMULATION() \
  GTEST_SKIP() << "threads: qemu-user hangs in pthread_create; tested natively"
#else
#define QKERN_SKIP_THREADS_UNDER_EMULATION() (void)0
#endif

TEST_P(GemmTest, RowBlocks) {
  // Several row blocks (A blocks of 256 KiB), each packed and swept in turn.
  GemmTester().m(300).n(40).k(1000).Test();
  GemmTester().m(130).n(17).k(3000).a_signed(true).output(GemmOutput::kInt32).Test();
}

TEST_P(GemmTest, Threads) {
  QKERN_SKIP_THREADS_UNDER_EMULATION();
  ThreadPool pool(3);
  // Row blocks as tasks, then N split for small M.
  GemmTester().m(300).n(40).k(1000).pool(pool.parallel_for()).Test();
  GemmTester().m(1).n(1000).k(300).pool(pool.parallel_for()).Test();
  GemmTester().m(37).n(300).k(200).a_signed(true).output(GemmOutput::kFloat).pool(pool.parallel_for()).Test();
}

TEST_P(GemmTest, ConcurrentRuns) {
  QKERN_SKIP_THREADS_UNDER_EMULATION();
  QGemmParams p;
  const int64_t n = 70, k = 90, m = 33;
  std::vector<int8_t> w(n * k);
  std::vector<uint8_t> a(m * k);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int8_t>(i * 37 + 11);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i * 91 + 5);
  p.n = n;
  p.k = k;
  p.weights = w.data();
  p.output = GemmOutput::kInt32;
  QGemm g;
  ASSERT_TRUE(QGemm::create(p, &g).ok());
  std::vector<int32_t> expected(m * n);
  ref::gemm(p, a.data(), m, k, expected.data(), n);
  std::vector<std::vector<int32_t>> out(4, std::vector<int32_t>(m * n));
  std::vector<std::thread> threads;
  for (auto& o : out) {
    threads.emplace_back([&g, &a, &o, m, k, n] {
      for (int r = 0; r < 20; ++r) (void)g.run(a.data(), m, k, o.data(), n);
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& o : out) EXPECT_EQ(o, expected);
}

QKERN_INSTANTIATE_ISA_TEST(GemmTest);

// ------------------------------------------------------------ bad input

class GemmErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    w_.assign(n_ * k_, 1);
    scales_.assign(n_, 0.5f);
    p_.n = n_;
    p_.k = k_;
    p_.weights = w_.data();
    p_.weight_scale = scales_.data();
    p_.activation_scale = 0.1f;
    p_.output_scale = 0.2f;
  }
  // create() fails with `code` and a message starting with `arg`, leaving the QGemm as it was.
  void ExpectCreateError(const QGemmParams& p, StatusCode code, const std::string& arg) {
    QGemm g;
    const Status s = QGemm::create(p, &g);
    EXPECT_EQ(s.code(), code) << s.to_string();
    EXPECT_EQ(s.message().rfind(arg, 0), 0u) << s.message();
    EXPECT_FALSE(g.valid());
  }
  const int64_t n_ = 5, k_ = 7;
  std::vector<int8_t> w_;
  std::vector<float> scales_;
  QGemmParams p_;
};

TEST_F(GemmErrors, Create) {
  const auto bad = StatusCode::kInvalidArgument, range = StatusCode::kOutOfRange;
  QGemmParams p = p_;
  p.n = 0;
  ExpectCreateError(p, bad, "n:");
  p = p_, p.n = -3;
  ExpectCreateError(p, bad, "n:");
  p = p_, p.k = 0;
  ExpectCreateError(p, range, "k:");
  p = p_, p.k = kQGemmMaxK + 1;
  ExpectCreateError(p, range, "k:");
  p = p_, p.activation_zero_point = 256;
  ExpectCreateError(p, range, "activation_zero_point:");
  p = p_, p.activation_zero_point = -1;
  ExpectCreateError(p, range, "activation_zero_point:");
  p = p_, p.activation_signed = true, p.activation_zero_point = 128;
  ExpectCreateError(p, range, "activation_zero_point:");
  p = p_, p.activation_signed = true, p.activation_7bit = true;
  ExpectCreateError(p, bad, "activation_7bit:");
  p = p_, p.weights = nullptr;
  ExpectCreateError(p, bad, "weights:");
  p = p_, p.ldw = k_ - 1;
  ExpectCreateError(p, range, "ldw:");
  p = p_, p.weight_layout = WeightLayout::kKN, p.ldw = n_ - 1;
  ExpectCreateError(p, range, "ldw:");
  p = p_, p.ldw = INT64_MAX / 2;
  ExpectCreateError(p, StatusCode::kOverflow, "ldw:");
  p = p_, p.weight_layout = static_cast<WeightLayout>(7);
  ExpectCreateError(p, bad, "weight_layout:");
  p = p_, p.output = static_cast<GemmOutput>(9);
  ExpectCreateError(p, bad, "output:");
  p = p_, p.scheme = static_cast<RequantScheme>(9);
  ExpectCreateError(p, bad, "scheme:");
  p = p_, p.activation_scale = 0.0f;
  ExpectCreateError(p, range, "activation_scale:");
  p = p_, p.activation_scale = INFINITY;
  ExpectCreateError(p, range, "activation_scale:");
  p = p_, p.weight_scale = nullptr;
  ExpectCreateError(p, bad, "weight_scale:");
  p = p_, scales_[3] = -1.0f;
  ExpectCreateError(p, range, "weight_scale[3]:");
  scales_[3] = NAN;
  ExpectCreateError(p, range, "weight_scale[3]:");
  scales_[3] = 0.5f;
  p = p_, p.output_scale = NAN;
  ExpectCreateError(p, range, "output_scale:");
  p = p_, p.output_zero_point = 256;
  ExpectCreateError(p, range, "output_zero_point:");
  p = p_, p.output_range.is_signed = true, p.output_zero_point = 200;
  ExpectCreateError(p, range, "output_zero_point:");
  p = p_, p.output_range.bits = 9;
  ExpectCreateError(p, range, "output_range.bits:");
  p = p_, p.lo = 200, p.hi = 100;
  ExpectCreateError(p, range, "lo:");
  p = p_, p.lo = 300;
  ExpectCreateError(p, range, "lo:");
  // kFixedPoint needs the multiplier in its range: tiny scales underflow it.
  p = p_, p.scheme = RequantScheme::kFixedPoint, p.output_scale = 1e30f;
  ExpectCreateError(p, range, "weight_scale[0]:");
  // int32 output does not need scales at all.
  p = p_, p.output = GemmOutput::kInt32, p.weight_scale = nullptr, p.activation_scale = -1.0f;
  QGemm g;
  EXPECT_TRUE(QGemm::create(p, &g).ok());
  EXPECT_EQ(QGemm::create(p_, nullptr).code(), bad);
}

TEST_F(GemmErrors, Run) {
  QGemm g;
  std::vector<uint8_t> a(64, 3), c(64, 0xcd);
  const std::vector<uint8_t> untouched = c;
  EXPECT_EQ(g.run(a.data(), 1, k_, c.data(), n_).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(QGemm::create(p_, &g).ok());
  auto expect = [&](Status s, StatusCode code, const std::string& arg) {
    EXPECT_EQ(s.code(), code) << s.to_string();
    EXPECT_EQ(s.message().rfind(arg, 0), 0u) << s.message();
    EXPECT_EQ(c, untouched);
  };
  expect(g.run(a.data(), -1, k_, c.data(), n_), StatusCode::kInvalidArgument, "m:");
  expect(g.run(a.data(), 2, k_ - 1, c.data(), n_), StatusCode::kInvalidArgument, "lda:");
  expect(g.run(a.data(), 2, k_, c.data(), n_ - 1), StatusCode::kInvalidArgument, "ldc:");
  expect(g.run(nullptr, 2, k_, c.data(), n_), StatusCode::kInvalidArgument, "a:");
  expect(g.run(a.data(), 2, k_, nullptr, n_), StatusCode::kInvalidArgument, "c:");
  expect(g.run(a.data(), INT64_MAX / 2, INT64_MAX / 4, c.data(), n_), StatusCode::kOverflow, "lda:");
  expect(g.run(a.data(), INT64_MAX / 16, k_, c.data(), INT64_MAX / 64), StatusCode::kOverflow, "ldc:");
  // M == 0 is a no-op, even with null pointers.
  EXPECT_TRUE(g.run(nullptr, 0, k_, nullptr, n_).ok());
  EXPECT_EQ(c, untouched);
}

}  // namespace
}  // namespace test
}  // namespace qkern
