// tests/errors_test.cc: every row of docs/errors.md, as a test.
//
// Each case is keyed by its row ID (E-GEMM-07, ...) and holds the row's
// status code and message template. It makes the documented calls with
// exactly the row's bad input, every listed function, on every ISA this
// machine runs, and checks three things per call: the code, the message
// against the template (a `<...>` placeholder matches anything), and that
// nothing was written (sentinel-filled outputs unchanged; a create()'s
// target stays !valid(), or a previously created one keeps its state).
//
// ErrorsDoc.* reads docs/errors.md and fails when a row has no case, a case
// has no row, or a row's functions, code or template differ from its case's,
// so the document and the tests cannot drift apart.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "qkern/codebook.hpp"
#include "qkern/conv.hpp"
#include "qkern/gemm.hpp"
#include "qkern/isa.hpp"
#include "qkern/lut_gemm.hpp"
#include "qkern/quantize.hpp"
#include "qkern/status.hpp"

#if __has_include("qkern/qkern.h")
#include "qkern/qkern.h"
#define QKERN_ERRORS_HAVE_C_ABI 1
#endif

// Sanitizer allocators abort on an impossible allocation instead of
// returning null (allocator_may_return_null=0): the rows whose only trigger is
// such an allocation skip there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define QKERN_ERRORS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define QKERN_ERRORS_SANITIZED 1
#endif
#endif

#ifndef QKERN_DOCS_DIR
#error "QKERN_DOCS_DIR must name the docs/ directory (tests/CMakeLists.txt)"
#endif

namespace qkern {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

// ---------------------------------------------------------------------------
// The case table.

// What one case saw: one entry per call it made.
struct Recorder {
  struct Call {
    std::string function;
    Status status;
    bool untouched;  // the call wrote nothing
  };
  std::vector<Call> calls;
  std::string skipped;  // non-empty: the row cannot run in this build (why)

  // `untouched` is a callable, run after the call has returned (function
  // arguments have no evaluation order: a plain bool could be computed first).
  template <class F>
  void operator()(const std::string& function, const Status& status, F untouched) {
    static_assert(std::is_invocable_r_v<bool, F>,
                  "pass the check as a lambda: [&] { return ...; }");
    calls.push_back({function, status, untouched()});
  }
  void skip(const std::string& why) { skipped = why; }
};

struct Case {
  std::string id;                      // "E-GEMM-07"
  std::vector<std::string> functions;  // the row's functions; every one is called
  StatusCode code;
  std::string tmpl;  // the message, `<...>` for the parts that vary
  std::function<void(Recorder&)> run;
  bool per_isa = true;  // run under every available ISA (false: the case sets caps itself)
};

// "E-GEMM-07" -> "E_GEMM_07" (a gtest name).
std::string TestName(const std::string& id) {
  std::string s = id;
  for (char& c : s) {
    if (c == '-') c = '_';
  }
  return s;
}

// The template as a regex: literal text escaped, each <name> -> (.+).
std::string TemplateRegex(const std::string& tmpl) {
  static const std::string kSpecial = "\\^$.|?*+()[]{}/";
  std::string re;
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl[i] == '<') {
      size_t j = i + 1;
      while (j < tmpl.size() &&
             (std::isalnum(static_cast<unsigned char>(tmpl[j])) || tmpl[j] == '_'))
        ++j;
      if (j > i + 1 && j < tmpl.size() && tmpl[j] == '>') {
        re += "(.+)";
        i = j + 1;
        continue;
      }
    }
    if (kSpecial.find(tmpl[i]) != std::string::npos) re += '\\';
    re += tmpl[i];
    ++i;
  }
  return re;
}

bool MatchesTemplate(const std::string& message, const std::string& tmpl) {
  return std::regex_match(message, std::regex(TemplateRegex(tmpl)));
}

// Sentinel-filled output buffers.
template <typename T>
struct Sentinel {
  std::vector<T> v;
  T fill;
  Sentinel(size_t n, T f) : v(n, f), fill(f) {}
  T* data() { return v.data(); }
  bool untouched() const {
    for (const T& e : v) {
      if (std::memcmp(&e, &fill, sizeof(T)) != 0) return false;
    }
    return true;
  }
};

// ---------------------------------------------------------------------------
// Quantize family fixtures.

constexpr size_t kQN = 64;  // every buffer's size; the shapes below have at most 32 elements
const float kScale = 0.1f;
const int32_t kZp = 3;
const float kMult = 0.01f;
const float kScales4[4] = {0.1f, 0.2f, 0.3f, 0.4f};

struct QBufs {
  std::vector<float> x = std::vector<float>(kQN, 0.5f);
  std::vector<float> dy = std::vector<float>(kQN, 1.0f);
  std::vector<int32_t> acc = std::vector<int32_t>(kQN, 1000);
  std::vector<uint8_t> codes = std::vector<uint8_t>(kQN, 7);  // dequantize's input
  Sentinel<uint8_t> q{kQN, 0xA5};
  Sentinel<float> y{kQN, -7.0f}, dx{kQN, -7.0f}, ds{kQN, -7.0f}, dzp{kQN, -7.0f}, scale{kQN, -7.0f};
  Sentinel<int32_t> zp{kQN, -7};
  bool untouched() const {
    return q.untouched() && y.untouched() && dx.untouched() && ds.untouched() && dzp.untouched() &&
           scale.untouched() && zp.untouched();
  }
};

QuantParams GoodQParams() { return QuantParams{{8, false, false}, &kScale, &kZp, -1}; }

RequantParams GoodRequant() {
  RequantParams rp;
  rp.multiplier = &kMult;
  return rp;
}

// Function subsets of the four QuantParams functions.
enum : unsigned { kQ = 1, kDQ = 2, kFQ = 4, kFQB = 8, kQP4 = 15 };

void CallQParamFns(Recorder& r, const Dims& d, const QuantParams& p, unsigned which = kQP4) {
  if (which & kQ) {
    QBufs b;
    r("quantize", quantize(b.x.data(), d, p, b.q.data()), [&] { return b.untouched(); });
  }
  if (which & kDQ) {
    QBufs b;
    r("dequantize", dequantize(b.codes.data(), d, p, b.y.data()), [&] { return b.untouched(); });
  }
  if (which & kFQ) {
    QBufs b;
    r("fake_quantize", fake_quantize(b.x.data(), d, p, b.y.data()), [&] { return b.untouched(); });
  }
  if (which & kFQB) {
    QBufs b;
    r("fake_quantize_backward",
      fake_quantize_backward(b.x.data(), b.dy.data(), d, p,
                             {b.dx.data(), b.ds.data(), b.dzp.data()}),
      [&] { return b.untouched(); });
  }
}

void CallRequantize(Recorder& r, const Dims& d, const RequantParams& rp) {
  QBufs b;
  r("requantize", requantize(b.acc.data(), d, rp, b.q.data()), [&] { return b.untouched(); });
}

void CallChooseQParams(Recorder& r, const Dims& d, const QuantRange& range, QParamsMode mode,
                       int axis, const std::vector<float>* x = nullptr) {
  QBufs b;
  const float* xp = x ? x->data() : b.x.data();
  r("choose_qparams", choose_qparams(xp, d, range, mode, axis, b.scale.data(), b.zp.data()),
    [&] { return b.untouched(); });
}

// All six functions that check `dims`, with otherwise valid arguments.
void CallAllWithDims(Recorder& r, const Dims& d) {
  CallQParamFns(r, d, GoodQParams());
  CallRequantize(r, d, GoodRequant());
  CallChooseQParams(r, d, {8, false, false}, QParamsMode::kAsymmetric, -1);
}

