// bench/gemm_bench.cc: the int8 GEMM (QGemm) per shape x ISA, against the
// machine's measured peak and oneDNN's matmul in the same binary.
//
// Entries, registered at run time in this order (Google Benchmark runs them in
// registration order, all repetitions of one entry before the next):
//   peak/<instr>            a register-only loop of the multiply-add instruction
//                           the best kernel is built on (vpdpbusd zmm with VNNI;
//                           vpmaddwd ymm/zmm otherwise, counting its 16/32
//                           multiply-adds as 2 ops each), 12 independent chains;
//   peak/mix_avx2_exact, peak/mix_avx2_maddubs  with AVX2: the instruction
//                           mix of the exact 6x16c2 kernel's K loop and the
//                           vpmaddubsw mix of oneDNN's AVX2 int8 kernels
//                           (bench/peaks.h), register and L1 only;
//   peak/tdpbusd            with avx512_amx: 4 independent tdpbusd chains
//                           (16 x 16 x 64 multiply-adds each);
//   dram_read               one core summing a 512 MiB buffer (GB/s);
//   l3_read                 one core summing a warm 16 MiB buffer, 64-byte
//                           loads where AVX-512 exists (GB/s): what a GEMV
//                           on (4096, 4096) weights can read from the L3;
//   onednn/m:M/k:K/n:N      oneDNN matmul u8 x s8 -> u8, per-channel output
//                           scales, source and destination zero points, int32
//                           bias, weights reordered once to its own layout
//                           (format any), one OpenMP thread;
//   qgemm/m:M/k:K/n:N/isa:X the same operator through QGemm (u8 x s8 -> u8, fp32
//                           requantization, per-channel scales, bias);
//   ..._llc                 M = 1 and 8 on (4096, 4096) rotating 32 weight
//                           matrices (512 MiB of int8) so none is cached
//                           (128 MiB still measured 1.26x the DRAM read on
//                           the Zen 5 VM: its last-level cache is larger);
//   qgemm_threads:2/m:1024/k:1024/n:1024  the best ISA through ThreadPool(2).
// Shapes: M in {1, 8, 64, 256} x (K, N) in {(768, 3072), (3072, 768),
// (2048, 1000), (4096, 4096), (4096, 11008)}, plus 1024^3. scalar runs M = 1
// only (it takes seconds per larger shape).
//
// Counters: Gops = 2*M*N*K per second (1e9); pct_peak = Gops / peak
// (vpdpbusd's or vpmaddwd's); pct_amx_peak (avx512_amx) = Gops / tdpbusd's;
// vs_onednn = Gops / oneDNN's Gops at the same shape; weight_GBs (M = 1, 8:
// packed weight bytes read per second); vs_dram (_llc): each run is followed
// by a timed read of as many bytes from another 512 MiB buffer, and vs_dram
// is the ratio of their medians (bench_util.h, timed_against_dram; Gops and
// weight_GBs from the median run there); vs_l3 (M = 1, one matrix) =
// weight_GBs / l3_read; pct_mix (isa:avx2) = Gops / mix_avx2_exact's;
// vs_onednn_max, a measured ceiling on vs_onednn: on the avx2 entries the
// exact mix's rate over oneDNN's Gops (the c2 kernel cannot run faster than
// its own loop body does from registers), on oneDNN's M <= 8 entries with
// >= 16 MiB of weights l3_read over oneDNN's weight_GBs (N x K bytes per
// run; any kernel must read them, and they come from the L3 here);
// vs_1thread for the threaded entry. oneDNN's ISA follows ONEDNN_MAX_CPU_ISA:
// run once more with ONEDNN_MAX_CPU_ISA=AVX2 for its AVX2 column (on an
// AVX2-only machine both runs are the same).
//
// Defaults (overridable): --benchmark_min_time=0.2 --benchmark_repetitions=3
// --benchmark_report_aggregates_only=true: read the medians.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "bench/bench_util.h"
#include "bench/peaks.h"
#include "kernels/gemm/gemm_kernels.h"
#include "qkern/qkern.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#ifdef QKERN_BENCH_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
extern "C" void omp_set_num_threads(int);
#endif

