// tools/qkern.cc: the `qkern` driver CLI (DESIGN.md sections 2 and 5).
//
//   qkern info    what this CPU and build can run, which ISA dispatch picks, the kernels per op
//   qkern tour    every op x every available ISA x L1 / L2 / beyond-LLC sizes: each result
//                 checked against the scalar reference, timed, and compared with memcpy; then
//                 the int8 GEMM (QGemm) at small shapes on every available ISA; then the int8
//                 convolution (QConv2d) on ResNet-50 and MobileNetV2 layers, cropped; then
//                 k-means codebooks and the lookup GEMM (kmeans_fit, pack_indices, LutGemm)
//   qkern bench   one problem, benchdnn-style: check, time, one line of text or JSON
//
// The tool calls only the public API, plus the scalar references (reference/quantize_ref.h,
// reference/gemm_ref.h, reference/conv_ref.h, reference/lut_gemm_ref.h,
// reference/codebook_ref.h, reference/kmeans_ref.h) as the expected answers, so what it measures
// is what a user's call costs, and the layer tables of bench/conv_layers.h. No SIMD code lives
// here.
#include "qkern/qkern.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "bench/conv_layers.h"
#include "kernels/common/registry.h"
#include "qkern/conv.hpp"
#include "reference/codebook_ref.h"
#include "reference/conv_ref.h"
#include "reference/gemm_ref.h"
#include "reference/kmeans_ref.h"
#include "reference/lut_gemm_ref.h"
#include "reference/quantize_ref.h"
#if QKERN_HAVE_JIT
#include "jit/code_cache.h"
#include "jit/jit.h"
#include "kernels/conv/conv_kernels.h"
#endif

namespace qkern_cli {
namespace {

using qkern::Dims;
using qkern::Isa;
using qkern::KmeansMethod;
using qkern::LutActivation;
using qkern::LutGemm;
using qkern::LutGemmParams;
using qkern::ParallelFor;
using qkern::QConv2d;
using qkern::QConv2dParams;
using qkern::QGemm;
using qkern::QGemmParams;
using qkern::QuantParams;
using qkern::QuantRange;
using qkern::RequantParams;
using qkern::RequantScheme;
using qkern::Status;
namespace ref = qkern::ref;

// Exit statuses: a check or a library call failed (1); the command line or the environment is
// wrong (2), so a script can tell "qkern found a bug" from "I called qkern wrongly".
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr const char* kUsage =
    "usage: qkern <command> [flags]\n"
    "\n"
    "commands:\n"
    "  info      CPU model and features, the ISAs of this architecture (available or not),\n"
    "            the chosen and best ISA, the caps in effect, the kernels of each op\n"
    "  tour      every op on every available ISA at L1, L2 and beyond-LLC sizes: checked\n"
    "            against the scalar reference, timed, compared with a memcpy of the same bytes;\n"
    "            then the int8 GEMM at small shapes on every available ISA (kernel, Gop/s);\n"
    "            then the int8 convolution on a few ResNet-50 / MobileNetV2 layers, cropped;\n"
    "            then kmeans_fit and the lookup GEMM on a fitted 4-bit W (error vs float W)\n"
    "              --quick        small sizes and few repeats only (a few seconds)\n"
    "  bench     one problem: check against the reference, time it, print one line\n"
    "              --op <quantize|dequantize|requantize|choose_qparams|fake_quantize|\n"
    "                    fake_quantize_backward|gemm|lut_gemm|kmeans|conv>         (required)\n"
    "              --n <elements>   (required; gemm, lut_gemm: output channels N, default 4096)\n"
    "              --channels C   per-channel parameters along the last axis, dims {n/C, C}\n"
    "              --signed       int8 codes (default uint8)\n"
    "              --bits B       code width, 2..8 (default 8; lut_gemm and kmeans: below)\n"
    "              --scheme fp32|fixed_point   requantize, gemm, lut_gemm, conv (default fp32)\n"
    "              --isa <name>   cap dispatch at this ISA (must be available here)\n"
    "              --repeats R    timed samples; the median is reported (default 15)\n"
    "              --json         one JSON object instead of key=value text\n"
    "            --op gemm: C (M x N, u8, zero point 128) = requantize(A W^T + bias), A M x K u8\n"
    "            (zero point 128), W N x K s8 with per-channel scales, int32 bias; prints Gop/s\n"
    "            (2 M N K / time) and weight GB/s (packed bytes / time). Rows past the 4th are\n"
    "            checked only when 2 M N K <= 2^27. --channels, --signed, --bits do not apply.\n"
    "              --m M          rows of A and C (default 1)\n"
    "              --k K          reduction length, 1..65793 (default 4096)\n"
    "              --threads T    run through a qkern::ThreadPool of T threads (default 1)\n"
    "            --op lut_gemm: the lookup GEMM (LutGemm) on W N x K = random labels into sorted\n"
    "            Gaussian codebooks, packed; X M x K N(0, 1). Takes --m, --k, --n, --threads as\n"
    "            gemm; prints Gop/s (2 M N K / time) and index GB/s (N packed_row_bytes(K, bits)\n"
    "            / time); checks as gemm (u8 output: every byte; f32: the error bound).\n"
    "              --bits 4|2     index width (default 4)\n"
    "              --act u8|s8|f32   u8, s8: X quantized (choose_qparams), int32 bias, u8 output\n"
    "                             requantized (--scheme); f32: float X, float bias and output\n"
    "                             (default u8)\n"
    "              --per-row      one codebook per row of W (default one for the tensor)\n"
    "            --op kmeans: kmeans_fit on a rows x cols matrix of N(0, 0.02^2) values; prints\n"
    "            seconds per fit and the SSE; checks the labels (nearest centroid) and the SSE.\n"
    "              --rows R --cols C   the matrix (required)\n"
    "              --bits B       2^B centroids, 1..8 (default 4)\n"
    "              --method optimal|lloyd   exact 1-D DP or Lloyd's iterations (default optimal)\n"
    "              --per-row      one codebook per row (default one for the tensor)\n"
    "              --repeats R    as above (default 3)\n"
    "            --op conv: the int8 convolution (QConv2d) on one NHWC image (batch 1): u8\n"
    "            activations (zero point 128) x s8 OHWI weights with per-channel scales, int32\n"
    "            bias, u8 codes out (zero point 128), requantized (--scheme); prints Gop/s\n"
    "            (2 OH OW OC KH KW IC/groups / time), ms, the path and the kernel. Checks every\n"
    "            pixel when that is at most 2^27 ops, else the corners, the middles of the edges,\n"
    "            the centre and random pixels (all channels) against reference/conv_ref.h.\n"
    "              --h H --w W    input size (default 56 x 56)\n"
    "              --ic C --oc C  input and output channels (default 64, 64)\n"
    "              --kh K --kw K  kernel size (default 3 x 3)\n"
    "              --stride S --dilation D --groups G   both axes (default 1; depthwise:\n"
    "                             --groups = --ic = --oc)\n"
    "              --pad P        on every side (default dilation (kernel - 1) / 2 per axis)\n"
    "              --layer NET:NAME   the geometry of a ResNet-50 or MobileNetV2 layer instead\n"
    "                             (bench/conv_layers.h, e.g. resnet50:layer1.0.conv2,\n"
    "                             mobilenetv2:features.4.dw); --layer list prints them all\n"
    "              --signed       s8 activations (zero point -3) and s8 output (zero point 0)\n"
    "              --threads T    as gemm\n"
    "  help      this text (also --help, -h)\n"
    "\n"
    "environment:\n"
    "  QKERN_MAX_ISA=<scalar|avx2|avx512|avx512_vnni|avx512_amx|neon|neon_dotprod>\n"
    "            caps dispatch for the whole process (read once, at first use)\n"
    "  QKERN_VERBOSE=1\n"
    "            one line per library call on stderr:\n"
    "            qkern_verbose,exec,<op>,<isa>,<kernel>,<problem>,<time ms>\n"
    "\n"
    "exit status: 0 ok; 1 a check or a library call failed; 2 bad command line or environment\n";

// ------------------------------------------------------------------------------------ buffers

// A 64-byte aligned array of n trivially copyable T, zero-filled so that every page is mapped
// before anything is timed (first-touch page faults would otherwise land in the first sample).
template <typename T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(int64_t n) : n_(n) {
    const size_t bytes = (static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(T) + 63) / 64 * 64;
    p_.reset(static_cast<T*>(std::aligned_alloc(64, bytes)));
    if (!p_) {
      std::fprintf(stderr, "qkern: cannot allocate %zu bytes\n", bytes);
      std::exit(kExitFailure);
    }
    std::memset(static_cast<void*>(p_.get()), 0, bytes);
  }
  T* data() { return p_.get(); }
  const T* data() const { return p_.get(); }
  T& operator[](int64_t i) { return p_.get()[i]; }
  const T& operator[](int64_t i) const { return p_.get()[i]; }
  int64_t size() const { return n_; }

 private:
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> p_;
  int64_t n_ = 0;
};

// Code outputs start this many bytes past a 64-byte boundary, as a slice of a larger tensor
// would: the kernels' alignment heads (quantize streams big rows with aligned stores) must run.
constexpr int64_t kCodeOffset = 3;

// ------------------------------------------------------------------------------ random data

// Every draw goes through raw 32-bit mt19937 output, because std::uniform_*_distribution differ
// between standard libraries: a failing input printed here reproduces on any toolchain (Gaussian
// below excepted: libm's log and cos may differ in the last bit).
class Rng {
 public:
  explicit Rng(uint32_t seed) : g_(seed) {}
  uint32_t Bits() { return static_cast<uint32_t>(g_()); }
  // Uniform in [0, 1) on a 2^-24 grid: exact in float.
  float Unit() { return static_cast<float>(Bits() >> 8) * 0x1p-24f; }
  // Uniform integer in [lo, hi] (hi - lo < 2^32; the modulo bias is below 2^-32 * range).
  int64_t Int(int64_t lo, int64_t hi) {
    const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    const uint64_t r = (static_cast<uint64_t>(Bits()) << 32) | Bits();
    return lo + static_cast<int64_t>(r % span);
  }
  bool OneIn(uint32_t k) { return Bits() % k == 0; }

 private:
  std::mt19937 g_;
};

// N(0, 1) by Box-Muller from two uniform draws.
float Gaussian(Rng& rng) {
  const double u1 = (static_cast<double>(rng.Bits() >> 8) + 0.5) * 0x1p-24;  // in (0, 1)
  const double u2 = static_cast<double>(rng.Unit());
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Values where a SIMD path most easily parts from the reference: NaN (both signs), infinities,
// signed zeros, subnormals, the largest floats (x * inv overflows to inf), 2^23 (from there on
// every float is an integer), 2^24 (from there on not every integer is a float), and the largest
// float with a fraction, 2^23 - 0.5.
const float kSpecials[] = {kNaN,           -kNaN,      kInf,        -kInf,       0.0f,
                           -0.0f,          0x1p-149f,  -0x1p-149f,  0x1p-126f,   3.4028235e38f,
                           -3.4028235e38f, 8388608.0f, -8388608.0f, 16777216.0f, 8388607.5f,
                           -8388607.5f,    1e30f,      -1e30f};
constexpr int kSpecialCount = sizeof(kSpecials) / sizeof(kSpecials[0]);

float Special(Rng& rng, bool allow_nan) {
  while (true) {
    const float v = kSpecials[rng.Int(0, kSpecialCount - 1)];
    if (allow_nan || !std::isnan(v)) return v;
  }
}

// ------------------------------------------------------------------------------ formatting

std::string Format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string Format(const char* fmt, ...) {
  char buf[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, args);
  va_end(args);
  return buf;
}

uint32_t FloatBits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof(u));
  return u;
}