void AddQuantizeCases(std::vector<Case>& cs) {
  const std::vector<std::string> qp4 = {"quantize", "dequantize", "fake_quantize",
                                        "fake_quantize_backward"};
  std::vector<std::string> qp5 = qp4;
  qp5.push_back("requantize");
  std::vector<std::string> all6 = qp5;
  all6.push_back("choose_qparams");

  cs.push_back({"E-QUANT-01", all6, StatusCode::kInvalidArgument,
                "dims: rank <r> is outside [0, 8]", [](Recorder& r) {
                  CallAllWithDims(r, Dims{1, 2, 3, 4, 5, 6, 7, 8, 9});
                  Dims neg;
                  neg.rank = -1;
                  CallAllWithDims(r, neg);
                }});
  cs.push_back({"E-QUANT-02", all6, StatusCode::kInvalidArgument,
                "dims[<i>]: extent must be >= 0 (got <v>)", [](Recorder& r) {
                  CallAllWithDims(r, Dims{4, -1});
                }});
  cs.push_back({"E-QUANT-03", all6, StatusCode::kOverflow,
                "dims: <shape> elements of 4 bytes overflow the address space", [](Recorder& r) {
                  CallAllWithDims(r, Dims{int64_t{1} << 31, int64_t{1} << 31});
                }});
  cs.push_back({"E-QUANT-04", qp5, StatusCode::kOutOfRange,
                "params.range.bits: must be in [2, 8] (got <b>)", [](Recorder& r) {
                  for (int bits : {1, 9}) {
                    QuantParams p = GoodQParams();
                    p.range.bits = bits;
                    CallQParamFns(r, Dims(8), p);
                    RequantParams rp = GoodRequant();
                    rp.range.bits = bits;
                    CallRequantize(r, Dims(8), rp);
                  }
                }});
  cs.push_back({"E-QUANT-05", qp5, StatusCode::kInvalidArgument,
                "params.range.narrow_range: only signed ranges can be narrow", [](Recorder& r) {
                  QuantParams p = GoodQParams();
                  p.range = {8, false, true};
                  CallQParamFns(r, Dims(8), p);
                  RequantParams rp = GoodRequant();
                  rp.range = {8, false, true};
                  CallRequantize(r, Dims(8), rp);
                }});
  cs.push_back({"E-QUANT-06", qp5, StatusCode::kOutOfRange,
                "params.axis: must be -1 (per tensor) or in [0, <rank>) (got <axis>)",
                [](Recorder& r) {
                  for (int axis : {2, -2}) {
                    QuantParams p = GoodQParams();
                    p.scale = kScales4;
                    p.axis = axis;
                    CallQParamFns(r, Dims{4, 8}, p);
                    RequantParams rp = GoodRequant();
                    rp.axis = axis;
                    CallRequantize(r, Dims{4, 8}, rp);
                  }
                }});
  cs.push_back({"E-QUANT-07", qp4, StatusCode::kInvalidArgument,
                "params.scale: null pointer for <count> elements", [](Recorder& r) {
                  QuantParams p = GoodQParams();
                  p.scale = nullptr;
                  CallQParamFns(r, Dims(8), p);
                }});
  cs.push_back({"E-QUANT-08", qp4, StatusCode::kOutOfRange,
                "params.scale[<i>]: must be finite and > 0 (got <v>)", [](Recorder& r) {
                  for (float bad : {-1.0f, 0.0f, kNaN, kInf}) {
                    const float s[4] = {0.1f, 0.1f, bad, 0.1f};
                    QuantParams p = GoodQParams();
                    p.scale = s;
                    p.zero_point = nullptr;
                    p.axis = 0;
                    CallQParamFns(r, Dims{4, 8}, p);
                  }
                }});
  cs.push_back({"E-QUANT-09", qp4, StatusCode::kOutOfRange,
                "params.zero_point[<i>]: must be in [<qmin>, <qmax>] (got <v>)", [](Recorder& r) {
                  const int32_t zp = 256;
                  QuantParams p = GoodQParams();
                  p.zero_point = &zp;
                  CallQParamFns(r, Dims(8), p);
                  const int32_t zp4 = 8;  // 4-bit signed: [-8, 7]
                  p.range = {4, true, false};
                  p.zero_point = &zp4;
                  CallQParamFns(r, Dims(8), p);
                }});
  cs.push_back(
      {"E-QUANT-10",
       {"quantize"},
       StatusCode::kInvalidArgument,
       "mode: not a QuantizeMode",
       [](Recorder& r) {
         QBufs b;
         r("quantize",
           quantize(b.x.data(), Dims(8), GoodQParams(), b.q.data(), static_cast<QuantizeMode>(7)),
           [&] { return b.untouched(); });
       }});
  cs.push_back({"E-QUANT-11",
                {"quantize", "fake_quantize", "fake_quantize_backward", "choose_qparams"},
                StatusCode::kInvalidArgument,
                "x: null pointer for <n> elements",
                [](Recorder& r) {
                  const QuantParams p = GoodQParams();
                  {
                    QBufs b;
                    r("quantize", quantize(nullptr, Dims(8), p, b.q.data()),
                      [&] { return b.untouched(); });
                  }
                  {
                    QBufs b;
                    r("fake_quantize", fake_quantize(nullptr, Dims(8), p, b.y.data()),
                      [&] { return b.untouched(); });
                  }
                  {
                    QBufs b;
                    r("fake_quantize_backward",
                      fake_quantize_backward(nullptr, b.dy.data(), Dims(8), p,
                                             {b.dx.data(), b.ds.data(), b.dzp.data()}),
                      [&] { return b.untouched(); });
                  }
                  {
                    QBufs b;
                    r("choose_qparams",
                      choose_qparams(nullptr, Dims(8), {8, false, false}, QParamsMode::kAsymmetric,
                                     -1, b.scale.data(), b.zp.data()),
                      [&] { return b.untouched(); });
                  }
                }});
  cs.push_back({"E-QUANT-12",
                {"quantize", "dequantize", "fake_quantize", "requantize"},
                StatusCode::kInvalidArgument,
                "y: null pointer for <n> elements",
                [](Recorder& r) {
                  const QuantParams p = GoodQParams();
                  QBufs b;
                  r("quantize", quantize(b.x.data(), Dims(8), p, nullptr),
                    [&] { return b.untouched(); });
                  r("dequantize", dequantize(b.codes.data(), Dims(8), p, nullptr),
                    [&] { return b.untouched(); });
                  r("fake_quantize", fake_quantize(b.x.data(), Dims(8), p, nullptr),
                    [&] { return b.untouched(); });
                  r("requantize", requantize(b.acc.data(), Dims(8), GoodRequant(), nullptr),
                    [&] { return b.untouched(); });
                }});
  cs.push_back({"E-QUANT-13",
                {"dequantize"},
                StatusCode::kInvalidArgument,
                "q: null pointer for <n> elements",
                [](Recorder& r) {
                  QBufs b;
                  r("dequantize", dequantize(nullptr, Dims(8), GoodQParams(), b.y.data()),
                    [&] { return b.untouched(); });
                }});
  cs.push_back({"E-QUANT-14",
                {"fake_quantize_backward"},
                StatusCode::kInvalidArgument,
                "dy: null pointer for <n> elements",
                [](Recorder& r) {
                  QBufs b;
                  r("fake_quantize_backward",
                    fake_quantize_backward(b.x.data(), nullptr, Dims(8), GoodQParams(),
                                           {b.dx.data(), b.ds.data(), b.dzp.data()}),
                    [&] { return b.untouched(); });
                }});
  cs.push_back({"E-QUANT-15",
                {"fake_quantize_backward"},
                StatusCode::kOutOfRange,
                "grad_scale: must be finite (got <v>)",
                [](Recorder& r) {
                  for (float g : {kNaN, kInf, -kInf}) {
                    QBufs b;
                    r("fake_quantize_backward",
                      fake_quantize_backward(b.x.data(), b.dy.data(), Dims(8), GoodQParams(),
                                             {b.dx.data(), b.ds.data(), b.dzp.data()}, g),
                      [&] { return b.untouched(); });
                  }
                }});
  cs.push_back({"E-QUANT-16",
                {"requantize"},
                StatusCode::kInvalidArgument,
                "params.multiplier: null pointer for <count> elements",
                [](Recorder& r) {
                  RequantParams rp = GoodRequant();
                  rp.multiplier = nullptr;
                  CallRequantize(r, Dims(8), rp);
                }});
  cs.push_back({"E-QUANT-17",
                {"requantize"},
                StatusCode::kOutOfRange,
                "params.multiplier[<i>]: must be finite and > 0 (got <v>)",
                [](Recorder& r) {
                  for (float bad : {0.0f, -0.5f, kNaN, kInf}) {
                    const float m[4] = {0.01f, 0.01f, bad, 0.01f};
                    RequantParams rp = GoodRequant();
                    rp.multiplier = m;
                    rp.axis = 0;
                    CallRequantize(r, Dims{4, 8}, rp);
                  }
                }});
  cs.push_back({"E-QUANT-18",
                {"requantize"},
                StatusCode::kInvalidArgument,
                "params.fixed_multiplier: null pointer for <count> elements",
                [](Recorder& r) {
                  const int32_t shift = 0;
                  RequantParams rp;
                  rp.scheme = RequantScheme::kFixedPoint;
                  rp.shift = &shift;
                  CallRequantize(r, Dims(8), rp);
                }});
  cs.push_back({"E-QUANT-19",
                {"requantize"},
                StatusCode::kInvalidArgument,
                "params.shift: null pointer for <count> elements",
                [](Recorder& r) {
                  const int32_t q31 = 1 << 30;
                  RequantParams rp;
                  rp.scheme = RequantScheme::kFixedPoint;
                  rp.fixed_multiplier = &q31;
                  CallRequantize(r, Dims(8), rp);
                }});
  cs.push_back({"E-QUANT-20",
                {"requantize"},
                StatusCode::kOutOfRange,
                "params.fixed_multiplier[<i>]: must be in [1, 2^31 - 1] (got <v>)",
                [](Recorder& r) {
                  for (int32_t bad : {0, -5, INT32_MIN}) {
                    const int32_t q31[4] = {1 << 30, bad, 1 << 30, 1 << 30};
                    const int32_t shift[4] = {0, 0, 0, 0};
                    RequantParams rp;
                    rp.scheme = RequantScheme::kFixedPoint;
                    rp.fixed_multiplier = q31;
                    rp.shift = shift;
                    rp.axis = 0;
                    CallRequantize(r, Dims{4, 8}, rp);
                  }
                }});
  cs.push_back({"E-QUANT-21",
                {"requantize"},
                StatusCode::kOutOfRange,
                "params.shift[<i>]: must be in [-31, 30] (got <v>)",
                [](Recorder& r) {
                  for (int32_t bad : {31, -32}) {
                    const int32_t q31 = 1 << 30;
                    RequantParams rp;
                    rp.scheme = RequantScheme::kFixedPoint;
                    rp.fixed_multiplier = &q31;
                    rp.shift = &bad;
                    CallRequantize(r, Dims(8), rp);
                  }
                }});
  cs.push_back({"E-QUANT-22",
                {"requantize"},
                StatusCode::kInvalidArgument,
                "params.scheme: not a RequantScheme",
                [](Recorder& r) {
                  RequantParams rp = GoodRequant();
                  rp.scheme = static_cast<RequantScheme>(7);
                  CallRequantize(r, Dims(8), rp);
                }});
  cs.push_back({"E-QUANT-23",
                {"requantize"},
                StatusCode::kOutOfRange,
                "params.zero_point[0]: must be in [<qmin>, <qmax>] (got <v>)",
                [](Recorder& r) {
                  RequantParams rp = GoodRequant();
                  rp.zero_point = 256;
                  CallRequantize(r, Dims(8), rp);
                  rp.range = {8, true, false};
                  rp.zero_point = -129;
                  CallRequantize(r, Dims(8), rp);
                }});
  cs.push_back({"E-QUANT-24",
                {"requantize"},
                StatusCode::kOutOfRange,
                "params.lo/hi: the clamp [<lo>, <hi>] leaves no code of [<qmin>, <qmax>]",
                [](Recorder& r) {
                  RequantParams rp = GoodRequant();
                  rp.lo = 300;
                  CallRequantize(r, Dims(8), rp);
                  rp = GoodRequant();
                  rp.lo = 100;
                  rp.hi = 99;
                  CallRequantize(r, Dims(8), rp);
                }});
  cs.push_back({"E-QUANT-25",
                {"requantize"},
                StatusCode::kInvalidArgument,
                "acc: null pointer for <n> elements",
                [](Recorder& r) {
                  QBufs b;
                  r("requantize", requantize(nullptr, Dims(8), GoodRequant(), b.q.data()),
                    [&] { return b.untouched(); });
                }});
  cs.push_back({"E-QUANT-26",
                {"choose_qparams"},
                StatusCode::kOutOfRange,
                "range.bits: must be in [2, 8] (got <b>)",
                [](Recorder& r) {
                  CallChooseQParams(r, Dims(8), {1, false, false}, QParamsMode::kAsymmetric, -1);
                  CallChooseQParams(r, Dims(8), {9, true, false}, QParamsMode::kSymmetric, -1);
                }});
  cs.push_back({"E-QUANT-27",
                {"choose_qparams"},
                StatusCode::kInvalidArgument,
                "range.narrow_range: only signed ranges can be narrow",
                [](Recorder& r) {
                  CallChooseQParams(r, Dims(8), {8, false, true}, QParamsMode::kSymmetric, -1);
                }});
  cs.push_back({"E-QUANT-28",
                {"choose_qparams"},
                StatusCode::kOutOfRange,
                "axis: must be -1 (per tensor) or in [0, <rank>) (got <axis>)",
                [](Recorder& r) {
                  CallChooseQParams(r, Dims{4, 8}, {8, false, false}, QParamsMode::kAsymmetric, 2);
                  CallChooseQParams(r, Dims{4, 8}, {8, false, false}, QParamsMode::kAsymmetric, -2);
                }});
  cs.push_back({"E-QUANT-29",
                {"choose_qparams"},
                StatusCode::kInvalidArgument,
                "mode: not a QParamsMode",
                [](Recorder& r) {
                  CallChooseQParams(r, Dims(8), {8, false, false}, static_cast<QParamsMode>(7), -1);
                }});
  cs.push_back({"E-QUANT-30",
                {"choose_qparams"},
                StatusCode::kInvalidArgument,
                "scale: null pointer for <count> elements",
                [](Recorder& r) {
                  QBufs b;
                  r("choose_qparams",
                    choose_qparams(b.x.data(), Dims(8), {8, false, false}, QParamsMode::kAsymmetric,
                                   -1, nullptr, b.zp.data()),
                    [&] { return b.untouched(); });
                }});
  cs.push_back({"E-QUANT-31",
                {"choose_qparams"},
                StatusCode::kInvalidArgument,
                "zero_point: null pointer for <count> elements",
                [](Recorder& r) {
                  QBufs b;
                  r("choose_qparams",
                    choose_qparams(b.x.data(), Dims(8), {8, false, false}, QParamsMode::kAsymmetric,
                                   -1, b.scale.data(), nullptr),
                    [&] { return b.untouched(); });
                }});
  cs.push_back(
      {"E-QUANT-32",
       {"choose_qparams"},
       StatusCode::kOutOfRange,
       "x: contains NaN or infinity",
       [](Recorder& r) {
         for (float bad : {kNaN, kInf, -kInf}) {
           std::vector<float> x(kQN, 0.5f);
           x[5] = bad;
           CallChooseQParams(r, Dims(8), {8, false, false}, QParamsMode::kAsymmetric, -1, &x);
           // Per channel, on the last channel (short rows: the per-element path).
           CallChooseQParams(r, Dims{4, 8}, {8, true, false}, QParamsMode::kSymmetric, 1, &x);
         }
       }});
  cs.push_back(
      {"E-QUANT-33",
       {"choose_qparams"},
       StatusCode::kOutOfRange,
       "x: the range [<lo>, <hi>] is wider than the largest float",
       [](Recorder& r) {
         std::vector<float> x(kQN, 0.0f);
         x[0] = -3e38f;
         x[1] = 3e38f;
         CallChooseQParams(r, Dims(8), {8, false, false}, QParamsMode::kAsymmetric, -1, &x);
         CallChooseQParams(r, Dims(8), {8, true, false}, QParamsMode::kSymmetric, -1, &x);
       }});
  cs.push_back(
      {"E-QUANT-34",
       {"choose_qparams"},
       StatusCode::kOutOfMemory,
       "choose_qparams: cannot allocate min/max",
       [](Recorder& r) {
#ifdef QKERN_ERRORS_SANITIZED
         r.skip("a sanitizer's allocator aborts on the 4 PiB request instead of returning null");
#else
         // 2^50 channels of an empty tensor: the per-channel min/max (4 PiB) cannot be allocated.
         CallChooseQParams(r, Dims{int64_t{1} << 50, 0}, {8, false, false},
                           QParamsMode::kAsymmetric, 0);
#endif
       }});
  cs.push_back({"E-QUANT-35",
                {"quantize_multiplier"},
                StatusCode::kInvalidArgument,
                "q31/shift: null pointer",
                [](Recorder& r) {
                  int32_t q31 = -7, shift = -7;
                  r("quantize_multiplier", quantize_multiplier(0.5, nullptr, &shift),
                    [&] { return shift == -7; });
                  r("quantize_multiplier", quantize_multiplier(0.5, &q31, nullptr),
                    [&] { return q31 == -7; });
                }});
  cs.push_back({"E-QUANT-36",
                {"quantize_multiplier"},
                StatusCode::kOutOfRange,
                "real_multiplier: must be in (0, 2^31) (got <v>)",
                [](Recorder& r) {
                  for (double bad : {0.0, -1.0, 2147483648.0, std::nan(""), HUGE_VAL}) {
                    int32_t q31 = -7, shift = -7;
                    r("quantize_multiplier", quantize_multiplier(bad, &q31, &shift),
                      [&] { return q31 == -7 && shift == -7; });
                  }
                }});
  cs.push_back({"E-QUANT-37",
                {"quantize_multiplier"},
                StatusCode::kOutOfRange,
                "real_multiplier: <v> needs a shift outside [-31, 30]",
                [](Recorder& r) {
                  for (double bad : {1e-12, 1073741824.0, 2147483647.0}) {
                    int32_t q31 = -7, shift = -7;
                    r("quantize_multiplier", quantize_multiplier(bad, &q31, &shift),
                      [&] { return q31 == -7 && shift == -7; });
                  }
                }});
}

// ---------------------------------------------------------------------------
// Codebook family fixtures: a 2 x 8 matrix, 2-bit codebooks (k = 4).

constexpr size_t kCbN = 64;

CodebookShape GoodShape() {
  CodebookShape s;
  s.rows = 2;
  s.cols = 8;
  s.bits = 2;
  return s;
}

struct CbBufs {
  std::vector<float> w = std::vector<float>(kCbN, 0.25f);
  std::vector<float> dw = std::vector<float>(kCbN, 1.0f);
  std::vector<uint8_t> labels = std::vector<uint8_t>(kCbN, 1);  // inputs: valid for any bits >= 1
  std::vector<uint8_t> packed = std::vector<uint8_t>(kCbN, 0x55);  // unpack's input
  std::vector<float> centroids = std::vector<float>(512, 0.0f);    // assign / decode inputs: sorted
  Sentinel<uint8_t> labels_out{kCbN, 0xA5}, packed_out{kCbN, 0xA5};
  Sentinel<float> w_out{kCbN, -7.0f}, centroids_out{512, -7.0f}, dc_out{512, -7.0f};
  Sentinel<double> sse{1, -7.0};
  CbBufs() {
    for (size_t i = 0; i < centroids.size(); ++i)
      centroids[i] = static_cast<float>(i % 256);  // each codebook sorted
  }
  bool untouched() const {
    return labels_out.untouched() && packed_out.untouched() && w_out.untouched() &&
           centroids_out.untouched() && dc_out.untouched() && sse.untouched();
  }
};

