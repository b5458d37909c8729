// bench/lut_gemm_bench.cc: the lookup GEMM (LutGemm) per shape x index width
// x activation kind x ISA, against the machine's DRAM read bandwidth, qkern's
// int8 GEMM and decode-then-oneDNN-fp32-matmul in the same binary.
//
// Entries, registered in this order (all repetitions of one before the next):
//   dram_read                                   one core summing 512 MiB (GB/s)
//   qgemm/m:M/k:K/n:N/isa:X                     QGemm u8 x s8 -> u8 on the same shape
//   onednn_f32/m:M/k:K/n:N                      unpack_indices + decode (qkern, best
//                                               ISA) to an fp32 N x K matrix, then
//                                               oneDNN's fp32 matmul (one OpenMP thread)
//   lut/m:M/k:K/n:N/bits:B/act:A/isa:X          LutGemm, per-row codebooks; act u8
//                                               (u8 output, fp32 requantization), u7
//                                               (the same with X <= 127 declared
//                                               activation_7bit) or f32 (float output)
// Shapes: (K, N) in {(4096, 4096), (4096, 11008), (8192, 16384)} x M in {1, 8,
// 64, 256}. M = 1 on (8192, 16384) rotates 512 MiB of indices (8 matrices of
// 64 MiB at 4 bits, 16 of 32 MiB at 2 bits) so that the weights come from DRAM. scalar runs M = 1 on the first shape only.
//
// Counters: Gops = 2*M*N*K per second (1e9); index_GBs = packed index bytes
// read per second; vs_dram = index_GBs / dram_read, except from DRAM (the
// rotated entries), where each run is followed by a timed read of as many
// bytes from another 512 MiB buffer and vs_dram is the ratio of their
// medians (bench_util.h, timed_against_dram; Gops and index_GBs from the
// median run there); vs_qgemm = Gops / QGemm's
// at the same shape and ISA; vs_onednn_f32 (act f32) = Gops / decode-then-oneDNN's;
// time_vs_4bit (2-bit entries) = this entry's time / the 4-bit entry's.
//
// Defaults (overridable): --benchmark_min_time=0.2 --benchmark_repetitions=3
// --benchmark_report_aggregates_only=true: read the medians.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "bench/bench_util.h"
#include "qkern/qkern.hpp"

#ifdef QKERN_BENCH_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
extern "C" void omp_set_num_threads(int);
#endif

namespace {

using namespace qkern_bench;  // NOLINT: the shared helpers of bench_util.h


// Labels, per-row sorted Gaussian codebooks and packed indices of `matrices` N x K matrices.
struct Problem {
  Shape s;
  int bits;
  std::vector<std::vector<uint8_t>> packed;
  std::vector<float> codebook;  // n x 2^bits
  std::vector<uint8_t> xq, x7;
  std::vector<float> xf, y;

