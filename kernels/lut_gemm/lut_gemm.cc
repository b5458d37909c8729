// kernels/lut_gemm/lut_gemm.cc: the lookup GEMM front end (LutGemm) and driver.
//
// create(): validate, pick the config of the active ISA (lut_kernels.h),
// repack the caller's index rows into NR-column panels of BB-byte blocks,
// build one decode table per column (the int8 codebook of quantized
// activations, or the float one), and for quantized activations fold the zero
// point and shift into a packed bias with the int8 GEMM's output plan.
//
// run(): tasks are (row block) x (range of panels), as QGemm's. A task packs
// its rows of X into the thread's workspace as label planes (lut_kernels.h),
// then sweeps chunks of panels small enough to stay in L2: for each MR-row
// group, each panel of the chunk runs the microkernel over the whole K and
// the output is written (the int8 GEMM's epilogue, or + bias_f for floats).
// Every output element is one microkernel call over the whole K, so results
// do not depend on the task split or the thread count.
#include <algorithm>
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
#include "kernels/lut_gemm/lut_kernels.h"
#if QKERN_HAVE_JIT
#include "jit/lut_jit.h"
#endif
#include "qkern/codebook.hpp"
#include "qkern/lut_gemm.hpp"
#include "reference/gemm_ref.h"
#include "reference/lut_gemm_ref.h"

namespace qkern {
namespace internal {
namespace {

const Registry<LutConfig>& registry() {
  static const Registry<LutConfig> r(lut_kernels_scalar(), lut_kernels_avx2(), lut_kernels_avx512(),
                                     lut_kernels_avx512_vnni(), lut_kernels_neon(),
                                     lut_kernels_neon_dotprod());
  return r;
}

// X rows of one task aim at this many bytes (in L2 beside a chunk of panels).
constexpr int64_t kXBlockBytes = 256 << 10;
// A chunk of weight panels swept by every row group of a task.
constexpr int64_t kPanelChunkBytes = 64 << 10;

// The decode-to-panel path (quantized activations, M >= the config's
// panel_min_m): its per-thread workspace holds the packed rows of A of one
// task and one decoded weight panel.
constexpr int64_t kPanelABytes = 4 << 20;  // 256 rows of K = 8192: each panel decoded once
constexpr int64_t kPanelWBytes = 256 << 10;
static_assert(kLutGemmPanelWorkspaceBytes == kPanelABytes + kPanelWBytes, "the public constant");

uint8_t* panel_workspace() {
  thread_local Buffer<uint8_t> ws = alloc_zeroed<uint8_t>(kLutGemmPanelWorkspaceBytes);
  return ws.get();
}

int log2_of(int64_t v) {
  int l = 0;
  while ((int64_t{1} << l) < v) ++l;
  return l;
}

}  // namespace
}  // namespace internal

using internal::Buffer;
using internal::LutConfig;
using internal::invalid;
using internal::out_of_range;

struct LutGemm::Impl {
  int64_t n = 0, k = 0, n_pad = 0, k_pad = 0;
  int bits = 4, per_byte = 2;
  int64_t kb = 0;  // k per block
  LutActivation act = LutActivation::kFp32;
  int a_shift = 0;
  size_t a_elem = 4;  // bytes per packed X element
  Isa isa = Isa::kScalar;
  std::string kernel;
  std::string kernel_fused, kernel_panel;  // the names of the two paths, for QKERN_VERBOSE runs
  std::vector<float> codebook_scales;     // quantized activations: s per codebook
  const LutConfig* cfg = nullptr;
  internal::LutUkernelI8 const* ukernel_i8 = nullptr;    // [rows - 1]
  internal::LutUkernelF32 const* ukernel_f32 = nullptr;  // [rows - 1]
  internal::GemmEpilogueFn epilogue = nullptr;
  internal::GemmOutputPlan out;  // quantized activations
  int64_t table_stride = 16;     // elements per column table
  bool byte_planes = false;      // fp32 tables and X in the byte-plane layout
  Buffer<uint8_t> idx;
  Buffer<int8_t> tables_i8;
  Buffer<float> tables_f32, bias_f;
  size_t out_bytes = 4;
  size_t packed_bytes = 0;
  // The decode-to-panel path: the int8 GEMM's exact config of the same ISA.
  const internal::GemmConfig* gcfg = nullptr;
  int64_t gk_pad = 0;
  // JIT kernels replacing the fused (ukernel, epilogue) pairs of quantized
  // activations, each over a group of panels (use_jit; else the AOT pairs run).
  internal::LutJitFns jit_fns;
  bool use_jit = false;
#if QKERN_HAVE_JIT
  std::vector<std::shared_ptr<const jit::Kernel>> jit_kernels;
  // Generates (or finds in the cache) every kernel run() may call; false and
  // *why when one cannot be had (then none is used).
  bool prepare_jit(bool shared_table, std::string* why);
#endif
  // Panels per grid column unit: the JIT's widest group (tasks and chunks
  // start at multiples of every group), else 1.
  int64_t panel_unit() const { return use_jit ? jit_fns.group[0] : 1; }

  void decode_panel(int64_t jg, int8_t* panel) const;
  // run_panels and run_task: false when the thread's workspace cannot be allocated (nothing written).
  bool run_panels(const void* x, int64_t ldx, int64_t m0, int64_t m1, int64_t p0, int64_t p1, void* y,
                  int64_t ldy) const;