enum : unsigned {
  kAssign = 1,
  kPack = 2,
  kUnpack = 4,
  kDecode = 8,
  kUpdate = 16,
  kGradient = 32,
  kFit = 64,
  kCbAll = 127,
};

// The chosen codebook functions on `shape` with otherwise valid buffers.
void CallCodebookFns(Recorder& r, const CodebookShape& s, unsigned which,
                     const KmeansOptions& o = KmeansOptions()) {
  if (which & kAssign) {
    CbBufs b;
    r("assign", assign(b.w.data(), s, b.centroids.data(), b.labels_out.data()),
      [&] { return b.untouched(); });
  }
  if (which & kPack) {
    CbBufs b;
    r("pack_indices", pack_indices(b.labels.data(), s, b.packed_out.data()),
      [&] { return b.untouched(); });
  }
  if (which & kUnpack) {
    CbBufs b;
    r("unpack_indices", unpack_indices(b.packed.data(), s, b.labels_out.data()),
      [&] { return b.untouched(); });
  }
  if (which & kDecode) {
    CbBufs b;
    r("decode", decode(b.labels.data(), s, b.centroids.data(), b.w_out.data()),
      [&] { return b.untouched(); });
  }
  if (which & kUpdate) {
    CbBufs b;
    r("update_centroids", update_centroids(b.w.data(), b.labels.data(), s, b.centroids_out.data()),
      [&] { return b.untouched(); });
  }
  if (which & kGradient) {
    CbBufs b;
    r("centroid_gradient", centroid_gradient(b.dw.data(), b.labels.data(), s, b.dc_out.data()),
      [&] { return b.untouched(); });
  }
  if (which & kFit) {
    CbBufs b;
    r("kmeans_fit",
      kmeans_fit(b.w.data(), s, o, b.centroids_out.data(), b.labels_out.data(), b.sse.data()),
      [&] { return b.untouched(); });
  }
}

void AddCodebookCases(std::vector<Case>& cs) {
  const std::vector<std::string> all = {"assign",    "pack_indices",     "unpack_indices",
                                        "decode",    "update_centroids", "centroid_gradient",
                                        "kmeans_fit"};
  cs.push_back({"E-CB-01", all, StatusCode::kInvalidArgument,
                "shape: rows and cols must be >= 0 (got <rows> x <cols>)", [](Recorder& r) {
                  CodebookShape s = GoodShape();
                  s.rows = -1;
                  CallCodebookFns(r, s, kCbAll);
                  s = GoodShape();
                  s.cols = -3;
                  CallCodebookFns(r, s, kCbAll);
                }});
  cs.push_back({"E-CB-02", all, StatusCode::kOverflow,
                "shape: <shape> elements of 4 bytes overflow the address space", [](Recorder& r) {
                  CodebookShape s = GoodShape();
                  s.rows = int64_t{1} << 31;
                  s.cols = int64_t{1} << 31;
                  CallCodebookFns(r, s, kCbAll);
                }});
  cs.push_back({"E-CB-03",
                {"assign", "decode", "update_centroids", "centroid_gradient", "kmeans_fit"},
                StatusCode::kOutOfRange,
                "shape.bits: must be in [1, 8] (got <b>)",
                [](Recorder& r) {
                  for (int bits : {0, 9}) {
                    CodebookShape s = GoodShape();
                    s.bits = bits;
                    CallCodebookFns(r, s, kAssign | kDecode | kUpdate | kGradient | kFit);
                  }
                }});
  cs.push_back({"E-CB-04",
                {"pack_indices", "unpack_indices"},
                StatusCode::kOutOfRange,
                "shape.bits: must be 2 or 4 (got <b>)",
                [](Recorder& r) {
                  for (int bits : {1, 3, 8}) {
                    CodebookShape s = GoodShape();
                    s.bits = bits;
                    CallCodebookFns(r, s, kPack | kUnpack);
                  }
                }});
  cs.push_back({"E-CB-05",
                {"assign", "decode", "update_centroids", "kmeans_fit"},
                StatusCode::kInvalidArgument,
                "w: null pointer for <n> elements",
                [](Recorder& r) {
                  const CodebookShape s = GoodShape();
                  CbBufs b;
                  r("assign", assign(nullptr, s, b.centroids.data(), b.labels_out.data()),
                    [&] { return b.untouched(); });
                  r("decode", decode(b.labels.data(), s, b.centroids.data(), nullptr),
                    [&] { return b.untouched(); });
                  r("update_centroids",
                    update_centroids(nullptr, b.labels.data(), s, b.centroids_out.data()),
                    [&] { return b.untouched(); });
                  r("kmeans_fit",
                    kmeans_fit(nullptr, s, KmeansOptions(), b.centroids_out.data(),
                               b.labels_out.data(), b.sse.data()),
                    [&] { return b.untouched(); });
                }});
  cs.push_back(
      {"E-CB-06", all, StatusCode::kInvalidArgument, "labels: null pointer for <n> elements",
       [](Recorder& r) {
         const CodebookShape s = GoodShape();
         CbBufs b;
         r("assign", assign(b.w.data(), s, b.centroids.data(), nullptr),
           [&] { return b.untouched(); });
         r("pack_indices", pack_indices(nullptr, s, b.packed_out.data()),
           [&] { return b.untouched(); });
         r("unpack_indices", unpack_indices(b.packed.data(), s, nullptr),
           [&] { return b.untouched(); });
         r("decode", decode(nullptr, s, b.centroids.data(), b.w_out.data()),
           [&] { return b.untouched(); });
         r("update_centroids", update_centroids(b.w.data(), nullptr, s, b.centroids_out.data()),
           [&] { return b.untouched(); });
         r("centroid_gradient", centroid_gradient(b.dw.data(), nullptr, s, b.dc_out.data()),
           [&] { return b.untouched(); });
         r("kmeans_fit",
           kmeans_fit(b.w.data(), s, KmeansOptions(), b.centroids_out.data(), nullptr,
                      b.sse.data()),
           [&] { return b.untouched(); });
       }});
  cs.push_back(
      {"E-CB-07",
       {"assign", "decode", "update_centroids", "kmeans_fit"},
       StatusCode::kInvalidArgument,
       "centroids: null pointer for <count> elements",
       [](Recorder& r) {
         const CodebookShape s = GoodShape();
         CbBufs b;
         r("assign", assign(b.w.data(), s, nullptr, b.labels_out.data()),
           [&] { return b.untouched(); });
         r("decode", decode(b.labels.data(), s, nullptr, b.w_out.data()),
           [&] { return b.untouched(); });
         r("update_centroids", update_centroids(b.w.data(), b.labels.data(), s, nullptr),
           [&] { return b.untouched(); });
         r("kmeans_fit",
           kmeans_fit(b.w.data(), s, KmeansOptions(), nullptr, b.labels_out.data(), b.sse.data()),
           [&] { return b.untouched(); });
       }});
  cs.push_back({"E-CB-08",
                {"pack_indices", "unpack_indices"},
                StatusCode::kInvalidArgument,
                "packed: null pointer for <n> elements",
                [](Recorder& r) {
                  const CodebookShape s = GoodShape();
                  CbBufs b;
                  r("pack_indices", pack_indices(b.labels.data(), s, nullptr),
                    [&] { return b.untouched(); });
                  r("unpack_indices", unpack_indices(nullptr, s, b.labels_out.data()),
                    [&] { return b.untouched(); });
                }});
  cs.push_back({"E-CB-09",
                {"centroid_gradient"},
                StatusCode::kInvalidArgument,
                "dw: null pointer for <n> elements",
                [](Recorder& r) {
                  CbBufs b;
                  r("centroid_gradient",
                    centroid_gradient(nullptr, b.labels.data(), GoodShape(), b.dc_out.data()),
                    [&] { return b.untouched(); });
                }});
  cs.push_back({"E-CB-10",
                {"centroid_gradient"},
                StatusCode::kInvalidArgument,
                "dcentroids: null pointer for <count> elements",
                [](Recorder& r) {
                  CbBufs b;
                  r("centroid_gradient",
                    centroid_gradient(b.dw.data(), b.labels.data(), GoodShape(), nullptr),
                    [&] { return b.untouched(); });
                }});
  cs.push_back({"E-CB-11",
                {"pack_indices", "decode", "update_centroids", "centroid_gradient"},
                StatusCode::kOutOfRange,
                "labels[<i>]: must be < <k> (got <v>)",
                [](Recorder& r) {
                  for (bool per_row : {false, true}) {
                    CodebookShape s = GoodShape();
                    s.per_row = per_row;
                    CbBufs b;
                    b.labels[13] = 4;  // k = 4
                    r("pack_indices", pack_indices(b.labels.data(), s, b.packed_out.data()),
                      [&] { return b.untouched(); });
                    r("decode", decode(b.labels.data(), s, b.centroids.data(), b.w_out.data()),
                      [&] { return b.untouched(); });
                    r("update_centroids",
                      update_centroids(b.w.data(), b.labels.data(), s, b.centroids_out.data()),
                      [&] { return b.untouched(); });
                    r("centroid_gradient",
                      centroid_gradient(b.dw.data(), b.labels.data(), s, b.dc_out.data()),
                      [&] { return b.untouched(); });
                  }
                }});
  cs.push_back({"E-CB-12",
                {"assign"},
                StatusCode::kOutOfRange,
                "centroids[<i>]: must be finite (got <v>)",
                [](Recorder& r) {
                  for (float bad : {kNaN, kInf, -kInf}) {
                    CbBufs b;
                    b.centroids[1] = bad;
                    r("assign",
                      assign(b.w.data(), GoodShape(), b.centroids.data(), b.labels_out.data()),
                      [&] { return b.untouched(); });
                  }
                }});
  cs.push_back({"E-CB-13",
                {"assign"},
                StatusCode::kOutOfRange,
                "centroids[<i>]: each codebook must be sorted ascending (<a> > <b>)",
                [](Recorder& r) {
                  CbBufs b;
                  b.centroids[1] = 2.0f;
                  b.centroids[2] = 1.0f;  // [0, 2, 1, 3]
                  r("assign",
                    assign(b.w.data(), GoodShape(), b.centroids.data(), b.labels_out.data()),
                    [&] { return b.untouched(); });
                  // Per row: the second row's codebook is unsorted.
                  CbBufs b2;
                  for (int i = 0; i < 8; ++i) b2.centroids[i] = static_cast<float>(i % 4);
                  b2.centroids[6] = -1.0f;
                  CodebookShape s = GoodShape();
                  s.per_row = true;
                  r("assign", assign(b2.w.data(), s, b2.centroids.data(), b2.labels_out.data()),
                    [&] { return b2.untouched(); });
                }});
  cs.push_back({"E-CB-14",
                {"kmeans_fit"},
                StatusCode::kInvalidArgument,
                "options.method: not a KmeansMethod",
                [](Recorder& r) {
                  KmeansOptions o;
                  o.method = static_cast<KmeansMethod>(7);
                  CallCodebookFns(r, GoodShape(), kFit, o);
                }});
  cs.push_back({"E-CB-15",
                {"kmeans_fit"},
                StatusCode::kOutOfRange,
                "options.max_iterations: must be >= 1 (got <v>)",
                [](Recorder& r) {
                  for (KmeansMethod m : {KmeansMethod::kLloyd, KmeansMethod::kOptimal1D}) {
                    KmeansOptions o;
                    o.method = m;
                    o.max_iterations = 0;
                    CallCodebookFns(r, GoodShape(), kFit, o);
                  }
                }});
  cs.push_back({"E-CB-16",
                {"kmeans_fit"},
                StatusCode::kOutOfRange,
                "options.tolerance: must be finite and >= 0 (got <v>)",
                [](Recorder& r) {
                  for (double bad : {-1e-3, std::nan(""), HUGE_VAL}) {
                    KmeansOptions o;
                    o.method = KmeansMethod::kLloyd;
                    o.tolerance = bad;
                    CallCodebookFns(r, GoodShape(), kFit, o);
                  }
                }});
  cs.push_back({"E-CB-17",
                {"kmeans_fit"},
                StatusCode::kOutOfRange,
                "w[<i>]: must be finite (got <v>)",
                [](Recorder& r) {
                  for (float bad : {kNaN, kInf}) {
                    CbBufs b;
                    b.w[11] = bad;
                    r("kmeans_fit",
                      kmeans_fit(b.w.data(), GoodShape(), KmeansOptions(), b.centroids_out.data(),
                                 b.labels_out.data(), b.sse.data()),
                      [&] { return b.untouched(); });
                  }
                }});
  cs.push_back({"E-CB-18",
                {"kmeans_fit"},
                StatusCode::kOutOfRange,
                "options.importance[<i>]: must be finite and >= 0 (got <v>)",
                [](Recorder& r) {
                  for (float bad : {-1.0f, kNaN, kInf}) {
                    std::vector<float> imp(kCbN, 1.0f);
                    imp[9] = bad;
                    KmeansOptions o;
                    o.importance = imp.data();
                    CallCodebookFns(r, GoodShape(), kFit, o);
                  }
                }});
  cs.push_back(
      {"E-CB-19",
       {"kmeans_fit"},
       StatusCode::kOutOfMemory,
       "kmeans_fit workspace: allocation failed",
       [](Recorder& r) {
         // Per row with 0 rows of 2^62 columns: the workspace is sized for one
         // row (2^62 values) before the rows are counted; every buffer's size
         // check fails before malloc is called, so no allocator sees it.
         for (KmeansMethod m : {KmeansMethod::kOptimal1D, KmeansMethod::kLloyd}) {
           CodebookShape s;
           s.rows = 0;
           s.cols = int64_t{1} << 62;
           s.bits = 4;
           s.per_row = true;
           KmeansOptions o;
           o.method = m;
           CbBufs b;
           r("kmeans_fit",
             kmeans_fit(nullptr, s, o, b.centroids_out.data(), b.labels_out.data(), b.sse.data()),
             [&] { return b.untouched(); });
         }
       }});
}

