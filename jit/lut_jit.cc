// jit/lut_jit.cc: the lookup-GEMM generator (see lut_jit.h).
//
// Per block of BB packed index bytes of each column (P = 8 / bits label
// planes): plane t = (bytes >> bits * t) & (2^bits - 1), w = vpshufb(the
// column's 16-entry table, plane), then
//   dot:  acc[m][c] += vpdpbusd(X[m] plane t, w)                     (u8 x s8)
//   madd: the biased weights u = w + 128 (the table xor 0x80: bytes 1..255)
//         zero-extended to int16 within 128-bit blocks (the unpack-low/high
//         pair the X packing mirrors), acc[m][c] += vpmaddwd(X[m] plane t
//         low half, u low) + vpmaddwd(high, high) (|x u| <= 255 * 255: exact);
//         after the K loop acc -= 128 * sum_k X[m][k], the row sum the driver
//         stores after each packed row (int32 sums wrap: the same bytes as
//         sum x w). Two unpacks per 2 * BB weights instead of a sign and two.
// Register map (AVX-512: 32 zmm, AVX2: 16 ymm)
//   acc(m, c, s) = (s * R + m) * C + c   the rows x C = 4 * panels sums, in
//                                     two sets s (planes alternate) for
//                                     tiles of at most 8 sums
//   then (dot, planes mode) X(m, t)   every plane of the rows' X block
//        (dot, columns mode) X(m)     the current plane's X; v(c) the
//                                     columns' index bytes (the R = 4 2-bit
//                                     case, whose X planes do not fit)
//   then the tables (in registers where they fit, else one reloaded per
//   column), the index bytes, the plane / weights, the mask; madd adds the
//   0x80 bytes, low-half, product and zero registers.
// GPRs (SysV): rdi X, rsi idx, rdx y, rcx ldy, r8 ep, r9 n0, rax tables
// (the 7th argument, from the stack), r10 the block count; then the
// epilogue's (jit/epilogue_jit.h).
//
// After the K loop, each row's C sums are reduced across lanes together:
// dword and qword interleaves (vpunpck[lh]dq / [lh]qdq + vpaddd) leave one
// vector per panel holding its 4 columns' partial sums in every 128-bit
// block, and 128-bit shuffles (vshufi32x4 / vperm2i128) + vpaddd add the
// blocks: columns 0..C-1 in lanes 0..C-1, which the epilogue finishes.
#include "jit/lut_jit.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>

#include "jit/code_cache.h"
#include "jit/jit_generator.h"

namespace qkern {
namespace jit {
namespace {

using namespace Xbyak;  // NOLINT: register names

constexpr int kNR = 4;                   // columns per panel (the AOT configs')
constexpr uint32_t kUnrollBlocks = 2;    // at most this many blocks: no loop

bool is_avx512(Isa isa) { return isa == Isa::kAvx512 || isa == Isa::kAvx512Vnni; }
int regs_of(Isa isa) { return is_avx512(isa) ? 32 : 16; }
int lanes_of(Isa isa) { return is_avx512(isa) ? 16 : 8; }

// The register plan of a conf: which values live in registers.
struct Plan {
  int sets = 1;              // sets of sums (planes alternate between them: shorter chains)
  bool planes_mode = false;  // dot: every X plane of the block in registers (columns outer)
  bool tables_in_regs = false;
  int x_base = 0, t_base = 0, v_base = 0, p = 0, mask = 0, flip = 0, wlo = 0, prod = 0, zero = 0;
  bool fits = false;
};

Plan plan_for(const LutJitConf& c) {
  Plan pl;
  const int regs = regs_of(c.isa), cols = kNR * c.panels, acc = c.rows * cols, planes = 8 / c.bits;
  const int tables = c.shared_table ? 1 : cols;
  auto layout = [&](int sets, bool planes_mode, bool tables_in_regs) {
    Plan q;
    q.sets = sets;
    q.planes_mode = planes_mode;
    q.tables_in_regs = tables_in_regs;
    int r = acc * sets;
    q.x_base = r;
    if (c.dot) r += planes_mode ? c.rows * planes : c.rows;
    q.t_base = r;
    r += tables_in_regs ? tables : 1;
    q.v_base = r;
    r += c.dot && !planes_mode ? cols : 1;
    q.p = r++;
    q.mask = r++;
    if (!c.dot) {
      q.flip = r++;
      q.wlo = r++;
      q.prod = r++;
      q.zero = r++;
    }
    q.fits = r <= regs;
    return q;
  };
  // Preference: two sets of sums for small tiles (a GEMV's 4 columns are 4
  // chains of P dependent products per block otherwise), X planes in
  // registers (each loaded once per block), then the tables (loaded once
  // per call).
  for (int sets : {2, 1}) {
    if (sets == 2 && (acc > 8 || planes < 2)) continue;
    for (bool planes_mode : {true, false}) {
      if (!c.dot && !planes_mode) continue;  // madd reads X as memory operands
      for (bool t_regs : {true, false}) {
        pl = layout(sets, planes_mode, t_regs);
        if (pl.fits) return pl;
      }
    }
  }
  return pl;
}

class LutGenerator : public Generator {
 public:
  explicit LutGenerator(const LutJitConf& c)
      : Generator(code_bytes(c)), c_(c), avx512_(is_avx512(c.isa)), lanes_(lanes_of(c.isa)),
        cols_(kNR * c.panels), planes_(8 / c.bits), pl_(plan_for(c)) {
    generate();
  }