namespace {

using namespace qkern_bench;  // NOLINT: the shared helpers of bench_util.h

// ------------------------------------------------------------------ peaks

#if defined(__x86_64__)
// AMX: 4 independent tdpbusd chains (tmm0-3 += tmm4/5 x tmm6/7, zeroed
// tiles), 16 x 16 x 64 multiply-adds each, in the AMX kernel's tile
// configuration (32 rows: every tile 16 x 64 bytes). Runs only where the
// avx512_amx ISA is available (which asked the kernel for the tile state).
__attribute__((target("amx-tile,amx-int8"))) int64_t peak_tdpbusd(int64_t iters) {
  const qkern::internal::GemmAmxKernel* amx = qkern::internal::gemm_amx_kernel();
  amx->begin(qkern::internal::kGemmAmxMR);
  _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
  _tile_zero(4); _tile_zero(5); _tile_zero(6); _tile_zero(7);
  for (int64_t i = 0; i < iters; ++i) {
    _tile_dpbusd(0, 4, 6);
    _tile_dpbusd(1, 4, 7);
    _tile_dpbusd(2, 5, 6);
    _tile_dpbusd(3, 5, 7);
  }
  amx->end();
  return iters;
}
#endif

// ------------------------------------------------------------------ data

struct Problem {
  Shape s;
  std::vector<uint8_t> a, c;
  std::vector<std::vector<int8_t>> w;  // one or several (rotated) N x K matrices
  std::vector<int32_t> bias;
  std::vector<float> wscale;
  float sa = 0.02f, so = 0.5f;
  int32_t za = 128, zo = 128;