// ---------------------------------------------------------------------------
// QGemm fixtures: N = 4, K = 8.

struct GemmData {
  std::vector<int8_t> w = std::vector<int8_t>(4096, 3);
  std::vector<float> ws = std::vector<float>(16, 0.05f);
  std::vector<int32_t> bias = std::vector<int32_t>(16, 10);
};

QGemmParams GoodGemm(const GemmData& d) {
  QGemmParams p;
  p.n = 4;
  p.k = 8;
  p.activation_zero_point = 5;
  p.activation_scale = 0.1f;
  p.weights = d.w.data();
  p.weight_scale = d.ws.data();
  p.bias = d.bias.data();
  p.output_scale = 0.2f;
  p.output_zero_point = 7;
  return p;
}

// create() into a fresh QGemm (must stay !valid()) and into one created from
// good parameters (must keep its state).
void CheckGemmCreate(Recorder& r, const QGemmParams& p) {
  QGemm fresh;
  r("QGemm::create", QGemm::create(p, &fresh), [&] { return !fresh.valid(); });
  GemmData d;
  QGemm prev;
  const Status ok = QGemm::create(GoodGemm(d), &prev);
  ASSERT_TRUE(ok.ok()) << ok.to_string();
  const std::string kernel = prev.kernel();
  const size_t bytes = prev.packed_bytes();
  const Status s = QGemm::create(p, &prev);
  r("QGemm::create", s, [&] {
    return prev.valid() && prev.n() == 4 && prev.k() == 8 && prev.kernel() == kernel &&
           prev.packed_bytes() == bytes;
  });
}

template <class F>
std::function<void(Recorder&)> GemmCreateCase(F edit) {
  return [edit](Recorder& r) {
    GemmData d;
    QGemmParams p = GoodGemm(d);
    edit(p);
    CheckGemmCreate(r, p);
  };
}

// run() on a good QGemm (u8 in, u8 out): A is 4 x 8, C sentinel-filled.
struct GemmRun {
  GemmData d;
  QGemm gemm;
  std::vector<uint8_t> a = std::vector<uint8_t>(256, 9);
  Sentinel<uint8_t> c{256, 0xA5};
  GemmRun() { EXPECT_TRUE(QGemm::create(GoodGemm(d), &gemm).ok()); }
};

void AddGemmCases(std::vector<Case>& cs) {
  const std::vector<std::string> create = {"QGemm::create"};
  const std::vector<std::string> run = {"QGemm::run"};
  cs.push_back({"E-GEMM-01", create, StatusCode::kInvalidArgument, "gemm: null", [](Recorder& r) {
                  GemmData d;
                  r("QGemm::create", QGemm::create(GoodGemm(d), nullptr), [] { return true; });
                }});
  cs.push_back({"E-GEMM-02", create, StatusCode::kInvalidArgument, "n: must be >= 1 (got <n>)",
                [](Recorder& r) {
                  for (int64_t n : {int64_t{0}, int64_t{-4}})
                    GemmCreateCase([n](QGemmParams& p) { p.n = n; })(r);
                }});
  cs.push_back({"E-GEMM-03", create, StatusCode::kOutOfRange,
                "k: must be in [1, 65793] so that int32 sums cannot overflow (got <k>)",
                [](Recorder& r) {
                  for (int64_t k : {int64_t{0}, int64_t{-1}, kQGemmMaxK + 1}) {
                    GemmCreateCase([k](QGemmParams& p) { p.k = k; })(r);
                  }
                }});
  cs.push_back({"E-GEMM-04", create, StatusCode::kOutOfRange,
                "activation_zero_point: must be in [<lo>, <hi>] (got <v>)", [](Recorder& r) {
                  GemmCreateCase([](QGemmParams& p) { p.activation_zero_point = 256; })(r);
                  GemmCreateCase([](QGemmParams& p) { p.activation_zero_point = -1; })(r);
                  GemmCreateCase([](QGemmParams& p) {
                    p.activation_signed = true;
                    p.activation_zero_point = 128;
                  })(r);
                }});
  cs.push_back({"E-GEMM-05", create, StatusCode::kInvalidArgument,
                "activation_7bit: only for u8 activations", GemmCreateCase([](QGemmParams& p) {
                  p.activation_signed = true;
                  p.activation_zero_point = 0;
                  p.activation_7bit = true;
                })});
  cs.push_back(
      {"E-GEMM-06", create, StatusCode::kInvalidArgument, "weight_layout: unknown value",
       GemmCreateCase([](QGemmParams& p) { p.weight_layout = static_cast<WeightLayout>(7); })});
  cs.push_back({"E-GEMM-07", create, StatusCode::kInvalidArgument, "output: unknown value",
                GemmCreateCase([](QGemmParams& p) { p.output = static_cast<GemmOutput>(7); })});
  cs.push_back({"E-GEMM-08", create, StatusCode::kInvalidArgument, "weights: null",
                GemmCreateCase([](QGemmParams& p) { p.weights = nullptr; })});
  cs.push_back({"E-GEMM-09", create, StatusCode::kOutOfRange,
                "ldw: must be 0 (dense) or >= <row> (got <v>)", [](Recorder& r) {
                  GemmCreateCase([](QGemmParams& p) { p.ldw = 7; })(r);  // kNK: rows of K = 8
                  GemmCreateCase([](QGemmParams& p) {
                    p.weight_layout = WeightLayout::kKN;  // rows of N = 4
                    p.ldw = 3;
                  })(r);
                  GemmCreateCase([](QGemmParams& p) { p.ldw = -1; })(r);
                }});
  cs.push_back({"E-GEMM-10", create, StatusCode::kOverflow,
                "ldw: the weight matrix's size overflows", [](Recorder& r) {
                  GemmCreateCase([](QGemmParams& p) { p.ldw = kMax / 2; })(r);
                  GemmCreateCase([](QGemmParams& p) {
                    p.weight_layout = WeightLayout::kKN;
                    p.ldw = kMax / 4;
                  })(r);
                }});
  cs.push_back({"E-GEMM-11", create, StatusCode::kOutOfRange,
                "activation_scale: must be finite and > 0 (got <v>)", [](Recorder& r) {
                  for (GemmOutput out : {GemmOutput::kRequantized, GemmOutput::kFloat}) {
                    for (float bad : {0.0f, -1.0f, kNaN, kInf}) {
                      GemmCreateCase([out, bad](QGemmParams& p) {
                        p.output = out;
                        p.activation_scale = bad;
                      })(r);
                    }
                  }
                }});
  cs.push_back(
      {"E-GEMM-12", create, StatusCode::kInvalidArgument, "weight_scale: null", [](Recorder& r) {
         for (GemmOutput out : {GemmOutput::kRequantized, GemmOutput::kFloat}) {
           GemmCreateCase([out](QGemmParams& p) {
             p.output = out;
             p.weight_scale = nullptr;
           })(r);
         }
       }});
  cs.push_back({"E-GEMM-13", create, StatusCode::kOutOfRange,
                "weight_scale[<i>]: must be finite and > 0 (got <v>)", [](Recorder& r) {
                  for (float bad : {0.0f, -2.0f, kNaN, kInf}) {
                    GemmData d;
                    d.ws[2] = bad;
                    QGemmParams p = GoodGemm(d);
                    CheckGemmCreate(r, p);
                    p.output = GemmOutput::kFloat;
                    CheckGemmCreate(r, p);
                    d.ws[0] = bad;
                    p.weight_scale_per_channel = false;
                    CheckGemmCreate(r, p);
                  }
                }});
  cs.push_back({"E-GEMM-14", create, StatusCode::kInvalidArgument, "scheme: unknown value",
                GemmCreateCase([](QGemmParams& p) { p.scheme = static_cast<RequantScheme>(7); })});
  cs.push_back({"E-GEMM-15", create, StatusCode::kOutOfRange,
                "output_range.bits: must be in [2, 8] (got <b>)", [](Recorder& r) {
                  for (int bits : {1, 9})
                    GemmCreateCase([bits](QGemmParams& p) { p.output_range.bits = bits; })(r);
                }});
  cs.push_back({"E-GEMM-16", create, StatusCode::kInvalidArgument,
                "output_range.narrow_range: only signed ranges can be narrow",
                GemmCreateCase([](QGemmParams& p) { p.output_range.narrow_range = true; })});
  cs.push_back({"E-GEMM-17", create, StatusCode::kOutOfRange,
                "output_scale: must be finite and > 0 (got <v>)", [](Recorder& r) {
                  for (float bad : {0.0f, -1.0f, kNaN, kInf}) {
                    GemmCreateCase([bad](QGemmParams& p) { p.output_scale = bad; })(r);
                  }
                }});
  cs.push_back({"E-GEMM-18", create, StatusCode::kOutOfRange,
                "output_zero_point: must be in [<lo>, <hi>] (got <v>)", [](Recorder& r) {
                  GemmCreateCase([](QGemmParams& p) { p.output_zero_point = 256; })(r);
                  GemmCreateCase([](QGemmParams& p) {
                    p.output_range = {8, true, true};  // [-127, 127]
                    p.output_zero_point = -128;
                  })(r);
                }});
  cs.push_back({"E-GEMM-19", create, StatusCode::kOutOfRange,
                "lo: the clamp [max(lo, qmin), min(hi, qmax)] is empty (lo <lo>, hi <hi>)",
                [](Recorder& r) {
                  GemmCreateCase([](QGemmParams& p) {
                    p.lo = 200;
                    p.hi = 100;
                  })(r);
                  GemmCreateCase([](QGemmParams& p) { p.hi = -1; })(r);
                  GemmCreateCase([](QGemmParams& p) { p.lo = 256; })(r);
                }});
  cs.push_back({"E-GEMM-20", create, StatusCode::kOutOfRange,
                "weight_scale[<n>]: activation_scale * weight_scale / output_scale = <real> is "
                "outside kFixedPoint's "
                "range",
                [](Recorder& r) {
                  for (float bad : {1e-12f, 3e9f}) {
                    GemmData d;
                    d.ws[1] = bad;
                    QGemmParams p = GoodGemm(d);
                    p.scheme = RequantScheme::kFixedPoint;
                    p.activation_scale = 1.0f;
                    p.output_scale = 1.0f;
                    CheckGemmCreate(r, p);
                  }
                }});
  cs.push_back(
      {"E-GEMM-21", run, StatusCode::kInvalidArgument,
       "gemm: not created (QGemm::create did not succeed)", [](Recorder& r) {
         QGemm none;
         std::vector<uint8_t> a(64, 1);
         Sentinel<uint8_t> c(64, 0xA5);
         r("QGemm::run", none.run(a.data(), 1, 8, c.data(), 4), [&] { return c.untouched(); });
         // A failed create leaves it so.
         GemmData d;
         QGemmParams p = GoodGemm(d);
         p.k = 0;
         EXPECT_FALSE(QGemm::create(p, &none).ok());
         r("QGemm::run", none.run(a.data(), 1, 8, c.data(), 4), [&] { return c.untouched(); });
       }});
  cs.push_back({"E-GEMM-22", run, StatusCode::kInvalidArgument, "m: must be >= 0 (got <m>)",
                [](Recorder& r) {
                  GemmRun g;
                  r("QGemm::run", g.gemm.run(g.a.data(), -1, 8, g.c.data(), 4),
                    [&] { return g.c.untouched(); });
                }});
  cs.push_back({"E-GEMM-23", run, StatusCode::kInvalidArgument, "lda: must be >= k = <k> (got <v>)",
                [](Recorder& r) {
                  GemmRun g;
                  r("QGemm::run", g.gemm.run(g.a.data(), 4, 7, g.c.data(), 4),
                    [&] { return g.c.untouched(); });
                  r("QGemm::run", g.gemm.run(g.a.data(), 0, 7, g.c.data(), 4),
                    [&] { return g.c.untouched(); });  // even for m = 0
                }});
  cs.push_back({"E-GEMM-24", run, StatusCode::kInvalidArgument, "ldc: must be >= n = <n> (got <v>)",
                [](Recorder& r) {
                  GemmRun g;
                  r("QGemm::run", g.gemm.run(g.a.data(), 4, 8, g.c.data(), 3),
                    [&] { return g.c.untouched(); });
                  r("QGemm::run", g.gemm.run(g.a.data(), 0, 8, g.c.data(), 0),
                    [&] { return g.c.untouched(); });
                }});
  cs.push_back({"E-GEMM-25", run, StatusCode::kInvalidArgument, "a: null", [](Recorder& r) {
                  GemmRun g;
                  r("QGemm::run", g.gemm.run(nullptr, 4, 8, g.c.data(), 4),
                    [&] { return g.c.untouched(); });
                }});
  cs.push_back({"E-GEMM-26", run, StatusCode::kInvalidArgument, "c: null", [](Recorder& r) {
                  GemmRun g;
                  r("QGemm::run", g.gemm.run(g.a.data(), 4, 8, nullptr, 4), [] { return true; });
                }});
  cs.push_back({"E-GEMM-27", run, StatusCode::kOverflow, "lda: m * lda overflows", [](Recorder& r) {
                  GemmRun g;
                  r("QGemm::run", g.gemm.run(g.a.data(), 2, kMax, g.c.data(), 4),
                    [&] { return g.c.untouched(); });
                }});
  cs.push_back({"E-GEMM-28", run, StatusCode::kOverflow, "ldc: m * ldc overflows", [](Recorder& r) {
                  GemmRun g;
                  r("QGemm::run", g.gemm.run(g.a.data(), 2, 8, g.c.data(), kMax),
                    [&] { return g.c.untouched(); });
                  // int32 output: 4-byte elements.
                  QGemmParams p = GoodGemm(g.d);
                  p.output = GemmOutput::kInt32;
                  QGemm g32;
                  ASSERT_TRUE(QGemm::create(p, &g32).ok());
                  r("QGemm::run", g32.run(g.a.data(), 2, 8, g.c.data(), kMax / 4),
                    [&] { return g.c.untouched(); });
                }});
}

