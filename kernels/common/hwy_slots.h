// kernels/common/hwy_slots.h: maps qkern ISAs onto Highway's per-target
// namespaces. Include after "hwy/highway.h", inside `#if HWY_ONCE`.
//
// Highway compiles a foreach_target file once per target into N_AVX2, N_AVX3,
// N_AVX3_DL, N_NEON, ...; qkern does its own dispatch (DESIGN.md section 2), so
// each family exposes one accessor per ISA that returns that namespace's table,
// or null when this build did not compile the target.
#ifndef QKERN_KERNELS_COMMON_HWY_SLOTS_H_
#define QKERN_KERNELS_COMMON_HWY_SLOTS_H_

#if HWY_TARGETS & HWY_AVX2
#define QKERN_HWY_SLOT_AVX2(expr) N_AVX2::expr
#else
#define QKERN_HWY_SLOT_AVX2(expr) nullptr
#endif
#if HWY_TARGETS & HWY_AVX3
#define QKERN_HWY_SLOT_AVX512(expr) N_AVX3::expr
#else
#define QKERN_HWY_SLOT_AVX512(expr) nullptr
#endif
#if HWY_TARGETS & HWY_AVX3_DL
#define QKERN_HWY_SLOT_AVX512_VNNI(expr) N_AVX3_DL::expr
#else
#define QKERN_HWY_SLOT_AVX512_VNNI(expr) nullptr
#endif
#if HWY_TARGETS & HWY_NEON
#define QKERN_HWY_SLOT_NEON(expr) N_NEON::expr
#else
#define QKERN_HWY_SLOT_NEON(expr) nullptr
#endif

// Defines a family's four accessors `<family>_kernels_<isa>()`, each returning
// `<ns>::Table()` of that target (or null). Use in the HWY_ONCE section inside
// namespace qkern::internal, e.g.
//   QKERN_HWY_KERNEL_ACCESSORS(QuantizeKernels, quantize, quantize_family)
#define QKERN_HWY_KERNEL_ACCESSORS(Type, family, ns)                                           \
  const Type* family##_kernels_avx2() { return QKERN_HWY_SLOT_AVX2(ns::Table()); }             \
  const Type* family##_kernels_avx512() { return QKERN_HWY_SLOT_AVX512(ns::Table()); }         \
  const Type* family##_kernels_avx512_vnni() { return QKERN_HWY_SLOT_AVX512_VNNI(ns::Table()); } \
  const Type* family##_kernels_neon() { return QKERN_HWY_SLOT_NEON(ns::Table()); }

// True inside a per-target namespace whose target is one of qkern's SIMD ISAs
// (not Highway's SCALAR/EMU128 baseline: qkern's scalar path is the reference).
#define QKERN_HWY_SIMD_TARGET \
  (HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL || \
   HWY_TARGET == HWY_NEON)

// Vector-body lambdas called several times per loop iteration exceed GCC's
// inlining budget and become calls (seen in objdump of the quantize loop):
// `[&](...) QKERN_INLINE_LAMBDA { ... }` forces them inline.
#define QKERN_INLINE_LAMBDA __attribute__((always_inline))

#endif  // QKERN_KERNELS_COMMON_HWY_SLOTS_H_