  Problem(Shape shape, int b, int matrices) : s(shape), bits(b) {
    std::mt19937 rng(11);
    std::uniform_int_distribution<int> byte(0, 255);
    std::normal_distribution<float> gauss(0.0f, 0.02f);
    const int entries = 1 << bits;
    codebook.resize(static_cast<size_t>(s.n * entries));
    for (int64_t n = 0; n < s.n; ++n) {
      for (int e = 0; e < entries; ++e) codebook[n * entries + e] = gauss(rng);
      std::sort(codebook.begin() + n * entries, codebook.begin() + (n + 1) * entries);
    }
    const int64_t row = qkern::packed_row_bytes(s.k, bits);
    packed.resize(static_cast<size_t>(matrices));
    packed[0].resize(static_cast<size_t>(s.n * row));
    for (auto& v : packed[0]) v = static_cast<uint8_t>(byte(rng));  // uniform labels
    for (size_t i = 1; i < packed.size(); ++i) packed[i] = packed[0];  // other buffers, same bytes
    xq.resize(static_cast<size_t>(s.m * s.k));
    xf.resize(static_cast<size_t>(s.m * s.k));
    for (auto& v : xq) v = static_cast<uint8_t>(byte(rng));
    x7 = xq;
    for (auto& v : x7) v &= 127;
    for (auto& v : xf) v = gauss(rng) * 50;
    y.resize(static_cast<size_t>(s.m * s.n));
  }
  // act: 0 u8, 1 f32, 2 u8 declared 7-bit (X <= 127)
  qkern::LutGemmParams params(size_t i, int act) const {
    const bool f32 = act == 1;
    qkern::LutGemmParams p;
    p.n = s.n;
    p.k = s.k;
    p.bits = bits;
    p.indices = packed[i].data();
    p.indices_size = static_cast<int64_t>(packed[i].size());
    p.codebook = codebook.data();
    p.codebook_size = static_cast<int64_t>(codebook.size());
    p.codebook_per_row = true;
    if (f32) {
      p.activation = qkern::LutActivation::kFp32;
      p.output = qkern::GemmOutput::kFloat;
    } else {
      p.activation = qkern::LutActivation::kU8;
      p.activation_zero_point = 128;
      p.activation_scale = 0.02f;
      p.output = qkern::GemmOutput::kRequantized;
      p.output_scale = 0.05f;
      p.output_zero_point = 128;
      p.activation_7bit = act == 2;
    }
    return p;
  }
};

const char* act_name(int act) { return act == 1 ? "f32" : act == 2 ? "u7" : "u8"; }
std::string lut_key(const Shape& s, int bits, int act, qkern::Isa isa) {
  return "lut/" + shape_name(s) + "/bits:" + std::to_string(bits) + "/act:" + act_name(act) +
         "/isa:" + qkern::isa_name(isa);
}

void BM_Lut(benchmark::State& st, Shape s, int bits, int act, qkern::Isa isa, int matrices) {
  const bool f32 = act == 1;
  if (!qkern::set_max_isa(isa).ok()) {
    st.SkipWithError("ISA not available");
    return;
  }
  Problem pr(s, bits, matrices);
  std::vector<qkern::LutGemm> g(static_cast<size_t>(matrices));
  for (int i = 0; i < matrices; ++i) {
    const qkern::Status status = qkern::LutGemm::create(pr.params(static_cast<size_t>(i), act), &g[i]);
    if (!status.ok()) {
      st.SkipWithError(status.to_string().c_str());
      qkern::reset_max_isa();
      return;
    }
  }
  qkern::reset_max_isa();
  const void* x = f32 ? static_cast<const void*>(pr.xf.data()) : act == 2 ? pr.x7.data() : pr.xq.data();
  const auto run = [&](int64_t it) { (void)g[static_cast<size_t>(it % matrices)].run(x, s.m, s.k, pr.y.data(), s.n); };
  const size_t index_bytes = static_cast<size_t>(s.n * qkern::packed_row_bytes(s.k, bits));
  double vs_dram = 0;
  const double sec = matrices > 1 ? timed_against_dram(st, index_bytes, run, &vs_dram) : timed_loop(st, run);
  const double gop = gops(s) / sec;
  st.SetLabel(g[0].kernel());
  st.counters["Gops"] = gop;
  const std::string key = lut_key(s, bits, act, isa);
  record(key, gop);
  const double gbs = static_cast<double>(index_bytes) / sec * 1e-9;
  st.counters["index_GBs"] = gbs;
  if (matrices > 1) {
    st.counters["vs_dram"] = vs_dram;
  } else {
    ratio(st, "vs_dram", gbs, "dram_read");
  }
  ratio(st, "vs_qgemm", gop, "qgemm/" + shape_name(s) + "/isa:" + qkern::isa_name(isa));
  if (f32) ratio(st, "vs_onednn_f32", gop, "onednn_f32/" + shape_name(s));
  if (bits == 2) {
    const double g4 = median(lut_key(s, 4, act, isa));
    if (g4 > 0) st.counters["time_vs_4bit"] = g4 / gop;
  }
}

void BM_QGemm(benchmark::State& st, Shape s, qkern::Isa isa) {
  if (!qkern::set_max_isa(isa).ok()) {
    st.SkipWithError("ISA not available");
    return;
  }
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<int8_t> w(static_cast<size_t>(s.n * s.k));
  for (auto& v : w) v = static_cast<int8_t>(byte(rng) - 128);
  std::vector<uint8_t> a(static_cast<size_t>(s.m * s.k)), c(static_cast<size_t>(s.m * s.n));
  for (auto& v : a) v = static_cast<uint8_t>(byte(rng));
  std::vector<float> wscale(static_cast<size_t>(s.n), 0.001f);
  qkern::QGemmParams p;
  p.n = s.n;
  p.k = s.k;
  p.activation_zero_point = 128;
  p.activation_scale = 0.02f;
  p.weights = w.data();
  p.weight_scale = wscale.data();
  p.output_scale = 0.5f;
  p.output_zero_point = 128;
  qkern::QGemm g;
  const qkern::Status status = qkern::QGemm::create(p, &g);
  qkern::reset_max_isa();
  if (!status.ok()) {
    st.SkipWithError(status.to_string().c_str());
    return;
  }
  w = {};
  const double sec = timed_loop(st, [&](int64_t) { (void)g.run(a.data(), s.m, s.k, c.data(), s.n); });
  st.SetLabel(g.kernel());
  st.counters["Gops"] = gops(s) / sec;
  record("qgemm/" + shape_name(s) + "/isa:" + qkern::isa_name(isa), gops(s) / sec);
}

#ifdef QKERN_BENCH_ONEDNN
// What a caller without LutGemm does per run: decode the packed weights to
// fp32, then multiply with oneDNN's fp32 matmul.
void BM_OneDnnF32(benchmark::State& st, Shape s) {
  using namespace dnnl;
  using dt = memory::data_type;
  using tag = memory::format_tag;
  omp_set_num_threads(1);
  Problem pr(s, 4, 1);
  std::vector<uint8_t> labels(static_cast<size_t>(s.n * s.k));
  std::vector<float> w(static_cast<size_t>(s.n * s.k));
  const qkern::CodebookShape shape{s.n, s.k, 4, true};
  engine eng(engine::kind::cpu, 0);
  stream strm(eng);
  const memory::desc a_md({s.m, s.k}, dt::f32, tag::ab), w_md({s.k, s.n}, dt::f32, tag::ba),
      c_md({s.m, s.n}, dt::f32, tag::ab);
  matmul::primitive_desc pd(matmul::desc(a_md, w_md, c_md), eng);
  memory a_mem(a_md, eng, pr.xf.data()), w_mem(w_md, eng, w.data()), c_mem(c_md, eng, pr.y.data());
  matmul prim(pd);
  const double sec = timed_loop(st, [&](int64_t) {
    (void)qkern::unpack_indices(pr.packed[0].data(), shape, labels.data());
    (void)qkern::decode(labels.data(), shape, pr.codebook.data(), w.data());
    prim.execute(strm, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, w_mem}, {DNNL_ARG_DST, c_mem}});
    strm.wait();
  });
  st.SetLabel(pd.impl_info_str());
  st.counters["Gops"] = gops(s) / sec;
  record("onednn_f32/" + shape_name(s), gops(s) / sec);
}
#endif