// ---------------------------------------------------------------------------
// LutGemm fixtures: N = 4, K = 8, 4-bit indices (4 bytes a row), one codebook.

struct LutData {
  std::vector<uint8_t> idx = std::vector<uint8_t>(4096, 0x21);
  std::vector<float> cb = std::vector<float>(1024, 0.0f);
  std::vector<int32_t> bias = std::vector<int32_t>(16, 3);
  LutData() {
    for (size_t i = 0; i < cb.size(); ++i)
      cb[i] = 0.125f * static_cast<float>(static_cast<int>(i % 16) - 8);
  }
};

LutGemmParams GoodLut(const LutData& d) {
  LutGemmParams p;
  p.n = 4;
  p.k = 8;
  p.bits = 4;
  p.indices = d.idx.data();
  p.indices_size = 16;
  p.codebook = d.cb.data();
  p.codebook_size = 16;
  return p;
}

// Quantized activations: u8 in, requantized u8 out.
LutGemmParams GoodLutQ(const LutData& d) {
  LutGemmParams p = GoodLut(d);
  p.activation = LutActivation::kU8;
  p.activation_zero_point = 5;
  p.activation_scale = 0.1f;
  p.output = GemmOutput::kRequantized;
  p.bias = d.bias.data();
  p.output_scale = 0.2f;
  p.output_zero_point = 7;
  return p;
}

void CheckLutCreate(Recorder& r, const LutGemmParams& p) {
  LutGemm fresh;
  r("LutGemm::create", LutGemm::create(p, &fresh), [&] { return !fresh.valid(); });
  LutData d;
  LutGemm prev;
  const Status ok = LutGemm::create(GoodLutQ(d), &prev);
  ASSERT_TRUE(ok.ok()) << ok.to_string();
  const std::string kernel = prev.kernel();
  const size_t bytes = prev.packed_bytes();
  const Status s = LutGemm::create(p, &prev);
  r("LutGemm::create", s, [&] {
    return prev.valid() && prev.n() == 4 && prev.k() == 8 && prev.kernel() == kernel &&
           prev.packed_bytes() == bytes && prev.codebook_scales() != nullptr;
  });
}

// edit applied to the fp32 fixture (fp32) or to the quantized one (q).
template <class F>
std::function<void(Recorder&)> LutCreateCase(bool quantized, F edit) {
  return [quantized, edit](Recorder& r) {
    LutData d;
    LutGemmParams p = quantized ? GoodLutQ(d) : GoodLut(d);
    edit(p);
    CheckLutCreate(r, p);
  };
}

template <class F>
std::function<void(Recorder&)> LutCreateBoth(F edit) {
  return [edit](Recorder& r) {
    LutCreateCase(false, edit)(r);
    LutCreateCase(true, edit)(r);
  };
}

// run() on a good fp32 LutGemm: X is 4 x 8 floats, Y sentinel-filled floats.
struct LutRun {
  LutData d;
  LutGemm gemm;
  std::vector<float> x = std::vector<float>(256, 0.5f);
  Sentinel<float> y{256, -7.0f};
  LutRun() { EXPECT_TRUE(LutGemm::create(GoodLut(d), &gemm).ok()); }
};

void AddLutCases(std::vector<Case>& cs) {
  const std::vector<std::string> create = {"LutGemm::create"};
  const std::vector<std::string> run = {"LutGemm::run"};
  const std::vector<std::string> q8 = {"quantize_codebook_int8"};
  struct Q8 {
    std::vector<float> cb = std::vector<float>(256, 0.5f);
    Sentinel<int8_t> q{256, int8_t{-99}};
    Sentinel<float> scale{1, -7.0f};
    bool untouched() const { return q.untouched() && scale.untouched(); }
  };
  cs.push_back({"E-LUT-01",
                {"quantize_codebook_int8", "LutGemm::create"},
                StatusCode::kInvalidArgument,
                "codebook: null",
                [](Recorder& r) {
                  Q8 b;
                  r("quantize_codebook_int8",
                    quantize_codebook_int8(nullptr, 16, b.q.data(), b.scale.data()),
                    [&] { return b.untouched(); });
                  LutCreateBoth([](LutGemmParams& p) { p.codebook = nullptr; })(r);
                }});
  cs.push_back({"E-LUT-02", q8, StatusCode::kInvalidArgument, "q: null", [](Recorder& r) {
                  Q8 b;
                  r("quantize_codebook_int8",
                    quantize_codebook_int8(b.cb.data(), 16, nullptr, b.scale.data()),
                    [&] { return b.untouched(); });
                }});
  cs.push_back({"E-LUT-03", q8, StatusCode::kInvalidArgument, "scale: null", [](Recorder& r) {
                  Q8 b;
                  r("quantize_codebook_int8",
                    quantize_codebook_int8(b.cb.data(), 16, b.q.data(), nullptr),
                    [&] { return b.untouched(); });
                }});
  cs.push_back({"E-LUT-04", q8, StatusCode::kOutOfRange, "count: must be in [1, 256] (got <v>)",
                [](Recorder& r) {
                  for (int count : {0, -1, 257}) {
                    Q8 b;
                    r("quantize_codebook_int8",
                      quantize_codebook_int8(b.cb.data(), count, b.q.data(), b.scale.data()),
                      [&] { return b.untouched(); });
                  }
                }});
  cs.push_back({"E-LUT-05",
                {"quantize_codebook_int8", "LutGemm::create"},
                StatusCode::kOutOfRange,
                "codebook[<i>]: must be finite (got <v>)",
                [](Recorder& r) {
                  for (float bad : {kNaN, kInf, -kInf}) {
                    Q8 b;
                    b.cb[7] = bad;
                    r("quantize_codebook_int8",
                      quantize_codebook_int8(b.cb.data(), 16, b.q.data(), b.scale.data()),
                      [&] { return b.untouched(); });
                    LutCreateBoth([bad](LutGemmParams& p) {
                      static std::vector<float> cb;
                      cb.assign(p.codebook, p.codebook + 64);
                      cb[37] = bad;
                      p.codebook = cb.data();
                      p.codebook_per_row = true;
                      p.codebook_size = 64;
                    })(r);
                  }
                }});
  cs.push_back({"E-LUT-06", create, StatusCode::kInvalidArgument, "gemm: null", [](Recorder& r) {
                  LutData d;
                  r("LutGemm::create", LutGemm::create(GoodLut(d), nullptr), [] { return true; });
                }});
  cs.push_back({"E-LUT-07", create, StatusCode::kInvalidArgument, "n: must be >= 1 (got <n>)",
                LutCreateBoth([](LutGemmParams& p) { p.n = 0; })});
  cs.push_back({"E-LUT-08", create, StatusCode::kOutOfRange, "k: must be in [1, 65793] (got <k>)",
                [](Recorder& r) {
                  for (int64_t k : {int64_t{0}, kLutGemmMaxK + 1})
                    LutCreateBoth([k](LutGemmParams& p) { p.k = k; })(r);
                }});
  cs.push_back({"E-LUT-09", create, StatusCode::kInvalidArgument,
                "bits: the lookup GEMM takes 2- or 4-bit indices (got <b>)", [](Recorder& r) {
                  for (int bits : {1, 3, 8})
                    LutCreateBoth([bits](LutGemmParams& p) { p.bits = bits; })(r);
                }});
  cs.push_back({"E-LUT-10", create, StatusCode::kInvalidArgument, "activation: unknown value",
                LutCreateCase(false, [](LutGemmParams& p) {
                  p.activation = static_cast<LutActivation>(7);
                })});
  cs.push_back({"E-LUT-11", create, StatusCode::kInvalidArgument, "output: unknown value",
                LutCreateBoth([](LutGemmParams& p) { p.output = static_cast<GemmOutput>(7); })});
  cs.push_back({"E-LUT-12", create, StatusCode::kInvalidArgument,
                "output: fp32 activations give float outputs only (kFloat)", [](Recorder& r) {
                  for (GemmOutput out : {GemmOutput::kRequantized, GemmOutput::kInt32}) {
                    LutCreateCase(false, [out](LutGemmParams& p) { p.output = out; })(r);
                  }
                }});
  cs.push_back({"E-LUT-13", create, StatusCode::kInvalidArgument,
                "bias: the int32 bias is for quantized activations; use bias_f",
                LutCreateCase(false, [](LutGemmParams& p) {
                  static const int32_t bias[4] = {1, 2, 3, 4};
                  p.bias = bias;
                })});
  cs.push_back({"E-LUT-14", create, StatusCode::kInvalidArgument,
                "activation_7bit: only for u8 activations", [](Recorder& r) {
                  LutCreateCase(false, [](LutGemmParams& p) { p.activation_7bit = true; })(r);
                  LutCreateCase(true, [](LutGemmParams& p) {
                    p.activation = LutActivation::kS8;
                    p.activation_zero_point = 0;
                    p.activation_7bit = true;
                  })(r);
                }});
  cs.push_back({"E-LUT-15", create, StatusCode::kInvalidArgument, "indices: null",
                LutCreateBoth([](LutGemmParams& p) { p.indices = nullptr; })});
  cs.push_back({"E-LUT-16", create, StatusCode::kOutOfRange,
                "ld_indices: must be 0 (dense) or >= <row> (got <v>)", [](Recorder& r) {
                  LutCreateBoth([](LutGemmParams& p) { p.ld_indices = 3; })(
                      r);  // 8 4-bit labels: 4 bytes
                  LutCreateBoth([](LutGemmParams& p) {
                    p.bits = 2;  // 8 2-bit labels: 2 bytes
                    p.codebook_size = 4;
                    p.ld_indices = 1;
                  })(r);
                  LutCreateBoth([](LutGemmParams& p) { p.ld_indices = -4; })(r);
                }});
  cs.push_back({"E-LUT-17", create, StatusCode::kOverflow, "ld_indices: n * ld_indices overflows",
                LutCreateBoth([](LutGemmParams& p) {
                  p.ld_indices = kMax / 2;
                  p.indices_size = kMax;
                })});
  cs.push_back({"E-LUT-18", create, StatusCode::kOutOfRange,
                "indices_size: <n> rows of <k> <bits>-bit indices need <need> bytes (got <v>)",
                [](Recorder& r) {
                  LutCreateBoth([](LutGemmParams& p) { p.indices_size = 15; })(r);
                  LutCreateBoth([](LutGemmParams& p) {
                    p.ld_indices = 100;  // 3 * 100 + 4
                    p.indices_size = 303;
                  })(r);
                }});
  cs.push_back({"E-LUT-19", create, StatusCode::kInvalidArgument,
                "codebook_size: expected <count> floats (<entries> <layout>), got <v>",
                [](Recorder& r) {
                  LutCreateBoth([](LutGemmParams& p) { p.codebook_size = 15; })(r);
                  LutCreateBoth([](LutGemmParams& p) { p.codebook_size = 0; })(r);
                  LutCreateBoth([](LutGemmParams& p) {
                    p.codebook_per_row = true;  // needs 4 * 16
                  })(r);
                }});
  cs.push_back({"E-LUT-20", create, StatusCode::kOutOfRange,
                "activation_zero_point: must be in [<lo>, <hi>] (got <v>)", [](Recorder& r) {
                  LutCreateCase(true, [](LutGemmParams& p) { p.activation_zero_point = 256; })(r);
                  LutCreateCase(true, [](LutGemmParams& p) {
                    p.activation = LutActivation::kS8;
                    p.activation_zero_point = -129;
                  })(r);
                }});
  cs.push_back({"E-LUT-21", create, StatusCode::kOutOfRange,
                "activation_scale: must be finite and > 0 (got <v>)", [](Recorder& r) {
                  for (float bad : {0.0f, kNaN}) {
                    LutCreateCase(true, [bad](LutGemmParams& p) { p.activation_scale = bad; })(r);
                    LutCreateCase(true, [bad](LutGemmParams& p) {
                      p.output = GemmOutput::kFloat;
                      p.activation_scale = bad;
                    })(r);
                  }
                }});
  cs.push_back(
      {"E-LUT-22", create, StatusCode::kInvalidArgument, "scheme: unknown value",
       LutCreateCase(true, [](LutGemmParams& p) { p.scheme = static_cast<RequantScheme>(7); })});
  cs.push_back({"E-LUT-23", create, StatusCode::kOutOfRange,
                "output_range.bits: must be in [2, 8] (got <b>)",
                LutCreateCase(true, [](LutGemmParams& p) { p.output_range.bits = 9; })});
  cs.push_back({"E-LUT-24", create, StatusCode::kInvalidArgument,
                "output_range.narrow_range: only signed ranges can be narrow",
                LutCreateCase(true, [](LutGemmParams& p) { p.output_range.narrow_range = true; })});
  cs.push_back({"E-LUT-25", create, StatusCode::kOutOfRange,
                "output_scale: must be finite and > 0 (got <v>)",
                LutCreateCase(true, [](LutGemmParams& p) { p.output_scale = -kInf; })});
  cs.push_back({"E-LUT-26", create, StatusCode::kOutOfRange,
                "output_zero_point: must be in [<lo>, <hi>] (got <v>)",
                LutCreateCase(true, [](LutGemmParams& p) { p.output_zero_point = -1; })});
  cs.push_back({"E-LUT-27", create, StatusCode::kOutOfRange,
                "lo: the clamp [max(lo, qmin), min(hi, qmax)] is empty (lo <lo>, hi <hi>)",
                LutCreateCase(true, [](LutGemmParams& p) {
                  p.lo = 10;
                  p.hi = 9;
                })});
  cs.push_back(
      {"E-LUT-28", create, StatusCode::kOutOfRange,
       "codebook_scale[<n>]: activation_scale * codebook_scale / output_scale = <real> is outside "
       "kFixedPoint's range",
       [](Recorder& r) {
         LutCreateCase(true, [](LutGemmParams& p) {
           // Codebook scale max|C| / 127 = 1e-12: the multiplier needs a shift below -31.
           static std::vector<float> cb;
           cb.assign(16, 0.0f);
           cb[15] = 127e-12f;
           p.codebook = cb.data();
           p.scheme = RequantScheme::kFixedPoint;
           p.activation_scale = 1.0f;
           p.output_scale = 1.0f;
         })(r);
       }});
  cs.push_back({"E-LUT-29", create, StatusCode::kOverflow,
                "ldw: the weight matrix's size overflows",
                LutCreateCase(true, [](LutGemmParams& p) {
                  // n * k > 2^63 - 1 while n * ld_indices fits (the indices are never read).
                  p.n = int64_t{1} << 47;
                  p.k = kLutGemmMaxK;
                  p.indices_size = kMax;
                })});
  cs.push_back(
      {"E-LUT-30", create, StatusCode::kOutOfMemory, "indices: cannot allocate the packed copy",
       [](Recorder& r) {
#ifdef QKERN_ERRORS_SANITIZED
         r.skip("a sanitizer's allocator aborts on the 2^50-row request instead of returning null");
#else
         // 2^50 rows of one label: the repacked copy (>= 2^53 bytes) cannot be allocated.
         // The indices are not read before it is.
         LutCreateBoth([](LutGemmParams& p) {
           p.n = int64_t{1} << 50;
           p.k = 1;
           p.indices_size = p.n;
         })(r);
#endif
       }});
  cs.push_back({"E-LUT-31", run, StatusCode::kInvalidArgument,
                "gemm: not created (LutGemm::create did not succeed)", [](Recorder& r) {
                  LutGemm none;
                  std::vector<float> x(64, 1.0f);
                  Sentinel<float> y(64, -7.0f);
                  r("LutGemm::run", none.run(x.data(), 1, 8, y.data(), 4),
                    [&] { return y.untouched(); });
                }});
  cs.push_back(
      {"E-LUT-32", run, StatusCode::kInvalidArgument, "m: must be >= 0 (got <m>)", [](Recorder& r) {
         LutRun g;
         r("LutGemm::run", g.gemm.run(g.x.data(), -1, 8, g.y.data(), 4),
           [&] { return g.y.untouched(); });
       }});
  cs.push_back({"E-LUT-33", run, StatusCode::kInvalidArgument, "ldx: must be >= k = <k> (got <v>)",
                [](Recorder& r) {
                  LutRun g;
                  r("LutGemm::run", g.gemm.run(g.x.data(), 4, 7, g.y.data(), 4),
                    [&] { return g.y.untouched(); });
                  r("LutGemm::run", g.gemm.run(g.x.data(), 0, 0, g.y.data(), 4),
                    [&] { return g.y.untouched(); });
                }});
  cs.push_back({"E-LUT-34", run, StatusCode::kInvalidArgument, "ldy: must be >= n = <n> (got <v>)",
                [](Recorder& r) {
                  LutRun g;
                  r("LutGemm::run", g.gemm.run(g.x.data(), 4, 8, g.y.data(), 3),
                    [&] { return g.y.untouched(); });
                }});
  cs.push_back({"E-LUT-35", run, StatusCode::kInvalidArgument, "x: null", [](Recorder& r) {
                  LutRun g;
                  r("LutGemm::run", g.gemm.run(nullptr, 4, 8, g.y.data(), 4),
                    [&] { return g.y.untouched(); });
                }});
  cs.push_back({"E-LUT-36", run, StatusCode::kInvalidArgument, "y: null", [](Recorder& r) {
                  LutRun g;
                  r("LutGemm::run", g.gemm.run(g.x.data(), 4, 8, nullptr, 4), [] { return true; });
                }});
  cs.push_back({"E-LUT-37", run, StatusCode::kOverflow, "ldx: m * ldx overflows", [](Recorder& r) {
                  LutRun g;
                  r("LutGemm::run", g.gemm.run(g.x.data(), 2, kMax / 4, g.y.data(), 4),
                    [&] { return g.y.untouched(); });  // 4-byte floats
                }});
  cs.push_back({"E-LUT-38", run, StatusCode::kOverflow, "ldy: m * ldy overflows", [](Recorder& r) {
                  LutRun g;
                  r("LutGemm::run", g.gemm.run(g.x.data(), 2, 8, g.y.data(), kMax / 4),
                    [&] { return g.y.untouched(); });
                }});
}

