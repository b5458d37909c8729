// jit/gemm_jit.cc: the GEMM generator (see gemm_jit.h).
//
// Register map (AVX-512: 32 zmm; AVX2: 16 ymm)
//   acc(m, v) = vector m * nrv + v        the MR x NR sums
//   w(v)      = after the sums            one k step of the W panel
//   bcast     = next                      a[m][k..k+kr) in every lane
//   tmp       = next (c2 only)            vpmaddwd's products
// After the k loop the w/bcast/tmp registers hold the epilogue's constants.
// GPRs (SysV): rdi a, rsi w, rdx c, rcx ldc (then the tail mask), r8 ep, r9 n0,
// [rsp + 8] panels; r10 the bias (the sums start there), then the k loop
// count; r11 mult, rax bias_f, r12 the output row stride in bytes; r13 the
// panels left, r14 a, r15 the panel's c, rbx the panel's w (r12-r15 and rbx
// saved).
//
// The epilogue (jit/epilogue_jit.h) is AOT's instruction sequence.
#include "jit/gemm_jit.h"

#include <algorithm>
#include <cstddef>
#include <string>

#include "jit/code_cache.h"
#include "jit/epilogue_jit.h"
#include "jit/jit_generator.h"

namespace qkern {
namespace jit {
namespace {

using internal::GemmEpilogue;
using namespace Xbyak;  // NOLINT: register names

int lanes_of(Isa isa) { return isa == Isa::kAvx2 ? 8 : 16; }

class GemmGenerator : public Generator {
 public:
  explicit GemmGenerator(const GemmJitConf& c)
      : Generator(code_bytes(c)), c_(c), avx512_(c.isa != Isa::kAvx2), lanes_(lanes_of(c.isa)),
        vbytes_(lanes_ * 4), nv_(vectors_for(c)), splits_(splits_for(c)) {
    generate();
  }

 private:
  // An upper bound of the code's size (EVEX instructions are at most 7
  // bytes here, 10 with a rip-relative or 32-bit displacement; Xbyak throws,
  // and the operator falls back, if it were exceeded).
  static size_t code_bytes(const GemmJitConf& c) {
    const size_t mr = static_cast<size_t>(c.mr), nrv = static_cast<size_t>(c.nrv);
    const size_t per_step = 10 * (nrv * (c.prefetch_bytes > 0 ? 2 : 1) + mr + mr * nrv * (c.kr == 2 ? 2 : 1));
    const size_t steps = c.conv_g > 0 ? std::min<size_t>(c.kb, 2 * kConvJitUnrollKb) : c.kb <= kGemmJitUnrollKb ? c.kb : 8;
    // + the constants after the code: up to 9 blocks of 32-64 bytes, aligned.
    return 1024 + 1024 + per_step * steps + 2 * 10 * mr * nrv + 14 * 10 * mr * nrv;
  }

  // Vector register i at this ISA's width.
  Xmm vec(int i) const {
    if (avx512_) return Zmm(i);
    return Ymm(i);
  }
  // Sums: `splits_` sets (k steps alternate between them: twice the
  // independent chains where registers allow, added at the end; int32 sums
  // wrap, so the order does not change a byte).
  // Column vectors computed: those holding the nr_valid columns (a tail
  // panel's vectors of padding columns are skipped, loads and all; the W
  // panel keeps its NR-wide k steps).
  static int vectors_for(const GemmJitConf& c) {
    const int lanes = lanes_of(c.isa);
    return std::min(c.nrv, (c.nr_valid + lanes - 1) / lanes);
  }
  int nacc() const { return c_.mr * nv_; }
  Xmm acc(int m, int v, int set = 0) const { return vec(set * nacc() + m * nv_ + v); }
  int loop_base() const { return nacc() * splits_; }
  Xmm wreg(int v) const { return vec(loop_base() + v); }
  Xmm bcast() const { return vec(loop_base() + nv_); }
  Xmm tmp() const { return vec(loop_base() + nv_ + 1); }
  // a_flip (c4 only, where tmp is unused): 0x80 in every byte.
  Xmm flip() const { return tmp(); }
  // The epilogue's scratch registers start after the (first set of) sums.
  int first_free() const { return nacc(); }
  static int splits_for(const GemmJitConf& c) {
    const int regs = c.isa == Isa::kAvx2 ? 16 : 32;
    const int nv = vectors_for(c);
    // c2 sums are chains of vpaddd (1 cycle): from 3 rows on a k step's
    // 3 x nv vpmaddwd take longer than the chain, so a second set only adds
    // the final vpaddd and registers (dropping it: avx512 K = 27, M = 4 / 16
    // 1.16-1.17 / 1.12-1.13x AOT -> 1.19-1.20 / 1.14-1.15x on the Zen 5 VM).
    if (c.kr == 2 && c.mr > 2) return 1;
    return c.kb >= 2 && 2 * c.mr * nv + nv + 1 + (c.kr == 2 || c.a_flip ? 1 : 0) <= regs ? 2 : 1;
  }