  Problem(Shape shape, int matrices) : s(shape) {
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> byte(0, 255);
    a.resize(static_cast<size_t>(s.m * s.k));
    for (auto& v : a) v = static_cast<uint8_t>(byte(rng));
    c.resize(static_cast<size_t>(s.m * s.n));
    w.resize(static_cast<size_t>(matrices));
    for (auto& m : w) {
      m.resize(static_cast<size_t>(s.n * s.k));
      for (auto& v : m) v = static_cast<int8_t>(byte(rng) - 128);
    }
    bias.resize(static_cast<size_t>(s.n));
    wscale.resize(static_cast<size_t>(s.n));
    for (int64_t n = 0; n < s.n; ++n) {
      bias[n] = byte(rng) * 100 - 12800;
      wscale[n] = 0.001f + 0.0001f * static_cast<float>(n % 7);
    }
  }
  qkern::QGemmParams params(size_t i) const {
    qkern::QGemmParams p;
    p.n = s.n;
    p.k = s.k;
    p.activation_zero_point = za;
    p.activation_scale = sa;
    p.weights = w[i].data();
    p.weight_scale = wscale.data();
    p.bias = bias.data();
    p.output_scale = so;
    p.output_zero_point = zo;
    return p;
  }
};

void BM_QGemm(benchmark::State& st, Shape s, qkern::Isa isa, int matrices, int threads) {
  if (!qkern::set_max_isa(isa).ok()) {
    st.SkipWithError("ISA not available");
    return;
  }
  Problem pr(s, matrices);
  std::vector<qkern::QGemm> g(static_cast<size_t>(matrices));
  for (int i = 0; i < matrices; ++i) {
    const qkern::Status status = qkern::QGemm::create(pr.params(static_cast<size_t>(i)), &g[i]);
    if (!status.ok()) {
      st.SkipWithError(status.to_string().c_str());
      qkern::reset_max_isa();
      return;
    }
  }
  qkern::reset_max_isa();
  qkern::ThreadPool pool(threads);
  const qkern::ParallelFor pf = threads > 1 ? pool.parallel_for() : qkern::ParallelFor();
  const auto run = [&](int64_t it) {
    (void)g[static_cast<size_t>(it % matrices)].run(pr.a.data(), s.m, s.k, pr.c.data(), s.n, pf);
  };
  double vs_dram = 0;
  const double sec = matrices > 1 ? timed_against_dram(st, g[0].packed_bytes(), run, &vs_dram) : timed_loop(st, run);
  const double gop = gops(s) / sec;
  st.SetLabel(g[0].kernel());
  st.counters["Gops"] = gop;
  const std::string key = "qgemm/" + shape_name(s) + (matrices > 1 ? "_llc" : "") +
                          "/isa:" + qkern::isa_name(isa) + "/t" + std::to_string(threads);
  record(key, gop);
  ratio(st, "pct_peak", 100 * gop, "peak");
  if (isa == qkern::Isa::kAvx512Amx) ratio(st, "pct_amx_peak", 100 * gop, "peak_amx");
  if (matrices == 1) ratio(st, "vs_onednn", gop, "onednn/" + shape_name(s));
  if (isa == qkern::Isa::kAvx2 && matrices == 1 && threads == 1) {
    // The exact c2 kernel against its own instruction mix's rate, and that
    // rate against oneDNN's: the most vs_onednn this kernel can reach.
    ratio(st, "pct_mix", 100 * gop, "mix_avx2_exact");
    ratio(st, "vs_onednn_max", median("mix_avx2_exact"), "onednn/" + shape_name(s));
  }
  if (s.m <= 8) {
    const double gbs = static_cast<double>(g[0].packed_bytes()) / sec * 1e-9;
    st.counters["weight_GBs"] = gbs;
    if (matrices > 1) st.counters["vs_dram"] = vs_dram;
    if (matrices == 1 && s.m == 1) ratio(st, "vs_l3", gbs, "l3_read");
  }
  if (threads > 1) {
    ratio(st, "vs_1thread", gop,
          "qgemm/" + shape_name(s) + "/isa:" + qkern::isa_name(isa) + "/t1");
  }
}

#ifdef QKERN_BENCH_ONEDNN
void BM_OneDnn(benchmark::State& st, Shape s) {
  using namespace dnnl;
  using dt = memory::data_type;
  using tag = memory::format_tag;
  omp_set_num_threads(1);
  Problem pr(s, 1);
  engine eng(engine::kind::cpu, 0);
  stream strm(eng);
  const memory::desc a_md({s.m, s.k}, dt::u8, tag::ab), w_any({s.k, s.n}, dt::s8, tag::any),
      w_user_md({s.k, s.n}, dt::s8, tag::ba),  // N x K rows: the same bytes QGemm gets
      bias_md({1, s.n}, dt::s32, tag::ab), c_md({s.m, s.n}, dt::u8, tag::ab);
  primitive_attr attr;
  std::vector<float> scales(static_cast<size_t>(s.n));
  for (int64_t n = 0; n < s.n; ++n) scales[n] = pr.sa * pr.wscale[n] / pr.so;
  attr.set_output_scales(1 << 1, scales);
  attr.set_zero_points(DNNL_ARG_SRC, 0, {pr.za});
  attr.set_zero_points(DNNL_ARG_DST, 0, {pr.zo});
  matmul::primitive_desc pd(matmul::desc(a_md, w_any, bias_md, c_md), attr, eng);
  memory w_user(w_user_md, eng, pr.w[0].data()), w_packed(pd.weights_desc(), eng);
  reorder(w_user, w_packed).execute(strm, w_user, w_packed);
  memory a_mem(a_md, eng, pr.a.data()), bias_mem(bias_md, eng, pr.bias.data()),
      c_mem(c_md, eng, pr.c.data());
  matmul prim(pd);
  const double sec = timed_loop(st, [&](int64_t) {
    prim.execute(strm, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, w_packed},
                        {DNNL_ARG_BIAS, bias_mem}, {DNNL_ARG_DST, c_mem}});
    strm.wait();
  });
  const double gop = gops(s) / sec;
  st.SetLabel(pd.impl_info_str());
  st.counters["Gops"] = gop;
  record("onednn/" + shape_name(s), gop);
  ratio(st, "pct_peak", 100 * gop, "peak");
  if (s.m <= 8 && s.n * s.k >= (int64_t{16} << 20)) {
    // A QGemm run reads at least the N x K weight bytes, from the L3 here
    // (they stay there between runs): l3_read over oneDNN's rate of those
    // bytes is the most vs_onednn any kernel can reach on this shape.
    const double gbs = static_cast<double>(s.n * s.k) / sec * 1e-9;
    st.counters["weight_GBs"] = gbs;
    if (median("l3_read") > 0) st.counters["vs_onednn_max"] = median("l3_read") / gbs;
  }
}
#endif