// ---------------------------------------------------------------------------
// QConv2d fixtures: 4 -> 4 channels, 1x1 (the GEMM path).

struct ConvData {
  std::vector<int8_t> w = std::vector<int8_t>(8192, 2);
  std::vector<float> ws = std::vector<float>(64, 0.05f);
};

QConv2dParams GoodConv(const ConvData& d) {
  QConv2dParams p;
  p.input_channels = 4;
  p.output_channels = 4;
  p.activation_zero_point = 5;
  p.activation_scale = 0.1f;
  p.weights = d.w.data();
  p.weight_scale = d.ws.data();
  p.output_scale = 0.2f;
  p.output_zero_point = 7;
  return p;
}

void CheckConvCreate(Recorder& r, const QConv2dParams& p) {
  QConv2d fresh;
  r("QConv2d::create", QConv2d::create(p, &fresh), [&] { return !fresh.valid(); });
  ConvData d;
  QConv2d prev;
  const Status ok = QConv2d::create(GoodConv(d), &prev);
  ASSERT_TRUE(ok.ok()) << ok.to_string();
  const std::string kernel = prev.kernel();
  const size_t bytes = prev.packed_bytes();
  const Status s = QConv2d::create(p, &prev);
  r("QConv2d::create", s, [&] {
    return prev.valid() && prev.path() == ConvPath::kGemm1x1 && prev.kernel() == kernel &&
           prev.packed_bytes() == bytes;
  });
}

template <class F>
std::function<void(Recorder&)> ConvCreateCase(F edit) {
  return [edit](Recorder& r) {
    ConvData d;
    QConv2dParams p = GoodConv(d);
    edit(p);
    CheckConvCreate(r, p);
  };
}

// A good conv (1x1, or 3x3 without padding) and sentinel-filled outputs.
struct ConvRun {
  ConvData d;
  QConv2d conv;
  std::vector<uint8_t> x = std::vector<uint8_t>(1024, 9);
  Sentinel<uint8_t> y{1024, 0xA5};
  Sentinel<int64_t> oh{1, -5}, ow{1, -5};
  explicit ConvRun(int64_t kernel = 1) {
    QConv2dParams p = GoodConv(d);
    p.kernel_h = p.kernel_w = kernel;
    EXPECT_TRUE(QConv2d::create(p, &conv).ok());
  }
  bool untouched() const { return y.untouched() && oh.untouched() && ow.untouched(); }
};