 private:
  static size_t code_bytes(const LutJitConf& c) {
    const size_t cols = static_cast<size_t>(kNR * c.panels), rows = static_cast<size_t>(c.rows);
    const size_t planes = static_cast<size_t>(8 / c.bits);
    const size_t per_plane = 10 * (3 + (c.dot ? rows : 4 + 4 * rows));
    // Per column: its index and table loads and the table's bias (madd).
    const size_t per_block = cols * (40 + planes * per_plane) + 10 * (rows * planes + 8 * cols);
    const size_t blocks = c.blocks <= kUnrollBlocks ? c.blocks : 1;
    return 2048 + per_block * blocks + 10 * 4 * rows * cols + 16 * 10 * rows + 4 * cols * 10;
  }

  Xmm vec(int i) const {
    if (avx512_) return Zmm(i);
    return Ymm(i);
  }
  Xmm acc(int m, int c, int set = 0) const { return vec((set * c_.rows + m) * cols_ + c); }
  // The set plane t adds to.
  int set_of(int t) const { return t % pl_.sets; }
  Xmm xreg(int m, int t) const { return vec(pl_.x_base + (pl_.planes_mode ? m * planes_ + t : m)); }
  Xmm table(int c) const { return vec(pl_.t_base + (pl_.tables_in_regs && !c_.shared_table ? c : 0)); }
  Xmm vreg(int c) const { return vec(pl_.v_base + (c_.dot && !pl_.planes_mode ? c : 0)); }

  // Byte offset from rsi of column c's block (panel c / 4, column c % 4).
  int64_t idx_offset(int c) const {
    const int64_t panel_bytes = static_cast<int64_t>(c_.blocks) * kNR * c_.bb;
    return (c / kNR) * panel_bytes + (c % kNR) * c_.bb;
  }
  // Byte offset from rdi of row m's plane t (dot: bytes; madd: int16, two halves of bb bytes).
  int64_t x_offset(int m, int t) const { return m * c_.a_stride + t * c_.bb * (c_.dot ? 1 : 2); }

  // Column c's table in every 128-bit block; madd: biased (xor 0x80: w + 128).
  void load_table(const Xmm& t, int c) {
    if (avx512_) {
      vbroadcasti32x4(Zmm(t.getIdx()), ptr[rax + 16 * c]);
      if (!c_.dot) vpxord(t, t, vec(pl_.flip));
    } else {
      vbroadcasti128(Ymm(t.getIdx()), ptr[rax + 16 * c]);
      vpxor(t, t, vec(pl_.flip));
    }
  }
  void load_vec(const Xmm& x, const Address& a) {
    if (avx512_) {
      vmovdqu32(Zmm(x.getIdx()), a);
    } else {
      vmovdqu(Ymm(x.getIdx()), a);
    }
  }

