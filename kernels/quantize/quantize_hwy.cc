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

#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "kernels/common/hwy_loops-inl.h"
#include "kernels/common/hwy_slots.h"
#include "kernels/quantize/quantize_kernels.h"
#include "kernels/quantize/requant-inl.h"

HWY_BEFORE_NAMESPACE();
namespace qkern {
namespace internal {
namespace HWY_NAMESPACE {
// Each family's Highway code lives in its own namespace: helpers of the same
// name in two families (Table, ...) would otherwise violate the ODR.
namespace quantize_family {
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

using requant::CodesFromRounded;
using requant::kMagic;
using requant::kMagicBits;
using requant::MultiplyByQuantizedMultiplier;
using requant::StoreCodes;

// Four vectors of int32 codes -> one full vector of 8-bit codes, in order.
// Highway 1.0.3 has no ordered two-vector demote, so x86 uses the packs
// directly: per 128-bit block, packs_epi32 + packus/packs_epi16 leave dword
// j of block k = 4 codes of input j's block k; one dword permute restores
// the order (2 blocks: 0,4,1,5,...; 4 blocks: 0,4,8,12,1,5,...).
template <typename TOut>
HWY_INLINE hn::Vec<hn::Repartition<TOut, DF>> Pack4(VI a, VI b, VI c, VI d) {
  const hn::Repartition<TOut, DF> d8;
  constexpr bool kSigned = hwy::IsSigned<TOut>();
#if HWY_TARGET == HWY_AVX2
  const __m256i ab = _mm256_packs_epi32(a.raw, b.raw), cd = _mm256_packs_epi32(c.raw, d.raw);
  const __m256i bytes = kSigned ? _mm256_packs_epi16(ab, cd) : _mm256_packus_epi16(ab, cd);
  return hn::Vec<decltype(d8)>{
      _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))};
#elif HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  const __m512i ab = _mm512_packs_epi32(a.raw, b.raw), cd = _mm512_packs_epi32(c.raw, d.raw);
  const __m512i bytes = kSigned ? _mm512_packs_epi16(ab, cd) : _mm512_packus_epi16(ab, cd);
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return hn::Vec<decltype(d8)>{_mm512_permutexvar_epi32(order, bytes)};
#else
  (void)kSigned;
  const hn::Half<decltype(d8)> dh;
  const hn::Half<decltype(dh)> dq;  // N lanes: Rebind<TOut, DI>
  return hn::Combine(d8, hn::Combine(dh, hn::DemoteTo(dq, d), hn::DemoteTo(dq, c)),
                     hn::Combine(dh, hn::DemoteTo(dq, b), hn::DemoteTo(dq, a)));
#endif
}

// Rows moving at least this many bytes (read + written) are far beyond the
// caches: their codes are written with non-temporal stores, because a plain
// store first reads the line (read-for-ownership), adding n bytes to the 5n a
// quantize row must move: measured 0.82x of memcpy's bandwidth without.
constexpr size_t kStreamBytes = size_t{16} << 20;

// Drives a row of n elements whose output is one 8-bit code each: groups of
// four vectors pack into one full vector of codes (streamed, from an aligned
// start, when the row is huge), then single vectors, then the tail.
// codes(i) -> VI: the codes of lanes [i, i + N). partial(i, count): count <= N
// elements through stack buffers. kInBytes: input bytes per element.
template <typename TOut, size_t kInBytes, class Codes, class Partial>
HWY_INLINE void CodeRow(size_t n, TOut* HWY_RESTRICT y, const Codes& codes,
                        const Partial& partial) {
  const hn::Repartition<TOut, DF> d8;
  const size_t N = hn::Lanes(DF());
  size_t i = 0;
  if (n * (kInBytes + sizeof(TOut)) >= kStreamBytes) {
    const size_t bytes = hn::Lanes(d8) * sizeof(TOut);
    const size_t head = ((bytes - reinterpret_cast<uintptr_t>(y) % bytes) % bytes) / sizeof(TOut);
    for (; i < head; i += N) partial(i, HWY_MIN(N, head - i));
    i = head;
    for (; i + 4 * N <= n; i += 4 * N) {
      hn::Stream(Pack4<TOut>(codes(i), codes(i + N), codes(i + 2 * N), codes(i + 3 * N)), d8, y + i);
    }
    hwy::FlushStream();
  } else {
    for (; i + 4 * N <= n; i += 4 * N) {
      hn::StoreU(Pack4<TOut>(codes(i), codes(i + N), codes(i + 2 * N), codes(i + 3 * N)), d8, y + i);
    }
  }
  for (; i + N <= n; i += N) StoreCodes(codes(i), y + i);
  if (i < n) partial(i, n - i);
}

// ---------------------------------------------------------------- quantize

template <typename TOut, bool kPerElement, bool kDivide>
void QuantizeRowT(const float* HWY_RESTRICT x, size_t n, const float* s, const float* zp,
                  float qmin, float qmax, TOut* HWY_RESTRICT y) {
  const DF df;
  const VF lom = hn::Set(df, qmin + kMagic), him = hn::Set(df, qmax + kMagic);
  const VF magic = hn::Set(df, kMagic);
  auto codes_at = [&](const float* xp, const float* sp, const float* zpp, size_t i) QKERN_INLINE_LAMBDA {
    const VF vx = hn::LoadU(df, xp + i);
    const VF vs = Param<kPerElement>(df, sp, i);
    const VF t = kDivide ? hn::Div(vx, vs) : hn::Mul(vx, vs);
    const VF zpm = kPerElement ? hn::Add(Param<kPerElement>(df, zpp, i), magic)
                               : hn::Set(df, zpp[0] + kMagic);
    return CodesFromRounded(hn::Round(t), zpm, lom, him);
  };
  auto partial = [&](size_t i, size_t count) {
    HWY_ALIGN float xb[kMaxLanes] = {}, sb[kMaxLanes] = {}, zb[kMaxLanes] = {};
    HWY_ALIGN TOut yb[kMaxLanes];
    std::memcpy(xb, x + i, count * sizeof(float));
    StoreCodes(codes_at(xb, TailParam<kPerElement>(s, i, count, sb),
                        TailParam<kPerElement>(zp, i, count, zb), 0),
               yb);
    std::memcpy(y + i, yb, count * sizeof(TOut));
  };
  CodeRow<TOut, sizeof(float)>(n, y, [&](size_t i) QKERN_INLINE_LAMBDA { return codes_at(x, s, zp, i); }, partial);
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
  auto one = [&](const TIn* qp, const float* sp, const int32_t* zpp, size_t i, float* yp) QKERN_INLINE_LAMBDA {
    const VI vq = hn::PromoteTo(di, hn::LoadU(d8, qp + i));
    const VF v = hn::ConvertTo(df, hn::Sub(vq, Param<kPerElement>(di, zpp, i)));
    hn::StoreU(hn::Mul(v, Param<kPerElement>(df, sp, i)), df, yp + i);
  };
  ForEachVector(DF(), n, [&](size_t i, size_t count) {
    if (count == hn::Lanes(DF())) return one(q, scale, zp, i, y);
    HWY_ALIGN TIn qb[kMaxLanes] = {};
    HWY_ALIGN float sb[kMaxLanes] = {}, yb[kMaxLanes];
    HWY_ALIGN int32_t zb[kMaxLanes] = {};
    std::memcpy(qb, q + i, count * sizeof(TIn));
    one(qb, TailParam<kPerElement>(scale, i, count, sb), TailParam<kPerElement>(zp, i, count, zb), 0,
        yb);
    std::memcpy(y + i, yb, count * sizeof(float));
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
  const VF zom = hn::Set(df, zo + kMagic), lom = hn::Set(df, lo + kMagic),
           him = hn::Set(df, hi + kMagic);
  auto codes_at = [&](const int32_t* ap, const float* mp, size_t i) QKERN_INLINE_LAMBDA {
    const VF t = hn::Mul(hn::ConvertTo(df, hn::LoadU(di, ap + i)), Param<kPerElement>(df, mp, i));
    return CodesFromRounded(hn::Round(t), zom, lom, him);  // t is never NaN: m is finite
  };
  auto partial = [&](size_t i, size_t count) {
    HWY_ALIGN int32_t ab[kMaxLanes] = {};
    HWY_ALIGN float mb[kMaxLanes] = {};
    HWY_ALIGN TOut yb[kMaxLanes];
    std::memcpy(ab, acc + i, count * sizeof(int32_t));
    StoreCodes(codes_at(ab, TailParam<kPerElement>(m, i, count, mb), 0), yb);
    std::memcpy(y + i, yb, count * sizeof(TOut));
  };
  CodeRow<TOut, sizeof(int32_t)>(n, y, [&](size_t i) QKERN_INLINE_LAMBDA { return codes_at(acc, m, i); }, partial);
}

template <typename TOut>
void RequantizeFp32Row(const int32_t* acc, size_t n, const float* m, bool per_element, float zo,
                       float lo, float hi, TOut* y) {
  per_element ? RequantizeFp32RowT<TOut, true>(acc, n, m, zo, lo, hi, y)
              : RequantizeFp32RowT<TOut, false>(acc, n, m, zo, lo, hi, y);
}

// ------------------------------------------------ requantize (fixed point)

template <typename TOut, bool kPerElement>
void RequantizeFixedRowT(const int32_t* HWY_RESTRICT acc, size_t n, const int32_t* qm,
                         const int32_t* shift, int32_t zo, int32_t lo, int32_t hi,
                         TOut* HWY_RESTRICT y) {
  const DI di;
  // clamp(v + zo, lo, hi) == clamp(v, lo - zo, hi - zo) + zo, without overflow.
  const VI vlo = hn::Set(di, lo - zo), vhi = hn::Set(di, hi - zo), vzo = hn::Set(di, zo);
  auto codes_at = [&](const int32_t* ap, const int32_t* qp, const int32_t* sp, size_t i) QKERN_INLINE_LAMBDA {
    const VI v = MultiplyByQuantizedMultiplier(hn::LoadU(di, ap + i), Param<kPerElement>(di, qp, i),
                                               Param<kPerElement>(di, sp, i));
    return hn::Add(hn::Min(hn::Max(v, vlo), vhi), vzo);
  };
  auto partial = [&](size_t i, size_t count) {
    HWY_ALIGN int32_t ab[kMaxLanes] = {}, qb[kMaxLanes] = {}, sb[kMaxLanes] = {};
    HWY_ALIGN TOut yb[kMaxLanes];
    std::memcpy(ab, acc + i, count * sizeof(int32_t));
    StoreCodes(codes_at(ab, TailParam<kPerElement>(qm, i, count, qb),
                        TailParam<kPerElement>(shift, i, count, sb), 0),
               yb);
    std::memcpy(y + i, yb, count * sizeof(TOut));
  };
  CodeRow<TOut, sizeof(int32_t)>(n, y, [&](size_t i) QKERN_INLINE_LAMBDA { return codes_at(acc, qm, shift, i); },
                                 partial);
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
                 float* yp) QKERN_INLINE_LAMBDA {
    const VF vzp = Param<kPerElement>(df, zpp, i);
    const VF q = RoundAddClamp(hn::Mul(hn::LoadU(df, xp + i), Param<kPerElement>(df, ip, i)), vzp,
                               vqmin, vqmax);
    hn::StoreU(hn::Mul(hn::Sub(q, vzp), Param<kPerElement>(df, sp, i)), df, yp + i);
  };
  ForEachVector(DF(), n, [&](size_t i, size_t count) {
    if (count == hn::Lanes(DF())) return one(x, inv, scale, zp, i, y);
    HWY_ALIGN float xb[kMaxLanes] = {}, ib[kMaxLanes] = {}, sb[kMaxLanes] = {},
                    zb[kMaxLanes] = {}, yb[kMaxLanes];
    std::memcpy(xb, x + i, count * sizeof(float));
    one(xb, TailParam<kPerElement>(inv, i, count, ib), TailParam<kPerElement>(scale, i, count, sb),
        TailParam<kPerElement>(zp, i, count, zb), 0, yb);
    std::memcpy(y + i, yb, count * sizeof(float));
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
                 float* dzpp) QKERN_INLINE_LAMBDA {
    const VF vx = hn::LoadU(df, xp + i), vdy = hn::LoadU(df, dyp + i);
    const VF vs = Param<kPerElement>(df, sp, i), vzp = Param<kPerElement>(df, zpp, i);
    const VF vinv = Param<kPerElement>(df, ip, i);
    // PyTorch rounds after adding the zero point here (not in the forward).
    const VF q = hn::Round(hn::Add(vzp, hn::Mul(vx, vinv)));  // NaN: false both ways, inside
    const auto below = hn::Lt(q, vqmin);
    const auto outside = hn::Or(below, hn::Gt(q, vqmax));
    const VF edge = hn::Sub(hn::IfThenElse(below, vqmin, vqmax), vzp);
    const VF ds_out = hn::Mul(hn::Mul(vdy, edge), vg);
    const VF xfq = hn::Mul(hn::Sub(q, vzp), vs);
    const VF ds_in = hn::Mul(hn::Mul(hn::Mul(vdy, hn::Sub(xfq, vx)), vinv), vg);
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
  ForEachVector(DF(), n, [&](size_t i, size_t count) {
    if (count == hn::Lanes(DF())) return one(x, dy, inv, scale, zp, i, all, dx, ds, dzp);
    HWY_ALIGN float xb[kMaxLanes] = {}, dyb[kMaxLanes] = {}, ib[kMaxLanes] = {},
                    sb[kMaxLanes] = {}, zb[kMaxLanes] = {}, dxb[kMaxLanes];
    HWY_ALIGN float dsb[kMaxLanes] = {}, dzb[kMaxLanes] = {};
    std::memcpy(xb, x + i, count * sizeof(float));
    std::memcpy(dyb, dy + i, count * sizeof(float));
    float* dsp = nullptr;  // per-element sums of the tail lanes, accumulated in place
    float* dzpp = nullptr;
    if (kPerElement && ds) dsp = static_cast<float*>(std::memcpy(dsb, ds + i, count * sizeof(float)));
    if (kPerElement && dzp) dzpp = static_cast<float*>(std::memcpy(dzb, dzp + i, count * sizeof(float)));
    one(xb, dyb, TailParam<kPerElement>(inv, i, count, ib), TailParam<kPerElement>(scale, i, count, sb),
        TailParam<kPerElement>(zp, i, count, zb), 0, hn::FirstN(df, count), dx ? dxb : nullptr, dsp,
        dzpp);
    if (dx) std::memcpy(dx + i, dxb, count * sizeof(float));
    if (dsp) std::memcpy(ds + i, dsb, count * sizeof(float));
    if (dzpp) std::memcpy(dzp + i, dzb, count * sizeof(float));
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
  auto one = [&](const float* xp, size_t i, float* mnp, float* mxp) QKERN_INLINE_LAMBDA {
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
  ForEachVector(DF(), n, [&](size_t i, size_t count) {
    if (count == hn::Lanes(DF())) return one(x, i, mn, mx);
    // Padding repeats the tail's first element: neutral for min, max and finiteness.
    HWY_ALIGN float xb[kMaxLanes], mnb[kMaxLanes], mxb[kMaxLanes];
    for (size_t j = 0; j < kMaxLanes; ++j) xb[j] = x[i];
    std::memcpy(xb, x + i, count * sizeof(float));
    if constexpr (kPerElement) {
      std::memcpy(mnb, mn + i, count * sizeof(float));
      std::memcpy(mxb, mx + i, count * sizeof(float));
      for (size_t j = count; j < kMaxLanes; ++j) mnb[j] = mxb[j] = 0.0f;
    }
    one(xb, 0, mnb, mxb);
    if constexpr (kPerElement) {
      std::memcpy(mn + i, mnb, count * sizeof(float));
      std::memcpy(mx + i, mxb, count * sizeof(float));
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
}  // namespace quantize_family
}  // namespace HWY_NAMESPACE
}  // namespace internal
}  // namespace qkern
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qkern {
namespace internal {
QKERN_HWY_KERNEL_ACCESSORS(QuantizeKernels, quantize, quantize_family)
}  // namespace internal
}  // namespace qkern
#endif  // HWY_ONCE
