// bench/quantize_bench.cc: the quantize family's throughput, per op x size x ISA.
//
// Entries, registered at run time in this order (Google Benchmark runs them in
// registration order, all repetitions of one entry before the next):
//   copy_f32/n:<n>       memcpy of 5n/2 bytes: read + written = 5n bytes, what
//                        quantize f32->u8 moves (4n read, n written);
//   copy_f32_full/n:<n>  memcpy of 4n bytes: read + written = 8n bytes;
//   <op>/<params>/n:<n>/isa:<isa> for every op below and every ISA of
//                        qkern::available_isas(), scalar first.
// Sizes: n = 4096 elements (16 KiB of floats: L1), 65536 (256 KiB: L2, which is
// 512 KiB per core on the development machine) and 64Mi (256 MiB of floats: far
// beyond the 32 MiB L3). Every entry reports bytes read + written per second
// (bytes_per_second; Google Benchmark prints it in units of 2^30 B/s as "G/s")
// and elements per second (items_per_second).
//
// Ratios measured in the same run (STYLE.md habit 6), as user counters:
//   vs_scalar  throughput / the same op's scalar throughput at the same n
//              (median of the scalar entry's repetitions, which ran earlier);
//   vs_copy    GB/s / the GB/s of the copy that moves the same bytes per element
//              at the same n (copy_f32 for 5n-byte ops, copy_f32_full for 8n).
// A counter is left out when its peer did not run (filtered out, or random
// interleaving). The goals these make visible (not asserted here): quantize
// f32->u8 per tensor at 64Mi elements >= 0.9x copy_f32; in L2, the best ISA
// >= 8x scalar.
//
// Defaults, each overridable on the command line or through its BENCHMARK_*
// environment variable: --benchmark_min_time=0.25 --benchmark_repetitions=3
// --benchmark_report_aggregates_only=true (the machine is shared and noisy:
// read the medians). The 64Mi entries run a fixed 3 iterations per repetition
// instead (1 for scalar). All timings are wall-clock. The whole suite takes
// about 80 s on one core of the development machine (scalar + avx2; scalar's
// 64Mi entries alone take ~35 s); each further ISA adds about 20 s.
//
// Caveat on the 64Mi copies: glibc 2.36's memcpy takes a faster path (4 pages
// interleaved, non-temporal) from 16x its non-temporal threshold up, 192 MiB on
// the development machine: copy_f32 (160 MiB) measured 17-20 GB/s read +
// written there, copy_f32_full (256 MiB) 27-31 GB/s. vs_copy is relative to
// copy_f32 as glibc runs it, not to the memory system's best.
//
// Noise: the development machine is a VM shared with other work; slowdowns of
// up to 2x lasting seconds occur with no trace in the load or steal time. The
// ratio counters divide by a baseline measured earlier, so a disturbed
// baseline skews a whole column: check the _cv rows, and rerun to compare.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "qkern/qkern.hpp"