  // p = label plane t of the index bytes in v.
  void plane(const Xmm& p, const Xmm& v, int t) {
    const Xmm mask = vec(pl_.mask);
    if (t == 0) {
      if (avx512_) {
        vpandd(p, v, mask);
      } else {
        vpand(p, v, mask);
      }
      return;
    }
    vpsrlw(p, v, c_.bits * t);
    if (avx512_) {
      vpandd(p, p, mask);
    } else {
      vpand(p, p, mask);
    }
  }

  // The biased weights in p (u = w + 128, bytes) times X plane t of every
  // row, into column c's sums: zero-extended to int16 (no sign to compute).
  void madd(int c, int t) {
    const Xmm u = vec(pl_.p), wlo = vec(pl_.wlo), prod = vec(pl_.prod), zero = vec(pl_.zero);
    vpunpcklbw(wlo, u, zero);
    vpunpckhbw(u, u, zero);  // the high half, in place
    for (int m = 0; m < c_.rows; ++m) {
      vpmaddwd(prod, wlo, ptr[rdi + x_offset(m, t)]);
      const Xmm a = acc(m, c, set_of(t));
      vpaddd(a, a, prod);
      vpmaddwd(prod, u, ptr[rdi + x_offset(m, t) + c_.bb]);
      vpaddd(a, a, prod);
    }
  }

  void block() {
    const Xmm p = vec(pl_.p);
    if (c_.dot && !pl_.planes_mode) {
      // Columns mode: plane by plane, the columns' index bytes kept.
      for (int c = 0; c < cols_; ++c) load_vec(vreg(c), ptr[rsi + idx_offset(c)]);
      for (int t = 0; t < planes_; ++t) {
        for (int m = 0; m < c_.rows; ++m) load_vec(xreg(m, t), ptr[rdi + x_offset(m, t)]);
        for (int c = 0; c < cols_; ++c) {
          if (!pl_.tables_in_regs && !c_.shared_table) load_table(table(c), c);
          plane(p, vreg(c), t);
          vpshufb(p, table(c), p);
          for (int m = 0; m < c_.rows; ++m) vpdpbusd(acc(m, c, set_of(t)), xreg(m, t), p, EvexEncoding);
        }
      }
    } else {
      if (c_.dot) {
        for (int m = 0; m < c_.rows; ++m) {
          for (int t = 0; t < planes_; ++t) load_vec(xreg(m, t), ptr[rdi + x_offset(m, t)]);
        }
      }
      for (int c = 0; c < cols_; ++c) {
        const Xmm v = vreg(c);
        load_vec(v, ptr[rsi + idx_offset(c)]);
        if (!pl_.tables_in_regs && !c_.shared_table) load_table(table(c), c);
        for (int t = 0; t < planes_; ++t) {
          plane(p, v, t);
          vpshufb(p, table(c), p);
          if (c_.dot) {
            for (int m = 0; m < c_.rows; ++m) vpdpbusd(acc(m, c, set_of(t)), xreg(m, t), p, EvexEncoding);
          } else {
            madd(c, t);
          }
        }
      }
    }
    if (c_.prefetch_bytes > 0) {
      for (int g = 0; g < c_.panels; ++g) {
        for (int line = 0; line < kNR * c_.bb; line += 64) {
          prefetcht0(ptr[rsi + idx_offset(kNR * g) + c_.prefetch_bytes + line]);
        }
      }
    }
  }

