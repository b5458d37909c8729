// fuzz/fuzz_quantize.cc: the quantize family (qkern/quantize.hpp) on every
// ISA against reference/quantize_ref.h.
//
// One input is one call of quantize, dequantize, requantize (fp32 and
// fixed-point), fake_quantize, fake_quantize_backward, choose_qparams or
// quantize_multiplier: a random rank-0..4 shape, per-tensor or per-channel
// parameters along any axis, 2..8-bit signed/unsigned/narrow ranges, data
// that mixes in-range values, exact ties, NaN, +-Inf, +-FLT_MAX and
// subnormals; about one case in six carries one invalid parameter.
// Checks, per ISA:
//   - the Status is ok exactly when the parameters are valid, and is the same
//     (code and message) on every ISA;
//   - on error every output byte is as preset;
//   - integer outputs equal the reference byte for byte, elementwise float
//     outputs (dequantize, fake_quantize, dx, choose_qparams' scales) bit for
//     bit (NaN equal to NaN), and no byte outside the output changes;
//   - fake_quantize_backward's dscale / dzero_point sums are within the
//     reordering bound of docs/semantics.md of the exact sum of the
//     reference's own per-element terms;
//   - quantize_multiplier's result is in range and within 2^-31 relative.
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "qkern/quantize.hpp"
#include "reference/quantize_ref.h"

