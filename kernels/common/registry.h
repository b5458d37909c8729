// kernels/common/registry.h: one table of microkernels per ISA for each family.
//
// A family fills the scalar slot with its reference (BLIS's rule: every slot
// starts from a complete reference) and the SIMD slots it has kernels for.
// Lookup walks down the ISA's fallback chain to the first filled slot, so a
// family without, say, an avx512_vnni kernel runs its avx512 one there.
#ifndef QKERN_KERNELS_COMMON_REGISTRY_H_
#define QKERN_KERNELS_COMMON_REGISTRY_H_

#include "qkern/isa.hpp"

namespace qkern {
namespace internal {

// The next ISA down the chain; scalar for scalar.
Isa fallback_isa(Isa isa);

template <class Kernels>
struct Registry {
  const Kernels* slot[kIsaCount] = {};

  // One table per ISA, in the order of qkern::Isa; null where the family (or
  // this build) has none. No family has an avx512_amx table (QGemm runs its
  // AMX kernel beside its avx512_vnni one, kernels/gemm/gemm_amx.cc): that
  // slot falls back to avx512_vnni.
  Registry(const Kernels* scalar, const Kernels* avx2, const Kernels* avx512,
           const Kernels* avx512_vnni, const Kernels* neon, const Kernels* neon_dotprod)
      : slot{scalar, avx2, avx512, avx512_vnni, neon, neon_dotprod, nullptr} {}

  struct Selection {
    const Kernels* kernels;
    Isa isa;  // the slot actually used (after fallback)
  };
  Selection select(Isa isa) const {
    while (slot[static_cast<int>(isa)] == nullptr && isa != Isa::kScalar) isa = fallback_isa(isa);
    return {slot[static_cast<int>(isa)], isa};
  }
};

}  // namespace internal
}  // namespace qkern

#endif  // QKERN_KERNELS_COMMON_REGISTRY_H_