void AddConvCases(std::vector<Case>& cs) {
  const std::vector<std::string> create = {"QConv2d::create"};
  const std::vector<std::string> run = {"QConv2d::run"};
  const std::vector<std::string> both = {"QConv2d::output_size", "QConv2d::run"};
  cs.push_back({"E-CONV-01", create, StatusCode::kInvalidArgument, "conv: null", [](Recorder& r) {
                  ConvData d;
                  r("QConv2d::create", QConv2d::create(GoodConv(d), nullptr), [] { return true; });
                }});
  // The geometry fields, each in [1, 2^30] (pads [0, 2^30]), in the order checked.
  struct Field {
    const char* id;
    const char* name;
    int64_t QConv2dParams::*member;
    int64_t lo;
  };
  static const Field kFields[] = {
      {"E-CONV-02", "input_channels", &QConv2dParams::input_channels, 1},
      {"E-CONV-03", "output_channels", &QConv2dParams::output_channels, 1},
      {"E-CONV-04", "kernel_h", &QConv2dParams::kernel_h, 1},
      {"E-CONV-05", "kernel_w", &QConv2dParams::kernel_w, 1},
      {"E-CONV-06", "stride_h", &QConv2dParams::stride_h, 1},
      {"E-CONV-07", "stride_w", &QConv2dParams::stride_w, 1},
      {"E-CONV-08", "dilation_h", &QConv2dParams::dilation_h, 1},
      {"E-CONV-09", "dilation_w", &QConv2dParams::dilation_w, 1},
      {"E-CONV-10", "groups", &QConv2dParams::groups, 1},
      {"E-CONV-11", "pad_top", &QConv2dParams::pad_top, 0},
      {"E-CONV-12", "pad_left", &QConv2dParams::pad_left, 0},
      {"E-CONV-13", "pad_bottom", &QConv2dParams::pad_bottom, 0},
      {"E-CONV-14", "pad_right", &QConv2dParams::pad_right, 0},
  };
  for (const Field& f : kFields) {
    cs.push_back(
        {f.id, create, StatusCode::kOutOfRange,
         std::string(f.name) + ": must be in [" + std::to_string(f.lo) + ", 2^30] (got <v>)",
         [f](Recorder& r) {
           for (int64_t bad : {f.lo - 1, (int64_t{1} << 30) + 1, -kMax}) {
             ConvCreateCase([f, bad](QConv2dParams& p) { p.*f.member = bad; })(r);
           }
         }});
  }
  cs.push_back({"E-CONV-15", create, StatusCode::kInvalidArgument,
                "input_channels: <ic> is not divisible by groups = <g>",
                ConvCreateCase([](QConv2dParams& p) { p.groups = 3; })});
  cs.push_back({"E-CONV-16", create, StatusCode::kInvalidArgument,
                "output_channels: <oc> is not divisible by groups = <g>",
                ConvCreateCase([](QConv2dParams& p) {
                  p.input_channels = 6;
                  p.groups = 3;
                })});
  cs.push_back({"E-CONV-17", create, StatusCode::kOutOfRange,
                "kernel_h: kernel_h * kernel_w * input_channels / groups must be <= 65793 so that "
                "int32 sums cannot "
                "overflow (got <kh> x <kw> x <icg>)",
                [](Recorder& r) {
                  ConvCreateCase([](QConv2dParams& p) {
                    p.kernel_h = p.kernel_w = 3;
                    p.input_channels = 8000;  // 72000
                  })(r);
                  ConvCreateCase([](QConv2dParams& p) {
                    p.kernel_h = int64_t{1} << 30;  // the product itself would overflow int64
                    p.kernel_w = int64_t{1} << 30;
                  })(r);
                }});
  cs.push_back({"E-CONV-18", create, StatusCode::kInvalidArgument, "weight_layout: unknown value",
                ConvCreateCase(
                    [](QConv2dParams& p) { p.weight_layout = static_cast<ConvWeightLayout>(7); })});
  cs.push_back({"E-CONV-19", create, StatusCode::kInvalidArgument, "weights: null",
                ConvCreateCase([](QConv2dParams& p) { p.weights = nullptr; })});
  cs.push_back({"E-CONV-20", create, StatusCode::kOutOfRange,
                "activation_zero_point: must be in [<lo>, <hi>] (got <v>)", [](Recorder& r) {
                  ConvCreateCase([](QConv2dParams& p) { p.activation_zero_point = -1; })(r);
                  ConvCreateCase([](QConv2dParams& p) {
                    p.activation_signed = true;
                    p.activation_zero_point = 200;
                  })(r);
                }});
  cs.push_back({"E-CONV-21", create, StatusCode::kInvalidArgument, "output: unknown value",
                ConvCreateCase([](QConv2dParams& p) { p.output = static_cast<GemmOutput>(7); })});
  cs.push_back({"E-CONV-22", create, StatusCode::kOutOfRange,
                "activation_scale: must be finite and > 0 (got <v>)",
                ConvCreateCase([](QConv2dParams& p) { p.activation_scale = 0.0f; })});
  cs.push_back({"E-CONV-23", create, StatusCode::kInvalidArgument, "weight_scale: null",
                ConvCreateCase([](QConv2dParams& p) { p.weight_scale = nullptr; })});
  cs.push_back({"E-CONV-24", create, StatusCode::kOutOfRange,
                "weight_scale[<i>]: must be finite and > 0 (got <v>)", [](Recorder& r) {
                  ConvData d;
                  d.ws[2] = kNaN;
                  CheckConvCreate(r, GoodConv(d));
                }});
  cs.push_back(
      {"E-CONV-25", create, StatusCode::kInvalidArgument, "scheme: unknown value",
       ConvCreateCase([](QConv2dParams& p) { p.scheme = static_cast<RequantScheme>(7); })});
  cs.push_back({"E-CONV-26", create, StatusCode::kOutOfRange,
                "output_range.bits: must be in [2, 8] (got <b>)",
                ConvCreateCase([](QConv2dParams& p) { p.output_range.bits = 0; })});
  cs.push_back({"E-CONV-27", create, StatusCode::kInvalidArgument,
                "output_range.narrow_range: only signed ranges can be narrow",
                ConvCreateCase([](QConv2dParams& p) { p.output_range.narrow_range = true; })});
  cs.push_back({"E-CONV-28", create, StatusCode::kOutOfRange,
                "output_scale: must be finite and > 0 (got <v>)",
                ConvCreateCase([](QConv2dParams& p) { p.output_scale = kNaN; })});
  cs.push_back({"E-CONV-29", create, StatusCode::kOutOfRange,
                "output_zero_point: must be in [<lo>, <hi>] (got <v>)",
                ConvCreateCase([](QConv2dParams& p) { p.output_zero_point = 300; })});
  cs.push_back({"E-CONV-30", create, StatusCode::kOutOfRange,
                "lo: the clamp [max(lo, qmin), min(hi, qmax)] is empty (lo <lo>, hi <hi>)",
                ConvCreateCase([](QConv2dParams& p) { p.hi = -5; })});
  cs.push_back({"E-CONV-31", create, StatusCode::kOutOfRange,
                "weight_scale[<n>]: activation_scale * weight_scale / output_scale = <real> is "
                "outside kFixedPoint's "
                "range",
                [](Recorder& r) {
                  // Every path: gemm_1x1, im2col, depthwise, and gemm_1x1 with 2 groups.
                  for (int path = 0; path < 4; ++path) {
                    ConvData d;
                    d.ws[2] = 1e-12f;
                    QConv2dParams p = GoodConv(d);
                    p.scheme = RequantScheme::kFixedPoint;
                    p.activation_scale = 1.0f;
                    p.output_scale = 1.0f;
                    if (path >= 1) p.kernel_h = p.kernel_w = 3;
                    if (path == 2) p.groups = 4;
                    if (path == 3) p.groups = 2;
                    CheckConvCreate(r, p);
                  }
                }});
  cs.push_back({"E-CONV-32", both, StatusCode::kInvalidArgument,
                "conv: not created (QConv2d::create did not succeed)", [](Recorder& r) {
                  QConv2d none;
                  ConvRun g;
                  r("QConv2d::output_size", none.output_size(4, 4, g.oh.data(), g.ow.data()),
                    [&] { return g.untouched(); });
                  r("QConv2d::run", none.run(g.x.data(), 1, 4, 4, g.y.data()),
                    [&] { return g.untouched(); });
                }});
  cs.push_back({"E-CONV-33",
                {"QConv2d::output_size"},
                StatusCode::kInvalidArgument,
                "oh: null",
                [](Recorder& r) {
                  ConvRun g;
                  r("QConv2d::output_size", g.conv.output_size(4, 4, nullptr, g.ow.data()),
                    [&] { return g.untouched(); });
                }});
  cs.push_back({"E-CONV-34",
                {"QConv2d::output_size"},
                StatusCode::kInvalidArgument,
                "ow: null",
                [](Recorder& r) {
                  ConvRun g;
                  r("QConv2d::output_size", g.conv.output_size(4, 4, g.oh.data(), nullptr),
                    [&] { return g.untouched(); });
                }});
  cs.push_back({"E-CONV-35", both, StatusCode::kOutOfRange, "h: must be in [1, 2^30] (got <v>)",
                [](Recorder& r) {
                  for (int64_t h : {int64_t{0}, int64_t{-1}, (int64_t{1} << 30) + 1}) {
                    ConvRun g;
                    r("QConv2d::output_size", g.conv.output_size(h, 4, g.oh.data(), g.ow.data()),
                      [&] { return g.untouched(); });
                    r("QConv2d::run", g.conv.run(g.x.data(), 1, h, 4, g.y.data()),
                      [&] { return g.untouched(); });
                  }
                }});
  cs.push_back({"E-CONV-36", both, StatusCode::kOutOfRange, "w: must be in [1, 2^30] (got <v>)",
                [](Recorder& r) {
                  for (int64_t w : {int64_t{0}, (int64_t{1} << 30) + 1}) {
                    ConvRun g;
                    r("QConv2d::output_size", g.conv.output_size(4, w, g.oh.data(), g.ow.data()),
                      [&] { return g.untouched(); });
                    r("QConv2d::run", g.conv.run(g.x.data(), 1, 4, w, g.y.data()),
                      [&] { return g.untouched(); });
                  }
                }});
  cs.push_back({"E-CONV-37", both, StatusCode::kOutOfRange,
                "h: the padded input height <v> is smaller than the dilated kernel height <v>",
                [](Recorder& r) {
                  ConvRun g(3);
                  r("QConv2d::output_size", g.conv.output_size(2, 4, g.oh.data(), g.ow.data()),
                    [&] { return g.untouched(); });
                  r("QConv2d::run", g.conv.run(g.x.data(), 1, 2, 4, g.y.data()),
                    [&] { return g.untouched(); });
                }});
  cs.push_back({"E-CONV-38", both, StatusCode::kOutOfRange,
                "w: the padded input width <v> is smaller than the dilated kernel width <v>",
                [](Recorder& r) {
                  ConvRun g(3);
                  r("QConv2d::output_size", g.conv.output_size(4, 1, g.oh.data(), g.ow.data()),
                    [&] { return g.untouched(); });
                  r("QConv2d::run", g.conv.run(g.x.data(), 1, 4, 1, g.y.data()),
                    [&] { return g.untouched(); });
                }});
  cs.push_back({"E-CONV-39", run, StatusCode::kInvalidArgument, "batch: must be >= 0 (got <v>)",
                [](Recorder& r) {
                  ConvRun g;
                  r("QConv2d::run", g.conv.run(g.x.data(), -1, 4, 4, g.y.data()),
                    [&] { return g.untouched(); });
                }});
  cs.push_back({"E-CONV-40", run, StatusCode::kInvalidArgument,
                "x_pixel_stride: must be 0 or >= input_channels = <ic> (got <v>)", [](Recorder& r) {
                  ConvRun g;
                  r("QConv2d::run", g.conv.run(g.x.data(), 1, 4, 4, g.y.data(), 3),
                    [&] { return g.untouched(); });
                  r("QConv2d::run", g.conv.run(g.x.data(), 0, 4, 4, g.y.data(), -1),
                    [&] { return g.untouched(); });  // even batch 0
                }});
  cs.push_back({"E-CONV-41", run, StatusCode::kInvalidArgument,
                "y_pixel_stride: must be 0 or >= output_channels = <oc> (got <v>)",
                [](Recorder& r) {
                  ConvRun g;
                  r("QConv2d::run", g.conv.run(g.x.data(), 1, 4, 4, g.y.data(), 0, 2),
                    [&] { return g.untouched(); });
                }});
  cs.push_back({"E-CONV-42", run, StatusCode::kInvalidArgument, "x: null", [](Recorder& r) {
                  ConvRun g;
                  r("QConv2d::run", g.conv.run(nullptr, 1, 4, 4, g.y.data()),
                    [&] { return g.untouched(); });
                }});
  cs.push_back({"E-CONV-43", run, StatusCode::kInvalidArgument, "y: null", [](Recorder& r) {
                  ConvRun g;
                  r("QConv2d::run", g.conv.run(g.x.data(), 1, 4, 4, nullptr),
                    [&] { return g.untouched(); });
                }});
  cs.push_back({"E-CONV-44", run, StatusCode::kOverflow,
                "x_pixel_stride: batch * h * w * x_pixel_stride overflows", [](Recorder& r) {
                  ConvRun g;
                  r("QConv2d::run", g.conv.run(g.x.data(), int64_t{1} << 62, 1, 1, g.y.data()),
                    [&] { return g.untouched(); });
                  r("QConv2d::run", g.conv.run(g.x.data(), 2, 1, 1, g.y.data(), kMax),
                    [&] { return g.untouched(); });
                }});
  cs.push_back({"E-CONV-45", run, StatusCode::kOverflow,
                "y_pixel_stride: batch * oh * ow * y_pixel_stride overflows", [](Recorder& r) {
                  ConvRun g;
                  r("QConv2d::run",
                    g.conv.run(g.x.data(), int64_t{1} << 60, 1, 1, g.y.data(), 0, 16),
                    [&] { return g.untouched(); });
                  // int32 output: y_pixel_stride * 4 would wrap to 0 (it once divided by it).
                  ConvData d;
                  QConv2dParams p = GoodConv(d);
                  p.output = GemmOutput::kInt32;
                  QConv2d c32;
                  ASSERT_TRUE(QConv2d::create(p, &c32).ok());
                  r("QConv2d::run", c32.run(g.x.data(), 1, 1, 1, g.y.data(), 0, int64_t{1} << 62),
                    [&] { return g.untouched(); });
                }});
}

// ---------------------------------------------------------------------------
// ISA caps and QKERN_MAX_ISA.

// An ISA of another architecture than this build's (kNeon on x86, kAvx2 on Arm).
bool ForeignIsa(Isa* out) {
  const std::vector<Isa> mine = architecture_isas();
  for (int i = 0; i < kIsaCount; ++i) {
    bool found = false;
    for (Isa m : mine) found |= static_cast<int>(m) == i;
    if (!found) {
      *out = static_cast<Isa>(i);
      return true;
    }
  }
  return false;
}

// The child side of the QKERN_MAX_ISA rows: set in the environment of the
// copy of this binary that the parent runs.
const char kChildEnv[] = "QKERN_ERRORS_CHILD";

// Runs this test in a fresh copy of the binary with QKERN_MAX_ISA=value;
// records environment_status() as the child saw it. "Untouched": the value
// was ignored (the child's active ISA is its best) and reported once on stderr.
void RunEnvChild(Recorder& r, const std::string& value) {
#ifdef QKERN_TEST_EMULATED
  (void)value;
  r.skip("needs to run a second copy of the test binary, which qemu-user cannot exec");
#else
  char exe[4096];
  const ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  ASSERT_GT(len, 0) << "readlink /proc/self/exe";
  exe[len] = '\0';
  const ::testing::TestInfo* t = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string filter = std::string(t->test_suite_name()) + "." + t->name();
  // A fresh environment for gtest: no sharding, no XML output over the parent's.
  const std::string cmd =
      "env -u GTEST_OUTPUT -u GTEST_SHARD_INDEX -u GTEST_TOTAL_SHARDS -u GTEST_FILTER " +
      std::string(kChildEnv) + "=1 QKERN_MAX_ISA='" + value + "' '" + exe + "' --gtest_filter='" +
      filter + "' 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  ASSERT_NE(f, nullptr) << cmd;
  std::string out;
  char buf[1024];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  const int rc = pclose(f);
  ASSERT_EQ(rc, 0) << cmd << "\n" << out;
  std::map<std::string, std::string> kv;
  std::istringstream lines(out);
  std::string line;
  int stderr_reports = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("@@", 0) == 0) {
      const size_t eq = line.find('=');
      kv[line.substr(2, eq - 2)] = line.substr(eq + 1);
    }
    if (line.rfind("qkern: error: ", 0) == 0) ++stderr_reports;
  }
  ASSERT_TRUE(kv.count("code") && kv.count("message")) << out;
  const Status s(static_cast<StatusCode>(std::stoi(kv["code"])), kv["message"]);
  const bool reported =
      stderr_reports == 1 && out.find("qkern: error: " + s.message() + "\n") != std::string::npos;
  EXPECT_TRUE(reported) << "expected one 'qkern: error: " << s.message() << "' line on stderr:\n"
                        << out;
  r("environment_status", s, [&] { return kv["active"] == kv["best"] && reported; });
#endif
}

void AddIsaCases(std::vector<Case>& cs) {
  cs.push_back({"E-ISA-01",
                {"set_max_isa"},
                StatusCode::kInvalidArgument,
                "isa: not a qkern ISA (<i>)",
                [](Recorder& r) {
                  ASSERT_TRUE(set_max_isa(Isa::kScalar).ok());
                  for (int bad : {-1, kIsaCount, 99}) {
                    r("set_max_isa", set_max_isa(static_cast<Isa>(bad)),
                      [] { return active_isa() == Isa::kScalar; });
                  }
                  reset_max_isa();
                  const Isa before = active_isa();
                  r("set_max_isa", set_max_isa(static_cast<Isa>(99)),
                    [&] { return active_isa() == before; });
                },
                /*per_isa=*/false});
  cs.push_back({"E-ISA-02",
                {"set_max_isa"},
                StatusCode::kInvalidArgument,
                "isa: '<name>' is an ISA of another architecture",
                [](Recorder& r) {
                  Isa foreign;
                  if (!ForeignIsa(&foreign)) {
                    r.skip("this architecture has every ISA");
                    return;
                  }
                  ASSERT_TRUE(set_max_isa(Isa::kScalar).ok());
                  r("set_max_isa", set_max_isa(foreign),
                    [] { return active_isa() == Isa::kScalar; });
                  reset_max_isa();
                },
                /*per_isa=*/false});
  cs.push_back({"E-ISA-03",
                {"environment_status"},
                StatusCode::kInvalidArgument,
                "QKERN_MAX_ISA: '<v>' is not an ISA name (expected one of scalar, avx2, avx512, "
                "avx512_vnni, avx512_amx, neon, neon_dotprod); ignored",
                [](Recorder& r) { RunEnvChild(r, "AVX2"); },
                /*per_isa=*/false});
  cs.push_back({"E-ISA-04",
                {"environment_status"},
                StatusCode::kInvalidArgument,
                "QKERN_MAX_ISA: '<v>' is an ISA of another architecture; ignored",
                [](Recorder& r) {
                  Isa foreign;
                  if (!ForeignIsa(&foreign)) {
                    r.skip("this architecture has every ISA");
                    return;
                  }
                  RunEnvChild(r, isa_name(foreign));
                },
                /*per_isa=*/false});
}