  // The JIT's madd kernels read each packed X row's sum (int32) after its K_pad elements.
  bool x_row_sums = false;
  int64_t a_stride() const {
    return internal::round_up(k_pad * static_cast<int64_t>(a_elem) + (x_row_sums ? 4 : 0), 64);
  }
  void pack_x(const void* x, int64_t ldx, int64_t rows, uint8_t* out) const;
  bool run_task(const void* x, int64_t ldx, int64_t m0, int64_t m1, int64_t p0, int64_t p1, void* y,
                int64_t ldy) const;
};

LutGemm::LutGemm() = default;
LutGemm::~LutGemm() = default;
LutGemm::LutGemm(LutGemm&&) noexcept = default;
LutGemm& LutGemm::operator=(LutGemm&&) noexcept = default;
bool LutGemm::valid() const { return impl_ != nullptr; }
int64_t LutGemm::n() const { return impl_ ? impl_->n : 0; }
int64_t LutGemm::k() const { return impl_ ? impl_->k : 0; }
int LutGemm::bits() const { return impl_ ? impl_->bits : 0; }
Isa LutGemm::isa() const { return impl_ ? impl_->isa : Isa::kScalar; }
const std::string& LutGemm::kernel() const {
  static const std::string none;
  return impl_ ? impl_->kernel : none;
}
size_t LutGemm::packed_bytes() const { return impl_ ? impl_->packed_bytes : 0; }
const float* LutGemm::codebook_scales() const {
  return impl_ && !impl_->codebook_scales.empty() ? impl_->codebook_scales.data() : nullptr;
}

Status quantize_codebook_int8(const float* codebook, int count, int8_t* q, float* scale) {
  if (codebook == nullptr) return invalid("codebook: null");
  if (q == nullptr) return invalid("q: null");
  if (scale == nullptr) return invalid("scale: null");
  if (count < 1 || count > 256) {
    return out_of_range("count: must be in [1, 256] (got " + std::to_string(count) + ")");
  }
  for (int i = 0; i < count; ++i) {
    if (!std::isfinite(codebook[i])) {
      return out_of_range(internal::indexed("codebook", i) + ": must be finite (got " +
                          internal::str(codebook[i]) + ")");
    }
  }
  ref::quantize_codebook_int8(codebook, count, q, scale);
  return Status();
}

namespace {

Status validate(const LutGemmParams& p) {
  if (p.n < 1) return invalid("n: must be >= 1 (got " + std::to_string(p.n) + ")");
  if (p.k < 1 || p.k > kLutGemmMaxK) {
    return out_of_range("k: must be in [1, " + std::to_string(kLutGemmMaxK) + "] (got " +
                        std::to_string(p.k) + ")");
  }
  if (p.bits != 2 && p.bits != 4) {
    return invalid("bits: the lookup GEMM takes 2- or 4-bit indices (got " + std::to_string(p.bits) + ")");
  }
  if (p.activation != LutActivation::kFp32 && p.activation != LutActivation::kU8 &&
      p.activation != LutActivation::kS8) {
    return invalid("activation: unknown value");
  }
  if (p.output != GemmOutput::kRequantized && p.output != GemmOutput::kInt32 &&
      p.output != GemmOutput::kFloat) {
    return invalid("output: unknown value");
  }
  if (p.activation == LutActivation::kFp32) {
    if (p.output != GemmOutput::kFloat) {
      return invalid("output: fp32 activations give float outputs only (kFloat)");
    }
    if (p.bias != nullptr) return invalid("bias: the int32 bias is for quantized activations; use bias_f");
    if (p.activation_7bit) return invalid("activation_7bit: only for u8 activations");
  }
  if (p.indices == nullptr) return invalid("indices: null");
  const int64_t row = packed_row_bytes(p.k, p.bits);
  if (p.ld_indices != 0 && p.ld_indices < row) {
    return out_of_range("ld_indices: must be 0 (dense) or >= " + std::to_string(row) + " (got " +
                        std::to_string(p.ld_indices) + ")");
  }
  const int64_t ld = p.ld_indices ? p.ld_indices : row;
  if (ld > (std::numeric_limits<int64_t>::max() - row) / p.n) {
    return Status(StatusCode::kOverflow, "ld_indices: n * ld_indices overflows");
  }
  const int64_t need = (p.n - 1) * ld + row;
  if (p.indices_size < need) {
    return out_of_range("indices_size: " + std::to_string(p.n) + " rows of " + std::to_string(p.k) +
                        " " + std::to_string(p.bits) + "-bit indices need " + std::to_string(need) +
                        " bytes (got " + std::to_string(p.indices_size) + ")");
  }
  if (p.codebook == nullptr) return invalid("codebook: null");
  const int64_t entries = int64_t{1} << p.bits;
  const int64_t books = p.codebook_per_row ? p.n : 1;
  if (p.codebook_size != books * entries) {
    return invalid("codebook_size: expected " + std::to_string(books * entries) + " floats (" +
                   std::to_string(entries) + (p.codebook_per_row ? " per row" : " per tensor") +
                   "), got " + std::to_string(p.codebook_size));
  }
  for (int64_t i = 0; i < books * entries; ++i) {
    if (!std::isfinite(p.codebook[i])) {
      return out_of_range(internal::indexed("codebook", i) + ": must be finite (got " +
                          internal::str(p.codebook[i]) + ")");
    }
  }
  return Status();
}

}  // namespace

Status LutGemm::create(const LutGemmParams& p, LutGemm* gemm) {
  // An allocation that throws (a std::vector, make_unique) is kOutOfMemory: no
  // exception leaves the API.
  return internal::no_throw("lut_gemm create", [&]() -> Status {
  internal::VerboseScope verbose("create", "lut_gemm");
  if (gemm == nullptr) return invalid("gemm: null");
  Status s = validate(p);
  if (!s.ok()) return s;

  const int entries = 1 << p.bits;
  const int64_t books = p.codebook_per_row ? p.n : 1;
  const bool quantized = p.activation != LutActivation::kFp32;
  std::vector<int8_t> cq;
  std::vector<float> scales;
  QGemmParams qp;
  if (quantized) {
    cq.resize(static_cast<size_t>(books * entries));
    scales.resize(static_cast<size_t>(books));
    for (int64_t b = 0; b < books; ++b) {
      ref::quantize_codebook_int8(p.codebook + b * entries, entries, cq.data() + b * entries, &scales[b]);
    }
    // The output is the int8 GEMM's: the same checks, on the same field names.
    qp.n = p.n;
    qp.k = p.k;
    qp.activation_signed = p.activation == LutActivation::kS8;
    qp.activation_zero_point = p.activation_zero_point;
    qp.activation_scale = p.activation_scale;
    qp.activation_7bit = p.activation_7bit;
    qp.weights = reinterpret_cast<const int8_t*>(p.indices);  // checked non-null above, never read
    qp.weight_scale = scales.data();
    qp.weight_scale_per_channel = p.codebook_per_row;
    ref::copy_gemm_output(p, &qp);
    if (!(s = internal::validate_gemm(qp)).ok()) return s;
  }

  auto impl = std::make_unique<Impl>();
  Impl& g = *impl;
  const auto sel = internal::registry().select(active_isa());
  const LutConfig& cfg = *sel.kernels;
  g.cfg = &cfg;
  g.isa = sel.isa;
  g.n = p.n;
  g.k = p.k;
  g.bits = p.bits;
  g.per_byte = 8 / p.bits;
  g.act = p.activation;
  g.kb = int64_t{cfg.bb} * g.per_byte;
  g.n_pad = internal::round_up(p.n, cfg.nr);
  g.k_pad = internal::round_up(p.k, g.kb);
  const int b4 = p.bits == 4 ? 1 : 0;
  const char* method = quantized ? cfg.method : "fma";
  if (quantized && p.activation_7bit && cfg.i8_7bit[b4][0] != nullptr) {
    g.a_shift = 0;
    g.a_elem = 1;
    g.ukernel_i8 = cfg.i8_7bit[b4];
    method = "maddubs";
  } else if (quantized) {
    g.a_shift = p.activation == LutActivation::kS8 ? cfg.shift_s8 : cfg.shift_u8;
    g.a_elem = cfg.a_int16 ? 2 : 1;
    g.ukernel_i8 = cfg.i8[b4];
  } else {
    g.a_elem = 4;
    g.ukernel_f32 = cfg.f32[b4];
  }
  if (g.a_stride() > static_cast<int64_t>(kQGemmWorkspaceBytes)) {
    return Status(StatusCode::kInternal, "k: one packed row of X exceeds the workspace");
  }

  // Indices: panel j = [K_pad / KB][NR][BB] bytes, each column's block a slice of its row.
  const int64_t row = packed_row_bytes(p.k, p.bits);
  const int64_t ld = p.ld_indices ? p.ld_indices : row;
  const int64_t blocks = g.k_pad / g.kb;
  const int64_t idx_bytes = g.n_pad * blocks * cfg.bb;
  g.idx = internal::alloc_zeroed<uint8_t>(static_cast<size_t>(idx_bytes));
  // Per-channel arrays are read as whole vectors past the last panel's columns.
  const int64_t n_arrays = g.n_pad + 64;
  if (!g.idx) return Status(StatusCode::kOutOfMemory, "indices: cannot allocate the packed copy");
  std::vector<uint8_t> row_copy(static_cast<size_t>(blocks * cfg.bb));
  for (int64_t n = 0; n < p.n; ++n) {
    std::memcpy(row_copy.data(), p.indices + n * ld, static_cast<size_t>(row));
    if (p.k % g.per_byte) {  // labels past K in the last byte read 0
      row_copy[static_cast<size_t>(row - 1)] &= static_cast<uint8_t>((1u << (p.k % g.per_byte * p.bits)) - 1);
    }
    const int64_t j = n / cfg.nr, c = n % cfg.nr;
    for (int64_t b = 0; b < blocks; ++b) {
      std::memcpy(g.idx.get() + ((j * blocks + b) * cfg.nr + c) * cfg.bb, row_copy.data() + b * cfg.bb,
                  static_cast<size_t>(cfg.bb));
    }
    std::fill(row_copy.begin(), row_copy.end(), 0);
  }

  if (quantized) {
    g.tables_i8 = internal::alloc_zeroed<int8_t>(static_cast<size_t>(g.n_pad * 16));
    if (!g.tables_i8) return Status(StatusCode::kOutOfMemory, "codebook: cannot allocate the tables");
    std::vector<int64_t> wsum(static_cast<size_t>(p.n));
    const int64_t round_up_labels = row * g.per_byte;
    const int used_bits = static_cast<int>(p.k % g.per_byte) * p.bits;
    auto last_mask_byte = [used_bits](uint8_t b) {
      return used_bits ? static_cast<uint8_t>(b & ((1u << used_bits) - 1)) : b;
    };
    for (int64_t n = 0; n < p.n; ++n) {
      const int8_t* c = cq.data() + (p.codebook_per_row ? n * entries : 0);
      std::memcpy(g.tables_i8.get() + n * 16, c, static_cast<size_t>(entries));
      // Labels past K are 0 in the repacked copy: subtract what they add.
      int64_t sum = -static_cast<int64_t>(c[0]) * (round_up_labels - p.k);
      const uint8_t* bytes = p.indices + n * ld;
      for (int64_t q = 0; q < row; ++q) {
        uint8_t v = q == row - 1 ? last_mask_byte(bytes[q]) : bytes[q];
        for (int i = 0; i < g.per_byte; ++i, v = static_cast<uint8_t>(v >> p.bits)) sum += c[v & (entries - 1)];
      }
      wsum[n] = sum;
    }
    if (!(s = internal::plan_gemm_output(qp, n_arrays, wsum.data(), g.a_shift, &g.out, "codebook_scale")).ok()) return s;
    // Many rows: decode a weight panel once and run the int8 GEMM's
    // microkernel on it (same shift, so the same packed bias).
    const internal::GemmKernels& gk = *internal::gemm_kernels_for(g.isa);
    g.epilogue = gk.epilogue;
    const internal::GemmConfig& gc = p.activation_7bit && gk.maddubs.name ? gk.maddubs : gk.exact;
    const int gshift = p.activation == LutActivation::kS8 ? gc.shift_s8 : gc.shift_u8;
    const int64_t gk_pad = internal::round_up(p.k, gc.kr);
    if (cfg.panel_min_m > 0 && gshift == g.a_shift && gk_pad * gc.nr <= internal::kPanelWBytes &&
        gk_pad * gc.mr * (gc.a_int16 ? 2 : 1) <= internal::kPanelABytes) {
      g.gcfg = &gc;
      g.gk_pad = gk_pad;
    }
    g.out_bytes = g.out.out_bytes;
    g.table_stride = 16;
  } else {
    g.byte_planes = cfg.f32_byte_planes && p.bits == 4;
    g.table_stride = g.byte_planes ? 16 : p.bits == 4 ? cfg.f32_table : cfg.f32_table2;
    g.tables_f32 = internal::alloc_zeroed<float>(static_cast<size_t>(g.n_pad * g.table_stride));
    g.bias_f = internal::alloc_zeroed<float>(static_cast<size_t>(n_arrays));
    if (!g.tables_f32 || !g.bias_f) return Status(StatusCode::kOutOfMemory, "codebook: cannot allocate the tables");
    for (int64_t n = 0; n < p.n; ++n) {
      const float* c = p.codebook + (p.codebook_per_row ? n * entries : 0);
      float* t = g.tables_f32.get() + n * g.table_stride;
      if (g.byte_planes) {
        uint8_t* bytes = reinterpret_cast<uint8_t*>(t);
        for (int e = 0; e < entries; ++e) {
          uint8_t f[4];
          std::memcpy(f, &c[e], 4);
          for (int j = 0; j < 4; ++j) bytes[16 * j + e] = f[j];
        }
      } else {
        for (int64_t i = 0; i < g.table_stride; ++i) t[i] = c[i % entries];
      }
      g.bias_f[n] = p.bias_f ? p.bias_f[n] : 0.0f;
    }
    g.out_bytes = 4;
  }

  const char* act = quantized ? internal::type_name(p.activation == LutActivation::kS8) : "f32";
  const std::string out = quantized ? g.out.name : "f32";
  const std::string stem = "lut_gemm_" + std::to_string(p.bits) + "bit_" + act + "_" + out + "_";
  const std::string suffix = std::string("__") + isa_name(g.isa);
  g.kernel_fused = stem + cfg.name + method + suffix;
  g.kernel_panel = g.gcfg ? stem + g.gcfg->name + suffix : g.kernel_fused;
#if QKERN_HAVE_JIT
  // The JIT first (x86) for the fused kernels of quantized activations: K,
  // the rows and columns of a call, the table layout and the epilogue baked.
  // The 7-bit vpmaddubsw kernels and fixed-point outputs stay AOT; a
  // generator failure falls back with a verbose line.
  if (jit::enabled() && quantized && method != std::string("maddubs")) {
    std::string why;
    if (g.prepare_jit(!p.codebook_per_row, &why)) {
      g.kernel_fused = stem + cfg.name + method + "_jit" + suffix;
      if (!g.gcfg) g.kernel_panel = g.kernel_fused;
    } else if (verbose.active() && why.find("fixed-point") == std::string::npos &&
               why.find("no lookup-GEMM generator") == std::string::npos) {
      verbose.record(g.isa, g.kernel_fused, "jit_fallback:" + why);
    }
  }
#endif
  g.kernel = stem + cfg.name + method + (g.use_jit ? "_jit" : "") +
             (g.gcfg ? std::string("+") + g.gcfg->name : std::string()) + suffix;
  g.codebook_scales = std::move(scales);
  g.packed_bytes = static_cast<size_t>(idx_bytes) +
                   (quantized ? static_cast<size_t>(g.n_pad * 16 + n_arrays * 4 * g.out.arrays)
                              : static_cast<size_t>((g.n_pad * g.table_stride + n_arrays) * 4));
  if (verbose.active()) {
    verbose.record(g.isa, g.kernel,
                   "n" + std::to_string(p.n) + "k" + std::to_string(p.k) + " packed_bytes:" +
                       std::to_string(g.packed_bytes));
  }
  gemm->impl_ = std::move(impl);
  return Status();
});
}

#if QKERN_HAVE_JIT
bool LutGemm::Impl::prepare_jit(bool shared_table, std::string* why) {
  const int max_rows = std::min(cfg->mr, jit::lut_jit_max_rows(isa));
  if (max_rows < cfg->mr) {
    *why = "the config's rows exceed the generator's";
    return false;
  }
  x_row_sums = cfg->a_int16;  // the madd kernels' row sums (a_stride() grows by them)
  if (a_stride() > static_cast<int64_t>(kQGemmWorkspaceBytes)) {
    x_row_sums = false;
    *why = "k: one packed row of X and its sum exceed the workspace";
    return false;
  }
  jit::LutJitConf conf;
  conf.isa = isa;
  conf.bits = bits;
  conf.dot = !cfg->a_int16;
  conf.bb = cfg->bb;
  conf.blocks = static_cast<uint32_t>(k_pad / kb);
  conf.a_stride = a_stride();
  conf.shared_table = shared_table;
  // Indices beyond the L2 stream once per row group; within it prefetches
  // are only issue slots. How far ahead depends on how fast the kernel
  // consumes them (Zen 5, M = 1, variants interleaved in one process): the
  // avx2 madd kernel, slower than the DRAM, gains from 4 KiB ahead (the AOT
  // kernels' distance; from DRAM 0.68x of the DRAM read, 0.60x without). The
  // vpdpbusd kernels, faster, lose to it. From DRAM (512 MiB rotated), 4-bit:
  // 0.69-0.78x with 4 KiB, 0.87-1.02x with 512 B or none; 2-bit: 0.69-0.71x,
  // 0.80-0.87x with 512 B, 0.84-0.89x with none. From the L3, 4-bit
  // (4096, 11008) runs 3-9% faster with 512 B than with 4 KiB, and 2-bit
  // (4096, 4096) 5-7% faster with none.
  if (n_pad * (k_pad / per_byte) > (int64_t{512} << 10)) {
    conf.prefetch_bytes = !conf.dot ? 4096 : bits == 4 ? 512 : 0;
  }
  // A call's panels are separate streams of panel_bytes each: up to 4 KiB of
  // them together (Zen 5, avx512_vnni GEMV, JIT / AOT: K = 768 with 4
  // panels of 1.5 KiB 1.7-1.8x; K = 4096 with 4 of 8 KiB 0.8-0.9x, 2 of 8 KiB
  // 1.0-1.02x, one 1.04-1.13x).
  const int64_t panel_bytes = k_pad / kb * cfg->nr * cfg->bb;
  int max_panels = 1;
  while (max_panels < 4 && 2 * max_panels * panel_bytes <= (int64_t{4} << 10)) max_panels *= 2;
  conf.ep = jit::epilogue_conf(out.ep, n);  // a per-tensor codebook scale: one multiplier, baked
  if (!jit::lut_jit_kernel_set(conf, max_rows, max_panels, n, &jit_kernels, &jit_fns, why)) {
    x_row_sums = false;
    return false;
  }
  use_jit = true;
  return true;
}
#endif

namespace {
// X rows -> label planes: element (b, t, i) of a row = X[b*KB + P*i + t]; k >= K is 0.
// int16 planes store lane i = 16q + r at (r / 8) * BB/2 + 8q + r % 8, and
// fp32 planes for byte-plane kernels at (r / 4) * BB/4 + 4q + r % 4 (lut_kernels.h).
template <typename TDst, typename TSrc, typename Conv>
void pack_planes(const TSrc* x, int64_t ldx, int64_t rows, int64_t k, int64_t k_pad, int log_p, int log_bb,
                 int64_t stride_elems, bool planes_f32, Conv conv, TDst* out) {
  const int64_t kb_mask = (int64_t{1} << (log_p + log_bb)) - 1, p_mask = (int64_t{1} << log_p) - 1;
  const int64_t half = int64_t{1} << (log_bb - 1);
  const int64_t quarter = half >> 1;
  auto lane = [half, quarter, planes_f32](int64_t i) {
    if (sizeof(TDst) == 2) return ((i & 15) >> 3) * half + ((i >> 4) << 3) + (i & 7);
    if (sizeof(TDst) == 4 && planes_f32) return ((i & 15) >> 2) * quarter + ((i >> 4) << 2) + (i & 3);
    return i;
  };
  const int64_t tail = k & ~kb_mask;  // the last (partial) block starts here
  for (int64_t r = 0; r < rows; ++r) {
    const TSrc* src = x + r * ldx;
    TDst* d = out + r * stride_elems;
    if (tail < k_pad) std::memset(d + tail, 0, static_cast<size_t>(k_pad - tail) * sizeof(TDst));
    for (int64_t kk = 0; kk < k; ++kk) {
      const int64_t rem = kk & kb_mask;
      d[(kk & ~kb_mask) + ((rem & p_mask) << log_bb) + lane(rem >> log_p)] = conv(src[kk]);
    }
  }
}
}  // namespace

void LutGemm::Impl::pack_x(const void* x, int64_t ldx, int64_t rows, uint8_t* out) const {
  const int log_p = internal::log2_of(per_byte), log_bb = internal::log2_of(cfg->bb);
  const int64_t stride = a_stride() / static_cast<int64_t>(a_elem);
  if (act == LutActivation::kFp32) {
    pack_planes(static_cast<const float*>(x), ldx, rows, k, k_pad, log_p, log_bb, stride, byte_planes,
                [](float v) { return v; }, reinterpret_cast<float*>(out));
  } else if (a_elem == 2) {
    // Whole blocks through the config's vector packer, the partial one here.
    int16_t* dst = reinterpret_cast<int16_t*>(out);
    const bool is_signed = act == LutActivation::kS8;
    const int64_t whole = cfg->pack_int16 ? k / kb * kb : 0;
    for (int64_t r = 0; whole > 0 && r < rows; ++r) {
      cfg->pack_int16(static_cast<const uint8_t*>(x) + r * ldx, static_cast<size_t>(whole / kb), bits, is_signed,
                      dst + r * stride);
    }
    if (is_signed) {
      pack_planes(static_cast<const int8_t*>(x) + whole, ldx, rows, k - whole, k_pad - whole, log_p, log_bb, stride,
                  byte_planes, [](int8_t v) { return static_cast<int16_t>(v); }, dst + whole);
    } else {
      pack_planes(static_cast<const uint8_t*>(x) + whole, ldx, rows, k - whole, k_pad - whole, log_p, log_bb, stride,
                  byte_planes, [](uint8_t v) { return static_cast<int16_t>(v); }, dst + whole);
    }
    if (x_row_sums) {  // after each row's K_pad elements (the JIT's madd kernels)
      for (int64_t r = 0; r < rows; ++r) {
        int32_t sum = 0;
        if (is_signed) {
          const int8_t* src = static_cast<const int8_t*>(x) + r * ldx;
          for (int64_t kk = 0; kk < k; ++kk) sum += src[kk];
        } else {
          const uint8_t* src = static_cast<const uint8_t*>(x) + r * ldx;
          for (int64_t kk = 0; kk < k; ++kk) sum += src[kk];
        }
        std::memcpy(out + r * a_stride() + k_pad * 2, &sum, sizeof sum);
      }
    }
  } else {
    // The shift is +-128 or 0: on bytes it is an xor with 0x80. Whole
    // blocks through the config's vector packer, the partial one here.
    const uint8_t flip = a_shift ? 0x80 : 0;
    const uint8_t* src = static_cast<const uint8_t*>(x);
    const int64_t whole = cfg->pack_bytes ? k / kb * kb : 0;
    for (int64_t r = 0; whole > 0 && r < rows; ++r) {
      cfg->pack_bytes(src + r * ldx, static_cast<size_t>(whole / kb), bits, flip, out + r * stride);
    }
    pack_planes(src + whole, ldx, rows, k - whole, k_pad - whole, log_p, log_bb, stride, byte_planes,
                [flip](uint8_t v) { return static_cast<uint8_t>(v ^ flip); }, out + whole);
  }
}

bool LutGemm::Impl::run_task(const void* x, int64_t ldx, int64_t m0, int64_t m1, int64_t p0, int64_t p1,
                             void* y, int64_t ldy) const {
  const LutConfig& cf = *cfg;
  const int64_t stride = a_stride();
  uint8_t* ws = internal::thread_workspace();
  if (ws == nullptr) return false;
  const int64_t x_elem = act == LutActivation::kFp32 ? 4 : 1;
  pack_x(static_cast<const uint8_t*>(x) + m0 * ldx * x_elem, ldx, m1 - m0, ws);
  const size_t blocks = static_cast<size_t>(k_pad / kb);
  const int64_t panel_bytes = k_pad / kb * cf.nr * cf.bb;
  const int64_t chunk = std::max<int64_t>(1, internal::kPanelChunkBytes / panel_bytes);
  alignas(64) int32_t tile[internal::kLutMaxMR * 64];
  if (use_jit) {
    // Groups of panels per call; chunks of whole groups of every rows count.
    const int64_t unit = panel_unit(), jchunk = internal::round_up(chunk, unit);
    for (int64_t q0 = p0; q0 < p1; q0 += jchunk) {
      const int64_t q1 = std::min(p1, q0 + jchunk);
      for (int64_t r0 = m0; r0 < m1; r0 += cf.mr) {
        const int64_t rows = std::min<int64_t>(cf.mr, m1 - r0);
        const int64_t group = jit_fns.group[rows - 1];
        const uint8_t* xp = ws + (r0 - m0) * stride;
        for (int64_t j = q0; j < q1; j += group) {
          const int64_t n0 = j * cf.nr;
          const bool tail = n0 + group * cf.nr > n;  // the group holding column N - 1, partial
          uint8_t* yp = static_cast<uint8_t*>(y) + (r0 * ldy + n0) * static_cast<int64_t>(out_bytes);
          jit_fns.fn[tail ? 1 : 0][rows - 1](xp, idx.get() + j * panel_bytes, yp, static_cast<size_t>(ldy), &out.ep,
                                             static_cast<size_t>(n0), tables_i8.get() + n0 * 16);
        }
      }
    }
    return true;
  }
  for (int64_t q0 = p0; q0 < p1; q0 += chunk) {
    const int64_t q1 = std::min(p1, q0 + chunk);
    for (int64_t r0 = m0; r0 < m1; r0 += cf.mr) {
      const int64_t rows = std::min<int64_t>(cf.mr, m1 - r0);
      const uint8_t* xp = ws + (r0 - m0) * stride;
      for (int64_t j = q0; j < q1; ++j) {
        const int64_t n0 = j * cf.nr;
        const size_t nr = static_cast<size_t>(std::min<int64_t>(cf.nr, n - n0));
        const uint8_t* ip = idx.get() + j * panel_bytes;
        uint8_t* yp = static_cast<uint8_t*>(y) + (r0 * ldy + n0) * static_cast<int64_t>(out_bytes);
        if (act == LutActivation::kFp32) {
          float* ftile = reinterpret_cast<float*>(tile);
          ukernel_f32[rows - 1](blocks, xp, static_cast<size_t>(stride), ip,
                                tables_f32.get() + n0 * table_stride, ftile);
          for (int64_t r = 0; r < rows; ++r) {
            float* yr = reinterpret_cast<float*>(yp) + r * ldy;
            for (size_t c = 0; c < nr; ++c) yr[c] = ftile[r * cf.nr + c] + bias_f[n0 + c];
          }
        } else {
          ukernel_i8[rows - 1](blocks, xp, static_cast<size_t>(stride), ip, tables_i8.get() + n0 * 16, tile);
          epilogue(tile, static_cast<size_t>(rows), static_cast<size_t>(cf.nr), nr, static_cast<size_t>(n0),
                   out.ep, yp, static_cast<size_t>(ldy));
        }
      }
    }
  }
  return true;
}

// GEMM panel jg of the int8 weights: [K_pad_g / KR][NR][KR]. Each packed
// byte holds whole K pairs (4-bit: one pair, 2-bit: two), whose weights come
// from the column's 16-entry table and are stored straight into the panel;
// weights past K are then zeroed. The panel is written one block of packed
// bytes (BB bytes of every column) at a time: a block's stores span
// BB * labels-per-byte / KR groups of NR * KR bytes (8 KiB for the 6x64c4
// panel), which stay in L1. Column by column over the whole K, every store
// missed L1 (a 256 KiB panel swept 64 times): 0.9 ns per weight, half of a
// VNNI M = 256 run.
void LutGemm::Impl::decode_panel(int64_t jg, int8_t* panel) const {
  const internal::GemmConfig& gc = *gcfg;
  const int64_t nr = gc.nr, kr = gc.kr, bb = cfg->bb, lnr = cfg->nr;
  const int64_t blocks = k_pad / kb, row_bytes = (k + per_byte - 1) / per_byte;
  const int64_t groups = gk_pad / kr;  // KR-weight groups of a panel column
  if ((jg + 1) * nr > n) std::memset(panel, 0, static_cast<size_t>(gk_pad * nr));
  const int64_t cols = std::min(nr, n - jg * nr);
  for (int64_t q0 = 0, blk = 0; q0 < row_bytes; q0 += bb, ++blk) {
    const int64_t len = std::min(bb, row_bytes - q0);
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t n_col = jg * nr + c;
      const int8_t* t = tables_i8.get() + n_col * 16;
      uint32_t u[16];  // the column's weights as bytes
      for (int e = 0; e < 16; ++e) u[e] = static_cast<uint8_t>(t[e]);
      const uint8_t* src = idx.get() + ((n_col / lnr) * blocks + blk) * lnr * bb + (n_col % lnr) * bb;
      int8_t* dst = panel + c * kr;
      for (int64_t i = 0; i < len; ++i) {
        const int64_t q = q0 + i;
        const uint32_t v = src[i];
        if (bits == 4) {
          const uint32_t w = u[v & 15] | u[v >> 4] << 8;  // weights k = 2q, 2q + 1
          if (kr == 2) {
            std::memcpy(dst + q * 2 * nr, &w, 2);
          } else {  // KR 4: one half group per byte
            std::memcpy(dst + (q / 2) * 4 * nr + (q % 2) * 2, &w, 2);
          }
        } else {
          const uint32_t w = u[v & 3] | u[(v >> 2) & 3] << 8 | u[(v >> 4) & 3] << 16 | u[v >> 6] << 24;
          if (kr == 2) {  // two pairs
            std::memcpy(dst + 2 * q * 2 * nr, &w, 2);
            if (2 * q + 1 < groups) std::memcpy(dst + (2 * q + 1) * 2 * nr, reinterpret_cast<const uint8_t*>(&w) + 2, 2);
          } else {  // KR 4: one group per byte
            std::memcpy(dst + q * 4 * nr, &w, 4);
          }
        }
      }
    }
  }
  for (int64_t c = 0; c < cols; ++c) {
    int8_t* dst = panel + c * kr;
    for (int64_t kk = k; kk < gk_pad; ++kk) dst[(kk / kr) * kr * nr + kk % kr] = 0;  // past K (A is 0 there too)
  }
}