// "0.0625 (0x3d800000)": the bits matter when NaN payloads, signed zeros or ulps differ.
std::string FloatStr(float v) {
  return Format("%.9g (0x%08" PRIx32 ")", static_cast<double>(v), FloatBits(v));
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += Format("\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out;
}

// ------------------------------------------------------------------------------ problems

enum class Op {
  kQuantize,
  kDequantize,
  kRequantize,
  kChooseQParams,
  kFakeQuantize,
  kFakeQuantizeBackward,
  kGemm,     // the int8 GEMM (QGemm): its own case (GemmCase), not a Case
  kLutGemm,  // the lookup GEMM (LutGemm): LutGemmCase
  kKmeans,   // codebook fitting (kmeans_fit): KmeansCase
  kConv      // the int8 convolution (QConv2d): ConvCase
};
constexpr Op kAllOps[] = {Op::kQuantize,      Op::kDequantize,   Op::kRequantize,
                          Op::kChooseQParams, Op::kFakeQuantize, Op::kFakeQuantizeBackward,
                          Op::kGemm,          Op::kLutGemm,      Op::kKmeans,
                          Op::kConv};

const char* OpName(Op op) {
  switch (op) {
    case Op::kQuantize:
      return "quantize";
    case Op::kDequantize:
      return "dequantize";
    case Op::kRequantize:
      return "requantize";
    case Op::kChooseQParams:
      return "choose_qparams";
    case Op::kFakeQuantize:
      return "fake_quantize";
    case Op::kFakeQuantizeBackward:
      return "fake_quantize_backward";
    case Op::kGemm:
      return "gemm";
    case Op::kLutGemm:
      return "lut_gemm";
    case Op::kKmeans:
      return "kmeans";
    case Op::kConv:
      return "conv";
  }
  return "unknown";
}

// The ops of one family: an elementwise op (a Case), or one of the GEMMs (their own cases).
bool IsGemm(Op op) { return op == Op::kGemm || op == Op::kLutGemm; }
bool IsElementwise(Op op) { return !IsGemm(op) && op != Op::kKmeans && op != Op::kConv; }

bool OpFromName(const std::string& name, Op* op) {
  for (Op o : kAllOps) {
    if (name == OpName(o)) {
      *op = o;
      return true;
    }
  }
  return false;
}

const char* SchemeName(RequantScheme s) {
  return s == RequantScheme::kFixedPoint ? "fixed_point" : "fp32";
}

const char* ActName(LutActivation a) {
  switch (a) {
    case LutActivation::kFp32:
      return "f32";
    case LutActivation::kU8:
      return "u8";
    case LutActivation::kS8:
      return "s8";
  }
  return "unknown";
}

const char* MethodName(KmeansMethod m) {
  return m == KmeansMethod::kLloyd ? "lloyd" : "optimal";
}

struct Problem {
  Op op = Op::kQuantize;
  int64_t n = 0;         // elements (gemm: output channels N)
  int64_t channels = 0;  // 0: per tensor, dims {n}; C: per channel, dims {n / C, C}, axis 1
  QuantRange range;
  RequantScheme scheme = RequantScheme::kFp32;  // requantize and gemm
  bool relu = false;  // requantize: fused ReLU, lo = the output zero point
  uint32_t seed = 1;
  // gemm only: C (m x n) = A (m x k) W^T, W n x k.
  int64_t m = 1;
  int64_t k = 4096;
  int threads = 1;               // > 1: through a qkern::ThreadPool of this many threads
  bool activation_7bit = false;  // A <= 127, declared: the vpmaddubsw kernels for any weights
  // lut_gemm (m, k, n, threads and scheme as gemm) and kmeans: codebooks of 2^codebook_bits
  // entries, one per tensor or one per row of W.
  int codebook_bits = 4;
  bool per_row = false;
  LutActivation act = LutActivation::kU8;  // lut_gemm: f32 (float Y) or u8/s8 (u8 codes out)
  // kmeans only: kmeans_fit of a rows x cols matrix.
  int64_t rows = 0;
  int64_t cols = 0;
  KmeansMethod method = KmeansMethod::kOptimal1D;
  // conv only: QConv2d on one h x w x ic NHWC image (batch 1), oc output channels, a kh x kw
  // kernel; range.is_signed: s8 activations and output; scheme and threads as gemm.
  std::string layer;  // the bench/conv_layers.h row the geometry comes from, or empty
  int64_t h = 56, w = 56, ic = 64, oc = 64, kh = 3, kw = 3;
  int64_t stride = 1, dilation = 1, groups = 1, pad_h = 1, pad_w = 1;
};

// The ISA whose kernel runs when dispatch is at `isa`. The quantize family fills every SIMD slot
// Highway compiles (avx2, avx512, avx512_vnni, neon) and has no neon_dotprod or avx512_amx
// kernel, so those fall back to neon and avx512_vnni (kernels/quantize/quantize.cc). There is no
// public query for the registry, so this mirrors it.
Isa KernelIsa(Op op, Isa isa) {
  (void)op;  // every op of the quantize family has the same slots
  return isa == Isa::kNeonDotprod || isa == Isa::kAvx512Amx ? qkern::internal::fallback_isa(isa) : isa;
}

// The library's kernel names (the ones QKERN_VERBOSE prints): <op>_<types>__<isa>.
std::string KernelName(Op op, bool is_signed, RequantScheme scheme, Isa isa) {
  const std::string t = is_signed ? "s8" : "u8";
  const std::string suffix = std::string("__") + qkern::isa_name(KernelIsa(op, isa));
  switch (op) {
    case Op::kQuantize:
      return "quantize_f32_" + t + suffix;
    case Op::kDequantize:
      return "dequantize_" + t + "_f32" + suffix;
    case Op::kRequantize:
      return "requantize_s32_" + t +
             (scheme == RequantScheme::kFixedPoint ? "_fixedpoint" : "_fp32") + suffix;
    case Op::kChooseQParams:
      return "choose_qparams_f32" + suffix;
    case Op::kFakeQuantize:
      return "fake_quantize_f32" + suffix;
    case Op::kFakeQuantizeBackward:
      return "fake_quantize_backward_f32" + suffix;
    case Op::kGemm:
    case Op::kLutGemm:
      break;  // QGemm and LutGemm pick their kernel in create(): QGemm::kernel(), LutGemm::kernel()
    case Op::kKmeans:
      break;  // KmeansKernelName
    case Op::kConv:
      break;  // QConv2d picks its kernel in create(): QConv2d::kernel()
  }
  return "unknown";
}

// The name kmeans_fit logs (QKERN_VERBOSE) at dispatch `isa`: the exact method's candidate scans
// have an AVX2 path and an AVX-512 one, which avx512, avx512_vnni and avx512_amx run; Lloyd's
// iterations and everything else are scalar code (kernels/codebook/kmeans_fit.cc; no public
// query, so this mirrors it).
Isa KmeansKernelIsa(KmeansMethod method, Isa isa) {
  if (method != KmeansMethod::kOptimal1D) return Isa::kScalar;
  if (isa == Isa::kAvx512 || isa == Isa::kAvx512Vnni || isa == Isa::kAvx512Amx) return Isa::kAvx512;
  return isa == Isa::kAvx2 ? Isa::kAvx2 : Isa::kScalar;
}
std::string KmeansKernelName(KmeansMethod method, Isa isa) {
  return std::string(method == KmeansMethod::kOptimal1D ? "kmeans_fit_optimal1d__"
                                                        : "kmeans_fit_lloyd__") +
         qkern::isa_name(KmeansKernelIsa(method, isa));
}

std::string KernelName(const Problem& p, Isa isa) {
  return KernelName(p.op, p.range.is_signed, p.scheme, isa);
}

// ------------------------------------------------------------------------------ comparisons

// Same bits, or both NaN (NaN payloads and signs are not part of the contract).
bool SameFloat(float a, float b) {
  return FloatBits(a) == FloatBits(b) || (std::isnan(a) && std::isnan(b));
}

// Element type-agnostic mismatch scan: the first differing index (or -1) and the count.
struct Mismatch {
  int64_t first = -1;
  int64_t count = 0;
};

template <typename T, class Equal>
Mismatch Compare(const T* got, const T* want, int64_t n, const Equal& equal) {
  Mismatch m;
  for (int64_t i = 0; i < n; ++i) {
    if (!equal(got[i], want[i])) {
      if (m.first < 0) m.first = i;
      ++m.count;
    }
  }
  return m;
}

// ------------------------------------------------------------------------------ cases

// One problem with its data, its expected outputs (from the reference) and its output buffers.
// Run() is the library call the tool times; Check() compares its outputs with the reference.
class Case {
 public:
  explicit Case(const Problem& p)
      : p_(p), channels_(p.channels > 0 ? p.channels : 1), outer_(p.n / channels_) {}
  virtual ~Case() = default;
  Case(const Case&) = delete;
  Case& operator=(const Case&) = delete;

  // Generates the data and the reference answer; an error for parameters the library refuses.
  virtual Status Init() = 0;
  // Tensor bytes one call reads and writes (parameters are negligible).
  virtual double Bytes() const = 0;
  virtual Status Run() = 0;
  // Fills the outputs with a pattern, so a kernel that skips an element cannot pass by
  // leaving a previous ISA's correct answer in place.
  virtual void Poison() = 0;
  // True when the outputs match; else a description of the first mismatch.
  virtual bool Check(std::string* detail) const = 0;

  const Problem& problem() const { return p_; }
  int64_t numel() const { return outer_ * channels_; }

 protected:
  bool per_channel() const { return p_.channels > 0; }
  int axis() const { return per_channel() ? 1 : -1; }
  Dims dims() const { return per_channel() ? Dims{outer_, channels_} : Dims(numel()); }
  ref::Layout layout() const { return {outer_, channels_, 1}; }
  // dims {outer, C}, axis 1: the channel is the fastest-moving index.
  int64_t channel_of(int64_t i) const { return i % channels_; }
  int32_t qmin() const { return qkern::qmin(p_.range); }
  int32_t qmax() const { return qkern::qmax(p_.range); }
  std::string where(int64_t i) const {
    return per_channel() ? Format("i=%" PRId64 " (channel %" PRId64 ")", i, channel_of(i))
                         : Format("i=%" PRId64, i);
  }

  // Quantization parameters of quantize, dequantize and fake quantization. Per tensor, and on
  // even channels, the scale is a power of two, so x = (k + 0.5) * scale is an exact tie of
  // x * (1 / scale); odd channels get arbitrary scales, where the rounding of 1 / scale shows.
  void MakeQParams() {
    const int32_t lo = qmin(), hi = qmax(), span = hi - lo + 1;
    scale_.resize(channels_);
    zp_.resize(channels_);
    if (!per_channel()) {
      scale_[0] = 0x1p-4f;
      zp_[0] = lo + span * 3 / 8;  // off-centre, so clamping at qmin and qmax differ
      return;
    }
    for (int64_t c = 0; c < channels_; ++c) {
      scale_[c] = c % 2 == 0 ? std::ldexp(1.0f, -static_cast<int>(1 + (c / 2) % 10))
                             : 0.0137f * (1.0f + 0.37f * static_cast<float>(c));
      zp_[c] = lo + static_cast<int32_t>((c * 37) % span);
    }
  }
  QuantParams qparams() const {
    QuantParams q;
    q.range = p_.range;
    q.scale = scale_.data();
    q.zero_point = zp_.data();
    q.axis = axis();
    return q;
  }

  // Inputs of quantize and fake quantization: mostly codes of [qmin - 8, qmax + 8 + extra_above]
  // plus a uniform fraction (so both clamps happen), 1 in 8 an exact tie (k + 0.5) * scale,
  // 1 in 64 a special value.
  void FillQuantizeInput(Rng& rng, bool allow_nan, int extra_above, float* x) const {
    for (int64_t i = 0; i < numel(); ++i) {
      const int64_t c = channel_of(i);
      const float s = scale_[c];
      const int64_t k = rng.Int(qmin() - zp_[c] - 8, qmax() - zp_[c] + 8 + extra_above);
      const uint32_t u = rng.Bits() % 64;
      if (u == 0) {
        x[i] = Special(rng, allow_nan);
      } else if (u <= 8) {
        x[i] = (static_cast<float>(k) + 0.5f) * s;
      } else {
        x[i] = (static_cast<float>(k) + rng.Unit()) * s;
      }
    }
  }

  Problem p_;
  int64_t channels_, outer_;
  std::vector<float> scale_;
  std::vector<int32_t> zp_;
};

// Compares int8/uint8 codes and describes the first mismatch via `input_of(i)`.
bool CheckCodes(const uint8_t* got, const uint8_t* want, int64_t n, bool is_signed,
                const std::function<std::string(int64_t)>& input_of, std::string* detail) {
  const Mismatch m = Compare(got, want, n, [](uint8_t a, uint8_t b) { return a == b; });
  if (m.count == 0) return true;
  auto code = [&](uint8_t v) { return is_signed ? int{static_cast<int8_t>(v)} : int{v}; };
  *detail = Format("%" PRId64 " of %" PRId64 " codes differ; first: ", m.count, n) +
            input_of(m.first) +
            Format(": got %d, want %d", code(got[m.first]), code(want[m.first]));
  return false;
}

bool CheckFloats(const float* got, const float* want, int64_t n,
                 const std::function<std::string(int64_t)>& input_of, std::string* detail) {
  const Mismatch m = Compare(got, want, n, SameFloat);
  if (m.count == 0) return true;
  *detail = Format("%" PRId64 " of %" PRId64 " floats differ; first: ", m.count, n) +
            input_of(m.first) + ": got " + FloatStr(got[m.first]) + ", want " +
            FloatStr(want[m.first]);
  return false;
}

class QuantizeCase : public Case {
 public:
  using Case::Case;
  Status Init() override {
    MakeQParams();
    x_ = Buffer<float>(numel());
    y_ = Buffer<uint8_t>(numel() + kCodeOffset);
    want_ = Buffer<uint8_t>(numel());
    Rng rng(p_.seed);
    FillQuantizeInput(rng, /*allow_nan=*/true, /*extra_above=*/0, x_.data());
    ref::quantize(x_.data(), layout(), scale_.data(), zp_.data(), p_.range,
                  qkern::QuantizeMode::kMultiply, want_.data());
    return Status();
  }
  double Bytes() const override { return 5.0 * static_cast<double>(numel()); }  // f32 in, code out
  Status Run() override { return qkern::quantize(x_.data(), dims(), qparams(), y()); }
  void Poison() override { std::memset(y(), 0xA5, static_cast<size_t>(numel())); }
  bool Check(std::string* detail) const override {
    return CheckCodes(
        y(), want_.data(), numel(), p_.range.is_signed,
        [&](int64_t i) { return where(i) + " x=" + FloatStr(x_[i]); }, detail);
  }

 private:
  uint8_t* y() { return y_.data() + kCodeOffset; }
  const uint8_t* y() const { return y_.data() + kCodeOffset; }
  Buffer<float> x_;
  Buffer<uint8_t> y_, want_;
};

class DequantizeCase : public Case {
 public:
  using Case::Case;
  Status Init() override {
    MakeQParams();
    if (!per_channel()) scale_[0] = 0.0173f;  // not a power of two: the product rounds
    q_ = Buffer<uint8_t>(numel());
    y_ = Buffer<float>(numel());
    want_ = Buffer<float>(numel());
    Rng rng(p_.seed);
    for (int64_t i = 0; i < numel(); ++i) {
      q_[i] = static_cast<uint8_t>(rng.Int(qmin(), qmax()));  // int8 codes: two's complement
    }
    ref::dequantize(q_.data(), layout(), scale_.data(), zp_.data(), p_.range, want_.data());
    return Status();
  }
  double Bytes() const override { return 5.0 * static_cast<double>(numel()); }  // code in, f32 out
  Status Run() override { return qkern::dequantize(q_.data(), dims(), qparams(), y_.data()); }
  void Poison() override { std::memset(y_.data(), 0xA5, static_cast<size_t>(numel()) * 4); }
  bool Check(std::string* detail) const override {
    return CheckFloats(
        y_.data(), want_.data(), numel(),
        [&](int64_t i) {
          const int q = p_.range.is_signed ? int{static_cast<int8_t>(q_[i])} : q_[i];
          return where(i) + Format(" q=%d", q);
        },
        detail);
  }

 private:
  Buffer<uint8_t> q_;
  Buffer<float> y_, want_;
};

class RequantizeCase : public Case {
 public:
  using Case::Case;
  Status Init() override {
    const bool fixed = p_.scheme == RequantScheme::kFixedPoint;
    // Per tensor m = 3/1024: float(acc) * m is exact for |acc| < 2^22, and acc = 1024 j + 512
    // gives the exact tie 3 j + 1.5. Per channel: multipliers from 2^-14 to about 4, the large
    // ones exercising the fixed-point scheme's saturating left shift.
    real_.resize(channels_);
    for (int64_t c = 0; c < channels_; ++c) {
      real_[c] = per_channel() ? std::ldexp(1.0f + static_cast<float>(c % 7) / 8.0f,
                                            static_cast<int>(c % 17) - 14)
                               : (fixed ? 0.0123f : 3.0f / 1024.0f);
    }
    if (fixed) {
      qm_.resize(channels_);
      shift_.resize(channels_);
      for (int64_t c = 0; c < channels_; ++c) {
        if (Status s = qkern::quantize_multiplier(real_[c], &qm_[c], &shift_[c]); !s.ok()) return s;
      }
    }
    params_.scheme = p_.scheme;
    params_.range = p_.range;
    params_.multiplier = fixed ? nullptr : real_.data();
    params_.fixed_multiplier = fixed ? qm_.data() : nullptr;
    params_.shift = fixed ? shift_.data() : nullptr;
    params_.axis = axis();
    params_.zero_point = qmin() + (qmax() - qmin()) / 16;
    if (p_.relu) params_.lo = params_.zero_point;

    acc_ = Buffer<int32_t>(numel());
    y_ = Buffer<uint8_t>(numel() + kCodeOffset);
    want_ = Buffer<uint8_t>(numel());
    Rng rng(p_.seed);
    static const int32_t kSpecialAcc[] = {
        INT32_MIN,     INT32_MIN + 1,  INT32_MAX,     INT32_MAX - 1, 0, 1, -1, 1 << 24,
        (1 << 24) + 1, -(1 << 24) - 1, (1 << 30) + 1, -(1 << 30) - 3};
    for (int64_t i = 0; i < numel(); ++i) {
      // Accumulators whose product spans the code range with a margin on both sides.
      const int64_t typical =
          static_cast<int64_t>((qmax() - qmin() + 16) / real_[channel_of(i)]) + 1;
      const uint32_t u = rng.Bits() % 64;
      int64_t a;
      if (u == 0) {
        a = kSpecialAcc[rng.Int(0, sizeof(kSpecialAcc) / sizeof(kSpecialAcc[0]) - 1)];
      } else if (u <= 8) {
        a = 1024 * rng.Int(-4000, 4000) + 512;  // ties of the per-tensor fp32 multiplier
      } else if (u <= 12) {
        a = static_cast<int32_t>(rng.Bits());  // anywhere in int32: float(acc) rounds
      } else {
        a = rng.Int(-std::min<int64_t>(typical, INT32_MAX), std::min<int64_t>(typical, INT32_MAX));
      }
      acc_[i] = static_cast<int32_t>(a);
    }
    ref::requantize(acc_.data(), layout(), params_, want_.data());
    return Status();
  }
  double Bytes() const override { return 5.0 * static_cast<double>(numel()); }  // s32 in, code out
  Status Run() override { return qkern::requantize(acc_.data(), dims(), params_, y()); }
  void Poison() override { std::memset(y(), 0xA5, static_cast<size_t>(numel())); }
  bool Check(std::string* detail) const override {
    return CheckCodes(
        y(), want_.data(), numel(), p_.range.is_signed,
        [&](int64_t i) {
          const int64_t c = channel_of(i);
          std::string s = where(i) + Format(" acc=%" PRId32, acc_[i]);
          if (p_.scheme == RequantScheme::kFixedPoint) {
            s += Format(" qm=%" PRId32 " shift=%" PRId32, qm_[c], shift_[c]);
          } else {
            s += " m=" + FloatStr(real_[c]);
          }
          return s + Format(" zo=%" PRId32 " lo=%" PRId32, params_.zero_point,
                            std::max(params_.lo, qmin()));
        },
        detail);
  }

 private:
  uint8_t* y() { return y_.data() + kCodeOffset; }
  const uint8_t* y() const { return y_.data() + kCodeOffset; }
  std::vector<float> real_;
  std::vector<int32_t> qm_, shift_;
  RequantParams params_;
  Buffer<int32_t> acc_;
  Buffer<uint8_t> y_, want_;
};

class ChooseQParamsCase : public Case {
 public:
  using Case::Case;
  Status Init() override {
    x_ = Buffer<float>(numel());
    got_scale_.assign(channels_, 0.0f);
    got_zp_.assign(channels_, 0);
    want_scale_.assign(channels_, 0.0f);
    want_zp_.assign(channels_, 0);
    Rng rng(p_.seed);
    // NaN and infinity are errors here, so the specials are the finite ones. Per channel, each
    // channel has its own range and channel 3 is all zeros (the kMinScale floor).
    static const float kFinite[] = {0.0f, -0.0f, 0x1p-149f, -0x1p-149f, 0x1p-126f, 1e-30f};
    for (int64_t i = 0; i < numel(); ++i) {
      const int64_t c = channel_of(i);
      const float lo = per_channel() ? -0.9f * static_cast<float>(c % 5) : -3.7f;
      const float hi = per_channel() ? 0.3f + 0.21f * static_cast<float>(c) : 11.2f;
      if (per_channel() && c == 3) {
        x_[i] = rng.OneIn(2) ? 0.0f : -0.0f;
      } else if (rng.OneIn(64)) {
        x_[i] = kFinite[rng.Int(0, sizeof(kFinite) / sizeof(kFinite[0]) - 1)];
      } else {
        x_[i] = lo + (hi - lo) * rng.Unit();
      }
    }
    // The extremes in the last element (the kernels' tail) and at a random place.
    if (numel() > 0 && !per_channel()) {
      x_[numel() - 1] = 11.25f;
      x_[rng.Int(0, numel() - 1)] = -3.75f;
    }
    std::vector<float> mn(channels_), mx(channels_);
    if (!ref::minmax(x_.data(), layout(), mn.data(), mx.data())) {
      return Status(qkern::StatusCode::kInternal, "tool: generated non-finite data");
    }
    for (int64_t c = 0; c < channels_; ++c) {
      ref::qparams_from_minmax(mn[c], mx[c], p_.range, qkern::QParamsMode::kAsymmetric,
                               &want_scale_[c], &want_zp_[c]);
    }
    return Status();
  }
  double Bytes() const override { return 4.0 * static_cast<double>(numel()); }  // f32 in
  Status Run() override {
    return qkern::choose_qparams(x_.data(), dims(), p_.range, qkern::QParamsMode::kAsymmetric,
                                 axis(), got_scale_.data(), got_zp_.data());
  }
  void Poison() override {
    std::fill(got_scale_.begin(), got_scale_.end(), -1.0f);
    std::fill(got_zp_.begin(), got_zp_.end(), INT32_MIN);
  }
  bool Check(std::string* detail) const override {
    for (int64_t c = 0; c < channels_; ++c) {
      if (!SameFloat(got_scale_[c], want_scale_[c]) || got_zp_[c] != want_zp_[c]) {
        *detail = Format("channel %" PRId64 ": got scale ", c) + FloatStr(got_scale_[c]) +
                  Format(" zero_point %" PRId32 ", want scale ", got_zp_[c]) +
                  FloatStr(want_scale_[c]) + Format(" zero_point %" PRId32, want_zp_[c]);
        return false;
      }
    }
    return true;
  }

 private:
  Buffer<float> x_;
  std::vector<float> got_scale_, want_scale_;  // outputs (Case::scale_ is unused here)
  std::vector<int32_t> got_zp_, want_zp_;
};

class FakeQuantizeCase : public Case {
 public:
  using Case::Case;
  Status Init() override {
    MakeQParams();
    x_ = Buffer<float>(numel());
    y_ = Buffer<float>(numel());
    want_ = Buffer<float>(numel());
    Rng rng(p_.seed);
    FillQuantizeInput(rng, /*allow_nan=*/true, /*extra_above=*/0, x_.data());
    ref::fake_quantize(x_.data(), layout(), scale_.data(), zp_.data(), p_.range, want_.data());
    return Status();
  }
  double Bytes() const override { return 8.0 * static_cast<double>(numel()); }  // f32 in and out
  Status Run() override { return qkern::fake_quantize(x_.data(), dims(), qparams(), y_.data()); }
  void Poison() override { std::memset(y_.data(), 0xA5, static_cast<size_t>(numel()) * 4); }
  bool Check(std::string* detail) const override {
    return CheckFloats(
        y_.data(), want_.data(), numel(),
        [&](int64_t i) { return where(i) + " x=" + FloatStr(x_[i]); }, detail);
  }

 private:
  Buffer<float> x_, y_, want_;
};

class FakeQuantizeBackwardCase : public Case {
 public:
  using Case::Case;
  // dscale and dzero_point are fp32 sums whose order the kernels may change (quantize_kernels.h):
  // they must agree with the reference's to this relative error.
  static constexpr double kSumTolerance = 1e-3;

  Status Init() override {
    MakeQParams();
    x_ = Buffer<float>(numel());
    dy_ = Buffer<float>(numel());
    dx_ = Buffer<float>(numel());
    want_dx_ = Buffer<float>(numel());
    ds_.assign(channels_, 0.0f);
    dzp_.assign(channels_, 0.0f);
    want_ds_.assign(channels_, 0.0f);
    want_dzp_.assign(channels_, 0.0f);
    Rng rng(p_.seed);
    // No NaN: it would make the sums NaN and hide every other error in them. Extra codes above
    // qmax make the "above" terms dominate the sums, so the relative check is not a check of
    // a cancellation's noise; dy in [0.5, 1.5) for the same reason.
    FillQuantizeInput(rng, /*allow_nan=*/false, /*extra_above=*/40, x_.data());
    for (int64_t i = 0; i < numel(); ++i) dy_[i] = 0.5f + rng.Unit();
    // The library's default gradient scale, 1 / sqrt(numel * qmax) (quantize.hpp).
    g_ = static_cast<float>(1.0 / std::sqrt(static_cast<double>(numel()) * qmax()));
    ref::fake_quantize_backward(x_.data(), dy_.data(), layout(), scale_.data(), zp_.data(),
                                p_.range, g_, want_dx_.data(), want_ds_.data(), want_dzp_.data());
    return Status();
  }
  // x and dy in, dx out.
  double Bytes() const override { return 12.0 * static_cast<double>(numel()); }
  Status Run() override {
    qkern::FakeQuantGrads grads;
    grads.dx = dx_.data();
    grads.dscale = ds_.data();
    grads.dzero_point = dzp_.data();
    return qkern::fake_quantize_backward(x_.data(), dy_.data(), dims(), qparams(), grads);
  }
  void Poison() override {
    std::memset(dx_.data(), 0xA5, static_cast<size_t>(numel()) * 4);
    std::fill(ds_.begin(), ds_.end(), kNaN);
    std::fill(dzp_.begin(), dzp_.end(), kNaN);
  }
  bool Check(std::string* detail) const override {
    if (!CheckFloats(
            dx_.data(), want_dx_.data(), numel(),
            [&](int64_t i) {
              return where(i) + " x=" + FloatStr(x_[i]) + " dy=" + FloatStr(dy_[i]);
            },
            detail)) {
      *detail = "dx: " + *detail;
      return false;
    }
    for (int64_t c = 0; c < channels_; ++c) {
      for (int which = 0; which < 2; ++which) {
        const float got = which == 0 ? ds_[c] : dzp_[c];
        const float want = which == 0 ? want_ds_[c] : want_dzp_[c];
        const double err = std::fabs(static_cast<double>(got) - want);
        const double rel = err / std::max(std::fabs(static_cast<double>(want)), 1e-30);
        if (std::isnan(got) || !(rel <= kSumTolerance)) {
          double exact_ds = 0, exact_dzp = 0;
          ExactSums(c, &exact_ds, &exact_dzp);
          *detail = Format("%s[%" PRId64 "]: got ", which == 0 ? "dscale" : "dzero_point", c) +
                    FloatStr(got) + ", want " + FloatStr(want) +
                    Format(" (relative error %.3g > %g; the sum in double is %.9g)", rel,
                           kSumTolerance, which == 0 ? exact_ds : exact_dzp);
          return false;
        }
      }
    }
    return true;
  }

 private:
  // Channel c's sums with every term as the reference forms it but accumulated in double: shows
  // which of a mismatching pair is closer to the true sum.
  void ExactSums(int64_t c, double* ds, double* dzp) const {
    const float s = scale_[c];
    const int32_t zp = zp_[c];
    for (int64_t i = c; i < numel(); i += channels_) {
      const float r = ref::round_half_even(x_[i] * (1.0f / s));
      const double q = static_cast<double>(r) + zp;
      if (q < qmin() || q > qmax()) {
        const float edge = static_cast<float>((q < qmin() ? qmin() : qmax()) - zp);
        *ds += static_cast<double>(dy_[i]) * edge * g_;
        *dzp += -static_cast<double>(dy_[i]) * s * g_;
      } else {
        *ds += static_cast<double>((r * s - x_[i]) / s) * dy_[i] * g_;
      }
    }
  }

  float g_ = 0;
  Buffer<float> x_, dy_, dx_, want_dx_;
  std::vector<float> ds_, dzp_, want_ds_, want_dzp_;
};

Status MakeCase(const Problem& p, std::unique_ptr<Case>* out) {
  std::unique_ptr<Case> c;
  switch (p.op) {
    case Op::kQuantize:
      c.reset(new QuantizeCase(p));
      break;
    case Op::kDequantize:
      c.reset(new DequantizeCase(p));
      break;
    case Op::kRequantize:
      c.reset(new RequantizeCase(p));
      break;
    case Op::kChooseQParams:
      c.reset(new ChooseQParamsCase(p));
      break;
    case Op::kFakeQuantize:
      c.reset(new FakeQuantizeCase(p));
      break;
    case Op::kFakeQuantizeBackward:
      c.reset(new FakeQuantizeBackwardCase(p));
      break;
    case Op::kGemm:
    case Op::kLutGemm:
    case Op::kKmeans:
    case Op::kConv:
      return Status(qkern::StatusCode::kInternal,
                    std::string("tool: ") + OpName(p.op) + " has its own case, not a Case");
  }
  if (Status s = c->Init(); !s.ok()) return s;
  *out = std::move(c);
  return Status();
}

// ------------------------------------------------------------------------------ gemm

// The int8 GEMM (qkern/gemm.hpp) as a user runs it: C = requantize(A W^T + bias), u8 activations
// (zero point 128) x s8 N x K weights with per-channel scales, int32 bias, u8 codes (zero point
// 128) out. Not a Case: QGemm binds its kernel (and packs W for it) in create(), so Create() must
// run under the ISA cap being measured, and Run() is the prepacked call that is timed.
class GemmCase {
 public:
  // ref::gemm is a scalar loop of a few ns per multiply-add: problems of up to this many ops
  // (2 M N K) are checked in full; larger ones only on their first min(M, kCheckRows) rows,
  // by calling ref::gemm on those rows alone (every row runs the same kernel code, so the
  // first ones stand for the rest; the guards below still catch a write outside C).
  static constexpr double kFullCheckOps = static_cast<double>(int64_t{1} << 27);
  static constexpr int64_t kCheckRows = 4;
  // Bytes of poison on each side of C: a kernel that writes outside its M x N fails the check.
  static constexpr int64_t kGuard = 64;

  explicit GemmCase(const Problem& p) : p_(p) {}
  GemmCase(const GemmCase&) = delete;
  GemmCase& operator=(const GemmCase&) = delete;

  // Generates A, W, the scales and the bias, and the reference answer of the checked rows.
  Status Init() {
    const int64_t m = p_.m, n = p_.n, k = p_.k;
    a_ = Buffer<uint8_t>(m * k);
    w_ = Buffer<int8_t>(n * k);
    c_ = Buffer<uint8_t>(m * n + kCodeOffset + 2 * kGuard);
    wscale_.resize(static_cast<size_t>(n));
    bias_.resize(static_cast<size_t>(n));
    Rng rng(p_.seed);
    const uint32_t a_mask = p_.activation_7bit ? 0x7f : 0xff;
    for (int64_t i = 0; i < m * k; ++i) a_[i] = static_cast<uint8_t>((rng.Bits() >> 24) & a_mask);
    // Uniform over all of s8: adjacent pairs with |w0| + |w1| > 128 abound, so create() must
    // pick the exact (vpmaddwd) kernels unless the activations are declared 7-bit.
    for (int64_t i = 0; i < n * k; ++i) {
      w_[i] = static_cast<int8_t>(static_cast<uint8_t>(rng.Bits() >> 24));
    }
    for (int64_t j = 0; j < n; ++j) {
      wscale_[j] = 0.005f + 0.015f * rng.Unit();  // per channel, in [0.005, 0.02)
      bias_[j] = static_cast<int32_t>(rng.Int(-(1 << 16), 1 << 16));
    }
    QGemmParams& q = params_;
    q.n = n;
    q.k = k;
    q.activation_signed = false;
    q.activation_zero_point = 128;
    q.activation_scale = 0.05f;
    q.activation_7bit = p_.activation_7bit;
    q.weights = w_.data();
    q.weight_layout = qkern::WeightLayout::kNK;
    q.weight_scale = wscale_.data();
    q.weight_scale_per_channel = true;
    q.bias = bias_.data();
    q.output = qkern::GemmOutput::kRequantized;
    q.scheme = p_.scheme;
    q.output_range = QuantRange();  // u8, 8 bits
    q.output_zero_point = 128;
    // The output scale as tests/gemm_tester.h picks it: the accumulators' range over 240 codes
    // at the typical weight scale 0.01, so the codes span the u8 range, clamping a little at
    // both ends (a fixed scale would leave every code on one clamp at large K). The range is
    // taken on the first rows only, whose statistics every row shares.
    int64_t lo = 0, hi = 1;
    for (int64_t r = 0; r < std::min(m, kCheckRows); ++r) {
      for (int64_t j = 0; j < n; ++j) {
        const int64_t v = ref::gemm_acc(q, a_.data(), k, r, j);
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    }
    const float span = static_cast<float>(hi - lo) * q.activation_scale * 0.01f;
    q.output_scale = std::max(span / 240.0f, 1e-30f);

    checked_rows_ = Ops() <= kFullCheckOps ? m : std::min(m, kCheckRows);
    want_ = Buffer<uint8_t>(checked_rows_ * n);
    ref::gemm(q, a_.data(), checked_rows_, k, want_.data(), n);
    return Status();
  }

  // Packs W for the kernel of the active ISA. On failure no QGemm of an earlier ISA is left.
  Status Create() {
    gemm_ = QGemm();
    return QGemm::create(params_, &gemm_);
  }
  Status Run(const ParallelFor& pf) { return gemm_.run(a_.data(), p_.m, p_.k, c(), p_.n, pf); }
  void Poison() { std::memset(c_.data(), 0xA5, static_cast<size_t>(c_.size())); }
  bool Check(std::string* detail) const {
    const int64_t begin = kGuard + kCodeOffset, end = begin + p_.m * p_.n;
    for (int64_t i = 0; i < c_.size(); ++i) {
      if ((i < begin || i >= end) && c_[i] != 0xA5) {
        *detail = Format("wrote outside C: the byte %" PRId64 " %s C was changed",
                         i < begin ? begin - i : i - end + 1, i < begin ? "before" : "after");
        return false;
      }
    }
    return CheckCodes(
        c(), want_.data(), checked_rows_ * p_.n, /*is_signed=*/false,
        [&](int64_t i) {
          const int64_t r = i / p_.n, j = i % p_.n;
          return Format("m=%" PRId64 " n=%" PRId64 " acc=%" PRId32, r, j,
                        ref::gemm_acc(params_, a_.data(), p_.k, r, j)) +
                 " multiplier=" + FloatStr(ref::gemm_multiplier(params_, j));
        },
        detail);
  }

  const Problem& problem() const { return p_; }
  const QGemm& gemm() const { return gemm_; }
  int64_t checked_rows() const { return checked_rows_; }
  double Ops() const {
    return 2.0 * static_cast<double>(p_.m) * static_cast<double>(p_.n) * static_cast<double>(p_.k);
  }
  std::string Shape() const {
    return Format("%" PRId64 "x%" PRId64 "x%" PRId64, p_.m, p_.k, p_.n);
  }

 private:
  uint8_t* c() { return c_.data() + kGuard + kCodeOffset; }
  const uint8_t* c() const { return c_.data() + kGuard + kCodeOffset; }

  Problem p_;
  QGemmParams params_;
  QGemm gemm_;
  int64_t checked_rows_ = 0;
  Buffer<uint8_t> a_, c_, want_;
  Buffer<int8_t> w_;
  std::vector<float> wscale_;
  std::vector<int32_t> bias_;
};

// ------------------------------------------------------------------------------ lut_gemm

// The lookup GEMM (qkern/lut_gemm.hpp) as a user runs it. W (N x K) is labels into codebooks of
// 2^bits entries (one for the tensor, or one per row), packed with pack_indices: random labels
// into sorted N(0, 0.02^2) codebooks, or (the tour) a kmeans_fit of a float W. X (M x K) is
// N(0, 1): as floats (act f32: float Y, plus a float bias), or quantized with choose_qparams and
// quantize (u8 asymmetric, 7 bits when activation_7bit is declared; s8 symmetric; per tensor:
// int32 sums, plus an int32 bias) and
// requantized to u8 codes whose scale and zero point choose_qparams picks from the checked rows'
// real outputs. Checked against reference/lut_gemm_ref.h: every byte for quantized activations,
// the documented error bound for f32. As GemmCase: Create() binds the kernel of the ISA cap in
// effect, Run() is the prepacked call that is timed.
class LutGemmCase {
 public:
  static constexpr double kFullCheckOps = GemmCase::kFullCheckOps;
  static constexpr int64_t kCheckRows = GemmCase::kCheckRows;
  static constexpr int64_t kGuard = GemmCase::kGuard;

  explicit LutGemmCase(const Problem& p) : p_(p) {}
  LutGemmCase(const LutGemmCase&) = delete;
  LutGemmCase& operator=(const LutGemmCase&) = delete;

  // Before Init(): W from a fit instead of random labels (the codebooks and one-byte labels of
  // kmeans_fit, of p.codebook_bits and p.per_row), and the float W they stand for (n x k), which
  // ErrorVsFloat compares with. A fitted W gets no bias, so Y approximates X W^T itself.
  void UseFit(std::vector<float> codebook, std::vector<uint8_t> labels, std::vector<float> w) {
    codebook_ = std::move(codebook);
    labels_ = std::move(labels);
    w_float_ = std::move(w);
    fitted_ = true;
  }

  Status Init() {
    const int64_t m = p_.m, n = p_.n, k = p_.k;
    const int bits = p_.codebook_bits, entries = 1 << bits;
    const int64_t books = p_.per_row ? n : 1;
    Rng rng(p_.seed);
    if (!fitted_) {
      codebook_.resize(static_cast<size_t>(books * entries));
      for (int64_t b = 0; b < books; ++b) {
        float* c = codebook_.data() + b * entries;
        for (int e = 0; e < entries; ++e) c[e] = 0.02f * Gaussian(rng);
        std::sort(c, c + entries);  // as kmeans_fit returns them (LutGemm takes any order)
      }
      labels_.resize(static_cast<size_t>(n * k));
      for (uint8_t& l : labels_) l = static_cast<uint8_t>(rng.Bits() >> (32 - bits));
    }
    if (static_cast<int64_t>(codebook_.size()) != books * entries ||
        static_cast<int64_t>(labels_.size()) != n * k) {
      return Status(qkern::StatusCode::kInternal, "tool: the fit does not match the problem");
    }
    row_bytes_ = qkern::packed_row_bytes(k, bits);
    indices_.assign(static_cast<size_t>(n * row_bytes_), 0);
    qkern::CodebookShape shape;
    shape.rows = n;
    shape.cols = k;
    shape.bits = bits;
    shape.per_row = p_.per_row;
    if (Status s = qkern::pack_indices(labels_.data(), shape, indices_.data()); !s.ok()) return s;
    labels_ = std::vector<uint8_t>();  // packed: the one-byte labels are not needed any more

    xf_ = Buffer<float>(m * k);
    for (int64_t i = 0; i < m * k; ++i) xf_[i] = Gaussian(rng);

    LutGemmParams& q = params_;
    q.n = n;
    q.k = k;
    q.bits = bits;
    q.indices = indices_.data();
    q.indices_size = static_cast<int64_t>(indices_.size());
    q.codebook = codebook_.data();
    q.codebook_size = static_cast<int64_t>(codebook_.size());
    q.codebook_per_row = p_.per_row;
    q.activation = p_.act;
    checked_rows_ = Ops() <= kFullCheckOps ? m : std::min(m, kCheckRows);
    const int64_t checked = checked_rows_ * n;
    if (quantized()) {
      QuantRange xr;
      xr.is_signed = p_.act == LutActivation::kS8;
      // Declared 7-bit u8 activations: codes of a 7-bit quantizer, [0, 127].
      if (p_.activation_7bit && !xr.is_signed) xr.bits = 7;
      float sa = 0;
      int32_t za = 0;
      if (Status s = qkern::choose_qparams(
              xf_.data(), Dims(m * k), xr,
              xr.is_signed ? qkern::QParamsMode::kSymmetric : qkern::QParamsMode::kAsymmetric, -1,
              &sa, &za);
          !s.ok()) {
        return s;
      }
      xq_ = Buffer<uint8_t>(m * k);
      const QuantParams xp{xr, &sa, &za};
      if (Status s = qkern::quantize(xf_.data(), Dims(m * k), xp, xq_.data()); !s.ok()) return s;
      q.activation_zero_point = za;
      q.activation_scale = sa;
      q.activation_7bit = xr.bits == 7;
      if (!fitted_) {
        bias_.resize(static_cast<size_t>(n));
        for (int32_t& b : bias_) b = static_cast<int32_t>(rng.Int(-(1 << 16), 1 << 16));
        q.bias = bias_.data();
      }
      q.output = qkern::GemmOutput::kRequantized;
      q.scheme = p_.scheme;
      q.output_range = QuantRange();  // u8, 8 bits
      // The output's scale and zero point from the real values of the checked rows, as a user
      // calibrates: acc * sa * s_n, s_n the int8 codebook scale (the QGemm LutGemm equals).
      qgemm_ = ref::lut_as_qgemm(q, &w8_, &w8_scale_);
      std::vector<float> real(static_cast<size_t>(checked));
      for (int64_t r = 0; r < checked_rows_; ++r) {
        for (int64_t j = 0; j < n; ++j) {
          const int32_t acc = ref::gemm_acc(qgemm_, xq_.data(), k, r, j);
          real[r * n + j] = static_cast<float>(acc) * sa * w8_scale_[p_.per_row ? j : 0];
        }
      }
      if (Status s = qkern::choose_qparams(real.data(), Dims(checked), q.output_range,
                                           qkern::QParamsMode::kAsymmetric, -1, &q.output_scale,
                                           &q.output_zero_point);
          !s.ok()) {
        return s;
      }
      qgemm_.output_scale = q.output_scale;
      qgemm_.output_zero_point = q.output_zero_point;
      want_ = Buffer<uint8_t>(checked);
      ref::lut_gemm(q, xq_.data(), checked_rows_, k, want_.data(), n);
    } else {
      q.output = qkern::GemmOutput::kFloat;
      if (!fitted_) {
        bias_f_.resize(static_cast<size_t>(n));
        for (float& b : bias_f_) b = Gaussian(rng);
        q.bias_f = bias_f_.data();
      }
      exact_.resize(static_cast<size_t>(checked));
      bound_.resize(static_cast<size_t>(checked));
      for (int64_t r = 0; r < checked_rows_; ++r) {
        for (int64_t j = 0; j < n; ++j) {
          exact_[r * n + j] = ref::lut_gemm_exact_f32(q, xf_.data(), k, r, j);
          bound_[r * n + j] = ref::lut_gemm_bound_f32(q, xf_.data(), k, r, j);
        }
      }
    }
    y_ = Buffer<uint8_t>(m * n * out_bytes() + kCodeOffset + 2 * kGuard);
    return Status();
  }

  // Packs the indices for the kernel of the active ISA. On failure no LutGemm of an earlier ISA
  // is left.
  Status Create() {
    gemm_ = LutGemm();
    return LutGemm::create(params_, &gemm_);
  }
  Status Run(const ParallelFor& pf) {
    const void* x = quantized() ? static_cast<const void*>(xq_.data()) : xf_.data();
    return gemm_.run(x, p_.m, p_.k, y(), p_.n, pf);
  }
  void Poison() { std::memset(y_.data(), 0xA5, static_cast<size_t>(y_.size())); }
  bool Check(std::string* detail) const {
    const int64_t begin = y_offset(), end = begin + p_.m * p_.n * out_bytes();
    for (int64_t i = 0; i < y_.size(); ++i) {
      if ((i < begin || i >= end) && y_[i] != 0xA5) {
        *detail = Format("wrote outside Y: the byte %" PRId64 " %s Y was changed",
                         i < begin ? begin - i : i - end + 1, i < begin ? "before" : "after");
        return false;
      }
    }
    const int64_t n = p_.n, checked = checked_rows_ * n;
    if (quantized()) {
      return CheckCodes(
          y(), want_.data(), checked, /*is_signed=*/false,
          [&](int64_t i) {
            const int64_t r = i / n, j = i % n;
            return Format("m=%" PRId64 " n=%" PRId64 " acc=%" PRId32, r, j,
                          ref::gemm_acc(qgemm_, xq_.data(), p_.k, r, j)) +
                   " multiplier=" + FloatStr(ref::gemm_multiplier(qgemm_, j));
          },
          detail);
    }
    const float* yf = reinterpret_cast<const float*>(y());
    Mismatch mm;
    for (int64_t i = 0; i < checked; ++i) {
      if (!(std::fabs(static_cast<double>(yf[i]) - exact_[i]) <= bound_[i])) {
        if (mm.first < 0) mm.first = i;
        ++mm.count;
      }
    }
    if (mm.count == 0) return true;
    const int64_t i = mm.first;
    *detail = Format("%" PRId64 " of %" PRId64 " floats outside the error bound; first: m=%" PRId64
                     " n=%" PRId64 ": got ",
                     mm.count, checked, i / n, i % n) +
              FloatStr(yf[i]) +
              Format(", exact %.17g, error %.3g > bound %.3g", exact_[i],
                     std::fabs(static_cast<double>(yf[i]) - exact_[i]), bound_[i]);
    return false;
  }

  // With a fitted W: the largest |Y - X W^T| over the checked rows (*max_abs) and the largest
  // |X W^T| (*max_ref), X W^T from the float X and the float W in double (u8 codes dequantized
  // first). False without a fitted W.
  bool ErrorVsFloat(double* max_abs, double* max_ref) const {
    if (w_float_.empty()) return false;
    const int64_t n = p_.n, k = p_.k;
    *max_abs = *max_ref = 0;
    for (int64_t r = 0; r < checked_rows_; ++r) {
      for (int64_t j = 0; j < n; ++j) {
        double exact = 0;
        for (int64_t i = 0; i < k; ++i) {
          exact += static_cast<double>(xf_[r * k + i]) * w_float_[static_cast<size_t>(j * k + i)];
        }
        double got;
        if (quantized()) {
          got = static_cast<double>(y()[r * n + j] - params_.output_zero_point) *
                params_.output_scale;
        } else {
          got = reinterpret_cast<const float*>(y())[r * n + j];
        }
        *max_abs = std::max(*max_abs, std::fabs(got - exact));
        *max_ref = std::max(*max_ref, std::fabs(exact));
      }
    }
    return true;
  }

  const Problem& problem() const { return p_; }
  const LutGemm& gemm() const { return gemm_; }
  bool quantized() const { return p_.act != LutActivation::kFp32; }
  int64_t checked_rows() const { return checked_rows_; }
  double Ops() const {
    return 2.0 * static_cast<double>(p_.m) * static_cast<double>(p_.n) * static_cast<double>(p_.k);
  }
  // The packed index bytes one run reads: N * packed_row_bytes(K, bits).
  double IndexBytes() const { return static_cast<double>(p_.n) * static_cast<double>(row_bytes_); }
  std::string Shape() const {
    return Format("%" PRId64 "x%" PRId64 "x%" PRId64, p_.m, p_.k, p_.n);
  }
  // "u8>u8", "u7>u8" (declared 7-bit u8) or "f32>f32": the activation and output types.
  std::string Type() const {
    if (!quantized()) return "f32>f32";
    return (params_.activation_7bit ? std::string("u7") : std::string(ActName(p_.act))) + ">u8";
  }

 private:
  int64_t out_bytes() const { return quantized() ? 1 : 4; }
  // u8 codes start kCodeOffset bytes past a 64-byte boundary, as GemmCase's; floats stay aligned.
  int64_t y_offset() const { return kGuard + (quantized() ? kCodeOffset : 0); }
  uint8_t* y() { return y_.data() + y_offset(); }
  const uint8_t* y() const { return y_.data() + y_offset(); }

  Problem p_;
  bool fitted_ = false;
  LutGemmParams params_;
  LutGemm gemm_;
  int64_t row_bytes_ = 0, checked_rows_ = 0;
  std::vector<float> codebook_, w_float_, bias_f_;
  std::vector<uint8_t> labels_, indices_;
  std::vector<int32_t> bias_;
  Buffer<float> xf_;
  Buffer<uint8_t> xq_, y_, want_;
  // Quantized activations: the QGemm problem LutGemm equals (reference/lut_gemm_ref.h).
  QGemmParams qgemm_;
  std::vector<int8_t> w8_;
  std::vector<float> w8_scale_;
  // f32 activations: the exact outputs of the checked rows and their documented error bounds.
  std::vector<double> exact_, bound_;
};

// ------------------------------------------------------------------------------ conv

// The bench/conv_layers.h row named `name`, or null.
const qkern_bench::ConvLayer* FindConvLayer(const std::string& name) {
  for (const qkern_bench::ConvNetwork& net : qkern_bench::kConvNetworks) {
    for (int32_t i = 0; i < net.size; ++i) {
      if (name == net.layers[i].name) return &net.layers[i];
    }
  }
  return nullptr;
}

// A Problem of op conv with a table row's geometry (batch 1, dilation 1).
void SetConvLayer(const qkern_bench::ConvLayer& l, Problem* p) {
  p->layer = l.name;
  p->h = l.h;
  p->w = l.w;
  p->ic = l.ic;
  p->oc = l.oc;
  p->kh = l.kh;
  p->kw = l.kw;
  p->stride = l.stride;
  p->pad_h = p->pad_w = l.pad;
  p->dilation = 1;
  p->groups = l.groups;
}

// The int8 convolution (qkern/conv.hpp) as a user runs it: one NHWC image (batch 1) of u8
// activations (zero point 128; --signed: s8, zero point -3), s8 OHWI weights uniform over all
// of s8 with per-channel scales, int32 bias, codes of the activations' type out (zero point 128;
// s8: 0). Checked against reference/conv_ref.h (ref::conv_acc, then ref::gemm_store: the GEMM's
// epilogue, which the convolution shares): every output pixel when the problem is at most
// kCheckOps, else the corners, the middles of the edges, the centre and kRandomPixels random
// pixels, as many as kCheckOps of reference work allows (at least the corners), all OC channels
// of each; the guards around Y catch a write outside it. As GemmCase: Create() binds the kernel
// of the ISA cap in effect, Run() is the prepacked call that is timed.
class ConvCase {
 public:
  static constexpr double kCheckOps = GemmCase::kFullCheckOps;
  static constexpr int64_t kRandomPixels = 24;
  static constexpr int64_t kGuard = GemmCase::kGuard;

  explicit ConvCase(const Problem& p) : p_(p) {}
  ConvCase(const ConvCase&) = delete;
  ConvCase& operator=(const ConvCase&) = delete;

  Status Init() {
    if (!p_.layer.empty() && FindConvLayer(p_.layer) == nullptr) {
      return Status(qkern::StatusCode::kInternal,
                    "tool: no layer '" + p_.layer + "' in bench/conv_layers.h");
    }
    oh_ = ref::conv_out_dim(p_.h, p_.pad_h, p_.pad_h, p_.kh, p_.dilation, p_.stride);
    ow_ = ref::conv_out_dim(p_.w, p_.pad_w, p_.pad_w, p_.kw, p_.dilation, p_.stride);
    if (oh_ <= 0 || ow_ <= 0 || p_.ic % p_.groups != 0 || p_.oc % p_.groups != 0) {
      return Status(qkern::StatusCode::kInternal, "tool: the geometry was not validated");
    }
    const int64_t k = p_.kh * p_.kw * (p_.ic / p_.groups);
    const bool s8 = p_.range.is_signed;
    x_ = Buffer<uint8_t>(p_.h * p_.w * p_.ic);
    w_ = Buffer<int8_t>(p_.oc * k);
    y_ = Buffer<uint8_t>(oh_ * ow_ * p_.oc + kCodeOffset + 2 * kGuard);
    wscale_.resize(static_cast<size_t>(p_.oc));
    bias_.resize(static_cast<size_t>(p_.oc));
    Rng rng(p_.seed);
    for (int64_t i = 0; i < x_.size(); ++i) x_[i] = static_cast<uint8_t>(rng.Bits() >> 24);
    // Uniform over all of s8, as GemmCase's: AVX2 must take the exact kernels.
    for (int64_t i = 0; i < w_.size(); ++i) {
      w_[i] = static_cast<int8_t>(static_cast<uint8_t>(rng.Bits() >> 24));
    }
    for (int64_t j = 0; j < p_.oc; ++j) {
      wscale_[j] = 0.005f + 0.015f * rng.Unit();  // per channel, in [0.005, 0.02)
      bias_[j] = static_cast<int32_t>(rng.Int(-(1 << 16), 1 << 16));
    }
    QConv2dParams& q = params_;
    q.input_channels = p_.ic;
    q.output_channels = p_.oc;
    q.kernel_h = p_.kh;
    q.kernel_w = p_.kw;
    q.stride_h = q.stride_w = p_.stride;
    q.dilation_h = q.dilation_w = p_.dilation;
    q.pad_top = q.pad_bottom = p_.pad_h;
    q.pad_left = q.pad_right = p_.pad_w;
    q.groups = p_.groups;
    q.activation_signed = s8;
    q.activation_zero_point = s8 ? -3 : 128;
    q.activation_scale = 0.05f;
    q.weights = w_.data();
    q.weight_layout = qkern::ConvWeightLayout::kOHWI;
    q.weight_scale = wscale_.data();
    q.weight_scale_per_channel = true;
    q.bias = bias_.data();
    q.output = qkern::GemmOutput::kRequantized;
    q.scheme = p_.scheme;
    q.output_range = QuantRange();
    q.output_range.is_signed = s8;
    q.output_zero_point = s8 ? 0 : 128;

    // The checked pixels: all, or the border and random ones within the budget.
    const double pixel_ops = 2.0 * static_cast<double>(p_.oc) * static_cast<double>(k);
    if (Ops() <= kCheckOps) {
      for (int64_t i = 0; i < oh_ * ow_; ++i) pixels_.push_back(i);
    } else {
      auto add = [&](int64_t r, int64_t c) {
        const int64_t i = r * ow_ + c;
        if (std::find(pixels_.begin(), pixels_.end(), i) == pixels_.end()) pixels_.push_back(i);
      };
      add(0, 0);
      add(0, ow_ - 1);
      add(oh_ - 1, 0);
      add(oh_ - 1, ow_ - 1);
      add(oh_ / 2, ow_ / 2);
      add(0, ow_ / 2);
      add(oh_ - 1, ow_ / 2);
      add(oh_ / 2, 0);
      add(oh_ / 2, ow_ - 1);
      for (int64_t r = 0; r < kRandomPixels; ++r) add(rng.Int(0, oh_ - 1), rng.Int(0, ow_ - 1));
      const size_t budget = static_cast<size_t>(std::max(4.0, kCheckOps / pixel_ops));
      if (pixels_.size() > budget) pixels_.resize(budget);
    }
    // The output scale as GemmCase picks it: the checked accumulators' range over 240 codes at
    // the typical weight scale 0.01 (the codes span the range, clamping a little at both ends).
    const int64_t n = static_cast<int64_t>(pixels_.size());
    acc_.resize(static_cast<size_t>(n * p_.oc));
    int64_t lo = 0, hi = 1;
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t c = 0; c < p_.oc; ++c) {
        const int32_t v = ref::conv_acc(q, x_.data(), p_.h, p_.w, p_.ic, 0, pixels_[i] / ow_,
                                        pixels_[i] % ow_, c);
        acc_[static_cast<size_t>(i * p_.oc + c)] = v;
        lo = std::min<int64_t>(lo, v);
        hi = std::max<int64_t>(hi, v);
      }
    }
    const float span = static_cast<float>(hi - lo) * q.activation_scale * 0.01f;
    q.output_scale = std::max(span / 240.0f, 1e-30f);
    out_ = ref::conv_output_params(q);
    want_ = Buffer<uint8_t>(n * p_.oc);
    for (int64_t i = 0; i < n * p_.oc; ++i) {
      ref::gemm_store(out_, acc_[static_cast<size_t>(i)], i % p_.oc, want_.data(), i);
    }
    return Status();
  }

  // Packs W for the kernels of the active ISA. On failure no QConv2d of an earlier ISA is left.
  Status Create() {
    conv_ = QConv2d();
    return QConv2d::create(params_, &conv_);
  }
  Status Run(const ParallelFor& pf) {
    return conv_.run(x_.data(), 1, p_.h, p_.w, y(), 0, 0, pf);
  }
  void Poison() { std::memset(y_.data(), 0xA5, static_cast<size_t>(y_.size())); }
  bool Check(std::string* detail) const {
    const int64_t begin = kGuard + kCodeOffset, end = begin + oh_ * ow_ * p_.oc;
    for (int64_t i = 0; i < y_.size(); ++i) {
      if ((i < begin || i >= end) && y_[i] != 0xA5) {
        *detail = Format("wrote outside Y: the byte %" PRId64 " %s Y was changed",
                         i < begin ? begin - i : i - end + 1, i < begin ? "before" : "after");
        return false;
      }
    }
    const int64_t n = static_cast<int64_t>(pixels_.size()), oc = p_.oc;
    std::vector<uint8_t> got(static_cast<size_t>(n * oc));
    for (int64_t i = 0; i < n; ++i) {
      std::memcpy(got.data() + i * oc, y() + pixels_[i] * oc, static_cast<size_t>(oc));
    }
    return CheckCodes(
        got.data(), want_.data(), n * oc, p_.range.is_signed,
        [&](int64_t i) {
          const int64_t px = pixels_[i / oc], c = i % oc;
          return Format("oh=%" PRId64 " ow=%" PRId64 " oc=%" PRId64 " acc=%" PRId32, px / ow_,
                        px % ow_, c, acc_[static_cast<size_t>(i)]) +
                 " multiplier=" + FloatStr(ref::gemm_multiplier(out_, c));
        },
        detail);
  }

  const Problem& problem() const { return p_; }
  const QConv2d& conv() const { return conv_; }
  int64_t oh() const { return oh_; }
  int64_t ow() const { return ow_; }
  int64_t checked_pixels() const { return static_cast<int64_t>(pixels_.size()); }
  double Ops() const {
    return 2.0 * static_cast<double>(oh_) * static_cast<double>(ow_) * static_cast<double>(p_.oc) *
           static_cast<double>(p_.kh * p_.kw) * static_cast<double>(p_.ic / p_.groups);
  }
  // "56x56x64>64 k3x3 s1 p1" (then " d2", " g64" where not 1; pad "p1x0" where they differ).
  std::string Shape() const {
    std::string s = Format("%" PRId64 "x%" PRId64 "x%" PRId64 ">%" PRId64 " k%" PRId64 "x%" PRId64
                           " s%" PRId64 " p%" PRId64,
                           p_.h, p_.w, p_.ic, p_.oc, p_.kh, p_.kw, p_.stride, p_.pad_h);
    if (p_.pad_w != p_.pad_h) s += Format("x%" PRId64, p_.pad_w);
    if (p_.dilation != 1) s += Format(" d%" PRId64, p_.dilation);
    if (p_.groups != 1) s += Format(" g%" PRId64, p_.groups);
    return s;
  }
  // "u8s8>u8" or "s8s8>s8": activations, weights > output.
  std::string Type() const { return p_.range.is_signed ? "s8s8>s8" : "u8s8>u8"; }

 private:
  uint8_t* y() { return y_.data() + kGuard + kCodeOffset; }
  const uint8_t* y() const { return y_.data() + kGuard + kCodeOffset; }

  Problem p_;
  int64_t oh_ = 0, ow_ = 0;
  QConv2dParams params_;
  qkern::QGemmParams out_;  // the output half of params_, for ref::gemm_store
  QConv2d conv_;
  std::vector<int64_t> pixels_;  // checked output pixels, oh * OW + ow
  std::vector<int32_t> acc_;     // their accumulators, pixel-major
  Buffer<uint8_t> x_, y_, want_;
  Buffer<int8_t> w_;
  std::vector<float> wscale_;
  std::vector<int32_t> bias_;
};