const std::vector<Case>& Cases() {
  static const std::vector<Case> cases = [] {
    std::vector<Case> cs;
    AddQuantizeCases(cs);
    AddCodebookCases(cs);
    AddGemmCases(cs);
    AddLutCases(cs);
    AddConvCases(cs);
    AddIsaCases(cs);
    return cs;
  }();
  return cases;
}

// ---------------------------------------------------------------------------
// One test per row.

class ErrorsRow : public ::testing::TestWithParam<size_t> {};

TEST_P(ErrorsRow, RaisesTheDocumentedError) {
  const Case& c = Cases()[GetParam()];
  if (std::getenv(kChildEnv) != nullptr) {  // the child side of RunEnvChild
    const Status s = environment_status();
    std::printf("@@code=%d\n@@message=%s\n@@active=%s\n@@best=%s\n", static_cast<int>(s.code()),
                s.message().c_str(), isa_name(active_isa()), isa_name(best_isa()));
    std::fflush(stdout);
    return;
  }
  // Every available ISA (a per-ISA case), or as the process is.
  std::vector<std::pair<std::string, bool>> runs;  // (label, capped)
  if (c.per_isa) {
    for (Isa isa : available_isas()) runs.push_back({isa_name(isa), true});
  } else {
    runs.push_back({"", false});
  }
  int ran = 0;
  std::set<std::string> called;
  std::string skipped;
  for (const auto& run : runs) {
    if (run.second) {
      Isa isa;
      ASSERT_TRUE(isa_from_name(run.first, &isa));
      ASSERT_TRUE(set_max_isa(isa).ok());
      if (active_isa() != isa) continue;  // excluded by QKERN_MAX_ISA
    }
    Recorder r;
    c.run(r);
    if (run.second) reset_max_isa();
    if (HasFatalFailure()) return;
    if (!r.skipped.empty()) {
      skipped = r.skipped;
      continue;
    }
    ++ran;
    const std::string where = run.first.empty() ? "" : " [" + run.first + "]";
    EXPECT_FALSE(r.calls.empty()) << c.id << where << ": the case made no call";
    for (const Recorder::Call& call : r.calls) {
      called.insert(call.function);
      const std::string what = c.id + " " + call.function + where + ": " + call.status.to_string();
      EXPECT_EQ(call.status.code(), c.code)
          << what << "\n  expected code " << status_code_name(c.code);
      EXPECT_TRUE(MatchesTemplate(call.status.message(), c.tmpl))
          << what << "\n  expected template: " << c.tmpl;
      EXPECT_TRUE(call.untouched) << what << "\n  an output was written";
    }
  }
  if (ran == 0) {
    if (!skipped.empty()) GTEST_SKIP() << c.id << ": " << skipped;
    GTEST_SKIP() << c.id << ": no ISA could be selected (QKERN_MAX_ISA?)";
  }
  const std::set<std::string> declared(c.functions.begin(), c.functions.end());
  EXPECT_EQ(called, declared) << c.id << ": the calls made and the row's functions differ";
}

INSTANTIATE_TEST_SUITE_P(Errors, ErrorsRow, ::testing::Range<size_t>(0, Cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return TestName(Cases()[info.param].id);
                         });

// ---------------------------------------------------------------------------
// docs/errors.md against the cases.

std::string ReadDoc() {
  const std::string path = std::string(QKERN_DOCS_DIR) + "/errors.md";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The cells of a markdown table row ("| a | b |" -> {"a", "b"}); "\|" is a literal '|'.
std::vector<std::string> Cells(const std::string& line) {
  std::vector<std::string> cells;
  std::string cur;
  bool started = false;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '|') {
      cur += '|';
      ++i;
    } else if (line[i] == '|') {
      if (started) cells.push_back(cur);
      started = true;
      cur.clear();
    } else {
      cur += line[i];
    }
  }
  for (std::string& c : cells) {
    const size_t b = c.find_first_not_of(' '), e = c.find_last_not_of(' ');
    c = b == std::string::npos ? "" : c.substr(b, e - b + 1);
  }
  return cells;
}

// The `...` spans of a cell.
std::vector<std::string> CodeSpans(const std::string& cell) {
  std::vector<std::string> spans;
  for (size_t i = cell.find('`'); i != std::string::npos;) {
    const size_t j = cell.find('`', i + 1);
    if (j == std::string::npos) break;
    spans.push_back(cell.substr(i + 1, j - i - 1));
    i = cell.find('`', j + 1);
  }
  return spans;
}

struct DocRow {
  std::string id, argument, code, message;
  std::vector<std::string> functions;
};

// Rows of the per-family tables: | ID | Function | Argument | Condition | Code | Message |.
std::vector<DocRow> DocRows(const std::string& doc) {
  std::vector<DocRow> rows;
  std::istringstream in(doc);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("| E-", 0) != 0) continue;
    const std::vector<std::string> cells = Cells(line);
    EXPECT_EQ(cells.size(), 6u) << "a row needs 6 cells: " << line;
    if (cells.size() != 6) continue;
    DocRow r;
    r.id = cells[0];
    r.functions = CodeSpans(cells[1]);
    const std::vector<std::string> arg = CodeSpans(cells[2]);
    r.argument = arg.empty() ? "" : arg[0];
    const std::vector<std::string> code = CodeSpans(cells[4]);
    r.code = code.size() == 1 ? code[0] : "";
    const std::string& m = cells[5];
    EXPECT_TRUE(m.size() >= 2 && m.front() == '`' && m.back() == '`')
        << "the message is one `code span`: " << line;
    r.message = m.size() >= 2 ? m.substr(1, m.size() - 2) : m;
    rows.push_back(r);
  }
  return rows;
}

std::string CodeName(StatusCode c) {
  switch (c) {
    case StatusCode::kOk:
      return "kOk";
    case StatusCode::kInvalidArgument:
      return "kInvalidArgument";
    case StatusCode::kOutOfRange:
      return "kOutOfRange";
    case StatusCode::kOverflow:
      return "kOverflow";
    case StatusCode::kUnsupported:
      return "kUnsupported";
    case StatusCode::kOutOfMemory:
      return "kOutOfMemory";
    case StatusCode::kInternal:
      return "kInternal";
  }
  return "?";
}

TEST(ErrorsDoc, EveryRowHasACaseAndEveryCaseARow) {
  const std::vector<DocRow> rows = DocRows(ReadDoc());
  ASSERT_FALSE(rows.empty()) << "no rows found in docs/errors.md";
  std::map<std::string, const Case*> cases;
  for (const Case& c : Cases()) {
    EXPECT_TRUE(cases.emplace(c.id, &c).second) << "two cases have ID " << c.id;
  }
  std::set<std::string> seen;
  for (const DocRow& row : rows) {
    EXPECT_TRUE(seen.insert(row.id).second) << "two rows have ID " << row.id;
    auto it = cases.find(row.id);
    if (it == cases.end()) {
      ADD_FAILURE() << row.id << ": the row has no test case";
      continue;
    }
    const Case& c = *it->second;
    EXPECT_EQ(row.code, CodeName(c.code)) << row.id << ": the row's code differs from the case's";
    EXPECT_EQ(row.message, c.tmpl)
        << row.id << ": the row's message template differs from the case's";
    EXPECT_EQ(std::set<std::string>(row.functions.begin(), row.functions.end()),
              std::set<std::string>(c.functions.begin(), c.functions.end()))
        << row.id << ": the row's functions differ from the case's";
    // The message names the argument first, then ':' or '[' (allocation
    // failures name what was allocated instead).
    if (c.code != StatusCode::kOutOfMemory) {
      const bool names =
          !row.argument.empty() && row.message.rfind(row.argument, 0) == 0 &&
          row.message.size() > row.argument.size() &&
          (row.message[row.argument.size()] == ':' || row.message[row.argument.size()] == '[');
      EXPECT_TRUE(names) << row.id << ": the message does not start with the row's argument `"
                         << row.argument << "`";
    }
  }
  for (const Case& c : Cases()) {
    EXPECT_TRUE(seen.count(c.id)) << c.id << ": the case has no row in docs/errors.md";
  }
}

TEST(ErrorsDoc, StatusCodeTableMatchesTheLibrary) {
  struct Code {
    StatusCode code;
    const char* c_name;
    int c_value;
  };
  const Code kCodes[] = {
#ifdef QKERN_ERRORS_HAVE_C_ABI
      {StatusCode::kOk, "QKERN_OK", QKERN_OK},
      {StatusCode::kInvalidArgument, "QKERN_INVALID_ARGUMENT", QKERN_INVALID_ARGUMENT},
      {StatusCode::kOutOfRange, "QKERN_OUT_OF_RANGE", QKERN_OUT_OF_RANGE},
      {StatusCode::kOverflow, "QKERN_OVERFLOW", QKERN_OVERFLOW},
      {StatusCode::kUnsupported, "QKERN_UNSUPPORTED", QKERN_UNSUPPORTED},
      {StatusCode::kOutOfMemory, "QKERN_OUT_OF_MEMORY", QKERN_OUT_OF_MEMORY},
      {StatusCode::kInternal, "QKERN_INTERNAL", QKERN_INTERNAL},
#else
      {StatusCode::kOk, "QKERN_OK", 0},
      {StatusCode::kInvalidArgument, "QKERN_INVALID_ARGUMENT", 1},
      {StatusCode::kOutOfRange, "QKERN_OUT_OF_RANGE", 2},
      {StatusCode::kOverflow, "QKERN_OVERFLOW", 3},
      {StatusCode::kUnsupported, "QKERN_UNSUPPORTED", 4},
      {StatusCode::kOutOfMemory, "QKERN_OUT_OF_MEMORY", 5},
      {StatusCode::kInternal, "QKERN_INTERNAL", 6},
#endif
  };
  // Section "## 1. Status codes": | `kName` | `name_string` | value | `QKERN_NAME` | what raises it
  // |
  std::map<std::string, std::vector<std::string>> table;
  std::istringstream in(ReadDoc());
  std::string line;
  bool in_section = false;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) in_section = line.rfind("## 1. Status codes", 0) == 0;
    if (!in_section || line.rfind("| `k", 0) != 0) continue;
    const std::vector<std::string> cells = Cells(line);
    ASSERT_GE(cells.size(), 5u) << line;
    table[CodeSpans(cells[0]).at(0)] = cells;
  }
  EXPECT_EQ(table.size(), std::size(kCodes)) << "the status code table has a row per code";
  for (const Code& k : kCodes) {
    const std::string name = CodeName(k.code);
    auto it = table.find(name);
    if (it == table.end()) {
      ADD_FAILURE() << name << ": missing from the status code table";
      continue;
    }
    const std::vector<std::string>& cells = it->second;
    EXPECT_EQ(CodeSpans(cells[1]).at(0), status_code_name(k.code)) << name;
    EXPECT_EQ(cells[2], std::to_string(static_cast<int>(k.code))) << name;
    EXPECT_EQ(CodeSpans(cells[3]).at(0), k.c_name) << name;
    EXPECT_EQ(k.c_value, static_cast<int>(k.code))
        << name << ": the C ABI's value differs from the C++ enum's";
  }
  EXPECT_STREQ(status_code_name(static_cast<StatusCode>(42)), "unknown");
  EXPECT_EQ(Status(StatusCode::kOutOfRange, "scale[3]: x").to_string(),
            "out_of_range: scale[3]: x");
  EXPECT_EQ(Status().to_string(), "ok");
}

// The template matcher itself: placeholders match anything, the rest is literal.
TEST(ErrorsDoc, TemplatesAreLiteralOutsidePlaceholders) {
  EXPECT_TRUE(MatchesTemplate("scale[3]: must be finite and > 0 (got -1)",
                              "scale[<i>]: must be finite and > 0 (got <v>)"));
  EXPECT_FALSE(MatchesTemplate("scale[3]: must be finite and >= 0 (got -1)",
                               "scale[<i>]: must be finite and > 0 (got <v>)"));
  EXPECT_FALSE(MatchesTemplate("xscale[3]: must be finite and > 0 (got -1)",
                               "scale[<i>]: must be finite and > 0 (got <v>)"));
  EXPECT_FALSE(MatchesTemplate("scale[3]: must be finite and > 0 (got -1) ",
                               "scale[<i>]: must be finite and > 0 (got <v>)"));
  EXPECT_TRUE(
      MatchesTemplate("labels[4]: must be < 4 (got 9)", "labels[<i>]: must be < <k> (got <v>)"));
  EXPECT_TRUE(MatchesTemplate("c[2]: sorted (2 > 1)", "c[<i>]: sorted (<a> > <b>)"));
  EXPECT_FALSE(MatchesTemplate("a.b", "a*b"));
  EXPECT_FALSE(MatchesTemplate("axb", "a.b"));
}

}  // namespace
}  // namespace qkern
