// bench/bench_util.h: what the GEMM benchmarks share: shapes, medians of
// finished entries (for ratios computed within one run), a wall-clock timed
// loop, the one-core DRAM read figure and a loop that times a streaming
// kernel against the DRAM read.
#ifndef QKERN_BENCH_BENCH_UTIL_H_
#define QKERN_BENCH_BENCH_UTIL_H_

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"

namespace qkern_bench {

struct Shape {
  int64_t m, k, n;
};

inline std::string shape_name(const Shape& s) {
  return "m:" + std::to_string(s.m) + "/k:" + std::to_string(s.k) + "/n:" + std::to_string(s.n);
}
inline double gops(const Shape& s) { return 2.0 * static_cast<double>(s.m) * s.n * s.k * 1e-9; }

inline std::map<std::string, std::vector<double>>& results() {
  static std::map<std::string, std::vector<double>> r;
  return r;
}
inline void record(const std::string& key, double v) { results()[key].push_back(v); }
// The median of v (0 when empty).
inline double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}
inline double median(const std::string& key) {
  auto it = results().find(key);
  return it == results().end() ? 0 : median_of(it->second);
}
inline void ratio(benchmark::State& st, const char* name, double value, const std::string& base) {
  const double b = median(base);
  if (b > 0) st.counters[name] = value / b;
}

template <class F>
double timed_loop(benchmark::State& st, F&& f) {
  int64_t iters = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : st) {
    f(iters);
    ++iters;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return iters ? s / static_cast<double>(iters) : 0;
}

// GCC vector extensions: 16 bytes (SSE2 on x86-64, NEON on aarch64) and 64.
typedef uint64_t U64x2 __attribute__((vector_size(16)));
typedef uint64_t U64x8 __attribute__((vector_size(64)));

// Sums n 64-bit words (n a multiple of 4 vectors) with vector loads into
// four independent sums, four vectors per iteration; always inlined, so a
// caller's target attribute decides the instructions.
template <class V>
__attribute__((always_inline)) inline uint64_t sum_vectors(const uint64_t* p, size_t n) {
  constexpr size_t kWords = sizeof(V) / sizeof(uint64_t);
  V s0 = {}, s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = 0; i + 4 * kWords <= n; i += 4 * kWords) {
    V v0, v1, v2, v3;
    std::memcpy(&v0, p + i, sizeof(V));
    std::memcpy(&v1, p + i + kWords, sizeof(V));
    std::memcpy(&v2, p + i + 2 * kWords, sizeof(V));
    std::memcpy(&v3, p + i + 3 * kWords, sizeof(V));
    s0 += v0;
    s1 += v1;
    s2 += v2;
    s3 += v3;
  }
  const V t = s0 + s1 + s2 + s3;
  uint64_t r = 0;
  for (size_t i = 0; i < kWords; ++i) r += t[i];
  return r;
}

// 16-byte loads. The scalar 8-byte loop this replaces was bound by its own
// adds on Zen 5 (30 GB/s, below what the GEMV streams from DRAM).
inline uint64_t sum_words(const uint64_t* p, size_t n) { return sum_vectors<U64x2>(p, n); }

constexpr size_t kDramBytes = size_t{512} << 20;

// n words holding 0, 1, 2, ... (every page written), 64-byte aligned: a
// 64-byte load from a 16-byte aligned buffer splits a cache line every time
// (a warm 1 MiB read ran at 87 GB/s so, 183 aligned, on the Xeon VM).
struct FreeDeleter {
  void operator()(uint64_t* p) const { std::free(p); }
};
using WordBuffer = std::unique_ptr<uint64_t[], FreeDeleter>;
inline WordBuffer word_buffer(size_t n) {
  const size_t bytes = (n * sizeof(uint64_t) + 63) / 64 * 64;
  WordBuffer buf(static_cast<uint64_t*>(std::aligned_alloc(64, bytes)));
  if (!buf) throw std::bad_alloc();
  for (size_t i = 0; i < n; ++i) buf[i] = i;
  return buf;
}

inline void BM_DramRead(benchmark::State& st) {
  const size_t n = kDramBytes / sizeof(uint64_t);
  const WordBuffer buf = word_buffer(n);
  const double s = timed_loop(st, [&](int64_t) { benchmark::DoNotOptimize(sum_words(buf.get(), n)); });
  const double gbs = static_cast<double>(n * sizeof(uint64_t)) / s * 1e-9;
  st.counters["GBs"] = gbs;
  record("dram_read", gbs);
}