// ------------------------------------------------------------------------------ kmeans

// kmeans_fit (qkern/codebook.hpp) on a rows x cols matrix of N(0, 0.02^2) draws (as trained
// weights), 2^bits centroids per tensor or per row. Check: the centroids are finite and sorted,
// every label is the nearest centroid by assign's rule (reference/codebook_ref.h), and the SSE
// kmeans_fit reports is the labelling's (reference/kmeans_ref.h); the exact method's SSE also
// equals the textbook DP's where that is affordable.
class KmeansCase {
 public:
  // The textbook DP costs about k * d^2 steps per codebook of d values: checked up to this many.
  static constexpr double kDpCheckSteps = static_cast<double>(int64_t{1} << 25);
  // Relative agreement of two SSEs summed in double in different orders.
  static constexpr double kSseTolerance = 1e-9;

  explicit KmeansCase(const Problem& p) : p_(p) {}
  KmeansCase(const KmeansCase&) = delete;
  KmeansCase& operator=(const KmeansCase&) = delete;

  Status Init() {
    const int64_t numel = p_.rows * p_.cols;
    w_.resize(static_cast<size_t>(numel));
    Rng rng(p_.seed);
    for (float& v : w_) v = 0.02f * Gaussian(rng);
    shape_.rows = p_.rows;
    shape_.cols = p_.cols;
    shape_.bits = p_.codebook_bits;
    shape_.per_row = p_.per_row;
    options_.method = p_.method;
    centroids_.resize(static_cast<size_t>(books() * entries()));
    labels_.resize(static_cast<size_t>(numel));
    return Status();
  }
  Status Run() {
    return qkern::kmeans_fit(w_.data(), shape_, options_, centroids_.data(), labels_.data(), &sse_);
  }
  void Poison() {
    std::fill(centroids_.begin(), centroids_.end(), kNaN);
    std::fill(labels_.begin(), labels_.end(), uint8_t{0xA5});
    sse_ = kNaN;
  }
  bool Check(std::string* detail) const {
    const int k = entries();
    const int64_t len = book_len();
    std::vector<float> t(static_cast<size_t>(std::max(k - 1, 1)));
    std::vector<uint8_t> want(static_cast<size_t>(len));
    double sse = 0;
    for (int64_t b = 0; b < books(); ++b) {
      const float* c = centroids_.data() + b * k;
      for (int i = 0; i < k; ++i) {
        if (!std::isfinite(c[i]) || (i > 0 && c[i] < c[i - 1])) {
          *detail = Format("codebook %" PRId64 ": centroid %d is ", b, i) + FloatStr(c[i]) +
                    (i > 0 ? " after " + FloatStr(c[i - 1]) : std::string()) +
                    " (must be finite and ascending)";
          return false;
        }
      }
      const float* w = w_.data() + b * len;
      const uint8_t* got = labels_.data() + b * len;
      ref::thresholds(c, k, t.data());
      ref::assign_row(w, len, t.data(), k, want.data());
      const Mismatch mm = Compare(got, want.data(), len, [](uint8_t x, uint8_t y) { return x == y; });
      if (mm.count > 0) {
        *detail = Format("codebook %" PRId64 ": %" PRId64 " of %" PRId64
                         " labels are not the nearest centroid; first: w[%" PRId64 "]=",
                         b, mm.count, len, mm.first) +
                  FloatStr(w[mm.first]) +
                  Format(": got label %d, want %d", got[mm.first], want[mm.first]);
        return false;
      }
      sse += ref::labelling_sse(w, nullptr, len, c, got);
    }
    if (!(std::fabs(sse_ - sse) <= kSseTolerance * sse)) {
      *detail = Format("reported sse %.17g, the labelling's %.17g", sse_, sse);
      return false;
    }
    const double dp_steps =
        static_cast<double>(books()) * k * static_cast<double>(len) * static_cast<double>(len);
    if (p_.method == KmeansMethod::kOptimal1D && dp_steps <= kDpCheckSteps) {
      double dp = 0;
      for (int64_t b = 0; b < books(); ++b) {
        dp += ref::kmeans_1d_dp(w_.data() + b * len, nullptr, len, k).sse;
      }
      // The fp32 rounding of the centroids adds a little above the DP's double optimum.
      if (!(std::fabs(sse_ - dp) <= 1e-6 * dp + 1e-30)) {
        *detail = Format("sse %.17g is not the optimum %.17g (the textbook DP's)", sse_, dp);
        return false;
      }
    }
    return true;
  }

