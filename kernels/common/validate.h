// kernels/common/validate.h: argument checks shared by every family's front
// end. Each returns a Status whose message names the argument, then the reason.
#ifndef QKERN_KERNELS_COMMON_VALIDATE_H_
#define QKERN_KERNELS_COMMON_VALIDATE_H_

#include <cstdint>
#include <new>
#include <string>

#include "qkern/quantize.hpp"
#include "qkern/status.hpp"

namespace qkern {
namespace internal {

inline Status invalid(const std::string& what) { return Status(StatusCode::kInvalidArgument, what); }
inline Status out_of_range(const std::string& what) { return Status(StatusCode::kOutOfRange, what); }

// Runs body() and turns a std::bad_alloc it lets out (a std::vector, a
// make_unique) into kOutOfMemory, "<what>: out of memory": no exception
// leaves the API.
template <class F>
Status no_throw(const char* what, F&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kOutOfMemory, std::string(what) + ": out of memory");
  }
}

// "name" or "name[i]".
std::string indexed(const char* name, int64_t i);
// The value as printed in messages (%g for floats).
std::string str(float v);
std::string str(double v);  // %.9g: 1e-12 reads 1e-12, not 0.000000

// dims: rank in [0, 8], every extent >= 0, and numel * max_elem_bytes fits in
// ptrdiff_t. Stores the element count.
Status check_dims(const char* name, const Dims& dims, int64_t max_elem_bytes, int64_t* numel);
// A pointer that must not be null when count > 0.
Status check_pointer(const char* name, const void* p, int64_t count);
// bits in [2, 8]; narrow_range only for signed ranges.
Status check_range(const char* name, const QuantRange& range);
// axis in [-1, rank).
Status check_axis(const char* name, int axis, const Dims& dims);
// Every scale[i] finite and > 0.
Status check_scales(const char* name, const float* scale, int64_t count);
// Every zero_point[i] in [qmin, qmax] (null: all zero, always valid).
Status check_zero_points(const char* name, const int32_t* zp, int64_t count, const QuantRange& r);

// The [outer][channels][inner] view of `dims` around `axis` (axis < 0: one channel).
struct ChannelLayout {
  int64_t outer = 1, channels = 1, inner = 1;
};
ChannelLayout channel_layout(const Dims& dims, int axis);
// "2x3x4" (rank 0: "scalar").
std::string dims_string(const Dims& dims);

}  // namespace internal
}  // namespace qkern

#endif  // QKERN_KERNELS_COMMON_VALIDATE_H_
