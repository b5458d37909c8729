// kernels/gemm/gemm_scalar.cc: the `scalar` ISA's GEMM config, portable C++
// on the same packed layouts as the SIMD kernels (c2: int16 activation pairs),
// so the scalar path exercises packing, bias folding and tiling too. Plain
// loops, kept short; the epilogue is the quantize reference's requantize_*_one.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "kernels/gemm/gemm_kernels.h"
#include "reference/quantize_ref.h"

namespace qkern {
namespace internal {
namespace {

constexpr int kMR = 4, kNR = 8;

template <int kRows>
void ukernel(size_t kb, const void* a_panel, const int8_t* w, int32_t* tile) {
  const int16_t* a = static_cast<const int16_t*>(a_panel);
  uint32_t acc[kRows][kNR] = {};  // unsigned: wraps like the SIMD lanes
  for (size_t k = 0; k < kb; ++k) {
    for (int m = 0; m < kRows; ++m) {
      for (int c = 0; c < kNR; ++c) {
        const int32_t p = a[2 * m] * w[2 * c] + a[2 * m + 1] * w[2 * c + 1];
        acc[m][c] += static_cast<uint32_t>(p);
      }
    }
    a += 2 * kMR;
    w += 2 * kNR;
  }
  for (int m = 0; m < kRows; ++m) {
    for (int c = 0; c < kNR; ++c) tile[m * kNR + c] = static_cast<int32_t>(acc[m][c]);
  }
}

void epilogue(const int32_t* tile, size_t mr, size_t nr_tile, size_t nr, size_t n0,
              const GemmEpilogue& ep, void* c, size_t ldc) {
  for (size_t m = 0; m < mr; ++m) {
    for (size_t j = 0; j < nr; ++j) {
      const size_t n = n0 + j, i = m * ldc + j;
      const int32_t acc = static_cast<int32_t>(static_cast<uint32_t>(tile[m * nr_tile + j]) +
                                               static_cast<uint32_t>(ep.bias[n]));
      switch (ep.kind) {
        case GemmEpilogue::kInt32:
          static_cast<int32_t*>(c)[i] = acc;
          break;
        case GemmEpilogue::kFloat:
          static_cast<float*>(c)[i] = std::fma(static_cast<float>(acc), ep.multiplier[n], ep.bias_f[n]);
          break;
        case GemmEpilogue::kFp32U8:
        case GemmEpilogue::kFp32S8:
          static_cast<uint8_t*>(c)[i] = static_cast<uint8_t>(
              ref::requantize_fp32_one(acc, ep.multiplier[n], ep.zero_point, ep.lo, ep.hi));
          break;
        case GemmEpilogue::kFixedU8:
        case GemmEpilogue::kFixedS8:
          static_cast<uint8_t*>(c)[i] = static_cast<uint8_t>(
              ref::requantize_fixed_one(acc, ep.q31[n], ep.shift[n], ep.zero_point, ep.lo, ep.hi));
          break;
      }
    }
  }
}

template <int... kRows>
GemmKernels make_table(std::integer_sequence<int, kRows...>) {
  GemmKernels k;
  k.exact.name = "4x8c2";
  k.exact.mr = kMR;
  k.exact.nr = kNR;
  k.exact.kr = 2;
  k.exact.a_int16 = true;
  const GemmUkernel u[] = {&ukernel<kRows + 1>...};
  for (int i = 0; i < kMR; ++i) k.exact.ukernel[i] = u[i];
  k.epilogue = &epilogue;
  return k;
}

}  // namespace

const GemmKernels* gemm_kernels_scalar() {
  static const GemmKernels k = make_table(std::make_integer_sequence<int, kMR>());
  return &k;
}

}  // namespace internal
}  // namespace qkern