  const Problem& problem() const { return p_; }
  double sse() const { return sse_; }
  int64_t numel() const { return p_.rows * p_.cols; }
  const std::vector<float>& w() const { return w_; }
  const std::vector<float>& centroids() const { return centroids_; }
  const std::vector<uint8_t>& labels() const { return labels_; }
  std::string Shape() const { return Format("%" PRId64 "x%" PRId64, p_.rows, p_.cols); }
  std::string Kernel() const { return KmeansKernelName(p_.method, qkern::active_isa()); }
  Isa KernelIsa() const { return KmeansKernelIsa(p_.method, qkern::active_isa()); }

 private:
  int entries() const { return 1 << p_.codebook_bits; }
  int64_t books() const { return p_.per_row ? p_.rows : 1; }
  int64_t book_len() const { return p_.per_row ? p_.cols : p_.rows * p_.cols; }

  Problem p_;
  qkern::CodebookShape shape_;
  qkern::KmeansOptions options_;
  std::vector<float> w_, centroids_;
  std::vector<uint8_t> labels_;
  double sse_ = 0;
};

// ------------------------------------------------------------------------------ timing

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

struct TimingPlan {
  // Samples: max_samples, or fewer (not below min_samples) where that many would take longer
  // than target_s; the slow rows (the scalar path at 16M elements, ~0.5 s a call) then stay
  // affordable while the fast ones still get enough samples for a stable median.
  int min_samples = 15;
  int max_samples = 15;
  double target_s = 0;
  // Each sample repeats the call until it lasts this long: an L1-sized call takes well under a
  // microsecond, where steady_clock's resolution and its own cost (tens of ns) would dominate.
  double min_sample_s = 200e-6;
  bool calibrate = true;  // false: one call per sample (QKERN_VERBOSE logs every call)
};

