// jit/epilogue_jit.cc: the generated epilogue (see epilogue_jit.h).
#include "jit/epilogue_jit.h"

#include <cmath>
#include <cstddef>
#include <cstring>

namespace qkern {
namespace jit {
namespace {

using internal::GemmEpilogue;
using namespace Xbyak;  // NOLINT: register names

constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23, as requant::kMagic
constexpr int32_t kMagicBits = 0x4B400000;

bool requant_kind(GemmEpilogue::Kind k) { return k == GemmEpilogue::kFp32U8 || k == GemmEpilogue::kFp32S8; }

}  // namespace

EpilogueConf epilogue_conf(const GemmEpilogue& ep, int64_t n) {
  EpilogueConf c;
  c.kind = ep.kind;
  c.zero_point = ep.zero_point;
  c.lo = ep.lo;
  c.hi = ep.hi;
  if (ep.multiplier != nullptr) {
    c.mult_folded = true;
    for (int64_t i = 1; i < n && c.mult_folded; ++i) {
      c.mult_folded = std::memcmp(&ep.multiplier[i], &ep.multiplier[0], sizeof(float)) == 0;
    }
    c.mult = ep.multiplier[0];
    c.finite_mult = c.mult_below_one = true;
    for (int64_t i = 0; i < n && c.finite_mult; ++i) {
      c.finite_mult = std::isfinite(ep.multiplier[i]);
      c.mult_below_one = c.mult_below_one && std::fabs(ep.multiplier[i]) < 1.0f;
    }
    c.mult_below_one = c.mult_below_one && c.finite_mult;
  }
  return c;
}

bool epilogue_supported(GemmEpilogue::Kind k) {
  return k == GemmEpilogue::kInt32 || k == GemmEpilogue::kFloat || requant_kind(k);
}

int epilogue_out_bytes(GemmEpilogue::Kind k) { return requant_kind(k) ? 1 : 4; }

const char* epilogue_kind_name(GemmEpilogue::Kind k) {
  switch (k) {
    case GemmEpilogue::kInt32: return "s32";
    case GemmEpilogue::kFloat: return "f32";
    case GemmEpilogue::kFp32U8: return "u8_fp32";
    case GemmEpilogue::kFp32S8: return "s8_fp32";
    case GemmEpilogue::kFixedU8: return "u8_fixed";
    case GemmEpilogue::kFixedS8: return "s8_fixed";
  }
  return "?";
}

Xmm EpilogueEmitter::vec(int i) const {
  if (avx512_) return Zmm(i);
  return Ymm(i);
}

void EpilogueEmitter::row_stride() {
  if (epilogue_out_bytes(c_.kind) == 4) {
    g_.lea(g_.r12, g_.ptr[g_.rcx * 4]);
  } else {
    g_.mov(g_.r12, g_.rcx);
  }
}

void EpilogueEmitter::setup(int tail_count) {
  CodeGenerator& g = g_;
  const GemmEpilogue::Kind kind = c_.kind;
  const bool codes = requant_kind(kind);
  const bool need_mult = kind == GemmEpilogue::kFloat || codes;
  if (!bias_in_sums_) {
    g.mov(g.r10, g.ptr[g.r8 + offsetof(GemmEpilogue, bias)]);
    g.lea(g.r10, g.ptr[g.r10 + g.r9 * 4]);
  }
  if (need_mult && !c_.mult_folded) {
    g.mov(g.r11, g.ptr[g.r8 + offsetof(GemmEpilogue, multiplier)]);
    g.lea(g.r11, g.ptr[g.r11 + g.r9 * 4]);
  }
  if (kind == GemmEpilogue::kFloat) {
    g.mov(g.rax, g.ptr[g.r8 + offsetof(GemmEpilogue, bias_f)]);
    g.lea(g.rax, g.ptr[g.rax + g.r9 * 4]);
  }
  // Constants: AVX-512 in registers (32 zmm leave room); AVX2 as memory
  // operands of 32-byte vectors after the code.
  const Xmm zpm = vec(31), lom = vec(30), him = vec(29), magic = vec(28), multv = vec(27);
  auto cst = [&g](const Label& l) { return g.ptr[g.rip + l]; };
  if (avx512_) {
    if (codes && c_.finite_mult) {
      g.vpbroadcastd(zpm, cst(k_zpm_));  // int32 zo, lo - zo; float hi - zo
      g.vpbroadcastd(lom, cst(k_lom_));
      g.vbroadcastss(him, cst(k_him_));
    } else if (codes) {
      g.vbroadcastss(zpm, cst(k_zpm_));
      g.vbroadcastss(lom, cst(k_lom_));
      g.vbroadcastss(him, cst(k_him_));
      g.vpbroadcastd(magic, cst(k_magic_));
    }
    if (need_mult && c_.mult_folded) g.vbroadcastss(multv, cst(k_mult_));
    if (tail_count > 0 && tail_count < lanes_) {  // rcx (ldc) is free after row_stride()
      g.mov(g.ecx, (1u << tail_count) - 1);
      g.kmovw(g.k2, g.ecx);
    }
  }
}

void EpilogueEmitter::vector(const Xmm& x, int v, int count) {
  finish(x, v);
  store(x, v * lanes_ * epilogue_out_bytes(c_.kind), count);
}

bool EpilogueEmitter::narrows() const { return epilogue_out_bytes(c_.kind) == 1; }

void EpilogueEmitter::bias_base() { g_.mov(g_.r10, g_.ptr[g_.r8 + offsetof(GemmEpilogue, bias)]); }

void EpilogueEmitter::load_bias(const Xmm& x, int v) {
  CodeGenerator& g = g_;
  if (avx512_) {
    g.vmovdqu32(Zmm(x.getIdx()), g.ptr[g.r10 + g.r9 * 4 + v * lanes_ * 4]);
  } else {
    g.vmovdqu(Ymm(x.getIdx()), g.ptr[g.r10 + g.r9 * 4 + v * lanes_ * 4]);
  }
}

void EpilogueEmitter::group(const Xmm* xs, int n, int v, bool two_rows) {
  CodeGenerator& g = g_;
  if (!narrows() || (n != 2 && n != 4)) {
    for (int i = 0; i < n; ++i) vector(xs[i], v + i, lanes_);
    return;
  }
  // Finite multipliers: the codes' + zo and clamp below move to the packed
  // int16 words (words_zp_lo), one vpaddsw (and a vpmaxsw where lo is above
  // the type's minimum) per 16 or 32 words instead of a vpmaxsd and a vpaddd
  // per vector.
  const bool words = c_.finite_mult;
  for (int i = 0; i < n; ++i) finish(xs[i], v + (two_rows ? i % 2 : i), words);
  // Signed or unsigned saturation to bytes, as the output type.
  const auto pack_bytes = [&g, this](const Xmm& d, const Xmm& a, const Xmm& b) {
    if (c_.kind == GemmEpilogue::kFp32S8) {
      g.vpacksswb(d, a, b);
    } else {
      g.vpackuswb(d, a, b);
    }
  };
  const Xmm x0 = vec(xs[0].getIdx()), x1 = vec(xs[1].getIdx());
  g.vpackssdw(x0, x0, x1);
  if (words) words_zp_lo(x0);
  if (!avx512_ && n == 2) {
    // 16 codes in one chain (4 shuffles and a store, not 6 and two): words
    // [x0 0-3, x1 0-3 | x0 4-7, x1 4-7], bytes [x0 0-3, x1 0-3, x0 4-7,
    // x1 4-7], dwords reordered 0, 2, 1, 3.
    const Xmm lo(xs[0].getIdx()), hi(scratch_ + 1);
    g.vextracti128(hi, Ymm(x0.getIdx()), 1);
    pack_bytes(lo, lo, hi);
    g.vpshufd(lo, lo, 0xD8);
    g.vmovdqu(g.ptr[g.rdx + v * lanes_], lo);
    return;
  }
  // 128-bit lane L of the packed bytes holds dword L of each vector (x0, x1,
  // x2, x3; n = 2: x0, x1 twice); vpermd by the transpose puts each vector's
  // codes in order (AVX-512 0, 4, 8, 12, 1, 5, ...; AVX2 0, 4, 1, 5, ...),
  // x0 and x1 in the low half, x2 and x3 in the high: 3 shuffles for 2
  // vectors, 4 for 4, and one store (two_rows: one per row), against a
  // vpmovdb and a store each (AVX2: 4 shuffles and a store per 2).
  // Zen 5 VM, N = 1024: avx512_vnni M = 1, K = 64 232-236 -> 244-255 Gop/s
  // (one row, 2 vectors); two rows, with the bias in the sums (load_bias()),
  // medians of 3 interleaved jit_vs_aot runs: K = 27, M = 4 / 16 avx2
  // 132 / 137 -> 138 / 141, avx512 258 / 276 -> 264 / 277; K = 64, M = 4
  // avx2 158.5 -> 160.4, avx512 309 -> 309, M = 8 306 -> 312.
  if (n == 4) {
    const Xmm x2 = vec(xs[2].getIdx()), x3 = vec(xs[3].getIdx());
    g.vpackssdw(x2, x2, x3);
    if (words) words_zp_lo(x2);
    pack_bytes(x0, x0, x2);
  } else {
    pack_bytes(x0, x0, x0);
  }
  if (avx512_) {
    const Zmm z(x0.getIdx()), zi(scratch_);
    g.vmovdqu32(zi, g.ptr[g.rip + k_perm_]);
    g.vpermd(z, zi, z);
  } else {
    const Ymm y(x0.getIdx()), yi(scratch_);
    g.vmovdqu(yi, g.ptr[g.rip + k_perm_]);
    g.vpermd(y, yi, y);
  }
  if (two_rows) {
    if (avx512_) {
      g.vmovdqu8(g.ptr[g.rdx + v * lanes_], Ymm(x0.getIdx()));
      g.vextracti64x4(g.ptr[g.rdx + g.r12 + v * lanes_], Zmm(x0.getIdx()), 1);
    } else {
      g.vmovdqu(g.ptr[g.rdx + v * lanes_], Xmm(x0.getIdx()));
      g.vextracti128(g.ptr[g.rdx + g.r12 + v * lanes_], Ymm(x0.getIdx()), 1);
    }
  } else if (avx512_ && n == 4) {
    g.vmovdqu8(g.ptr[g.rdx + v * lanes_], Zmm(x0.getIdx()));
  } else if (avx512_) {
    g.vmovdqu8(g.ptr[g.rdx + v * lanes_], Ymm(x0.getIdx()));
  } else {
    g.vmovdqu(g.ptr[g.rdx + v * lanes_], x0);  // n = 4
  }
}

// w: int16 words of r, saturated from int32 -> sat16(r + zo), then max
// with lo where lo is above the output type's minimum (and, where |m| < 1
// left r unclamped above, min with hi where hi is below the type's
// maximum); the saturating narrowing to bytes that follows clamps at the
// type's bounds. Equal to clamp(r + zo, lo, hi) for every r: r + zo within
// the words is exact, and a word saturated at -32768 / 32767 plus zo stays
// below lo / above hi (|zo| <= 255).
void EpilogueEmitter::words_zp_lo(const Xmm& w) {
  CodeGenerator& g = g_;
  const bool s8 = c_.kind == GemmEpilogue::kFp32S8;
  const int type_min = s8 ? -128 : 0, type_max = s8 ? 127 : 255;
  g.vpaddsw(w, w, g.ptr[g.rip + k_zpw_]);
  if (c_.lo > type_min) g.vpmaxsw(w, w, g.ptr[g.rip + k_low_]);
  if (c_.mult_below_one && c_.hi < type_max) g.vpminsw(w, w, g.ptr[g.rip + k_hiw_]);
}

// The arithmetic of vector(), in place. words: finite codes stop after the
// float clamp and the conversion (r <= hi - zo; group() finishes them).
void EpilogueEmitter::finish(const Xmm& x, int v, bool words) {
  CodeGenerator& g = g_;
  const GemmEpilogue::Kind kind = c_.kind;
  const bool codes = requant_kind(kind);
  const int vbytes = lanes_ * 4;
  const Xmm zpm = vec(31), lom = vec(30), him = vec(29), magic = vec(28), multv = vec(27);
  auto cst = [&g](const Label& l) { return g.ptr[g.rip + l]; };
  if (!bias_in_sums_) g.vpaddd(x, x, g.ptr[g.r10 + v * vbytes]);  // wraps
  if (kind == GemmEpilogue::kFloat) {
    g.vcvtdq2ps(x, x);
    // x = mult * x + bias_f, one rounding (AOT's MulAdd).
    Xmm mv = multv;
    if (!(avx512_ && c_.mult_folded)) {
      mv = vec(scratch_);
      g.vmovups(mv, c_.mult_folded ? cst(k_mult_) : g.ptr[g.r11 + v * vbytes]);
    }
    g.vfmadd213ps(x, mv, g.ptr[g.rax + v * vbytes]);
  } else if (codes) {
    g.vcvtdq2ps(x, x);
    if (!c_.mult_folded) {
      g.vmulps(x, x, g.ptr[g.r11 + v * vbytes]);
    } else if (avx512_) {
      g.vmulps(x, x, multv);
    } else {
      g.vmulps(x, x, cst(k_mult_));
    }
    if (c_.finite_mult) {
      // No NaN can arise: clamp above in float, round half to even into
      // int32 (below INT32_MIN: the integer indefinite, clamped below),
      // clamp below, add zo. The AOT sequence's bytes in 8 instructions.
      // Grouped words with |m| < 1: no overflow to clamp against; the
      // clamp above is the words' (words_zp_lo).
      const bool clamp_in_words = words && c_.mult_below_one;
      if (avx512_) {
        if (!clamp_in_words) g.vminps(x, x, him);
        g.vcvtps2dq(x, x | g.T_rn_sae);
        if (words) return;
        g.vpmaxsd(x, x, lom);
        g.vpaddd(x, x, zpm);
      } else {
        if (!clamp_in_words) g.vminps(x, x, cst(k_him_));
        g.vroundps(x, x, 0x08);
        g.vcvtps2dq(x, x);  // exact: x is integral
        if (words) return;
        g.vpmaxsd(x, x, cst(k_lom_));
        g.vpaddd(x, x, cst(k_zpm_));
      }
    } else if (avx512_) {
      g.vrndscaleps(x, x, 0x08);  // round to nearest even, no exceptions
      g.vcmpunordps(g.k1, x, x);  // NaN (0 * inf) -> zo
      g.vaddps(x, x, zpm);
      g.vmaxps(x, x, lom);
      g.vminps(x, x, him);
      g.vmovaps(x | g.k1, zpm);
      g.vpsubd(x, x, magic);
    } else {
      const Xmm nan = vec(scratch_);
      g.vroundps(x, x, 0x08);
      g.vcmpunordps(nan, x, x);
      g.vaddps(x, x, cst(k_zpm_));
      g.vmaxps(x, x, cst(k_lom_));
      g.vminps(x, x, cst(k_him_));
      g.vblendvps(x, x, cst(k_zpm_), nan);
      g.vpsubd(x, x, cst(k_magic_));
    }
  }
}

void EpilogueEmitter::next_row() { g_.add(g_.rdx, g_.r12); }

// Stores `count` lanes of x (int32/float lanes, or codes narrowed to bytes)
// at rdx + off.
void EpilogueEmitter::store(const Xmm& x, int off, int count) {
  CodeGenerator& g = g_;
  const int out_bytes = epilogue_out_bytes(c_.kind);
  const bool s8 = c_.kind == GemmEpilogue::kFp32S8;
  if (avx512_) {
    const bool masked = count < lanes_;
    const Zmm z(x.getIdx());
    if (out_bytes == 4) {
      if (masked) {
        g.vmovdqu32(g.ptr[g.rdx + off] | g.k2, z);
      } else {
        g.vmovdqu32(g.ptr[g.rdx + off], z);
      }
    } else if (masked) {
      g.vpmovdb(g.ptr[g.rdx + off] | g.k2, z);
    } else {
      g.vpmovdb(g.ptr[g.rdx + off], z);
    }
    return;
  }
  const Xmm lo(x.getIdx());
  const Xmm hi(scratch_ + 1);
  if (out_bytes == 4) {
    if (count == 8) {
      g.vmovdqu(g.ptr[g.rdx + off], Ymm(x.getIdx()));
      return;
    }
    if (count >= 4) {
      g.vmovdqu(g.ptr[g.rdx + off], lo);
      g.vextracti128(lo, Ymm(x.getIdx()), 1);
      off += 16;
      count -= 4;
    }
    if (count >= 2) {
      g.vmovq(g.ptr[g.rdx + off], lo);
      g.vpsrldq(lo, lo, 8);
      off += 8;
      count -= 2;
    }
    if (count == 1) g.vmovd(g.ptr[g.rdx + off], lo);
    return;
  }
  // Codes are within the 8-bit range: any narrowing gives the same bytes.
  g.vextracti128(hi, Ymm(x.getIdx()), 1);
  g.vpackssdw(lo, lo, hi);
  if (s8) {
    g.vpacksswb(lo, lo, lo);
  } else {
    g.vpackuswb(lo, lo, lo);
  }
  if (count == 8) {
    g.vmovq(g.ptr[g.rdx + off], lo);
    return;
  }
  if (count >= 4) {
    g.vmovd(g.ptr[g.rdx + off], lo);
    g.vpsrldq(lo, lo, 4);
    off += 4;
    count -= 4;
  }
  if (count >= 2) {
    g.vpextrw(g.ptr[g.rdx + off], lo, 0);
    g.vpsrldq(lo, lo, 2);
    off += 2;
    count -= 2;
  }
  if (count == 1) g.vpextrb(g.ptr[g.rdx + off], lo, 0);
}

void EpilogueEmitter::constants() {
  CodeGenerator& g = g_;
  const bool codes = requant_kind(c_.kind);
  const bool need_mult = c_.kind == GemmEpilogue::kFloat || codes;
  // 32 bytes each so AVX2 can use them as vector operands.
  auto emit = [&g](Label& l, uint32_t bits) {
    g.align(32);
    g.L(l);
    for (int i = 0; i < 8; ++i) g.dd(bits);
  };
  auto fbits = [](float v) {
    uint32_t b;
    std::memcpy(&b, &v, 4);
    return b;
  };
  if (codes && c_.finite_mult) {
    emit(k_zpm_, static_cast<uint32_t>(c_.zero_point));
    emit(k_lom_, static_cast<uint32_t>(c_.lo - c_.zero_point));
    emit(k_him_, fbits(static_cast<float>(c_.hi - c_.zero_point)));
  } else if (codes) {
    emit(k_zpm_, fbits(static_cast<float>(c_.zero_point) + kMagic));
    emit(k_lom_, fbits(static_cast<float>(c_.lo) + kMagic));
    emit(k_him_, fbits(static_cast<float>(c_.hi) + kMagic));
    emit(k_magic_, static_cast<uint32_t>(kMagicBits));
  }
  if (need_mult && c_.mult_folded) emit(k_mult_, fbits(c_.mult));
  if (codes && c_.finite_mult) {  // group()'s words: zo and lo as int16, 64 bytes for zmm operands
    const uint32_t zw = static_cast<uint16_t>(c_.zero_point), lw = static_cast<uint16_t>(c_.lo);
    g.align(64);
    g.L(k_zpw_);
    for (int i = 0; i < 16; ++i) g.dd(zw | zw << 16);
    g.L(k_low_);
    for (int i = 0; i < 16; ++i) g.dd(lw | lw << 16);
    const uint32_t hw = static_cast<uint16_t>(c_.hi);
    g.L(k_hiw_);
    for (int i = 0; i < 16; ++i) g.dd(hw | hw << 16);
  }
  if (codes) {  // group()'s transpose of dwords
    g.align(64);
    g.L(k_perm_);
    const uint32_t parts = avx512_ ? 4 : 2;  // 128-bit lanes
    for (uint32_t i = 0; i < 4 * parts; ++i) g.dd(i % parts * 4 + i / parts);
  }
}

}  // namespace jit
}  // namespace qkern