  // Row m's C sums -> lanes 0..C-1 of acc(m, 0).
  void reduce(int m) {
    const Xmm t = vec(c_.rows * cols_);  // free after the loop
    // Dword, then qword interleaves: one vector per panel, its 4 columns'
    // partial sums in every 128-bit block.
    for (int step = 1; step <= 2; ++step) {
      for (int c = 0; c < cols_; c += 2 * step) {
        const Xmm a = acc(m, c), b = acc(m, c + step);
        if (step == 1) {
          vpunpckhdq(t, a, b);
          vpunpckldq(a, a, b);
        } else {
          vpunpckhqdq(t, a, b);
          vpunpcklqdq(a, a, b);
        }
        vpaddd(a, a, t);
      }
    }
    // The 128-bit blocks: panel g's vector is acc(m, 4g).
    if (avx512_) {
      // [a.L0 + a.L2, a.L1 + a.L3, b.L0 + b.L2, b.L1 + b.L3] for pairs of
      // panels (a panel alone pairs with itself), then the same for their
      // halves: every panel's total in its 128-bit block.
      const int g_n = c_.panels;
      for (int g = 0; g < (g_n + 1) / 2; ++g) {
        const Zmm a(acc(m, 8 * g).getIdx());
        const Zmm b(2 * g + 1 < g_n ? acc(m, 8 * g + 4).getIdx() : a.getIdx());
        vshufi32x4(Zmm(t.getIdx()), a, b, 0xEE);
        vshufi32x4(a, a, b, 0x44);
        vpaddd(a, a, Zmm(t.getIdx()));
      }
      const Zmm a(acc(m, 0).getIdx());
      const Zmm b(g_n > 2 ? acc(m, 8).getIdx() : a.getIdx());
      vshufi32x4(Zmm(t.getIdx()), a, b, 0xDD);
      vshufi32x4(a, a, b, 0x88);
      vpaddd(a, a, Zmm(t.getIdx()));
    } else {
      const Ymm a(acc(m, 0).getIdx());
      const Ymm b(c_.panels == 2 ? acc(m, 4).getIdx() : a.getIdx());
      vperm2i128(Ymm(t.getIdx()), a, b, 0x31);
      vperm2i128(a, a, b, 0x20);
      vpaddd(a, a, Ymm(t.getIdx()));
    }
  }

  void generate() {
    push(r12);  // the epilogue's row stride (callee-saved)
    mov(rax, ptr[rsp + 16]);  // tables: the 7th argument, above the return address and r12
    for (int set = 0; set < pl_.sets; ++set) {
      for (int m = 0; m < c_.rows; ++m) {
        for (int c = 0; c < cols_; ++c) {
          const Xmm a = acc(m, c, set);
          if (avx512_) {
            vpxord(a, a, a);
          } else {
            vpxor(a, a, a);
          }
        }
      }
    }
    mov(r10d, (1u << c_.bits) - 1);  // 0x0f / 0x03 in every byte
    imul(r10d, r10d, 0x01010101);
    if (avx512_) {
      vpbroadcastd(Zmm(pl_.mask), r10d);
    } else {
      vmovd(Xmm(pl_.mask), r10d);
      vpbroadcastd(Ymm(pl_.mask), Xmm(pl_.mask));
    }
    if (!c_.dot) {
      mov(r10d, 0x80808080u);
      if (avx512_) {
        vpbroadcastd(Zmm(pl_.flip), r10d);
        vpxord(vec(pl_.zero), vec(pl_.zero), vec(pl_.zero));
      } else {
        vmovd(Xmm(pl_.flip), r10d);
        vpbroadcastd(Ymm(pl_.flip), Xmm(pl_.flip));
        vpxor(vec(pl_.zero), vec(pl_.zero), vec(pl_.zero));
      }
    }
    if (c_.shared_table) {
      load_table(table(0), 0);
    } else if (pl_.tables_in_regs) {
      for (int c = 0; c < cols_; ++c) load_table(table(c), c);
    }
    const int64_t idx_step = kNR * c_.bb, x_step = static_cast<int64_t>(planes_) * c_.bb * (c_.dot ? 1 : 2);
    int64_t x_advanced = 0;  // how far rdi has moved
    if (c_.blocks <= kUnrollBlocks) {
      for (uint32_t b = 0; b < c_.blocks; ++b) {
        block();
        if (b + 1 < c_.blocks) {
          add(rsi, idx_step);
          add(rdi, x_step);
          x_advanced += x_step;
        }
      }
    } else {
      x_advanced = static_cast<int64_t>(c_.blocks) * x_step;
      mov(r10d, c_.blocks);
      Label loop;
      align(64);
      L(loop);
      block();
      add(rsi, idx_step);
      add(rdi, x_step);
      dec(r10d);
      jnz(loop, T_NEAR);
    }
    if (pl_.sets == 2) {  // int32 sums wrap: the order does not change a byte
      for (int m = 0; m < c_.rows; ++m) {
        for (int c = 0; c < cols_; ++c) vpaddd(acc(m, c), acc(m, c), acc(m, c, 1));
      }
    }
    for (int m = 0; m < c_.rows; ++m) reduce(m);
    if (!c_.dot) {
      // The bias of the weights: sum x * (w + 128) - 128 * sum x, with each
      // row's sum x (int32) stored after its K_pad int16 elements.
      const int64_t sum_at = static_cast<int64_t>(c_.blocks) * x_step - x_advanced;
      const Xmm t = vec(c_.rows * cols_);
      for (int m = 0; m < c_.rows; ++m) {
        vpbroadcastd(t, ptr[rdi + m * c_.a_stride + sum_at]);
        vpslld(t, t, 7);
        vpsubd(acc(m, 0), acc(m, 0), t);
      }
    }

    // Scratch for the epilogue: after the sums (the loop's registers are free).
    EpilogueEmitter ep(*this, c_.ep, avx512_, c_.rows * cols_);
    const int count = c_.nr_valid;
    ep.row_stride();
    ep.setup(count < lanes_ ? count : 0);
    for (int m = 0; m < c_.rows; ++m) {
      ep.vector(acc(m, 0), 0, count);
      if (m + 1 < c_.rows) ep.next_row();
    }
    pop(r12);
    vzeroupper();
    ret();
    ep.constants();
  }