// The median time of one call. Stops at the first failing call.
Status TimeCalls(const std::function<Status()>& call, const TimingPlan& plan, double* seconds) {
  auto sample = [&](int64_t calls, double* t) {
    const Clock::time_point t0 = Clock::now();
    for (int64_t k = 0; k < calls; ++k) {
      if (Status s = call(); !s.ok()) return s;
    }
    *t = SecondsSince(t0);
    return Status();
  };
  int64_t calls = 1;
  double t = 0;
  if (plan.calibrate) {
    // Grow the batch until one sample lasts min_sample_s; this doubles as the warm-up.
    while (true) {
      if (Status s = sample(calls, &t); !s.ok()) return s;
      if (t >= plan.min_sample_s || calls >= (int64_t{1} << 24)) break;
      const double want = plan.min_sample_s / std::max(t, 1e-9) * 1.1;
      calls = std::max(calls * 2, static_cast<int64_t>(std::ceil(calls * std::min(want, 1e3))));
    }
  }
  int samples = plan.max_samples;
  if (plan.target_s > 0 && t > 0) {
    samples = static_cast<int>(std::min<double>(plan.max_samples, plan.target_s / t));
    samples = std::max(samples, plan.min_samples);
  }
  std::vector<double> per_call;
  for (int r = 0; r < samples; ++r) {
    if (Status s = sample(calls, &t); !s.ok()) return s;
    per_call.push_back(t / static_cast<double>(calls));
  }
  *seconds = Median(per_call);
  return Status();
}

// Streaming-copy bandwidth for the traffic of a quantize f32 -> u8 of n elements (4n bytes read,
// n written): memcpy of 2.5n bytes reads 2.5n and writes 2.5n. In bytes per second.
double MemcpyBandwidth(int64_t n, const TimingPlan& plan) {
  const int64_t bytes = std::max<int64_t>(n * 5 / 2, 1);
  Buffer<uint8_t> src(bytes), dst(bytes);
  for (int64_t i = 0; i < bytes; ++i) src[i] = static_cast<uint8_t>(i * 131);
  double t = 0;
  const Status s = TimeCalls(
      [&] {
        std::memcpy(dst.data(), src.data(), static_cast<size_t>(bytes));
        // Keeps the copy: nothing reads dst, so the compiler could otherwise drop it.
        asm volatile("" : : "r"(dst.data()) : "memory");
        return Status();
      },
      plan, &t);
  (void)s;  // the call above cannot fail
  return 2.0 * static_cast<double>(bytes) / t;
}

// ------------------------------------------------------------------------------ arguments

bool ParseInt(const std::string& text, int64_t lo, int64_t hi, int64_t* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end != text.c_str() + text.size() || v < lo || v > hi) return false;
  *out = v;
  return true;
}

int UsageError(const std::string& what) {
  std::fprintf(stderr, "qkern: %s (qkern --help for usage)\n", what.c_str());
  return kExitUsage;
}

// Every command refuses to run with an invalid QKERN_MAX_ISA: the library would ignore it and
// run uncapped, and a benchmark of the wrong ISA is worse than none.
bool EnvironmentOk() {
  const Status env = qkern::environment_status();
  if (env.ok()) return true;
  std::fprintf(stderr, "qkern: %s\n", env.message().c_str());
  return false;
}

std::string IsaList(const std::vector<Isa>& isas) {
  std::string s;
  for (Isa isa : isas) s += std::string(s.empty() ? "" : ", ") + qkern::isa_name(isa);
  return s;
}

// The caps in effect, in words.
std::string CapsDescription() {
  const char* env = std::getenv("QKERN_MAX_ISA");
  std::string s;
  if (env == nullptr || env[0] == '\0') {
    s = "QKERN_MAX_ISA unset";
  } else {
    Isa cap;
    s = std::string("QKERN_MAX_ISA=") + env;
    if (!qkern::isa_from_name(env, &cap) || !qkern::environment_status().ok()) {
      s += " (invalid: ignored)";
    } else if (static_cast<int>(cap) >= static_cast<int>(qkern::best_isa())) {
      s += std::string(" (no effect: at or above the best isa, ") +
           qkern::isa_name(qkern::best_isa()) + ")";
    } else {
      s += std::string(" (dispatch capped at ") + qkern::isa_name(cap) + ")";
    }
  }
  return s + "; no set_max_isa() cap";
}

// ------------------------------------------------------------------------------ info

// The GEMM kernels dispatch at `isa` picks. There is no registry query: QGemm names its kernel in
// create(), from the weights and the activations as well as the ISA (the vpmaddubsw kernels only
// where create() proves them exact or the activations are declared 7-bit), so this creates
// 1 x 2 GEMMs that take each path: u8 and s8 activations with weights 127, 127 (the exact
// kernels) and 7-bit u8 activations (the vpmaddubsw ones, where the ISA has them). Sets the
// set_max_isa() cap; the caller resets it. *runs: the ISA of those kernels (below `isa` where
// QKERN_MAX_ISA caps dispatch lower, then *capped is set, or where gemm has no such slot).
Status GemmKernelNames(Isa isa, std::string* names, Isa* runs, bool* capped) {
  if (Status s = qkern::set_max_isa(isa); !s.ok()) return s;
  *capped = qkern::active_isa() != isa;
  const int8_t w[2] = {127, 127};
  const float scale = 1.0f;
  names->clear();
  *runs = isa;
  for (int variant = 0; variant < 3; ++variant) {
    QGemmParams q;
    q.n = 1;
    q.k = 2;
    q.activation_signed = variant == 1;
    q.activation_7bit = variant == 2;
    q.weights = w;
    q.weight_scale = &scale;
    QGemm g;
    if (Status s = QGemm::create(q, &g); !s.ok()) return s;
    if (names->find(g.kernel()) == std::string::npos) {
      *names += (names->empty() ? "" : " ") + g.kernel();
    }
    *runs = g.isa();
  }
  return Status();
}

// The lookup GEMM's kernels at `isa`, as GemmKernelNames: LutGemm names its kernel in create(),
// from the index width and the activation type, so this creates 1 x 2 LutGemms of 4 and 2 bits
// with u8, s8, 7-bit u8 (the vpmaddubsw kernels, where the ISA has them) and f32 activations.
Status LutGemmKernelNames(Isa isa, std::string* names, Isa* runs, bool* capped) {
  if (Status s = qkern::set_max_isa(isa); !s.ok()) return s;
  *capped = qkern::active_isa() != isa;
  const uint8_t indices[1] = {0x10};
  const float codebook[16] = {-1.0f, 1.0f, 0.5f, -0.5f};
  names->clear();
  *runs = isa;
  for (int bits : {4, 2}) {
    for (int variant = 0; variant < 4; ++variant) {
      const LutActivation act = variant == 1   ? LutActivation::kS8
                                : variant == 3 ? LutActivation::kFp32
                                               : LutActivation::kU8;
      LutGemmParams q;
      q.n = 1;
      q.k = 2;
      q.bits = bits;
      q.indices = indices;
      q.indices_size = 1;
      q.codebook = codebook;
      q.codebook_size = int64_t{1} << bits;
      q.activation = act;
      q.activation_7bit = variant == 2;
      q.output = act == LutActivation::kFp32 ? qkern::GemmOutput::kFloat
                                             : qkern::GemmOutput::kRequantized;
      LutGemm g;
      if (Status s = LutGemm::create(q, &g); !s.ok()) return s;
      if (names->find(g.kernel()) == std::string::npos) {
        *names += (names->empty() ? "" : " ") + g.kernel();
      }
      *runs = g.isa();
    }
  }
  return Status();
}

// The convolution's kernels at `isa`, as GemmKernelNames: QConv2d names its kernel in create(),
// from the geometry (the path) and the weights as well as the ISA, so this creates one tiny conv
// per path (2 -> 2 channels, u8 activations, weights 127: the exact kernels, as GemmKernelNames'):
// 1x1 stride 1 (gemm_1x1), 3x3 pad 1 (im2col), 3x3 pad 1 with groups = 2 (depthwise).
// *fallback: the paths whose kernels run a lower ISA, unless QKERN_MAX_ISA caps them all.
Status ConvKernelNames(Isa isa, std::string* names, std::string* fallback, bool* capped) {
  if (Status s = qkern::set_max_isa(isa); !s.ok()) return s;
  *capped = qkern::active_isa() != isa;
  int8_t w[2 * 3 * 3 * 2];  // the largest variant: OC 2 x 3 x 3 x IC 2
  std::fill(w, w + sizeof(w), int8_t{127});
  const float scale = 1.0f;
  names->clear();
  fallback->clear();
  for (int variant = 0; variant < 3; ++variant) {
    QConv2dParams q;
    q.input_channels = q.output_channels = 2;
    q.kernel_h = q.kernel_w = variant == 0 ? 1 : 3;
    q.pad_top = q.pad_left = q.pad_bottom = q.pad_right = variant == 0 ? 0 : 1;
    q.groups = variant == 2 ? 2 : 1;
    q.activation_zero_point = 128;
    q.weights = w;
    q.weight_scale = &scale;
    q.weight_scale_per_channel = false;
    QConv2d c;
    if (Status s = QConv2d::create(q, &c); !s.ok()) return s;
    *names += (names->empty() ? "" : " ") + c.kernel();
    if (!*capped && c.isa() != isa) {
      *fallback += Format("%s%s falls back to %s", fallback->empty() ? "" : ", ",
                          qkern::conv_path_name(c.path()), qkern::isa_name(c.isa()));
    }
  }
  return Status();
}

int Info(const std::vector<std::string>& args) {
  if (!args.empty()) return UsageError("info: unexpected argument '" + args[0] + "'");
  if (!EnvironmentOk()) return kExitUsage;
  const qkern::CpuInfo cpu = qkern::cpu_info();
  std::printf("cpu: %s\n", cpu.model.c_str());
  std::string features;
  for (const std::string& f : cpu.features) features += (features.empty() ? "" : " ") + f;
  std::printf("features: %s\n", features.empty() ? "(none qkern uses)" : features.c_str());
  std::printf("isas of this architecture:\n");
  for (Isa isa : qkern::architecture_isas()) {
    std::printf("  %-13s %s\n", qkern::isa_name(isa),
                qkern::isa_available(isa) ? "available" : "not available");
  }
  std::printf("best isa: %s\n", qkern::isa_name(qkern::best_isa()));
  std::printf("chosen isa: %s\n", qkern::isa_name(qkern::active_isa()));
  std::printf("caps: %s\n", CapsDescription().c_str());
#if QKERN_HAVE_JIT
  std::printf("jit: %s (QKERN_JIT=0 turns it off); generators:\n",
              qkern::jit::enabled() ? "on" : "off");
  for (const std::string& g : qkern::jit::generator_descriptions()) std::printf("  %s\n", g.c_str());
  // The AOT kernels below: the probes run with the JIT off.
  qkern::jit::set_enabled_for_test(false);
#else
  std::printf("jit: not built for this architecture (the AOT kernels serve)\n");
#endif
  std::printf("kernels (per op, the slot each available isa runs; AOT):\n");
  for (Op op : kAllOps) {
    std::printf("  %s\n", OpName(op));
    for (Isa isa : qkern::available_isas()) {
      if (op == Op::kKmeans) {
        // The names say which code runs (kmeans_fit has no kernel of its own per ISA).
        std::printf("    %-13s %s %s\n", qkern::isa_name(isa),
                    KmeansKernelName(KmeansMethod::kOptimal1D, isa).c_str(),
                    KmeansKernelName(KmeansMethod::kLloyd, isa).c_str());
        continue;
      }
      if (op == Op::kConv) {
        std::string names, fallback;
        bool capped = false;
        const Status s = ConvKernelNames(isa, &names, &fallback, &capped);
        qkern::reset_max_isa();
        if (!s.ok()) {
          std::fprintf(stderr, "qkern: %s on %s: %s\n", OpName(op), qkern::isa_name(isa),
                       s.to_string().c_str());
          return kExitFailure;
        }
        std::printf("    %-13s %s%s\n", qkern::isa_name(isa), names.c_str(),
                    capped ? (std::string(" (QKERN_MAX_ISA caps it to ") +
                              qkern::isa_name(qkern::active_isa()) + ")")
                                 .c_str()
                    : fallback.empty() ? ""
                                       : (" (" + fallback + ")").c_str());
        continue;
      }
      if (IsGemm(op)) {
        std::string names;
        Isa runs = isa;
        bool capped = false;
        const Status s = op == Op::kGemm ? GemmKernelNames(isa, &names, &runs, &capped)
                                         : LutGemmKernelNames(isa, &names, &runs, &capped);
        qkern::reset_max_isa();
        if (!s.ok()) {
          std::fprintf(stderr, "qkern: %s on %s: %s\n", OpName(op), qkern::isa_name(isa),
                       s.to_string().c_str());
          return kExitFailure;
        }
        std::printf("    %-13s %s%s\n", qkern::isa_name(isa), names.c_str(),
                    runs == isa ? ""
                                : (std::string(capped ? " (QKERN_MAX_ISA caps it to "
                                                      : " (falls back to ") +
                                   qkern::isa_name(runs) + ")")
                                      .c_str());
        continue;
      }
      std::string names;
      for (bool is_signed : {false, true}) {
        for (RequantScheme scheme : {RequantScheme::kFp32, RequantScheme::kFixedPoint}) {
          // Only requantize has a scheme; only quantize, dequantize and requantize a code type.
          if (op != Op::kRequantize && scheme != RequantScheme::kFp32) continue;
          const bool typed = op == Op::kQuantize || op == Op::kDequantize || op == Op::kRequantize;
          if (!typed && is_signed) continue;
          names += (names.empty() ? "" : " ") + KernelName(op, is_signed, scheme, isa);
        }
      }
      const Isa runs = KernelIsa(op, isa);
      std::printf("    %-13s %s%s\n", qkern::isa_name(isa), names.c_str(),
                  runs == isa
                      ? ""
                      : (std::string(" (falls back to ") + qkern::isa_name(runs) + ")").c_str());
    }
  }
  return kExitOk;
}

// ------------------------------------------------------------------------------ tour

struct TourOp {
  const char* label;
  Problem problem;
};

std::vector<TourOp> TourOps(int64_t n) {
  auto make = [&](Op op) {
    Problem p;
    p.op = op;
    p.n = n;
    return p;
  };
  std::vector<TourOp> ops;
  ops.push_back({"quantize f32>u8", make(Op::kQuantize)});
  Problem per_channel = make(Op::kQuantize);
  per_channel.channels = 64;
  per_channel.n = n / 64 * 64;  // dims {rows, 64}
  ops.push_back({"quantize f32>u8 ch64", per_channel});
  ops.push_back({"dequantize u8>f32", make(Op::kDequantize)});
  ops.push_back({"requantize fp32", make(Op::kRequantize)});
  Problem fixed = make(Op::kRequantize);
  fixed.scheme = RequantScheme::kFixedPoint;
  fixed.relu = true;
  ops.push_back({"requantize fixed+relu", fixed});
  ops.push_back({"choose_qparams", make(Op::kChooseQParams)});
  ops.push_back({"fake_quantize", make(Op::kFakeQuantize)});
  ops.push_back({"fake_quantize_bwd", make(Op::kFakeQuantizeBackward)});
  for (size_t k = 0; k < ops.size(); ++k) {
    ops[k].problem.seed = static_cast<uint32_t>(20240601u + 977u * k + static_cast<uint32_t>(n));
  }
  return ops;
}

// Sizes in elements: ~4 KiB of f32 (L1), ~256 KiB (L2), 64 MiB (beyond any last-level cache a
// single core sees). Not multiples of the vector length, so every kernel's tail runs; the
// per-channel case rounds down to whole rows of 64.
TimingPlan TourPlan(int64_t n, bool quick) {
  TimingPlan plan;
  if (quick) {
    plan.min_samples = plan.max_samples = 5;
    plan.min_sample_s = 50e-6;
  } else if (n >= (int64_t{1} << 22)) {
    // 64 MiB per call: one call already lasts milliseconds (SIMD) to half a second (scalar).
    plan.min_samples = 3;
    plan.max_samples = 15;
    plan.target_s = 0.25;
    plan.min_sample_s = 0;
  } else {
    plan.min_samples = plan.max_samples = n > 16384 ? 11 : 15;
  }
  return plan;
}

// The GEMM entries. 67 x 515 x 259 is about m 64, k 512, n 256 (a small layer, in L2) plus
// tails in every dimension, so each kernel's partial MR / NR / KR blocks run; the full tour adds
// a GEMV over 16 MiB of weights (bound by memory bandwidth, like LLM decoding).
std::vector<TourOp> TourGemms(bool quick) {
  auto make = [](int64_t m, int64_t k, int64_t n) {
    Problem p;
    p.op = Op::kGemm;
    p.m = m;
    p.k = k;
    p.n = n;
    return p;
  };
  std::vector<TourOp> ops;
  ops.push_back({"gemm u8s8>u8 fp32", make(67, 515, 259)});
  Problem fixed = make(67, 515, 259);
  fixed.scheme = RequantScheme::kFixedPoint;
  ops.push_back({"gemm u8s8>u8 fixed", fixed});
  Problem a7 = make(67, 515, 259);
  a7.activation_7bit = true;  // declared: the vpmaddubsw kernels where the ISA has them
  ops.push_back({"gemm 7-bit A", a7});
  if (!quick) ops.push_back({"gemv u8s8>u8 fp32", make(1, 4096, 4096)});
  for (size_t k = 0; k < ops.size(); ++k) {
    ops[k].problem.seed = static_cast<uint32_t>(20240601u + 977u * k);
  }
  return ops;
}

// Short-K GEMMs, where the JIT's fused kernels pay most (docs/jit.md).
std::vector<TourOp> TourJitGemms() {
  std::vector<TourOp> ops;
  for (const auto& mk : {std::pair<int64_t, int64_t>{16, 27}, std::pair<int64_t, int64_t>{4, 200}}) {
    Problem p;
    p.op = Op::kGemm;
    p.m = mk.first;
    p.k = mk.second;
    p.n = 259;
    p.seed = static_cast<uint32_t>(20240611u + mk.second);
    ops.push_back({mk.second == 27 ? "gemm k27" : "gemm k200", p});
  }
  return ops;
}