namespace {

using qkern::Dims;
using qkern::Isa;
using qkern::Status;

constexpr int64_t kL1Elements = 4096;
constexpr int64_t kL2Elements = 65536;
constexpr int64_t kDramElements = int64_t{64} * 1024 * 1024;

// ------------------------------------------------------------------- data

// The u8 code range [0, 255] for x in [-1.1, 1.1]: x / s + zp spans
// [-12.3, 268.3], so every code occurs and about 9% of the elements clamp.
constexpr float kScale = 2.0f / 255.0f;
constexpr int32_t kZeroPoint = 128;
constexpr float kXRange = 1.1f;
// Per-channel s8: 256 channels along the last axis, scales within +-5% of kScale
// and small zero points, so each channel also covers [-128, 127] and clamps.
constexpr int64_t kChannels = 256;
// Requantize: accumulators in [-1.1 * 2^16, 1.1 * 2^16] times m = 127.5 / 2^16
// (exact in fp32) plus 128 also span [-12, 268].
constexpr int32_t kAccRange = 72089;  // 1.1 * 2^16
constexpr float kRequantMultiplier = 127.5f / 65536.0f;

// Counter-based generator (splitmix64 of seed + index): element i has the same
// value whatever the buffer's size, so every size sees a prefix of the same data.
uint64_t mix(uint64_t seed, uint64_t i) {
  uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
// Uniform in [-range, range).
float uniform(uint64_t seed, uint64_t i, float range) {
  const float u = static_cast<float>(mix(seed, i) >> 40) * (1.0f / 16777216.0f);  // [0, 1)
  return range * (2.0f * u - 1.0f);
}

template <typename T>
struct FreeDeleter {
  void operator()(T* p) const { std::free(p); }
};
template <typename T>
using Buffer = std::unique_ptr<T[], FreeDeleter<T>>;

// 64-byte aligned (one cache line, one zmm), so no vector load splits a line
// because of where malloc happened to put the buffer.
template <typename T>
Buffer<T> allocate(int64_t n) {
  const size_t bytes = (static_cast<size_t>(n) * sizeof(T) + 63) / 64 * 64;
  T* p = static_cast<T*>(std::aligned_alloc(64, bytes));
  if (p == nullptr) std::abort();
  return Buffer<T>(p);
}

// Inputs (random, fixed seeds) and outputs shared by every entry. Outputs are
// written once here so their pages are faulted in before any timing.
struct Data {
  int64_t capacity = 0;
  Buffer<float> x, dy;        // f32 inputs
  Buffer<uint8_t> codes;      // u8 input of dequantize
  Buffer<int32_t> acc;        // s32 input of requantize
  Buffer<float> out;          // f32 output (dequantize, fake quant, dx, copies)
  Buffer<uint8_t> codes_out;  // 8-bit output (quantize, requantize)

  // Per-channel parameters of quantize_f32_s8/per_channel.
  float channel_scale[kChannels];
  int32_t channel_zero_point[kChannels];
  // requantize_s32_u8_fixedpoint: kRequantMultiplier as TFLite's (Q31, shift).
  int32_t fixed_multiplier = 0, fixed_shift = 0;
};

// The shared data, grown (reallocated and refilled) when an entry needs more
// than it holds. Entries are registered by ascending n within each op, so the
// 64Mi buffers are allocated once, by the first 64Mi entry that runs.
const Data& data(int64_t n) {
  static Data d = [] {
    Data init;
    for (int64_t c = 0; c < kChannels; ++c) {
      init.channel_scale[c] = kScale * (0.95f + 0.1f * static_cast<float>(c) / (kChannels - 1));
      init.channel_zero_point[c] = static_cast<int32_t>(c % 7) - 3;
    }
    if (!qkern::quantize_multiplier(kRequantMultiplier, &init.fixed_multiplier, &init.fixed_shift)
             .ok()) {
      std::abort();
    }
    return init;
  }();
  if (n <= d.capacity) return d;
  d.x.reset();  // free the old buffers before allocating the new ones
  d.dy.reset();
  d.codes.reset();
  d.acc.reset();
  d.out.reset();
  d.codes_out.reset();
  d.x = allocate<float>(n);
  d.dy = allocate<float>(n);
  d.codes = allocate<uint8_t>(n);
  d.acc = allocate<int32_t>(n);
  d.out = allocate<float>(n);
  d.codes_out = allocate<uint8_t>(n);
  for (int64_t i = 0; i < n; ++i) {
    d.x[i] = uniform(1, i, kXRange);
    d.dy[i] = uniform(2, i, 1.0f);
    d.codes[i] = static_cast<uint8_t>(mix(3, i));
    d.acc[i] = static_cast<int32_t>(mix(4, i) % (2 * kAccRange + 1)) - kAccRange;
  }
  std::memset(d.out.get(), 0, static_cast<size_t>(n) * sizeof(float));
  std::memset(d.codes_out.get(), 0, static_cast<size_t>(n));
  d.capacity = n;
  return d;
}

// ---------------------------------------------------------------- the ops

qkern::QuantParams u8_per_tensor() {
  static const float scale = kScale;
  static const int32_t zero_point = kZeroPoint;
  qkern::QuantParams p;
  p.range = {8, false, false};
  p.scale = &scale;
  p.zero_point = &zero_point;
  return p;
}

qkern::RequantParams u8_requant(qkern::RequantScheme scheme, const Data& d) {
  static const float multiplier = kRequantMultiplier;
  qkern::RequantParams p;
  p.scheme = scheme;
  p.range = {8, false, false};
  p.multiplier = &multiplier;
  p.fixed_multiplier = &d.fixed_multiplier;
  p.shift = &d.fixed_shift;
  p.zero_point = kZeroPoint;
  return p;
}

struct Op {
  const char* name;       // the entry name's prefix, "<op>/<params>"
  int bytes_per_element;  // read + written
  const char* copy_peer;  // the copy moving the same bytes per element, or null
  Status (*run)(const Data& d, int64_t n);
};

const Op kOps[] = {
    {"quantize_f32_u8/per_tensor", 5, "copy_f32",
     [](const Data& d, int64_t n) {
       return qkern::quantize(d.x.get(), Dims(n), u8_per_tensor(), d.codes_out.get());
     }},
    {"quantize_f32_s8/per_channel", 5, "copy_f32",
     [](const Data& d, int64_t n) {
       // dims {n / 256, 256}, axis 1: channel-last, one scale per element of a row.
       qkern::QuantParams p;
       p.range = {8, true, false};
       p.scale = d.channel_scale;
       p.zero_point = d.channel_zero_point;
       p.axis = 1;
       return qkern::quantize(d.x.get(), Dims{n / kChannels, kChannels}, p, d.codes_out.get());
     }},
    {"quantize_f32_u8/per_tensor_divide", 5, "copy_f32",
     [](const Data& d, int64_t n) {
       return qkern::quantize(d.x.get(), Dims(n), u8_per_tensor(), d.codes_out.get(),
                              qkern::QuantizeMode::kDivide);
     }},
    {"dequantize_u8_f32/per_tensor", 5, "copy_f32",
     [](const Data& d, int64_t n) {
       return qkern::dequantize(d.codes.get(), Dims(n), u8_per_tensor(), d.out.get());
     }},
    {"requantize_s32_u8_fp32/per_tensor", 5, "copy_f32",
     [](const Data& d, int64_t n) {
       return qkern::requantize(d.acc.get(), Dims(n), u8_requant(qkern::RequantScheme::kFp32, d),
                                d.codes_out.get());
     }},
    {"requantize_s32_u8_fixedpoint/per_tensor", 5, "copy_f32",
     [](const Data& d, int64_t n) {
       return qkern::requantize(d.acc.get(), Dims(n),
                                u8_requant(qkern::RequantScheme::kFixedPoint, d),
                                d.codes_out.get());
     }},
    {"choose_qparams_f32_u8/per_tensor", 4, nullptr,
     [](const Data& d, int64_t n) {
       float scale = 0.0f;
       int32_t zero_point = 0;
       return qkern::choose_qparams(d.x.get(), Dims(n), {8, false, false},
                                    qkern::QParamsMode::kAsymmetric, -1, &scale, &zero_point);
     }},
    {"fake_quantize_f32/per_tensor", 8, "copy_f32_full",
     [](const Data& d, int64_t n) {
       return qkern::fake_quantize(d.x.get(), Dims(n), u8_per_tensor(), d.out.get());
     }},
    {"fake_quantize_backward_f32/per_tensor", 12, nullptr,  // reads x, dy; writes dx
     [](const Data& d, int64_t n) {
       float dscale = 0.0f, dzero_point = 0.0f;
       return qkern::fake_quantize_backward(d.x.get(), d.dy.get(), Dims(n), u8_per_tensor(),
                                            {d.out.get(), &dscale, &dzero_point});
     }},
};

// ------------------------------------------------- timings of earlier entries

// Seconds per iteration of every run of an entry, with the run's iteration
// count, keyed by entry name (without Google Benchmark's suffixes).
std::map<std::string, std::vector<std::pair<int64_t, double>>>& timings() {
  static std::map<std::string, std::vector<std::pair<int64_t, double>>> t;
  return t;
}

// The median seconds per iteration over the reported runs of `name`, or 0 if it
// has not run. Google Benchmark calls an entry's body several times per
// repetition while it grows the iteration count, reports the last call, and
// reuses that count in later repetitions: the reported runs are exactly the
// calls with the largest iteration count.
double median_seconds(const std::string& name) {
  const auto it = timings().find(name);
  if (it == timings().end() || it->second.empty()) return 0.0;
  int64_t most = 0;
  for (const auto& run : it->second) most = std::max(most, run.first);
  std::vector<double> s;
  for (const auto& run : it->second) {
    if (run.first == most) s.push_back(run.second);
  }
  std::sort(s.begin(), s.end());
  const size_t m = s.size() / 2;
  return s.size() % 2 ? s[m] : 0.5 * (s[m - 1] + s[m]);
}

// Times the state loop on the wall clock (as UseRealTime reports it) and
// records the seconds per iteration under `name`.
class LoopTimer {
 public:
  LoopTimer() : start_(std::chrono::steady_clock::now()) {}
  double stop(const benchmark::State& state, const std::string& name) {
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
    const double seconds = elapsed.count() / static_cast<double>(state.iterations());
    timings()[name].emplace_back(static_cast<int64_t>(state.iterations()), seconds);
    return seconds;
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

std::string size_name(const char* prefix, int64_t n) {
  return std::string(prefix) + "/n:" + std::to_string(n);
}

void set_throughput(benchmark::State& state, int64_t n, int64_t bytes_per_element) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * n);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * n * bytes_per_element);
}

// ---------------------------------------------------------------- bodies

// copy_f32 (bytes_moved = 5n: copies 5n/2 bytes) and copy_f32_full (8n: copies
// 4n bytes): what the memory system gives a streaming op moving the same bytes,
// through glibc's memcpy (which switches to non-temporal stores for copies
// larger than a fraction of the L3).
void bm_copy(benchmark::State& state, const std::string& name, int64_t n, int64_t bytes_moved) {
  const Data& d = data(n);
  const size_t bytes = static_cast<size_t>(bytes_moved / 2);
  const auto* src = reinterpret_cast<const unsigned char*>(d.x.get());
  auto* dst = reinterpret_cast<unsigned char*>(d.out.get());
  std::memcpy(dst, src, bytes);  // warm: in-cache sizes start in cache, as the ops do
  LoopTimer timer;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    std::memcpy(dst, src, bytes);
    benchmark::ClobberMemory();
  }
  timer.stop(state, name);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * n);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * bytes_moved);
}