  // Byte offset from rdi of a[m][k step s]: the packed panel, or (gather
  // mode) the staged input rows.
  int64_t a_offset(int64_t a_base, uint32_t s, int m) const {
    if (c_.conv_g > 0) {
      return static_cast<int64_t>(s / c_.conv_g) * c_.conv_row_bytes +
             static_cast<int64_t>(m) * c_.conv_pixel_bytes + static_cast<int64_t>(s % c_.conv_g) * 4;
    }
    return a_base + 4 * m;
  }

  // One k step: A at a_offset(a_off, s, m), W at byte offset w_off from rsi.
  void k_step(int64_t a_off, uint32_t s, int64_t w_off, int set) {
    const int wstep = c_.kr == 4 ? vbytes_ : vbytes_ / 2;  // W bytes per column vector per k step
    if (c_.prefetch_bytes > 0) {  // c4: one 64-byte line per column vector
      for (int v = 0; v < nv_; ++v) prefetcht0(ptr[rsi + w_off + v * wstep + c_.prefetch_bytes]);
    }
    // One row (c4): each W vector is used once, so vpdpbusd reads it as its
    // memory operand (one instruction less per vector).
    const bool w_operand = c_.kr == 4 && c_.mr == 1;
    for (int v = 0; v < nv_ && !w_operand; ++v) {
      if (c_.kr == 4) {
        vmovdqu32(wreg(v), ptr[rsi + w_off + v * wstep]);
      } else if (avx512_) {
        vpmovsxbw(wreg(v), yword[rsi + w_off + v * wstep]);
      } else {
        vpmovsxbw(wreg(v), xword[rsi + w_off + v * wstep]);
      }
    }
    for (int m = 0; m < c_.mr; ++m) {
      vpbroadcastd(bcast(), dword[rdi + a_offset(a_off, s, m)]);
      if (c_.a_flip) vpxord(bcast(), bcast(), flip());  // s8 -> u8 + 128
      for (int v = 0; v < nv_; ++v) {
        if (w_operand) {
          vpdpbusd(acc(m, v, set), bcast(), ptr[rsi + w_off + v * wstep], EvexEncoding);
        } else if (c_.kr == 4) {
          vpdpbusd(acc(m, v, set), bcast(), wreg(v), EvexEncoding);
        } else {
          vpmaddwd(tmp(), bcast(), wreg(v));
          vpaddd(acc(m, v, set), acc(m, v, set), tmp());
        }
      }
    }
  }