// Lookup GEMVs and a few rows at K = 768, where the JIT's wide calls pay (docs/jit.md).
std::vector<TourOp> TourJitLuts() {
  std::vector<TourOp> ops;
  for (const auto& mb : {std::pair<int64_t, int>{1, 4}, std::pair<int64_t, int>{1, 2}, std::pair<int64_t, int>{4, 4}}) {
    Problem p;
    p.op = Op::kLutGemm;
    p.m = mb.first;
    p.k = 768;
    p.n = 1030;
    p.codebook_bits = mb.second;
    p.per_row = true;
    p.act = LutActivation::kU8;
    p.seed = static_cast<uint32_t>(20240621u + 7 * mb.first + mb.second);
    ops.push_back({mb.second == 2 ? "lut_gemv 2b k768" : mb.first == 1 ? "lut_gemv 4b k768" : "lut_gemm 4b k768", p});
  }
  return ops;
}

TimingPlan TourGemmPlan(bool quick) {
  TimingPlan plan;
  if (quick) {
    plan.min_samples = plan.max_samples = 5;
    plan.min_sample_s = 50e-6;
  } else {
    // The scalar GEMV takes milliseconds a call: fewer samples there, 15 for the SIMD rows.
    plan.min_samples = 3;
    plan.max_samples = 15;
    plan.target_s = 0.25;
  }
  return plan;
}

// The convolution entries: layers of bench/conv_layers.h with their channels, kernels, strides
// and padding, on a cropped input so that the scalar path stays within tens of milliseconds
// (the full networks are bench/conv_bench.cc's): a ResNet-50 3x3 (im2col), 1x1 (gemm_1x1) and the
// 7x7 stride-2 stem (im2col, 3 input channels), MobileNetV2 depthwise 3x3 stride 1 and 2 (the
// second also with s8 activations and output). Odd crops leave partial tiles and vectors.
std::vector<TourOp> TourConvs(bool quick) {
  struct Entry {
    const char* label;
    const char* layer;
    int64_t size, quick_size;  // the cropped input, square
    bool is_signed;
  };
  const Entry entries[] = {
      {"conv 3x3 64>64", "resnet50:layer1.0.conv2", 19, 7, false},
      {"conv 1x1 256>64", "resnet50:layer1.1.conv1", 19, 7, false},
      {"conv 7x7 s2 3>64", "resnet50:conv1", 39, 15, false},
      {"conv 3x3 s2 3>32", "mobilenetv2:features.0", 39, 15, false},
      {"dw 3x3 s1 144", "mobilenetv2:features.3.dw", 27, 9, false},
      {"dw 3x3 s2 144", "mobilenetv2:features.4.dw", 27, 9, false},
      {"dw 3x3 s2 144 s8", "mobilenetv2:features.4.dw", 27, 9, true},
  };
  std::vector<TourOp> ops;
  for (const Entry& e : entries) {
    const qkern_bench::ConvLayer* l = FindConvLayer(e.layer);
    Problem p;
    p.op = Op::kConv;
    if (l != nullptr) SetConvLayer(*l, &p);
    p.layer = e.layer;  // ConvCase::Init fails on a name the table lost
    p.h = p.w = quick ? e.quick_size : e.size;
    p.range.is_signed = e.is_signed;
    ops.push_back({e.label, p});
  }
  for (size_t k = 0; k < ops.size(); ++k) {
    ops[k].problem.seed = static_cast<uint32_t>(20240601u + 977u * k);
  }
  return ops;
}

TimingPlan TourConvPlan(bool quick) {
  TimingPlan plan = TourGemmPlan(quick);
  if (!quick) plan.target_s = 0.05;  // six entries on every ISA: the section stays near a second
  return plan;
}

// One tour entry of a prepacked case (GemmCase, ConvCase, LutGemmCase) under `isa`: create under
// the cap, run into a poisoned output, check against the reference, time. False with *detail
// when a call fails or the check does.
template <class Case>
bool TourCheckAndTime(Case& c, Isa isa, const TimingPlan& plan, double* seconds, std::string* detail) {
  Status status = qkern::set_max_isa(isa);
  if (status.ok()) status = c.Create();
  bool ok = false;
  if (status.ok()) {
    c.Poison();
    status = c.Run(ParallelFor());
    ok = status.ok() && c.Check(detail);
    if (status.ok()) status = TimeCalls([&] { return c.Run(ParallelFor()); }, plan, seconds);
  }
  if (!status.ok()) {
    *detail = "the call returned " + status.to_string();
    return false;
  }
  return ok;
}

// The codebook entries: W (259 x 515, N(0, 0.02^2), about a small layer's weights with tails;
// 35 x 515 in the quick tour, whose fits would otherwise take seconds under qemu-user) fitted
// with 4-bit per-row codebooks by each kmeans_fit method on every ISA (every ISA's fit must equal
// the first's, bit for bit), then the exact fit's labels packed (pack_indices) and run through
// LutGemm with u8, 7-bit u8 and f32 activations (X 67 x 515, N(0, 1)); "err vs float" is
// max |Y - X W^T| / max |X W^T| with the float W before quantization. The full tour adds
// GEMVs over 4096 x 4096 random 4- and 2-bit indices (8 and 4 MiB, like LLM decoding).
void TourCodebooks(const std::vector<Isa>& isas, bool quick, int* checks, int* failed,
                   std::vector<std::string>* failures) {
  const TimingPlan plan = TourGemmPlan(quick);
  // A fit takes tens of ms (over half a second under qemu-user): one call per sample, and only
  // three samples in the quick tour.
  TimingPlan fit_plan = plan;
  fit_plan.min_sample_s = 0;
  if (quick) fit_plan.min_samples = fit_plan.max_samples = 3;
  auto fail = [&](const std::string& what) {
    ++*failed;
    failures->push_back(what);
  };

  std::printf("\n%-22s %-14s %-12s %-56s %12s %9s %12s  %s\n", "kmeans_fit (4-bit/row)",
              "rows x cols", "isa", "kernel", "time (us)", "Melem/s", "sse", "check");
  std::unique_ptr<KmeansCase> fit;  // the exact fit, for the lookup GEMM below
  const int64_t w_rows = quick ? 35 : 259, w_cols = 515;
  for (KmeansMethod method : {KmeansMethod::kOptimal1D, KmeansMethod::kLloyd}) {
    Problem p;
    p.op = Op::kKmeans;
    p.rows = w_rows;
    p.cols = w_cols;
    p.codebook_bits = 4;
    p.per_row = true;
    p.method = method;
    p.seed = 20240531u;  // one W for both methods, not the seed of an X below
    const std::string label = std::string("kmeans_fit ") + MethodName(method);
    auto c = std::make_unique<KmeansCase>(p);
    if (Status s = c->Init(); !s.ok()) {
      ++*checks;
      fail(label + ": setup: " + s.to_string());
      continue;
    }
    std::vector<float> first_centroids;
    std::vector<uint8_t> first_labels;
    for (Isa isa : isas) {
      ++*checks;
      Status status = qkern::set_max_isa(isa);
      std::string detail;
      bool ok = false;
      double seconds = 0;
      if (status.ok()) {
        c->Poison();
        status = c->Run();
        ok = status.ok() && c->Check(&detail);
        if (ok && first_centroids.empty()) {
          first_centroids = c->centroids();
          first_labels = c->labels();
        } else if (ok && (c->centroids() != first_centroids || c->labels() != first_labels)) {
          ok = false;
          detail = std::string("the fit differs from the one on ") + qkern::isa_name(isas[0]);
        }
        if (status.ok()) status = TimeCalls([&] { return c->Run(); }, fit_plan, &seconds);
      }
      if (!status.ok()) {
        ok = false;
        detail = "the call returned " + status.to_string();
      }
      const std::string kernel = c->Kernel();
      if (!ok) {
        fail(Format("%s %s %s (%s): ", label.c_str(), c->Shape().c_str(), qkern::isa_name(isa),
                    kernel.c_str()) +
             detail);
      }
      std::printf("%-22s %-14s %-12s %-56s %12.3f %9.2f %12.6g  %s\n", label.c_str(),
                  c->Shape().c_str(), qkern::isa_name(isa), kernel.c_str(), seconds * 1e6,
                  seconds > 0 ? static_cast<double>(c->numel()) / seconds / 1e6 : 0.0, c->sse(),
                  ok ? "\u2713" : "\u2717");
      std::fflush(stdout);
    }
    qkern::reset_max_isa();
    if (method == KmeansMethod::kOptimal1D) fit = std::move(c);
  }

  struct LutOp {
    const char* label;
    Problem problem;
    bool fitted;  // W from the exact fit above; else random labels and codebooks
  };
  auto make = [](int64_t m, int64_t k, int64_t n, int bits, LutActivation act) {
    Problem p;
    p.op = Op::kLutGemm;
    p.m = m;
    p.k = k;
    p.n = n;
    p.codebook_bits = bits;
    p.per_row = true;
    p.act = act;
    return p;
  };
  std::vector<LutOp> ops;
  ops.push_back({"lut_gemm 4b u8>u8", make(67, w_cols, w_rows, 4, LutActivation::kU8), true});
  ops.push_back({"lut_gemm 4b f32>f32", make(67, w_cols, w_rows, 4, LutActivation::kFp32), true});
  Problem a7 = make(67, w_cols, w_rows, 4, LutActivation::kU8);
  a7.activation_7bit = true;  // declared: the vpmaddubsw kernels where the ISA has them
  ops.push_back({"lut_gemm 4b 7-bit X", a7, true});
  if (!quick) {
    ops.push_back({"lut_gemv 4b u8>u8", make(1, 4096, 4096, 4, LutActivation::kU8), false});
    ops.push_back({"lut_gemv 2b u8>u8", make(1, 4096, 4096, 2, LutActivation::kU8), false});
    ops.push_back({"lut_gemv 4b f32>f32", make(1, 4096, 4096, 4, LutActivation::kFp32), false});
  }
  // The fitted entries share X, so that their errors vs float compare the activation types.
  for (size_t k = 0; k < ops.size(); ++k) {
    ops[k].problem.seed = static_cast<uint32_t>(20240601u + (ops[k].fitted ? 0 : 977u * k));
  }
  std::printf("\n%-22s %-14s %-12s %-56s %12s %9s %11s %12s  %s\n", "lut_gemm (per-row)",
              "m x k x n", "isa", "kernel", "time (us)", "Gop/s", "index GB/s", "err vs float",
              "check");
  for (const LutOp& op : ops) {
    LutGemmCase c(op.problem);
    if (op.fitted) {
      if (!fit) {
        ++*checks;
        fail(std::string(op.label) + ": setup: no fit");
        continue;
      }
      c.UseFit(fit->centroids(), fit->labels(), fit->w());
    }
    if (Status s = c.Init(); !s.ok()) {
      ++*checks;
      fail(std::string(op.label) + ": setup: " + s.to_string());
      continue;
    }
    for (Isa isa : isas) {
      ++*checks;
      std::string detail;
      double seconds = 0;
      const bool ok = TourCheckAndTime(c, isa, plan, &seconds, &detail);
      const std::string kernel = c.gemm().valid() ? c.gemm().kernel() : "-";
      if (!ok) {
        fail(Format("%s %s %s (%s): ", op.label, c.Shape().c_str(), qkern::isa_name(isa),
                    kernel.c_str()) +
             detail);
      }
      double max_abs = 0, max_ref = 0;
      const std::string err = ok && c.ErrorVsFloat(&max_abs, &max_ref)
                                  ? Format("%.2f%%", 100.0 * max_abs / std::max(max_ref, 1e-300))
                                  : std::string("-");
      std::printf("%-22s %-14s %-12s %-56s %12.3f %9.2f %11.2f %12s  %s\n", op.label,
                  c.Shape().c_str(), qkern::isa_name(isa), kernel.c_str(), seconds * 1e6,
                  seconds > 0 ? c.Ops() / seconds / 1e9 : 0.0,
                  seconds > 0 ? c.IndexBytes() / seconds / 1e9 : 0.0, err.c_str(),
                  ok ? "\u2713" : "\u2717");
      std::fflush(stdout);
    }
  }
  qkern::reset_max_isa();
}

// One tour section over operators that bind their kernel in create() (QGemm, QConv2d): per
// op, set up the case once, then per ISA create under its cap, check against the reference,
// time, and print a row (`print_row`); `op_of(c)` is the created operator, for its kernel name.
template <class Case, class OpOf, class PrintRow>
void TourCases(const std::vector<TourOp>& ops, const std::vector<Isa>& isas, const TimingPlan& plan, OpOf op_of,
               PrintRow print_row, int* checks, int* failed, std::vector<std::string>* failures) {
  for (const TourOp& op : ops) {
    Case c(op.problem);
    if (Status s = c.Init(); !s.ok()) {
      ++*checks;
      ++*failed;
      failures->push_back(std::string(op.label) + ": setup: " + s.to_string());
      continue;
    }
    for (Isa isa : isas) {
      ++*checks;
      std::string detail;
      double seconds = 0;
      const bool ok = TourCheckAndTime(c, isa, plan, &seconds, &detail);
      const auto* made = op_of(c);
      const std::string kernel = made->valid() ? made->kernel() : "-";
      if (!ok) {
        ++*failed;
        failures->push_back(Format("%s %s %s (%s): ", op.label, c.Shape().c_str(), qkern::isa_name(isa),
                                   kernel.c_str()) +
                            detail);
      }
      print_row(op.label, c, isa, kernel, seconds, ok);
      std::fflush(stdout);
    }
  }
  qkern::reset_max_isa();
}

#if QKERN_HAVE_JIT
// A tour section of operators that ask the JIT first (QGemm, LutGemm): the
// problems on each ISA with a generator, first with the JIT off, then on;
// `bytes(c)` is the weight bytes a run reads (the GB/s column).
template <class Case, class Bytes>
void TourAotThenJit(const char* title, const char* bytes_title, const std::vector<TourOp>& ops,
                    const std::vector<Isa>& isas, const TimingPlan& plan, Bytes bytes, int* checks, int* failed,
                    std::vector<std::string>* failures) {
  std::printf("\n%-22s %-14s %-12s %-48s %12s %9s %11s  %s\n", title, "m x k x n", "isa", "kernel", "time (us)",
              "Gop/s", bytes_title, "check");
  for (Isa isa : isas) {
    if (isa != Isa::kAvx2 && isa != Isa::kAvx512 && isa != Isa::kAvx512Vnni) continue;
    for (bool jit_on : {false, true}) {
      qkern::jit::set_enabled_for_test(jit_on);
      TourCases<Case>(
          ops, {isa}, plan, [](const Case& c) { return &c.gemm(); },
          [jit_on, &bytes](const char* label, const Case& c, Isa row_isa, const std::string& kernel, double seconds,
                           bool ok) {
            std::printf("%-22s %-14s %-12s %-48s %12.3f %9.2f %11.2f  %s\n",
                        (std::string(label) + (jit_on ? " jit" : " aot")).c_str(), c.Shape().c_str(),
                        qkern::isa_name(row_isa), kernel.c_str(), seconds * 1e6,
                        seconds > 0 ? c.Ops() / seconds / 1e9 : 0.0, seconds > 0 ? bytes(c) / seconds / 1e9 : 0.0,
                        ok ? "\u2713" : "\u2717");
          },
          checks, failed, failures);
    }
  }
  qkern::jit::reset_enabled_for_test();
}
#endif

