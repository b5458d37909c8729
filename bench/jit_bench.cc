// bench/jit_bench.cc: the JIT against the AOT kernels in one binary (x86-64).
//
//   jit_vs_aot/<isa>/m:M/k:K/n:N   one QGemm per kind (u8 fp32-requantized
//       output, per-channel scales), the AOT one created with the JIT off;
//       each iteration times a batch of AOT runs, then a batch of JIT runs,
//       interleaved, and the counters are the medians over iterations:
//       aot_gops, jit_gops and ratio = jit / aot (so machine noise hits both);
//       aot_pct_peak, jit_pct_peak against the ISA's peak/ entry, and
//       max_ratio, a ceiling on `ratio` measured in the same run: the
//       rate of the kernels' K loop body (the mix entry for avx2 and avx512,
//       the peak for avx512_vnni) over the AOT rate, and where the packed
//       weights (>= 128 KiB) come from the L2, l2_read over the AOT kernel's
//       weight bytes per second, whichever is less (jit_weight_GBs there:
//       the JIT's). The 6-row mix is the fastest body; fewer rows only
//       lower the true ceiling.
//   l2_read            one core reading a warm 1 MiB buffer, GB/s.
//   peak/<isa>/<instr> the multiply-add peak of the ISA's kernels
//       (bench/peaks.h): vpmaddwd ymm, vpmaddwd zmm, vpdpbusd zmm;
//   peak/<isa>/mix_<isa>_exact  the c2 kernels' 6-row K-pair step.
//   jit_lut_vs_aot/<isa>/m:M/k:K/n:N/bits:B   LutGemm (per-row codebooks, u8
//       X, u8 fp32-requantized output), JIT kernels against the AOT ones,
//       interleaved batches as above.
//   jit_generate/<isa>   one new kernel (6x64c4 / 6x32c2 shapes, K = 200):
//       generation + W^X flip + perf map line, microseconds per kernel.
//   jit_cache_hit/<isa>  the cache lookup of an existing kernel, ns.
//   jit_conv_vs_im2col/<isa>/<layer>   the first layers of ResNet-50 and
//       MobileNetV2 (224 x 224 x 3, u8 fp32-requantized output): QConv2d's
//       direct path (JIT gather kernels) against the im2col path it replaces
//       (created with the direct path off, so its GEMM runs the JIT's
//       kernels), batches interleaved as above: im2col_us, direct_us,
//       ratio = im2col / direct.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bench/bench_util.h"
#include "bench/conv_layers.h"
#include "bench/peaks.h"
#include "kernels/conv/conv_kernels.h"
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

// ns per run of op (a QGemm or LutGemm: run(x, m, ldx = k, y, ldy = n)) over a batch of reps.
template <class Op>
double batch_ns(const Op& op, const uint8_t* x, int64_t m, int64_t k, const std::vector<uint8_t>& y, int64_t n,
                int reps) {
  const auto t0 = Clock::now();
  for (int r = 0; r < reps; ++r) benchmark::DoNotOptimize(op.run(x, m, k, const_cast<uint8_t*>(y.data()), n));
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / reps;
}

