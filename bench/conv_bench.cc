// bench/conv_bench.cc: the int8 convolution (QConv2d) on every conv layer of
// ResNet-50 and MobileNetV2 (bench/conv_layers.h: batch 1, 224 x 224, one row
// per distinct geometry) per ISA, against oneDNN's and XNNPACK's int8
// convolutions in the same binary, then the networks' totals.
//
// Run time: about 3 minutes on one Zen 4 core with the defaults (measured 0.49 s
// per entry with min_time 0.1 and 3 repetitions; 53 distinct layers x 6 entries
// (3 ISAs, oneDNN, XNNPACK, the s8 entry) + the memory entry + the totals).
// One network: --benchmark_filter=resnet50 (its layers and its totals); one
// layer: --benchmark_filter='/resnet50:layer1\.0\.conv2(/|$)'; one ISA's
// entries: --benchmark_filter='isa:avx2/' (names end in /real_time).
//
// Entries, registered at run time in this order (Google Benchmark runs them in
// registration order, all repetitions of one entry before the next):
//   conv_memory/h:1024/w:1024/c:64/k:3x3   FIRST (VmHWM is a process-wide high-water
//                               mark): one run of a 3x3 stride-1 pad-1 64 -> 64
//                               conv on a 1024 x 1024 x 64 u8 image at the best
//                               ISA. The input and output (64 MiB each) and the
//                               weights are written, the same conv runs once on
//                               16 x 16 in a thread of its own (pages the code in:
//                               resident text counts in VmHWM; its workspaces die
//                               with it), the peak is reset to the current RSS
//                               (/proc/self/clear_refs, where the kernel allows it;
//                               the label says when not), then: rss_growth_KiB =
//                               VmHWM after the run - VmHWM before create();
//                               run_growth_KiB = the part after create();
//                               bound_KiB = kQConvIm2colBytes + kQGemmWorkspaceBytes,
//                               the documented per-thread workspaces; packed_KiB =
//                               packed_bytes(), which the bound does not include.
//   then per layer, in table order (ResNet-50, then MobileNetV2):
//   onednn/<layer>              oneDNN 2.6 convolution_forward (forward_inference,
//                               convolution_direct): u8 NHWC src (zero point 128),
//                               s8 weights (format any, reordered once from OHWI, or
//                               GOHWI {G, OC/G, IC/G, KH, KW} when grouped), s32
//                               bias, u8 NHWC dst (zero point 128), per-OC output
//                               scales (mask 1 << 1), one OpenMP thread; label: the
//                               implementation oneDNN picked (impl_info_str);
//   xnnpack/<layer>             XNNPACK xnn_create_convolution2d_nhwc_qc8 (per-channel
//                               s8 weights): s8 NHWC input (zero point -1), s32 bias,
//                               s8 output (zero point 0), no threadpool (one thread);
//   conv/<layer>/isa:<isa>      QConv2d, u8 activations (zero point 128) x s8 OHWI
//                               weights with per-channel scales, int32 bias, u8
//                               output (zero point 128), fp32 requantization, one
//                               thread; every available ISA but scalar (minutes
//                               per network; it runs only where it is the best ISA);
//                               label: QConv2d::kernel() (it names the path);
//   conv_s8/<layer>/isa:<best>  QConv2d as XNNPACK's: s8 activations (zero point -1),
//                               s8 output (zero point 0), the same bytes as xnnpack/.
//   Both peers see the same input, weight, bias and scale bytes as QConv2d.
//   total/<network>/<impl>      after every layer: sum over the layers of count x
//   total/mobilenetv2:depthwise/<impl>   the median ms (the depthwise rows only);
//                               <impl> is conv/isa:<isa>, conv_s8/isa:<best>,
//                               onednn or xnnpack. Counters: ms, convs (how many of
//                               the network's convolutions the layers measured
//                               cover: 53 and 52 when none was filtered out or
//                               failed), vs_onednn / vs_xnnpack (the peer's total /
//                               this total over the layers both measured). With the
//                               console format the totals are also printed as a
//                               table at the end.
//
// Counters: Gops = 2 * OH * OW * OC * KH * KW * IC / groups per second (1e9);
// ms = milliseconds per run; vs_onednn (conv/) = oneDNN's time / this time,
// vs_xnnpack (conv_s8/) = XNNPACK's time / this time, each against the peer's
// median recorded earlier in the same run (> 1: qkern is faster). oneDNN's ISA
// follows ONEDNN_MAX_CPU_ISA (e.g. ONEDNN_MAX_CPU_ISA=AVX2 for its AVX2 column).
//
// Defaults (overridable): --benchmark_min_time=0.1 (below bench_util.h's 0.2:
// ~320 entries) --benchmark_repetitions=3 --benchmark_report_aggregates_only=true:
// read the medians.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "bench/bench_util.h"
#include "bench/conv_layers.h"
#include "qkern/conv.hpp"
#include "qkern/qkern.hpp"