int Tour(const std::vector<std::string>& args) {
  bool quick = false;
  for (const std::string& a : args) {
    if (a == "--quick") {
      quick = true;
    } else {
      return UsageError("tour: unknown flag '" + a + "'");
    }
  }
  if (!EnvironmentOk()) return kExitUsage;
  const Clock::time_point start = Clock::now();
  const std::vector<int64_t> sizes =
      quick ? std::vector<int64_t>{1037, 65557} : std::vector<int64_t>{1037, 65557, 16777223};

  // The ISAs to visit: every available one that QKERN_MAX_ISA does not cap away.
  std::vector<Isa> isas;
  std::string skipped;
  for (Isa isa : qkern::available_isas()) {
    if (Status s = qkern::set_max_isa(isa); !s.ok()) {
      std::fprintf(stderr, "qkern: set_max_isa(%s): %s\n", qkern::isa_name(isa),
                   s.to_string().c_str());
      return kExitFailure;
    }
    if (qkern::active_isa() == isa) {
      isas.push_back(isa);
    } else {
      skipped += std::string(skipped.empty() ? "" : ", ") + qkern::isa_name(isa);
    }
  }
  qkern::reset_max_isa();

  std::printf("qkern tour%s: cpu %s\n", quick ? " --quick" : "", qkern::cpu_info().model.c_str());
  std::printf("isas: %s%s\n", IsaList(isas).c_str(),
              skipped.empty() ? "" : (" (skipped, above QKERN_MAX_ISA: " + skipped + ")").c_str());
  std::vector<double> peak;
  std::string peak_line;
  for (int64_t n : sizes) {
    peak.push_back(MemcpyBandwidth(n, TourPlan(n, quick)));
    peak_line +=
        Format("%s%" PRId64 ": %.1f GB/s", peak_line.empty() ? "" : ", ", n, peak.back() / 1e9);
  }
  std::printf("peak = memcpy of the bytes of a quantize f32>u8 of that size (5 B/element): %s\n",
              peak_line.c_str());
  std::printf("\n%-22s %10s %-12s %12s %9s %9s %7s  %s\n", "op", "size", "isa", "time (us)", "GB/s",
              "Gelem/s", "% peak", "check");

  int checks = 0, failed = 0;
  std::vector<std::string> failures;
  for (size_t si = 0; si < sizes.size(); ++si) {
    const TimingPlan plan = TourPlan(sizes[si], quick);
    for (const TourOp& op : TourOps(sizes[si])) {
      std::unique_ptr<Case> c;
      if (Status s = MakeCase(op.problem, &c); !s.ok()) {
        ++checks;
        ++failed;
        failures.push_back(std::string(op.label) + ": setup: " + s.to_string());
        continue;
      }
      for (Isa isa : isas) {
        ++checks;
        if (Status s = qkern::set_max_isa(isa); !s.ok()) {
          ++failed;
          failures.push_back(std::string(op.label) + " " + qkern::isa_name(isa) + ": " +
                             s.to_string());
          continue;
        }
        c->Poison();
        std::string detail;
        Status status = c->Run();
        bool ok = status.ok() && c->Check(&detail);
        double seconds = 0;
        if (status.ok()) status = TimeCalls([&] { return c->Run(); }, plan, &seconds);
        if (!status.ok()) {
          ok = false;
          detail = "the call returned " + status.to_string();
        }
        if (!ok) {
          ++failed;
          failures.push_back(Format("%s n=%" PRId64 " %s (%s): ", op.label, c->numel(),
                                    qkern::isa_name(isa), KernelName(c->problem(), isa).c_str()) +
                             detail);
        }
        const double gbps = seconds > 0 ? c->Bytes() / seconds / 1e9 : 0;
        std::printf("%-22s %10" PRId64 " %-12s %12.3f %9.2f %9.3f %6.0f%%  %s\n", op.label,
                    c->numel(), qkern::isa_name(isa), seconds * 1e6, gbps,
                    seconds > 0 ? static_cast<double>(c->numel()) / seconds / 1e9 : 0.0,
                    100.0 * gbps * 1e9 / peak[si], ok ? "\u2713" : "\u2717");
        std::fflush(stdout);
      }
    }
  }

  // The int8 GEMM. QGemm binds its kernel in create(), so each ISA gets its own create() under
  // its cap; the data and the reference answer are shared.
  std::printf("\n%-22s %-14s %-12s %-44s %12s %9s %11s  %s\n", "gemm", "m x k x n", "isa",
              "kernel", "time (us)", "Gop/s", "weight GB/s", "check");
  TourCases<GemmCase>(
      TourGemms(quick), isas, TourGemmPlan(quick), [](const GemmCase& c) { return &c.gemm(); },
      [](const char* label, const GemmCase& c, Isa isa, const std::string& kernel, double seconds, bool ok) {
        std::printf("%-22s %-14s %-12s %-44s %12.3f %9.2f %11.2f  %s\n", label, c.Shape().c_str(),
                    qkern::isa_name(isa), kernel.c_str(), seconds * 1e6,
                    seconds > 0 ? c.Ops() / seconds / 1e9 : 0.0,
                    seconds > 0 ? static_cast<double>(c.gemm().packed_bytes()) / seconds / 1e9 : 0.0,
                    ok ? "\u2713" : "\u2717");
      },
      &checks, &failed, &failures);

#if QKERN_HAVE_JIT
  // The JIT against the AOT kernels: the same problems on each ISA with a
  // generator, first with the JIT off, then on (QGemm::create asks it first).
  TourAotThenJit<GemmCase>(
      "gemm: aot, then jit", "weight GB/s", TourJitGemms(), isas, TourGemmPlan(quick),
      [](const GemmCase& c) { return static_cast<double>(c.gemm().packed_bytes()); }, &checks, &failed, &failures);
  // The lookup GEMM the same way (LutGemm::create asks the JIT first for
  // quantized activations).
  TourAotThenJit<LutGemmCase>("lut_gemm: aot, then jit", "index GB/s", TourJitLuts(), isas, TourGemmPlan(quick),
                              [](const LutGemmCase& c) { return c.IndexBytes(); }, &checks, &failed, &failures);

  // First layers (3 input channels): the im2col path (GEMM JIT kernels), then
  // the direct path's gather kernels.
  std::printf("\n%-22s %-28s %-12s %-52s %12s %9s  %s\n", "conv: im2col, then direct", "geometry", "isa",
              "kernel", "time (us)", "Gop/s", "check");
  std::vector<TourOp> first_layers;
  for (const TourOp& op : TourConvs(quick)) {
    if (op.problem.ic <= 4) first_layers.push_back(op);
  }
  for (Isa isa : isas) {
    if (isa != Isa::kAvx2 && isa != Isa::kAvx512 && isa != Isa::kAvx512Vnni) continue;
    for (bool direct : {false, true}) {
      qkern::internal::set_conv_direct_for_test(direct);
      TourCases<ConvCase>(
          first_layers, {isa}, TourConvPlan(quick), [](const ConvCase& c) { return &c.conv(); },
          [](const char* label, const ConvCase& c, Isa row_isa, const std::string& kernel, double seconds, bool ok) {
            std::printf("%-22s %-28s %-12s %-52s %12.3f %9.2f  %s\n", label, c.Shape().c_str(),
                        qkern::isa_name(row_isa), kernel.c_str(), seconds * 1e6,
                        seconds > 0 ? c.Ops() / seconds / 1e9 : 0.0, ok ? "\u2713" : "\u2717");
          },
          &checks, &failed, &failures);
    }
  }
  qkern::internal::set_conv_direct_for_test(true);
#endif

  // The int8 convolution: QConv2d binds its kernel (and its path) in create() as QGemm does.
  std::printf("\n%-22s %-28s %-12s %-52s %12s %9s  %s\n", "conv (cropped layers)", "geometry",
              "isa", "kernel", "time (us)", "Gop/s", "check");
  TourCases<ConvCase>(
      TourConvs(quick), isas, TourConvPlan(quick), [](const ConvCase& c) { return &c.conv(); },
      [](const char* label, const ConvCase& c, Isa isa, const std::string& kernel, double seconds, bool ok) {
        std::printf("%-22s %-28s %-12s %-52s %12.3f %9.2f  %s\n", label, c.Shape().c_str(),
                    qkern::isa_name(isa), kernel.c_str(), seconds * 1e6,
                    seconds > 0 ? c.Ops() / seconds / 1e9 : 0.0, ok ? "\u2713" : "\u2717");
      },
      &checks, &failed, &failures);

  // k-means codebooks and the lookup GEMM: LutGemm binds its kernel in create() as QGemm does.
  TourCodebooks(isas, quick, &checks, &failed, &failures);
  if (!failures.empty()) {
    std::printf("\nfailures:\n");
    for (const std::string& f : failures) std::printf("  %s\n", f.c_str());
  }
  std::printf("\ntour: %d checks, %d passed, %d failed (%.1f s)\n", checks, checks - failed, failed,
              SecondsSince(start));
  return failed == 0 ? kExitOk : kExitFailure;
}

// ------------------------------------------------------------------------------ bench

// The timing plan of `bench`: `repeats` samples of at least a millisecond each.
TimingPlan BenchPlan(int64_t repeats) {
  TimingPlan plan;
  plan.min_samples = plan.max_samples = static_cast<int>(repeats);
  plan.min_sample_s = 1e-3;
  // With QKERN_VERBOSE every call logs a line: one call per sample keeps the log readable.
  const char* verbose = std::getenv("QKERN_VERBOSE");
  plan.calibrate = !(verbose != nullptr && std::atoi(verbose) > 0);
  return plan;
}

// What `bench --op gemm` and `--op lut_gemm` measure of a case (GemmCase, LutGemmCase): create
// under the ISA cap in effect, run once into a poisoned output, check against the reference,
// then time. False, after printing why, on an error.
struct Measured {
  double seconds = 0;
  bool ok = false;
  std::string detail;
  int samples = 0;
};
template <class Case>
bool MeasureCase(Case& c, const Problem& p, int64_t repeats, const char* create, Measured* out) {
  if (Status s = c.Init(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.to_string().c_str());
    return false;
  }
  if (Status s = c.Create(); !s.ok()) {
    std::fprintf(stderr, "qkern: %s: %s\n", create, s.to_string().c_str());
    return false;
  }
  // threads 1 runs with no pool at all (the plain call); ThreadPool(1) would run inline too.
  qkern::ThreadPool pool(p.threads);
  const ParallelFor pf = p.threads > 1 ? pool.parallel_for() : ParallelFor();
  c.Poison();
  if (Status s = c.Run(pf); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.to_string().c_str());
    return false;
  }
  out->ok = c.Check(&out->detail);
  const TimingPlan plan = BenchPlan(repeats);
  out->samples = plan.max_samples;
  if (Status s = TimeCalls([&] { return c.Run(pf); }, plan, &out->seconds); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.to_string().c_str());
    return false;
  }
  return true;
}

// `bench --op gemm`: create under the ISA cap in effect, check, time, print one line.
int BenchGemm(const Problem& p, int64_t repeats, bool json) {
  GemmCase c(p);
  Measured r;
  if (!MeasureCase(c, p, repeats, "QGemm::create", &r)) return kExitFailure;
  const double seconds = r.seconds;
  const bool ok = r.ok;
  const std::string& detail = r.detail;
  const QGemm& g = c.gemm();
  const double gops = c.Ops() / seconds / 1e9;
  const double weight_gbps = static_cast<double>(g.packed_bytes()) / seconds / 1e9;
  const char* scheme = SchemeName(p.scheme);
  if (json) {
    std::printf("{\"op\": \"gemm\", \"m\": %" PRId64 ", \"k\": %" PRId64 ", \"n\": %" PRId64
                ", \"type\": \"u8s8>u8\", \"scheme\": \"%s\", \"threads\": %d, ",
                p.m, p.k, p.n, scheme, p.threads);
    std::printf(
        "\"isa\": \"%s\", \"kernel\": \"%s\", \"repeats\": %d, \"time_us\": %.4f, "
        "\"gops\": %.3f, \"weight_gbps\": %.3f, \"packed_bytes\": %zu, \"checked_rows\": %" PRId64
        ", \"check\": \"%s\"",
        qkern::isa_name(g.isa()), JsonEscape(g.kernel()).c_str(), r.samples,
        seconds * 1e6, gops, weight_gbps, g.packed_bytes(), c.checked_rows(), ok ? "ok" : "fail");
    if (!ok) std::printf(", \"detail\": \"%s\"", JsonEscape(detail).c_str());
    std::printf("}\n");
  } else {
    std::printf("op=gemm m=%" PRId64 " k=%" PRId64 " n=%" PRId64
                " type=u8s8>u8 scheme=%s threads=%d isa=%s kernel=%s time_us=%.4f gops=%.3f "
                "weight_gbps=%.3f checked_rows=%" PRId64 " check=%s\n",
                p.m, p.k, p.n, scheme, p.threads, qkern::isa_name(g.isa()), g.kernel().c_str(),
                seconds * 1e6, gops, weight_gbps, c.checked_rows(), ok ? "ok" : "fail");
  }
  if (!ok) {
    std::fprintf(stderr, "qkern: %s: check failed: %s\n", g.kernel().c_str(), detail.c_str());
    return kExitFailure;
  }
  return kExitOk;
}

// `bench --op lut_gemm`: as BenchGemm. Gop/s counts 2 M N K; index GB/s the packed index bytes
// one run reads (N * packed_row_bytes(K, bits)) per second.
int BenchLutGemm(const Problem& p, int64_t repeats, bool json) {
  LutGemmCase c(p);
  Measured r;
  if (!MeasureCase(c, p, repeats, "LutGemm::create", &r)) return kExitFailure;
  const double seconds = r.seconds;
  const bool ok = r.ok;
  const std::string& detail = r.detail;
  const LutGemm& g = c.gemm();
  const double gops = c.Ops() / seconds / 1e9;
  const double index_gbps = c.IndexBytes() / seconds / 1e9;
  const std::string type = c.Type();
  const char* codebook = p.per_row ? "per_row" : "per_tensor";
  // The scheme requantizes the u8 output: there is none with f32 activations.
  const char* scheme = c.quantized() ? SchemeName(p.scheme) : nullptr;
  if (json) {
    std::printf("{\"op\": \"lut_gemm\", \"m\": %" PRId64 ", \"k\": %" PRId64 ", \"n\": %" PRId64
                ", \"bits\": %d, \"codebook\": \"%s\", \"type\": \"%s\", ",
                p.m, p.k, p.n, p.codebook_bits, codebook, type.c_str());
    if (scheme) std::printf("\"scheme\": \"%s\", ", scheme);
    std::printf(
        "\"threads\": %d, \"isa\": \"%s\", \"kernel\": \"%s\", \"repeats\": %d, "
        "\"time_us\": %.4f, \"gops\": %.3f, \"index_gbps\": %.3f, \"packed_bytes\": %zu, "
        "\"checked_rows\": %" PRId64 ", \"check\": \"%s\"",
        p.threads, qkern::isa_name(g.isa()), JsonEscape(g.kernel()).c_str(), r.samples,
        seconds * 1e6, gops, index_gbps, g.packed_bytes(), c.checked_rows(), ok ? "ok" : "fail");
    if (!ok) std::printf(", \"detail\": \"%s\"", JsonEscape(detail).c_str());
    std::printf("}\n");
  } else {
    std::printf("op=lut_gemm m=%" PRId64 " k=%" PRId64 " n=%" PRId64
                " bits=%d codebook=%s type=%s%s%s threads=%d isa=%s kernel=%s time_us=%.4f "
                "gops=%.3f index_gbps=%.3f checked_rows=%" PRId64 " check=%s\n",
                p.m, p.k, p.n, p.codebook_bits, codebook, type.c_str(), scheme ? " scheme=" : "",
                scheme ? scheme : "", p.threads, qkern::isa_name(g.isa()), g.kernel().c_str(),
                seconds * 1e6, gops, index_gbps, c.checked_rows(), ok ? "ok" : "fail");
  }
  if (!ok) {
    std::fprintf(stderr, "qkern: %s: check failed: %s\n", g.kernel().c_str(), detail.c_str());
    return kExitFailure;
  }
  return kExitOk;
}

// `bench --op conv`: as BenchGemm. Gop/s counts 2 OH OW OC KH KW IC/groups.
int BenchConv(const Problem& p, int64_t repeats, bool json) {
  ConvCase c(p);
  Measured r;
  if (!MeasureCase(c, p, repeats, "QConv2d::create", &r)) return kExitFailure;
  const double seconds = r.seconds;
  const bool ok = r.ok;
  const std::string& detail = r.detail;
  const QConv2d& conv = c.conv();
  const double gops = c.Ops() / seconds / 1e9;
  const char* scheme = SchemeName(p.scheme);
  const char* path = qkern::conv_path_name(conv.path());
  const std::string type = c.Type();
  if (json) {
    std::printf("{\"op\": \"conv\", ");
    if (!p.layer.empty()) std::printf("\"layer\": \"%s\", ", JsonEscape(p.layer).c_str());
    std::printf("\"h\": %" PRId64 ", \"w\": %" PRId64 ", \"ic\": %" PRId64 ", \"oc\": %" PRId64
                ", \"kh\": %" PRId64 ", \"kw\": %" PRId64 ", \"stride\": %" PRId64
                ", \"pad_h\": %" PRId64 ", \"pad_w\": %" PRId64 ", \"dilation\": %" PRId64
                ", \"groups\": %" PRId64 ", \"oh\": %" PRId64 ", \"ow\": %" PRId64 ", ",
                p.h, p.w, p.ic, p.oc, p.kh, p.kw, p.stride, p.pad_h, p.pad_w, p.dilation, p.groups,
                c.oh(), c.ow());
    std::printf(
        "\"type\": \"%s\", \"scheme\": \"%s\", \"threads\": %d, \"isa\": \"%s\", \"path\": \"%s\", "
        "\"kernel\": \"%s\", \"repeats\": %d, \"time_us\": %.4f, \"ms\": %.6f, \"gops\": %.3f, "
        "\"packed_bytes\": %zu, \"checked_pixels\": %" PRId64 ", \"check\": \"%s\"",
        type.c_str(), scheme, p.threads, qkern::isa_name(conv.isa()), path,
        JsonEscape(conv.kernel()).c_str(), r.samples, seconds * 1e6, seconds * 1e3, gops,
        conv.packed_bytes(), c.checked_pixels(), ok ? "ok" : "fail");
    if (!ok) std::printf(", \"detail\": \"%s\"", JsonEscape(detail).c_str());
    std::printf("}\n");
  } else {
    std::printf("op=conv%s%s h=%" PRId64 " w=%" PRId64 " ic=%" PRId64 " oc=%" PRId64
                " kh=%" PRId64 " kw=%" PRId64 " stride=%" PRId64 " pad_h=%" PRId64
                " pad_w=%" PRId64 " dilation=%" PRId64 " groups=%" PRId64 " oh=%" PRId64
                " ow=%" PRId64,
                p.layer.empty() ? "" : " layer=", p.layer.c_str(), p.h, p.w, p.ic, p.oc, p.kh,
                p.kw, p.stride, p.pad_h, p.pad_w, p.dilation, p.groups, c.oh(), c.ow());
    std::printf(" type=%s scheme=%s threads=%d isa=%s path=%s kernel=%s time_us=%.4f ms=%.6f "
                "gops=%.3f checked_pixels=%" PRId64 " check=%s\n",
                type.c_str(), scheme, p.threads, qkern::isa_name(conv.isa()), path,
                conv.kernel().c_str(), seconds * 1e6, seconds * 1e3, gops, c.checked_pixels(),
                ok ? "ok" : "fail");
  }
  if (!ok) {
    std::fprintf(stderr, "qkern: %s: check failed: %s\n", conv.kernel().c_str(), detail.c_str());
    return kExitFailure;
  }
  return kExitOk;
}

// `bench --op conv --layer list`: the rows of bench/conv_layers.h.
int ListConvLayers() {
  std::printf("%-34s %5s %5s %5s %5s %6s %6s %4s %6s %5s\n", "layer", "h", "w", "ic", "oc",
              "kernel", "stride", "pad", "groups", "count");
  for (const qkern_bench::ConvNetwork& net : qkern_bench::kConvNetworks) {
    for (int32_t i = 0; i < net.size; ++i) {
      const qkern_bench::ConvLayer& l = net.layers[i];
      std::printf("%-34s %5d %5d %5d %5d %4dx%-1d %6d %4d %6d %5d\n", l.name, l.h, l.w, l.ic, l.oc,
                  l.kh, l.kw, l.stride, l.pad, l.groups, l.count);
    }
  }
  return kExitOk;
}

// `bench --op kmeans`: fit, check, time (the median of `repeats` fits), print one line with the
// SSE of the fit.
int BenchKmeans(const Problem& p, int64_t repeats, bool json) {
  KmeansCase c(p);
  if (Status s = c.Init(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.to_string().c_str());
    return kExitFailure;
  }
  const std::string kernel = c.Kernel();
  const Isa isa = c.KernelIsa();
  c.Poison();
  if (Status s = c.Run(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.to_string().c_str());
    return kExitFailure;
  }
  std::string detail;
  const bool ok = c.Check(&detail);
  const TimingPlan plan = BenchPlan(repeats);
  double seconds = 0;
  if (Status s = TimeCalls([&] { return c.Run(); }, plan, &seconds); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.to_string().c_str());
    return kExitFailure;
  }
  const double melems = static_cast<double>(c.numel()) / seconds / 1e6;
  const char* codebook = p.per_row ? "per_row" : "per_tensor";
  if (json) {
    std::printf("{\"op\": \"kmeans\", \"rows\": %" PRId64 ", \"cols\": %" PRId64
                ", \"bits\": %d, \"method\": \"%s\", \"codebook\": \"%s\", ",
                p.rows, p.cols, p.codebook_bits, MethodName(p.method), codebook);
    std::printf(
        "\"isa\": \"%s\", \"kernel\": \"%s\", \"repeats\": %d, \"time_s\": %.6f, "
        "\"melem_s\": %.3f, \"sse\": %.9g, \"check\": \"%s\"",
        qkern::isa_name(isa), kernel.c_str(), plan.max_samples, seconds, melems, c.sse(),
        ok ? "ok" : "fail");
    if (!ok) std::printf(", \"detail\": \"%s\"", JsonEscape(detail).c_str());
    std::printf("}\n");
  } else {
    std::printf("op=kmeans rows=%" PRId64 " cols=%" PRId64
                " bits=%d method=%s codebook=%s isa=%s kernel=%s time_s=%.6f melem_s=%.3f "
                "sse=%.9g check=%s\n",
                p.rows, p.cols, p.codebook_bits, MethodName(p.method), codebook,
                qkern::isa_name(isa), kernel.c_str(), seconds, melems, c.sse(), ok ? "ok" : "fail");
  }
  if (!ok) {
    std::fprintf(stderr, "qkern: %s: check failed: %s\n", kernel.c_str(), detail.c_str());
    return kExitFailure;
  }
  return kExitOk;
}

