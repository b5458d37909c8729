// kernels/common/validate.cc
#include "kernels/common/validate.h"

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <limits>

namespace qkern {

Dims::Dims(std::initializer_list<int64_t> dims) {
  if (dims.size() > static_cast<size_t>(kMaxRank)) {
    rank = kMaxRank + 1;  // invalid: check_dims reports it
    return;
  }
  rank = static_cast<int>(dims.size());
  int i = 0;
  for (int64_t v : dims) d[i++] = v;
}

int32_t qmin(const QuantRange& r) {
  if (!r.is_signed) return 0;
  return -(1 << (r.bits - 1)) + (r.narrow_range ? 1 : 0);
}

int32_t qmax(const QuantRange& r) {
  return r.is_signed ? (1 << (r.bits - 1)) - 1 : (1 << r.bits) - 1;
}

namespace internal {

std::string indexed(const char* name, int64_t i) {
  return std::string(name) + "[" + std::to_string(i) + "]";
}

std::string str(float v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", static_cast<double>(v));
  return buf;
}

std::string str(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

Status check_dims(const char* name, const Dims& dims, int64_t max_elem_bytes, int64_t* numel) {
  if (dims.rank < 0 || dims.rank > Dims::kMaxRank) {
    return invalid(std::string(name) + ": rank " + std::to_string(dims.rank) +
                   " is outside [0, " + std::to_string(Dims::kMaxRank) + "]");
  }
  const int64_t limit = std::numeric_limits<std::ptrdiff_t>::max() / max_elem_bytes;
  int64_t n = 1;
  for (int i = 0; i < dims.rank; ++i) {
    if (dims.d[i] < 0) {
      return invalid(indexed(name, i) + ": extent must be >= 0 (got " + std::to_string(dims.d[i]) + ")");
    }
  }
  for (int i = 0; i < dims.rank; ++i) {
    if (dims.d[i] == 0) {
      n = 0;
      break;
    }
    if (n > limit / dims.d[i]) {
      return Status(StatusCode::kOverflow, std::string(name) + ": " + dims_string(dims) +
                                               " elements of " + std::to_string(max_elem_bytes) +
                                               " bytes overflow the address space");
    }
    n *= dims.d[i];
  }
  *numel = n;
  return Status();
}

Status check_pointer(const char* name, const void* p, int64_t count) {
  if (p == nullptr && count > 0) {
    return invalid(std::string(name) + ": null pointer for " + std::to_string(count) + " elements");
  }
  return Status();
}

Status check_range(const char* name, const QuantRange& range) {
  if (range.bits < 2 || range.bits > 8) {
    return out_of_range(std::string(name) + ".bits: must be in [2, 8] (got " +
                        std::to_string(range.bits) + ")");
  }
  if (range.narrow_range && !range.is_signed) {
    return invalid(std::string(name) + ".narrow_range: only signed ranges can be narrow");
  }
  return Status();
}

Status check_axis(const char* name, int axis, const Dims& dims) {
  if (axis < -1 || axis >= dims.rank) {
    return out_of_range(std::string(name) + ": must be -1 (per tensor) or in [0, " +
                        std::to_string(dims.rank) + ") (got " + std::to_string(axis) + ")");
  }
  return Status();
}

Status check_scales(const char* name, const float* scale, int64_t count) {
  if (Status s = check_pointer(name, scale, count); !s.ok()) return s;
  for (int64_t i = 0; i < count; ++i) {
    if (!(std::isfinite(scale[i]) && scale[i] > 0.0f)) {
      return out_of_range(indexed(name, i) + ": must be finite and > 0 (got " + str(scale[i]) + ")");
    }
  }
  return Status();
}

Status check_zero_points(const char* name, const int32_t* zp, int64_t count, const QuantRange& r) {
  if (zp == nullptr) return Status();
  const int32_t lo = qmin(r), hi = qmax(r);
  for (int64_t i = 0; i < count; ++i) {
    if (zp[i] < lo || zp[i] > hi) {
      return out_of_range(indexed(name, i) + ": must be in [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "] (got " + std::to_string(zp[i]) + ")");
    }
  }
  return Status();
}

ChannelLayout channel_layout(const Dims& dims, int axis) {
  ChannelLayout l;
  int64_t numel = 1;
  for (int i = 0; i < dims.rank; ++i) numel *= dims.d[i];
  if (axis < 0) {
    l.inner = numel;
    return l;
  }
  for (int i = 0; i < axis; ++i) l.outer *= dims.d[i];
  l.channels = dims.d[axis];
  for (int i = axis + 1; i < dims.rank; ++i) l.inner *= dims.d[i];
  return l;
}

std::string dims_string(const Dims& dims) {
  if (dims.rank == 0) return "scalar";
  std::string s;
  for (int i = 0; i < dims.rank && i < Dims::kMaxRank; ++i) {
    if (i) s += "x";
    s += std::to_string(dims.d[i]);
  }
  return s;
}

}  // namespace internal
}  // namespace qkern
