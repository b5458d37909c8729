// reference/quantize_ref.cc: see quantize_ref.h. Clarity over speed, always.
#include "reference/quantize_ref.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace qkern {
namespace ref {
namespace {

int64_t channel_of(const Layout& l, int64_t i) { return (i / l.inner) % l.channels; }
int32_t zp_of(const int32_t* zero_point, int64_t c) { return zero_point ? zero_point[c] : 0; }

void store_code(void* y, bool is_signed, int64_t i, int32_t q) {
  if (is_signed) {
    static_cast<int8_t*>(y)[i] = static_cast<int8_t>(q);
  } else {
    static_cast<uint8_t*>(y)[i] = static_cast<uint8_t>(q);
  }
}

int32_t load_code(const void* q, bool is_signed, int64_t i) {
  return is_signed ? static_cast<const int8_t*>(q)[i] : static_cast<const uint8_t*>(q)[i];
}

// rne(t) + zp clamped to [lo, hi], exact: the sum is formed in double, where
// every float is exact; past 2^53 it is far outside any code range anyway.
int32_t add_and_clamp(float rounded, int32_t zp, int32_t lo, int32_t hi) {
  const double v = static_cast<double>(rounded) + zp;
  if (v <= lo) return lo;
  if (v >= hi) return hi;
  return static_cast<int32_t>(v);
}

}  // namespace

float round_half_even(float v) {
  if (!std::isfinite(v) || std::fabs(v) >= 8388608.0f) return v;  // 2^23: already integral
  const float t = std::trunc(v);
  const float frac = std::fabs(v - t);  // exact
  const float away = t + (v < 0 ? -1.0f : 1.0f);
  if (frac > 0.5f) return away;
  if (frac < 0.5f) return t;
  return std::fmod(t, 2.0f) == 0.0f ? t : away;  // a tie: to the even neighbour
}

int32_t quantize_one(float x, float scale_or_inv, bool divide, int32_t zp, int32_t qmin,
                     int32_t qmax) {
  const float t = divide ? x / scale_or_inv : x * scale_or_inv;
  if (std::isnan(t)) return zp;  // NaN input (or 0 * inf for a subnormal scale): the zero point
  return add_and_clamp(round_half_even(t), zp, qmin, qmax);
}

int32_t multiply_by_quantized_multiplier(int32_t x, int32_t qm, int32_t shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  // x * 2^left, saturated to int32 (TFLite leaves overflow undefined).
  int64_t shifted = static_cast<int64_t>(x) * (int64_t{1} << left);
  shifted = std::min<int64_t>(std::max<int64_t>(shifted, INT32_MIN), INT32_MAX);
  const int32_t a = static_cast<int32_t>(shifted);
  // SaturatingRoundingDoublingHighMul(a, qm), gemmlowp's definition.
  int32_t high;
  if (a == INT32_MIN && qm == INT32_MIN) {
    high = INT32_MAX;
  } else {
    const int64_t ab = static_cast<int64_t>(a) * qm;
    const int64_t nudge = ab >= 0 ? (int64_t{1} << 30) : (1 - (int64_t{1} << 30));
    high = static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));
  }
  // RoundingDivideByPOT(high, right): round half away from zero.
  if (right == 0) return high;
  const int32_t mask = static_cast<int32_t>((int64_t{1} << right) - 1);
  const int32_t remainder = high & mask;
  const int32_t threshold = (mask >> 1) + (high < 0 ? 1 : 0);
  return (high >> right) + (remainder > threshold ? 1 : 0);
}

void quantize(const float* x, const Layout& l, const float* scale, const int32_t* zero_point,
              const QuantRange& range, QuantizeMode mode, void* y) {
  const bool divide = mode == QuantizeMode::kDivide;
  const int32_t lo = qmin(range), hi = qmax(range);
  for (int64_t i = 0; i < l.numel(); ++i) {
    const int64_t c = channel_of(l, i);
    const float s = divide ? scale[c] : 1.0f / scale[c];
    store_code(y, range.is_signed, i, quantize_one(x[i], s, divide, zp_of(zero_point, c), lo, hi));
  }
}

void dequantize(const void* q, const Layout& l, const float* scale, const int32_t* zero_point,
                const QuantRange& range, float* y) {
  for (int64_t i = 0; i < l.numel(); ++i) {
    const int64_t c = channel_of(l, i);
    y[i] = static_cast<float>(load_code(q, range.is_signed, i) - zp_of(zero_point, c)) * scale[c];
  }
}

int32_t requantize_fp32_one(int32_t acc, float m, int32_t zo, int32_t lo, int32_t hi) {
  const float t = static_cast<float>(acc) * m;
  // NaN: acc = 0 times an infinite multiplier (QGemm's m = sa * sw / so can
  // overflow): zo, as the SIMD epilogues give (requant-inl.h's CodesFromRounded).
  if (std::isnan(t)) return zo;
  return add_and_clamp(round_half_even(t), zo, lo, hi);
}

