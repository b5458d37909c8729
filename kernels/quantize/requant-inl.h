// kernels/quantize/requant-inl.h: int32 -> code conversions shared by the
// quantize family's requantize and the GEMM epilogues (a per-target header,
// Highway's -inl.h pattern: include it after "hwy/highway.h" in a
// foreach_target file; its helpers land in each target's namespace).
#if defined(QKERN_KERNELS_QUANTIZE_REQUANT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef QKERN_KERNELS_QUANTIZE_REQUANT_INL_H_
#undef QKERN_KERNELS_QUANTIZE_REQUANT_INL_H_
#else
#define QKERN_KERNELS_QUANTIZE_REQUANT_INL_H_
#endif

#include <cstddef>
#include <cstdint>

#include "hwy/highway.h"
#include "kernels/common/hwy_slots.h"

HWY_BEFORE_NAMESPACE();
namespace qkern {
namespace internal {
namespace HWY_NAMESPACE {
namespace requant {
#if QKERN_HWY_SIMD_TARGET
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using DI = hn::RebindToSigned<DF>;
using VF = hn::Vec<DF>;
using VI = hn::Vec<DI>;

// Codes as int32 lanes from rounded values r (integers held in floats):
// clamp(r + zp, lo, hi), NaN -> zp. The magic constant 1.5 * 2^23 is folded
// into zpm = zp + kMagic, lom and him, so the clamped float lies in
// [2^23, 2^24), where floats are exactly the integers and the code sits in the
// low mantissa bits: one integer subtract converts it, where Highway's
// ConvertTo spends five instructions guarding against overflow that clamped
// values cannot have. r + zpm is exact below 2^22; beyond, rounding is
// monotone and the clamp lands on the same bound.
constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
constexpr int32_t kMagicBits = 0x4B400000;

HWY_INLINE VI CodesFromRounded(VF r, VF zpm, VF lom, VF him) {
  const DI di;
  const auto nan = hn::IsNaN(r);  // tested before Min/Max, which would drop the NaN
  const VF v = hn::IfThenElse(nan, zpm, hn::Min(hn::Max(hn::Add(r, zpm), lom), him));
  return hn::Sub(hn::BitCast(di, v), hn::Set(di, kMagicBits));
}

// Codes as int32 lanes from t = float(acc) * m for a finite multiplier m, so
// that t is never NaN (it may be +-inf or beyond int32): min(t, hi - zp) in
// float, rounded half to even into int32 (below INT32_MIN the conversion's
// integer indefinite, INT32_MIN itself), max(lo - zp), + zp. The bytes of
// Round + CodesFromRounded in 4 instructions on AVX-512 instead of 8
// (jit/epilogue_jit.cc's finite-multiplier sequence). him = float(hi - zp),
// vlo = lo - zp, vzp = zp.
HWY_INLINE VI CodesFromFinite(VF t, VF him, VI vlo, VI vzp) {
  const VF c = hn::Min(t, him);
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  const VI r{_mm512_cvt_roundps_epi32(c.raw, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
#elif HWY_TARGET == HWY_AVX2
  const VI r{_mm256_cvtps_epi32(_mm256_round_ps(c.raw, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC))};
#elif HWY_TARGET == HWY_NEON
  const VI r{vcvtnq_s32_f32(c.raw)};  // half to even, saturating
#else
  const VI r = hn::ConvertTo(DI(), hn::Round(c));  // saturating
#endif
  return hn::Add(hn::Max(r, vlo), vzp);
}

// Stores int32 lanes holding codes (already within the 8-bit type's range) as
// 8-bit codes (N bytes). AVX-512 truncates with one vpmovdb; Highway's
// saturating DemoteTo spends six instructions there (two packs, a mask, a
// cross-lane permute) on a saturation that clamped codes never need.
template <typename TOut>
HWY_INLINE void StoreCodes(VI codes, TOut* HWY_RESTRICT y) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  _mm_storeu_si128(reinterpret_cast<__m128i*>(y), _mm512_cvtepi32_epi8(codes.raw));
#else
  const hn::Rebind<TOut, DI> d8;
  hn::StoreU(hn::DemoteTo(d8, codes), d8, y);
#endif
}

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

#endif  // QKERN_HWY_SIMD_TARGET
}  // namespace requant
}  // namespace HWY_NAMESPACE
}  // namespace internal
}  // namespace qkern
HWY_AFTER_NAMESPACE();

#endif  // QKERN_KERNELS_QUANTIZE_REQUANT_INL_H_