int Bench(const std::vector<std::string>& args) {
  Problem p;
  bool have_op = false, have_n = false, have_scheme = false, json = false;
  // Flags of some ops only, checked once --op is known (flags come in any order).
  bool have_channels = false, have_signed = false;
  bool have_m = false, have_k = false, have_threads = false;
  bool have_act = false, have_per_row = false, have_rows = false, have_cols = false;
  bool have_method = false, have_repeats = false;
  std::optional<std::string> bits_flag;  // its range depends on the op
  std::optional<std::string> isa_flag;
  int64_t repeats = 15;
  // --op conv: the geometry, from these flags or from --layer (checked once --op is known).
  struct ConvFlag {
    const char* name;
    int64_t lo, hi;
    int64_t* value;
  };
  int64_t pad = -1;  // -1: dilation * (kernel - 1) / 2 on each axis
  const ConvFlag conv_flags[] = {
      {"--h", 1, 1 << 20, &p.h},           {"--w", 1, 1 << 20, &p.w},
      {"--ic", 1, 1 << 20, &p.ic},         {"--oc", 1, 1 << 20, &p.oc},
      {"--kh", 1, 1024, &p.kh},            {"--kw", 1, 1024, &p.kw},
      {"--stride", 1, 1024, &p.stride},    {"--pad", 0, 1024, &pad},
      {"--dilation", 1, 1024, &p.dilation}, {"--groups", 1, 1 << 20, &p.groups}};
  auto find_conv_flag = [&](const std::string& flag) -> const ConvFlag* {
    for (const ConvFlag& f : conv_flags) {
      if (flag == f.name) return &f;
    }
    return nullptr;
  };
  std::string first_conv_flag;  // the first geometry flag given, for the messages
  std::optional<std::string> layer_flag;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    // Flags that take a value accept "--flag value" and "--flag=value".
    std::string value;
    bool has_value = false;
    const std::string name = a.substr(0, a.find('='));
    auto take_value = [&]() {
      if (a.find('=') != std::string::npos) {
        value = a.substr(a.find('=') + 1);
        has_value = true;
      } else if (i + 1 < args.size()) {
        value = args[++i];
        has_value = true;
      }
      return has_value;
    };
    if (name == "--signed" && name == a) {
      p.range.is_signed = true;
      have_signed = true;
    } else if (name == "--json" && name == a) {
      json = true;
    } else if (name == "--per-row" && name == a) {
      p.per_row = true;
      have_per_row = true;
    } else if (name == "--op") {
      if (!take_value()) return UsageError("bench: --op needs a value");
      if (!OpFromName(value, &p.op)) {
        return UsageError("bench: unknown op '" + value +
                          "' (quantize, dequantize, requantize, choose_qparams, fake_quantize, "
                          "fake_quantize_backward, gemm, lut_gemm, kmeans)");
      }
      have_op = true;
    } else if (name == "--n") {
      // Up to 2^31 elements: the largest problem whose buffers (up to 16 bytes an element)
      // still fit a workstation's memory.
      if (!take_value() || !ParseInt(value, 1, int64_t{1} << 31, &p.n)) {
        return UsageError("bench: --n must be an integer in [1, 2^31] (got '" + value + "')");
      }
      have_n = true;
    } else if (name == "--channels") {
      if (!take_value() || !ParseInt(value, 1, int64_t{1} << 31, &p.channels)) {
        return UsageError("bench: --channels must be a positive integer (got '" + value + "')");
      }
      have_channels = true;
    } else if (name == "--bits") {
      if (!take_value()) return UsageError("bench: --bits needs a value");
      bits_flag = value;
    } else if (name == "--m") {
      if (!take_value() || !ParseInt(value, 1, int64_t{1} << 31, &p.m)) {
        return UsageError("bench: --m must be an integer in [1, 2^31] (got '" + value + "')");
      }
      have_m = true;
    } else if (name == "--k") {
      if (!take_value() || !ParseInt(value, 1, qkern::kQGemmMaxK, &p.k)) {
        return UsageError(Format("bench: --k must be an integer in [1, %" PRId64
                                 "], the largest K whose int32 sums cannot overflow (got '",
                                 qkern::kQGemmMaxK) +
                          value + "')");
      }
      have_k = true;
    } else if (name == "--threads") {
      int64_t threads = 0;
      if (!take_value() || !ParseInt(value, 1, 1024, &threads)) {
        return UsageError("bench: --threads must be in [1, 1024] (got '" + value + "')");
      }
      p.threads = static_cast<int>(threads);
      have_threads = true;
    } else if (name == "--scheme") {
      if (!take_value()) return UsageError("bench: --scheme needs a value");
      if (value == "fp32") {
        p.scheme = RequantScheme::kFp32;
      } else if (value == "fixed_point") {
        p.scheme = RequantScheme::kFixedPoint;
      } else {
        return UsageError("bench: --scheme must be fp32 or fixed_point (got '" + value + "')");
      }
      have_scheme = true;
    } else if (name == "--act") {
      if (!take_value()) return UsageError("bench: --act needs a value");
      if (value == "u8") {
        p.act = LutActivation::kU8;
      } else if (value == "s8") {
        p.act = LutActivation::kS8;
      } else if (value == "f32") {
        p.act = LutActivation::kFp32;
      } else {
        return UsageError("bench: --act must be u8, s8 or f32 (got '" + value + "')");
      }
      have_act = true;
    } else if (name == "--rows") {
      if (!take_value() || !ParseInt(value, 1, int64_t{1} << 31, &p.rows)) {
        return UsageError("bench: --rows must be an integer in [1, 2^31] (got '" + value + "')");
      }
      have_rows = true;
    } else if (name == "--cols") {
      if (!take_value() || !ParseInt(value, 1, int64_t{1} << 31, &p.cols)) {
        return UsageError("bench: --cols must be an integer in [1, 2^31] (got '" + value + "')");
      }
      have_cols = true;
    } else if (name == "--method") {
      if (!take_value()) return UsageError("bench: --method needs a value");
      if (value == "optimal") {
        p.method = KmeansMethod::kOptimal1D;
      } else if (value == "lloyd") {
        p.method = KmeansMethod::kLloyd;
      } else {
        return UsageError("bench: --method must be optimal or lloyd (got '" + value + "')");
      }
      have_method = true;
    } else if (name == "--layer") {
      if (!take_value()) return UsageError("bench: --layer needs a value");
      layer_flag = value;
    } else if (const ConvFlag* f = find_conv_flag(name)) {
      if (!take_value() || !ParseInt(value, f->lo, f->hi, f->value)) {
        return UsageError(Format("bench: %s must be an integer in [%" PRId64 ", %" PRId64
                                 "] (got '",
                                 f->name, f->lo, f->hi) +
                          value + "')");
      }
      if (first_conv_flag.empty()) first_conv_flag = f->name;
    } else if (name == "--isa") {
      if (!take_value()) return UsageError("bench: --isa needs a value");
      isa_flag = value;
    } else if (name == "--repeats") {
      if (!take_value() || !ParseInt(value, 1, 100000, &repeats)) {
        return UsageError("bench: --repeats must be in [1, 100000] (got '" + value + "')");
      }
      have_repeats = true;
    } else {
      return UsageError("bench: unknown flag '" + a + "'");
    }
  }
  if (!have_op) return UsageError("bench: --op is required");
  const bool gemm = p.op == Op::kGemm, lut = p.op == Op::kLutGemm, kmeans = p.op == Op::kKmeans;
  const bool conv = p.op == Op::kConv;
  const std::string op_name = OpName(p.op);
  // Flags of the elementwise ops on the others, and flags of a few ops on the rest.
  if (!IsElementwise(p.op)) {
    if (have_channels) return UsageError("bench: --channels does not apply to --op " + op_name);
    // conv: s8 activations and output.
    if (have_signed && !conv) {
      return UsageError("bench: --signed does not apply to --op " + op_name);
    }
  }
  if (!IsGemm(p.op)) {
    if (have_m) return UsageError("bench: --m applies to --op gemm and lut_gemm only");
    if (have_k) return UsageError("bench: --k applies to --op gemm and lut_gemm only");
    if (have_threads && !conv) {
      return UsageError("bench: --threads applies to --op gemm, lut_gemm and conv only");
    }
  }
  if (!conv && (layer_flag || !first_conv_flag.empty())) {
    return UsageError("bench: " + (layer_flag ? std::string("--layer") : first_conv_flag) +
                      " applies to --op conv only");
  }
  if (have_act && !lut) return UsageError("bench: --act applies to --op lut_gemm only");
  if (have_per_row && !lut && !kmeans) {
    return UsageError("bench: --per-row applies to --op lut_gemm and kmeans only");
  }
  if (!kmeans) {
    if (have_rows) return UsageError("bench: --rows applies to --op kmeans only");
    if (have_cols) return UsageError("bench: --cols applies to --op kmeans only");
    if (have_method) return UsageError("bench: --method applies to --op kmeans only");
  }
  if (have_scheme && p.op != Op::kRequantize && !IsGemm(p.op) && !conv) {
    return UsageError("bench: --scheme applies to --op requantize, gemm, lut_gemm and conv only");
  }
  if (have_scheme && lut && p.act == LutActivation::kFp32) {
    return UsageError(
        "bench: --scheme requantizes the u8 output of --act u8 or s8; --act f32 has a float "
        "output");
  }
  // --bits: the code width of the elementwise ops, the index width of lut_gemm (LutGemm packs 4
  // or 2 bits), the codebook size of kmeans (2^bits centroids).
  if (bits_flag) {
    int64_t bits = 0;
    const std::string& v = *bits_flag;
    if (gemm) return UsageError("bench: --bits does not apply to --op gemm");
    if (conv) return UsageError("bench: --bits does not apply to --op conv");
    if (lut) {
      if (!ParseInt(v, 2, 4, &bits) || bits == 3) {
        return UsageError("bench: --bits must be 4 or 2 for --op lut_gemm (LutGemm reads 4-bit "
                          "or 2-bit packed indices; got '" + v + "')");
      }
      p.codebook_bits = static_cast<int>(bits);
    } else if (kmeans) {
      if (!ParseInt(v, 1, 8, &bits)) {
        return UsageError("bench: --bits must be in [1, 8] for --op kmeans (got '" + v + "')");
      }
      p.codebook_bits = static_cast<int>(bits);
    } else {
      if (!ParseInt(v, 2, 8, &bits)) {
        return UsageError("bench: --bits must be in [2, 8] (got '" + v + "')");
      }
      p.range.bits = static_cast<int>(bits);
    }
  }
  if (IsGemm(p.op)) {
    if (!have_n) p.n = 4096;
    // The buffers (gemm: A, W, its packed copy, C and the expected rows; lut_gemm: X as floats
    // and codes, the labels, the packed indices twice, the reference's int8 W, Y and the
    // expected rows): refuse what cannot fit rather than die in the allocator (the dimensions
    // alone go up to 2^31).
    const double m = static_cast<double>(p.m), n = static_cast<double>(p.n);
    const double k = static_cast<double>(p.k);
    const double bytes = lut ? 5 * m * k + 3 * n * k + 8 * m * n : m * k + 2 * n * k + 2 * m * n;
    if (bytes > 0x1p34) {
      return UsageError(Format("bench: --m %" PRId64 " --k %" PRId64 " --n %" PRId64
                               " needs %.1f GiB of buffers (at most 16 GiB)",
                               p.m, p.k, p.n, bytes / 0x1p30));
    }
  } else if (kmeans) {
    if (have_n) return UsageError("bench: --n does not apply to --op kmeans (--rows and --cols)");
    if (!have_rows || !have_cols) return UsageError("bench: --op kmeans needs --rows and --cols");
    // W, the labels, and the exact method's argmins: 4 (2^bits - 1) bytes per value of a codebook.
    const double numel = static_cast<double>(p.rows) * static_cast<double>(p.cols);
    const double book = p.per_row ? static_cast<double>(p.cols) : numel;
    const double argmins = p.method == KmeansMethod::kOptimal1D
                               ? 4.0 * static_cast<double>((1 << p.codebook_bits) - 1) * book
                               : 0.0;
    const double bytes = 5 * numel + argmins;
    if (bytes > 0x1p34) {
      return UsageError(Format("bench: --rows %" PRId64 " --cols %" PRId64
                               " needs %.1f GiB of buffers (at most 16 GiB)",
                               p.rows, p.cols, bytes / 0x1p30));
    }
    // A fit takes up to seconds: fewer samples unless asked.
    if (!have_repeats) repeats = 3;
  } else if (conv) {
    if (have_n) {
      return UsageError("bench: --n does not apply to --op conv (--oc sets the output channels)");
    }
    if (layer_flag) {
      if (!first_conv_flag.empty()) {
        return UsageError("bench: --layer sets the geometry; " + first_conv_flag +
                          " cannot be combined with it");
      }
      if (*layer_flag == "list") return ListConvLayers();
      const qkern_bench::ConvLayer* l = FindConvLayer(*layer_flag);
      if (l == nullptr) {
        int64_t rows = 0;
        std::string some;
        for (const qkern_bench::ConvNetwork& net : qkern_bench::kConvNetworks) {
          rows += net.size;
          for (int32_t i : {0, 2, net.size - 1}) some += std::string(", ") + net.layers[i].name;
        }
        return UsageError("bench: unknown layer '" + *layer_flag +
                          "' (the layers are NET:NAME, e.g. " + some.substr(2) +
                          "; --layer list prints all " + std::to_string(rows) + ")");
      }
      SetConvLayer(*l, &p);
    } else {
      p.pad_h = pad >= 0 ? pad : p.dilation * (p.kh - 1) / 2;
      p.pad_w = pad >= 0 ? pad : p.dilation * (p.kw - 1) / 2;
      if (p.ic % p.groups != 0 || p.oc % p.groups != 0) {
        return UsageError(Format("bench: --groups %" PRId64 " must divide --ic %" PRId64
                                 " and --oc %" PRId64,
                                 p.groups, p.ic, p.oc));
      }
      if (ref::conv_out_dim(p.h, p.pad_h, p.pad_h, p.kh, p.dilation, p.stride) <= 0 ||
          ref::conv_out_dim(p.w, p.pad_w, p.pad_w, p.kw, p.dilation, p.stride) <= 0) {
        return UsageError(Format("bench: the padded input %" PRId64 "x%" PRId64
                                 " is smaller than the dilated kernel %" PRId64 "x%" PRId64,
                                 p.h + 2 * p.pad_h, p.w + 2 * p.pad_w,
                                 p.dilation * (p.kh - 1) + 1, p.dilation * (p.kw - 1) + 1));
      }
    }
    const int64_t k = p.kh * p.kw * (p.ic / p.groups);
    if (k > qkern::kQGemmMaxK) {
      return UsageError(Format("bench: --kh x --kw x --ic / --groups = %" PRId64
                               " exceeds %" PRId64 ", the largest K whose int32 sums cannot "
                               "overflow",
                               k, qkern::kQGemmMaxK));
    }
    // X, W and its packed copy, Y: refuse what cannot fit rather than die in the allocator.
    const double oh = static_cast<double>(
        ref::conv_out_dim(p.h, p.pad_h, p.pad_h, p.kh, p.dilation, p.stride));
    const double ow = static_cast<double>(
        ref::conv_out_dim(p.w, p.pad_w, p.pad_w, p.kw, p.dilation, p.stride));
    const double bytes = static_cast<double>(p.h) * static_cast<double>(p.w * p.ic) +
                         2.0 * static_cast<double>(p.oc) * static_cast<double>(k) +
                         oh * ow * static_cast<double>(p.oc);
    if (bytes > 0x1p34) {
      return UsageError(Format("bench: this convolution needs %.1f GiB of buffers (at most 16 GiB)",
                               bytes / 0x1p30));
    }
  } else {
    if (!have_n) return UsageError("bench: --n is required");
  }
  if (p.channels > 0 && p.n % p.channels != 0) {
    return UsageError(
        Format("bench: --n %" PRId64 " is not a multiple of --channels %" PRId64, p.n, p.channels));
  }
  if (!EnvironmentOk()) return kExitUsage;
  if (isa_flag) {
    Isa isa;
    if (!qkern::isa_from_name(*isa_flag, &isa)) {
      return UsageError("bench: --isa '" + *isa_flag + "' is not an ISA name (" +
                        IsaList(qkern::architecture_isas()) + ")");
    }
    if (!qkern::isa_available(isa)) {
      return UsageError("bench: --isa " + *isa_flag +
                        " is not available on this machine (available: " +
                        IsaList(qkern::available_isas()) + ")");
    }
    if (Status s = qkern::set_max_isa(isa); !s.ok()) {
      std::fprintf(stderr, "qkern: set_max_isa: %s\n", s.to_string().c_str());
      return kExitFailure;
    }
    if (qkern::active_isa() != isa) {
      std::fprintf(stderr,
                   "qkern: warning: QKERN_MAX_ISA caps dispatch below --isa %s; running %s\n",
                   isa_flag->c_str(), qkern::isa_name(qkern::active_isa()));
    }
  }
  p.seed = 20240601u;
  if (gemm) return BenchGemm(p, repeats, json);
  if (lut) return BenchLutGemm(p, repeats, json);
  if (kmeans) return BenchKmeans(p, repeats, json);
  if (conv) return BenchConv(p, repeats, json);

  std::unique_ptr<Case> c;
  if (Status s = MakeCase(p, &c); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.to_string().c_str());
    return kExitFailure;
  }
  const Isa isa = qkern::active_isa();
  c->Poison();
  if (Status s = c->Run(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.to_string().c_str());
    return kExitFailure;
  }
  std::string detail;
  const bool ok = c->Check(&detail);
  const TimingPlan plan = BenchPlan(repeats);
  double seconds = 0;
  if (Status s = TimeCalls([&] { return c->Run(); }, plan, &seconds); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.to_string().c_str());
    return kExitFailure;
  }
  const double gbps = c->Bytes() / seconds / 1e9;
  const double gelems = static_cast<double>(c->numel()) / seconds / 1e9;
  const std::string dims = p.channels > 0
                               ? Format("%" PRId64 "x%" PRId64, p.n / p.channels, p.channels)
                               : Format("%" PRId64, p.n);
  const std::string type = Format("%s%d", p.range.is_signed ? "s" : "u", p.range.bits);
  const std::string kernel = KernelName(p, isa);
  const char* scheme = p.op == Op::kRequantize ? SchemeName(p.scheme) : nullptr;
  if (json) {
    std::printf("{\"op\": \"%s\", \"n\": %" PRId64
                ", \"dims\": \"%s\", \"axis\": %d, "
                "\"type\": \"%s\", ",
                OpName(p.op), p.n, dims.c_str(), p.channels > 0 ? 1 : -1, type.c_str());
    if (scheme) std::printf("\"scheme\": \"%s\", ", scheme);
    std::printf(
        "\"isa\": \"%s\", \"kernel\": \"%s\", \"repeats\": %d, \"time_us\": %.4f, "
        "\"gbps\": %.3f, \"gelem_s\": %.4f, \"check\": \"%s\"",
        qkern::isa_name(isa), kernel.c_str(), plan.max_samples, seconds * 1e6, gbps, gelems,
        ok ? "ok" : "fail");
    if (!ok) std::printf(", \"detail\": \"%s\"", JsonEscape(detail).c_str());
    std::printf("}\n");
  } else {
    std::printf("op=%s n=%" PRId64
                " dims=%s type=%s%s%s isa=%s kernel=%s time_us=%.4f gbps=%.3f "
                "gelem_s=%.4f check=%s\n",
                OpName(p.op), p.n, dims.c_str(), type.c_str(), scheme ? " scheme=" : "",
                scheme ? scheme : "", qkern::isa_name(isa), kernel.c_str(), seconds * 1e6, gbps,
                gelems, ok ? "ok" : "fail");
  }
  if (!ok) {
    std::fprintf(stderr, "qkern: %s: check failed: %s\n", kernel.c_str(), detail.c_str());
    return kExitFailure;
  }
  return kExitOk;
}

int Main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  const std::string& command = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (command == "info") return Info(rest);
  if (command == "tour") return Tour(rest);
  if (command == "bench") return Bench(rest);
  return UsageError("unknown command '" + command + "'");
}

}  // namespace
}  // namespace qkern_cli

int main(int argc, char** argv) { return qkern_cli::Main(argc, argv); }
