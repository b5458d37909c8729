// kernels/common/hwy_loops-inl.h: row loops shared by every family's Highway
// kernels. A per-target header (Highway's -inl.h pattern): include it after
// "hwy/highway.h" in a foreach_target file; it defines its helpers once in
// each target's namespace, so no two families own a helper of the same name.
#if defined(QKERN_KERNELS_COMMON_HWY_LOOPS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef QKERN_KERNELS_COMMON_HWY_LOOPS_INL_H_
#undef QKERN_KERNELS_COMMON_HWY_LOOPS_INL_H_
#else
#define QKERN_KERNELS_COMMON_HWY_LOOPS_INL_H_
#endif

#include <cstddef>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace qkern {
namespace internal {
namespace HWY_NAMESPACE {

// Runs body(i, count) on every full vector of d's lanes (count == Lanes(d)),
// then once on the tail (count < Lanes(d)) if n is not a multiple. Kernels
// copy the tail through stack vectors, so it takes exactly the arithmetic of
// full vectors and no access leaves the caller's buffers.
template <class D, class Body>
HWY_INLINE void ForEachVector(D d, size_t n, const Body& body) {
  const size_t N = hwy::HWY_NAMESPACE::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) body(i, N);
  if (i < n) body(i, n - i);
}

}  // namespace HWY_NAMESPACE
}  // namespace internal
}  // namespace qkern
HWY_AFTER_NAMESPACE();

#endif  // QKERN_KERNELS_COMMON_HWY_LOOPS_INL_H_
