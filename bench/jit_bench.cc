// bench/jit_bench.cc: the JIT against the AOT kernels in one binary (x86-64).
//
//   jit_vs_aot/<isa>/m:M/k:K/n:N   one QGemm per kind (u8 fp32-requantized
//       output, per-channel scales), the AOT one created with the JIT off;
//       each iteration times a batch of AOT runs, then a batch of JIT runs,
//       interleaved, and the counters are the medians over iterations:
//       aot_gops, jit_gops and ratio = jit / aot (so machine noise hits both).
//   jit_generate/<isa>   one new kernel (6x64c4 / 6x32c2 shapes, K = 200):
//       generation + W^X flip + perf map line, microseconds per kernel.
//   jit_cache_hit/<isa>  the cache lookup of an existing kernel, ns.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "qkern/qkern.hpp"

#if QKERN_HAVE_JIT
#include "jit/code_cache.h"
#include "jit/gemm_jit.h"
#include "jit/jit.h"
#endif

namespace qkern_bench {
namespace {

#if QKERN_HAVE_JIT
using Clock = std::chrono::steady_clock;

double vmedian(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

struct Gemm {
  std::vector<uint8_t> a, c;
  std::vector<int8_t> w;
  std::vector<float> ws;
  qkern::QGemm op;
};

bool make_gemm(int64_t m, int64_t k, int64_t n, bool jit, Gemm* g) {
  g->a.assign(static_cast<size_t>(m * k), 0);
  for (size_t i = 0; i < g->a.size(); ++i) g->a[i] = static_cast<uint8_t>(i * 131 + 7);
  g->w.assign(static_cast<size_t>(n * k), 0);
  for (size_t i = 0; i < g->w.size(); ++i) g->w[i] = static_cast<int8_t>(i * 37 + 11);
  g->ws.assign(static_cast<size_t>(n), 0.003f);
  g->c.assign(static_cast<size_t>(m * n), 0);
  qkern::QGemmParams p;
  p.n = n;
  p.k = k;
  p.activation_zero_point = 128;
  p.weights = g->w.data();
  p.weight_scale = g->ws.data();
  p.output_scale = 0.5f;
  p.output_zero_point = 128;
  qkern::jit::set_enabled_for_test(jit);
  const bool ok = qkern::QGemm::create(p, &g->op).ok();
  qkern::jit::reset_enabled_for_test();
  return ok;
}

double batch_ns(const Gemm& g, int64_t m, int64_t k, int64_t n, int reps) {
  const auto t0 = Clock::now();
  for (int r = 0; r < reps; ++r) {
    benchmark::DoNotOptimize(g.op.run(g.a.data(), m, k, const_cast<uint8_t*>(g.c.data()), n));
  }
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / reps;
}

void BM_JitVsAot(benchmark::State& st, qkern::Isa isa, int64_t m, int64_t k, int64_t n) {
  if (!qkern::set_max_isa(isa).ok()) {
    st.SkipWithError("isa");
    return;
  }
  Gemm aot, jit;
  if (!make_gemm(m, k, n, false, &aot) || !make_gemm(m, k, n, true, &jit) ||
      jit.op.kernel().find("_jit__") == std::string::npos) {
    qkern::reset_max_isa();
    st.SkipWithError("no JIT kernel for this shape");
    return;
  }
  const double ops = 2.0 * static_cast<double>(m * n * k);
  const int reps = static_cast<int>(std::max<double>(1, 2e5 / (ops / 200.0 + 200)));  // ~0.1-1 ms per batch
  std::vector<double> ta, tj;
  for (auto _ : st) {
    const double a = batch_ns(aot, m, k, n, reps);
    const double j = batch_ns(jit, m, k, n, reps);
    ta.push_back(a);
    tj.push_back(j);
    st.SetIterationTime((a + j) * reps * 1e-9);
  }
  qkern::reset_max_isa();
  const double ma = vmedian(ta), mj = vmedian(tj);
  st.counters["aot_gops"] = ops / ma;
  st.counters["jit_gops"] = ops / mj;
  st.counters["ratio"] = ma / mj;
  st.SetLabel(jit.op.kernel());
}

qkern::jit::GemmJitConf conf_for(qkern::Isa isa, uint32_t kb) {
  qkern::jit::GemmJitConf c;
  c.isa = isa;
  c.kr = isa == qkern::Isa::kAvx512Vnni ? 4 : 2;
  c.mr = 6;
  c.panel_mr = 6;
  c.nrv = isa == qkern::Isa::kAvx512Vnni ? 4 : 2;
  c.nr_valid = c.nrv * (isa == qkern::Isa::kAvx2 ? 8 : 16);
  c.kb = kb;
  c.kind = qkern::internal::GemmEpilogue::kFp32U8;
  c.hi = 255;
  return c;
}

void BM_Generate(benchmark::State& st, qkern::Isa isa) {
  uint32_t salt = 0;
  std::vector<double> us;
  for (auto _ : st) {
    qkern::jit::GemmJitConf c = conf_for(isa, 200 / static_cast<uint32_t>(isa == qkern::Isa::kAvx512Vnni ? 4 : 2));
    c.zero_point = static_cast<int32_t>(++salt);  // a new key every time
    std::string why;
    const auto t0 = Clock::now();
    auto kernel = qkern::jit::gemm_jit_kernel(c, &why);
    const double t = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    if (kernel == nullptr) {
      st.SkipWithError(why.c_str());
      return;
    }
    us.push_back(t);
    st.SetIterationTime(t * 1e-6);
  }
  st.counters["median_us"] = vmedian(us);
  qkern::jit::global_cache().clear();
}

void BM_CacheHit(benchmark::State& st, qkern::Isa isa) {
  const qkern::jit::GemmJitConf c = conf_for(isa, 50);
  std::string why;
  auto keep = qkern::jit::gemm_jit_kernel(c, &why);
  if (keep == nullptr) {
    st.SkipWithError(why.c_str());
    return;
  }
  for (auto _ : st) benchmark::DoNotOptimize(qkern::jit::gemm_jit_kernel(c, &why));
}

void register_all() {
  for (qkern::Isa isa : qkern::available_isas()) {
    if (isa != qkern::Isa::kAvx2 && isa != qkern::Isa::kAvx512 && isa != qkern::Isa::kAvx512Vnni) continue;
    const std::string in = qkern::isa_name(isa);
    for (int64_t k : {27, 64, 200, 768}) {
      for (int64_t m : {1, 2, 4, 8, 16}) {
        const int64_t n = 1024;
        benchmark::RegisterBenchmark(
            ("jit_vs_aot/" + in + "/m:" + std::to_string(m) + "/k:" + std::to_string(k) + "/n:" + std::to_string(n))
                .c_str(),
            BM_JitVsAot, isa, m, k, n)
            ->UseManualTime()
            ->Iterations(41);
      }
    }
    benchmark::RegisterBenchmark(("jit_generate/" + in).c_str(), BM_Generate, isa)->UseManualTime()->Iterations(101);
    benchmark::RegisterBenchmark(("jit_cache_hit/" + in).c_str(), BM_CacheHit, isa);
  }
}
#else
void register_all() {}
#endif

}  // namespace
}  // namespace qkern_bench

int main(int argc, char** argv) { return qkern_bench::run_main(argc, argv, qkern_bench::register_all); }
