// kernels/gemm/gemm_amx.cc: QGemm's AMX-INT8 kernel (the avx512_amx ISA;
// kernels/common/isa.cc checks that this process may use the tile registers).
//
// The kernel multiplies a 32-row panel of A by one packed weight panel of the
// avx512_vnni c4 config, unchanged: panel = [K_pad / 4][64][4] int8, so the 16
// columns c0..c0+15 of 16 consecutive k groups are a 16 x 64-byte tdpbusd B
// tile at stride 256 bytes. A is packed by rows (AMX A tiles are 16 rows of 64
// k bytes): [32][kb * 64] bytes, A + shift (xor 0x80 for s8, as vpdpbusd),
// zero past K and past the panel's rows. A k block past K_pad therefore
// multiplies whatever the weight buffer holds there by zero: QGemm leaves
// kGemmAmxWeightSlack zero bytes after the last panel so those reads stay
// inside it.
//
// Tiles: tmm0-3 the int32 sums of a 32 x 32 block (2 x 2 tiles of 16 x 16),
// tmm4-5 two A tiles (rows 0-15, 16-31), tmm6-7 two B tiles. A 64-column
// panel is two such blocks (QGemm requantizes each before the next; running
// that epilogue in slices between the next block's k steps, so that it
// overlaps the tile unit, measured no faster); each tdpbusd
// is 16 x 16 x 64 multiply-adds. A task of at most 16 rows takes a panel's
// 64 columns at once (block16x64: tmm0-3 its sums, tmm4 A, tmm5-7 B); a
// last panel of at most 16 rows in a larger task uses tmm0-1, tmm4 and
// tmm6-7 per 32-column block (block16).
#include <cstdint>
#include <cstring>

#include "kernels/gemm/gemm_kernels.h"
#include "qkern/isa.hpp"

#if defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#define QKERN_AMX 1
#else
#define QKERN_AMX 0
#endif

