// kernels/quantize/quantize.cc: the quantize family's front end and driver.
//
// Front end: validate every argument before anything is written, then view
// the tensor as [outer][C][inner] around the channel axis. Driver: cut that
// view into contiguous rows for the microkernels (quantize_kernels.h):
//   per tensor               one row of numel elements, uniform parameters;
//   per channel, inner >= 64 outer * C rows of `inner`, each with its channel's
//                            uniform parameters;
//   per channel, inner < 64  outer rows of C * inner with per-element
//                            parameters (channel-last and near it), so short
//                            rows never leave the vector loop for the tail.
// The scalar ISA is the reference itself (reference/quantize_ref.h).
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <new>
#include <string>

#include "kernels/common/registry.h"
#include "kernels/common/validate.h"
#include "kernels/common/verbose.h"
#include "kernels/quantize/quantize_kernels.h"
#include "qkern/isa.hpp"
#include "qkern/quantize.hpp"
#include "reference/quantize_ref.h"

namespace qkern {
namespace internal {
namespace {

// Rows shorter than this use per-element parameters (one row per outer index).
constexpr int64_t kMinUniformRow = 64;

const Registry<QuantizeKernels>& registry() {
  // scalar stays null: the front ends call the reference directly.
  static const Registry<QuantizeKernels> r(nullptr, quantize_kernels_avx2(), quantize_kernels_avx512(),
                                           quantize_kernels_avx512_vnni(), quantize_kernels_neon(), nullptr);
  return r;
}

ref::Layout to_ref(const ChannelLayout& l) { return {l.outer, l.channels, l.inner}; }

bool per_element_rows(const ChannelLayout& l) { return l.channels > 1 && l.inner < kMinUniformRow; }

// Per-element rows are walked in column chunks of kChunk elements (every outer
// row of a chunk before the next chunk), so expanded parameters and
// per-column accumulators take kChunk values each, whatever the tensor size.
constexpr int64_t kChunk = 4096;

// The longest chunk of a per-element row: a short row is one chunk.
int64_t chunk_length(const ChannelLayout& l) { return std::min(kChunk, l.channels * l.inner); }

template <typename T>
std::unique_ptr<T[]> allocate(int64_t n) {
  return std::unique_ptr<T[]>(new (std::nothrow) T[static_cast<size_t>(std::max<int64_t>(n, 1))]);
}

Status out_of_memory(const char* what) {
  return Status(StatusCode::kOutOfMemory, std::string(what) + ": allocation failed");
}

// One parameter (scale, zero point, ...) for the driver's rows: a value per
// channel, and for per-element rows a chunk expanded from those values.
template <typename T>
class RowParams {
 public:
  template <class F>
  Status init(const ChannelLayout& l, const F& value_of_channel) {
    inner_ = l.inner;
    channels_ = allocate<T>(l.channels);
    if (per_element_rows(l)) chunk_ = allocate<T>(chunk_length(l));
    if (!channels_ || (per_element_rows(l) && !chunk_)) return out_of_memory("row parameters");
    for (int64_t c = 0; c < l.channels; ++c) channels_[c] = value_of_channel(c);
    return Status();
  }
  // Fills the chunk with columns [j0, j0 + n) of a per-element row.
  void expand(int64_t j0, int64_t n) {
    for (int64_t j = 0; j < n; ++j) chunk_[j] = channels_[(j0 + j) / inner_];
  }
  // The parameters of a row: its channel's value, or the expanded chunk.
  const T* row(int64_t c, bool per_element) const {
    return per_element ? chunk_.get() : channels_.get() + c;
  }

