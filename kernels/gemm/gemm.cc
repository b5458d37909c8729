// kernels/gemm/gemm.cc: the int8 GEMM front end (QGemm) and driver.
//
// create(): validate, pick the config of the active ISA (gemm_kernels.h),
// pack W into NR-column panels of KR-byte k groups, fold the zero point and
// the activation shift into a packed bias, precompute the per-channel
// multipliers, all padded to whole panels.
//
// run(): the output is cut into tasks of (MC rows) x (a range of panels).
// A task packs its MC rows of A into MR-row panels in the thread's workspace
// (int16 pairs or shifted bytes), then for each weight panel (K_pad x NR bytes,
// reused by every row panel from L2) runs the microkernel on each row panel
// and the epilogue on the tile. The whole K is one block: an MR-row panel of A
// and a weight panel both stream from L2 at well under its bandwidth, so
// BLIS's KC loop (and partial sums in memory) buys nothing here. Every output
// element is computed by one microkernel call over the whole K, so results do
// not depend on the task split or the thread count.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels/common/buffer.h"
#include "kernels/common/registry.h"
#include "kernels/common/run_grid.h"
#include "kernels/common/validate.h"
#include "kernels/common/verbose.h"
#include "kernels/gemm/gemm_kernels.h"
#if QKERN_HAVE_JIT
#include "jit/gemm_jit.h"
#endif
#include "qkern/gemm.hpp"
#include "reference/gemm_ref.h"

namespace qkern {
namespace internal {
namespace {

const Registry<GemmKernels>& registry() {
  static const Registry<GemmKernels> r(gemm_kernels_scalar(), gemm_kernels_avx2(), gemm_kernels_avx512(),
                                         gemm_kernels_avx512_vnni(), gemm_kernels_neon(),
                                         gemm_kernels_neon_dotprod());
  return r;
}

}  // namespace

// The workspace: each thread's, allocated on its first run and kept.
uint8_t* thread_workspace() {
  thread_local Buffer<uint8_t> ws = alloc_zeroed<uint8_t>(kQGemmWorkspaceBytes);
  return ws.get();
}

namespace {
// An A block of one task aims at this many bytes, so that it stays in a
// 512 KiB L2 beside the weight panel being swept across it.
constexpr int64_t kABlockBytes = 256 << 10;
// Packed weights beyond this are swept in chunks of this size, each by every
// row block before the next chunk: a chunk stays in the last-level cache (32
// MiB on Zen 5) while the row blocks reuse it. (4096 x 11008 at M = 256 read
// its 45 MB from DRAM five times without it: 0.83x oneDNN.)
constexpr int64_t kWeightChunkBytes = 8 << 20;
// avx512_amx: QGemm runs the AMX kernel from M = kAmxMinM up where K >= 96
// (gemm_amx_min_m(k)). Measured on (4096, 4096), (768, 3072), (3072, 768),
// (2048, 1000): at M = 8 AMX 1.23-1.37x the avx512_vnni kernels, at M = 1-6
// 0.66-0.92x except on (4096, 4096) at M = 4 and 6 (1.08-1.09x); a tdpbusd
// costs about the same on 1 to 4 rows as on 8. Small K (N = 1024, against
// the avx512_vnni JIT kernels): every run pads K to 64 and requantizes a
// stored tile, so K <= 32 never gains (0.52-1.01x at M = 8-3136), K = 48
// from M = 24 (1.07-1.21x; 0.75-0.99x below), K = 64 from M = 16 (1.15-1.40x;
// M = 12 1.00x), K = 96 from M = 8 (1.03x, 1.19x at M = 12). K in 65..95
// (two k blocks, the second part-filled; not measured) waits for M = 24 as K = 48.
constexpr int64_t kAmxMinM = 8;
constexpr int64_t kAmxNever = std::numeric_limits<int64_t>::max();
int64_t amx_min_m_for_k(int64_t k) {
  if (k <= 32) return kAmxNever;
  if (k < 96) return k == 64 ? 16 : 24;
  return kAmxMinM;
}
// The AMX path packs a task's rows of A in about the time it multiplies them
// by one 64-column weight panel, so a pool's tasks get at least this many
// panels (two threads at 1024^3: 16 tasks of 2 panels ran 1.51x one thread).
constexpr int64_t kAmxMinTaskPanels = 8;
std::atomic<int64_t> g_amx_min_m{0};  // a test's value; 0: amx_min_m_for_k

}  // namespace

int64_t gemm_amx_min_m(int64_t k) {
  const int64_t m = g_amx_min_m.load(std::memory_order_relaxed);
  return m > 0 ? m : amx_min_m_for_k(k);
}
void set_gemm_amx_min_m_for_test(int64_t m) { g_amx_min_m.store(m > 0 ? m : 0, std::memory_order_relaxed); }
}  // namespace internal

using internal::Buffer;
using internal::GemmConfig;
using internal::GemmEpilogue;
using internal::GemmPackPanelFn;
using internal::invalid;
using internal::out_of_range;
using internal::str;

struct QGemm::Impl {
  int64_t n = 0, k = 0, n_pad = 0, k_pad = 0;
  // run()'s grid, from create(): MR-row panels of A per row block (an A
  // block of ~kABlockBytes within the workspace) and weight panels per
  // chunk (kWeightChunkBytes).
  int64_t max_row_panels = 1, chunk_panels = 1;
  bool a_signed = false;
  int a_shift = 0;  // added to every activation when packing (config's shift for the type)
  Isa isa = Isa::kScalar;  // avx512_amx where `amx` is set
  Isa cfg_isa = Isa::kScalar;  // cfg's (and the JIT kernels') ISA
  std::string kernel;
  const GemmConfig* cfg = nullptr;
  // avx512_amx: the AMX kernel, for runs of M >= gemm_amx_min_m(k); it reads
  // cfg's weight panels (the avx512_vnni c4 config's) and A panels of
  // kGemmAmxMR rows of amx_k64 bytes (K rounded up to 64). Null otherwise.
  const internal::GemmAmxKernel* amx = nullptr;
  int64_t amx_k64 = 0, amx_max_row_panels = 1;
  bool runs_amx(int64_t m) const { return amx != nullptr && m >= internal::gemm_amx_min_m(k); }
  internal::GemmEpilogueFn epilogue = nullptr;
  internal::GemmOutputPlan out;
  Buffer<int8_t> w;
  size_t packed_bytes = 0;
  // JIT kernels replacing (ukernel, epilogue) on packed A (use_jit; else the
  // AOT pair runs), and kernels that read A's rows where they are (lda == K
  // baked, K % 4 == 0, c4 on avx512_vnni; s8 xor 0x80 in the kernel): run()
  // takes those when lda == K, and packs nothing.
  internal::GemmJitFns jit_fns, jit_rows_fns;
  bool use_jit = false, use_jit_rows = false;
#if QKERN_HAVE_JIT
  std::vector<std::shared_ptr<const jit::Kernel>> jit_kernels;  // owners of both sets
  // Generates (or finds in the cache) every kernel run() may call; false and
  // *why when one cannot be had (then none is used).
  bool prepare_jit(std::string* why);
#endif