bool LutGemm::Impl::run_panels(const void* x, int64_t ldx, int64_t m0, int64_t m1, int64_t p0, int64_t p1,
                               void* y, int64_t ldy) const {
  const internal::GemmConfig& gc = *gcfg;
  uint8_t* ws = internal::panel_workspace();
  if (ws == nullptr) return false;
  uint8_t* a = ws;
  int8_t* panel = reinterpret_cast<int8_t*>(ws + internal::kPanelABytes);
  const int64_t a_panel_bytes = gk_pad * gc.mr * (gc.a_int16 ? 2 : 1);
  internal::gemm_pack_a(gc, act == LutActivation::kS8, a_shift, static_cast<const uint8_t*>(x) + m0 * ldx, ldx,
                        m1 - m0, k, gk_pad, a);
  const size_t kbg = static_cast<size_t>(gk_pad / gc.kr);
  alignas(64) int32_t tile[internal::kGemmMaxMR * 64];
  for (int64_t j = p0; j < p1; ++j) {
    decode_panel(j, panel);
    const int64_t n0 = j * gc.nr;
    const size_t nr = static_cast<size_t>(std::min<int64_t>(gc.nr, n - n0));
    for (int64_t r0 = m0; r0 < m1; r0 += gc.mr) {
      const size_t rows = static_cast<size_t>(std::min<int64_t>(gc.mr, m1 - r0));
      gc.ukernel[rows - 1](kbg, a + (r0 - m0) / gc.mr * a_panel_bytes, panel, tile);
      uint8_t* yp = static_cast<uint8_t*>(y) + (r0 * ldy + n0) * static_cast<int64_t>(out_bytes);
      epilogue(tile, rows, static_cast<size_t>(gc.nr), nr, static_cast<size_t>(n0), out.ep, yp,
               static_cast<size_t>(ldy));
    }
  }
  return true;
}