// Each iteration times a batch of AOT runs, then a batch of JIT runs (ns
// per run from aot(reps), jit(reps)); the counters are the medians of `ops`
// per second and their ratio.
// Returns the median ns per run of the AOT batches and of the JIT ones.
template <class Aot, class Jit>
std::pair<double, double> interleave(benchmark::State& st, double ops, Aot aot, Jit jit) {
  const int reps = static_cast<int>(std::max<double>(1, 2e5 / (ops / 200.0 + 200)));  // ~0.1-1 ms per batch
  std::vector<double> ta, tj;
  for (auto _ : st) {
    const double a = aot(reps);
    const double j = jit(reps);
    ta.push_back(a);
    tj.push_back(j);
    st.SetIterationTime((a + j) * reps * 1e-9);
  }
  const double ma = median_of(ta), mj = median_of(tj);
  st.counters["aot_gops"] = ops / ma;
  st.counters["jit_gops"] = ops / mj;
  st.counters["ratio"] = ma / mj;
  return {ma, mj};
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
  const std::pair<double, double> ns =
      interleave(st, ops, [&](int reps) { return batch_ns(aot.op, aot.a.data(), m, k, aot.c, n, reps); },
                 [&](int reps) { return batch_ns(jit.op, jit.a.data(), m, k, jit.c, n, reps); });
  qkern::reset_max_isa();
  st.SetLabel(jit.op.kernel());
  // The ceilings of `ratio`: neither kernel multiplies faster than its K
  // loop body runs from registers (the ISA's mix entry; its peak entry where
  // the instruction is the body), nor reads weights that come from the L2
  // (packed weights of >= 128 KiB, beyond any L1 data cache of these
  // machines) faster than l2_read. max_ratio = the least ceiling / AOT's rate.
  const std::string in = qkern::isa_name(isa);
  const double peak = median("peak/" + in), mix = median("mix/" + in);
  double max_ratio = 0;
  if (peak > 0) {
    st.counters["aot_pct_peak"] = 100 * ops / ns.first / peak;
    st.counters["jit_pct_peak"] = 100 * ops / ns.second / peak;
    max_ratio = (mix > 0 ? mix : peak) / (ops / ns.first);
  }
  const double bytes = static_cast<double>(jit.op.packed_bytes()), l2 = median("l2_read");
  if (bytes >= 128 * 1024 && l2 > 0) {
    st.counters["jit_weight_GBs"] = bytes / ns.second;
    const double bound = l2 / (bytes / ns.first);
    max_ratio = max_ratio > 0 ? std::min(max_ratio, bound) : bound;
  }
  if (max_ratio > 0) st.counters["max_ratio"] = max_ratio;
}

struct Lut {
  std::vector<uint8_t> x, y, idx;
  std::vector<float> codebook;
  qkern::LutGemm op;
};

// Per-row sorted codebooks, uniform labels, u8 X (zero point 128), u8 output.
bool make_lut(int64_t m, int64_t k, int64_t n, int bits, bool jit, Lut* g) {
  const int entries = 1 << bits;
  const int64_t row = qkern::packed_row_bytes(k, bits);
  g->idx.assign(static_cast<size_t>(n * row), 0);
  for (size_t i = 0; i < g->idx.size(); ++i) g->idx[i] = static_cast<uint8_t>(i * 167 + 13);
  g->codebook.assign(static_cast<size_t>(n * entries), 0.0f);
  for (int64_t r = 0; r < n; ++r) {
    for (int e = 0; e < entries; ++e) {
      g->codebook[r * entries + e] = 0.01f * static_cast<float>(e - entries / 2) + 1e-4f * static_cast<float>(r);
    }
  }
  g->x.assign(static_cast<size_t>(m * k), 0);
  for (size_t i = 0; i < g->x.size(); ++i) g->x[i] = static_cast<uint8_t>(i * 131 + 7);
  g->y.assign(static_cast<size_t>(m * n), 0);
  qkern::LutGemmParams p;
  p.n = n;
  p.k = k;
  p.bits = bits;
  p.indices = g->idx.data();
  p.indices_size = static_cast<int64_t>(g->idx.size());
  p.codebook = g->codebook.data();
  p.codebook_size = static_cast<int64_t>(g->codebook.size());
  p.codebook_per_row = true;
  p.activation = qkern::LutActivation::kU8;
  p.activation_zero_point = 128;
  p.activation_scale = 0.02f;
  p.output = qkern::GemmOutput::kRequantized;
  p.output_scale = 0.05f;
  p.output_zero_point = 128;
  qkern::jit::set_enabled_for_test(jit);
  const bool ok = qkern::LutGemm::create(p, &g->op).ok();
  qkern::jit::reset_enabled_for_test();
  return ok;
}