  void pack_a(const void* a, int64_t lda, int64_t rows, int64_t rpp, uint8_t* panel) const;
  // False when the thread's workspace cannot be allocated (nothing written).
  bool run_task(const void* a, int64_t lda, int64_t m0, int64_t m1, int64_t p0, int64_t p1,
                void* c, int64_t ldc) const;
  bool run_task_amx(const void* a, int64_t lda, int64_t m0, int64_t m1, int64_t p0, int64_t p1,
                    void* c, int64_t ldc) const;
};

QGemm::QGemm() = default;
QGemm::~QGemm() = default;
QGemm::QGemm(QGemm&&) noexcept = default;
QGemm& QGemm::operator=(QGemm&&) noexcept = default;
bool QGemm::valid() const { return impl_ != nullptr; }
int64_t QGemm::n() const { return impl_ ? impl_->n : 0; }
int64_t QGemm::k() const { return impl_ ? impl_->k : 0; }
Isa QGemm::isa() const { return impl_ ? impl_->isa : Isa::kScalar; }
const std::string& QGemm::kernel() const {
  static const std::string none;
  return impl_ ? impl_->kernel : none;
}
size_t QGemm::packed_bytes() const { return impl_ ? impl_->packed_bytes : 0; }

namespace internal {

Status validate_gemm(const QGemmParams& p) {
  if (p.n < 1) return invalid("n: must be >= 1 (got " + std::to_string(p.n) + ")");
  if (p.k < 1 || p.k > kQGemmMaxK) {
    return out_of_range("k: must be in [1, " + std::to_string(kQGemmMaxK) +
                        "] so that int32 sums cannot overflow (got " + std::to_string(p.k) + ")");
  }
  const int32_t za_lo = p.activation_signed ? -128 : 0, za_hi = p.activation_signed ? 127 : 255;
  if (p.activation_zero_point < za_lo || p.activation_zero_point > za_hi) {
    return out_of_range("activation_zero_point: must be in [" + std::to_string(za_lo) + ", " +
                        std::to_string(za_hi) + "] (got " +
                        std::to_string(p.activation_zero_point) + ")");
  }
  if (p.activation_7bit && p.activation_signed) {
    return invalid("activation_7bit: only for u8 activations");
  }
  if (p.weight_layout != WeightLayout::kNK && p.weight_layout != WeightLayout::kKN) {
    return invalid("weight_layout: unknown value");
  }
  if (p.output != GemmOutput::kRequantized && p.output != GemmOutput::kInt32 &&
      p.output != GemmOutput::kFloat) {
    return invalid("output: unknown value");
  }
  if (p.weights == nullptr) return invalid("weights: null");
  const int64_t row = p.weight_layout == WeightLayout::kNK ? p.k : p.n;
  const int64_t rows = p.weight_layout == WeightLayout::kNK ? p.n : p.k;
  if (p.ldw != 0 && p.ldw < row) {
    return out_of_range("ldw: must be 0 (dense) or >= " + std::to_string(row) + " (got " +
                        std::to_string(p.ldw) + ")");
  }
  const int64_t ldw = p.ldw ? p.ldw : row;
  if (ldw > std::numeric_limits<int64_t>::max() / rows) {
    return Status(StatusCode::kOverflow, "ldw: the weight matrix's size overflows");
  }
  if (p.output == GemmOutput::kInt32) return Status();

  // Scales matter to the requantized and float outputs only.
  if (!(std::isfinite(p.activation_scale) && p.activation_scale > 0)) {
    return out_of_range("activation_scale: must be finite and > 0 (got " + str(p.activation_scale) + ")");
  }
  if (p.weight_scale == nullptr) return invalid("weight_scale: null");
  Status s = internal::check_scales("weight_scale", p.weight_scale, p.weight_scale_per_channel ? p.n : 1);
  if (!s.ok()) return s;
  if (p.output == GemmOutput::kFloat) return Status();

  if (p.scheme != RequantScheme::kFp32 && p.scheme != RequantScheme::kFixedPoint) {
    return invalid("scheme: unknown value");
  }
  if (!(s = internal::check_range("output_range", p.output_range)).ok()) return s;
  if (!(std::isfinite(p.output_scale) && p.output_scale > 0)) {
    return out_of_range("output_scale: must be finite and > 0 (got " + str(p.output_scale) + ")");
  }
  if (p.output_zero_point < qmin(p.output_range) || p.output_zero_point > qmax(p.output_range)) {
    return out_of_range("output_zero_point: must be in [" + std::to_string(qmin(p.output_range)) +
                        ", " + std::to_string(qmax(p.output_range)) + "] (got " +
                        std::to_string(p.output_zero_point) + ")");
  }
  if (std::max(p.lo, qmin(p.output_range)) > std::min(p.hi, qmax(p.output_range))) {
    return out_of_range("lo: the clamp [max(lo, qmin), min(hi, qmax)] is empty (lo " +
                        std::to_string(p.lo) + ", hi " + std::to_string(p.hi) + ")");
  }
  return Status();
}

const char* type_name(bool is_signed) { return is_signed ? "s8" : "u8"; }

const GemmKernels* gemm_kernels_for(Isa isa) { return registry().select(isa).kernels; }

Status plan_gemm_output(const QGemmParams& p, int64_t n_pad, const int64_t* wsum, int a_shift,
                        GemmOutputPlan* plan, const char* scale_name) {
  GemmOutputPlan& g = *plan;
  // Only the per-channel arrays the output needs (the epilogue reads no other).
  const bool requant = p.output == GemmOutput::kRequantized;
  const bool fixed = requant && p.scheme == RequantScheme::kFixedPoint;
  const bool need_mult = p.output == GemmOutput::kFloat || (requant && !fixed);
  g.bias = alloc_zeroed<int32_t>(n_pad);
  if (need_mult) g.mult = alloc_zeroed<float>(n_pad);
  if (p.output == GemmOutput::kFloat) g.bias_f = alloc_zeroed<float>(n_pad);
  if (fixed) {
    g.q31 = alloc_zeroed<int32_t>(n_pad);
    g.shift = alloc_zeroed<int32_t>(n_pad);
  }
  if (!g.bias || (need_mult && !g.mult) || (p.output == GemmOutput::kFloat && !g.bias_f) ||
      (fixed && (!g.q31 || !g.shift))) {
    return Status(StatusCode::kOutOfMemory, "weights: cannot allocate the per-channel parameters");
  }
  for (int64_t n = 0; n < p.n; ++n) {
    // sum (a - za) w = sum (a + shift) w - (shift + za) sum w, modulo 2^32.
    const int64_t fold = (a_shift + p.activation_zero_point) * wsum[n];
    const uint32_t b = p.bias ? static_cast<uint32_t>(p.bias[n]) : 0u;
    g.bias[n] = static_cast<int32_t>(b - static_cast<uint32_t>(fold));
    if (p.output == GemmOutput::kInt32) continue;
    const float sw = p.weight_scale[p.weight_scale_per_channel ? n : 0];
    const float scale = p.activation_scale * sw;  // the same expressions as reference/gemm_ref.cc
    if (p.output == GemmOutput::kFloat) {
      g.mult[n] = scale;
      g.bias_f[n] = p.bias_f ? p.bias_f[n] : 0.0f;
    } else if (p.scheme == RequantScheme::kFp32) {
      g.mult[n] = scale / p.output_scale;
    } else {
      const double real = static_cast<double>(p.activation_scale) * sw / p.output_scale;
      if (!quantize_multiplier(real, &g.q31[n], &g.shift[n]).ok()) {
        return out_of_range(indexed(scale_name, n) + ": activation_scale * " + scale_name +
                            " / output_scale = " +
                            str(real) + " is outside kFixedPoint's range");
      }
    }
  }

  GemmEpilogue& ep = g.ep;
  ep.bias = g.bias.get();
  ep.multiplier = g.mult.get();
  ep.bias_f = g.bias_f.get();
  ep.q31 = g.q31.get();
  ep.shift = g.shift.get();
  switch (p.output) {
    case GemmOutput::kInt32:
      ep.kind = GemmEpilogue::kInt32;
      g.out_bytes = 4;
      g.name = "s32";
      break;
    case GemmOutput::kFloat:
      ep.kind = GemmEpilogue::kFloat;
      g.out_bytes = 4;
      g.name = "f32";
      break;
    case GemmOutput::kRequantized: {
      const bool fp32 = p.scheme == RequantScheme::kFp32, s8 = p.output_range.is_signed;
      ep.kind = fp32 ? (s8 ? GemmEpilogue::kFp32S8 : GemmEpilogue::kFp32U8)
                     : (s8 ? GemmEpilogue::kFixedS8 : GemmEpilogue::kFixedU8);
      ep.zero_point = p.output_zero_point;
      ep.lo = std::max(p.lo, qmin(p.output_range));
      ep.hi = std::min(p.hi, qmax(p.output_range));
      if (fp32) {
        ep.finite_mult = true;
        for (int64_t n = 0; n < p.n && ep.finite_mult; ++n) ep.finite_mult = std::isfinite(g.mult[n]);
      }
      g.out_bytes = 1;
      g.name = std::string(type_name(s8)) + (fp32 ? "_fp32" : "_fixed");
      break;
    }
  }
  g.arrays = 1 + (need_mult ? 1 : 0) + (g.bias_f ? 1 : 0) + (fixed ? 2 : 0);
  return Status();
}

}  // namespace internal

Status QGemm::create(const QGemmParams& p, QGemm* gemm) {
  // An allocation that throws (a std::vector, make_unique) is kOutOfMemory: no
  // exception leaves the API.
  return internal::no_throw("qgemm create", [&]() -> Status {
  internal::VerboseScope verbose("create", "qgemm");
  if (gemm == nullptr) return invalid("gemm: null");
  Status s = internal::validate_gemm(p);
  if (!s.ok()) return s;

  auto impl = std::make_unique<Impl>();
  Impl& g = *impl;
  const Isa want = active_isa();
  const auto sel = internal::registry().select(want);
  const internal::GemmKernels& kernels = *sel.kernels;
  g.n = p.n;
  g.k = p.k;
  g.a_signed = p.activation_signed;

  // vpmaddubsw adds two u8 x s8 products in saturating int16: exact when every
  // adjacent K pair (the bytes it pairs) has |w0| + |w1| <= 128 (255 * 128 =
  // 32640), or when activations are 7-bit (127 * 256 = 32512).
  bool maddubs = false;
  if (kernels.maddubs.name != nullptr) {
    maddubs = p.activation_7bit;
    if (!maddubs) {
      maddubs = true;
      for (int64_t n = 0; n < p.n && maddubs; ++n) {
        for (int64_t k = 0; k < p.k; k += 2) {
          const int a0 = std::abs(int{ref::gemm_weight(p, n, k)});
          const int a1 = k + 1 < p.k ? std::abs(int{ref::gemm_weight(p, n, k + 1)}) : 0;
          if (a0 + a1 > 128) {
            maddubs = false;
            break;
          }
        }
      }
    }
  }
  g.cfg = maddubs ? &kernels.maddubs : &kernels.exact;
  if (!maddubs && kernels.narrow.name != nullptr && p.n <= kernels.narrow.nr) g.cfg = &kernels.narrow;
  g.epilogue = kernels.epilogue;
  g.isa = g.cfg_isa = sel.isa;
  const GemmConfig& cfg = *g.cfg;
  g.a_shift = p.activation_signed ? cfg.shift_s8 : cfg.shift_u8;
  g.n_pad = internal::round_up(p.n, cfg.nr);
  g.k_pad = internal::round_up(p.k, cfg.kr);
  // avx512_amx has no table of its own: the avx512_vnni one serves, and its
  // exact c4 config's panels are what the AMX kernel reads (the narrow one's
  // and vpmaddubsw's are not), where 32 rows of A fit the workspace and K is
  // large enough for AMX to pay at some M (gemm_amx_min_m).
  const int64_t k64 = internal::round_up(p.k, 64);
  if (want == Isa::kAvx512Amx && sel.isa == Isa::kAvx512Vnni && g.cfg == &kernels.exact && cfg.kr == 4 &&
      cfg.nr == 64 && k64 * internal::kGemmAmxMR <= static_cast<int64_t>(kQGemmWorkspaceBytes) &&
      internal::gemm_amx_min_m(p.k) != internal::kAmxNever) {
    g.amx = internal::gemm_amx_kernel();
  }
  if (g.amx != nullptr) {
    g.isa = Isa::kAvx512Amx;
    g.amx_k64 = k64;
    // Packed weights within 1 MiB (they stay in the 2 MiB L2): blocks of one
    // 32-row panel, whose packed A stays in L1 while the weights stream from
    // L2; each pool task then packs only its own rows. 1024^3: 3.23-3.25
    // against 2.95-2.97 Tops with 512 KiB blocks; 3136 x 64 x 1024 (a
    // ResNet-50 1x1 layer's shape): 668 against 526 Gop/s. Larger weights:
    // A blocks of the whole workspace, so that the weights (from the L3) are
    // swept fewer times (M = 256, (3072, 768) and (4096, 4096): 1.24-1.26x
    // with 1 MiB blocks against 256 KiB; one panel ran 0.53-0.75x there).
    g.amx_max_row_panels =
        g.n_pad * g.k_pad <= (int64_t{1} << 20)
            ? 1
            : std::max<int64_t>(1, static_cast<int64_t>(kQGemmWorkspaceBytes) / (g.amx_k64 * internal::kGemmAmxMR));
  }
  // run() needs one MR-row panel of A in the workspace; every config's MR is
  // chosen so that kQGemmMaxK fits (6 rows of int16, 8 of bytes).
  const int64_t a_panel_bytes = g.k_pad * cfg.mr * (cfg.a_int16 ? 2 : 1);
  if (a_panel_bytes > static_cast<int64_t>(kQGemmWorkspaceBytes)) {
    return Status(StatusCode::kInternal, std::string("k: a ") + cfg.name +
                                             " panel of A exceeds the workspace");
  }
  g.max_row_panels = std::max<int64_t>(
      1, std::min<int64_t>(internal::kABlockBytes, kQGemmWorkspaceBytes) / a_panel_bytes);
  g.chunk_panels = std::max<int64_t>(1, internal::kWeightChunkBytes / (g.k_pad * cfg.nr));

  // Packed weights: panel j = [K_pad / KR][NR][KR].
  const int64_t panels = g.n_pad / cfg.nr;
  const int64_t slack = g.amx != nullptr ? internal::kGemmAmxWeightSlack : 0;
  g.w = internal::alloc_zeroed<int8_t>(static_cast<size_t>(g.n_pad * g.k_pad + slack));
  if (!g.w) return Status(StatusCode::kOutOfMemory, "weights: cannot allocate the packed copy");
  std::vector<int64_t> wsum(static_cast<size_t>(p.n));
  for (int64_t j = 0; j < panels; ++j) {
    int8_t* panel = g.w.get() + j * g.k_pad * cfg.nr;
    for (int64_t c = 0; c < cfg.nr; ++c) {
      const int64_t n = j * cfg.nr + c;
      if (n >= p.n) break;
      int64_t sum = 0;
      for (int64_t k0 = 0; k0 < p.k; k0 += cfg.kr) {
        int8_t* dst = panel + (k0 / cfg.kr * cfg.nr + c) * cfg.kr;
        for (int64_t r = 0; r < cfg.kr && k0 + r < p.k; ++r) {
          dst[r] = ref::gemm_weight(p, n, k0 + r);
          sum += dst[r];
        }
      }
      wsum[n] = sum;
    }
  }
  s = internal::plan_gemm_output(p, g.n_pad, wsum.data(), g.a_shift, &g.out);
  if (!s.ok()) return s;
  // avx512_amx: "..._32x64c4_amx+<the avx512_vnni kernel's tile>[_k<K>_jit]__avx512_amx".
  const std::string prefix = std::string("qgemm_") + internal::type_name(p.activation_signed) + "s8_" +
                             g.out.name + "_" + (g.amx != nullptr ? "32x64c4_amx+" : "");
  g.kernel = prefix + cfg.name + "__" + isa_name(g.isa);
#if QKERN_HAVE_JIT
  // The JIT first (x86): kernels with K, the tile and the epilogue baked,
  // where they pay (kGemmJitMaxK); the vpmaddubsw configs and fixed-point
  // outputs stay AOT. A generator failure falls back with a verbose line.
  if (jit::enabled() && !maddubs && p.k <= internal::kGemmJitMaxK) {
    std::string why;
    if (g.prepare_jit(&why)) {
      g.kernel = prefix + cfg.name + "_k" + std::to_string(p.k) + "_jit__" + isa_name(g.isa);
    } else if (verbose.active() && why.find("fixed-point") == std::string::npos &&
               why.find("no GEMM generator") == std::string::npos) {
      verbose.record(g.isa, g.kernel, "jit_fallback:" + why);
    }
  }
#endif
  g.packed_bytes = static_cast<size_t>(g.n_pad * (g.k_pad + 4 * g.out.arrays) + slack);
  if (verbose.active()) {
    verbose.record(g.isa, g.kernel,
                   "n" + std::to_string(p.n) + "k" + std::to_string(p.k) + " packed_bytes:" +
                       std::to_string(g.packed_bytes));
  }
  gemm->impl_ = std::move(impl);
  return Status();
});
}

// Rows [0, rows) of A into MR-row panels: [K_pad / KR][MR][KR], int16 pairs
// (c2) or shifted bytes (c4); each panel holds `rpp` <= MR rows, the rest of
// its MR rows and k past K are zero. A KR group is one 4-byte store (c4: the
// bytes xor the shift's 0x80808080; c2: two int16), so the copy moves a group
// per instruction (byte at a time it was 3% of a 1024^3 VNNI GEMM). Constant
// KR and row strides keep run-time divisions out of the loop.
namespace {
inline uint32_t load_u32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline uint32_t load_u16(const void* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void store_u32(void* p, uint32_t v) { std::memcpy(p, &v, sizeof(v)); }

// One KR group of row `src` at k = 4g (bytes) or 2g (int16 pairs) as 4 bytes.
template <int kKR, bool kSigned>
inline uint32_t pack_group(const uint8_t* src, int64_t g, uint32_t flip) {
  if constexpr (kKR == 4) {
    return load_u32(src + 4 * g) ^ flip;
  } else {
    const uint32_t b = load_u16(src + 2 * g);  // little-endian: b0 | b1 << 8
    const uint32_t lo = b & 0xff, hi = b >> 8;
    const uint32_t x0 = kSigned ? static_cast<uint16_t>(static_cast<int8_t>(lo)) : lo;
    const uint32_t x1 = kSigned ? static_cast<uint16_t>(static_cast<int8_t>(hi)) : hi;
    return x0 | x1 << 16;
  }
}

// kRowsMax: MR when it is one of the configs' 4, 6 or 8 (whole panels then
// copy k group by k group, writing the output in order), else 0.
template <int kKR, bool kSigned, int kRowsMax>
void pack_a_panels(const uint8_t* a, int64_t lda, int64_t rows, int64_t k, int64_t k_pad, int64_t mr,
                   int64_t rpp, uint32_t flip, GemmPackPanelFn fast, uint8_t* out) {
  constexpr int64_t kElem = kKR == 4 ? 1 : 2;  // bytes per packed element
  const int64_t full = k / kKR, panel_bytes = k_pad * mr * kElem, group_stride = mr * 4;
  for (int64_t r0 = 0; r0 < rows; r0 += rpp) {
    const int64_t panel_rows = std::min(rpp, rows - r0);
    uint8_t* dst = out + r0 / rpp * panel_bytes;
    // Rows past the panel's are zero; a row's partial last group is written
    // whole below (its padding zero), so k_pad != k needs no clearing.
    if (panel_rows < mr) std::memset(dst, 0, static_cast<size_t>(panel_bytes));
    const uint8_t* src0 = a + r0 * lda;
    if (panel_rows == kRowsMax) {  // whole panels: the output is written in order
      int64_t g0 = 0;
      if (fast != nullptr && kRowsMax == mr) {
        g0 = static_cast<int64_t>(fast(src0, static_cast<size_t>(lda), static_cast<size_t>(full), flip, dst));
      }
      for (int64_t g = g0; g < full; ++g) {
        uint8_t* d = dst + g * group_stride;
#pragma GCC unroll 8
        for (int64_t r = 0; r < kRowsMax; ++r) store_u32(d + r * 4, pack_group<kKR, kSigned>(src0 + r * lda, g, flip));
      }
    }
    for (int64_t r = 0; r < panel_rows; ++r) {
      const uint8_t* src = src0 + r * lda;
      uint8_t* d = dst + r * 4;
      if (panel_rows != kRowsMax) {
        for (int64_t g = 0; g < full; ++g) store_u32(d + g * group_stride, pack_group<kKR, kSigned>(src, g, flip));
      }
      if (full * kKR < k) {  // the last, partial group; the rest of it stays 0
        uint8_t tail[4] = {0, 0, 0, 0};
        const int64_t rem = k - full * kKR;
        if (r0 + r + 1 < rows && full * kKR + 4 <= lda + k) {
          // Not the block's last row: the 4 bytes at the tail lie within this
          // row and the next one (short K, first-layer convolutions: a memcpy
          // call per row was a quarter of the packing).
          store_u32(tail, load_u32(src + full * kKR) & (0xffffffffu >> (8 * (4 - rem))));
        } else {
          std::memcpy(tail, src + full * kKR, static_cast<size_t>(rem));
        }
        uint32_t v = pack_group<kKR, kSigned>(tail, 0, flip);
        if constexpr (kKR == 4) v &= 0xffffffffu >> (8 * (4 - (k - full * kKR)));  // no flipped padding
        store_u32(d + full * group_stride, v);
      }
    }
  }
}
template <int kKR, bool kSigned>
void pack_a_dispatch(const uint8_t* a, int64_t lda, int64_t rows, int64_t k, int64_t k_pad, int64_t mr,
                     int64_t rpp, uint32_t flip, GemmPackPanelFn fast, uint8_t* out) {
  switch (rpp) {
    case 4: return pack_a_panels<kKR, kSigned, 4>(a, lda, rows, k, k_pad, mr, rpp, flip, fast, out);
    case 6: return pack_a_panels<kKR, kSigned, 6>(a, lda, rows, k, k_pad, mr, rpp, flip, fast, out);
    case 8: return pack_a_panels<kKR, kSigned, 8>(a, lda, rows, k, k_pad, mr, rpp, flip, fast, out);
    default: return pack_a_panels<kKR, kSigned, 0>(a, lda, rows, k, k_pad, mr, rpp, flip, fast, out);
  }
}
}  // namespace

namespace internal {
void gemm_pack_a(const GemmConfig& c, bool a_signed, int a_shift, const void* a, int64_t lda, int64_t rows,
                 int64_t k, int64_t k_pad, uint8_t* out, int64_t rows_per_panel) {
  const uint8_t* src = static_cast<const uint8_t*>(a);
  const int64_t rpp = rows_per_panel > 0 ? std::min<int64_t>(rows_per_panel, c.mr) : c.mr;
  if (c.a_int16) {
    if (a_signed) {
      pack_a_dispatch<2, true>(src, lda, rows, k, k_pad, c.mr, rpp, 0, nullptr, out);
    } else {
      pack_a_dispatch<2, false>(src, lda, rows, k, k_pad, c.mr, rpp, 0, nullptr, out);
    }
  } else {
    // The shift is +-128 or 0: on bytes it is an xor with 0x80.
    pack_a_dispatch<4, false>(src, lda, rows, k, k_pad, c.mr, rpp, a_shift ? 0x80808080u : 0u, c.pack_panel,
                              out);
  }
}

int64_t balanced_panel_rows(int64_t rows, int64_t mr) {
  const int64_t panels = (rows + mr - 1) / mr;
  return (rows + panels - 1) / panels;
}
}  // namespace internal

void QGemm::Impl::pack_a(const void* a, int64_t lda, int64_t rows, int64_t rpp, uint8_t* out) const {
  internal::gemm_pack_a(*cfg, a_signed, a_shift, a, lda, rows, k, k_pad, out, rpp);
}

#if QKERN_HAVE_JIT
bool QGemm::Impl::prepare_jit(std::string* why) {
  const GemmConfig& cf = *cfg;
  jit::GemmJitConf conf = jit::gemm_jit_base_conf(cfg_isa, cf, k_pad, n, out.ep);
  if (cf.kr == 4 && k_pad <= jit::kGemmJitPrefetchMaxK && n_pad * k_pad > jit::kGemmJitPrefetchMinBytes) {
    conf.prefetch_bytes = jit::kGemmJitPrefetchBytes;
  }
  jit::GemmJitConf rows_conf = conf;
  // Measured (qkern bench --op gemm, with and without them): MobileNetV2's
  // 1x1 projections 1.1-1.9x (A packing was 38% of a K = 32 one), 1024^3
  // and M = 64 1.01-1.08x, M = 3136, K = 64, N = 256 0.93-1.03x.
  bool rows = cf.kr == 4 && cfg_isa == Isa::kAvx512Vnni && k % 4 == 0;
  rows_conf.conv_g = static_cast<int>(k_pad / cf.kr);
  rows_conf.conv_pixel_bytes = static_cast<int>(k);
  rows_conf.a_flip = a_shift == 128;
  if (!jit::gemm_jit_kernel_set(conf, n, &jit_kernels, &jit_fns, why)) return false;
  use_jit = true;
  std::string ignored;  // without them, A is packed
  use_jit_rows = rows && jit::gemm_jit_kernel_set(rows_conf, n, &jit_kernels, &jit_rows_fns, &ignored);
  return true;
}
#endif

bool QGemm::Impl::run_task(const void* a, int64_t lda, int64_t m0, int64_t m1, int64_t p0,
                           int64_t p1, void* c, int64_t ldc) const {
  const GemmConfig& cf = *cfg;
  const size_t a_elem = cf.a_int16 ? 2 : 1;
  const int64_t panel_bytes = k_pad * cf.mr * static_cast<int64_t>(a_elem);
  uint8_t* ws = internal::thread_workspace();
  if (ws == nullptr) return false;
  const size_t kb = static_cast<size_t>(k_pad / cf.kr);
  alignas(64) int32_t tile[internal::kGemmMaxMR * 64];
  // Row panels of balanced height: 8 rows on a 6-row tile run as 4 + 4.
  const int64_t rpp = internal::balanced_panel_rows(m1 - m0, cf.mr);
  const bool rows = use_jit_rows && lda == k;  // the kernels read A's rows in place
  if (!rows) pack_a(static_cast<const uint8_t*>(a) + m0 * lda, lda, m1 - m0, rpp, ws);  // one byte per element
  const int64_t w_panel_bytes = k_pad * cf.nr;
  if (use_jit) {
    // With one row panel, or a task's W of at most kGemmJitRunBytes (it
    // stays in the L1 while every row panel sweeps it), one JIT call per
    // row panel computes every whole panel of the task (and one more the
    // tail): at N = 1024, M = 1 / 2, K = 27 measured 1.41 -> 1.72 / 1.24 ->
    // 1.39x AOT on avx2, 1.35 -> 2.1 / 1.29-1.37 -> 1.78x on avx512_vnni;
    // M = 4-6 unchanged (their vector work, not the calls, sets the time);
    // M = 16, K = 27 (28 KiB of W) 1-2% more Gop/s. Otherwise each W panel
    // is read by all row panels while it is in the L1, one call each (runs
    // of 32 KiB of panels per call lost 2-4% at M = 16, K = 64).
    const int64_t whole = n / cf.nr;  // panels [0, whole) are whole; panel `whole` (if any) is the tail
    const bool one_run = m1 - m0 <= rpp || (p1 - p0) * w_panel_bytes <= internal::kGemmJitRunBytes;
    const int64_t run = one_run ? p1 - p0 : 1;
    const internal::GemmJitFns& fns = rows ? jit_rows_fns : jit_fns;
    for (int64_t j0 = p0; j0 < p1; j0 += run) {
      const int64_t j1 = std::min(p1, j0 + run), jw = std::min(j1, std::max(j0, whole));
      const uint8_t* ap = ws;  // row panel (r0 - m0) / rpp
      for (int64_t r0 = m0; r0 < m1; r0 += rpp, ap += panel_bytes) {
        const size_t mr = static_cast<size_t>(std::min<int64_t>(rpp, m1 - r0));
        const void* arow = rows ? static_cast<const void*>(static_cast<const uint8_t*>(a) + r0 * lda) : ap;
        for (int64_t j = j0; j < j1;) {
          const bool tail = j == whole;
          const int64_t count = tail ? 1 : jw - j;
          uint8_t* cp = static_cast<uint8_t*>(c) + (r0 * ldc + j * cf.nr) * static_cast<int64_t>(out.out_bytes);
          fns.at(tail, mr)(arow, w.get() + j * w_panel_bytes, cp, static_cast<size_t>(ldc), &out.ep,
                           static_cast<size_t>(j * cf.nr), static_cast<size_t>(count));
          j += count;
        }
      }
    }
    return true;
  }
  for (int64_t j = p0; j < p1; ++j) {
    const int8_t* wp = w.get() + j * w_panel_bytes;
    const int64_t n0 = j * cf.nr;
    const size_t nr = static_cast<size_t>(std::min<int64_t>(cf.nr, n - n0));
    const uint8_t* ap = ws;  // row panel (r0 - m0) / rpp
    for (int64_t r0 = m0; r0 < m1; r0 += rpp, ap += panel_bytes) {
      const size_t mr = static_cast<size_t>(std::min<int64_t>(rpp, m1 - r0));
      uint8_t* cp = static_cast<uint8_t*>(c) + (r0 * ldc + n0) * static_cast<int64_t>(out.out_bytes);
      cf.ukernel[mr - 1](kb, ap, wp, tile);
      epilogue(tile, mr, static_cast<size_t>(cf.nr), nr, static_cast<size_t>(n0), out.ep, cp,
               static_cast<size_t>(ldc));
    }
  }
  return true;
}

// The AMX path: row panels of kGemmAmxMR rows packed by rows, then per
// weight panel and row panel one AMX tile and the avx512_vnni epilogue.
bool QGemm::Impl::run_task_amx(const void* a, int64_t lda, int64_t m0, int64_t m1, int64_t p0,
                               int64_t p1, void* c, int64_t ldc) const {
  constexpr int64_t kMR = internal::kGemmAmxMR;
  uint8_t* ws = internal::thread_workspace();
  if (ws == nullptr) return false;
  const size_t width = static_cast<size_t>(amx_k64), kblocks = width / 64;
  const int64_t panel_bytes = kMR * amx_k64;
  const uint8_t flip = a_shift != 0 ? 0x80 : 0;
  const uint8_t* a8 = static_cast<const uint8_t*>(a);
  uint8_t* ap = ws;
  for (int64_t r0 = m0; r0 < m1; r0 += kMR, ap += panel_bytes) {
    amx->pack_a(a8 + r0 * lda, static_cast<size_t>(lda), static_cast<size_t>(std::min(kMR, m1 - r0)),
                static_cast<size_t>(k), width, flip, ap);
  }
  alignas(64) int32_t tile[kMR * 32];  // 32 x 32, or 16 x 64
  // A task of one panel: tiles of its rows only (fewer rows, cheaper tdpbusd);
  // up to 16 rows, all 64 columns of a weight panel at once (block16x64).
  const int64_t task_rows = std::min(kMR, m1 - m0);
  amx->begin(static_cast<int>(task_rows));
  for (int64_t j = p0; j < p1; ++j) {
    const int8_t* wp = w.get() + j * k_pad * cfg->nr;
    const int64_t n0 = j * cfg->nr;
    const size_t nr = static_cast<size_t>(std::min<int64_t>(cfg->nr, n - n0));
    // Both 32-column blocks of a row panel in turn, so that each 64-byte line
    // of a u8 C row is written whole (1.00-1.08x at M = 256 and 1024^3 over
    // sweeping each block's weights down all the row panels first).
    ap = ws;
    if (task_rows <= 16 && nr > 32) {
      amx->block16x64(kblocks, ap, width, wp, tile);
      epilogue(tile, static_cast<size_t>(task_rows), 64, nr, static_cast<size_t>(n0), out.ep,
               static_cast<uint8_t*>(c) + (m0 * ldc + n0) * static_cast<int64_t>(out.out_bytes),
               static_cast<size_t>(ldc));
      continue;
    }
    for (int64_t r0 = m0; r0 < m1; r0 += kMR, ap += panel_bytes) {
      const size_t mr = static_cast<size_t>(std::min(kMR, m1 - r0));
      for (size_t c0 = 0; c0 < nr; c0 += 32) {  // a last panel's padding block is skipped
        (mr <= 16 ? amx->block16 : amx->block)(kblocks, ap, width, wp + 4 * c0, tile);
        epilogue(tile, mr, 32, std::min<size_t>(32, nr - c0), static_cast<size_t>(n0) + c0, out.ep,
                 static_cast<uint8_t*>(c) + (r0 * ldc + n0 + static_cast<int64_t>(c0)) *
                                                static_cast<int64_t>(out.out_bytes),
                 static_cast<size_t>(ldc));
      }
    }
  }
  amx->end();
  return true;
}

namespace internal {

QGemmView QGemmAccess::view(const QGemm& gemm) {
  QGemmView v;
  if (!gemm.impl_) return v;
  const QGemm::Impl& g = *gemm.impl_;
  const GemmKernels* table = gemm_kernels_for(g.isa);
  v.cfg = g.cfg;
  v.exact = table != nullptr && g.cfg != &table->maddubs;
  v.isa = g.cfg_isa;  // the AMX kernel is QGemm's own
  v.a_shift = g.a_shift;
  v.n = g.n;
  v.k_pad = g.k_pad;
  v.w = g.w.get();
  v.out = &g.out;
  return v;
}

Status QGemmAccess::run(const QGemm& gemm, const void* a, int64_t m, int64_t lda, void* c, int64_t ldc,
                        const ParallelFor& pf, size_t* tasks) {
  *tasks = 0;
  if (!gemm.impl_) return invalid("gemm: not created (QGemm::create did not succeed)");
  const QGemm::Impl& g = *gemm.impl_;
  bool empty = false;
  Status s = check_run(m, {"a", "lda", a, lda, g.k, 1},
                       {"c", "ldc", c, ldc, g.n, static_cast<int64_t>(g.out.out_bytes)}, &empty);
  if (!s.ok() || empty) return s;

  // Tasks: row blocks of MC rows (an A block of ~kABlockBytes, whole MR
  // panels, within the workspace) times ranges of weight panels (a GEMV is
  // all panels; run_grid splits N for a pool).
  const GemmConfig& cf = *g.cfg;
  const bool amx = g.runs_amx(m);
  const int64_t mr = amx ? kGemmAmxMR : cf.mr, max_row_panels = amx ? g.amx_max_row_panels : g.max_row_panels;
  // Blocks of equal height (64 rows in 60-row blocks run as 36 + 28, not 60 + 4,
  // whose second block re-reads every weight for 4 rows).
  const int64_t m_panels = (m + mr - 1) / mr;
  int64_t mc = m_panels * mr;  // one block
  if (m_panels > max_row_panels) {
    const int64_t mc_max = max_row_panels * mr;
    const int64_t m_blocks = (m + mc_max - 1) / mc_max;
    mc = round_up((m + m_blocks - 1) / m_blocks, mr);
  }
  if (thread_workspace() == nullptr) return workspace_error();
  const bool ran = run_grid(
      pf, m, mc, g.n_pad / cf.nr,
      [&](int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
        return amx ? g.run_task_amx(a, lda, m0, m1, p0, p1, c, ldc) : g.run_task(a, lda, m0, m1, p0, p1, c, ldc);
      },
      tasks, g.chunk_panels, amx ? kAmxMinTaskPanels : 1);
  if (!ran) return workspace_error();  // another thread's workspace
  return Status();
}

}  // namespace internal

Status QGemm::run(const void* a, int64_t m, int64_t lda, void* c, int64_t ldc,
                  const ParallelFor& pf) const {
  internal::VerboseScope verbose("exec", "qgemm");
  size_t tasks = 0;
  const Status s = internal::QGemmAccess::run(*this, a, m, lda, c, ldc, pf, &tasks);
  if (s.ok() && tasks > 0 && verbose.active()) {
    const Impl& g = *impl_;
    verbose.record(g.isa, g.kernel,
                   "m" + std::to_string(m) + "n" + std::to_string(g.n) + "k" + std::to_string(g.k) +
                       " tasks:" + std::to_string(tasks) +
                       (g.amx != nullptr ? (g.runs_amx(m) ? " ran:amx" : " ran:avx512_vnni") : ""));
  }
  return s;
}

}  // namespace qkern