#if defined(__x86_64__)
// 64-byte loads (AVX-512; one core reads its L3 faster than with 16-byte
// loads: 90 against 53 GB/s on 16 MiB on Zen 5).
__attribute__((target("avx512f"))) inline uint64_t sum_words_avx512(const uint64_t* p, size_t n) {
  return sum_vectors<U64x8>(p, n);
}
#endif

// One core reading a warm buffer of `bytes` over and over with the widest
// loads the machine has, recorded under `key`: the ceiling of a kernel that
// streams that many bytes from the cache level they fit in.
inline void BM_WarmRead(benchmark::State& st, size_t bytes, const std::string& key) {
  const size_t n = bytes / sizeof(uint64_t);
  const WordBuffer buf = word_buffer(n);
  uint64_t (*sum)(const uint64_t*, size_t) = sum_words;
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) sum = sum_words_avx512;
#endif
  const double s = timed_loop(st, [&](int64_t) { benchmark::DoNotOptimize(sum(buf.get(), n)); });
  const double gbs = static_cast<double>(n * sizeof(uint64_t)) / s * 1e-9;
  st.counters["GBs"] = gbs;
  st.SetLabel(sum == sum_words ? "16-byte loads" : "64-byte loads");
  record(key, gbs);
}

// 16 MiB (the size of QGemm's packed (4096, 4096) weights: they stay in the
// last-level cache between runs): the ceiling of a GEMV on those weights.
inline void BM_L3Read(benchmark::State& st) { BM_WarmRead(st, size_t{16} << 20, "l3_read"); }

// 1 MiB: inside the 2 MiB L2 of the Xeon VM (a GEMV on N = 1024, K = 768
// streams 0.8 MiB of packed weights from there).
inline void BM_L2Read(benchmark::State& st) { BM_WarmRead(st, size_t{1} << 20, "l2_read"); }

// A kernel that streams rotated matrices from DRAM, timed against the DRAM
// read in the same loop (the VM's bandwidth drifts with its neighbours
// between entries): each iteration times one call of f(it) (manual time:
// register the entry with UseManualTime), then sums the next slice of
// `bytes` (the kernel's bytes per call) of a 512 MiB buffer, so that the
// read, like the kernel's next matrix, comes from DRAM. Returns the median
// seconds per call; *vs_dram = the median slice time / that (the kernel's
// bandwidth over the read's on the same bytes).
template <class F>
double timed_against_dram(benchmark::State& st, size_t bytes, F&& f, double* vs_dram) {
  const size_t slice = std::max<size_t>(64, std::min(bytes, kDramBytes) / 64 * 64) / sizeof(uint64_t);
  const size_t slices = kDramBytes / sizeof(uint64_t) / slice;
  const WordBuffer buf = word_buffer(kDramBytes / sizeof(uint64_t));
  std::vector<double> tf, td;
  int64_t it = 0;
  for (auto _ : st) {
    const auto t0 = std::chrono::steady_clock::now();
    f(it);
    const auto t1 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(sum_words(buf.get() + static_cast<size_t>(it) % slices * slice, slice));
    const auto t2 = std::chrono::steady_clock::now();
    tf.push_back(std::chrono::duration<double>(t1 - t0).count());
    td.push_back(std::chrono::duration<double>(t2 - t1).count() * static_cast<double>(bytes) /
                 static_cast<double>(slice * sizeof(uint64_t)));
    st.SetIterationTime(tf.back());
    ++it;
  }
  const double f_med = median_of(tf);
  *vs_dram = f_med > 0 ? median_of(td) / f_med : 0;
  return f_med;
}

// main(): the defaults (--benchmark_min_time=0.2 --benchmark_repetitions=3
// --benchmark_report_aggregates_only=true: read the medians) before the
// caller's flags, which override them; then the run-time registrations.
inline int run_main(int argc, char** argv, void (*register_all)()) {
  std::vector<char*> args(argv, argv + argc);
  std::string min_time = "--benchmark_min_time=0.2", reps = "--benchmark_repetitions=3",
              agg = "--benchmark_report_aggregates_only=true";
  args.insert(args.begin() + 1, {&min_time[0], &reps[0], &agg[0]});
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace qkern_bench

#endif  // QKERN_BENCH_BENCH_UTIL_H_