#ifdef QKERN_BENCH_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
extern "C" void omp_set_num_threads(int);
#endif
#ifdef QKERN_BENCH_XNNPACK
#include <xnnpack.h>
#endif

namespace {

using namespace qkern_bench;  // NOLINT: the shared helpers of bench_util.h

// ------------------------------------------------------------------ data

// Quantization parameters shared by qkern and the peers.
constexpr float kSa = 0.02f, kSo = 0.5f;
constexpr int32_t kZaU8 = 128, kZoU8 = 128;  // u8 activations and output
constexpr int32_t kZaS8 = -1, kZoS8 = 0;     // s8 (the XNNPACK comparison)

// splitmix64: fast enough to fill a few MiB per layer without dominating set-up.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};

// One layer's input (NHWC, batch 1), OHWI weights in [-127, 127] (XNNPACK's
// qc8 weights are symmetric), bias and per-channel weight scales. Built once
// per layer and shared by every entry of the layer.
struct LayerData {
  std::vector<uint8_t> x;
  std::vector<int8_t> w;
  std::vector<int32_t> bias;
  std::vector<float> wscale;
};

const LayerData& layer_data(const ConvLayer& l) {
  static std::map<std::string, std::unique_ptr<LayerData>> cache;
  std::unique_ptr<LayerData>& d = cache[l.name];
  if (d) return *d;
  d.reset(new LayerData);
  Rng rng{7};
  d->x.resize(static_cast<size_t>(l.h) * l.w * l.ic);
  for (uint8_t& v : d->x) v = static_cast<uint8_t>(rng.next() >> 56);
  d->w.resize(static_cast<size_t>(l.oc) * l.kh * l.kw * (l.ic / l.groups));
  for (int8_t& v : d->w) v = static_cast<int8_t>(static_cast<int>(rng.next() % 255) - 127);
  d->bias.resize(static_cast<size_t>(l.oc));
  d->wscale.resize(static_cast<size_t>(l.oc));
  for (int32_t n = 0; n < l.oc; ++n) {
    d->bias[n] = static_cast<int32_t>(rng.next() % 256) * 100 - 12800;
    d->wscale[n] = 0.001f + 0.0001f * static_cast<float>(n % 7);
  }
  return *d;
}

qkern::QConv2dParams conv_params(const ConvLayer& l, const LayerData& d, bool s8) {
  qkern::QConv2dParams p;
  p.input_channels = l.ic;
  p.output_channels = l.oc;
  p.kernel_h = l.kh;
  p.kernel_w = l.kw;
  p.stride_h = p.stride_w = l.stride;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = l.pad;
  p.groups = l.groups;
  p.activation_signed = s8;
  p.activation_zero_point = s8 ? kZaS8 : kZaU8;
  p.activation_scale = kSa;
  p.weights = d.w.data();
  p.weight_layout = qkern::ConvWeightLayout::kOHWI;
  p.weight_scale = d.wscale.data();
  p.weight_scale_per_channel = true;
  p.bias = d.bias.data();
  p.output = qkern::GemmOutput::kRequantized;
  p.scheme = qkern::RequantScheme::kFp32;
  p.output_range.bits = 8;
  p.output_range.is_signed = s8;
  p.output_scale = kSo;
  p.output_zero_point = s8 ? kZoS8 : kZoU8;
  return p;
}

size_t out_bytes(const ConvLayer& l) { return static_cast<size_t>(l.oh() * l.ow() * l.oc); }

// Records this run's Gops under `key` and ms under `key + "/ms"`, sets both counters.
void report(benchmark::State& st, const std::string& key, const ConvLayer& l, double sec) {
  const double gop = l.ops() / sec * 1e-9;
  st.counters["Gops"] = gop;
  st.counters["ms"] = sec * 1e3;
  record(key, gop);
  record(key + "/ms", sec * 1e3);
}

// ------------------------------------------------------------------ qkern

void BM_Conv(benchmark::State& st, const ConvLayer* l, qkern::Isa isa, bool s8) {
  if (!qkern::set_max_isa(isa).ok()) {
    st.SkipWithError("ISA not available");
    return;
  }
  const LayerData& d = layer_data(*l);
  qkern::QConv2d conv;
  const qkern::Status status = qkern::QConv2d::create(conv_params(*l, d, s8), &conv);
  qkern::reset_max_isa();
  if (!status.ok()) {
    st.SkipWithError(status.to_string().c_str());
    return;
  }
  std::vector<uint8_t> y(out_bytes(*l));
  // One untimed run: its status, and each thread's first use of the workspaces.
  if (const qkern::Status s = conv.run(d.x.data(), 1, l->h, l->w, y.data()); !s.ok()) {
    st.SkipWithError(s.to_string().c_str());
    return;
  }
  const double sec = timed_loop(
      st, [&](int64_t) { (void)conv.run(d.x.data(), 1, l->h, l->w, y.data()); });
  st.SetLabel(conv.kernel());
  const std::string key =
      std::string(s8 ? "conv_s8/" : "conv/") + l->name + "/isa:" + qkern::isa_name(isa);
  report(st, key, *l, sec);
  const double gop = l->ops() / sec * 1e-9;
  if (s8) {
    ratio(st, "vs_xnnpack", gop, std::string("xnnpack/") + l->name);
  } else {
    ratio(st, "vs_onednn", gop, std::string("onednn/") + l->name);
  }
}

// ------------------------------------------------------------------ memory

// VmHWM (peak resident set) of this process in KiB, or -1.
int64_t vm_hwm_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.compare(0, 6, "VmHWM:") == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}

