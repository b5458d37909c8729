// tests/quantize_test.cc: every quantize-family op, on every ISA, against the
// reference (reference/quantize_ref.h): integer outputs byte for byte,
// elementwise float outputs bit for bit, gradient sums within the reordering
// bound of docs/semantics.md.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "qkern/quantize.hpp"
#include "reference/quantize_ref.h"
#include "tests/test_util.h"

namespace qkern {
namespace {

using test::IsaTest;
using test::SameFloat;
using test::TestSizes;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// The [outer][C][inner] view, computed here independently of the library's
// own (kernels/common/validate.cc) so that a bug there cannot hide itself.
ref::Layout LayoutOf(const Dims& dims, int axis) {
  int64_t numel = 1;
  for (int i = 0; i < dims.rank; ++i) numel *= dims.d[i];
  ref::Layout l;
  if (axis < 0) {
    l.inner = numel;
    return l;
  }
  for (int i = 0; i < axis; ++i) l.outer *= dims.d[i];
  l.channels = dims.d[axis];
  for (int i = axis + 1; i < dims.rank; ++i) l.inner *= dims.d[i];
  return l;
}

// Data for scale s and codes [qmin, qmax] around zero point zp: uniform values
// a little beyond the code range, exact ties (k + 0.5) * s, and the special
// values of the issue (NaN, +-Inf, +-FLT_MAX, denormals, -0).
std::vector<float> MakeData(int64_t n, float s, int32_t zp, int32_t qmin, int32_t qmax,
                            uint32_t seed) {
  std::mt19937 rng(seed);
  const float lo = static_cast<float>(qmin - zp - 8), hi = static_cast<float>(qmax - zp + 8);
  std::uniform_real_distribution<float> uni(lo, hi);
  std::uniform_int_distribution<int> kind(0, 15), tie(static_cast<int>(lo), static_cast<int>(hi));
  const float specials[] = {kNaN,     kInf,    -kInf,   FLT_MAX, -FLT_MAX, 1e30f, -1e30f,
                            1e-40f,   -1e-40f, 1.4e-45f, 0.0f,    -0.0f,    FLT_MIN, -FLT_MIN};
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) {
    const int k = kind(rng);
    if (k < 9) {
      v = uni(rng) * s;
    } else if (k < 14) {
      v = (static_cast<float>(tie(rng)) + 0.5f) * s;  // exact for power-of-two s
    } else {
      v = specials[rng() % (sizeof(specials) / sizeof(specials[0]))];
    }
  }
  return x;
}

std::vector<QuantRange> AllRanges() {
  std::vector<QuantRange> out;
  for (int bits = 2; bits <= 8; ++bits) {
    out.push_back({bits, false, false});
    out.push_back({bits, true, false});
    out.push_back({bits, true, true});
  }
  return out;
}

// Per-tensor, channel-first, channel-last, long inner rows and rows that span
// the driver's 4096-column chunks (a channel straddling a chunk boundary).
const std::vector<std::vector<int64_t>> kPerChannelShapes = {
    {70001}, {3, 5, 7}, {2, 300}, {4, 3, 100}, {3, 200, 30}};

const float kScales[] = {1.0f,    0.5f,   0.0078125f, 0.1f,    3.7f,    1e-3f,
                         FLT_MIN, 2e-38f, 1.4e-45f,   FLT_MAX, 1e38f,   0.0392157f};

// ----------------------------------------------------------------- quantize

class QuantizeTest : public IsaTest {
 protected:
  // Runs quantize and the reference on the same inputs and compares bytes.
  void Check(const std::vector<float>& xs, size_t offset, const Dims& dims, const QuantParams& p,
             QuantizeMode mode) {
    const ref::Layout l = LayoutOf(dims, p.axis);
    const size_t n = static_cast<size_t>(l.numel());
    std::vector<uint8_t> got(n + offset + 1, 0xA5), want(n, 0);
    const float* x = xs.data() + offset;
    ASSERT_TRUE(quantize(x, dims, p, got.data() + offset, mode).ok());
    ref::quantize(x, l, p.scale, p.zero_point, p.range, mode, want.data());
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(got[offset + i], want[i])
          << "i=" << i << " x=" << x[i] << " scale=" << p.scale[(i / l.inner) % l.channels]
          << " bits=" << p.range.bits << " signed=" << p.range.is_signed
          << " mode=" << static_cast<int>(mode) << " n=" << n;
    }
    EXPECT_EQ(got[offset + n], 0xA5) << "wrote past the end";
    for (size_t i = 0; i < offset; ++i) EXPECT_EQ(got[i], 0xA5) << "wrote before the start";
  }
};