void bm_op(benchmark::State& state, const Op& op, int64_t n, Isa isa) {
  const Data& d = data(n);
  const std::string name = size_name(op.name, n) + "/isa:" + qkern::isa_name(isa);
  if (Status s = qkern::set_max_isa(isa); !s.ok()) {
    state.SkipWithError(s.to_string().c_str());
    return;
  }
  // In-cache sizes: one call outside the loop warms the caches. (At 64Mi it
  // would only add a pass, 1.6 s for scalar quantize.)
  if (n < kDramElements) op.run(d, n);
  LoopTimer timer;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    if (Status s = op.run(d, n); !s.ok()) {
      state.SkipWithError(s.to_string().c_str());
      break;
    }
    benchmark::ClobberMemory();
  }
  qkern::reset_max_isa();
  if (state.error_occurred()) return;
  const double seconds = timer.stop(state, name);
  set_throughput(state, n, op.bytes_per_element);

  if (isa == Isa::kScalar) {
    state.counters["vs_scalar"] = 1.0;
  } else if (const double scalar = median_seconds(size_name(op.name, n) + "/isa:scalar");
             scalar > 0.0) {
    state.counters["vs_scalar"] = scalar / seconds;
  }
  if (op.copy_peer != nullptr) {
    if (const double copy = median_seconds(size_name(op.copy_peer, n)); copy > 0.0) {
      // Both move bytes_per_element * n bytes per iteration: the GB/s ratio is the time ratio.
      state.counters["vs_copy"] = copy / seconds;
    }
  }
}