// Resets VmHWM to the current RSS (Linux >= 4.0); false where that is refused.
bool reset_hwm() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

void BM_ConvMemory(benchmark::State& st) {
  const ConvLayer l{"memory", 1024, 1024, 64, 64, 3, 3, 1, 1, 1, 1};
  LayerData d;
  Rng rng{3};
  d.x.resize(static_cast<size_t>(l.h) * l.w * l.ic);
  for (uint8_t& v : d.x) v = static_cast<uint8_t>(rng.next() >> 56);
  d.w.resize(static_cast<size_t>(l.oc) * l.kh * l.kw * l.ic);
  for (int8_t& v : d.w) v = static_cast<int8_t>(static_cast<int>(rng.next() % 255) - 127);
  d.bias.assign(static_cast<size_t>(l.oc), 100);
  d.wscale.assign(static_cast<size_t>(l.oc), 0.001f);
  std::vector<uint8_t> y(out_bytes(l));
  std::memset(y.data(), 0x5a, y.size());  // every page mapped before the baseline
  const qkern::QConv2dParams params = conv_params(l, d, false);
  // The same conv on a 16 x 16 image in a thread of its own first: the code it runs is paged
  // in (resident text counts in VmHWM), and its workspaces die with the thread.
  std::thread([&] {
    qkern::QConv2d warm;
    if (qkern::QConv2d::create(params, &warm).ok()) (void)warm.run(d.x.data(), 1, 16, 16, y.data());
  }).join();
  const bool reset = reset_hwm();
  const int64_t before = vm_hwm_kib();
  qkern::QConv2d conv;
  const qkern::Status status = qkern::QConv2d::create(params, &conv);
  const int64_t created = vm_hwm_kib();
  if (!status.ok()) {
    st.SkipWithError(status.to_string().c_str());
    return;
  }
  qkern::Status run_status;
  const double sec = timed_loop(
      st, [&](int64_t) { run_status = conv.run(d.x.data(), 1, l.h, l.w, y.data()); });
  const int64_t after = vm_hwm_kib();
  if (!run_status.ok()) {
    st.SkipWithError(run_status.to_string().c_str());
    return;
  }
  if (before < 0 || after < 0) {
    st.SkipWithError("no VmHWM in /proc/self/status");
    return;
  }
  st.SetLabel(conv.kernel() + (reset ? "" : " (VmHWM not reset: clear_refs refused)"));
  st.counters["rss_growth_KiB"] = static_cast<double>(after - before);
  st.counters["run_growth_KiB"] = static_cast<double>(after - created);
  st.counters["bound_KiB"] =
      static_cast<double>(qkern::kQConvIm2colBytes + qkern::kQGemmWorkspaceBytes) / 1024.0;
  st.counters["packed_KiB"] = static_cast<double>(conv.packed_bytes()) / 1024.0;
  st.counters["Gops"] = l.ops() / sec * 1e-9;
  st.counters["ms"] = sec * 1e3;
}