  const LutJitConf c_;
  const bool avx512_;
  const int lanes_, cols_, planes_;
  const Plan pl_;
};

}  // namespace

int lut_jit_max_rows(Isa isa) { return is_avx512(isa) ? 4 : 2; }

int lut_jit_group(Isa isa, int rows) {
  // C = 4 * panels columns, rows * C sums: at most half the registers.
  const int cols = lanes_of(isa) / std::max(1, rows);
  return std::max(1, cols / kNR);
}

std::string LutJitConf::key() const {
  std::string k = "lut:";
  const auto put = [&k](const void* p, size_t n) { k.append(static_cast<const char*>(p), n); };
  const int i[] = {static_cast<int>(isa), bits, dot ? 1 : 0, bb, rows, panels, nr_valid, shared_table ? 1 : 0,
                   prefetch_bytes, static_cast<int>(ep.kind), ep.zero_point, ep.lo, ep.hi,
                   ep.mult_folded ? 1 : 0, ep.finite_mult ? 1 : 0};
  put(i, sizeof i);
  put(&blocks, sizeof blocks);
  put(&a_stride, sizeof a_stride);
  put(&ep.mult, sizeof ep.mult);
  return k;
}

std::string LutJitConf::name() const {
  return "lutgemm_" + std::to_string(bits) + "bit_" + (dot ? "dot" : "madd") + "_r" + std::to_string(rows) + "x" +
         std::to_string(nr_valid) + "_b" + std::to_string(blocks) + "_s" + std::to_string(a_stride) +
         (shared_table ? "_pt" : "") + (prefetch_bytes > 0 ? "_pf" + std::to_string(prefetch_bytes) : "") + "_" +
         epilogue_kind_name(ep.kind) +
         (ep.mult_folded ? "_m" : "") + (ep.finite_mult ? "" : "_nan") + "__" + isa_name(isa);
}

std::string lut_jit_unsupported(const LutJitConf& c) {
  if (c.isa != Isa::kAvx2 && c.isa != Isa::kAvx512 && c.isa != Isa::kAvx512Vnni) {
    return std::string("no lookup-GEMM generator for ") + isa_name(c.isa);
  }
  if (c.dot != (c.isa == Isa::kAvx512Vnni)) return "dot kernels on avx512_vnni only, madd on avx2 and avx512";
  if (c.bits != 2 && c.bits != 4) return "bits must be 2 or 4";
  if (c.bb != lanes_of(c.isa) * 4) return "block bytes must be the vector width";
  if (!epilogue_supported(c.ep.kind)) return "fixed-point requantization has no JIT epilogue";
  if (c.rows < 1 || c.rows > lut_jit_max_rows(c.isa)) return "rows out of range";
  if (c.panels < 1 || c.panels > lut_jit_group(c.isa, c.rows)) return "panels out of range";
  if (c.nr_valid <= kNR * (c.panels - 1) || c.nr_valid > kNR * c.panels) return "nr_valid out of range";
  if (c.blocks < 1) return "blocks must be >= 1";
  if (c.a_stride < 0 || static_cast<int64_t>(c.rows) * c.a_stride > (int64_t{1} << 30)) {
    return "a_stride out of range";
  }
  if (!c.dot && c.a_stride < static_cast<int64_t>(c.blocks) * (8 / c.bits) * c.bb * 2 + 4) {
    return "a_stride leaves no room for the row sums";
  }
  if (static_cast<int64_t>(c.blocks) * kNR * c.bb * c.panels > (int64_t{1} << 30)) return "panels exceed 2^30 bytes";
  if (c.prefetch_bytes < 0 || c.prefetch_bytes > (1 << 20)) return "prefetch_bytes out of range (0 to 1 MiB)";
  if (!plan_for(c).fits) return "the tile needs more vector registers than the ISA has";
  return "";
}

std::shared_ptr<const Kernel> lut_jit_kernel(const LutJitConf& conf, std::string* why) {
  const std::string reason = lut_jit_unsupported(conf);
  if (!reason.empty()) {
    *why = reason;
    return nullptr;
  }
  return global_cache().get(
      conf.key(), [&conf](std::string* w) { return build<LutGenerator>(conf.name(), w, conf); }, why);
}

bool lut_jit_kernel_set(LutJitConf conf, int max_rows, int max_panels, int64_t n,
                        std::vector<std::shared_ptr<const Kernel>>* keep, internal::LutJitFns* fns, std::string* why) {
  conf.rows = conf.panels = 1;
  conf.nr_valid = kNR;
  const std::string reason = lut_jit_unsupported(conf);  // the conf's own checks first
  if (!reason.empty()) {
    *why = reason;
    return false;
  }
  if (max_panels < 1 || (max_panels & (max_panels - 1)) != 0) {
    *why = "max_panels must be a power of 2";
    return false;
  }
  const int64_t n_panels = (n + kNR - 1) / kNR;
  internal::LutJitFns got;
  std::vector<std::shared_ptr<const Kernel>> owners;
  for (int rows = 1; rows <= max_rows; ++rows) {
    const int group = std::min(max_panels, lut_jit_group(conf.isa, rows));
    got.group[rows - 1] = group;
    conf.rows = rows;
    // The last group starts at a multiple of `group` panels; it is partial
    // when it has fewer panels or columns than a whole one.
    const int64_t last = (n_panels - 1) / group * group;
    const int tail_cols = static_cast<int>(n - kNR * last);
    for (int t = 0; t < 2; ++t) {
      if (t == 0 && last == 0 && tail_cols < kNR * group) continue;  // no whole group
      if (t == 1 && tail_cols == kNR * group) continue;               // no partial group
      conf.panels = t == 0 ? group : (tail_cols + kNR - 1) / kNR;
      conf.nr_valid = t == 0 ? kNR * group : tail_cols;
      auto kernel = lut_jit_kernel(conf, why);
      if (kernel == nullptr) return false;
      got.fn[t][rows - 1] = reinterpret_cast<internal::LutJitFn>(const_cast<void*>(kernel->entry()));
      owners.push_back(std::move(kernel));
    }
  }
  *fns = got;
  for (auto& k : owners) keep->push_back(std::move(k));
  return true;
}

}  // namespace jit
}  // namespace qkern