namespace qkern {
namespace fuzz {
namespace {

constexpr int64_t kMaxNumel = 12000;

enum class Op { kQuantize, kDequantize, kRequantize, kFakeQuantize, kBackward, kChooseQParams, kMultiplier };
const char* const kOpNames[] = {"quantize",      "dequantize",     "requantize",         "fake_quantize",
                                "fake_backward", "choose_qparams", "quantize_multiplier"};

// The [outer][C][inner] view, computed here independently of the library's own.
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

// Small shapes mostly; sometimes a long row (the per-element driver's
// 4096-column chunks) or a long inner extent (its uniform rows).
Dims DecodeDims(Input& in, Case& c) {
  Dims d;
  d.rank = static_cast<int>(in.range(0, 4));
  // An element budget first (most cases small, so that executions stay fast),
  // then extents within it.
  const int size_kind = in.u8();
  const int64_t budget = size_kind < 180 ? 64 : size_kind < 240 ? 1024 : kMaxNumel;
  int64_t numel = 1;
  for (int i = 0; i < d.rank; ++i) {
    const int64_t room = std::max<int64_t>(1, budget / numel);
    const int kind = in.u8();
    int64_t e = kind < 10 ? 0 : kind < 160 ? in.range(1, std::min<int64_t>(room, 9)) : in.range(1, room);
    d.d[i] = e;
    numel *= std::max<int64_t>(e, 1);
  }
  std::string s;
  for (int i = 0; i < d.rank; ++i) s += (i ? "x" : "") + std::to_string(d.d[i]);
  c.add("dims", d.rank ? s : "scalar");
  return d;
}

QuantRange DecodeRange(Input& in, Case& c) {
  QuantRange r;
  r.bits = static_cast<int>(in.range(2, 8));
  r.is_signed = in.boolean();
  r.narrow_range = r.is_signed && in.chance(64);
  c.add("bits", r.bits).add("signed", r.is_signed).add("narrow", r.narrow_range);
  return r;
}

// A valid scale: powers of two (exact ties), ordinary values, extremes.
float DecodeScale(Input& in) {
  static const float kScales[] = {1.0f,    0.5f,   0.0078125f, 0.1f,     3.7f,   1e-3f,
                                  FLT_MIN, 2e-38f, 1.4e-45f,   FLT_MAX,  1e38f,  0.0392157f,
                                  0.25f,   4.0f,   1e-20f,     1e20f,    0.03125f};
  const int kind = in.u8();
  if (kind < 180) return in.pick(kScales);
  if (kind < 230) return std::ldexp(1.0f, static_cast<int>(in.range(-30, 30)));
  const float f = std::fabs(in.raw_float());
  return std::isfinite(f) && f > 0 ? f : 1.0f;
}

// An element for scale s and codes [qmin, qmax] around zp: in range and a
// little beyond, exact ties (k + 0.5) * s, specials, raw bits.
float DecodeValue(Input& in, float s, int32_t zp, int32_t qmin, int32_t qmax) {
  const int kind = in.u8();
  const float lo = static_cast<float>(qmin - zp - 8), hi = static_cast<float>(qmax - zp + 8);
  if (kind < 120) return (lo + (hi - lo) * (in.u16() / 65535.0f)) * s;
  if (kind < 190) return (static_cast<float>(in.range(static_cast<int64_t>(lo), static_cast<int64_t>(hi))) + 0.5f) * s;
  if (kind < 230) return SpecialFloat(in);
  return in.raw_float();
}

struct Params {
  Dims dims;       // what the call gets (possibly invalid)
  Dims alloc;      // what the buffers are sized for (valid)
  ref::Layout l;   // of alloc, with the call's axis when valid
  int axis = -1;
  QuantRange range;
  QuantRange data_range;  // the range before any corruption (data and expectations use it)
  std::vector<float> scale;
  std::vector<int32_t> zp;
  bool null_zp = false;
  bool valid = true;
  int64_t numel = 0, count = 1;
};

int64_t NumelOf(const Dims& d) {
  int64_t n = 1;
  for (int i = 0; i < d.rank; ++i) n *= d.d[i];
  return n;
}

// The shape, range, axis, scales and zero points of quantize / dequantize /
// fake quantization, with at most one invalid field when `corrupt`.
Params DecodeQuantParams(Input& in, Case& c, bool corrupt) {
  Params p;
  p.dims = p.alloc = DecodeDims(in, c);
  p.range = p.data_range = DecodeRange(in, c);
  p.axis = p.dims.rank > 0 && in.boolean() ? static_cast<int>(in.range(0, p.dims.rank - 1)) : -1;
  c.add("axis", p.axis);
  p.numel = NumelOf(p.dims);
  p.l = LayoutOf(p.dims, p.axis);
  p.count = p.axis < 0 ? 1 : p.dims.d[p.axis];
  const bool per_channel_scale_kinds = in.boolean();
  const float s0 = DecodeScale(in);
  p.scale.resize(static_cast<size_t>(std::max<int64_t>(p.count, 1)));
  p.zp.resize(p.scale.size());
  for (size_t i = 0; i < p.scale.size(); ++i) {
    p.scale[i] = per_channel_scale_kinds ? DecodeScale(in) : s0;
    const int zk = in.u8();
    const int32_t lo = qmin(p.range), hi = qmax(p.range);
    p.zp[i] = zk < 40 ? lo : zk < 80 ? hi : zk < 120 ? 0 : static_cast<int32_t>(in.range(lo, hi));
    if (p.zp[i] < lo || p.zp[i] > hi) p.zp[i] = lo;  // 0 is not in every range (narrow s2 is [-1, 1])
  }
  p.null_zp = in.chance(40);
  c.add("scale0", p.scale[0]).add("zp0", p.null_zp ? 0 : p.zp[0]).add("null_zp", p.null_zp);
  if (!corrupt) return p;

  p.valid = false;
  switch (in.range(0, 8)) {
    case 0:
      p.range.bits = in.boolean() ? static_cast<int>(in.range(-3, 1)) : static_cast<int>(in.range(9, 40));
      c.add("bad_bits", p.range.bits);
      break;
    case 1:
      p.range.is_signed = false;
      p.range.narrow_range = true;
      c.add("bad", "narrow_unsigned");
      for (auto& z : p.zp) z = std::min(std::max(z, 0), qmax(p.range));
      break;
    case 2:
      p.axis = in.boolean() ? p.dims.rank + static_cast<int>(in.range(0, 3)) : -2 - static_cast<int>(in.range(0, 5));
      c.add("bad_axis", p.axis);
      break;
    case 3:
      if (p.count < 1) return p.valid = true, p;
      {
        static const float kBad[] = {0.0f, -0.0f, -1.0f, -FLT_MIN, NAN, INFINITY, -INFINITY};
        const size_t i = static_cast<size_t>(in.range(0, p.count - 1));
        p.scale[i] = in.pick(kBad);
        c.add("bad_scale_at", i).add("bad_scale", p.scale[i]);
      }
      break;
    case 4:
      if (p.count < 1) return p.valid = true, p;
      {
        const size_t i = static_cast<size_t>(in.range(0, p.count - 1));
        p.zp[i] = in.boolean() ? qmin(p.range) - static_cast<int32_t>(in.range(1, 300))
                               : qmax(p.range) + static_cast<int32_t>(in.range(1, 300));
        p.null_zp = false;
        c.add("bad_zp_at", i).add("bad_zp", p.zp[i]);
      }
      break;
    case 5:
      if (p.dims.rank == 0) return p.valid = true, p;
      p.dims.d[in.range(0, p.dims.rank - 1)] = -static_cast<int64_t>(in.range(1, 1000));
      c.add("bad", "negative_extent");
      break;
    case 6:
      p.dims.rank = static_cast<int>(in.range(9, 100));
      c.add("bad_rank", p.dims.rank);
      break;
    case 7:
      p.dims.rank = 3;
      p.dims.d[0] = int64_t{1} << in.range(31, 40);  // 2^62 elements and more: the byte count overflows
      p.dims.d[1] = int64_t{1} << in.range(31, 40);
      p.dims.d[2] = in.range(1, 7);
      p.axis = -1;
      c.add("bad", "overflowing_dims");
      break;
    default:
      return p.valid = true, p;  // the op adds its own (a null pointer, an enum)
  }
  return p;
}

void CheckFloatsBitwise(Isa isa, const char* what, const Guarded& got, const Guarded& want, int64_t n,
                        const Case& c) {
  ptrdiff_t at = 0;
  if (got.same(want, &at)) return;
  if (at >= 0 && at < n * 4) {
    // Bytes of one float differ: NaN payloads are allowed to.
    for (int64_t i = 0; i < n; ++i) {
      const float g = LoadFloat(got.data() + 4 * i), w = LoadFloat(want.data() + 4 * i);
      if (!SameFloat(g, w)) Fail(isa, Str(what, "[", i, "] = ", g, ", reference ", w), c);
    }
    ptrdiff_t rest = n * 4;
    for (; rest < static_cast<ptrdiff_t>(got.bytes()) + static_cast<ptrdiff_t>(Guarded::kGuard); ++rest) {
      if (got.at(rest) != want.at(rest)) Fail(isa, Str(what, ": wrote byte ", rest, " past the output"), c);
    }
    for (ptrdiff_t i = -static_cast<ptrdiff_t>(Guarded::kGuard); i < 0; ++i) {
      if (got.at(i) != want.at(i)) Fail(isa, Str(what, ": wrote byte ", i, " before the output"), c);
    }
    return;
  }
  Fail(isa, Str(what, ": wrote byte ", at, " outside the output"), c);
}

void CheckBytes(Isa isa, const char* what, const Guarded& got, const Guarded& want, const Case& c) {
  ptrdiff_t at = 0;
  if (got.same(want, &at)) return;
  Fail(isa, Str(what, ": byte ", at, got.inside(at) ? "" : " (outside the output)", " is ", int{got.at(at)},
                ", reference ", int{want.at(at)}),
       c);
}

// ------------------------------------------------------------------ ops

void FuzzQuantizeDequantizeFake(Op op, Input& in, Case& c, bool corrupt) {
  Params p = DecodeQuantParams(in, c, corrupt);
  const int64_t n = NumelOf(p.alloc);
  const int32_t lo = qmin(p.data_range), hi = qmax(p.data_range);
  QuantizeMode mode = in.boolean() ? QuantizeMode::kDivide : QuantizeMode::kMultiply;
  bool null_in = false, null_out = false;
  if (corrupt && p.valid) {  // the op's own invalid field
    switch (in.range(0, op == Op::kQuantize ? 2 : 1)) {
      case 0: null_in = n > 0; break;
      case 1: null_out = n > 0; break;
      default: mode = static_cast<QuantizeMode>(in.range(2, 9)); break;
    }
    p.valid = !(null_in || null_out || (mode != QuantizeMode::kDivide && mode != QuantizeMode::kMultiply));
    c.add("null_in", null_in).add("null_out", null_out).add("mode_value", static_cast<int>(mode));
  }
  c.add("mode", mode == QuantizeMode::kDivide ? "divide" : "multiply");

  // Inputs: floats for quantize and fake quantization, codes for dequantize.
  std::vector<float> x(static_cast<size_t>(std::max<int64_t>(n, 1)));
  std::vector<uint8_t> q(x.size());
  const ref::Layout l = LayoutOf(p.alloc, p.valid ? p.axis : -1);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t ch = p.valid ? (i / l.inner) % l.channels : 0;
    const int32_t z = p.null_zp ? 0 : p.zp[static_cast<size_t>(ch)];
    x[static_cast<size_t>(i)] = DecodeValue(in, p.scale[static_cast<size_t>(ch)], z, lo, hi);
    q[static_cast<size_t>(i)] = in.chance(200) ? static_cast<uint8_t>(in.range(lo, hi)) : in.u8();
  }
  const size_t out_elem = op == Op::kQuantize ? 1 : 4;
  const uint8_t pattern = in.u8();
  Guarded want(static_cast<size_t>(n) * out_elem, pattern);
  QuantParams qp{p.range, p.scale.data(), p.null_zp ? nullptr : p.zp.data(), p.axis};
  if (p.valid) {
    switch (op) {
      case Op::kQuantize:
        ref::quantize(x.data(), l, qp.scale, qp.zero_point, p.range, mode, want.data());
        break;
      case Op::kDequantize:
        ref::dequantize(q.data(), l, qp.scale, qp.zero_point, p.range, reinterpret_cast<float*>(want.data()));
        break;
      default:
        ref::fake_quantize(x.data(), l, qp.scale, qp.zero_point, p.range, reinterpret_cast<float*>(want.data()));
        break;
    }
  }
  StatusAgreement agree(kOpNames[static_cast<int>(op)]);
  Guarded got(want.bytes(), pattern);
  ForEachIsa([&](Isa isa) {
    got.fill();
    const float* xin = null_in ? nullptr : x.data();
    void* yout = null_out ? nullptr : got.data();
    Status s;
    switch (op) {
      case Op::kQuantize: s = quantize(xin, p.dims, qp, yout, mode); break;
      case Op::kDequantize: s = dequantize(null_in ? nullptr : q.data(), p.dims, qp, static_cast<float*>(yout)); break;
      default: s = fake_quantize(xin, p.dims, qp, static_cast<float*>(yout)); break;
    }
    Tamper(isa, got.data(), got.bytes());
    agree.check(isa, s, c);
    ExpectStatus(isa, kOpNames[static_cast<int>(op)], s, p.valid, c);
    if (!s.ok()) return ExpectUntouched(isa, kOpNames[static_cast<int>(op)], got, c);
    if (op == Op::kQuantize) {
      ptrdiff_t at = 0;
      if (!got.same(want, &at)) {
        if (got.inside(at)) {
          const int64_t ch = (at / l.inner) % l.channels;
          Fail(isa, Str("quantize: y[", at, "] = ", int{got.at(at)}, ", reference ", int{want.at(at)}, " (x ",
                        x[static_cast<size_t>(at)], ", channel ", ch, ", scale ", p.scale[static_cast<size_t>(ch)], ")"),
               c);
        }
        Fail(isa, Str("quantize: wrote byte ", at, " outside the output"), c);
      }
    } else {
      CheckFloatsBitwise(isa, kOpNames[static_cast<int>(op)], got, want, n, c);
    }
  });
}

void FuzzRequantize(Input& in, Case& c, bool corrupt) {
  const Dims alloc = DecodeDims(in, c);
  Dims dims = alloc;
  RequantParams p;
  p.scheme = in.boolean() ? RequantScheme::kFixedPoint : RequantScheme::kFp32;
  p.range = DecodeRange(in, c);
  p.axis = dims.rank > 0 && in.boolean() ? static_cast<int>(in.range(0, dims.rank - 1)) : -1;
  const int64_t n = NumelOf(alloc), count = p.axis < 0 ? 1 : dims.d[p.axis];
  std::vector<float> mult(static_cast<size_t>(std::max<int64_t>(count, 1)));
  std::vector<int32_t> qm(mult.size()), shift(mult.size());
  static const float kMults[] = {1.0f, 0.5f, 3.1e-5f, 1e-3f, 0.0117f, 2.5f, 1e-9f, 1e30f, FLT_MIN, 1.4e-45f, FLT_MAX};
  const bool uniform = in.boolean();
  for (size_t i = 0; i < mult.size(); ++i) {
    if (uniform && i > 0) {
      mult[i] = mult[0], qm[i] = qm[0], shift[i] = shift[0];
      continue;
    }
    mult[i] = in.chance(200) ? in.pick(kMults) : DecodeScale(in);
    static const int32_t kQm[] = {1, INT32_MAX, 1 << 30, 1518500250, (1 << 30) + 1, 2};
    qm[i] = in.chance(100) ? in.pick(kQm) : static_cast<int32_t>(in.range(1, INT32_MAX));
    shift[i] = static_cast<int32_t>(in.range(-31, 30));
  }
  p.multiplier = mult.data();
  p.fixed_multiplier = qm.data();
  p.shift = shift.data();
  const int32_t lo = qmin(p.range), hi = qmax(p.range);
  p.zero_point = static_cast<int32_t>(in.range(lo, hi));
  if (in.chance(100)) p.lo = static_cast<int32_t>(in.range(lo - 3, p.zero_point));
  if (in.chance(100)) p.hi = static_cast<int32_t>(in.range(std::max(p.lo, lo), hi + 3));
  bool valid = true, null_acc = false, null_y = false;
  if (corrupt) {
    valid = false;
    switch (in.range(0, 11)) {
      case 0: p.range.bits = static_cast<int>(in.range(9, 33)); break;
      case 1: p.range.is_signed = false, p.range.narrow_range = true, p.zero_point = std::max(p.zero_point, 0); break;
      case 2: p.axis = dims.rank + static_cast<int>(in.range(0, 2)); break;
      case 3:
        if (count < 1) { valid = true; break; }
        if (p.scheme == RequantScheme::kFp32) {
          static const float kBad[] = {0.0f, -0.0f, -2.0f, NAN, INFINITY};
          mult[static_cast<size_t>(in.range(0, count - 1))] = in.pick(kBad);
        } else {
          qm[static_cast<size_t>(in.range(0, count - 1))] = -static_cast<int32_t>(in.range(0, INT32_MAX));
        }
        break;
      case 4:
        if (count < 1 || p.scheme == RequantScheme::kFp32) { valid = true; break; }
        shift[static_cast<size_t>(in.range(0, count - 1))] =
            in.boolean() ? static_cast<int32_t>(in.range(-1000, -32)) : static_cast<int32_t>(in.range(31, 1000));
        break;
      case 5: p.zero_point = in.boolean() ? lo - static_cast<int32_t>(in.range(1, 500)) : hi + static_cast<int32_t>(in.range(1, 500)); break;
      case 6: p.lo = static_cast<int32_t>(in.range(hi + 1, hi + 1000)); p.hi = INT32_MAX; break;
      case 7: p.lo = static_cast<int32_t>(in.range(lo, hi)); p.hi = p.lo - static_cast<int32_t>(in.range(1, 100)); break;
      case 8: p.scheme = static_cast<RequantScheme>(in.range(2, 50)); break;
      case 9:
        if (p.scheme == RequantScheme::kFp32) p.multiplier = nullptr; else if (in.boolean()) p.fixed_multiplier = nullptr; else p.shift = nullptr;
        valid = count == 0;
        break;
      case 10: null_acc = n > 0, null_y = !null_acc && in.boolean() && n > 0; valid = !(null_acc || null_y); break;
      default:
        if (dims.rank == 0) { valid = true; break; }
        dims.d[in.range(0, dims.rank - 1)] = -1;
        break;
    }
  }
  c.add("scheme", p.scheme == RequantScheme::kFp32 ? "fp32" : "fixed").add("axis", p.axis).add("zo", p.zero_point)
      .add("lo", p.lo).add("hi", p.hi).add("mult0", mult[0]).add("qm0", qm[0]).add("shift0", shift[0]).add("valid", valid);

  std::vector<int32_t> acc(static_cast<size_t>(std::max<int64_t>(n, 1)));
  static const int32_t kAcc[] = {INT32_MIN, INT32_MAX, 0, -1, 1, INT32_MIN + 1, 1 << 30, -(1 << 30), 16777217, -16777217, 8388609};
  for (auto& v : acc) {
    const int kind = in.u8();
    v = kind < 60 ? static_cast<int32_t>(in.u32()) : kind < 130 ? static_cast<int32_t>(in.range(-10000, 10000))
        : kind < 200 ? static_cast<int32_t>(in.range(-2000000, 2000000)) : in.pick(kAcc);
  }
  const uint8_t pattern = in.u8();
  Guarded want(static_cast<size_t>(n), pattern), got(static_cast<size_t>(n), pattern);
  if (valid) ref::requantize(acc.data(), LayoutOf(alloc, p.axis), p, want.data());
  StatusAgreement agree("requantize");
  ForEachIsa([&](Isa isa) {
    got.fill();
    const Status s = requantize(null_acc ? nullptr : acc.data(), dims, p, null_y ? nullptr : got.data());
    Tamper(isa, got.data(), got.bytes());
    agree.check(isa, s, c);
    ExpectStatus(isa, "requantize", s, valid, c);
    if (!s.ok()) return ExpectUntouched(isa, "requantize", got, c);
    ptrdiff_t at = 0;
    if (!got.same(want, &at)) {
      if (got.inside(at)) {
        Fail(isa, Str("requantize: y[", at, "] = ", int{got.at(at)}, ", reference ", int{want.at(at)}, " (acc ",
                      acc[static_cast<size_t>(at)], ")"),
             c);
      }
      Fail(isa, Str("requantize: wrote byte ", at, " outside the output"), c);
    }
  });
}

void FuzzBackward(Input& in, Case& c, bool corrupt) {
  Params p = DecodeQuantParams(in, c, corrupt);
  const int64_t n = NumelOf(p.alloc);
  const int32_t lo = qmin(p.data_range), hi = qmax(p.data_range);
  const bool want_dx = in.chance(200), want_ds = in.chance(200), want_dzp = in.chance(180);
  std::optional<float> grad_scale;
  if (in.chance(170)) {
    static const float kG[] = {1.0f, 0.01f, 0.5f, 1e-3f, 3.0f, 0.0f, -1.0f, 1e-30f};
    grad_scale = in.pick(kG);
  }
  bool null_x = false, null_dy = false;
  if (corrupt && p.valid) {
    switch (in.range(0, 2)) {
      case 0: null_x = n > 0; break;
      case 1: null_dy = n > 0; break;
      default: grad_scale = in.pick({NAN, INFINITY, -INFINITY}); break;
    }
    p.valid = !(null_x || null_dy || (grad_scale && !std::isfinite(*grad_scale)));
  }
  c.add("dx", want_dx).add("ds", want_ds).add("dzp", want_dzp).add("g", grad_scale ? *grad_scale : -999.0f);

  const ref::Layout l = LayoutOf(p.alloc, p.valid ? p.axis : -1);
  std::vector<float> x(static_cast<size_t>(std::max<int64_t>(n, 1))), dy(x.size());
  for (int64_t i = 0; i < n; ++i) {
    const int64_t ch = p.valid ? (i / l.inner) % l.channels : 0;
    const int32_t z = p.null_zp ? 0 : p.zp[static_cast<size_t>(ch)];
    x[static_cast<size_t>(i)] = DecodeValue(in, p.scale[static_cast<size_t>(ch)], z, lo, hi);
    const int kind = in.u8();
    dy[static_cast<size_t>(i)] = kind < 200 ? (in.u16() / 32768.0f - 1.0f) : kind < 240 ? SpecialFloat(in) : in.raw_float();
  }
  const size_t count = static_cast<size_t>(std::max<int64_t>(p.count, 0));
  const uint8_t pattern = in.u8();
  Guarded dx(want_dx ? static_cast<size_t>(n) * 4 : 0, pattern), ds(want_ds ? count * 4 : 0, pattern ^ 0x11),
      dzp(want_dzp ? count * 4 : 0, pattern ^ 0x22);
  Guarded want_dx_buf(dx.bytes(), pattern);
  QuantParams qp{p.range, p.scale.data(), p.null_zp ? nullptr : p.zp.data(), p.axis};

  // The reference's per-element terms, summed exactly (in double) per channel.
  const float g = grad_scale ? *grad_scale
                             : static_cast<float>(1.0 / std::sqrt(static_cast<double>(n) * qmax(p.data_range)));
  std::vector<double> ds_exact(count), ds_abs(count), dzp_exact(count), dzp_abs(count);
  std::vector<double> ds_finite_abs(count), dzp_finite_abs(count);
  if (p.valid) {
    if (want_dx) {
      ref::fake_quantize_backward(x.data(), dy.data(), l, qp.scale, qp.zero_point, p.range, g,
                                  reinterpret_cast<float*>(want_dx_buf.data()), nullptr, nullptr);
    }
    for (int64_t i = 0; i < n; ++i) {
      const size_t ch = static_cast<size_t>((i / l.inner) % l.channels);
      float tdx, tds, tdzp;
      ref::fake_quantize_backward(&x[static_cast<size_t>(i)], &dy[static_cast<size_t>(i)], ref::Layout{},
                                  &p.scale[ch], qp.zero_point ? &p.zp[ch] : nullptr, p.range, g, &tdx, &tds, &tdzp);
      ds_exact[ch] += tds, ds_abs[ch] += std::fabs(static_cast<double>(tds));
      dzp_exact[ch] += tdzp, dzp_abs[ch] += std::fabs(static_cast<double>(tdzp));
      if (std::isfinite(tds)) ds_finite_abs[ch] += std::fabs(static_cast<double>(tds));
      if (std::isfinite(tdzp)) dzp_finite_abs[ch] += std::fabs(static_cast<double>(tdzp));
    }
  }
  const int64_t per_channel = p.count > 0 ? n / p.count : 0;
  auto check_sums = [&](Isa isa, const char* what, const Guarded& got, const std::vector<double>& exact,
                        const std::vector<double>& abs_sum, const std::vector<double>& finite_abs) {
    ptrdiff_t at = 0;
    if (!got.guards_untouched(&at)) Fail(isa, Str(what, ": wrote byte ", at, " outside the output"), c);
    for (size_t ch = 0; ch < count; ++ch) {
      const float v = LoadFloat(got.data() + 4 * ch);
      if (!SumBoundApplies(finite_abs[ch])) continue;  // fp32 may overflow: no bound
      if (!std::isfinite(exact[ch])) {
        if (!SameFloat(v, static_cast<float>(exact[ch]))) {
          Fail(isa, Str(what, "[", ch, "] = ", v, ", the exact sum of the reference's terms is ", exact[ch]), c);
        }
        continue;
      }
      const double err = std::fabs(static_cast<double>(v) - exact[ch]);
      const double bound = Gamma(per_channel + 1) * abs_sum[ch];
      if (!(err <= bound)) {
        Fail(isa, Str(what, "[", ch, "] = ", v, ", exact ", exact[ch], ": error ", err, " > bound ", bound, " (",
                      per_channel, " terms, sum of |terms| ", abs_sum[ch], ")"),
             c);
      }
    }
  };
  StatusAgreement agree("fake_quantize_backward");
  ForEachIsa([&](Isa isa) {
    dx.fill(), ds.fill(), dzp.fill();
    const FakeQuantGrads grads{want_dx ? reinterpret_cast<float*>(dx.data()) : nullptr,
                               want_ds ? reinterpret_cast<float*>(ds.data()) : nullptr,
                               want_dzp ? reinterpret_cast<float*>(dzp.data()) : nullptr};
    const Status s = fake_quantize_backward(null_x ? nullptr : x.data(), null_dy ? nullptr : dy.data(), p.dims, qp,
                                            grads, grad_scale);
    Tamper(isa, dx.data(), dx.bytes());
    Tamper(isa, ds.data(), ds.bytes());
    Tamper(isa, dzp.data(), dzp.bytes());
    agree.check(isa, s, c);
    ExpectStatus(isa, "fake_quantize_backward", s, p.valid, c);
    if (!s.ok()) {
      ExpectUntouched(isa, "fake_quantize_backward dx", dx, c);
      ExpectUntouched(isa, "fake_quantize_backward dscale", ds, c);
      return ExpectUntouched(isa, "fake_quantize_backward dzero_point", dzp, c);
    }
    if (want_dx) CheckFloatsBitwise(isa, "dx", dx, want_dx_buf, n, c);
    if (want_ds) check_sums(isa, "dscale", ds, ds_exact, ds_abs, ds_finite_abs);
    if (want_dzp) check_sums(isa, "dzero_point", dzp, dzp_exact, dzp_abs, dzp_finite_abs);
  });
}

void FuzzChooseQParams(Input& in, Case& c, bool corrupt) {
  const Dims alloc = DecodeDims(in, c);
  Dims dims = alloc;
  QuantRange range = DecodeRange(in, c);
  int axis = dims.rank > 0 && in.boolean() ? static_cast<int>(in.range(0, dims.rank - 1)) : -1;
  QParamsMode mode = in.boolean() ? QParamsMode::kSymmetric : QParamsMode::kAsymmetric;
  const int64_t n = NumelOf(alloc);
  const int64_t count = axis < 0 ? 1 : dims.d[axis];
  bool valid = true, null_x = false, null_s = false, null_z = false;
  if (corrupt) {
    valid = false;
    switch (in.range(0, 6)) {
      case 0: range.bits = static_cast<int>(in.range(9, 20)); break;
      case 1: range.is_signed = false, range.narrow_range = true; break;
      case 2: axis = -2 - static_cast<int>(in.range(0, 3)); break;
      case 3: mode = static_cast<QParamsMode>(in.range(2, 9)); break;
      case 4: null_x = n > 0, valid = !null_x; break;
      case 5: null_s = count > 0, valid = !null_s; break;
      default: null_z = count > 0, valid = !null_z; break;
    }
  }
  c.add("axis", axis).add("mode", mode == QParamsMode::kSymmetric ? "symmetric" : "asymmetric");
  // Data: a distribution per case (offset, spread), specials now and then.
  std::vector<float> x(static_cast<size_t>(std::max<int64_t>(n, 1)));
  const float spread = std::ldexp(1.0f, static_cast<int>(in.range(-40, 40)));
  const float offset = in.boolean() ? 0.0f : spread * static_cast<float>(in.range(-4, 4));
  const int special_rate = in.chance(128) ? 0 : static_cast<int>(in.range(0, 12));
  for (auto& v : x) {
    const int kind = in.u8();
    if (kind < special_rate) {
      v = SpecialFloat(in);
    } else if (kind > 250) {
      v = in.raw_float();
    } else {
      v = offset + spread * (in.u16() / 32768.0f - 1.0f);
    }
  }
  const ref::Layout l = LayoutOf(alloc, valid ? axis : -1);
  const size_t cnt = static_cast<size_t>(std::max<int64_t>(count, 0));
  const uint8_t pattern = in.u8();
  Guarded want_s(cnt * 4, pattern), want_z(cnt * 4, pattern ^ 0x5a), got_s(cnt * 4, pattern), got_z(cnt * 4, pattern ^ 0x5a);
  if (valid) {
    // The data's validity (finite, range within the largest float) and the answer, from the reference.
    std::vector<float> mn(cnt), mx(cnt);
    const bool finite = cnt == 0 || ref::minmax(x.data(), l, mn.data(), mx.data());
    valid = finite;
    for (size_t i = 0; i < cnt && valid; ++i) {
      const float a = n > 0 ? mn[i] : 0.0f, b = n > 0 ? mx[i] : 0.0f;
      if (!std::isfinite(std::max(b, 0.0f) - std::min(a, 0.0f))) valid = false;
    }
    c.add("data_valid", valid);
    for (size_t i = 0; i < cnt && valid; ++i) {
      ref::qparams_from_minmax(n > 0 ? mn[i] : 0.0f, n > 0 ? mx[i] : 0.0f, range, mode,
                               reinterpret_cast<float*>(want_s.data()) + i, reinterpret_cast<int32_t*>(want_z.data()) + i);
    }
  }
  StatusAgreement agree("choose_qparams");
  ForEachIsa([&](Isa isa) {
    got_s.fill(), got_z.fill();
    const Status s = choose_qparams(null_x ? nullptr : x.data(), dims, range, mode, axis,
                                    null_s ? nullptr : reinterpret_cast<float*>(got_s.data()),
                                    null_z ? nullptr : reinterpret_cast<int32_t*>(got_z.data()));
    Tamper(isa, got_s.data(), got_s.bytes());
    agree.check(isa, s, c);
    ExpectStatus(isa, "choose_qparams", s, valid, c);
    if (!s.ok()) {
      ExpectUntouched(isa, "choose_qparams scale", got_s, c);
      return ExpectUntouched(isa, "choose_qparams zero_point", got_z, c);
    }
    CheckFloatsBitwise(isa, "scale", got_s, want_s, static_cast<int64_t>(cnt), c);
    CheckBytes(isa, "zero_point", got_z, want_z, c);
  });
}

void FuzzQuantizeMultiplier(Input& in, Case& c) {
  double real;
  const int kind = in.u8();
  if (kind < 100) {
    real = std::ldexp(1.0 + in.u32() / 4294967296.0, static_cast<int>(in.range(-40, 33)));
  } else if (kind < 160) {
    static const double kR[] = {0.5, 0.375, 3.0, 1.0, 1e-6, 0.0123456, 0.999999999, 17.25, 0.0, -1.0, 1e-30,
                                NAN, INFINITY, 2147483648.0, 2147483647.999, 4.656612873077393e-10,
                                4.6566128730773926e-10 * 0.5, 1.0 - 1e-17, 0.99999999976716936};
    real = in.pick(kR);
  } else {
    const uint64_t u = in.u64();
    std::memcpy(&real, &u, 8);
  }
  const bool null_q = in.chance(10), null_s = in.chance(10);
  c.add("real", Str(real)).add("null_q", null_q).add("null_shift", null_s);
  StatusAgreement agree("quantize_multiplier");
  int32_t first_q = 0, first_s = 0;
  ForEachIsa([&](Isa isa) {
    int32_t q = -7, s = -7;
    const Status st = quantize_multiplier(real, null_q ? nullptr : &q, null_s ? nullptr : &s);
    Tamper(isa, &q, sizeof(q));
    agree.check(isa, st, c);
    if (null_q || null_s) {
      ExpectStatus(isa, "quantize_multiplier", st, false, c);
      if (q != -7 || s != -7) Fail(isa, "quantize_multiplier failed but wrote an output", c);
      return;
    }
    const bool in_domain = std::isfinite(real) && real > 0 && real < 2147483648.0;
    if (!in_domain) ExpectStatus(isa, "quantize_multiplier", st, false, c);
    if (!st.ok()) {
      if (q != -7 || s != -7) Fail(isa, "quantize_multiplier failed but wrote an output", c);
      // Inside the domain only multipliers that need a shift outside [-31, 30]
      // fail (docs/semantics.md: where TFLite would clamp): below 2^-32, or
      // from 2^30 (less the rounding of the 31-bit fraction) up.
      if (in_domain && real >= std::ldexp(1.0, -32) && real < std::ldexp(1.0, 30) - 0.25) {
        Fail(isa, Str("quantize_multiplier rejected ", real, ": ", st.to_string()), c);
      }
      return;
    }
    if (q < (1 << 30) || s < -31 || s > 30) Fail(isa, Str("quantize_multiplier gave q31 ", q, " shift ", s), c);
    const double back = std::ldexp(static_cast<double>(q), s - 31);
    if (!(std::fabs(back - real) <= real * std::ldexp(1.0, -31))) {
      Fail(isa, Str("quantize_multiplier: q31 ", q, " shift ", s, " is ", back, ", not ", real), c);
    }
    if (isa == Isas().front()) {
      first_q = q, first_s = s;
    } else if (q != first_q || s != first_s) {
      Fail(isa, Str("quantize_multiplier: ", q, "/", s, " differs from scalar's ", first_q, "/", first_s), c);
    }
  });
}

}  // namespace
}  // namespace fuzz
}  // namespace qkern

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace qkern::fuzz;
  TargetName() = "fuzz_quantize";
  Input in(data, size);
  Case c;
  const Op op = static_cast<Op>(in.range(0, 6));
  const bool corrupt = in.chance(40);
  c.add("op", kOpNames[static_cast<int>(op)]).add("corrupt", corrupt);
  switch (op) {
    case Op::kQuantize:
    case Op::kDequantize:
    case Op::kFakeQuantize: FuzzQuantizeDequantizeFake(op, in, c, corrupt); break;
    case Op::kRequantize: FuzzRequantize(in, c, corrupt); break;
    case Op::kBackward: FuzzBackward(in, c, corrupt); break;
    case Op::kChooseQParams: FuzzChooseQParams(in, c, corrupt); break;
    case Op::kMultiplier: FuzzQuantizeMultiplier(in, c); break;
  }
  return 0;
}