  // The sums start at the bias (set 0; ep.load_bias()) and at zero (set 1).
  void sums(EpilogueEmitter& ep) {
    ep.bias_base();
    for (int set = 0; set < splits_; ++set) {
      for (int m = 0; m < c_.mr; ++m) {
        for (int v = 0; v < nv_; ++v) {
          if (set == 0) {
            ep.load_bias(acc(m, v), v);
          } else if (avx512_) {
            vpxord(acc(m, v, set), acc(m, v, set), acc(m, v, set));
          } else {
            vpxor(acc(m, v, set), acc(m, v, set), acc(m, v, set));
          }
        }
      }
    }
    if (c_.a_flip) {
      mov(eax, 0x80808080u);
      vpbroadcastd(flip(), eax);
    }
    const int64_t a_step = 4 * c_.panel_mr;  // 4 bytes (kr = 4 bytes or 2 int16) per row and k step
    const int64_t w_step = this->w_step();
    if (c_.conv_g > 0 && c_.kb > kConvJitUnrollKb) {
      // Gather mode, many k steps: a loop over the kernel rows (the offsets
      // within a row are the same from one row to the next; all of K
      // unrolled was 2-3x the code and measured slower). A row of up to
      // kConvJitUnrollKb steps is unrolled; a longer one (many channels) is
      // a loop of 4 steps and a baked remainder. rax keeps the row's start.
      const uint32_t rows = c_.kb / static_cast<uint32_t>(c_.conv_g), g_n = static_cast<uint32_t>(c_.conv_g);
      Label row_loop;
      if (rows > 1) {
        mov(r10, rows);
        mov(rax, rdi);
        L(row_loop);
      }
      if (g_n <= kConvJitUnrollKb) {
        for (uint32_t g = 0; g < g_n; ++g) k_step(0, g, g * w_step, static_cast<int>(g % splits_));
        add(rsi, static_cast<int64_t>(g_n) * w_step);
      } else {
        constexpr uint32_t kUnroll = 4;
        const uint32_t iters = g_n / kUnroll, rest = g_n % kUnroll;
        mov(r11, iters);
        Label inner;
        L(inner);
        for (uint32_t u = 0; u < kUnroll; ++u) k_step(0, u, u * w_step, static_cast<int>(u % splits_));
        add(rdi, 4 * kUnroll);
        add(rsi, kUnroll * w_step);
        dec(r11);
        jnz(inner, T_NEAR);
        for (uint32_t u = 0; u < rest; ++u) k_step(0, u, u * w_step, static_cast<int>(u % splits_));
        if (rest) add(rsi, static_cast<int64_t>(rest) * w_step);
      }
      if (rows > 1) {
        add(rax, c_.conv_row_bytes);
        mov(rdi, rax);
        dec(r10);
        jnz(row_loop, T_NEAR);
      }
    } else if (c_.kb <= kGemmJitUnrollKb || c_.conv_g > 0) {
      for (uint32_t k = 0; k < c_.kb; ++k) k_step(k * a_step, k, k * w_step, static_cast<int>(k % splits_));
    } else {
      // A loop of 4 k steps, then the remainder, both baked.
      constexpr int kUnroll = 4;
      const uint32_t iters = c_.kb / kUnroll, rest = c_.kb % kUnroll;
      mov(r10, iters);
      Label loop;
      L(loop);
      for (int u = 0; u < kUnroll; ++u) k_step(u * a_step, 0, u * w_step, u % splits_);
      add(rdi, kUnroll * a_step);
      add(rsi, kUnroll * w_step);
      dec(r10);
      jnz(loop, T_NEAR);
      for (uint32_t u = 0; u < rest; ++u) k_step(u * a_step, 0, u * w_step, static_cast<int>(u % splits_));
    }
    if (splits_ == 2) {
      for (int m = 0; m < c_.mr; ++m) {
        for (int v = 0; v < nv_; ++v) vpaddd(acc(m, v), acc(m, v), acc(m, v, 1));
      }
    }
  }