// ------------------------------------------------------------ registration

// 64Mi entries run a fixed, small iteration count: one iteration already
// streams >= 160 MiB, and a scalar one takes seconds (~20 ns per element).
int64_t dram_iterations(Isa isa) { return isa == Isa::kScalar ? 1 : 3; }

void apply_size(benchmark::internal::Benchmark* b, int64_t n, int64_t iterations_at_dram) {
  b->UseRealTime();
  if (n >= kDramElements) {
    b->Iterations(iterations_at_dram)->Unit(benchmark::kMillisecond);
  } else if (n >= kL2Elements) {
    b->Unit(benchmark::kMicrosecond);
  }
}

void register_all() {
  const int64_t sizes[] = {kL1Elements, kL2Elements, kDramElements};
  // Baselines first: the ops' vs_copy counters read their timings.
  for (const auto& copy :
       {std::make_pair("copy_f32", int64_t{5}), std::make_pair("copy_f32_full", int64_t{8})}) {
    for (int64_t n : sizes) {
      const std::string name = size_name(copy.first, n);
      const int64_t bytes_moved = copy.second * n;
      apply_size(benchmark::RegisterBenchmark(name.c_str(),
                                              [name, n, bytes_moved](benchmark::State& state) {
                                                bm_copy(state, name, n, bytes_moved);
                                              }),
                 n, 3);
    }
  }
  // available_isas() is lowest first and starts with scalar: scalar runs
  // before the SIMD entries that divide by its time.
  const std::vector<Isa> isas = qkern::available_isas();
  for (const Op& op : kOps) {
    for (int64_t n : sizes) {
      for (Isa isa : isas) {
        const std::string name = size_name(op.name, n) + "/isa:" + qkern::isa_name(isa);
        const Op* p = &op;
        apply_size(
            benchmark::RegisterBenchmark(
                name.c_str(), [p, n, isa](benchmark::State& state) { bm_op(state, *p, n, isa); }),
            n, dram_iterations(isa));
      }
    }
  }
}

// argv with this suite's defaults in front of the user's arguments: Google
// Benchmark parses flags in order, so a flag given on the command line wins.
// A default is left out when its BENCHMARK_* environment variable is set.
std::vector<char*> with_defaults(int argc, char** argv) {
  static const struct {
    const char* env;
    const char* flag;
  } kDefaults[] = {
      {"BENCHMARK_MIN_TIME", "--benchmark_min_time=0.25"},
      {"BENCHMARK_REPETITIONS", "--benchmark_repetitions=3"},
      {"BENCHMARK_REPORT_AGGREGATES_ONLY", "--benchmark_report_aggregates_only=true"},
  };
  std::vector<char*> args;
  args.push_back(argv[0]);
  for (const auto& d : kDefaults) {
    if (std::getenv(d.env) == nullptr) args.push_back(const_cast<char*>(d.flag));
  }
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args = with_defaults(argc, argv);
  int n = static_cast<int>(args.size()) - 1;
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;

  std::string isas;
  for (Isa isa : qkern::available_isas())
    isas += std::string(isas.empty() ? "" : ",") + qkern::isa_name(isa);
  benchmark::AddCustomContext("qkern_cpu", qkern::cpu_info().model);
  benchmark::AddCustomContext("qkern_isas", isas);
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