// ------------------------------------------------------------------ oneDNN

#ifdef QKERN_BENCH_ONEDNN
void BM_OneDnn(benchmark::State& st, const ConvLayer* l) {
  using namespace dnnl;
  using dt = memory::data_type;
  using tag = memory::format_tag;
  omp_set_num_threads(1);
  const LayerData& d = layer_data(*l);
  std::vector<uint8_t> y(out_bytes(*l));
  try {
    engine eng(engine::kind::cpu, 0);
    stream strm(eng);
    const memory::dim g = l->groups;
    const memory::dims w_dims = g == 1 ? memory::dims{l->oc, l->ic, l->kh, l->kw}
                                       : memory::dims{g, l->oc / g, l->ic / g, l->kh, l->kw};
    const memory::desc src_md({1, l->ic, l->h, l->w}, dt::u8, tag::nhwc),
        w_any(w_dims, dt::s8, tag::any),
        w_user_md(w_dims, dt::s8, g == 1 ? tag::ohwi : tag::gohwi),  // QConv2d's bytes
        bias_md({l->oc}, dt::s32, tag::x), dst_md({1, l->oc, l->oh(), l->ow()}, dt::u8, tag::nhwc);
    primitive_attr attr;
    std::vector<float> scales(static_cast<size_t>(l->oc));
    for (int32_t n = 0; n < l->oc; ++n) scales[n] = kSa * d.wscale[n] / kSo;
    attr.set_output_scales(1 << 1, scales);  // dim 1 of the logical NCHW dst: per OC
    attr.set_zero_points(DNNL_ARG_SRC, 0, {kZaU8});
    attr.set_zero_points(DNNL_ARG_DST, 0, {kZoU8});
    const memory::dims strides{l->stride, l->stride}, pad{l->pad, l->pad};
    convolution_forward::primitive_desc pd(
        convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct,
                                  src_md, w_any, bias_md, dst_md, strides, pad, pad),
        attr, eng);
    memory w_user(w_user_md, eng, const_cast<int8_t*>(d.w.data()));
    memory w_packed(pd.weights_desc(), eng);
    reorder(w_user, w_packed).execute(strm, w_user, w_packed);
    memory src(src_md, eng, const_cast<uint8_t*>(d.x.data())),
        bias(bias_md, eng, const_cast<int32_t*>(d.bias.data())), dst(dst_md, eng, y.data());
    convolution_forward prim(pd);
    const std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src},
                                               {DNNL_ARG_WEIGHTS, w_packed},
                                               {DNNL_ARG_BIAS, bias},
                                               {DNNL_ARG_DST, dst}};
    prim.execute(strm, args);  // untimed: the first run's set-up
    strm.wait();
    const double sec = timed_loop(st, [&](int64_t) {
      prim.execute(strm, args);
      strm.wait();
    });
    st.SetLabel(pd.impl_info_str());
    report(st, std::string("onednn/") + l->name, *l, sec);
  } catch (const dnnl::error& e) {
    st.SkipWithError((std::string("oneDNN: ") + e.what()).c_str());
  }
}
#endif

// ------------------------------------------------------------------ XNNPACK