void register_all() {
  benchmark::RegisterBenchmark("dram_read", BM_DramRead)->UseRealTime()->Iterations(3);
  const std::pair<int64_t, int64_t> kns[] = {{4096, 4096}, {4096, 11008}, {8192, 16384}};
  for (auto kn : kns) {
    for (int64_t m : {1, 8, 64, 256}) {
      const Shape s{m, kn.first, kn.second};
      // 512 MiB of indices rotated: 128 MiB still partly hit the Zen 5 VM's
      // last-level cache (the QGemm GEMV measured 1.26x the DRAM read there).
      const auto matrices = [&](int bits) { return m == 1 && kn.first == 8192 ? 8 * 4 / bits : 1; };
      for (qkern::Isa isa : qkern::available_isas()) {
        if (isa == qkern::Isa::kScalar && (m > 1 || kn.first != 4096 || kn.second != 4096)) continue;
        benchmark::RegisterBenchmark(("qgemm/" + shape_name(s) + "/isa:" + qkern::isa_name(isa)).c_str(),
                                     BM_QGemm, s, isa)
            ->UseRealTime();
      }
#ifdef QKERN_BENCH_ONEDNN
      benchmark::RegisterBenchmark(("onednn_f32/" + shape_name(s)).c_str(), BM_OneDnnF32, s)->UseRealTime();
#endif
      for (int act : {0, 2, 1}) {
        for (int bits : {4, 2}) {
          for (qkern::Isa isa : qkern::available_isas()) {
            if (isa == qkern::Isa::kScalar && (m > 1 || kn.first != 4096 || kn.second != 4096 || act == 2)) continue;
            auto* b = benchmark::RegisterBenchmark(lut_key(s, bits, act, isa).c_str(), BM_Lut, s, bits, act, isa,
                                                   matrices(bits));
            if (matrices(bits) > 1) {
              b->UseManualTime();  // the runs' own time: each is followed by a timed DRAM read
            } else {
              b->UseRealTime();
            }
          }
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) { return qkern_bench::run_main(argc, argv, register_all); }
