// tests/threads_test.cc: every operator gives the same bytes for 1 to 8
// threads of the default pool and for an engine's hook that runs the tasks in
// reverse order (the parallel-for contract of qkern/parallel.hpp), on every
// ISA. Whether the bytes are right is the family testers' job; this is the
// schedule-independence of each run. Named *Threads* so the TSan preset runs it.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "qkern/qkern.hpp"
#include "tests/test_util.h"

namespace qkern {
namespace test {
namespace {

class ThreadsTest : public IsaTest {};

// An engine's pool of its own: one caller thread, tasks in reverse.
void ReverseRun(void* ctx, size_t n, void (*task)(void*, size_t), void* arg) {
  ++*static_cast<int*>(ctx);
  for (size_t i = n; i-- > 0;) task(arg, i);
}

// Runs `run(pf)` (which writes `out`) inline, then on pools of 1..8 threads
// and through ReverseRun, and expects the inline bytes every time.
void ExpectScheduleIndependent(std::vector<uint8_t>& out,
                               const std::function<Status(const ParallelFor&)>& run) {
  std::fill(out.begin(), out.end(), 0xA5);
  ASSERT_TRUE(run(ParallelFor()).ok());
  const std::vector<uint8_t> want = out;
#ifndef QKERN_TEST_EMULATED  // qemu-user hangs in the guest's pthread_create
  for (int t = 1; t <= 8; ++t) {
    ThreadPool pool(t);
    std::fill(out.begin(), out.end(), 0x5A);
    ASSERT_TRUE(run(pool.parallel_for()).ok()) << t << " threads";
    ASSERT_EQ(0, std::memcmp(out.data(), want.data(), out.size())) << t << " threads";
  }
#endif
  int calls = 0;
  ParallelFor reverse;
  reverse.run = ReverseRun;
  reverse.ctx = &calls;
  std::fill(out.begin(), out.end(), 0x5A);
  ASSERT_TRUE(run(reverse).ok());
  EXPECT_GT(calls, 0);
  ASSERT_EQ(0, std::memcmp(out.data(), want.data(), out.size())) << "reverse hook";
}

template <typename T>
std::vector<T> Random(size_t n, int lo, int hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(dist(rng));
  return v;
}

TEST_P(ThreadsTest, GemmOneToEightThreads) {
  // Large M (row blocks), then M = 1 and 8 (N split), each requantized and float.
  for (int64_t m : {int64_t{1}, int64_t{8}, int64_t{300}}) {
    const int64_t n = 520, k = 300;
    const auto a = Random<uint8_t>(m * k, 0, 255, 1);
    const auto w = Random<int8_t>(n * k, -128, 127, 2);
    const std::vector<float> ws(n, 0.002f);
    for (GemmOutput out : {GemmOutput::kRequantized, GemmOutput::kFloat}) {
      QGemmParams p;
      p.n = n;
      p.k = k;
      p.activation_zero_point = 100;
      p.weights = w.data();
      p.weight_scale = ws.data();
      p.output = out;
      p.output_scale = 0.5f;
      p.output_zero_point = 120;
      QGemm g;
      ASSERT_TRUE(QGemm::create(p, &g).ok());
      const size_t elem = out == GemmOutput::kFloat ? 4 : 1;
      std::vector<uint8_t> c(static_cast<size_t>(m * n) * elem);
      ExpectScheduleIndependent(c, [&](const ParallelFor& pf) {
        return g.run(a.data(), m, k, c.data(), n, pf);
      });
    }
  }
}

TEST_P(ThreadsTest, LutGemmOneToEightThreads) {
  const int64_t n = 384, k = 512;
  for (int bits : {4, 2}) {
    const int64_t row = packed_row_bytes(k, bits);
    const auto idx = Random<uint8_t>(n * row, 0, 255, 3);
    std::vector<float> cb(n << bits);
    for (size_t i = 0; i < cb.size(); ++i) cb[i] = 0.01f * static_cast<float>((i * 37) % 101) - 0.5f;
    for (LutActivation act : {LutActivation::kFp32, LutActivation::kU8}) {
      for (int64_t m : {int64_t{1}, int64_t{200}}) {
        LutGemmParams p;
        p.n = n;
        p.k = k;
        p.bits = bits;
        p.indices = idx.data();
        p.indices_size = static_cast<int64_t>(idx.size());
        p.codebook = cb.data();
        p.codebook_size = static_cast<int64_t>(cb.size());
        p.codebook_per_row = true;
        p.activation = act;
        p.activation_zero_point = 90;
        LutGemm g;
        ASSERT_TRUE(LutGemm::create(p, &g).ok());
        const auto xq = Random<uint8_t>(m * k, 0, 255, 4);
        std::vector<float> xf(m * k);
        for (size_t i = 0; i < xf.size(); ++i) xf[i] = 0.03f * static_cast<float>(xq[i]) - 3.0f;
        std::vector<uint8_t> y(static_cast<size_t>(m * n) * 4);
        const void* x = act == LutActivation::kFp32 ? static_cast<const void*>(xf.data()) : xq.data();
        ExpectScheduleIndependent(y, [&](const ParallelFor& pf) {
          return g.run(x, m, k, y.data(), n, pf);
        });
      }
    }
  }
}

TEST_P(ThreadsTest, ConvOneToEightThreads) {
  struct Geo {
    int64_t ic, oc, kh, stride, groups;
  };
  // im2col, 1x1 in place, depthwise.
  for (const Geo& geo : {Geo{8, 24, 3, 1, 1}, Geo{16, 40, 1, 1, 1}, Geo{32, 32, 3, 2, 32}}) {
    const int64_t batch = 2, h = 23, w = 19;
    QConv2dParams p;
    p.input_channels = geo.ic;
    p.output_channels = geo.oc;
    p.kernel_h = p.kernel_w = geo.kh;
    p.stride_h = p.stride_w = geo.stride;
    p.groups = geo.groups;
    if (geo.kh > 1) p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = 1;
    const auto wt = Random<int8_t>(geo.oc * geo.kh * geo.kh * (geo.ic / geo.groups), -128, 127, 5);
    const std::vector<float> ws(geo.oc, 0.003f);
    p.weights = wt.data();
    p.weight_scale = ws.data();
    p.activation_zero_point = 7;
    p.output_scale = 0.7f;
    p.output_zero_point = 30;
    QConv2d conv;
    ASSERT_TRUE(QConv2d::create(p, &conv).ok());
    int64_t oh = 0, ow = 0;
    ASSERT_TRUE(conv.output_size(h, w, &oh, &ow).ok());
    const auto x = Random<uint8_t>(batch * h * w * geo.ic, 0, 255, 6);
    std::vector<uint8_t> y(static_cast<size_t>(batch * oh * ow * geo.oc));
    ExpectScheduleIndependent(y, [&](const ParallelFor& pf) {
      return conv.run(x.data(), batch, h, w, y.data(), 0, 0, pf);
    });
  }
}

QKERN_INSTANTIATE_ISA_TEST(ThreadsTest);

#ifndef QKERN_TEST_EMULATED
// The pool itself: every task of every run exactly once, with runs back to
// back, on pools that spin between runs (the default) and on pools that never
// spin (spin 0: workers and caller take the sleeping path on every wait), with
// more tasks than threads and fewer, and a pool destroyed straight after a run
// and one never used. The assertions are on task counts alone.
TEST(ThreadPoolThreads, EveryTaskOnceAcrossSpinAndSleep) {
  struct Count {
    std::vector<std::atomic<int>> hits;
    explicit Count(size_t n) : hits(n) {}
  };
  for (int spin_us : {ThreadPool::kDefaultSpinUs, 0, -1}) {
    for (int threads : {2, 3, 8}) {
      ThreadPool pool(threads, spin_us);
      const ParallelFor pf = pool.parallel_for();
      for (int round = 0; round < 5; ++round) {
        for (size_t n : {size_t{1}, size_t{2}, size_t{5}, size_t{64}}) {
          Count c(n);
          pf.run(pf.ctx, n, [](void* arg, size_t i) { ++static_cast<Count*>(arg)->hits[i]; }, &c);
          for (size_t i = 0; i < n; ++i) {
            ASSERT_EQ(1, c.hits[i].load()) << threads << " threads, spin " << spin_us << ", task " << i;
          }
        }
      }
    }
  }
  { ThreadPool unused(4); }
}
#endif

}  // namespace
}  // namespace test
}  // namespace qkern