#ifdef QKERN_BENCH_XNNPACK
void BM_Xnnpack(benchmark::State& st, const ConvLayer* l) {
  static const xnn_status init = xnn_initialize(nullptr);
  if (init != xnn_status_success) {
    st.SkipWithError("xnn_initialize failed");
    return;
  }
  const LayerData& d = layer_data(*l);
  std::vector<uint8_t> y(out_bytes(*l));
  const uint32_t g = static_cast<uint32_t>(l->groups), pad = static_cast<uint32_t>(l->pad);
  xnn_operator_t op = nullptr;
  // Weights [groups][OC/groups][KH][KW][IC/groups]: QConv2d's OHWI bytes (depthwise:
  // IC/groups = OC/groups = 1, which XNNPACK runs with its depthwise kernels).
  xnn_status s = xnn_create_convolution2d_nhwc_qc8(
      pad, pad, pad, pad, static_cast<uint32_t>(l->kh), static_cast<uint32_t>(l->kw),
      static_cast<uint32_t>(l->stride), static_cast<uint32_t>(l->stride), 1, 1, g,
      static_cast<size_t>(l->ic / l->groups), static_cast<size_t>(l->oc / l->groups),
      static_cast<size_t>(l->ic), static_cast<size_t>(l->oc), static_cast<int8_t>(kZaS8), kSa,
      d.wscale.data(), d.w.data(), d.bias.data(), static_cast<int8_t>(kZoS8), kSo, -128, 127,
      /*flags=*/0, &op);
  if (s != xnn_status_success) {
    st.SkipWithError(("xnn_create_convolution2d_nhwc_qc8: status " + std::to_string(s)).c_str());
    return;
  }
  std::unique_ptr<xnn_operator, xnn_status (*)(xnn_operator_t)> guard(op, &xnn_delete_operator);
  s = xnn_setup_convolution2d_nhwc_qc8(op, 1, static_cast<size_t>(l->h), static_cast<size_t>(l->w),
                                       reinterpret_cast<const int8_t*>(d.x.data()),
                                       reinterpret_cast<int8_t*>(y.data()), nullptr);
  if (s == xnn_status_success) s = xnn_run_operator(op, nullptr);  // untimed
  if (s != xnn_status_success) {
    st.SkipWithError(("xnn_setup/run: status " + std::to_string(s)).c_str());
    return;
  }
  const double sec = timed_loop(st, [&](int64_t) { (void)xnn_run_operator(op, nullptr); });
  st.SetLabel("xnn_convolution2d_nhwc_qc8");
  report(st, std::string("xnnpack/") + l->name, *l, sec);
}
#endif

// ------------------------------------------------------------------ totals

// An implementation's entries: the key of layer L is prefix + "/" + L.name + suffix.
struct Impl {
  std::string prefix, suffix;
  std::string key(const ConvLayer& l) const { return prefix + "/" + l.name + suffix + "/ms"; }
  std::string name() const { return prefix + (suffix.empty() ? "" : suffix); }
};

struct TotalSpec {
  const ConvNetwork* net;
  bool depthwise_only;
  Impl impl;
  std::vector<std::pair<std::string, Impl>> peers;  // counter name, peer
  std::string name() const {
    return std::string(net->name) + (depthwise_only ? ":depthwise" : "") + "/" + impl.name();
  }
};

struct Total {
  double ms = 0;
  int convs = 0, layers = 0;
};

// Sum of count x median ms over the layers `impl` measured (and, with `peer`, the peer too).
Total total(const TotalSpec& t, const Impl& impl, const Impl* peer) {
  Total r;
  for (int32_t i = 0; i < t.net->size; ++i) {
    const ConvLayer& l = t.net->layers[i];
    if (t.depthwise_only && !l.depthwise()) continue;
    const double ms = median(impl.key(l));
    if (ms <= 0 || (peer && median(peer->key(l)) <= 0)) continue;
    r.ms += l.count * ms;
    r.convs += l.count;
    ++r.layers;
  }
  return r;
}

void BM_Total(benchmark::State& st, const TotalSpec* t) {
  for (auto _ : st) {
  }
  const Total mine = total(*t, t->impl, nullptr);
  if (mine.layers == 0) {
    st.SkipWithError("no layer of this implementation was measured");
    return;
  }
  st.counters["ms"] = mine.ms;
  st.counters["convs"] = mine.convs;
  for (const auto& peer : t->peers) {
    const Total a = total(*t, t->impl, &peer.second), b = total(*t, peer.second, &t->impl);
    if (a.ms > 0 && b.ms > 0) st.counters[peer.first] = b.ms / a.ms;
  }
}

std::vector<TotalSpec>& total_specs() {
  static std::vector<TotalSpec> specs;  // stable addresses once registration starts
  return specs;
}

// The totals as a table (console format only: JSON/CSV output stays parseable).
void print_totals() {
  bool any = false;
  for (const TotalSpec& t : total_specs()) any = any || total(t, t.impl, nullptr).layers > 0;
  if (!any) return;
  std::printf("\nTotals (sum of count x median ms; vs_*: peer total / this total over the layers "
              "both measured)\n");
  std::printf("%-46s %10s %6s %10s %10s\n", "network/impl", "ms", "convs", "vs_onednn",
              "vs_xnnpack");
  for (const TotalSpec& t : total_specs()) {
    const Total mine = total(t, t.impl, nullptr);
    if (mine.layers == 0) continue;
    std::string cols[2] = {"-", "-"};
    for (const auto& peer : t.peers) {
      const Total a = total(t, t.impl, &peer.second), b = total(t, peer.second, &t.impl);
      if (a.ms <= 0 || b.ms <= 0) continue;
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.3f", b.ms / a.ms);
      cols[peer.first == "vs_onednn" ? 0 : 1] = buf;
    }
    std::printf("%-46s %10.3f %6d %10s %10s\n", t.name().c_str(), mine.ms, mine.convs,
                cols[0].c_str(), cols[1].c_str());
  }
}

