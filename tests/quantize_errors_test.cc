// tests/quantize_errors_test.cc: bad input returns a Status whose message
// names the argument, and writes nothing to any output.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "qkern/quantize.hpp"

namespace qkern {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Inputs and sentinel-filled outputs for one call.
struct Buffers {
  std::vector<float> x = std::vector<float>(64, 0.5f);
  std::vector<float> dy = std::vector<float>(64, 1.0f);
  std::vector<int32_t> acc = std::vector<int32_t>(64, 1000);
  std::vector<uint8_t> q = std::vector<uint8_t>(64, 0xA5);
  std::vector<float> f = std::vector<float>(64, -7.0f);
  std::vector<float> f2 = std::vector<float>(64, -7.0f);
  std::vector<float> f3 = std::vector<float>(64, -7.0f);
  std::vector<int32_t> i32 = std::vector<int32_t>(64, -7);

  bool untouched() const {
    for (auto v : q) if (v != 0xA5) return false;
    for (auto v : f) if (v != -7.0f) return false;
    for (auto v : f2) if (v != -7.0f) return false;
    for (auto v : f3) if (v != -7.0f) return false;
    for (auto v : i32) if (v != -7) return false;
    return true;
  }
};

void ExpectError(const Status& s, StatusCode code, const std::string& names, const Buffers& b) {
  EXPECT_EQ(s.code(), code) << s.to_string();
  EXPECT_EQ(s.message().rfind(names, 0), 0u) << "message should start with '" << names
                                              << "': " << s.message();
  EXPECT_TRUE(b.untouched()) << "an output was written: " << s.to_string();
}

const float kScale = 0.1f;
const int32_t kZp = 3;

TEST(QuantizeErrors, NullPointersWithElements) {
  Buffers b;
  const QuantParams p{{8, false, false}, &kScale, &kZp, -1};
  ExpectError(quantize(nullptr, Dims(8), p, b.q.data()), StatusCode::kInvalidArgument, "x:", b);
  ExpectError(quantize(b.x.data(), Dims(8), p, nullptr), StatusCode::kInvalidArgument, "y:", b);
  ExpectError(dequantize(nullptr, Dims(8), p, b.f.data()), StatusCode::kInvalidArgument, "q:", b);
  ExpectError(fake_quantize(b.x.data(), Dims(8), p, nullptr), StatusCode::kInvalidArgument, "y:", b);
  ExpectError(fake_quantize_backward(b.x.data(), nullptr, Dims(8), p, {b.f.data(), nullptr, nullptr}),
              StatusCode::kInvalidArgument, "dy:", b);
  const QuantParams no_scale{{8, false, false}, nullptr, &kZp, -1};
  ExpectError(quantize(b.x.data(), Dims(8), no_scale, b.q.data()), StatusCode::kInvalidArgument,
              "params.scale:", b);
  RequantParams rp;
  ExpectError(requantize(b.acc.data(), Dims(8), rp, b.q.data()), StatusCode::kInvalidArgument,
              "params.multiplier:", b);
  rp.scheme = RequantScheme::kFixedPoint;
  ExpectError(requantize(b.acc.data(), Dims(8), rp, b.q.data()), StatusCode::kInvalidArgument,
              "params.fixed_multiplier:", b);
  ExpectError(choose_qparams(b.x.data(), Dims(8), {8, false, false}, QParamsMode::kAsymmetric, -1,
                             nullptr, b.i32.data()),
              StatusCode::kInvalidArgument, "scale:", b);
}

TEST(QuantizeErrors, NullPointersWithoutElementsAreANoOp) {
  const QuantParams p{{8, false, false}, &kScale, &kZp, -1};
  EXPECT_TRUE(quantize(nullptr, Dims(0), p, nullptr).ok());
  EXPECT_TRUE(dequantize(nullptr, Dims{4, 0}, p, nullptr).ok());
  EXPECT_TRUE(fake_quantize(nullptr, Dims(0), p, nullptr).ok());
}

TEST(QuantizeErrors, BadScales) {
  for (float bad : {0.0f, -1.0f, kNaN, kInf, -kInf, -0.0f}) {
    Buffers b;
    const QuantParams p{{8, false, false}, &bad, &kZp, -1};
    ExpectError(quantize(b.x.data(), Dims(8), p, b.q.data()), StatusCode::kOutOfRange,
                "params.scale[0]:", b);
    ExpectError(dequantize(b.q.data(), Dims(8), p, b.f.data()), StatusCode::kOutOfRange,
                "params.scale[0]:", b);
    ExpectError(fake_quantize(b.x.data(), Dims(8), p, b.f.data()), StatusCode::kOutOfRange,
                "params.scale[0]:", b);
    RequantParams rp;
    rp.multiplier = &bad;
    ExpectError(requantize(b.acc.data(), Dims(8), rp, b.q.data()), StatusCode::kOutOfRange,
                "params.multiplier[0]:", b);
  }
  // The bad value is found in any channel and named by its index.
  Buffers b;
  const float scales[4] = {0.1f, 0.2f, -0.3f, 0.4f};
  const QuantParams p{{8, false, false}, scales, nullptr, 1};
  ExpectError(quantize(b.x.data(), Dims{2, 4, 8}, p, b.q.data()), StatusCode::kOutOfRange,
              "params.scale[2]:", b);
}

TEST(QuantizeErrors, ZeroPointOutOfRange) {
  for (int32_t zp : {-1, 256}) {
    Buffers b;
    const QuantParams p{{8, false, false}, &kScale, &zp, -1};
    ExpectError(quantize(b.x.data(), Dims(8), p, b.q.data()), StatusCode::kOutOfRange,
                "params.zero_point[0]:", b);
  }
  Buffers b;
  const int32_t zp = -128;  // valid for s8, not for narrow s8
  const QuantParams p{{8, true, true}, &kScale, &zp, -1};
  ExpectError(quantize(b.x.data(), Dims(8), p, b.q.data()), StatusCode::kOutOfRange,
              "params.zero_point[0]:", b);
  const int32_t zp4 = 16;  // 4-bit unsigned codes end at 15
  const QuantParams p4{{4, false, false}, &kScale, &zp4, -1};
  ExpectError(dequantize(b.q.data(), Dims(8), p4, b.f.data()), StatusCode::kOutOfRange,
              "params.zero_point[0]:", b);
  RequantParams rp;
  rp.multiplier = &kScale;
  rp.zero_point = 300;
  ExpectError(requantize(b.acc.data(), Dims(8), rp, b.q.data()), StatusCode::kOutOfRange,
              "params.zero_point[0]:", b);
}

TEST(QuantizeErrors, BitsOutOfRange) {
  for (int bits : {0, 1, 9, 16, -3}) {
    Buffers b;
    const QuantParams p{{bits, false, false}, &kScale, nullptr, -1};
    ExpectError(quantize(b.x.data(), Dims(8), p, b.q.data()), StatusCode::kOutOfRange,
                "params.range.bits:", b);
    ExpectError(choose_qparams(b.x.data(), Dims(8), {bits, true, false}, QParamsMode::kSymmetric, -1,
                               b.f.data(), b.i32.data()),
                StatusCode::kOutOfRange, "range.bits:", b);
  }
  Buffers b;
  const QuantParams narrow_unsigned{{8, false, true}, &kScale, nullptr, -1};
  ExpectError(quantize(b.x.data(), Dims(8), narrow_unsigned, b.q.data()),
              StatusCode::kInvalidArgument, "params.range.narrow_range:", b);
}

TEST(QuantizeErrors, AxisOutOfRange) {
  for (int axis : {-2, 2, 3, 100}) {
    Buffers b;
    const float scales[8] = {0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f};
    const QuantParams p{{8, false, false}, scales, nullptr, axis};
    ExpectError(quantize(b.x.data(), Dims{4, 8}, p, b.q.data()), StatusCode::kOutOfRange,
                "params.axis:", b);
    ExpectError(choose_qparams(b.x.data(), Dims{4, 8}, {8, false, false}, QParamsMode::kAsymmetric,
                               axis, b.f.data(), b.i32.data()),
                StatusCode::kOutOfRange, "axis:", b);
  }
}

TEST(QuantizeErrors, BadDims) {
  Buffers b;
  const QuantParams p{{8, false, false}, &kScale, nullptr, -1};
  ExpectError(quantize(b.x.data(), Dims{4, -1}, p, b.q.data()), StatusCode::kInvalidArgument,
              "dims[1]:", b);
  ExpectError(quantize(b.x.data(), Dims{1, 2, 3, 4, 5, 6, 7, 8, 9}, p, b.q.data()),
              StatusCode::kInvalidArgument, "dims:", b);
  // Element counts whose byte size overflows: 2^62 floats, and a product that wraps int64.
  ExpectError(quantize(b.x.data(), Dims{int64_t{1} << 31, int64_t{1} << 31}, p, b.q.data()),
              StatusCode::kOverflow, "dims:", b);
  ExpectError(quantize(b.x.data(), Dims{int64_t{1} << 40, int64_t{1} << 40, 3}, p, b.q.data()),
              StatusCode::kOverflow, "dims:", b);
  ExpectError(dequantize(b.q.data(), Dims{INT64_MAX, 2}, p, b.f.data()), StatusCode::kOverflow,
              "dims:", b);
}

TEST(QuantizeErrors, RequantizeParameters) {
  Buffers b;
  RequantParams rp;
  rp.scheme = RequantScheme::kFixedPoint;
  int32_t qm = 0, shift = 0;
  rp.fixed_multiplier = &qm;
  rp.shift = &shift;
  ExpectError(requantize(b.acc.data(), Dims(8), rp, b.q.data()), StatusCode::kOutOfRange,
              "params.fixed_multiplier[0]:", b);
  qm = -5;
  ExpectError(requantize(b.acc.data(), Dims(8), rp, b.q.data()), StatusCode::kOutOfRange,
              "params.fixed_multiplier[0]:", b);
  qm = 1 << 30;
  for (int32_t bad : {-32, 31, 100}) {
    shift = bad;
    ExpectError(requantize(b.acc.data(), Dims(8), rp, b.q.data()), StatusCode::kOutOfRange,
                "params.shift[0]:", b);
  }
  shift = 0;
  rp.lo = 200;
  rp.hi = 100;
  ExpectError(requantize(b.acc.data(), Dims(8), rp, b.q.data()), StatusCode::kOutOfRange,
              "params.lo/hi:", b);
  rp.lo = 300;  // above qmax: the clamp leaves nothing
  rp.hi = INT32_MAX;
  ExpectError(requantize(b.acc.data(), Dims(8), rp, b.q.data()), StatusCode::kOutOfRange,
              "params.lo/hi:", b);
  rp.lo = INT32_MIN;
  rp.scheme = static_cast<RequantScheme>(9);
  ExpectError(requantize(b.acc.data(), Dims(8), rp, b.q.data()), StatusCode::kInvalidArgument,
              "params.scheme:", b);
}

TEST(QuantizeErrors, EnumsAndGradScale) {
  Buffers b;
  const QuantParams p{{8, false, false}, &kScale, nullptr, -1};
  ExpectError(quantize(b.x.data(), Dims(8), p, b.q.data(), static_cast<QuantizeMode>(5)),
              StatusCode::kInvalidArgument, "mode:", b);
  ExpectError(choose_qparams(b.x.data(), Dims(8), {8, false, false}, static_cast<QParamsMode>(5), -1,
                             b.f.data(), b.i32.data()),
              StatusCode::kInvalidArgument, "mode:", b);
  ExpectError(fake_quantize_backward(b.x.data(), b.dy.data(), Dims(8), p,
                                     {b.f.data(), b.f2.data(), b.f3.data()}, kNaN),
              StatusCode::kOutOfRange, "grad_scale:", b);
}

}  // namespace
}  // namespace qkern