  void generate() {
    // Callee-saved: the output row stride, the panel loop's registers.
    const Reg64 saved[] = {r12, r13, r14, r15, rbx};
    for (const Reg64& r : saved) push(r);
    const int n_saved = static_cast<int>(sizeof saved / sizeof saved[0]);
    mov(r13, ptr[rsp + 8 * (1 + n_saved)]);  // panels: the 7th argument, above the return address
    mov(r14, rdi);
    mov(r15, rdx);
    mov(rbx, rsi);
    // Scratch after the (first set of) sums: the loop's registers are free.
    EpilogueEmitter ep(*this, c_.ep, avx512_, first_free(), /*bias_in_sums=*/true);
    ep.row_stride();
    const int full = c_.nr_valid / lanes_, rem = c_.nr_valid % lanes_;
    const int vecs = full + (rem ? 1 : 0);
    Label panel, done;
    test(r13, r13);
    jz(done, T_NEAR);
    L(panel);
    sums(ep);
    ep.setup(rem);
    // Row m's vectors: whole ones together (4 on AVX-512, else 2), the
    // partial one alone. Codes of 2-vector groups are narrowed with row
    // m + 1's (one group of 4: 6 instructions from the packs to the store
    // for 2 rows, not 10 on AVX2 and 8 on AVX-512). `pairs`: 1 stores both
    // rows' groups there, -1 skips them (stored with the row above), 0
    // groups them within the row.
    const auto row = [&](int m, int pairs) {
      for (int v = 0; v < vecs;) {
        const int n = avx512_ && v + 4 <= full ? 4 : v + 2 <= full ? 2 : 1;
        if (n == 2 && pairs > 0) {
          const Xmm xs[] = {acc(m, v), acc(m, v + 1), acc(m + 1, v), acc(m + 1, v + 1)};
          ep.group(xs, 4, v, /*two_rows=*/true);
        } else if (n == 2 && pairs < 0) {
          // stored with the row above
        } else if (n > 1) {
          const Xmm xs[] = {acc(m, v), acc(m, v + 1), acc(m, n > 2 ? v + 2 : v), acc(m, n > 3 ? v + 3 : v)};
          ep.group(xs, n, v);
        } else {
          ep.vector(acc(m, v), v, v == full ? rem : lanes_);
        }
        v += n;
      }
    };
    for (int m = 0; m < c_.mr; ++m) {
      if (ep.narrows() && m + 1 < c_.mr) {
        row(m, 1);
        ep.next_row();
        row(++m, -1);
      } else {
        row(m, 0);
      }
      if (m + 1 < c_.mr) ep.next_row();
    }
    dec(r13);
    jz(done, T_NEAR);
    // The next panel: the same A, W one panel on, C and n0 NR columns on.
    const int64_t nr = static_cast<int64_t>(c_.nrv) * lanes_;
    mov(rdi, r14);
    add(rbx, static_cast<int64_t>(c_.kb) * w_step());
    mov(rsi, rbx);
    add(r15, nr * epilogue_out_bytes(c_.ep.kind));
    mov(rdx, r15);
    add(r9, nr);
    jmp(panel, T_NEAR);
    L(done);
    for (int i = n_saved - 1; i >= 0; --i) pop(saved[i]);
    vzeroupper();
    ret();
    ep.constants();
  }

  // W bytes per k step of a panel (all NR columns).
  int64_t w_step() const { return static_cast<int64_t>(c_.nrv) * (c_.kr == 4 ? vbytes_ : vbytes_ / 2); }

