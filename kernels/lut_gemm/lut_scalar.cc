// kernels/lut_gemm/lut_scalar.cc: the `scalar` ISA's lookup GEMM config,
// portable C++ on the same packed layouts as the SIMD kernels (16-byte blocks,
// int16 X for the int8 variant), so the scalar path exercises repacking,
// tables and bias folding too. Plain loops, kept short.
#include <utility>

#include "kernels/lut_gemm/lut_kernels.h"

namespace qkern {
namespace internal {
namespace {

constexpr int kMR = 2, kNR = 4, kBB = 16;

template <int kBits, int kRows>
void gemv_i8(size_t blocks, const void* a_, size_t a_stride, const uint8_t* idx, const int8_t* tables,
             int32_t* tile) {
  constexpr int kP = 8 / kBits, kMask = (1 << kBits) - 1;
  const uint8_t* a = static_cast<const uint8_t*>(a_);
  uint32_t acc[kRows][kNR] = {};  // unsigned: wraps like the SIMD lanes
  for (size_t b = 0; b < blocks; ++b) {
    for (int c = 0; c < kNR; ++c) {
      for (int t = 0; t < kP; ++t) {
        for (int i = 0; i < kBB; ++i) {
          const int32_t w = tables[16 * c + ((idx[c * kBB + i] >> (kBits * t)) & kMask)];
          for (int m = 0; m < kRows; ++m) {
            const int16_t* ap = reinterpret_cast<const int16_t*>(a + m * a_stride) + (b * kP + t) * kBB;
            acc[m][c] += static_cast<uint32_t>(ap[i] * w);
          }
        }
      }
    }
    idx += kNR * kBB;
  }
  for (int m = 0; m < kRows; ++m) {
    for (int c = 0; c < kNR; ++c) tile[m * kNR + c] = static_cast<int32_t>(acc[m][c]);
  }
}

template <int kBits, int kRows>
void gemv_f32(size_t blocks, const void* a_, size_t a_stride, const uint8_t* idx, const float* tables,
              float* tile) {
  constexpr int kP = 8 / kBits, kMask = (1 << kBits) - 1;
  const uint8_t* a = static_cast<const uint8_t*>(a_);
  float acc[kRows][kNR] = {};
  for (size_t b = 0; b < blocks; ++b) {
    for (int c = 0; c < kNR; ++c) {
      for (int t = 0; t < kP; ++t) {
        for (int i = 0; i < kBB; ++i) {
          const float w = tables[(c << kBits) + ((idx[c * kBB + i] >> (kBits * t)) & kMask)];
          for (int m = 0; m < kRows; ++m) {
            const float* ap = reinterpret_cast<const float*>(a + m * a_stride) + (b * kP + t) * kBB;
            acc[m][c] += ap[i] * w;  // no contraction (-ffp-contract=off): within the bound either way
          }
        }
      }
    }
    idx += kNR * kBB;
  }
  for (int m = 0; m < kRows; ++m) {
    for (int c = 0; c < kNR; ++c) tile[m * kNR + c] = acc[m][c];
  }
}

template <int... kRows>
LutConfig make_config(std::integer_sequence<int, kRows...>) {
  LutConfig c;
  c.name = "2x4";
  c.method = "madd";
  c.mr = kMR;
  c.nr = kNR;
  c.bb = kBB;
  c.a_int16 = true;
  c.f32_table = 16;
  c.f32_table2 = 4;
  const LutUkernelI8 i2[] = {&gemv_i8<2, kRows + 1>...}, i4[] = {&gemv_i8<4, kRows + 1>...};
  const LutUkernelF32 f2[] = {&gemv_f32<2, kRows + 1>...}, f4[] = {&gemv_f32<4, kRows + 1>...};
  for (int r = 0; r < kMR; ++r) {
    c.i8[0][r] = i2[r];
    c.i8[1][r] = i4[r];
    c.f32[0][r] = f2[r];
    c.f32[1][r] = f4[r];
  }
  return c;
}

}  // namespace

const LutConfig* lut_kernels_scalar() {
  static const LutConfig c = make_config(std::make_integer_sequence<int, kMR>());
  return &c;
}

}  // namespace internal
}  // namespace qkern
