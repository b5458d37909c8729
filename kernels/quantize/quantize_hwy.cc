// kernels/quantize/quantize_hwy.cc: the quantize family's SIMD microkernels,
// written once with Highway and compiled for avx2, avx512 (AVX3),
// avx512_vnni (AVX3_DL) and neon. Contract: quantize_kernels.h.
//
// Every kernel walks its row one vector at a time; the tail (n % lanes
// elements) is copied into a stack vector, run through the same vector body
// and copied back, so tails take exactly the arithmetic of full vectors and
// no load or store ever leaves the caller's buffers.
//
// Exactness: rounding is Round() (round half to even, independent of MXCSR);
// rne(t) + zp is clamped in float, which is exact because float addition is
// monotone and exact below 2^24, beyond which any value clamps to the same
// bound; the clamped value converts to int32 exactly.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/quantize/quantize_hwy.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <cstring>

#include "hwy/highway.h"
#include "kernels/common/hwy_slots.h"
#include "kernels/quantize/quantize_kernels.h"

HWY_BEFORE_NAMESPACE();
namespace qkern {
namespace internal {
namespace HWY_NAMESPACE {
#if QKERN_HWY_SIMD_TARGET
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using DI = hn::RebindToSigned<DF>;
using VF = hn::Vec<DF>;
using VI = hn::Vec<DI>;
constexpr size_t kMaxLanes = hn::MaxLanes(DF());

// A per-element parameter array or a broadcast value, loaded for lanes [i, i + N).
template <bool kPerElement, class D, typename T>
HWY_INLINE hn::Vec<D> Param(D d, const T* p, size_t i) {
  if constexpr (kPerElement) {
    return hn::LoadU(d, p + i);
  } else {
    return hn::Set(d, p[0]);
  }
}

// Copies the first `count` entries of p[i..] into a zero-padded stack vector
// (per element) or passes the broadcast pointer through (uniform).
template <bool kPerElement, typename T>
HWY_INLINE const T* TailParam(const T* p, size_t i, size_t count, T* buf) {
  if constexpr (kPerElement) {
    std::memcpy(buf, p + i, count * sizeof(T));
    return buf;
  } else {
    return p;
  }
}

// Rounds and clamps t to a code held in float: clamp(rne(t) + zp, qmin, qmax), NaN -> zp.
HWY_INLINE VF RoundAddClamp(VF t, VF vzp, VF vqmin, VF vqmax) {
  const VF r = hn::Round(t);
  const auto nan = hn::IsNaN(r);  // tested before Min/Max, which would drop the NaN
  const VF v = hn::Min(hn::Max(hn::Add(r, vzp), vqmin), vqmax);
  return hn::IfThenElse(nan, vzp, v);
}

// Stores lanes holding exact integers in the code range as 8-bit codes.
template <typename TOut>
HWY_INLINE void StoreCodes(VF codes, TOut* HWY_RESTRICT y) {
  const DI di;
  const hn::Rebind<TOut, DI> d8;
  hn::StoreU(hn::DemoteTo(d8, hn::ConvertTo(di, codes)), d8, y);
}

template <typename TOut>
HWY_INLINE void StoreCodes(VI codes, TOut* HWY_RESTRICT y) {
  const hn::Rebind<TOut, DI> d8;
  hn::StoreU(hn::DemoteTo(d8, codes), d8, y);
}

// Runs body(i, x-offset pointers...) on every full vector, then once on the
// tail. `body(i, tail)` with tail == 0 for full vectors, else the count.
template <class Body>
HWY_INLINE void ForEachVector(size_t n, const Body& body) {
  const size_t N = hn::Lanes(DF());
  size_t i = 0;
  for (; i + N <= n; i += N) body(i, size_t{0});
  if (i < n) body(i, n - i);
}

// ---------------------------------------------------------------- quantize

template <typename TOut, bool kPerElement, bool kDivide>
void QuantizeRowT(const float* HWY_RESTRICT x, size_t n, const float* s, const float* zp,
                  float qmin, float qmax, TOut* HWY_RESTRICT y) {
  const DF df;
  const VF vqmin = hn::Set(df, qmin), vqmax = hn::Set(df, qmax);
  auto one = [&](const float* xp, const float* sp, const float* zpp, size_t i, TOut* yp) {
    const VF vx = hn::LoadU(df, xp + i);
    const VF vs = Param<kPerElement>(df, sp, i);
    const VF t = kDivide ? hn::Div(vx, vs) : hn::Mul(vx, vs);
    StoreCodes(RoundAddClamp(t, Param<kPerElement>(df, zpp, i), vqmin, vqmax), yp + i);
  };
  ForEachVector(n, [&](size_t i, size_t tail) {
    if (tail == 0) return one(x, s, zp, i, y);
    HWY_ALIGN float xb[kMaxLanes] = {}, sb[kMaxLanes] = {}, zb[kMaxLanes] = {};
    HWY_ALIGN TOut yb[kMaxLanes];
    std::memcpy(xb, x + i, tail * sizeof(float));
    one(xb, TailParam<kPerElement>(s, i, tail, sb), TailParam<kPerElement>(zp, i, tail, zb), 0, yb);
    std::memcpy(y + i, yb, tail * sizeof(TOut));
  });
}

template <typename TOut>
void QuantizeRow(const float* x, size_t n, const float* s, const float* zp, bool per_element,
                 bool divide, float qmin, float qmax, TOut* y) {
  if (per_element) {
    divide ? QuantizeRowT<TOut, true, true>(x, n, s, zp, qmin, qmax, y)
           : QuantizeRowT<TOut, true, false>(x, n, s, zp, qmin, qmax, y);
  } else {
    divide ? QuantizeRowT<TOut, false, true>(x, n, s, zp, qmin, qmax, y)
           : QuantizeRowT<TOut, false, false>(x, n, s, zp, qmin, qmax, y);
  }
}

// -------------------------------------------------------------- dequantize

template <typename TIn, bool kPerElement>
void DequantizeRowT(const TIn* HWY_RESTRICT q, size_t n, const float* scale, const int32_t* zp,
                    float* HWY_RESTRICT y) {
  const DF df;
  const DI di;
  const hn::Rebind<TIn, DI> d8;
  auto one = [&](const TIn* qp, const float* sp, const int32_t* zpp, size_t i, float* yp) {
    const VI vq = hn::PromoteTo(di, hn::LoadU(d8, qp + i));
    const VF v = hn::ConvertTo(df, hn::Sub(vq, Param<kPerElement>(di, zpp, i)));
    hn::StoreU(hn::Mul(v, Param<kPerElement>(df, sp, i)), df, yp + i);
  };
  ForEachVector(n, [&](size_t i, size_t tail) {
    if (tail == 0) return one(q, scale, zp, i, y);
    HWY_ALIGN TIn qb[kMaxLanes] = {};
    HWY_ALIGN float sb[kMaxLanes] = {}, yb[kMaxLanes];
    HWY_ALIGN int32_t zb[kMaxLanes] = {};
    std::memcpy(qb, q + i, tail * sizeof(TIn));
    one(qb, TailParam<kPerElement>(scale, i, tail, sb), TailParam<kPerElement>(zp, i, tail, zb), 0,
        yb);
    std::memcpy(y + i, yb, tail * sizeof(float));
  });
}

template <typename TIn>
void DequantizeRow(const TIn* q, size_t n, const float* scale, const int32_t* zp, bool per_element,
                   float* y) {
  per_element ? DequantizeRowT<TIn, true>(q, n, scale, zp, y)
              : DequantizeRowT<TIn, false>(q, n, scale, zp, y);
}

// ------------------------------------------------------- requantize (fp32)

template <typename TOut, bool kPerElement>
void RequantizeFp32RowT(const int32_t* HWY_RESTRICT acc, size_t n, const float* m, float zo,
                        float lo, float hi, TOut* HWY_RESTRICT y) {
  const DF df;
  const DI di;
  const VF vzo = hn::Set(df, zo), vlo = hn::Set(df, lo), vhi = hn::Set(df, hi);
  auto one = [&](const int32_t* ap, const float* mp, size_t i, TOut* yp) {
    const VF t = hn::Mul(hn::ConvertTo(df, hn::LoadU(di, ap + i)), Param<kPerElement>(df, mp, i));
    StoreCodes(RoundAddClamp(t, vzo, vlo, vhi), yp + i);  // t is never NaN: m is finite
  };
  ForEachVector(n, [&](size_t i, size_t tail) {
    if (tail == 0) return one(acc, m, i, y);
    HWY_ALIGN int32_t ab[kMaxLanes] = {};
    HWY_ALIGN float mb[kMaxLanes] = {};
    HWY_ALIGN TOut yb[kMaxLanes];
    std::memcpy(ab, acc + i, tail * sizeof(int32_t));
    one(ab, TailParam<kPerElement>(m, i, tail, mb), 0, yb);
    std::memcpy(y + i, yb, tail * sizeof(TOut));
  });
}

template <typename TOut>
void RequantizeFp32Row(const int32_t* acc, size_t n, const float* m, bool per_element, float zo,
                       float lo, float hi, TOut* y) {
  per_element ? RequantizeFp32RowT<TOut, true>(acc, n, m, zo, lo, hi, y)
              : RequantizeFp32RowT<TOut, false>(acc, n, m, zo, lo, hi, y);
}

// ------------------------------------------------ requantize (fixed point)

// TFLite's MultiplyByQuantizedMultiplier on int32 lanes, qm in [1, 2^31 - 1],
// shift in [-31, 30]; the left shift saturates like the reference.
HWY_INLINE VI MultiplyByQuantizedMultiplier(VI x, VI qm, VI shift) {
  const DI di;
  const hn::RepartitionToWide<DI> di64;
  const hn::RebindToUnsigned<decltype(di64)> du64;
  const VI zero = hn::Zero(di);
  const VI left = hn::Max(shift, zero);
  const VI right = hn::Max(hn::Neg(shift), zero);

  // x * 2^left, saturated: lanes beyond INT32_MAX >> left (or below
  // INT32_MIN >> left) take the int32 limit.
  const VI vmax = hn::Set(di, INT32_MAX), vmin = hn::Set(di, INT32_MIN);
  VI a = hn::Shl(x, left);
  a = hn::IfThenElse(hn::Gt(x, hn::Shr(vmax, left)), vmax, a);
  a = hn::IfThenElse(hn::Lt(x, hn::Shr(vmin, left)), vmin, a);

  // SaturatingRoundingDoublingHighMul(a, qm) = (a * qm + 2^30) >> 31 for qm > 0
  // (gemmlowp's nudge and truncating division reduce to this; INT32_MIN *
  // INT32_MIN, its one saturating case, cannot occur). The products are formed
  // in 64-bit lanes, even and odd 32-bit lanes separately; the result fits in
  // int32, so a logical shift gives the right low half.
  const auto round = hn::Set(di64, int64_t{1} << 30);
  const auto even = hn::ShiftRight<31>(hn::BitCast(du64, hn::Add(hn::MulEven(a, qm), round)));
  const auto odd = hn::ShiftRight<31>(
      hn::BitCast(du64, hn::Add(hn::MulEven(hn::Shuffle2301(a), hn::Shuffle2301(qm)), round)));
  const VI high =
      hn::OddEven(hn::BitCast(di, hn::ShiftLeft<32>(odd)), hn::BitCast(di, even));

  // RoundingDivideByPOT(high, right): round half away from zero.
  const VI mask = hn::Sub(hn::Shl(hn::Set(di, 1), right), hn::Set(di, 1));
  const VI remainder = hn::And(high, mask);
  const VI threshold = hn::Sub(hn::ShiftRight<1>(mask), hn::ShiftRight<31>(high));  // +1 if < 0
  return hn::Sub(hn::Shr(high, right), hn::VecFromMask(di, hn::Gt(remainder, threshold)));
}

template <typename TOut, bool kPerElement>
void RequantizeFixedRowT(const int32_t* HWY_RESTRICT acc, size_t n, const int32_t* qm,
                         const int32_t* shift, int32_t zo, int32_t lo, int32_t hi,
                         TOut* HWY_RESTRICT y) {
  const DI di;
  // clamp(v + zo, lo, hi) == clamp(v, lo - zo, hi - zo) + zo, without overflow.
  const VI vlo = hn::Set(di, lo - zo), vhi = hn::Set(di, hi - zo), vzo = hn::Set(di, zo);
  auto one = [&](const int32_t* ap, const int32_t* qp, const int32_t* sp, size_t i, TOut* yp) {
    const VI v = MultiplyByQuantizedMultiplier(hn::LoadU(di, ap + i), Param<kPerElement>(di, qp, i),
                                               Param<kPerElement>(di, sp, i));
    StoreCodes(hn::Add(hn::Min(hn::Max(v, vlo), vhi), vzo), yp + i);
  };
  ForEachVector(n, [&](size_t i, size_t tail) {
    if (tail == 0) return one(acc, qm, shift, i, y);
    HWY_ALIGN int32_t ab[kMaxLanes] = {}, qb[kMaxLanes] = {}, sb[kMaxLanes] = {};
    HWY_ALIGN TOut yb[kMaxLanes];
    std::memcpy(ab, acc + i, tail * sizeof(int32_t));
    one(ab, TailParam<kPerElement>(qm, i, tail, qb), TailParam<kPerElement>(shift, i, tail, sb), 0,
        yb);
    std::memcpy(y + i, yb, tail * sizeof(TOut));
  });
}

template <typename TOut>
void RequantizeFixedRow(const int32_t* acc, size_t n, const int32_t* qm, const int32_t* shift,
                        bool per_element, int32_t zo, int32_t lo, int32_t hi, TOut* y) {
  per_element ? RequantizeFixedRowT<TOut, true>(acc, n, qm, shift, zo, lo, hi, y)
              : RequantizeFixedRowT<TOut, false>(acc, n, qm, shift, zo, lo, hi, y);
}

// ------------------------------------------------------ LSQ fake quantize

template <bool kPerElement>
void FakeQuantizeRowT(const float* HWY_RESTRICT x, size_t n, const float* inv, const float* scale,
                      const float* zp, float qmin, float qmax, float* HWY_RESTRICT y) {
  const DF df;
  const VF vqmin = hn::Set(df, qmin), vqmax = hn::Set(df, qmax);
  auto one = [&](const float* xp, const float* ip, const float* sp, const float* zpp, size_t i,
                 float* yp) {
    const VF vzp = Param<kPerElement>(df, zpp, i);
    const VF q = RoundAddClamp(hn::Mul(hn::LoadU(df, xp + i), Param<kPerElement>(df, ip, i)), vzp,
                               vqmin, vqmax);
    hn::StoreU(hn::Mul(hn::Sub(q, vzp), Param<kPerElement>(df, sp, i)), df, yp + i);
  };
  ForEachVector(n, [&](size_t i, size_t tail) {
    if (tail == 0) return one(x, inv, scale, zp, i, y);
    HWY_ALIGN float xb[kMaxLanes] = {}, ib[kMaxLanes] = {}, sb[kMaxLanes] = {},
                    zb[kMaxLanes] = {}, yb[kMaxLanes];
    std::memcpy(xb, x + i, tail * sizeof(float));
    one(xb, TailParam<kPerElement>(inv, i, tail, ib), TailParam<kPerElement>(scale, i, tail, sb),
        TailParam<kPerElement>(zp, i, tail, zb), 0, yb);
    std::memcpy(y + i, yb, tail * sizeof(float));
  });
}

void FakeQuantizeRow(const float* x, size_t n, const float* inv, const float* scale,
                     const float* zp, bool per_element, float qmin, float qmax, float* y) {
  per_element ? FakeQuantizeRowT<true>(x, n, inv, scale, zp, qmin, qmax, y)
              : FakeQuantizeRowT<false>(x, n, inv, scale, zp, qmin, qmax, y);
}

template <bool kPerElement>
void FakeQuantizeBackwardRowT(const float* HWY_RESTRICT x, const float* HWY_RESTRICT dy, size_t n,
                              const float* inv, const float* scale, const float* zp, float qmin,
                              float qmax, float g, float* HWY_RESTRICT dx, float* ds,
                              float* dzp) {
  const DF df;
  const VF vqmin = hn::Set(df, qmin), vqmax = hn::Set(df, qmax), vg = hn::Set(df, g);
  const VF one_f = hn::Set(df, 1.0f);
  VF sum_ds = hn::Zero(df), sum_dzp = hn::Zero(df);  // uniform form only
  // Computes the terms of lanes [i, i + N); `valid` masks off padding lanes.
  auto one = [&](const float* xp, const float* dyp, const float* ip, const float* sp,
                 const float* zpp, size_t i, hn::Mask<DF> valid, float* dxp, float* dsp,
                 float* dzpp) {
    const VF vx = hn::LoadU(df, xp + i), vdy = hn::LoadU(df, dyp + i);
    const VF vs = Param<kPerElement>(df, sp, i), vzp = Param<kPerElement>(df, zpp, i);
    const VF r = hn::Round(hn::Mul(vx, Param<kPerElement>(df, ip, i)));
    const VF q = hn::Add(r, vzp);  // NaN compares false both ways: inside
    const auto below = hn::Lt(q, vqmin);
    const auto outside = hn::Or(below, hn::Gt(q, vqmax));
    const VF edge = hn::Sub(hn::IfThenElse(below, vqmin, vqmax), vzp);
    const VF ds_out = hn::Mul(hn::Mul(vdy, edge), vg);
    const VF ds_in = hn::Mul(hn::Mul(hn::Div(hn::Sub(hn::Mul(r, vs), vx), vs), vdy), vg);
    const VF vds = hn::IfThenElse(outside, ds_out, ds_in);
    const VF vdzp = hn::IfThenElseZero(outside, hn::Mul(hn::Mul(hn::Neg(vdy), vs), vg));
    if (dxp) hn::StoreU(hn::Mul(vdy, hn::IfThenZeroElse(outside, one_f)), df, dxp + i);
    if constexpr (kPerElement) {
      if (dsp) hn::StoreU(hn::Add(hn::LoadU(df, dsp + i), vds), df, dsp + i);
      if (dzpp) hn::StoreU(hn::Add(hn::LoadU(df, dzpp + i), vdzp), df, dzpp + i);
    } else {
      sum_ds = hn::Add(sum_ds, hn::IfThenElseZero(valid, vds));
      sum_dzp = hn::Add(sum_dzp, hn::IfThenElseZero(valid, vdzp));
    }
  };
  const auto all = hn::FirstN(df, hn::Lanes(df));
  ForEachVector(n, [&](size_t i, size_t tail) {
    if (tail == 0) return one(x, dy, inv, scale, zp, i, all, dx, ds, dzp);
    HWY_ALIGN float xb[kMaxLanes] = {}, dyb[kMaxLanes] = {}, ib[kMaxLanes] = {},
                    sb[kMaxLanes] = {}, zb[kMaxLanes] = {}, dxb[kMaxLanes];
    HWY_ALIGN float dsb[kMaxLanes] = {}, dzb[kMaxLanes] = {};
    std::memcpy(xb, x + i, tail * sizeof(float));
    std::memcpy(dyb, dy + i, tail * sizeof(float));
    float* dsp = nullptr;  // per-element sums of the tail lanes, accumulated in place
    float* dzpp = nullptr;
    if (kPerElement && ds) dsp = static_cast<float*>(std::memcpy(dsb, ds + i, tail * sizeof(float)));
    if (kPerElement && dzp) dzpp = static_cast<float*>(std::memcpy(dzb, dzp + i, tail * sizeof(float)));
    one(xb, dyb, TailParam<kPerElement>(inv, i, tail, ib), TailParam<kPerElement>(scale, i, tail, sb),
        TailParam<kPerElement>(zp, i, tail, zb), 0, hn::FirstN(df, tail), dx ? dxb : nullptr, dsp,
        dzpp);
    if (dx) std::memcpy(dx + i, dxb, tail * sizeof(float));
    if (dsp) std::memcpy(ds + i, dsb, tail * sizeof(float));
    if (dzpp) std::memcpy(dzp + i, dzb, tail * sizeof(float));
  });
  if constexpr (!kPerElement) {
    if (ds) ds[0] += hn::GetLane(hn::SumOfLanes(df, sum_ds));
    if (dzp) dzp[0] += hn::GetLane(hn::SumOfLanes(df, sum_dzp));
  }
}

void FakeQuantizeBackwardRow(const float* x, const float* dy, size_t n, const float* inv,
                             const float* scale, const float* zp, bool per_element, float qmin,
                             float qmax, float g, float* dx, float* ds, float* dzp) {
  per_element
      ? FakeQuantizeBackwardRowT<true>(x, dy, n, inv, scale, zp, qmin, qmax, g, dx, ds, dzp)
      : FakeQuantizeBackwardRowT<false>(x, dy, n, inv, scale, zp, qmin, qmax, g, dx, ds, dzp);
}

// ----------------------------------------------------------------- minmax

template <bool kPerElement>
bool MinMaxRowT(const float* HWY_RESTRICT x, size_t n, float* mn, float* mx) {
  const DF df;
  VF vmin = hn::Set(df, mn[0]), vmax = hn::Set(df, mx[0]);  // uniform form only
  auto finite = hn::FirstN(df, hn::Lanes(df));
  auto one = [&](const float* xp, size_t i, float* mnp, float* mxp) {
    const VF vx = hn::LoadU(df, xp + i);
    finite = hn::And(finite, hn::IsFinite(vx));
    if constexpr (kPerElement) {
      hn::StoreU(hn::Min(hn::LoadU(df, mnp + i), vx), df, mnp + i);
      hn::StoreU(hn::Max(hn::LoadU(df, mxp + i), vx), df, mxp + i);
    } else {
      vmin = hn::Min(vmin, vx);
      vmax = hn::Max(vmax, vx);
    }
  };
  ForEachVector(n, [&](size_t i, size_t tail) {
    if (tail == 0) return one(x, i, mn, mx);
    // Padding repeats the tail's first element: neutral for min, max and finiteness.
    HWY_ALIGN float xb[kMaxLanes], mnb[kMaxLanes], mxb[kMaxLanes];
    for (size_t j = 0; j < kMaxLanes; ++j) xb[j] = x[i];
    std::memcpy(xb, x + i, tail * sizeof(float));
    if constexpr (kPerElement) {
      std::memcpy(mnb, mn + i, tail * sizeof(float));
      std::memcpy(mxb, mx + i, tail * sizeof(float));
      for (size_t j = tail; j < kMaxLanes; ++j) mnb[j] = mxb[j] = 0.0f;
    }
    one(xb, 0, mnb, mxb);
    if constexpr (kPerElement) {
      std::memcpy(mn + i, mnb, tail * sizeof(float));
      std::memcpy(mx + i, mxb, tail * sizeof(float));
    }
  });
  if constexpr (!kPerElement) {
    mn[0] = hn::GetLane(hn::MinOfLanes(df, vmin));
    mx[0] = hn::GetLane(hn::MaxOfLanes(df, vmax));
  }
  return hn::AllTrue(df, finite);
}

bool MinMaxRow(const float* x, size_t n, bool per_element, float* mn, float* mx) {
  return per_element ? MinMaxRowT<true>(x, n, mn, mx) : MinMaxRowT<false>(x, n, mn, mx);
}

const QuantizeKernels* Table() {
  static const QuantizeKernels k = {
      &QuantizeRow<uint8_t>,        &QuantizeRow<int8_t>,        &DequantizeRow<uint8_t>,
      &DequantizeRow<int8_t>,       &RequantizeFp32Row<uint8_t>, &RequantizeFp32Row<int8_t>,
      &RequantizeFixedRow<uint8_t>, &RequantizeFixedRow<int8_t>, &FakeQuantizeRow,
      &FakeQuantizeBackwardRow,     &MinMaxRow,
  };
  return &k;
}

#endif  // QKERN_HWY_SIMD_TARGET
}  // namespace HWY_NAMESPACE
}  // namespace internal
}  // namespace qkern
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qkern {
namespace internal {
const QuantizeKernels* quantize_kernels_avx2() { return QKERN_HWY_SLOT_AVX2(Table()); }
const QuantizeKernels* quantize_kernels_avx512() { return QKERN_HWY_SLOT_AVX512(Table()); }
const QuantizeKernels* quantize_kernels_avx512_vnni() { return QKERN_HWY_SLOT_AVX512_VNNI(Table()); }
const QuantizeKernels* quantize_kernels_neon() { return QKERN_HWY_SLOT_NEON(Table()); }
}  // namespace internal
}  // namespace qkern
#endif  // HWY_ONCE