  const GemmJitConf c_;
  const bool avx512_;
  const int lanes_, vbytes_, nv_, splits_;
};

}  // namespace

std::string GemmJitConf::key() const {
  std::string k = "gemm:";
  const auto put = [&k](const void* p, size_t n) { k.append(static_cast<const char*>(p), n); };
  const int i[] = {static_cast<int>(isa), kr, mr, panel_mr, nrv, nr_valid, static_cast<int>(ep.kind),
                   ep.zero_point, ep.lo, ep.hi, ep.mult_folded ? 1 : 0, ep.finite_mult ? 1 : 0,
                   ep.mult_below_one ? 1 : 0,
                   conv_g, conv_row_bytes, conv_pixel_bytes, a_flip ? 1 : 0, prefetch_bytes};
  put(i, sizeof i);
  put(&kb, sizeof kb);
  put(&ep.mult, sizeof ep.mult);
  return k;
}

std::string GemmJitConf::name() const {
  // A's source: packed panels (nothing), the rows as they are (_lda<bytes>),
  // or a convolution's staged rows (_gather<G>x<row bytes>p<pixel bytes>).
  const bool conv = conv_g > 0 && conv_row_bytes > 0;
  const std::string gather =
      conv ? "_gather" + std::to_string(conv_g) + "x" + std::to_string(conv_row_bytes) + "p" +
                 std::to_string(conv_pixel_bytes)
           : conv_g > 0 ? "_lda" + std::to_string(conv_pixel_bytes) : "";
  return (conv ? "qconv_" : "qgemm_") + std::to_string(panel_mr) + "x" + std::to_string(nrv * lanes_of(isa)) + "c" +
         std::to_string(kr) + "_" + epilogue_kind_name(ep.kind) + "_k" + std::to_string(kb * kr) + "_mr" +
         std::to_string(mr) + "_nr" + std::to_string(nr_valid) + (ep.mult_folded ? "_pt" : "") +
         (ep.finite_mult ? "" : "_nan") + (ep.mult_below_one ? "_lt1" : "") + gather + (a_flip ? "_xor80" : "") +
         (prefetch_bytes > 0 ? "_pf" + std::to_string(prefetch_bytes) : "") + "__" +
         isa_name(isa);
}

GemmJitConf gemm_jit_base_conf(Isa isa, const internal::GemmConfig& cf, int64_t k_pad, int64_t n,
                               const internal::GemmEpilogue& ep) {
  GemmJitConf conf;
  conf.isa = isa;
  conf.kr = cf.kr;
  conf.panel_mr = cf.mr;
  conf.nrv = cf.nr / lanes_of(isa);
  conf.kb = static_cast<uint32_t>(k_pad / cf.kr);
  conf.ep = epilogue_conf(ep, n);  // one multiplier for every channel (a per-tensor weight scale): baked
  return conf;
}

std::string gemm_jit_unsupported(const GemmJitConf& c) {
  if (c.isa != Isa::kAvx2 && c.isa != Isa::kAvx512 && c.isa != Isa::kAvx512Vnni) {
    return std::string("no GEMM generator for ") + isa_name(c.isa);
  }
  if (c.kr == 4 && c.isa != Isa::kAvx512Vnni) return "c4 only with vpdpbusd (avx512_vnni)";
  if (c.kr == 2 && c.isa == Isa::kAvx512Vnni) return "avx512_vnni runs c4 configs";
  if (c.kr != 2 && c.kr != 4) return "kr must be 2 or 4";
  if (!epilogue_supported(c.ep.kind)) {
    return "fixed-point requantization has no JIT epilogue";
  }
  const int regs = c.isa == Isa::kAvx2 ? 16 : 32;
  const int lanes = lanes_of(c.isa);
  if (c.mr < 1 || c.mr > c.panel_mr || c.nrv < 1 || c.nr_valid < 1 || c.nr_valid > c.nrv * lanes) {
    return "tile out of range";
  }
  // Sums, weights, a broadcast and (c2) a product register; AVX2's epilogue
  // also needs two scratch registers after the sums.
  const int need = c.mr * c.nrv + c.nrv + 1 + (c.kr == 2 || c.a_flip ? 1 : 0);
  if (need > regs || (c.isa == Isa::kAvx2 && c.mr * c.nrv + 2 > regs) ||
      (c.isa != Isa::kAvx2 && c.mr * c.nrv + 1 > 27)) {
    return "tile needs more vector registers than the ISA has";
  }
  if (c.kb < 1) return "kb must be >= 1";
  if (c.conv_g < 0 || c.conv_row_bytes < 0 || c.conv_pixel_bytes < 0) return "negative gather geometry";
  if (c.conv_g > 0 && c.kb % c.conv_g != 0) return "gather mode needs kb a multiple of conv_g";
  if (c.a_flip && (c.kr != 4 || c.conv_g == 0)) return "a_flip needs c4 and gather mode";
  if (c.prefetch_bytes < 0 || c.prefetch_bytes > (1 << 20)) return "prefetch_bytes out of range (0 to 1 MiB)";
  if (c.prefetch_bytes > 0 && c.kr != 4) return "prefetch_bytes needs c4";
  if (c.conv_g > 0 && static_cast<int64_t>(c.kb / c.conv_g) * c.conv_row_bytes +
                              static_cast<int64_t>(c.mr) * c.conv_pixel_bytes > (int64_t{1} << 30)) {
    return "gather offsets exceed 2^30 bytes";
  }
  return "";
}

std::vector<std::string> generator_descriptions() {
  const std::string common = "; K <= " + std::to_string(internal::kGemmJitMaxK) +
                             " baked (unrolled to " + std::to_string(kGemmJitUnrollKb) +
                             " k steps), every rows count, tail columns, runs of weight panels per call, outputs s32 / "
                             "f32 / u8, s8 fp32-requantized (codes narrowed in groups, + zo and clamps in int16 words)";
  return {
      "gemm avx2: 6x16c2 (vpmaddwd)" + common,
      "gemm avx512: 6x32c2 (vpmaddwd)" + common,
      "gemm avx512_vnni: 6x64c4, 8x32c4 for N <= 32 (vpdpbusd; W prefetched where K <= 64 and the packed W exceeds 48 KiB)" +
          common,
      "lut_gemm avx2, avx512 (vpshufb + vpmaddwd on the weights + 128), avx512_vnni (vpshufb + vpdpbusd): "
      "LutGemm with quantized activations; K, rows x 4-16 columns per call, the bit width, the table layout, "
      "the prefetch and the epilogue baked",
      "conv (QConv2d direct path, input_channels <= " + std::to_string(internal::kConvDirectMaxIc) +
          "): the same tiles and epilogues, taps gathered from staged input rows at baked offsets, K "
          "unrolled to " + std::to_string(kConvJitUnrollKb) + " k steps, else loops over kernel rows",
  };
}

bool gemm_jit_kernel_set(GemmJitConf conf, int64_t n, std::vector<std::shared_ptr<const Kernel>>* keep,
                         internal::GemmJitFns* fns, std::string* why) {
  conf.mr = conf.nr_valid = 1;  // the conf's own checks first (an ISA without generators: nrv may be 0)
  const std::string reason = gemm_jit_unsupported(conf);
  if (!reason.empty()) {
    *why = reason;
    return false;
  }
  const int nr = conf.nrv * lanes_of(conf.isa), tail = static_cast<int>(n % nr);
  internal::GemmJitFns got;
  std::vector<std::shared_ptr<const Kernel>> owners;
  for (int t = 0; t < (tail ? 2 : 1); ++t) {
    conf.nr_valid = t == 0 ? nr : tail;
    if (t == 0 && n < nr) continue;  // N fits one partial panel: no whole panels
    for (int mr = 1; mr <= conf.panel_mr; ++mr) {
      conf.mr = mr;
      auto kernel = gemm_jit_kernel(conf, why);
      if (kernel == nullptr) return false;
      got.fn[t][mr - 1] = reinterpret_cast<GemmJitFn>(const_cast<void*>(kernel->entry()));
      owners.push_back(std::move(kernel));
    }
  }
  *fns = got;
  for (auto& k : owners) keep->push_back(std::move(k));
  return true;
}

std::shared_ptr<const Kernel> gemm_jit_kernel(const GemmJitConf& conf, std::string* why) {
  const std::string reason = gemm_jit_unsupported(conf);
  if (!reason.empty()) {
    *why = reason;
    return nullptr;
  }
  return global_cache().get(
      conf.key(), [&conf](std::string* w) { return build<GemmGenerator>(conf.name(), w, conf); }, why);
}

}  // namespace jit
}  // namespace qkern
