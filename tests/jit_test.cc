// tests/jit_test.cc: the JIT (jit/): generated GEMM kernels against the
// reference through the GEMM family's tester (the same one the AOT kernels
// pass), the code cache, W^X, concurrency, and the fallback when generation
// fails. x86-64 only (QKERN_HAVE_JIT); elsewhere the AOT kernels serve.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "qkern/qkern.hpp"
#include "reference/gemm_ref.h"
#include "tests/conv_tester.h"
#include "tests/gemm_tester.h"
#include "tests/lut_gemm_tester.h"
#include "tests/test_util.h"

#if QKERN_HAVE_JIT
#include <unistd.h>

#include "jit/code_cache.h"
#include "jit/gemm_jit.h"
#include "jit/jit_generator.h"
#endif

namespace qkern {
namespace test {
namespace {

#if QKERN_HAVE_JIT

bool JitIsa(Isa isa) { return isa == Isa::kAvx2 || isa == Isa::kAvx512 || isa == Isa::kAvx512Vnni; }

// Lines of this process's perf map (flushed first) containing `text`; -1
// when there is no map (QKERN_JIT_PERF_MAP=0).
int PerfMapLinesWith(const std::string& text) {
  jit::flush_perf_map();
  std::ifstream map("/tmp/perf-" + std::to_string(getpid()) + ".map");
  if (!map) return -1;
  int found = 0;
  for (std::string line; std::getline(map, line);) found += line.find(text) != std::string::npos;
  return found;
}

class JitGemmTest : public IsaTest {
 protected:
  void SetUp() override {
    IsaTest::SetUp();
    if (IsSkipped()) return;
    if (!JitIsa(isa())) GTEST_SKIP() << isa_name(isa()) << " has no JIT generator (AOT only)";
    jit::set_enabled_for_test(true);
  }
  void TearDown() override {
    jit::reset_enabled_for_test();
    jit::set_fail_for_test(false);
    IsaTest::TearDown();
  }
};

// The rows of the config's A panel (MR) and its NR, from an AOT kernel name
// such as qgemm_u8s8_s32_6x64c4__avx512_vnni.
void TileOf(Isa isa, int64_t n, int64_t* mr, int64_t* nr) {
  const bool narrow = isa == Isa::kAvx512Vnni && n <= 32;
  *mr = narrow ? 8 : 6;
  *nr = isa == Isa::kAvx2 ? 16 : isa == Isa::kAvx512 ? 32 : (narrow ? 32 : 64);
}

// Every rows-computed count of the tile (M = 1 .. MR and a multi-panel M),
// whole and tail column panels, K across the unrolled range, its end and the
// looped range, every JIT output kind, per-channel and folded multipliers,
// clamps and zero points at both ends; byte for byte with the reference,
// with the JIT (its kernel named) and without it (the AOT kernels).
TEST_P(JitGemmTest, ConfSweepMatchesReference) {
  std::vector<int64_t> ks;
  for (int64_t k = 1; k <= 40; ++k) ks.push_back(k);
  for (int64_t k : {47, 61, 64, 97, 127, 128, 191, 192, 193, 199, 200, 255, 256, 257, 300, 383, 384, 385, 768,
                    1000, 1024}) {
    ks.push_back(k);
  }
  struct Out {
    GemmOutput kind;
    bool out_signed;
  };
  const Out outs[] = {{GemmOutput::kRequantized, false}, {GemmOutput::kRequantized, true},
                      {GemmOutput::kInt32, false}, {GemmOutput::kFloat, false}};
  int64_t mr = 0, nr = 0;
  TileOf(isa(), 100, &mr, &nr);
  for (bool jit_on : {true, false}) {
    jit::set_enabled_for_test(jit_on);
    for (int64_t k : ks) {
      // Fewer shapes for the long K values: they share the tile code paths.
      const bool small_k = k <= 40 || k == 64 || k == 200;
      for (const Out& o : outs) {
        // nr + 3 nr / 4 + 5: a second panel of whole vectors, some narrowed
        // two rows at a time, then a lone one and a partial one.
        for (int64_t n : {nr, nr + 5, int64_t{7}, 2 * nr + 13, nr + 3 * nr / 4 + 5}) {
          if (!small_k && n == int64_t{7}) continue;
          for (int64_t m = 1; m <= mr + 7; ++m) {
            if (!small_k && m != 1 && m != mr && m != mr + 7) continue;
            SCOPED_TRACE("k " + std::to_string(k) + " n " + std::to_string(n) + " m " + std::to_string(m));
            const int32_t zo = o.out_signed ? (m % 2 ? -128 : 127) : (m % 2 ? 0 : 255);
            GemmTester t;
            t.m(m).n(n).k(k).output(o.kind).out_signed(o.out_signed).zo(zo).seed(static_cast<uint32_t>(k * 131 + m));
            t.per_channel(m % 3 != 0).a_signed(m % 2 == 0);
            if (m % 4 == 1) t.clamp(o.out_signed ? -100 : 20, o.out_signed ? 90 : 200);
            if (m == 2) t.lda(k + 9).ldc(n + 3);
            // avx2/avx512 pick the vpmaddubsw config (AOT) when create() proves it
            // exact, which random weights of small K can be: names are checked
            // on avx512_vnni here and on every ISA by AdversarialData.
            if (jit_on && isa() == Isa::kAvx512Vnni) t.expect_kernel("_jit__");
            t.Test();
            if (HasFatalFailure()) return;
          }
        }
      }
    }
  }
}

// K <= kGemmJitPrefetchMaxK with packed weights beyond
// kGemmJitPrefetchMinBytes: QGemm's c4 kernels prefetch W (reads past the
// last panel included; a prefetch never faults). Byte for byte, every rows
// count, in place (lda = k) and packed A, a tail panel; on avx512_vnni the
// prefetching kernels must be the ones generated.
TEST_P(JitGemmTest, PrefetchingShortPanelsMatchReference) {
  int64_t mr = 0, nr = 0;
  TileOf(isa(), 1000, &mr, &nr);
  for (int64_t k : {4, 27, 61, 64}) {
    const int64_t k_pad = (k + 3) / 4 * 4;
    const int64_t n = (jit::kGemmJitPrefetchMinBytes / k_pad / nr + 1) * nr + 13;  // past the threshold, a tail
    for (int64_t m : {int64_t{1}, int64_t{2}, int64_t{3}, mr, mr + 7}) {
      for (bool u8 : {true, false}) {
        SCOPED_TRACE("k " + std::to_string(k) + " n " + std::to_string(n) + " m " + std::to_string(m));
        GemmTester t;
        t.m(m).n(n).k(k).seed(static_cast<uint32_t>(k * 7 + m)).per_channel(m % 2 == 1);
        t.output(u8 ? GemmOutput::kRequantized : GemmOutput::kInt32).a_signed(m == 2);
        if (m == 3) t.lda(k + 5);  // packed A (in place needs lda = k)
        if (isa() == Isa::kAvx512Vnni) t.expect_kernel("_jit__");
        t.Test();
        if (HasFatalFailure()) return;
      }
    }
  }
  if (isa() != Isa::kAvx512Vnni) return;  // c2 configs do not prefetch
  const std::string pf = "_pf" + std::to_string(jit::kGemmJitPrefetchBytes) + "__";
  const int found = PerfMapLinesWith(pf);
  if (found < 0) GTEST_SKIP() << "no /tmp/perf-<pid>.map (QKERN_JIT_PERF_MAP=0?) to find the kernels' names in";
  EXPECT_GT(found, 0) << "no generated kernel named *" << pf << "*";
}

// A task of one row panel runs its whole panels in one JIT call (the W
// panel stride, C and the per-channel arrays stepped in the kernel), then the
// tail: runs of 1 to 9 panels, alone and split among threads (tasks starting
// at a later panel), every rows count, the per-channel arrays differing per
// column; several row panels share a call per row panel where the task's W
// fits kGemmJitRunBytes (K = 3, 27, some of 64 and 200) and take one per
// panel beyond.
TEST_P(JitGemmTest, PanelRunsMatchReference) {
  int64_t mr = 0, nr = 0;
  TileOf(isa(), 1000, &mr, &nr);
  ThreadPool pool(3);
  for (int64_t k : {3, 27, 64, 200}) {
    for (int64_t n : {2 * nr, 5 * nr + 3, 9 * nr + 1}) {
      for (int64_t m = 1; m <= mr + 1; ++m) {
        for (bool threads : {false, true}) {
          SCOPED_TRACE("k " + std::to_string(k) + " n " + std::to_string(n) + " m " + std::to_string(m) +
                       (threads ? " threaded" : ""));
          GemmTester t;
          t.m(m).n(n).k(k).seed(static_cast<uint32_t>(k + 31 * m + n)).per_channel(true);
          t.output(m % 3 == 0 ? GemmOutput::kFloat : m % 3 == 1 ? GemmOutput::kRequantized : GemmOutput::kInt32);
          if (m == 2) t.ldc(n + 7);
          if (threads) t.pool(pool.parallel_for());
          if (isa() == Isa::kAvx512Vnni) t.expect_kernel("_jit__");
          t.Test();
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST_P(JitGemmTest, AdversarialData) {
  int64_t mr = 0, nr = 0;
  TileOf(isa(), 100, &mr, &nr);
  for (GemmData d : {GemmData::kMaxPositive, GemmData::kMaxNegative, GemmData::kAlternating}) {
    for (int64_t k : {27, 64, 255, 1024}) {
      GemmTester().m(mr + 1).n(nr + 3).k(k).data(d).output(GemmOutput::kInt32).expect_kernel("_jit__").Test();
      GemmTester().m(mr).n(nr + 3).k(k).data(d).za(0).expect_kernel("_jit__").Test();
      GemmTester().m(3).n(nr).k(k).data(d).a_signed(true).za(-128).output(GemmOutput::kFloat)
          .expect_kernel("_jit__").Test();
    }
  }
}

// sa * sw / so overflowing to +inf: acc = 0 gives NaN, which must give zo
// (the NaN-select epilogue, "_nan" kernels), other sums the clamp bounds.
TEST_P(JitGemmTest, InfiniteMultiplier) {
  const int64_t m = 5, n = 70, k = 6;
  std::vector<uint8_t> a(m * k);
  std::vector<int8_t> w(n * k);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i < static_cast<size_t>(k) ? 10 : 10 + i % 7);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int8_t>(i % 5 == 0 ? 0 : 100 - static_cast<int>(i % 200));
  std::vector<float> ws(n, 1e10f);
  ws[3] = 1e-30f;  // one finite multiplier: not folded
  QGemmParams p;
  p.n = n;
  p.k = k;
  p.activation_zero_point = 10;
  p.activation_scale = 1e30f;
  p.weights = w.data();
  p.weight_scale = ws.data();
  p.output_zero_point = 77;
  QGemm g;
  ASSERT_TRUE(QGemm::create(p, &g).ok());
  EXPECT_NE(g.kernel().find("_jit__"), std::string::npos) << g.kernel();
  std::vector<uint8_t> c(m * n), want(m * n);
  ASSERT_TRUE(g.run(a.data(), m, k, c.data(), n).ok());
  ref::gemm(p, a.data(), m, k, want.data(), n);
  EXPECT_EQ(c, want);
  EXPECT_EQ(c[0], 77);  // row 0 reads a = za only: acc 0 times inf
}

// Finite multipliers at and around 1, per channel and per tensor: below 1
// the grouped codes clamp above in int16 words (no float clamp; the sums,
// with user biases at the int32 ends, cannot overflow the conversion); from
// 1 up (to 1e6, far beyond int32 after the multiply) they keep it. u8 and
// s8, with and without clamps, whole and tail panels.
TEST_P(JitGemmTest, MultipliersAroundOne) {
  int64_t mr = 0, nr = 0;
  TileOf(isa(), 1000, &mr, &nr);
  const int64_t m = mr, n = 2 * nr + 5, k = 64;
  std::vector<uint8_t> a(m * k);
  std::vector<int8_t> w(n * k);
  std::vector<int32_t> bias(n);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i * 97 + 13);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int8_t>(i * 53 + 7);
  for (int64_t j = 0; j < n; ++j) {
    bias[j] = j % 5 == 0   ? INT32_MAX - 1000
              : j % 5 == 1 ? INT32_MIN + 1000
                           : static_cast<int32_t>(j * 7919 % 20001) - 10000;
  }
  const float below = std::nextafter(1.0f, 0.0f);
  const std::vector<std::vector<float>> scale_sets = {
      {below}, {1.0f}, {below, 0.25f, 1e-4f, 0.5f}, {below, 1.0f, 0.25f}, {1.5f, 1e6f, 3.0f}, {2e-3f}};
  for (const auto& set : scale_sets) {
    for (bool s8 : {false, true}) {
      for (bool clamp : {false, true}) {
        std::vector<float> ws(n);
        for (int64_t j = 0; j < n; ++j) ws[j] = set[j % set.size()];
        QGemmParams p;
        p.n = n;
        p.k = k;
        p.weights = w.data();
        p.weight_scale = ws.data();
        p.weight_scale_per_channel = set.size() > 1;
        p.bias = bias.data();
        p.activation_scale = 1.0f;
        p.output_scale = 1.0f;
        p.output_range.is_signed = s8;
        p.output_zero_point = s8 ? -3 : 130;
        if (clamp) {
          p.lo = s8 ? -60 : 40;
          p.hi = s8 ? 70 : 220;
        }
        SCOPED_TRACE("scales " + std::to_string(set[0]) + " x" + std::to_string(set.size()) + (s8 ? " s8" : " u8") +
                     (clamp ? " clamped" : ""));
        QGemm g;
        ASSERT_TRUE(QGemm::create(p, &g).ok());
        EXPECT_NE(g.kernel().find("_jit__"), std::string::npos) << g.kernel();
        for (int64_t rows : {int64_t{1}, m}) {
          std::vector<uint8_t> c(rows * n), want(rows * n);
          ASSERT_TRUE(g.run(a.data(), rows, k, c.data(), n).ok());
          ref::gemm(p, a.data(), rows, k, want.data(), n);
          ASSERT_EQ(c, want) << g.kernel() << " rows " << rows;
        }
      }
    }
  }
}

// The lookup GEMM's JIT kernels (quantized activations): every rows count
// (1..MR and several row groups), whole and partial groups of panels (N
// below, at and above a group, N % 4 != 0), K from 1 across the unrolled and
// looped block counts, both bit widths and table layouts, both activation
// types, every JIT output kind, clamps and zero points at both ends; byte
// for byte with the reference, with the JIT (its kernel named) and without.
TEST_P(JitGemmTest, LutConfSweepMatchesReference) {
  struct Out {
    GemmOutput kind;
    bool out_signed;
  };
  const Out outs[] = {{GemmOutput::kRequantized, false}, {GemmOutput::kRequantized, true},
                      {GemmOutput::kInt32, false}, {GemmOutput::kFloat, false}};
  const int64_t mr = isa() == Isa::kAvx2 ? 2 : 4;
  for (bool jit_on : {true, false}) {
    jit::set_enabled_for_test(jit_on);
    for (int bits : {4, 2}) {
      for (int64_t k : {1, 2, 3, 7, 16, 33, 64, 100, 127, 128, 129, 200, 255, 256, 257, 300, 513, 1000}) {
        const bool small_k = k <= 129;
        for (const Out& o : outs) {
          // Groups of 1-4 panels (avx512: 4 at one row, 2 at two): whole, and
          // partial last groups of every panel count.
          for (int64_t n : {1, 3, 4, 5, 8, 10, 12, 13, 16, 17, 27, 31, 36, 44, 61}) {
            if (!small_k && n != 10 && n != 13 && n != 61) continue;
            for (int64_t m = 1; m <= 2 * mr + 1; ++m) {
              if (!small_k && m != 1 && m != mr && m != 2 * mr + 1) continue;
              SCOPED_TRACE("bits " + std::to_string(bits) + " k " + std::to_string(k) + " n " + std::to_string(n) +
                           " m " + std::to_string(m));
              const int32_t zo = o.out_signed ? (m % 2 ? -128 : 127) : (m % 2 ? 0 : 255);
              LutGemmTester t;
              t.m(m).n(n).k(k).bits(bits).output(o.kind).out_signed(o.out_signed).zo(zo);
              t.seed(static_cast<uint32_t>(k * 131 + m * 7 + n));
              t.per_row((m + n) % 3 != 0).activation(m % 2 == 0 ? LutActivation::kS8 : LutActivation::kU8);
              t.za(m % 2 == 0 ? -3 : 130);
              if (m % 4 == 1) t.clamp(o.out_signed ? -100 : 20, o.out_signed ? 90 : 200);
              if (m == 2) t.ldx(k + 9).ldy(n + 3);
              if (jit_on) t.expect_kernel("_jit");
              t.Test();
              if (HasFatalFailure()) return;
            }
          }
        }
      }
    }
  }
}

TEST_P(JitGemmTest, LutAdversarialData) {
  const int64_t mr = isa() == Isa::kAvx2 ? 2 : 4;
  for (LutData d : {LutData::kMaxPositive, LutData::kMaxNegative, LutData::kAlternating}) {
    for (int bits : {4, 2}) {
      for (int64_t k : {27, 64, 255, 1024, 4099}) {
        LutGemmTester().m(mr + 1).n(21).k(k).bits(bits).data(d).activation(LutActivation::kU8)
            .output(GemmOutput::kInt32).expect_kernel("_jit").Test();
        LutGemmTester().m(mr).n(19).k(k).bits(bits).data(d).activation(LutActivation::kU8).za(0).per_row(true)
            .expect_kernel("_jit").Test();
        LutGemmTester().m(3).n(16).k(k).bits(bits).data(d).activation(LutActivation::kS8).za(-128)
            .output(GemmOutput::kFloat).expect_kernel("_jit").Test();
      }
    }
  }
}

// Indices beyond the L2 (prefetched kernels) and a thread pool: the grid
// splits N in whole groups of panels.
TEST_P(JitGemmTest, LutLargeAndThreaded) {
  ThreadPool pool(3);
  LutGemmTester().m(1).n(1030).k(1500).bits(4).per_row(true).activation(LutActivation::kU8)
      .expect_kernel("_jit").Test();
  LutGemmTester().m(5).n(777).k(2049).bits(2).activation(LutActivation::kS8).pool(pool.parallel_for())
      .expect_kernel("_jit").Test();
  LutGemmTester().m(9).n(250).k(300).bits(4).activation(LutActivation::kU8).pool(pool.parallel_for())
      .expect_kernel("_jit").Test();
}

// The 7-bit vpmaddubsw kernels and fixed-point outputs stay AOT; a failing
// generator falls back to the AOT kernels with the same bytes.
TEST_P(JitGemmTest, LutAotWhereTheJitDoesNot) {
  LutGemmTester t;
  t.m(3).n(21).k(77).activation(LutActivation::kU8).scheme(RequantScheme::kFixedPoint).Test();
  LutGemmParams p;
  std::vector<uint8_t> idx(21 * 39, 0x5a);
  std::vector<float> cb(16 * 21, 0.25f);
  p.n = 21;
  p.k = 77;
  p.indices = idx.data();
  p.indices_size = static_cast<int64_t>(idx.size());
  p.codebook = cb.data();
  p.codebook_size = static_cast<int64_t>(cb.size());
  p.codebook_per_row = true;
  p.activation = LutActivation::kU8;
  p.output = GemmOutput::kRequantized;
  p.output_scale = 0.5f;
  p.scheme = RequantScheme::kFixedPoint;
  LutGemm g;
  ASSERT_TRUE(LutGemm::create(p, &g).ok());
  EXPECT_EQ(g.kernel().find("_jit"), std::string::npos) << g.kernel();
  p.scheme = RequantScheme::kFp32;
  p.activation_7bit = true;
  ASSERT_TRUE(LutGemm::create(p, &g).ok());
  if (isa() != Isa::kAvx512Vnni) {
    EXPECT_EQ(g.kernel().find("_jit"), std::string::npos) << g.kernel();
  }
  p.activation_7bit = false;
  jit::global_cache().clear();
  jit::set_fail_for_test(true);
  LutGemmTester().m(5).n(22).k(45).activation(LutActivation::kU8).Test();
  ASSERT_TRUE(LutGemm::create(p, &g).ok());
  EXPECT_EQ(g.kernel().find("_jit"), std::string::npos) << g.kernel();
  EXPECT_GT(jit::global_cache().stats().failures, 0u);
  jit::set_fail_for_test(false);
  ASSERT_TRUE(LutGemm::create(p, &g).ok());
  EXPECT_NE(g.kernel().find("_jit"), std::string::npos) << g.kernel();
}

// Fixed-point requantization has no JIT epilogue: the AOT kernels run.
TEST_P(JitGemmTest, FixedPointStaysAot) {
  GemmTester t;
  t.m(5).n(70).k(33).scheme(RequantScheme::kFixedPoint);
  t.Test();
  QGemmParams p;
  std::vector<int8_t> w(70 * 33, 100);
  std::vector<float> s(70, 0.01f);
  p.n = 70;
  p.k = 33;
  p.weights = w.data();
  p.weight_scale = s.data();
  p.scheme = RequantScheme::kFixedPoint;
  QGemm g;
  ASSERT_TRUE(QGemm::create(p, &g).ok());
  EXPECT_EQ(g.kernel().find("_jit"), std::string::npos) << g.kernel();
}

// A failing generator (as Xbyak throwing, or no memory) is not fatal: create
// succeeds with the AOT kernels and the answers are the reference's.
TEST_P(JitGemmTest, GenerationFailureFallsBackToAot) {
  jit::global_cache().clear();
  jit::set_fail_for_test(true);
  GemmTester().m(7).n(77).k(45).Test();
  QGemmParams p;
  std::vector<int8_t> w(77 * 45, 100);  // |w0| + |w1| > 128: not the vpmaddubsw config
  std::vector<float> s(77, 0.01f);
  p.n = 77;
  p.k = 45;
  p.weights = w.data();
  p.weight_scale = s.data();
  QGemm g;
  ASSERT_TRUE(QGemm::create(p, &g).ok());
  EXPECT_EQ(g.kernel().find("_jit"), std::string::npos) << g.kernel();
  EXPECT_GT(jit::global_cache().stats().failures, 0u);
  jit::set_fail_for_test(false);
  QGemm g2;
  ASSERT_TRUE(QGemm::create(p, &g2).ok());
  EXPECT_NE(g2.kernel().find("_jit__"), std::string::npos) << g2.kernel();
}

// QConv2d's direct path falls back to im2col (same bytes) when its gather
// kernels cannot be generated, and takes the direct path once they can.
TEST_P(JitGemmTest, ConvGatherFailureFallsBackToIm2col) {
  jit::global_cache().clear();
  jit::set_fail_for_test(true);
  ConvTester().hw(9, 11).channels(3, 20).kernel(3, 3).stride(2, 2).pad(1, 1, 1, 1)
      .expect_path(ConvPath::kIm2col).Test();
  EXPECT_GT(jit::global_cache().stats().failures, 0u);
  jit::set_fail_for_test(false);
  ConvTester().hw(9, 11).channels(3, 20).kernel(3, 3).stride(2, 2).pad(1, 1, 1, 1)
      .expect_path(ConvPath::kDirect).Test();
}

// Code is never writable and executable at once, also while kernels are
// being generated on another thread.
TEST_P(JitGemmTest, NoWritableExecutableMapping) {
  std::atomic<bool> stop{false};
  std::atomic<int> made{0};
  std::thread gen([&] {
    for (uint32_t kb = 1; !stop.load() && kb < 400; ++kb) {
      jit::GemmJitConf c;
      c.isa = isa();
      c.kr = isa() == Isa::kAvx512Vnni ? 4 : 2;
      c.mr = 3;
      c.panel_mr = 6;
      c.nrv = 2;
      c.nr_valid = 5;
      c.kb = 1000 + kb;  // keys no other test uses: every one generates
      c.ep.kind = internal::GemmEpilogue::kFp32U8;
      std::string why;
      if (jit::gemm_jit_kernel(c, &why) != nullptr) made.fetch_add(1);
    }
  });
  std::string line;
  bool wx = false;
  while (made.load() < 50 && !wx) wx = jit::any_wx_mapping(&line);
  for (int i = 0; i < 200 && !wx; ++i) wx = jit::any_wx_mapping(&line);
  stop.store(true);
  gen.join();
  EXPECT_FALSE(wx) << line;
  EXPECT_GE(made.load(), 50);
}

// Eight threads create and run QGemms whose JIT Confs overlap (the cache
// generates each once; the kernels are shared), each checked byte for byte.
TEST_P(JitGemmTest, ConcurrentCreateAndRun) {
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([t, &failures] {
      for (int i = 0; i < 6; ++i) {
        const int64_t k = 20 + (t + i) % 3 * 7, n = 40 + (t * i) % 2 * 25, m = 1 + (t + 2 * i) % 9;
        std::vector<uint8_t> a(static_cast<size_t>(m * k));
        std::vector<int8_t> w(static_cast<size_t>(n * k));
        for (size_t j = 0; j < a.size(); ++j) a[j] = static_cast<uint8_t>(j * 29 + k);
        for (size_t j = 0; j < w.size(); ++j) w[j] = static_cast<int8_t>(j * 17 + n);
        std::vector<float> s(static_cast<size_t>(n), 0.004f);
        QGemmParams p;
        p.n = n;
        p.k = k;
        p.activation_zero_point = 3;
        p.weights = w.data();
        p.weight_scale = s.data();
        p.output_scale = 0.3f;
        QGemm g;
        if (!QGemm::create(p, &g).ok() || g.kernel().find("_jit__") == std::string::npos) {
          failures.fetch_add(1);
          continue;
        }
        std::vector<uint8_t> c(static_cast<size_t>(m * n)), want(c.size());
        if (!g.run(a.data(), m, k, c.data(), n).ok()) failures.fetch_add(1);
        ref::gemm(p, a.data(), m, k, want.data(), n);
        if (c != want) failures.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_P(JitGemmTest, PerfMapNamesKernels) {
  jit::GemmJitConf c;
  c.isa = isa();
  c.kr = isa() == Isa::kAvx512Vnni ? 4 : 2;
  c.mr = 2;
  c.panel_mr = 6;
  c.nrv = 1;
  c.nr_valid = 3;
  c.kb = 777;
  c.ep.kind = internal::GemmEpilogue::kInt32;
  std::string why;
  auto kernel = jit::gemm_jit_kernel(c, &why);
  ASSERT_NE(kernel, nullptr) << why;
  const int found = PerfMapLinesWith("qkern_jit:" + kernel->name());
  if (found < 0) GTEST_SKIP() << "no /tmp/perf-<pid>.map (QKERN_JIT_PERF_MAP=0?)";
  EXPECT_GT(found, 0) << kernel->name();
}

QKERN_INSTANTIATE_ISA_TEST(JitGemmTest);

// ---- the cache, on kernels that are only names (no code) ----

class FakeKernel : public jit::Kernel {
 public:
  explicit FakeKernel(std::string n) : jit::Kernel(std::move(n)) {}
  const void* entry() const override { return this; }
  size_t size() const override { return 0; }
};

TEST(JitCache, HitsMissesAndFailures) {
  jit::CodeCache cache(8);
  int made = 0;
  auto make = [&made](std::string*) -> std::shared_ptr<const jit::Kernel> {
    ++made;
    return std::make_shared<FakeKernel>("k");
  };
  auto a = cache.get("a", make);
  auto b = cache.get("a", make);
  EXPECT_EQ(a, b);
  EXPECT_EQ(made, 1);
  std::string why;
  auto fail = [](std::string* w) -> std::shared_ptr<const jit::Kernel> {
    *w = "no";
    return nullptr;
  };
  EXPECT_EQ(cache.get("f", fail, &why), nullptr);
  EXPECT_EQ(why, "no");
  EXPECT_NE(cache.get("f", make), nullptr);  // failures are not cached
  const auto s = cache.stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 3u);
  EXPECT_EQ(s.failures, 1u);
  EXPECT_EQ(s.entries, 2u);
}

TEST(JitCache, EvictionNeverFreesAKernelInUse) {
  jit::CodeCache cache(2);
  auto make = [](std::string*) -> std::shared_ptr<const jit::Kernel> { return std::make_shared<FakeKernel>("k"); };
  std::shared_ptr<const jit::Kernel> held = cache.get("0", make);
  std::weak_ptr<const jit::Kernel> dropped = cache.get("1", make);
  for (int i = 2; i < 6; ++i) cache.get(std::to_string(i), make);
  EXPECT_EQ(cache.stats().entries, 2u);
  EXPECT_EQ(cache.stats().evictions, 4u);
  EXPECT_EQ(held->name(), "k");  // evicted, still alive
  EXPECT_TRUE(dropped.expired());  // evicted and unreferenced: freed
  EXPECT_NE(cache.get("0", make), held);  // regenerated
}

TEST(JitCache, ConcurrentRequestsGenerateOnce) {
  jit::CodeCache cache(16);
  std::atomic<int> made{0}, arrived{0};
  // The generator holds its key until every thread has reached get(): the
  // others find it pending (or, arriving later, ready); no timing involved.
  auto make = [&made, &arrived](std::string*) -> std::shared_ptr<const jit::Kernel> {
    made.fetch_add(1);
    while (arrived.load() < 8) std::this_thread::yield();
    return std::make_shared<FakeKernel>("k");
  };
  std::vector<std::thread> threads;
  std::vector<std::shared_ptr<const jit::Kernel>> got(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      arrived.fetch_add(1);
      got[t] = cache.get("same", make);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(made.load(), 1);
  for (const auto& g : got) EXPECT_EQ(g, got[0]);
}

#else

TEST(JitGemm, NotBuiltOnThisArchitecture) {
  GTEST_SKIP() << "the JIT is x86-64 only: the AOT kernels serve here";
}

#endif  // QKERN_HAVE_JIT

}  // namespace
}  // namespace test
}  // namespace qkern