void register_all() {
  const Peak peak = best_peak();
  if (peak.fn) {
    benchmark::RegisterBenchmark((std::string("peak/") + peak.name).c_str(), BM_Peak, peak, "peak")
        ->UseRealTime();
  }
#if defined(__x86_64__)
  if (qkern::isa_available(qkern::Isa::kAvx2)) {
    for (const Peak& mix : {mix_avx2_exact_peak(), mix_avx2_maddubs_peak()}) {
      benchmark::RegisterBenchmark((std::string("peak/") + mix.name).c_str(), BM_Peak, mix, mix.name)
          ->UseRealTime();
    }
  }
  if (qkern::isa_available(qkern::Isa::kAvx512Amx)) {
    benchmark::RegisterBenchmark("peak/tdpbusd", BM_Peak, Peak{"tdpbusd", 4.0 * 16 * 16 * 64 * 2, &peak_tdpbusd},
                                 "peak_amx")
        ->UseRealTime();
  }
#endif
  benchmark::RegisterBenchmark("dram_read", BM_DramRead)->UseRealTime()->Iterations(3);
  benchmark::RegisterBenchmark("l3_read", BM_L3Read)->UseRealTime();
  std::vector<Shape> shapes;
  for (int64_t m : {1, 8, 64, 256}) {
    for (auto kn : {std::pair<int64_t, int64_t>{768, 3072}, {3072, 768}, {2048, 1000}, {4096, 4096},
                    {4096, 11008}}) {
      shapes.push_back({m, kn.first, kn.second});
    }
  }
  shapes.push_back({1024, 1024, 1024});
  const qkern::Isa best = qkern::best_isa();
  for (const Shape& s : shapes) {
#ifdef QKERN_BENCH_ONEDNN
    benchmark::RegisterBenchmark(("onednn/" + shape_name(s)).c_str(), BM_OneDnn, s)->UseRealTime();
#endif
    for (qkern::Isa isa : qkern::available_isas()) {
      if (isa == qkern::Isa::kScalar && s.m > 1) continue;
      benchmark::RegisterBenchmark(
          ("qgemm/" + shape_name(s) + "/isa:" + qkern::isa_name(isa)).c_str(), BM_QGemm, s, isa, 1, 1)
          ->UseRealTime();
    }
  }
  for (int64_t m : {1, 8}) {
    const Shape s{m, 4096, 4096};
    for (qkern::Isa isa : qkern::available_isas()) {
      if (isa == qkern::Isa::kScalar) continue;
      benchmark::RegisterBenchmark(
          ("qgemm/" + shape_name(s) + "_llc/isa:" + qkern::isa_name(isa)).c_str(), BM_QGemm, s, isa,
          32, 1)
          ->UseManualTime();  // the runs' own time: each is followed by a timed DRAM read
    }
  }
  const Shape cube{1024, 1024, 1024};
  benchmark::RegisterBenchmark(
      ("qgemm_threads:2/" + shape_name(cube) + "/isa:" + qkern::isa_name(best)).c_str(), BM_QGemm,
      cube, best, 1, 2)
      ->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) { return qkern_bench::run_main(argc, argv, register_all); }