TEST_P(QuantizeTest, PerTensorSizesAndOffsets) {
  for (bool is_signed : {false, true}) {
    const QuantRange r{8, is_signed, false};
    const float scale = 0.0625f;
    const int32_t zp = is_signed ? -3 : 131;
    const QuantParams p{r, &scale, &zp, -1};
    for (int64_t n : TestSizes()) {
      for (size_t offset : {0, 1, 3}) {
        const auto x = MakeData(n + 3, scale, zp, qmin(r), qmax(r), static_cast<uint32_t>(n));
        for (auto mode : {QuantizeMode::kMultiply, QuantizeMode::kDivide}) {
          Check(x, offset, Dims(n), p, mode);
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST_P(QuantizeTest, EveryRangeScaleAndZeroPoint) {
  for (const QuantRange& r : AllRanges()) {
    for (float scale : kScales) {
      for (int32_t zp : {qmin(r), qmax(r), (qmin(r) + qmax(r)) / 2}) {
        const QuantParams p{r, &scale, &zp, -1};
        const auto x = MakeData(257, scale, zp, qmin(r), qmax(r), static_cast<uint32_t>(zp + 7));
        for (auto mode : {QuantizeMode::kMultiply, QuantizeMode::kDivide}) {
          Check(x, 0, Dims(257), p, mode);
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST_P(QuantizeTest, TiesRoundToEven) {
  // x * inv lands exactly on k + 0.5: codes must round to the even neighbour.
  const QuantRange r{8, true, false};
  const float scale = 0.25f;
  const int32_t zp = 0;
  const QuantParams p{r, &scale, &zp, -1};
  std::vector<float> x;
  for (int k = -40; k < 40; ++k) x.push_back((k + 0.5f) * scale);
  std::vector<int8_t> y(x.size());
  ASSERT_TRUE(quantize(x.data(), Dims(static_cast<int64_t>(x.size())), p, y.data()).ok());
  for (size_t i = 0; i < x.size(); ++i) {
    const int k = static_cast<int>(i) - 40;
    const int even = (k % 2 == 0) ? k : k + 1;  // k + 0.5 rounds to k or k + 1, whichever is even
    ASSERT_EQ(y[i], even) << "x=" << x[i];
  }
}

TEST_P(QuantizeTest, SpecialValues) {
  const QuantRange r{8, false, false};
  const float scale = 0.5f;
  const int32_t zp = 10;
  const QuantParams p{r, &scale, &zp, -1};
  const float x[] = {kNaN, kInf, -kInf, FLT_MAX, -FLT_MAX, -0.0f, 1e-40f, 2.75f, -2.75f};
  const uint8_t want[] = {10, 255, 0, 255, 0, 10, 10, 16, 4};  // 2.75*2 = 5.5 -> 6; -5.5 -> -6
  uint8_t y[9];
  for (auto mode : {QuantizeMode::kMultiply, QuantizeMode::kDivide}) {
    ASSERT_TRUE(quantize(x, Dims(9), p, y, mode).ok());
    for (int i = 0; i < 9; ++i) EXPECT_EQ(y[i], want[i]) << "x=" << x[i];
  }
}

TEST_P(QuantizeTest, PerChannelEveryAxis) {
  std::mt19937 rng(7);
  const std::vector<std::vector<int64_t>> shapes = {
      {3, 5, 7}, {2, 300}, {4, 3, 100}, {2, 17, 70}, {1, 1, 1}, {5, 1, 9}, {6, 0, 4}, {33, 64},
      {3, 200, 30}, {2, 5000}};
  for (const auto& shape : shapes) {
    const Dims dims = test::DimsOf(shape);
    for (int axis = 0; axis < dims.rank; ++axis) {
      for (bool is_signed : {false, true}) {
        const QuantRange r{is_signed ? 7 : 8, is_signed, false};
        const int64_t c = dims.d[axis];
        std::vector<float> scales(static_cast<size_t>(c));
        std::vector<int32_t> zps(static_cast<size_t>(c));
        std::uniform_int_distribution<int32_t> zd(qmin(r), qmax(r));
        for (int64_t i = 0; i < c; ++i) {
          scales[i] = kScales[rng() % 8];
          zps[i] = zd(rng);
        }
        const QuantParams p{r, scales.data(), zps.data(), axis};
        const ref::Layout l = LayoutOf(dims, axis);
        // Data spanning the largest scale's range, so every channel sees
        // in-range values, ties and saturation.
        const auto x = MakeData(l.numel() + 1, 3.7f, 0, qmin(r), qmax(r), 11);
        for (auto mode : {QuantizeMode::kMultiply, QuantizeMode::kDivide}) {
          Check(x, 1, dims, p, mode);
          if (HasFatalFailure()) return;
        }
        // A null zero point means all zero.
        const QuantParams p0{r, scales.data(), nullptr, axis};
        Check(x, 0, dims, p0, QuantizeMode::kMultiply);
        if (HasFatalFailure()) return;
      }
    }
  }
}

// Rows of >= 16 MiB of traffic take the streaming path (non-temporal stores
// from an aligned start); odd offsets exercise its unaligned head.
TEST_P(QuantizeTest, StreamingRowsBeyondTheCaches) {
  const int64_t n = (int64_t{16} << 20) / 5 + 1237;
  for (bool is_signed : {false, true}) {
    const QuantRange r{8, is_signed, false};
    const float scale = 0.03125f;
    const int32_t zp = is_signed ? 5 : 120;
    const QuantParams p{r, &scale, &zp, -1};
    const auto x = MakeData(n + 7, scale, zp, qmin(r), qmax(r), 99);
    for (size_t offset : {0, 7}) {
      Check(x, offset, Dims(n), p, QuantizeMode::kMultiply);
      if (HasFatalFailure()) return;
    }
  }
}

QKERN_INSTANTIATE_ISA_TEST(QuantizeTest);

// --------------------------------------------------------------- dequantize

class DequantizeTest : public IsaTest {};

TEST_P(DequantizeTest, MatchesReferenceBitForBit) {
  std::mt19937 rng(3);
  const auto& shapes = kPerChannelShapes;
  for (const QuantRange& r : AllRanges()) {
    for (const auto& shape : shapes) {
      const Dims dims = test::DimsOf(shape);
      for (int axis = -1; axis < dims.rank; ++axis) {
        const ref::Layout l = LayoutOf(dims, axis);
        const int64_t c = axis < 0 ? 1 : dims.d[axis];
        std::vector<float> scales(static_cast<size_t>(c));
        std::vector<int32_t> zps(static_cast<size_t>(c));
        std::uniform_int_distribution<int32_t> zd(qmin(r), qmax(r)), qd(qmin(r), qmax(r));
        for (int64_t i = 0; i < c; ++i) {
          scales[i] = kScales[rng() % 12];
          zps[i] = zd(rng);
        }
        const QuantParams p{r, scales.data(), zps.data(), axis};
        std::vector<uint8_t> q(static_cast<size_t>(l.numel()) + 1);
        for (auto& v : q) v = static_cast<uint8_t>(qd(rng));  // the low byte of a valid code
        std::vector<float> got(q.size(), -1.0f), want(static_cast<size_t>(l.numel()));
        ASSERT_TRUE(dequantize(q.data() + 1, dims, p, got.data()).ok());
        ref::dequantize(q.data() + 1, l, scales.data(), zps.data(), r, want.data());
        for (size_t i = 0; i < want.size(); ++i) {
          ASSERT_TRUE(SameFloat(got[i], want[i]))
              << "i=" << i << " got=" << got[i] << " want=" << want[i] << " axis=" << axis;
        }
        ASSERT_EQ(got[want.size()], -1.0f) << "wrote past the end";
      }
    }
  }
}

QKERN_INSTANTIATE_ISA_TEST(DequantizeTest);

// --------------------------------------------------------------- requantize

class RequantizeTest : public IsaTest {
 protected:
  // int32 accumulators: random over the whole range, small values, and the extremes.
  static std::vector<int32_t> Accumulators(int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<int32_t> acc(static_cast<size_t>(n));
    const int32_t specials[] = {INT32_MIN, INT32_MAX, 0, -1, 1, INT32_MIN + 1, 1 << 30, -(1 << 30)};
    for (auto& v : acc) {
      switch (rng() % 4) {
        case 0: v = static_cast<int32_t>(rng()); break;
        case 1: v = static_cast<int32_t>(rng() % 20001) - 10000; break;
        case 2: v = static_cast<int32_t>(rng() % 2000001) - 1000000; break;
        default: v = specials[rng() % 8];
      }
    }
    return acc;
  }

  void Check(const std::vector<int32_t>& acc, const Dims& dims, const RequantParams& p) {
    const ref::Layout l = LayoutOf(dims, p.axis);
    const size_t n = static_cast<size_t>(l.numel());
    std::vector<uint8_t> got(n + 1, 0xA5), want(n);
    ASSERT_TRUE(requantize(acc.data(), dims, p, got.data()).ok());
    ref::requantize(acc.data(), l, p, want.data());
    for (size_t i = 0; i < n; ++i) {
      const int64_t c = (static_cast<int64_t>(i) / l.inner) % l.channels;
      ASSERT_EQ(got[i], want[i]) << "i=" << i << " acc=" << acc[i] << " scheme="
                                 << static_cast<int>(p.scheme) << " c=" << c;
    }
    ASSERT_EQ(got[n], 0xA5) << "wrote past the end";
  }
};

TEST_P(RequantizeTest, Fp32Scheme) {
  std::mt19937 rng(5);
  const float multipliers[] = {1.0f, 0.5f, 3.1e-5f, 1e-3f, 0.0117f, 2.5f, 1e-9f, 1e30f};
  for (bool is_signed : {false, true}) {
    for (int64_t n : TestSizes()) {
      const auto acc = Accumulators(n, static_cast<uint32_t>(n));
      RequantParams p;
      p.scheme = RequantScheme::kFp32;
      p.range = {8, is_signed, false};
      const float m = multipliers[rng() % 8];
      p.multiplier = &m;
      p.zero_point = is_signed ? -5 : 128;
      Check(acc, Dims(n), p);
      if (HasFatalFailure()) return;
      p.lo = is_signed ? -5 : 128;  // fused ReLU
      p.hi = is_signed ? 20 : 200;  // and a ReLU6-like cap
      Check(acc, Dims(n), p);
      if (HasFatalFailure()) return;
    }
  }
  // Per channel, along the last axis (channel-last) and the first.
  for (int axis : {0, 1}) {
    const Dims dims{37, 70};
    std::vector<float> m(static_cast<size_t>(dims.d[axis]));
    for (auto& v : m) v = multipliers[rng() % 7];
    RequantParams p;
    p.range = {8, false, false};
    p.multiplier = m.data();
    p.axis = axis;
    p.zero_point = 3;
    Check(Accumulators(37 * 70, 9), dims, p);
    if (HasFatalFailure()) return;
  }
}

TEST_P(RequantizeTest, FixedPointScheme) {
  std::mt19937 rng(6);
  for (bool is_signed : {false, true}) {
    for (int64_t n : TestSizes()) {
      const auto acc = Accumulators(n, static_cast<uint32_t>(n) + 100);
      RequantParams p;
      p.scheme = RequantScheme::kFixedPoint;
      p.range = {8, is_signed, false};
      const int32_t qm = static_cast<int32_t>((1u << 30) + rng() % (1u << 30));
      const int32_t shift = static_cast<int32_t>(rng() % 62) - 31;  // [-31, 30]
      p.fixed_multiplier = &qm;
      p.shift = &shift;
      p.zero_point = is_signed ? 7 : 100;
      Check(acc, Dims(n), p);
      if (HasFatalFailure()) return;
    }
  }
  // Per channel with every shift and extreme multipliers, both axes.
  for (int axis : {0, 1}) {
    const Dims dims{62, 67};
    const int64_t c = dims.d[axis];
    std::vector<int32_t> qm(static_cast<size_t>(c)), shift(static_cast<size_t>(c));
    for (int64_t i = 0; i < c; ++i) {
      shift[i] = static_cast<int32_t>(i % 62) - 31;
      const int32_t extremes[] = {1, INT32_MAX, 1 << 30, static_cast<int32_t>(rng() | 1)};
      qm[i] = std::max<int32_t>(1, std::abs(extremes[rng() % 4]));
    }
    RequantParams p;
    p.scheme = RequantScheme::kFixedPoint;
    p.range = {8, true, false};
    p.fixed_multiplier = qm.data();
    p.shift = shift.data();
    p.axis = axis;
    p.lo = -100;
    Check(Accumulators(62 * 67, 13), dims, p);
    if (HasFatalFailure()) return;
  }
}

TEST_P(RequantizeTest, StreamingRowsBeyondTheCaches) {
  const int64_t n = (int64_t{16} << 20) / 5 + 999;
  const auto acc = Accumulators(n, 17);
  RequantParams p;
  const float m = 1.3e-4f;
  p.multiplier = &m;
  p.range = {8, true, false};
  Check(acc, Dims(n), p);
  if (HasFatalFailure()) return;
  int32_t qm = 1518500250, shift = -13;
  p.scheme = RequantScheme::kFixedPoint;
  p.fixed_multiplier = &qm;
  p.shift = &shift;
  p.range = {8, false, false};
  p.zero_point = 128;
  Check(acc, Dims(n), p);
}

QKERN_INSTANTIATE_ISA_TEST(RequantizeTest);

// The reference's fixed-point arithmetic on values worked out by hand.
TEST(RequantizeReference, MultiplyByQuantizedMultiplierKnownValues) {
  // qm = 2^30 is 0.5: 100 * 0.5 = 50; 101 * 0.5 = 50.5 rounds up; -101 * 0.5 = -50.5
  // is a tie that gemmlowp's nudge sends towards zero (+inf).
  EXPECT_EQ(ref::multiply_by_quantized_multiplier(100, 1 << 30, 0), 50);
  EXPECT_EQ(ref::multiply_by_quantized_multiplier(101, 1 << 30, 0), 51);
  EXPECT_EQ(ref::multiply_by_quantized_multiplier(-101, 1 << 30, 0), -50);
  // A right shift of 2 rounds half away from zero: 100 * 0.5 / 4 = 12.5 -> 13.
  EXPECT_EQ(ref::multiply_by_quantized_multiplier(100, 1 << 30, -2), 13);
  EXPECT_EQ(ref::multiply_by_quantized_multiplier(-100, 1 << 30, -2), -13);
  // A left shift saturates: INT32_MAX * 2 -> INT32_MAX before the multiply.
  EXPECT_EQ(ref::multiply_by_quantized_multiplier(INT32_MAX, 1 << 30, 1), (INT32_MAX / 2) + 1);
  EXPECT_EQ(ref::multiply_by_quantized_multiplier(7, INT32_MAX, 0), 7);
}

TEST(RequantizeReference, QuantizeMultiplierRoundTrips) {
  int32_t q = 0, shift = 0;
  ASSERT_TRUE(quantize_multiplier(0.5, &q, &shift).ok());
  EXPECT_EQ(q, 1 << 30);
  EXPECT_EQ(shift, 0);
  ASSERT_TRUE(quantize_multiplier(0.375, &q, &shift).ok());  // 0.75 * 2^-1
  EXPECT_EQ(q, 3 << 29);
  EXPECT_EQ(shift, -1);
  ASSERT_TRUE(quantize_multiplier(3.0, &q, &shift).ok());  // 0.75 * 2^2
  EXPECT_EQ(q, 3 << 29);
  EXPECT_EQ(shift, 2);
  for (double real : {1e-6, 0.0123456, 0.999999999, 1.0, 17.25}) {
    ASSERT_TRUE(quantize_multiplier(real, &q, &shift).ok());
    EXPECT_NEAR(q * std::ldexp(1.0, shift - 31), real, real * 1e-9);
  }
  EXPECT_FALSE(quantize_multiplier(0.0, &q, &shift).ok());
  EXPECT_FALSE(quantize_multiplier(-1.0, &q, &shift).ok());
  EXPECT_FALSE(quantize_multiplier(1e-30, &q, &shift).ok());
  EXPECT_FALSE(quantize_multiplier(std::nan(""), &q, &shift).ok());
}

// ----------------------------------------------------------- choose_qparams

class ChooseQParamsTest : public IsaTest {};

TEST_P(ChooseQParamsTest, MatchesReference) {
  std::mt19937 rng(21);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  const std::vector<std::vector<int64_t>> shapes = {{70001}, {3, 5, 7}, {2, 300}, {4, 3, 100},
                                                    {1}, {9, 1}, {2, 17, 70}, {3, 200, 30}};
  for (const auto& shape : shapes) {
    const Dims dims = test::DimsOf(shape);
    const ref::Layout whole = LayoutOf(dims, -1);
    std::vector<float> x(static_cast<size_t>(whole.numel()));
    for (auto& v : x) v = nd(rng) + (rng() % 3 == 0 ? 3.0f : 0.0f);
    for (int axis = -1; axis < dims.rank; ++axis) {
      const ref::Layout l = LayoutOf(dims, axis);
      const size_t c = static_cast<size_t>(l.channels);
      for (const QuantRange& r : AllRanges()) {
        for (auto mode : {QParamsMode::kAsymmetric, QParamsMode::kSymmetric}) {
          std::vector<float> s(c), mn(c), mx(c), want_s(c);
          std::vector<int32_t> z(c), want_z(c);
          ASSERT_TRUE(choose_qparams(x.data(), dims, r, mode, axis, s.data(), z.data()).ok());
          ASSERT_TRUE(ref::minmax(x.data(), l, mn.data(), mx.data()));
          for (size_t i = 0; i < c; ++i) {
            ref::qparams_from_minmax(mn[i], mx[i], r, mode, &want_s[i], &want_z[i]);
            ASSERT_TRUE(SameFloat(s[i], want_s[i])) << "channel " << i << " axis " << axis;
            ASSERT_EQ(z[i], want_z[i]) << "channel " << i << " axis " << axis;
          }
        }
      }
    }
  }
}

TEST_P(ChooseQParamsTest, KnownValues) {
  const float x[] = {-1.0f, 0.25f, 1.0f};
  float s;
  int32_t z;
  ASSERT_TRUE(choose_qparams(x, Dims(3), {8, false, false}, QParamsMode::kAsymmetric, -1, &s, &z).ok());
  EXPECT_EQ(s, 2.0f / 255.0f);
  // In exact arithmetic 1 / (2/255) = 127.5, but fp32 2/255 rounds up, so
  // 1 / S = 127.49999 and rne gives 127 (as PyTorch's MinMaxObserver does).
  EXPECT_EQ(z, 127);
  ASSERT_TRUE(choose_qparams(x, Dims(3), {8, true, false}, QParamsMode::kSymmetric, -1, &s, &z).ok());
  EXPECT_EQ(s, 1.0f / 127.0f);
  EXPECT_EQ(z, 0);
  ASSERT_TRUE(choose_qparams(x, Dims(3), {8, false, false}, QParamsMode::kSymmetric, -1, &s, &z).ok());
  EXPECT_EQ(s, 1.0f / 127.0f);
  EXPECT_EQ(z, 128);
  // Positive-only data still includes 0 in the range.
  const float pos[] = {2.0f, 4.0f};
  ASSERT_TRUE(choose_qparams(pos, Dims(2), {8, false, false}, QParamsMode::kAsymmetric, -1, &s, &z).ok());
  EXPECT_EQ(s, 4.0f / 255.0f);
  EXPECT_EQ(z, 0);
  // All zero: the documented floor.
  const float zeros[] = {0.0f, -0.0f, 0.0f};
  ASSERT_TRUE(choose_qparams(zeros, Dims(3), {8, true, false}, QParamsMode::kAsymmetric, -1, &s, &z).ok());
  EXPECT_EQ(s, kMinScale);
  EXPECT_EQ(z, -128);
}

TEST_P(ChooseQParamsTest, NonFiniteDataIsAnErrorAndWritesNothing) {
  for (float bad : {kNaN, kInf, -kInf}) {
    std::vector<float> x(100, 1.0f);
    x[77] = bad;
    float s = -7.0f;
    int32_t z = -7;
    const Status st =
        choose_qparams(x.data(), Dims(100), {8, false, false}, QParamsMode::kAsymmetric, -1, &s, &z);
    EXPECT_EQ(st.code(), StatusCode::kOutOfRange);
    EXPECT_NE(st.message().find("x:"), std::string::npos) << st.message();
    EXPECT_EQ(s, -7.0f);
    EXPECT_EQ(z, -7);
  }
  const float wide[] = {-FLT_MAX, FLT_MAX};
  float s = -7.0f;
  int32_t z = -7;
  EXPECT_EQ(choose_qparams(wide, Dims(2), {8, false, false}, QParamsMode::kAsymmetric, -1, &s, &z).code(),
            StatusCode::kOutOfRange);
  EXPECT_EQ(s, -7.0f);
}

QKERN_INSTANTIATE_ISA_TEST(ChooseQParamsTest);

// -------------------------------------------------------------- fake quant

class FakeQuantizeTest : public IsaTest {};

TEST_P(FakeQuantizeTest, ForwardMatchesReferenceBitForBit) {
  std::mt19937 rng(31);
  const auto& shapes = kPerChannelShapes;
  for (const QuantRange& r : AllRanges()) {
    for (const auto& shape : shapes) {
      const Dims dims = test::DimsOf(shape);
      for (int axis = -1; axis < dims.rank; ++axis) {
        const ref::Layout l = LayoutOf(dims, axis);
        std::vector<float> scales(static_cast<size_t>(l.channels));
        std::vector<int32_t> zps(scales.size());
        for (size_t i = 0; i < scales.size(); ++i) {
          scales[i] = kScales[rng() % 6];
          zps[i] = qmin(r) + static_cast<int32_t>(rng() % (qmax(r) - qmin(r) + 1));
        }
        const QuantParams p{r, scales.data(), zps.data(), axis};
        const auto x = MakeData(l.numel(), 0.5f, 0, qmin(r), qmax(r), 5);
        std::vector<float> got(x.size()), want(x.size());
        ASSERT_TRUE(fake_quantize(x.data(), dims, p, got.data()).ok());
        ref::fake_quantize(x.data(), l, scales.data(), zps.data(), r, want.data());
        for (size_t i = 0; i < x.size(); ++i) {
          ASSERT_TRUE(SameFloat(got[i], want[i])) << "i=" << i << " x=" << x[i];
        }
      }
    }
  }
}

// The per-element gradient terms, exactly as quantize.hpp writes them, summed
// in double: the exact sum of the terms and the sum of their magnitudes.
struct TermSums {
  std::vector<double> ds, ds_abs, dzp, dzp_abs;
};
TermSums ExactSums(const std::vector<float>& x, const std::vector<float>& dy, const ref::Layout& l,
                   const float* scale, const int32_t* zp, const QuantRange& r, float g) {
  TermSums t;
  const size_t c = static_cast<size_t>(l.channels);
  t.ds.assign(c, 0.0);
  t.ds_abs.assign(c, 0.0);
  t.dzp.assign(c, 0.0);
  t.dzp_abs.assign(c, 0.0);
  for (int64_t i = 0; i < l.numel(); ++i) {
    const int64_t ch = (i / l.inner) % l.channels;
    const float s = scale[ch], inv = 1.0f / s;
    const float q = ref::round_half_even(static_cast<float>(zp[ch]) + x[i] * inv);
    float ds, dzp = 0.0f;
    if (q < qmin(r)) {
      ds = dy[i] * static_cast<float>(qmin(r) - zp[ch]) * g;
      dzp = -dy[i] * s * g;
    } else if (q > qmax(r)) {
      ds = dy[i] * static_cast<float>(qmax(r) - zp[ch]) * g;
      dzp = -dy[i] * s * g;
    } else {
      ds = dy[i] * ((q - static_cast<float>(zp[ch])) * s - x[i]) * inv * g;
    }
    t.ds[ch] += ds;
    t.ds_abs[ch] += std::fabs(ds);
    t.dzp[ch] += dzp;
    t.dzp_abs[ch] += std::fabs(dzp);
  }
  return t;
}

// |fp32 sum - exact| <= gamma_n * sum |terms|, gamma_n = n u / (1 - n u), u = 2^-24:
// the bound of any summation order (docs/semantics.md).
void ExpectWithinSumBound(float got, double exact, double abs_sum, int64_t n, const char* what) {
  const double u = std::ldexp(1.0, -24);
  const double gamma = n * u / (1.0 - n * u);
  EXPECT_LE(std::fabs(static_cast<double>(got) - exact), gamma * abs_sum + 1e-30)
      << what << ": got " << got << " exact " << exact << " n " << n;
}

TEST_P(FakeQuantizeTest, BackwardMatchesReference) {
  std::mt19937 rng(41);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  // Odd zero points make rne(zp + x/s) and zp + rne(x/s) differ on ties.
  const std::vector<std::vector<int64_t>> shapes = {{70001},     {3, 5, 7}, {2, 300}, {4, 3, 100},
                                                    {1},         {3, 200, 30}, {2, 5000}};
  for (const QuantRange& r : {QuantRange{8, false, false}, QuantRange{4, true, false},
                              QuantRange{8, true, true}, QuantRange{2, true, false}}) {
    for (const auto& shape : shapes) {
      const Dims dims = test::DimsOf(shape);
      for (int axis = -1; axis < dims.rank; ++axis) {
        const ref::Layout l = LayoutOf(dims, axis);
        const size_t c = static_cast<size_t>(l.channels), n = static_cast<size_t>(l.numel());
        std::vector<float> scales(c);
        std::vector<int32_t> zps(c);
        for (size_t i = 0; i < c; ++i) {
          scales[i] = 0.05f * (1 + rng() % 7);
          zps[i] = qmin(r) + static_cast<int32_t>(rng() % (qmax(r) - qmin(r) + 1));
        }
        const QuantParams p{r, scales.data(), zps.data(), axis};
        std::vector<float> x(n), dy(n);
        for (size_t i = 0; i < n; ++i) {
          // Ties, in-range and out-of-range values in both directions.
          x[i] = (rng() % 4 == 0) ? (static_cast<int>(rng() % 41) - 20 + 0.5f) * 0.05f
                                  : nd(rng) * 6.0f;
          dy[i] = nd(rng);
        }
        const float g = 0.01f;
        std::vector<float> dx(n), ds(c, -1.0f), dzp(c, -1.0f), want_dx(n), want_ds(c), want_dzp(c);
        ASSERT_TRUE(fake_quantize_backward(x.data(), dy.data(), dims, p,
                                           {dx.data(), ds.data(), dzp.data()}, g)
                        .ok());
        ref::fake_quantize_backward(x.data(), dy.data(), l, scales.data(), zps.data(), r, g,
                                    want_dx.data(), want_ds.data(), want_dzp.data());
        for (size_t i = 0; i < n; ++i) ASSERT_TRUE(SameFloat(dx[i], want_dx[i])) << "dx i=" << i;
        const TermSums t = ExactSums(x, dy, l, scales.data(), zps.data(), r, g);
        const int64_t per_channel = l.numel() / std::max<int64_t>(1, l.channels);
        for (size_t i = 0; i < c; ++i) {
          ExpectWithinSumBound(ds[i], t.ds[i], t.ds_abs[i], per_channel, "dscale");
          ExpectWithinSumBound(dzp[i], t.dzp[i], t.dzp_abs[i], per_channel, "dzero_point");
          ExpectWithinSumBound(want_ds[i], t.ds[i], t.ds_abs[i], per_channel, "reference dscale");
        }
        if (HasFailure()) return;
      }
    }
  }
}

TEST_P(FakeQuantizeTest, BackwardKnownValues) {
  // s = 0.5, zp = 0, u8: x = 1.25 -> rne(0 + 2.5) = 2 (tie to even), inside:
  // ds = 1 * (2 * 0.5 - 1.25) * 2 = -0.5. x = 200 -> 400 > 255, above:
  // ds = 255, dzp = -0.5, dx = 0. x = -3 -> -6 < 0, below: ds = 0 - 0 = 0, dzp = -0.5.
  const float s = 0.5f;
  const int32_t zp = 0;
  const QuantParams p{{8, false, false}, &s, &zp, -1};
  const float x[] = {1.25f, 200.0f, -3.0f}, dy[] = {1.0f, 1.0f, 1.0f};
  float dx[3], ds[1], dzp[1];
  ASSERT_TRUE(fake_quantize_backward(x, dy, Dims(1), p, {dx, ds, dzp}, 1.0f).ok());
  EXPECT_EQ(dx[0], 1.0f);
  EXPECT_EQ(ds[0], -0.5f);
  EXPECT_EQ(dzp[0], 0.0f);
  ASSERT_TRUE(fake_quantize_backward(x, dy, Dims(3), p, {dx, ds, dzp}, 1.0f).ok());
  EXPECT_EQ(dx[1], 0.0f);
  EXPECT_EQ(dx[2], 0.0f);
  EXPECT_EQ(ds[0], -0.5f + 255.0f + 0.0f);
  EXPECT_EQ(dzp[0], -1.0f);
  // PyTorch's backward rounds zp + x/s, its forward x/s: with zp = 1 and
  // x/s = 2.5 the forward gives 1 + 2 = 3 but the gradient uses rne(3.5) = 4,
  // so ds = (4 - 1) * 1 - 2.5 = 0.5 (PyTorch 1.13 prints y 2, ds 0.5).
  const float s1 = 1.0f, tie = 2.5f, one = 1.0f;
  const int32_t zp1 = 1;
  const QuantParams p1{{8, false, false}, &s1, &zp1, -1};
  float y1;
  ASSERT_TRUE(fake_quantize(&tie, Dims(1), p1, &y1).ok());
  EXPECT_EQ(y1, 2.0f);
  ASSERT_TRUE(fake_quantize_backward(&tie, &one, Dims(1), p1, {dx, ds, dzp}, 1.0f).ok());
  EXPECT_EQ(ds[0], 0.5f);
  // The default gradient scale is 1 / sqrt(numel * qmax).
  ASSERT_TRUE(fake_quantize_backward(x + 1, dy + 1, Dims(1), p, {nullptr, ds, nullptr}).ok());
  EXPECT_FLOAT_EQ(ds[0], 255.0f / std::sqrt(255.0f));
}

QKERN_INSTANTIATE_ISA_TEST(FakeQuantizeTest);

}  // namespace
}  // namespace qkern