 private:
  int64_t inner_ = 1;
  std::unique_ptr<T[]> channels_, chunk_;
};

// Visits every row of the layout: row(offset, n, channel, per_element).
// Per-element rows come in chunks of columns [j0, j0 + n): begin(j0, n) runs
// before a chunk's rows and end(j0, n) after them.
template <class Begin, class Row, class End>
void for_each_row(const ChannelLayout& l, const Begin& begin, const Row& row, const End& end) {
  const int64_t numel = l.outer * l.channels * l.inner;
  if (numel == 0) return;
  if (l.channels == 1) {
    row(0, numel, 0, false);  // one set of parameters for the whole dense tensor
  } else if (per_element_rows(l)) {
    const int64_t len = l.channels * l.inner;
    for (int64_t j0 = 0; j0 < len; j0 += kChunk) {
      const int64_t n = std::min(kChunk, len - j0);
      begin(j0, n);
      for (int64_t o = 0; o < l.outer; ++o) row(o * len + j0, n, 0, true);
      end(j0, n);
    }
  } else {
    for (int64_t o = 0; o < l.outer; ++o) {
      for (int64_t c = 0; c < l.channels; ++c) row((o * l.channels + c) * l.inner, l.inner, c, false);
    }
  }
}

template <class Begin, class Row>
void for_each_row(const ChannelLayout& l, const Begin& begin, const Row& row) {
  for_each_row(l, begin, row, [](int64_t, int64_t) {});
}

int64_t param_count(const Dims& dims, int axis) { return axis < 0 ? 1 : dims.d[axis]; }

int32_t zp_of(const int32_t* zp, int64_t c) { return zp ? zp[c] : 0; }

std::string type_name(const QuantRange& r) { return r.is_signed ? "s8" : "u8"; }

std::string describe(const Dims& dims, int axis, const QuantRange& r) {
  return "dims=" + dims_string(dims) + " axis=" + std::to_string(axis) +
         " bits=" + std::to_string(r.bits) + (r.narrow_range ? " narrow" : "");
}

// The common checks of quantize, dequantize and fake quantization.
Status check_qparams(const Dims& dims, const QuantParams& p, int64_t* numel) {
  if (Status s = check_dims("dims", dims, 4, numel); !s.ok()) return s;
  if (Status s = check_range("params.range", p.range); !s.ok()) return s;
  if (Status s = check_axis("params.axis", p.axis, dims); !s.ok()) return s;
  const int64_t count = param_count(dims, p.axis);
  if (Status s = check_scales("params.scale", p.scale, count); !s.ok()) return s;
  return check_zero_points("params.zero_point", p.zero_point, count, p.range);
}

}  // namespace
}  // namespace internal

using internal::ChannelLayout;
using internal::RowParams;

Status quantize(const float* x, const Dims& dims, const QuantParams& p, void* y, QuantizeMode mode) {
  internal::VerboseScope verbose("exec", "quantize");
  int64_t numel = 0;
  if (Status s = internal::check_qparams(dims, p, &numel); !s.ok()) return s;
  if (mode != QuantizeMode::kMultiply && mode != QuantizeMode::kDivide) {
    return internal::invalid("mode: not a QuantizeMode");
  }
  if (Status s = internal::check_pointer("x", x, numel); !s.ok()) return s;
  if (Status s = internal::check_pointer("y", y, numel); !s.ok()) return s;

  const ChannelLayout l = internal::channel_layout(dims, p.axis);
  const bool divide = mode == QuantizeMode::kDivide;
  const auto sel = internal::registry().select(active_isa());
  if (sel.kernels == nullptr) {
    ref::quantize(x, internal::to_ref(l), p.scale, p.zero_point, p.range, mode, y);
  } else {
    RowParams<float> s, zp;
    if (Status st = s.init(l, [&](int64_t c) { return divide ? p.scale[c] : 1.0f / p.scale[c]; });
        !st.ok())
      return st;
    if (Status st = zp.init(l, [&](int64_t c) { return float(internal::zp_of(p.zero_point, c)); });
        !st.ok())
      return st;
    const float lo = float(qmin(p.range)), hi = float(qmax(p.range));
    const auto* k = sel.kernels;
    internal::for_each_row(
        l,
        [&](int64_t j0, int64_t n) {
          s.expand(j0, n);
          zp.expand(j0, n);
        },
        [&](int64_t off, int64_t n, int64_t c, bool pe) {
          if (p.range.is_signed) {
            k->quantize_s8(x + off, n, s.row(c, pe), zp.row(c, pe), pe, divide, lo, hi,
                           static_cast<int8_t*>(y) + off);
          } else {
            k->quantize_u8(x + off, n, s.row(c, pe), zp.row(c, pe), pe, divide, lo, hi,
                           static_cast<uint8_t*>(y) + off);
          }
        });
  }
  if (verbose.active()) {
    verbose.record(sel.isa, "quantize_f32_" + internal::type_name(p.range) + "__" + isa_name(sel.isa),
                   internal::describe(dims, p.axis, p.range) + (divide ? " divide" : " multiply"));
  }
  return Status();
}

Status dequantize(const void* q, const Dims& dims, const QuantParams& p, float* y) {
  internal::VerboseScope verbose("exec", "dequantize");
  int64_t numel = 0;
  if (Status s = internal::check_qparams(dims, p, &numel); !s.ok()) return s;
  if (Status s = internal::check_pointer("q", q, numel); !s.ok()) return s;
  if (Status s = internal::check_pointer("y", y, numel); !s.ok()) return s;

  const ChannelLayout l = internal::channel_layout(dims, p.axis);
  const auto sel = internal::registry().select(active_isa());
  if (sel.kernels == nullptr) {
    ref::dequantize(q, internal::to_ref(l), p.scale, p.zero_point, p.range, y);
  } else {
    RowParams<float> s;
    RowParams<int32_t> zp;
    if (Status st = s.init(l, [&](int64_t c) { return p.scale[c]; }); !st.ok()) return st;
    if (Status st = zp.init(l, [&](int64_t c) { return internal::zp_of(p.zero_point, c); }); !st.ok())
      return st;
    const auto* k = sel.kernels;
    internal::for_each_row(
        l,
        [&](int64_t j0, int64_t n) {
          s.expand(j0, n);
          zp.expand(j0, n);
        },
        [&](int64_t off, int64_t n, int64_t c, bool pe) {
          if (p.range.is_signed) {
            k->dequantize_s8(static_cast<const int8_t*>(q) + off, n, s.row(c, pe), zp.row(c, pe), pe,
                             y + off);
          } else {
            k->dequantize_u8(static_cast<const uint8_t*>(q) + off, n, s.row(c, pe), zp.row(c, pe),
                             pe, y + off);
          }
        });
  }
  if (verbose.active()) {
    verbose.record(sel.isa, "dequantize_" + internal::type_name(p.range) + "_f32__" + isa_name(sel.isa),
                   internal::describe(dims, p.axis, p.range));
  }
  return Status();
}

Status requantize(const int32_t* acc, const Dims& dims, const RequantParams& p, void* y) {
  internal::VerboseScope verbose("exec", "requantize");
  int64_t numel = 0;
  if (Status s = internal::check_dims("dims", dims, 4, &numel); !s.ok()) return s;
  if (Status s = internal::check_range("params.range", p.range); !s.ok()) return s;
  if (Status s = internal::check_axis("params.axis", p.axis, dims); !s.ok()) return s;
  const int64_t count = internal::param_count(dims, p.axis);
  const bool fp32 = p.scheme == RequantScheme::kFp32;
  if (fp32) {
    if (Status s = internal::check_scales("params.multiplier", p.multiplier, count); !s.ok()) return s;
  } else if (p.scheme == RequantScheme::kFixedPoint) {
    if (Status s = internal::check_pointer("params.fixed_multiplier", p.fixed_multiplier, count); !s.ok())
      return s;
    if (Status s = internal::check_pointer("params.shift", p.shift, count); !s.ok()) return s;
    for (int64_t c = 0; c < count; ++c) {
      if (p.fixed_multiplier[c] <= 0) {
        return internal::out_of_range(internal::indexed("params.fixed_multiplier", c) +
                                      ": must be in [1, 2^31 - 1] (got " +
                                      std::to_string(p.fixed_multiplier[c]) + ")");
      }
      if (p.shift[c] < -31 || p.shift[c] > 30) {
        return internal::out_of_range(internal::indexed("params.shift", c) +
                                      ": must be in [-31, 30] (got " + std::to_string(p.shift[c]) + ")");
      }
    }
  } else {
    return internal::invalid("params.scheme: not a RequantScheme");
  }
  if (Status s = internal::check_zero_points("params.zero_point", &p.zero_point, 1, p.range); !s.ok())
    return s;
  const int32_t lo = std::max(p.lo, qmin(p.range)), hi = std::min(p.hi, qmax(p.range));
  if (lo > hi) {
    return internal::out_of_range("params.lo/hi: the clamp [" + std::to_string(p.lo) + ", " +
                                  std::to_string(p.hi) + "] leaves no code of [" +
                                  std::to_string(qmin(p.range)) + ", " + std::to_string(qmax(p.range)) + "]");
  }
  if (Status s = internal::check_pointer("acc", acc, numel); !s.ok()) return s;
  if (Status s = internal::check_pointer("y", y, numel); !s.ok()) return s;

  const ChannelLayout l = internal::channel_layout(dims, p.axis);
  const auto sel = internal::registry().select(active_isa());
  if (sel.kernels == nullptr) {
    ref::requantize(acc, internal::to_ref(l), p, y);
  } else if (fp32) {
    RowParams<float> m;
    if (Status st = m.init(l, [&](int64_t c) { return p.multiplier[c]; }); !st.ok()) return st;
    const auto* k = sel.kernels;
    const float zo = float(p.zero_point), flo = float(lo), fhi = float(hi);
    internal::for_each_row(
        l, [&](int64_t j0, int64_t n) { m.expand(j0, n); },
        [&](int64_t off, int64_t n, int64_t c, bool pe) {
          if (p.range.is_signed) {
            k->requantize_fp32_s8(acc + off, n, m.row(c, pe), pe, zo, flo, fhi,
                                  static_cast<int8_t*>(y) + off);
          } else {
            k->requantize_fp32_u8(acc + off, n, m.row(c, pe), pe, zo, flo, fhi,
                                  static_cast<uint8_t*>(y) + off);
          }
        });
  } else {
    RowParams<int32_t> qm, sh;
    if (Status st = qm.init(l, [&](int64_t c) { return p.fixed_multiplier[c]; }); !st.ok()) return st;
    if (Status st = sh.init(l, [&](int64_t c) { return p.shift[c]; }); !st.ok()) return st;
    const auto* k = sel.kernels;
    internal::for_each_row(
        l,
        [&](int64_t j0, int64_t n) {
          qm.expand(j0, n);
          sh.expand(j0, n);
        },
        [&](int64_t off, int64_t n, int64_t c, bool pe) {
          if (p.range.is_signed) {
            k->requantize_fixed_s8(acc + off, n, qm.row(c, pe), sh.row(c, pe), pe, p.zero_point, lo,
                                   hi, static_cast<int8_t*>(y) + off);
          } else {
            k->requantize_fixed_u8(acc + off, n, qm.row(c, pe), sh.row(c, pe), pe, p.zero_point, lo,
                                   hi, static_cast<uint8_t*>(y) + off);
          }
        });
  }
  if (verbose.active()) {
    verbose.record(sel.isa,
                   std::string("requantize_s32_") + internal::type_name(p.range) +
                       (fp32 ? "_fp32__" : "_fixedpoint__") + isa_name(sel.isa),
                   internal::describe(dims, p.axis, p.range) + " clamp=[" + std::to_string(lo) +
                       "," + std::to_string(hi) + "]");
  }
  return Status();
}

Status quantize_multiplier(double real, int32_t* q31, int32_t* shift) {
  if (q31 == nullptr || shift == nullptr) return internal::invalid("q31/shift: null pointer");
  if (!(std::isfinite(real) && real > 0.0 && real < 2147483648.0)) {
    return internal::out_of_range("real_multiplier: must be in (0, 2^31) (got " +
                                  internal::str(real) + ")");
  }
  int exponent = 0;
  const double fraction = std::frexp(real, &exponent);  // real = fraction * 2^exponent, [0.5, 1)
  int64_t q = std::llround(fraction * 2147483648.0);
  if (q == (int64_t{1} << 31)) {
    q /= 2;
    ++exponent;
  }
  if (exponent < -31 || exponent > 30) {
    return internal::out_of_range("real_multiplier: " + internal::str(real) +
                                  " needs a shift outside [-31, 30]");
  }
  *q31 = static_cast<int32_t>(q);
  *shift = exponent;
  return Status();
}

Status choose_qparams(const float* x, const Dims& dims, const QuantRange& range, QParamsMode mode,
                      int axis, float* scale, int32_t* zero_point) {
  internal::VerboseScope verbose("exec", "choose_qparams");
  int64_t numel = 0;
  if (Status s = internal::check_dims("dims", dims, 4, &numel); !s.ok()) return s;
  if (Status s = internal::check_range("range", range); !s.ok()) return s;
  if (Status s = internal::check_axis("axis", axis, dims); !s.ok()) return s;
  if (mode != QParamsMode::kAsymmetric && mode != QParamsMode::kSymmetric) {
    return internal::invalid("mode: not a QParamsMode");
  }
  const int64_t count = internal::param_count(dims, axis);
  if (Status s = internal::check_pointer("x", x, numel); !s.ok()) return s;
  if (Status s = internal::check_pointer("scale", scale, count); !s.ok()) return s;
  if (Status s = internal::check_pointer("zero_point", zero_point, count); !s.ok()) return s;

  const ChannelLayout l = internal::channel_layout(dims, axis);
  std::unique_ptr<float[]> mn(new (std::nothrow) float[count]), mx(new (std::nothrow) float[count]);
  if (!mn || !mx) return Status(StatusCode::kOutOfMemory, "choose_qparams: cannot allocate min/max");
  const auto sel = internal::registry().select(active_isa());
  bool finite = true;
  if (sel.kernels == nullptr) {
    finite = ref::minmax(x, internal::to_ref(l), mn.get(), mx.get());
  } else {
    constexpr float kInf = std::numeric_limits<float>::infinity();
    std::fill(mn.get(), mn.get() + count, kInf);
    std::fill(mx.get(), mx.get() + count, -kInf);
    // Per-element rows: a min and a max per column of the chunk, folded into
    // the channels after the chunk's rows.
    std::unique_ptr<float[]> col_mn, col_mx;
    if (internal::per_element_rows(l)) {
      col_mn = internal::allocate<float>(internal::chunk_length(l));
      col_mx = internal::allocate<float>(internal::chunk_length(l));
      if (!col_mn || !col_mx) return internal::out_of_memory("choose_qparams workspace");
    }
    internal::for_each_row(
        l,
        [&](int64_t, int64_t n) {
          std::fill(col_mn.get(), col_mn.get() + n, kInf);
          std::fill(col_mx.get(), col_mx.get() + n, -kInf);
        },
        [&](int64_t off, int64_t n, int64_t c, bool pe) {
          float* pmn = pe ? col_mn.get() : mn.get() + c;
          float* pmx = pe ? col_mx.get() : mx.get() + c;
          finite &= sel.kernels->minmax(x + off, n, pe, pmn, pmx);
        },
        [&](int64_t j0, int64_t n) {
          for (int64_t j = 0; j < n; ++j) {
            const int64_t c = (j0 + j) / l.inner;
            mn[c] = std::min(mn[c], col_mn[j]);
            mx[c] = std::max(mx[c], col_mx[j]);
          }
        });
  }
  if (!finite) return internal::out_of_range("x: contains NaN or infinity");
  for (int64_t c = 0; c < count; ++c) {
    // An empty tensor (or channel) chooses from [0, 0]: scale kMinScale.
    const float lo = numel > 0 ? mn[c] : 0.0f, hi = numel > 0 ? mx[c] : 0.0f;
    if (!std::isfinite(std::max(hi, 0.0f) - std::min(lo, 0.0f))) {
      return internal::out_of_range("x: the range [" + internal::str(lo) + ", " + internal::str(hi) +
                                    "] is wider than the largest float");
    }
  }
  for (int64_t c = 0; c < count; ++c) {
    const float lo = numel > 0 ? mn[c] : 0.0f, hi = numel > 0 ? mx[c] : 0.0f;
    ref::qparams_from_minmax(lo, hi, range, mode, &scale[c], &zero_point[c]);
  }
  if (verbose.active()) {
    verbose.record(sel.isa, std::string("choose_qparams_f32__") + isa_name(sel.isa),
                   internal::describe(dims, axis, range) +
                       (mode == QParamsMode::kSymmetric ? " symmetric" : " asymmetric"));
  }
  return Status();
}

Status fake_quantize(const float* x, const Dims& dims, const QuantParams& p, float* y) {
  internal::VerboseScope verbose("exec", "fake_quantize");
  int64_t numel = 0;
  if (Status s = internal::check_qparams(dims, p, &numel); !s.ok()) return s;
  if (Status s = internal::check_pointer("x", x, numel); !s.ok()) return s;
  if (Status s = internal::check_pointer("y", y, numel); !s.ok()) return s;

  const ChannelLayout l = internal::channel_layout(dims, p.axis);
  const auto sel = internal::registry().select(active_isa());
  if (sel.kernels == nullptr) {
    ref::fake_quantize(x, internal::to_ref(l), p.scale, p.zero_point, p.range, y);
  } else {
    RowParams<float> inv, s, zp;
    if (Status st = inv.init(l, [&](int64_t c) { return 1.0f / p.scale[c]; }); !st.ok()) return st;
    if (Status st = s.init(l, [&](int64_t c) { return p.scale[c]; }); !st.ok()) return st;
    if (Status st = zp.init(l, [&](int64_t c) { return float(internal::zp_of(p.zero_point, c)); });
        !st.ok())
      return st;
    const float lo = float(qmin(p.range)), hi = float(qmax(p.range));
    internal::for_each_row(
        l,
        [&](int64_t j0, int64_t n) {
          inv.expand(j0, n);
          s.expand(j0, n);
          zp.expand(j0, n);
        },
        [&](int64_t off, int64_t n, int64_t c, bool pe) {
          sel.kernels->fake_quantize(x + off, n, inv.row(c, pe), s.row(c, pe), zp.row(c, pe), pe, lo,
                                     hi, y + off);
        });
  }
  if (verbose.active()) {
    verbose.record(sel.isa, std::string("fake_quantize_f32__") + isa_name(sel.isa),
                   internal::describe(dims, p.axis, p.range));
  }
  return Status();
}

Status fake_quantize_backward(const float* x, const float* dy, const Dims& dims,
                              const QuantParams& p, const FakeQuantGrads& grads,
                              std::optional<float> grad_scale) {
  internal::VerboseScope verbose("exec", "fake_quantize_backward");
  int64_t numel = 0;
  if (Status s = internal::check_qparams(dims, p, &numel); !s.ok()) return s;
  if (Status s = internal::check_pointer("x", x, numel); !s.ok()) return s;
  if (Status s = internal::check_pointer("dy", dy, numel); !s.ok()) return s;
  if (grad_scale && !std::isfinite(*grad_scale)) {
    return internal::out_of_range("grad_scale: must be finite (got " + internal::str(*grad_scale) + ")");
  }
  const int64_t count = internal::param_count(dims, p.axis);
  const ChannelLayout l = internal::channel_layout(dims, p.axis);
  const float g = grad_scale ? *grad_scale
                             : static_cast<float>(1.0 / std::sqrt(static_cast<double>(numel) *
                                                                  qmax(p.range)));
  const auto sel = internal::registry().select(active_isa());
  if (sel.kernels == nullptr) {
    ref::fake_quantize_backward(x, dy, internal::to_ref(l), p.scale, p.zero_point, p.range, g,
                                grads.dx, grads.dscale, grads.dzero_point);
  } else {
    RowParams<float> inv, s, zp;
    if (Status st = inv.init(l, [&](int64_t c) { return 1.0f / p.scale[c]; }); !st.ok()) return st;
    if (Status st = s.init(l, [&](int64_t c) { return p.scale[c]; }); !st.ok()) return st;
    if (Status st = zp.init(l, [&](int64_t c) { return float(internal::zp_of(p.zero_point, c)); });
        !st.ok())
      return st;
    // Per-element rows: one sum per column of the chunk, folded into the
    // channels after the chunk's rows.
    std::unique_ptr<float[]> col_ds, col_dzp;
    if (internal::per_element_rows(l)) {
      col_ds = internal::allocate<float>(internal::chunk_length(l));
      col_dzp = internal::allocate<float>(internal::chunk_length(l));
      if (!col_ds || !col_dzp) return internal::out_of_memory("fake_quantize_backward workspace");
    }
    if (grads.dscale) std::fill(grads.dscale, grads.dscale + count, 0.0f);
    if (grads.dzero_point) std::fill(grads.dzero_point, grads.dzero_point + count, 0.0f);
    const float lo = float(qmin(p.range)), hi = float(qmax(p.range));
    internal::for_each_row(
        l,
        [&](int64_t j0, int64_t n) {
          inv.expand(j0, n);
          s.expand(j0, n);
          zp.expand(j0, n);
          std::fill(col_ds.get(), col_ds.get() + n, 0.0f);
          std::fill(col_dzp.get(), col_dzp.get() + n, 0.0f);
        },
        [&](int64_t off, int64_t n, int64_t c, bool pe) {
          float* ds = grads.dscale ? (pe ? col_ds.get() : grads.dscale + c) : nullptr;
          float* dzp = grads.dzero_point ? (pe ? col_dzp.get() : grads.dzero_point + c) : nullptr;
          sel.kernels->fake_quantize_backward(x + off, dy + off, n, inv.row(c, pe), s.row(c, pe),
                                              zp.row(c, pe), pe, lo, hi, g,
                                              grads.dx ? grads.dx + off : nullptr, ds, dzp);
        },
        [&](int64_t j0, int64_t n) {
          for (int64_t j = 0; j < n; ++j) {
            const int64_t c = (j0 + j) / l.inner;
            if (grads.dscale) grads.dscale[c] += col_ds[j];
            if (grads.dzero_point) grads.dzero_point[c] += col_dzp[j];
          }
        });
  }
  if (verbose.active()) {
    verbose.record(sel.isa, std::string("fake_quantize_backward_f32__") + isa_name(sel.isa),
                   internal::describe(dims, p.axis, p.range) + " g=" + internal::str(g));
  }
  return Status();
}

}  // namespace qkern