Status LutGemm::run(const void* x, int64_t m, int64_t ldx, void* y, int64_t ldy, const ParallelFor& pf) const {
  internal::VerboseScope verbose("exec", "lut_gemm");
  if (!impl_) return invalid("gemm: not created (LutGemm::create did not succeed)");
  const Impl& g = *impl_;
  bool empty = false;
  const int64_t x_elem = g.act == LutActivation::kFp32 ? 4 : 1;
  Status s = internal::check_run(m, {"x", "ldx", x, ldx, g.k, x_elem},
                                 {"y", "ldy", y, ldy, g.n, static_cast<int64_t>(g.out_bytes)}, &empty);
  if (!s.ok() || empty) return s;

  // Row blocks of whole MR groups whose packed X fits the block budget (at
  // least one row), times ranges of panels: small M splits N so that the
  // pool's threads have work. The panel path packs up to kPanelABytes of A
  // per task, so that each decoded panel serves as many rows as possible.
  const bool panel_path = g.gcfg != nullptr && m >= g.cfg->panel_min_m;
  const int64_t mr = panel_path ? g.gcfg->mr : g.cfg->mr;
  const int64_t stride = panel_path ? g.gk_pad * g.gcfg->mr * (g.gcfg->a_int16 ? 2 : 1) / mr : g.a_stride();
  const int64_t budget = panel_path ? internal::kPanelABytes : std::min<int64_t>(internal::kXBlockBytes, kQGemmWorkspaceBytes);
  const int64_t limit = panel_path ? internal::kPanelABytes : static_cast<int64_t>(kQGemmWorkspaceBytes);
  int64_t mc = std::max<int64_t>(1, budget / stride);
  if (mc * stride > limit) mc = limit / stride;
  if (mc >= mr) mc = mc / mr * mr;
  mc = std::min(mc, m);
  const int64_t panels = panel_path ? internal::round_up(g.n, g.gcfg->nr) / g.gcfg->nr : g.n_pad / g.cfg->nr;
  const int64_t unit = panel_path ? 1 : g.panel_unit();  // the grid splits N in units of `unit` panels
  if ((panel_path ? internal::panel_workspace() : internal::thread_workspace()) == nullptr) {
    return internal::workspace_error();
  }
  size_t tasks = 0;
  const bool ran = internal::run_grid(
      pf, m, mc, (panels + unit - 1) / unit,
      [&](int64_t m0, int64_t m1, int64_t u0, int64_t u1) {
        const int64_t p0 = u0 * unit, p1 = std::min(panels, u1 * unit);
        return panel_path ? g.run_panels(x, ldx, m0, m1, p0, p1, y, ldy)
                          : g.run_task(x, ldx, m0, m1, p0, p1, y, ldy);
      },
      &tasks);
  if (!ran) return internal::workspace_error();  // another thread's workspace
  if (verbose.active()) {
    verbose.record(g.isa, panel_path ? g.kernel_panel : g.kernel_fused,
                   "m" + std::to_string(m) + "n" + std::to_string(g.n) + "k" + std::to_string(g.k) +
                       " tasks:" + std::to_string(tasks));
  }
  return Status();
}

}  // namespace qkern
