// bench/bench_util.h: what the GEMM benchmarks share: shapes, medians of
// finished entries (for ratios computed within one run), a wall-clock timed
// loop and the one-core DRAM read figure.
#ifndef QKERN_BENCH_BENCH_UTIL_H_
#define QKERN_BENCH_BENCH_UTIL_H_

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
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
inline double median(const std::string& key) {
  auto it = results().find(key);
  if (it == results().end() || it->second.empty()) return 0;
  std::vector<double> v = it->second;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
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

inline void BM_DramRead(benchmark::State& st) {
  const size_t n = (size_t{512} << 20) / sizeof(uint64_t);
  std::unique_ptr<uint64_t[]> buf(new uint64_t[n]);
  for (size_t i = 0; i < n; ++i) buf[i] = i;
  // 16-byte vector loads into four independent sums (GCC vector extensions:
  // SSE2 on x86-64, NEON on aarch64): 64 bytes per iteration. The scalar
  // 8-byte loop this replaces was bound by its own adds on Zen 5 (30 GB/s,
  // below what the GEMV streams from DRAM).
  using V2 = uint64_t __attribute__((vector_size(16)));
  const double s = timed_loop(st, [&](int64_t) {
    V2 s0 = {0, 0}, s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < n; i += 8) {
      V2 v0, v1, v2, v3;
      std::memcpy(&v0, buf.get() + i, 16);
      std::memcpy(&v1, buf.get() + i + 2, 16);
      std::memcpy(&v2, buf.get() + i + 4, 16);
      std::memcpy(&v3, buf.get() + i + 6, 16);
      s0 += v0;
      s1 += v1;
      s2 += v2;
      s3 += v3;
    }
    const V2 t = s0 + s1 + s2 + s3;
    benchmark::DoNotOptimize(t[0] + t[1]);
  });
  const double gbs = static_cast<double>(n * sizeof(uint64_t)) / s * 1e-9;
  st.counters["GBs"] = gbs;
  record("dram_read", gbs);
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