void BM_LutJitVsAot(benchmark::State& st, qkern::Isa isa, int64_t m, int64_t k, int64_t n, int bits) {
  if (!qkern::set_max_isa(isa).ok()) {
    st.SkipWithError("isa");
    return;
  }
  Lut aot, jit;
  if (!make_lut(m, k, n, bits, false, &aot) || !make_lut(m, k, n, bits, true, &jit) ||
      jit.op.kernel().find("_jit") == std::string::npos) {
    qkern::reset_max_isa();
    st.SkipWithError("no JIT kernel for this shape");
    return;
  }
  interleave(st, 2.0 * static_cast<double>(m * n * k), [&](int reps) { return batch_ns(aot.op, aot.x.data(), m, k, aot.y, n, reps); },
             [&](int reps) { return batch_ns(jit.op, jit.x.data(), m, k, jit.y, n, reps); });
  qkern::reset_max_isa();
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
  c.ep.kind = qkern::internal::GemmEpilogue::kFp32U8;
  c.ep.hi = 255;
  return c;
}

void BM_Generate(benchmark::State& st, qkern::Isa isa) {
  uint32_t salt = 0;
  std::vector<double> us;
  for (auto _ : st) {
    qkern::jit::GemmJitConf c = conf_for(isa, 200 / static_cast<uint32_t>(isa == qkern::Isa::kAvx512Vnni ? 4 : 2));
    c.ep.zero_point = static_cast<int32_t>(++salt);  // a new key every time
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
  st.counters["median_us"] = median_of(us);
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

const ConvLayer* find_layer(const char* name) {
  for (const ConvNetwork& net : kConvNetworks) {
    for (int32_t i = 0; i < net.size; ++i) {
      if (std::string(net.layers[i].name) == name) return &net.layers[i];
    }
  }
  return nullptr;
}

struct Conv {
  std::vector<uint8_t> x, y;
  std::vector<int8_t> w;
  std::vector<float> ws;
  qkern::QConv2d op;
};

bool make_conv(const ConvLayer& l, bool direct, Conv* c) {
  c->x.assign(static_cast<size_t>(l.h * l.w * l.ic), 0);
  for (size_t i = 0; i < c->x.size(); ++i) c->x[i] = static_cast<uint8_t>(i * 131 + 7);
  c->w.assign(static_cast<size_t>(l.oc * l.kh * l.kw * l.ic), 0);
  for (size_t i = 0; i < c->w.size(); ++i) c->w[i] = static_cast<int8_t>(i * 37 + 11);
  c->ws.assign(static_cast<size_t>(l.oc), 0.003f);
  c->y.assign(static_cast<size_t>(l.oh() * l.ow() * l.oc), 0);
  qkern::QConv2dParams p;
  p.input_channels = l.ic;
  p.output_channels = l.oc;
  p.kernel_h = l.kh;
  p.kernel_w = l.kw;
  p.stride_h = p.stride_w = l.stride;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = l.pad;
  p.activation_zero_point = 128;
  p.weights = c->w.data();
  p.weight_scale = c->ws.data();
  p.output_scale = 0.5f;
  p.output_zero_point = 128;
  qkern::internal::set_conv_direct_for_test(direct);
  const bool ok = qkern::QConv2d::create(p, &c->op).ok();
  qkern::internal::set_conv_direct_for_test(true);
  return ok && c->op.path() == (direct ? qkern::ConvPath::kDirect : qkern::ConvPath::kIm2col);
}

double conv_batch_ns(const Conv& c, const ConvLayer& l, int reps) {
  const auto t0 = Clock::now();
  for (int r = 0; r < reps; ++r) {
    benchmark::DoNotOptimize(c.op.run(c.x.data(), 1, l.h, l.w, const_cast<uint8_t*>(c.y.data())));
  }
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / reps;
}

void BM_ConvDirectVsIm2col(benchmark::State& st, qkern::Isa isa, ConvLayer l) {
  if (!qkern::set_max_isa(isa).ok()) {
    st.SkipWithError("isa");
    return;
  }
  Conv im2col, direct;
  if (!make_conv(l, false, &im2col) || !make_conv(l, true, &direct)) {
    qkern::reset_max_isa();
    st.SkipWithError("no direct path for this layer");
    return;
  }
  std::vector<double> ti, td;
  for (auto _ : st) {
    const double a = conv_batch_ns(im2col, l, 3);
    const double d = conv_batch_ns(direct, l, 3);
    ti.push_back(a);
    td.push_back(d);
    st.SetIterationTime((a + d) * 3 * 1e-9);
  }
  qkern::reset_max_isa();
  const double mi = median_of(ti), md = median_of(td);
  st.counters["im2col_us"] = mi * 1e-3;
  st.counters["direct_us"] = md * 1e-3;
  st.counters["ratio"] = mi / md;
  st.SetLabel(direct.op.kernel() + " vs " + im2col.op.kernel());
}

void register_all() {
  benchmark::RegisterBenchmark("l2_read", BM_L2Read)->UseRealTime();
  for (qkern::Isa isa : qkern::available_isas()) {
    if (isa != qkern::Isa::kAvx2 && isa != qkern::Isa::kAvx512 && isa != qkern::Isa::kAvx512Vnni) continue;
    const std::string in = qkern::isa_name(isa);
    const Peak peak = isa_peak(isa);
    benchmark::RegisterBenchmark(("peak/" + in + "/" + peak.name).c_str(), BM_Peak, peak, "peak/" + in)
        ->UseRealTime();
    const Peak mix = isa_kernel_mix(isa);
    if (mix.fn) {
      benchmark::RegisterBenchmark(("peak/" + in + "/" + mix.name).c_str(), BM_Peak, mix, "mix/" + in)
          ->UseRealTime();
    }
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
    for (int bits : {4, 2}) {
      for (auto kn : {std::pair<int64_t, int64_t>{256, 1024}, {768, 1024}, {768, 3072}, {4096, 1024}, {4096, 4096}}) {
        const int64_t k = kn.first, n = kn.second;
        for (int64_t m : {1, 2, 4}) {
          benchmark::RegisterBenchmark(("jit_lut_vs_aot/" + in + "/m:" + std::to_string(m) + "/k:" +
                                        std::to_string(k) + "/n:" + std::to_string(n) + "/bits:" + std::to_string(bits))
                                           .c_str(),
                                       BM_LutJitVsAot, isa, m, k, n, bits)
              ->UseManualTime()
              ->Iterations(41);
        }
      }
    }
    benchmark::RegisterBenchmark(("jit_generate/" + in).c_str(), BM_Generate, isa)->UseManualTime()->Iterations(101);
    benchmark::RegisterBenchmark(("jit_cache_hit/" + in).c_str(), BM_CacheHit, isa);
    for (const char* name : {"resnet50:conv1", "mobilenetv2:features.0", "resnet50:layer1.0.conv2",
                             "resnet50:layer2.0.conv2", "resnet50:layer2.1.conv2", "resnet50:layer3.0.conv2",
                             "resnet50:layer3.1.conv2", "resnet50:layer4.0.conv2", "resnet50:layer4.1.conv2",
                             "resnet50:layer2.0.downsample.0", "resnet50:layer3.0.downsample.0"}) {
      const ConvLayer* l = find_layer(name);
      if (l == nullptr) continue;
      benchmark::RegisterBenchmark(("jit_conv_vs_im2col/" + in + "/" + name).c_str(), BM_ConvDirectVsIm2col, isa, *l)
          ->UseManualTime()
          ->Iterations(41);
    }
  }
}
#else
void register_all() {}
#endif

}  // namespace
}  // namespace qkern_bench

int main(int argc, char** argv) { return qkern_bench::run_main(argc, argv, qkern_bench::register_all); }