namespace qkern {
namespace internal {

#if QKERN_AMX
namespace {

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

#define QKERN_AMX_TARGET __attribute__((target("amx-tile,amx-int8")))

// Panels of `rows` rows. Up to 16 rows (block16, block16x64): the four sum
// tiles and the A tile take `rows` rows (tdpbusd on 8 rows took 3.2 ns here,
// on 16 rows 5.1 ns), tmm5-7 are B tiles of 16. More (block, and block16 on
// a task's last panel of <= 16 rows): the first A tile and its sums take
// 16 rows, the second and its sums rows - 16, the B tiles 16.
QKERN_AMX_TARGET void amx_begin(int rows) {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  if (rows <= 16) {
    cfg.rows[0] = cfg.rows[1] = cfg.rows[2] = cfg.rows[3] = cfg.rows[4] = static_cast<uint8_t>(rows);
  } else {
    cfg.rows[2] = cfg.rows[3] = cfg.rows[5] = static_cast<uint8_t>(rows - 16);
  }
  // Not _tile_loadconfig: GCC 12's operand is the first 8 bytes of the
  // configuration, so the stores of the rest were dropped as dead.
  __asm__ volatile("ldtilecfg %0" ::"m"(cfg));
}

QKERN_AMX_TARGET void amx_end() { _tile_release(); }

constexpr size_t kWStride = 256;          // bytes between k groups of a c4 panel (NR = 64)
constexpr size_t kWBlock = 16 * kWStride;  // one k block of 64: 16 k groups

// One 32-column block of a panel (w: its first column's k group 0, i.e. the
// panel + 4 * c0): tile[m][c] (row stride 32 int32), m < 32 (m < 16 when
// kRows16), c < 32.
template <bool kRows16>
QKERN_AMX_TARGET void amx_block(size_t kblocks, const uint8_t* a, size_t lda, const int8_t* w,
                                int32_t* tile) {
  __asm__ volatile("" ::: "memory");  // tileloadd has no memory operand the compiler sees
  const long sa = static_cast<long>(lda), sw = static_cast<long>(kWStride), sc = 32 * 4;
  _tile_zero(0);
  _tile_zero(1);
  if (!kRows16) {
    _tile_zero(2);
    _tile_zero(3);
  }
  for (size_t kb = 0; kb < kblocks; ++kb) {
    const uint8_t* ak = a + kb * 64;
    const int8_t* wk = w + kb * kWBlock;
    _tile_loadd(4, ak, sa);
    _tile_loadd(6, wk, sw);
    _tile_dpbusd(0, 4, 6);
    _tile_loadd(7, wk + 64, sw);
    _tile_dpbusd(1, 4, 7);
    if (!kRows16) {
      _tile_loadd(5, ak + 16 * lda, sa);
      _tile_dpbusd(2, 5, 6);
      _tile_dpbusd(3, 5, 7);
    }
  }
  _tile_stored(0, tile, sc);
  _tile_stored(1, tile + 16, sc);
  if (!kRows16) {
    _tile_stored(2, tile + 16 * 32, sc);
    _tile_stored(3, tile + 16 * 32 + 16, sc);
  }
}

// All 64 columns of a panel (w = the panel) for up to 16 rows, after
// begin(rows <= 16): tile[m][c] (row stride 64), c < 64. One A tile, four
// sum tiles, the B tiles in tmm5-7 (tmm5 reloaded once its first product
// has read it), so that each k block's 4 KiB of weights is read in order:
// M = 8 on (4096, 4096), weights from the L3, read 29.2 GB/s so against
// 25.3 with two 32-column blocks (the L3 read: 29.1).
QKERN_AMX_TARGET void amx_block16x64(size_t kblocks, const uint8_t* a, size_t lda, const int8_t* w,
                                     int32_t* tile) {
  __asm__ volatile("" ::: "memory");
  const long sa = static_cast<long>(lda), sw = static_cast<long>(kWStride), sc = 64 * 4;
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (size_t kb = 0; kb < kblocks; ++kb) {
    const uint8_t* ak = a + kb * 64;
    const int8_t* wk = w + kb * kWBlock;
    _tile_loadd(4, ak, sa);
    _tile_loadd(5, wk, sw);
    _tile_dpbusd(0, 4, 5);
    _tile_loadd(6, wk + 64, sw);
    _tile_dpbusd(1, 4, 6);
    _tile_loadd(7, wk + 128, sw);
    _tile_dpbusd(2, 4, 7);
    _tile_loadd(5, wk + 192, sw);
    _tile_dpbusd(3, 4, 5);
  }
  _tile_stored(0, tile, sc);
  _tile_stored(1, tile + 16, sc);
  _tile_stored(2, tile + 32, sc);
  _tile_stored(3, tile + 48, sc);
}

// Rows [0, rows) of A (row stride lda, k bytes each) into a panel of 32 rows
// of `width` bytes: the bytes xor `flip`, zero past k and past `rows`.
__attribute__((target("avx512f,avx512bw,bmi2"))) void amx_pack_a(const uint8_t* a, size_t lda, size_t rows,
                                                            size_t k, size_t width, uint8_t flip,
                                                            uint8_t* panel) {
  const __m512i vf = _mm512_set1_epi8(static_cast<char>(flip));
  for (size_t r = 0; r < rows; ++r) {
    uint8_t* d = panel + r * width;
    const uint8_t* s = a + r * lda;
    size_t j = 0;
    for (; j + 64 <= k; j += 64) {
      _mm512_storeu_si512(d + j, _mm512_xor_si512(_mm512_loadu_si512(s + j), vf));
    }
    if (j < k) {  // the partial last block: masked, never past A's row
      const __mmask64 m = _bzhi_u64(~uint64_t{0}, static_cast<unsigned>(k - j));
      _mm512_storeu_si512(d + j, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, s + j), _mm512_maskz_mov_epi8(m, vf)));
      j += 64;
    }
    if (j < width) std::memset(d + j, 0, width - j);
  }
  std::memset(panel + rows * width, 0, (static_cast<size_t>(kGemmAmxMR) - rows) * width);
}

const GemmAmxKernel kAmx = {amx_begin, amx_block<false>, amx_block<true>, amx_block16x64, amx_end, amx_pack_a};

}  // namespace

const GemmAmxKernel* gemm_amx_kernel() { return isa_available(Isa::kAvx512Amx) ? &kAmx : nullptr; }

#else

const GemmAmxKernel* gemm_amx_kernel() { return nullptr; }

#endif

}  // namespace internal
}  // namespace qkern