// ------------------------------------------------------------------ registration

std::vector<qkern::Isa> bench_isas() {
  std::vector<qkern::Isa> isas;
  for (qkern::Isa isa : qkern::available_isas()) {
    if (isa != qkern::Isa::kScalar || qkern::best_isa() == qkern::Isa::kScalar) isas.push_back(isa);
  }
  return isas;
}

void register_all() {
  benchmark::RegisterBenchmark("conv_memory/h:1024/w:1024/c:64/k:3x3", BM_ConvMemory)
      ->UseRealTime()
      ->Iterations(1)
      ->Repetitions(1);
  const qkern::Isa best = qkern::best_isa();
  const std::vector<qkern::Isa> isas = bench_isas();
  for (const ConvNetwork& net : kConvNetworks) {
    for (int32_t i = 0; i < net.size; ++i) {
      const ConvLayer* l = &net.layers[i];
      const std::string name = l->name;
#ifdef QKERN_BENCH_ONEDNN
      benchmark::RegisterBenchmark(("onednn/" + name).c_str(), BM_OneDnn, l)->UseRealTime();
#endif
#ifdef QKERN_BENCH_XNNPACK
      benchmark::RegisterBenchmark(("xnnpack/" + name).c_str(), BM_Xnnpack, l)->UseRealTime();
#endif
      for (qkern::Isa isa : isas) {
        benchmark::RegisterBenchmark(("conv/" + name + "/isa:" + qkern::isa_name(isa)).c_str(),
                                     BM_Conv, l, isa, false)
            ->UseRealTime();
      }
      benchmark::RegisterBenchmark(("conv_s8/" + name + "/isa:" + qkern::isa_name(best)).c_str(),
                                   BM_Conv, l, best, true)
          ->UseRealTime();
    }
  }
  const Impl onednn{"onednn", ""}, xnnpack{"xnnpack", ""};
  const Impl s8{"conv_s8", std::string("/isa:") + qkern::isa_name(best)};
  std::vector<TotalSpec>& specs = total_specs();
  for (const ConvNetwork& net : kConvNetworks) {
    for (bool dw : {false, true}) {
      bool any_dw = false;
      for (int32_t i = 0; i < net.size; ++i) any_dw = any_dw || net.layers[i].depthwise();
      if (dw && !any_dw) continue;
      for (qkern::Isa isa : isas) {
        specs.push_back({&net, dw, Impl{"conv", std::string("/isa:") + qkern::isa_name(isa)},
                         {{"vs_onednn", onednn}}});
      }
      specs.push_back({&net, dw, s8, {{"vs_xnnpack", xnnpack}}});
#ifdef QKERN_BENCH_ONEDNN
      specs.push_back({&net, dw, onednn, {}});
#endif
#ifdef QKERN_BENCH_XNNPACK
      specs.push_back({&net, dw, xnnpack, {}});
#endif
    }
  }
  for (const TotalSpec& t : specs) {
    benchmark::RegisterBenchmark(("total/" + t.name()).c_str(), BM_Total, &t)
        ->Iterations(1)
        ->Repetitions(1);
  }
}

// True unless --benchmark_format asks for something other than the console.
bool console_format(int argc, char** argv) {
  bool console = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--benchmark_format=", 0) == 0) console = a == "--benchmark_format=console";
  }
  return console;
}

}  // namespace

int main(int argc, char** argv) {
  // This binary's default min_time, after run_main's (which it inserts first) and
  // before the caller's flags (which override both).
  std::vector<char*> args(argv, argv + argc);
  std::string min_time = "--benchmark_min_time=0.1";
  args.insert(args.begin() + 1, &min_time[0]);
  const bool console = console_format(argc, argv);
  const int rc = qkern_bench::run_main(static_cast<int>(args.size()), args.data(), register_all);
  if (console) print_totals();
  return rc;
}