int32_t requantize_fixed_one(int32_t acc, int32_t qm, int32_t shift, int32_t zo, int32_t lo,
                             int32_t hi) {
  const int64_t v = int64_t{multiply_by_quantized_multiplier(acc, qm, shift)} + zo;
  return static_cast<int32_t>(std::min<int64_t>(std::max<int64_t>(v, lo), hi));
}

void requantize(const int32_t* acc, const Layout& l, const RequantParams& p, void* y) {
  const int32_t lo = std::max(p.lo, qmin(p.range));
  const int32_t hi = std::min(p.hi, qmax(p.range));
  for (int64_t i = 0; i < l.numel(); ++i) {
    const int64_t c = channel_of(l, i);
    const int32_t q =
        p.scheme == RequantScheme::kFp32
            ? requantize_fp32_one(acc[i], p.multiplier[c], p.zero_point, lo, hi)
            : requantize_fixed_one(acc[i], p.fixed_multiplier[c], p.shift[c], p.zero_point, lo, hi);
    store_code(y, p.range.is_signed, i, q);
  }
}

bool minmax(const float* x, const Layout& l, float* mn, float* mx) {
  std::fill(mn, mn + l.channels, std::numeric_limits<float>::infinity());
  std::fill(mx, mx + l.channels, -std::numeric_limits<float>::infinity());
  bool finite = true;
  for (int64_t i = 0; i < l.numel(); ++i) {
    const int64_t c = channel_of(l, i);
    if (!std::isfinite(x[i])) finite = false;
    mn[c] = std::min(mn[c], x[i]);
    mx[c] = std::max(mx[c], x[i]);
  }
  return finite;
}

void qparams_from_minmax(float mn, float mx, const QuantRange& range, QParamsMode mode,
                         float* scale, int32_t* zero_point) {
  const int32_t lo = qmin(range), hi = qmax(range);
  const float rmin = std::min(mn, 0.0f);
  const float rmax = std::max(mx, 0.0f);
  if (mode == QParamsMode::kSymmetric) {
    // Zero at the middle code: 0 when signed, 2^(b-1) when unsigned.
    const int32_t z = range.is_signed ? 0 : (lo + hi + 1) / 2;
    const float s = std::max(-rmin, rmax) / static_cast<float>(hi - z);
    *scale = std::max(s, kMinScale);
    *zero_point = z;
    return;
  }
  const float s = std::max((rmax - rmin) / static_cast<float>(hi - lo), kMinScale);
  const float z = round_half_even(static_cast<float>(lo) - rmin / s);
  *scale = s;
  *zero_point = static_cast<int32_t>(std::min(std::max(z, static_cast<float>(lo)),
                                              static_cast<float>(hi)));
}

void fake_quantize(const float* x, const Layout& l, const float* scale, const int32_t* zero_point,
                   const QuantRange& range, float* y) {
  const int32_t lo = qmin(range), hi = qmax(range);
  for (int64_t i = 0; i < l.numel(); ++i) {
    const int64_t c = channel_of(l, i);
    const int32_t zp = zp_of(zero_point, c);
    const int32_t q = quantize_one(x[i], 1.0f / scale[c], false, zp, lo, hi);
    y[i] = static_cast<float>(q - zp) * scale[c];
  }
}

void fake_quantize_backward(const float* x, const float* dy, const Layout& l, const float* scale,
                            const int32_t* zero_point, const QuantRange& range, float grad_scale,
                            float* dx, float* dscale, float* dzero_point) {
  const int32_t lo = qmin(range), hi = qmax(range);
  if (dscale) std::fill(dscale, dscale + l.channels, 0.0f);
  if (dzero_point) std::fill(dzero_point, dzero_point + l.channels, 0.0f);
  for (int64_t i = 0; i < l.numel(); ++i) {
    const int64_t c = channel_of(l, i);
    const float s = scale[c], inv = 1.0f / s;
    const int32_t zp = zp_of(zero_point, c);
    // PyTorch's backward rounds after adding the zero point (its forward, before).
    const float q = round_half_even(static_cast<float>(zp) + x[i] * inv);  // NaN: inside
    const bool below = q < lo, above = q > hi;  // exact float comparisons with small integers
    float ds, dzp;
    if (below || above) {
      const float edge = static_cast<float>((below ? lo : hi) - zp);
      ds = dy[i] * edge * grad_scale;
      dzp = -dy[i] * s * grad_scale;
    } else {
      const float xfq = (q - static_cast<float>(zp)) * s;  // the forward's output for x
      ds = dy[i] * (xfq - x[i]) * inv * grad_scale;
      dzp = 0.0f;
    }
    if (dx) dx[i] = dy[i] * (below || above ? 0.0f : 1.0f);
    if (dscale) dscale[c] += ds;
    if (dzero_point) dzero_point[c] += dzp;
  }
}

}  // namespace ref
}  // namespace qkern
