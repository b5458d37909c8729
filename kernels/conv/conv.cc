// kernels/conv/conv.cc: the int8 convolution front end (QConv2d) and its
// three drivers, all on the int8 GEMM's machinery (QGemm's packing, kernels
// and epilogue) and the depthwise kernels of conv_kernels.h.
//
// create(): validate the geometry and the output, pick the path, and
//  - gemm_1x1 / im2col: one QGemm per group over the group's OC/groups x K
//    weights, K = KH * KW * IC/groups in (kh, kw, ic) order, which is the OHWI
//    row of an output channel (OIHW weights are reordered once here);
//  - depthwise: weights widened to [taps][C_pad] int32, the zero point folded
//    into the bias, and the GEMM's output plan for the epilogue.
// run():
//  - gemm_1x1: the GEMM on the input in place: rows are pixels (row stride
//    the pixel stride), a group's K columns start at its first channel.
//  - im2col: tasks of (group, tile of R output pixels); a task gathers its
//    pixels' taps into R rows of K bytes in a per-thread buffer of
//    kQConvIm2colBytes (R = that / K, so the buffer does not grow with the
//    image), padded taps as za, then runs the group's QGemm on those rows
//    (which packs them into its panel layout and writes the output rows).
//  - depthwise: tasks of runs of output pixels; per run an indirection buffer
//    of tap pointers (padding -> a row of za bytes), the ISA's kernel, then
//    the GEMM epilogue on the run's pixels x C_pad accumulators.
//  - direct (x86 JIT, groups 1, dilation_w 1; at most kConvDirectMaxIc input
//    channels, or IC % 4 == 0 with a kernel larger than 1x1 and weight panels
//    within kConvDirectMaxPanelBytes): each kernel row's KW * IC taps are one
//    run of the input row, padded to R (a multiple of the config's kr, 2 or
//    4) with zero weights, so K' = KH * R and one QGemm packs the weights and plans the output
//    (with IC % 4 == 0, K' = K: rows of fewer than kConvDirectMinRow output
//    pixels run the im2col path on that QGemm). A task is a
//    chunk of at most `chunk` output pixels of one output row: it stages the
//    KH input row segments the chunk reads (seg_elems elements each, padding
//    and the tail as za; bytes + the config's shift, or int16 for c2) in the
//    conv workspace, then runs JIT kernels in gather mode (jit/gemm_jit.h)
//    on MR-pixel tiles: pixel m's k step s reads segment s / G at
//    m * stride_w * IC + (s % G) * KR elements, straight into the GEMM's
//    tiles and epilogue. No im2col rows and no A packing: for 3 channels the
//    two cost more than the multiplications.
// Every output element is one sum over all of its taps, so results do not
// depend on tiles, tasks or threads.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels/common/buffer.h"
#include "kernels/common/registry.h"
#include "kernels/common/validate.h"
#include "kernels/common/verbose.h"
#include "kernels/conv/conv_kernels.h"
#include "kernels/gemm/gemm_kernels.h"
#include "qkern/conv.hpp"
#include "reference/conv_ref.h"

#if QKERN_HAVE_JIT
#include "jit/gemm_jit.h"
#include "jit/jit.h"
#endif

namespace qkern {
namespace internal {
namespace {

// ------------------------------------------------------- scalar depthwise
template <typename T>
void dw_scalar(size_t pixels, size_t taps, const void* const* in, size_t channels, const int32_t* w,
               int32_t* acc) {
  const size_t c_pad = static_cast<size_t>(round_up(static_cast<int64_t>(channels), kDwChannelPad));
  for (size_t p = 0; p < pixels; ++p) {
    for (size_t c = 0; c < channels; ++c) {
      uint32_t sum = 0;  // wraps like the SIMD lanes
      for (size_t t = 0; t < taps; ++t) {
        const int32_t x = static_cast<const T*>(in[p * taps + t])[c];
        sum += static_cast<uint32_t>(x * w[t * c_pad + c]);
      }
      acc[p * c_pad + c] = static_cast<int32_t>(sum);
    }
  }
}

const Registry<DwKernels>& dw_registry() {
  static const Registry<DwKernels> r(dw_kernels_scalar(), dw_kernels_avx2(), dw_kernels_avx512(),
                                     dw_kernels_avx512_vnni(), dw_kernels_neon(),
                                     dw_kernels_neon());  // neon_dotprod: the same kernels (no dot products in depthwise)
  return r;
}

// The calling thread's im2col / indirection buffer (kQConvIm2colBytes), kept
// for the thread's life; null when out of memory.
uint8_t* conv_workspace() {
  thread_local Buffer<uint8_t> ws = alloc_zeroed<uint8_t>(kQConvIm2colBytes);
  return ws.get();
}

// Depthwise runs: at most this many pixels, and the run's tap pointers and
// accumulators each within half of the conv workspace.
constexpr int64_t kDwMaxPixels = 64;
constexpr int64_t kDwHalf = static_cast<int64_t>(kQConvIm2colBytes) / 2;

const int64_t kMaxDim = int64_t{1} << 30;  // any extent, stride, dilation or pad

std::atomic<bool> g_direct_on{true};

}  // namespace

void set_conv_direct_for_test(bool on) { g_direct_on = on; }

const DwKernels* dw_kernels_scalar() {
  static constexpr DwKernels k{"dw_scalar", &dw_scalar<uint8_t>, &dw_scalar<int8_t>};
  return &k;
}

}  // namespace internal

using internal::Buffer;
using internal::invalid;
using internal::out_of_range;

const char* conv_path_name(ConvPath path) {
  switch (path) {
    case ConvPath::kGemm1x1: return "gemm_1x1";
    case ConvPath::kIm2col: return "im2col";
    case ConvPath::kDepthwise: return "depthwise";
    case ConvPath::kDirect: return "direct";
  }
  return "unknown";
}

struct QConv2d::Impl {
  QConv2dParams p;  // the geometry and types (pointers cleared)
  int64_t icg = 0, ocg = 0, taps = 0, k = 0;  // per group: IC/groups, OC/groups, KH*KW, K
  ConvPath path = ConvPath::kIm2col;
  Isa isa = Isa::kScalar;
  std::string kernel;
  size_t out_bytes = 1, packed_bytes = 0;
  std::vector<QGemm> gemms;  // gemm_1x1 and im2col: one per group
  // depthwise
  const internal::DwKernels* dw = nullptr;
  internal::DwUkernel dw_ukernel = nullptr;  // for the input type and tap count
  internal::DwRowUkernel dw_row_ukernel = nullptr;  // the same for row runs (null: none)
  internal::GemmEpilogueFn epilogue = nullptr;
  internal::GemmOutputPlan out;
  Buffer<int32_t> dw_w;    // [taps][C_pad]
  // The row kernel's weights: dw_w, or the tap quads of a 3x3 stride-1 kernel
  // (DwKernels::u8_3x3_s1_quad: [4][C_pad], owned by dw_wq).
  Buffer<int32_t> dw_wq;
  const int32_t* dw_row_w = nullptr;
  Buffer<uint8_t> zrow;    // C_pad bytes of za
  int64_t c_pad = 0, dw_pixels = 0;
  // direct: gemms[0] over K' = KH * R, R a kernel row's KW * IC taps
  // rounded up to the config's kr (its weights and output plan)
  int64_t seg_elems = 0;  // one staged kernel-row segment
  int64_t chunk = 0;      // output pixels per task (at most)
  int elem_bytes = 1;     // staged elements: 1 (c4, shifted bytes) or 2 (c2, int16)
  // <= kConvDirectMaxIc channels (padded K: only the direct kernels can run
  // them); else rows narrower than kConvDirectMinRow run im2col on gemms[0].
  bool direct_always = false;
  std::string narrow_kernel;  // what those rows run (the verbose exec line)
  internal::QGemmView gv;
  internal::GemmJitFns direct_fns;  // the gather kernels
#if QKERN_HAVE_JIT
  std::vector<std::shared_ptr<const jit::Kernel>> direct_kernels;
  // Sets up the direct path from `rows` (OHWI); false (nothing kept) when it
  // does not apply or a kernel cannot be generated: then im2col.
  bool prepare_direct(const QConv2dParams& p, const int8_t* rows, std::string* why);
#endif

  // x_end: one past the input's last readable byte.
  void run_im2col_task(const uint8_t* x, const uint8_t* x_end, int64_t h, int64_t w, int64_t oh, int64_t ow,
                       int64_t x_ps, uint8_t* y, int64_t y_ps, int64_t g, int64_t p0, int64_t p1, uint8_t* ws,
                       Status* status) const;
  void run_dw_task(const uint8_t* x, int64_t h, int64_t w, int64_t oh, int64_t ow, int64_t x_ps, uint8_t* y,
                   int64_t y_ps, int64_t p0, int64_t p1, uint8_t* ws) const;
  // Output pixels [ox0, ox1) of row oy of image b.
  void run_direct_task(const uint8_t* x, int64_t h, int64_t w, int64_t oh, int64_t ow, int64_t x_ps, uint8_t* y,
                       int64_t y_ps, int64_t b, int64_t oy, int64_t ox0, int64_t ox1, uint8_t* ws) const;
};

QConv2d::QConv2d() = default;
QConv2d::~QConv2d() = default;
QConv2d::QConv2d(QConv2d&&) noexcept = default;
QConv2d& QConv2d::operator=(QConv2d&&) noexcept = default;
bool QConv2d::valid() const { return impl_ != nullptr; }
ConvPath QConv2d::path() const { return impl_ ? impl_->path : ConvPath::kIm2col; }
Isa QConv2d::isa() const { return impl_ ? impl_->isa : Isa::kScalar; }
const std::string& QConv2d::kernel() const {
  static const std::string none;
  return impl_ ? impl_->kernel : none;
}
size_t QConv2d::packed_bytes() const { return impl_ ? impl_->packed_bytes : 0; }

namespace {

Status check_at_least(const char* name, int64_t v, int64_t lo) {
  if (v < lo || v > internal::kMaxDim) {
    return out_of_range(std::string(name) + ": must be in [" + std::to_string(lo) + ", 2^30] (got " +
                        std::to_string(v) + ")");
  }
  return Status();
}

Status validate_geometry(const QConv2dParams& p) {
  Status s;
  const std::pair<const char*, int64_t> ones[] = {
      {"input_channels", p.input_channels}, {"output_channels", p.output_channels}, {"kernel_h", p.kernel_h},
      {"kernel_w", p.kernel_w},             {"stride_h", p.stride_h},               {"stride_w", p.stride_w},
      {"dilation_h", p.dilation_h},         {"dilation_w", p.dilation_w},           {"groups", p.groups}};
  for (const auto& f : ones) {
    if (!(s = check_at_least(f.first, f.second, 1)).ok()) return s;
  }
  const std::pair<const char*, int64_t> pads[] = {
      {"pad_top", p.pad_top}, {"pad_left", p.pad_left}, {"pad_bottom", p.pad_bottom}, {"pad_right", p.pad_right}};
  for (const auto& f : pads) {
    if (!(s = check_at_least(f.first, f.second, 0)).ok()) return s;
  }
  if (p.input_channels % p.groups != 0) {
    return invalid("input_channels: " + std::to_string(p.input_channels) + " is not divisible by groups = " +
                   std::to_string(p.groups));
  }
  if (p.output_channels % p.groups != 0) {
    return invalid("output_channels: " + std::to_string(p.output_channels) + " is not divisible by groups = " +
                   std::to_string(p.groups));
  }
  // K = KH * KW * IC/groups must keep the int32 sums exact (QGemm's limit).
  const int64_t icg = p.input_channels / p.groups;
  if (p.kernel_h > kQGemmMaxK / p.kernel_w || p.kernel_h * p.kernel_w > kQGemmMaxK / icg) {
    return out_of_range("kernel_h: kernel_h * kernel_w * input_channels / groups must be <= " +
                        std::to_string(kQGemmMaxK) + " so that int32 sums cannot overflow (got " +
                        std::to_string(p.kernel_h) + " x " + std::to_string(p.kernel_w) + " x " +
                        std::to_string(icg) + ")");
  }
  if (p.weight_layout != ConvWeightLayout::kOHWI && p.weight_layout != ConvWeightLayout::kOIHW) {
    return invalid("weight_layout: unknown value");
  }
  if (p.weights == nullptr) return invalid("weights: null");
  return Status();
}

// Group g's GEMM: N = OC/groups output channels, K in (kh, kw, ic) order.
QGemmParams group_params(const QConv2dParams& p, const int8_t* ohwi, int64_t g, int64_t k) {
  const int64_t ocg = p.output_channels / p.groups;
  QGemmParams q = ref::conv_output_params(p);
  q.n = ocg;
  q.k = k;
  q.weights = ohwi + g * ocg * k;
  q.weight_layout = WeightLayout::kNK;
  if (p.weight_scale && p.weight_scale_per_channel) q.weight_scale = p.weight_scale + g * ocg;
  if (p.bias) q.bias = p.bias + g * ocg;
  if (p.bias_f) q.bias_f = p.bias_f + g * ocg;
  return q;
}

}  // namespace

Status QConv2d::create(const QConv2dParams& p, QConv2d* conv) {
  // An allocation that throws (a std::vector, make_unique) is kOutOfMemory: no
  // exception leaves the API.
  return internal::no_throw("conv2d create", [&]() -> Status {
  internal::VerboseScope verbose("create", "qconv2d");
  if (conv == nullptr) return invalid("conv: null");
  Status s = validate_geometry(p);
  if (!s.ok()) return s;
  const int64_t icg = p.input_channels / p.groups, ocg = p.output_channels / p.groups;
  const int64_t taps = p.kernel_h * p.kernel_w, k = taps * icg;
  // The output fields, checked as the GEMM checks them (the messages name the
  // same fields: weight_scale, output_scale, output_zero_point, lo, ...).
  QGemmParams out = ref::conv_output_params(p);
  out.k = k;
  out.weights = p.weights;
  if (!(s = internal::validate_gemm(out)).ok()) return s;

  auto impl = std::make_unique<Impl>();
  Impl& c = *impl;
  c.p = p;
  c.p.weights = nullptr;
  c.p.weight_scale = nullptr;
  c.p.bias = nullptr;
  c.p.bias_f = nullptr;
  c.icg = icg;
  c.ocg = ocg;
  c.taps = taps;
  c.k = k;
  const bool depthwise = icg == 1 && ocg == 1 && p.groups > 1;
  const int64_t c_pad = internal::round_up(p.output_channels, internal::kDwChannelPad);
  if (depthwise && 2 * taps * static_cast<int64_t>(sizeof(void*)) <= internal::kDwHalf &&
      c_pad * static_cast<int64_t>(sizeof(int32_t)) <= internal::kDwHalf) {
    c.path = ConvPath::kDepthwise;
  } else if (p.kernel_h == 1 && p.kernel_w == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 &&
             p.pad_left == 0 && p.pad_bottom == 0 && p.pad_right == 0) {
    c.path = ConvPath::kGemm1x1;
  } else {
    c.path = ConvPath::kIm2col;
  }
  const std::string types = std::string(internal::type_name(p.activation_signed)) + "s8_";

  if (c.path == ConvPath::kDepthwise) {
    const int64_t ch = p.output_channels;
    const auto sel = internal::dw_registry().select(active_isa());
    c.dw = sel.kernels;
    c.isa = sel.isa;
    c.epilogue = internal::gemm_kernels_for(c.isa)->epilogue;
    const bool s8 = p.activation_signed;
    // The input type's kernel with the tap count baked where the table has one.
    const auto pick = [&](auto u8, auto s8k, auto u8_3x3, auto s8_3x3, auto u8_5x5, auto s8_5x5) {
      const auto baked = taps == 9 ? (s8 ? s8_3x3 : u8_3x3) : taps == 25 ? (s8 ? s8_5x5 : u8_5x5) : nullptr;
      return baked ? baked : (s8 ? s8k : u8);
    };
    const internal::DwKernels& t = *c.dw;
    c.dw_ukernel = pick(t.u8, t.s8, t.u8_3x3, t.s8_3x3, t.u8_5x5, t.s8_5x5);
    c.dw_row_ukernel = pick(t.u8_rows, t.s8_rows, t.u8_3x3_rows, t.s8_3x3_rows, t.u8_5x5_rows, t.s8_5x5_rows);
    // 3x3 at stride_w 1, dilation_w 1: the tap-quad row kernel where the ISA has one.
    const internal::DwRowUkernel quad = s8 ? t.s8_3x3_s1_quad : t.u8_3x3_s1_quad;
    const bool use_quad = quad != nullptr && p.kernel_h == 3 && p.kernel_w == 3 && p.stride_w == 1 &&
                          p.dilation_w == 1;
    if (use_quad) c.dw_row_ukernel = quad;
    c.c_pad = c_pad;
    c.dw_w = internal::alloc_zeroed<int32_t>(static_cast<size_t>(taps * c_pad));
    c.zrow = internal::alloc_zeroed<uint8_t>(static_cast<size_t>(c_pad));
    if (use_quad) c.dw_wq = internal::alloc_zeroed<int32_t>(static_cast<size_t>(4 * c_pad));
    if (!c.dw_w || !c.zrow || (use_quad && !c.dw_wq)) {
      return Status(StatusCode::kOutOfMemory, "weights: cannot allocate the packed copy");
    }
    std::memset(c.zrow.get(), static_cast<uint8_t>(p.activation_zero_point), static_cast<size_t>(c_pad));
    std::vector<int64_t> wsum(static_cast<size_t>(ch), 0);
    for (int64_t kh = 0; kh < p.kernel_h; ++kh) {
      for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
        for (int64_t oc = 0; oc < ch; ++oc) {
          const int8_t v = ref::conv_weight(p, oc, kh, kw, 0);
          c.dw_w[(kh * p.kernel_w + kw) * c_pad + oc] = c.dw->w_low16 ? (v & 0xffff) : v;
          wsum[static_cast<size_t>(oc)] += v;
          if (use_quad) {  // byte kw of kernel row kh's quad
            uint32_t& q = reinterpret_cast<uint32_t&>(c.dw_wq[kh * c_pad + oc]);
            q |= static_cast<uint32_t>(static_cast<uint8_t>(v)) << (8 * kw);
          }
        }
      }
    }
    if (use_quad && s8) {  // the quad kernel takes s8 x as x + 128: its sums start at -128 sum w
      for (int64_t oc = 0; oc < ch; ++oc) {
        c.dw_wq[3 * c_pad + oc] = static_cast<int32_t>(-128 * wsum[static_cast<size_t>(oc)]);
      }
    }
    c.dw_row_w = use_quad ? c.dw_wq.get() : c.dw_w.get();
    // Padded taps read za, so sum (x - za) w = sum x w - za sum w over all taps.
    QGemmParams q = ref::conv_output_params(p);
    if (!(s = internal::plan_gemm_output(q, c_pad, wsum.data(), 0, &c.out)).ok()) return s;
    c.out_bytes = c.out.out_bytes;
    // Per run: pixels x taps pointers and taps offsets in one half, pixels x C_pad sums in the other.
    c.dw_pixels = std::min({internal::kDwMaxPixels, internal::kDwHalf / (taps * static_cast<int64_t>(sizeof(void*))) - 1,
                            internal::kDwHalf / (c_pad * static_cast<int64_t>(sizeof(int32_t)))});
    c.kernel = "conv2d_depthwise_" + types + c.out.name + "_" + std::to_string(p.kernel_h) + "x" +
               std::to_string(p.kernel_w) + "_" + c.dw->name + (use_quad ? "+dpbusd_quads" : "") + "__" +
               isa_name(c.isa);
    c.packed_bytes = static_cast<size_t>(taps * c_pad * 4 + (use_quad ? 4 * c_pad * 4 : 0) + c_pad +
                                         c_pad * 4 * c.out.arrays);
  } else {
    // OHWI rows are the GEMM's K rows; OIHW is reordered into them once.
    std::vector<int8_t> ohwi;
    const int8_t* rows = p.weights;
    if (p.weight_layout == ConvWeightLayout::kOIHW) {
      ohwi.resize(static_cast<size_t>(p.output_channels * k));
      for (int64_t oc = 0; oc < p.output_channels; ++oc) {
        for (int64_t kh = 0; kh < p.kernel_h; ++kh) {
          for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
            for (int64_t ic = 0; ic < icg; ++ic) {
              ohwi[static_cast<size_t>(oc * k + (kh * p.kernel_w + kw) * icg + ic)] = ref::conv_weight(p, oc, kh, kw, ic);
            }
          }
        }
      }
      rows = ohwi.data();
    }
    internal::VerboseMute mute;  // one qconv2d line, not one qgemm line per group
    c.out_bytes = p.output == GemmOutput::kRequantized ? 1 : 4;
#if QKERN_HAVE_JIT
    std::string why;
    if (c.path == ConvPath::kIm2col && c.prepare_direct(p, rows, &why)) {
      c.path = ConvPath::kDirect;
      c.isa = c.gv.isa;
      c.packed_bytes = c.gemms[0].packed_bytes();
      c.kernel = "conv2d_direct_" + types + c.gv.out->name + "_" + c.gv.cfg->name + "_" +
                 std::to_string(p.kernel_h) + "x" + std::to_string(p.kernel_w) + "_jit__" + isa_name(c.isa);
      if (!c.direct_always) c.narrow_kernel = "conv2d_im2col_" + c.gemms[0].kernel().substr(6);
    }
#endif
    if (c.path != ConvPath::kDirect) {
      c.packed_bytes = 0;
      if (c.gemms.empty()) c.gemms.resize(static_cast<size_t>(p.groups));  // else the direct attempt's (groups 1)
      for (int64_t g = 0; g < p.groups && !c.gemms[static_cast<size_t>(g)].valid(); ++g) {
        if (!(s = QGemm::create(group_params(p, rows, g, k), &c.gemms[static_cast<size_t>(g)])).ok()) return s;
      }
      for (const QGemm& g : c.gemms) c.packed_bytes += g.packed_bytes();
      const QGemm& g0 = c.gemms[0];
      c.isa = g0.isa();
      // "qgemm_u8s8_u8_fp32_6x64c4__avx512_vnni" -> "conv2d_im2col_u8s8_u8_fp32_6x64c4__avx512_vnni"
      c.kernel = std::string("conv2d_") + conv_path_name(c.path) + "_" + g0.kernel().substr(6);
    }
  }
  if (verbose.active()) {
    verbose.record(c.isa, c.kernel,
                   "ic" + std::to_string(p.input_channels) + "oc" + std::to_string(p.output_channels) + "k" +
                       std::to_string(p.kernel_h) + "x" + std::to_string(p.kernel_w) + "s" +
                       std::to_string(p.stride_h) + "x" + std::to_string(p.stride_w) + "g" +
                       std::to_string(p.groups) + " packed_bytes:" + std::to_string(c.packed_bytes));
  }
  conv->impl_ = std::move(impl);
  return Status();
});
}

Status QConv2d::output_size(int64_t h, int64_t w, int64_t* oh, int64_t* ow) const {
  if (!impl_) return invalid("conv: not created (QConv2d::create did not succeed)");
  if (oh == nullptr || ow == nullptr) return invalid(oh == nullptr ? "oh: null" : "ow: null");
  Status s;
  if (!(s = check_at_least("h", h, 1)).ok() || !(s = check_at_least("w", w, 1)).ok()) return s;
  const QConv2dParams& p = impl_->p;
  const int64_t ohv = ref::conv_out_dim(h, p.pad_top, p.pad_bottom, p.kernel_h, p.dilation_h, p.stride_h);
  const int64_t owv = ref::conv_out_dim(w, p.pad_left, p.pad_right, p.kernel_w, p.dilation_w, p.stride_w);
  if (ohv <= 0) {
    return out_of_range("h: the padded input height " + std::to_string(h + p.pad_top + p.pad_bottom) +
                        " is smaller than the dilated kernel height " +
                        std::to_string(p.dilation_h * (p.kernel_h - 1) + 1));
  }
  if (owv <= 0) {
    return out_of_range("w: the padded input width " + std::to_string(w + p.pad_left + p.pad_right) +
                        " is smaller than the dilated kernel width " +
                        std::to_string(p.dilation_w * (p.kernel_w - 1) + 1));
  }
  *oh = ohv;
  *ow = owv;
  return Status();
}

#if QKERN_HAVE_JIT
bool QConv2d::Impl::prepare_direct(const QConv2dParams& q, const int8_t* rows, std::string* why) {
  const int64_t ic = q.input_channels;
  const bool small = ic <= internal::kConvDirectMaxIc;
  if (!jit::enabled() || !internal::g_direct_on || q.groups != 1 || q.dilation_w != 1 ||
      (!small && (ic % 4 != 0 || q.kernel_h * q.kernel_w == 1))) {
    *why = "not a direct-path convolution";
    return false;
  }
  // Weights [OC][KH][R]: each kernel row's KW * IC taps, then zeros up to
  // R, a multiple of the active ISA's exact config's kr (none when IC % 4 ==
  // 0: then K' = K and the GEMM is im2col's as well). c2's pairs (avx2,
  // avx512) pad to 2: conv1 K' = 7 x 22 = 154, not 7 x 24 = 168; features.0
  // 3 x 10, not 3 x 12. A config of another kr fails below (im2col).
  const internal::GemmKernels* table = internal::gemm_kernels_for(active_isa());
  const int64_t pad = table != nullptr && table->exact.kr == 4 ? 4 : 2;
  const int64_t run = q.kernel_w * ic, r = internal::round_up(run, pad), kp = q.kernel_h * r;
  std::vector<int8_t> wp;
  const int8_t* wsrc = rows;
  if (r != run) {
    wp.assign(static_cast<size_t>(q.output_channels * kp), 0);
    for (int64_t oc = 0; oc < q.output_channels; ++oc) {
      for (int64_t kh = 0; kh < q.kernel_h; ++kh) {
        std::memcpy(&wp[static_cast<size_t>(oc * kp + kh * r)], rows + oc * k + kh * run, static_cast<size_t>(run));
      }
    }
    wsrc = wp.data();
  }
  QGemm gemm;
  Status st = QGemm::create(group_params(q, wsrc, 0, kp), &gemm);
  if (!st.ok()) {
    *why = st.message();
    return false;
  }
  // A wide-channel GEMM is the im2col path's: kept for it when the direct path fails.
  const auto fail = [&](const char* reason) {
    if (why->empty()) *why = reason;
    if (!small) {
      gemms.clear();
      gemms.push_back(std::move(gemm));
    }
    return false;
  };
  why->clear();
  // avx512_amx: on wide channels im2col's GEMM runs the AMX kernel, which the
  // gather kernels (avx512_vnni's) do not beat (measured: ResNet-50's layer1
  // and layer2 3x3 convolutions took 1.5-2.4x im2col's time direct).
  if (!small && gemm.isa() == Isa::kAvx512Amx) return fail("im2col runs the AMX GEMM");
  const internal::QGemmView v = internal::QGemmAccess::view(gemm);
  if (v.cfg == nullptr || !v.exact || (v.cfg->kr != 2 && v.cfg->kr != 4) || r % v.cfg->kr != 0 || v.k_pad != kp) {
    return fail("no exact c2/c4 config");
  }
  // Wide channels: every output row re-reads the weight panels, so only
  // where a panel stays in L2 (measured: ResNet-50's layer1 and layer2 3x3
  // convolutions, 1.05-1.28x im2col; layer3 and layer4's 0.86-1.0x).
  if (!small && v.k_pad * v.cfg->nr > internal::kConvDirectMaxPanelBytes) return fail("weight panels beyond L2");
  const int eb = v.cfg->a_int16 ? 2 : 1;
  const int64_t px = q.stride_w * ic;  // elements from one output pixel's taps to the next's
  // Chunks of up to 128 pixels (a 112-pixel first-layer row in one task),
  // fewer where the KH segments would not fit the workspace.
  int64_t pixels = 128;
  const auto seg = [&](int64_t n) { return internal::round_up((n - 1) * px + r, 16); };
  while (pixels > v.cfg->mr && q.kernel_h * seg(pixels) * eb > static_cast<int64_t>(kQConvIm2colBytes)) pixels /= 2;
  if (q.kernel_h * seg(pixels) * eb > static_cast<int64_t>(kQConvIm2colBytes) || px * eb > (int64_t{1} << 20)) {
    return fail("staged rows exceed the workspace");
  }
  jit::GemmJitConf conf = jit::gemm_jit_base_conf(v.isa, *v.cfg, v.k_pad, v.n, v.out->ep);
  conf.conv_g = static_cast<int>(r / v.cfg->kr);
  conf.conv_row_bytes = static_cast<int>(seg(pixels) * eb);
  conf.conv_pixel_bytes = static_cast<int>(px * eb);
  if (!jit::gemm_jit_kernel_set(conf, v.n, &direct_kernels, &direct_fns, why)) return fail("");
  gemms.clear();
  gemms.push_back(std::move(gemm));
  gv = internal::QGemmAccess::view(gemms[0]);
  seg_elems = seg(pixels);
  chunk = pixels;
  elem_bytes = eb;
  direct_always = small;
  return true;
}
#endif

// Stages, for each kernel row, the input row segment that output pixels
// [ox0, ox1) of row oy read (from column ox0 * stride_w - pad_left on, padding
// and the segment's tail as za), then runs the gather kernels on MR-pixel
// tiles and every weight panel.
void QConv2d::Impl::run_direct_task(const uint8_t* x, int64_t h, int64_t w, int64_t oh, int64_t ow, int64_t x_ps,
                                    uint8_t* y, int64_t y_ps, int64_t b, int64_t oy, int64_t ox0, int64_t ox1,
                                    uint8_t* ws) const {
  const int64_t ic = p.input_channels, L = seg_elems;
  const int shift = gv.a_shift;  // c4: +128 for s8 on vpdpbusd (xor 0x80); c2: 0
  const bool s8 = p.activation_signed;
  const int32_t za = p.activation_zero_point;
  const int64_t iw0 = ox0 * p.stride_w - p.pad_left;
  // Columns [c_lo, c_hi) of the segment lie inside the input.
  const int64_t cols = (L + ic - 1) / ic;
  const int64_t c_lo = std::min(cols, std::max<int64_t>(0, -iw0)), c_hi = std::max(c_lo, std::min(cols, w - iw0));
  for (int64_t kh = 0; kh < p.kernel_h; ++kh) {
    const int64_t ih = oy * p.stride_h - p.pad_top + kh * p.dilation_h;
    const bool inside = ih >= 0 && ih < h;
    const int64_t e_lo = inside ? c_lo * ic : L, e_hi = inside ? std::min(L, c_hi * ic) : L;
    // Element e (>= e_lo) is channel e % ic of column iw0 + e / ic.
    const uint8_t* row = inside ? x + (b * h + ih) * w * x_ps : nullptr;
    const auto at = [&](int64_t e) { return row[(iw0 + e / ic) * x_ps + e % ic]; };
    if (elem_bytes == 1) {
      uint8_t* d = ws + kh * L;
      const uint8_t zb = static_cast<uint8_t>(za + shift);
      std::memset(d, zb, static_cast<size_t>(e_lo));
      const uint8_t flip = static_cast<uint8_t>(shift);  // 0 or 0x80: + shift modulo 256
      if (x_ps == ic && e_hi > e_lo) {
        const uint8_t* sp = row + iw0 * ic + e_lo;  // one run of bytes
        for (int64_t e = e_lo; e < e_hi; ++e) d[e] = static_cast<uint8_t>(*sp++ ^ flip);
      } else {
        for (int64_t e = e_lo; e < e_hi; ++e) d[e] = static_cast<uint8_t>(at(e) ^ flip);
      }
      std::memset(d + e_hi, zb, static_cast<size_t>(L - e_hi));
    } else {
      int16_t* d = reinterpret_cast<int16_t*>(ws) + kh * L;
      const int16_t zv = static_cast<int16_t>(za);
      std::fill(d, d + e_lo, zv);
      if (x_ps == ic && e_hi > e_lo) {
        const uint8_t* sp = row + iw0 * ic + e_lo;
        if (s8) {
          for (int64_t e = e_lo; e < e_hi; ++e) d[e] = static_cast<int8_t>(*sp++);
        } else {
          for (int64_t e = e_lo; e < e_hi; ++e) d[e] = *sp++;
        }
      } else {
        for (int64_t e = e_lo; e < e_hi; ++e) {
          d[e] = s8 ? static_cast<int16_t>(static_cast<int8_t>(at(e))) : static_cast<int16_t>(at(e));
        }
      }
      std::fill(d + e_hi, d + L, zv);
    }
  }
  const internal::GemmConfig& cf = *gv.cfg;
  const int64_t mr_max = cf.mr, nr = cf.nr, px_bytes = p.stride_w * ic * elem_bytes;
  const int64_t ob = static_cast<int64_t>(out_bytes);
  uint8_t* yrow = y + ((b * oh + oy) * ow + ox0) * y_ps * ob;
  for (int64_t j = 0; j * nr < gv.n; ++j) {
    const int8_t* wpanel = gv.w + j * gv.k_pad * nr;
    const int64_t n0 = j * nr;
    const bool tail = gv.n - n0 < nr;
    for (int64_t t0 = 0; t0 < ox1 - ox0; t0 += mr_max) {
      const int64_t mr = std::min(mr_max, ox1 - ox0 - t0);
      direct_fns.at(tail, static_cast<size_t>(mr))(ws + t0 * px_bytes, wpanel, yrow + (t0 * y_ps + n0) * ob,
                                                   static_cast<size_t>(y_ps), &gv.out->ep, static_cast<size_t>(n0), 1);
    }
  }
}

// Rows [p0, p1) of output pixels of group g: gather, then the group's GEMM.
void QConv2d::Impl::run_im2col_task(const uint8_t* x, const uint8_t* x_end, int64_t h, int64_t w, int64_t oh,
                                    int64_t ow, int64_t x_ps, uint8_t* y, int64_t y_ps, int64_t g, int64_t p0,
                                    int64_t p1, uint8_t* ws, Status* status) const {
  const uint8_t za = static_cast<uint8_t>(p.activation_zero_point);
  const int64_t kw_n = p.kernel_w, ic0 = g * icg;
  const uint8_t* ws_end = ws + kQConvIm2colBytes;
  // Unit dilation and dense channels: a kernel row's taps are one run of KW * IC bytes.
  const bool row_runs = p.dilation_w == 1 && p.groups == 1 && x_ps == icg;
  // The output pixel (b, oy, ox) of q = p0, then stepped (no division per pixel).
  int64_t b = p0 / (oh * ow), oy = p0 % (oh * ow) / ow, ox = p0 % ow;
  for (int64_t q = p0; q < p1; ++q) {
    uint8_t* row = ws + (q - p0) * k;
    const int64_t iw0 = ox * p.stride_w - p.pad_left;
    for (int64_t kh = 0; kh < p.kernel_h; ++kh) {
      uint8_t* dst = row + kh * kw_n * icg;
      const int64_t ih = oy * p.stride_h - p.pad_top + kh * p.dilation_h;
      if (ih < 0 || ih >= h) {
        std::memset(dst, za, static_cast<size_t>(kw_n * icg));
        continue;
      }
      const uint8_t* src_row = x + (b * h + ih) * w * x_ps + ic0;
      if (row_runs) {
        const int64_t lo = std::max<int64_t>(0, -iw0), hi = std::min<int64_t>(kw_n, w - iw0);  // taps inside
        if (lo > 0) std::memset(dst, za, static_cast<size_t>(std::min(lo, kw_n) * icg));
        if (hi > lo) {
          const size_t n = static_cast<size_t>((hi - lo) * icg);
          const uint8_t* s = src_row + (iw0 + lo) * icg;
          uint8_t* d = dst + lo * icg;
          // Short runs (first layers: 3 channels x 3 to 7 taps) as one 16-byte
          // copy where both sides have the room: its spill past the run is
          // overwritten by what this row writes next (the right padding, the
          // next kernel row or the next pixel) or lies in unused buffer.
          if (n <= 16 && s + 16 <= x_end && d + 16 <= ws_end) {
            uint8_t t[16];
            std::memcpy(t, s, 16);
            std::memcpy(d, t, 16);
          } else {
            std::memcpy(d, s, n);
          }
        }
        if (hi < kw_n) {
          const int64_t from = std::max(hi, lo);
          std::memset(dst + from * icg, za, static_cast<size_t>((kw_n - from) * icg));
        }
        continue;
      }
      for (int64_t kw = 0; kw < kw_n; ++kw) {
        const int64_t iw = iw0 + kw * p.dilation_w;
        if (iw < 0 || iw >= w) {
          std::memset(dst + kw * icg, za, static_cast<size_t>(icg));
        } else {
          std::memcpy(dst + kw * icg, src_row + iw * x_ps, static_cast<size_t>(icg));
        }
      }
    }
    if (++ox == ow) {
      ox = 0;
      if (++oy == oh) {
        oy = 0;
        ++b;
      }
    }
  }
  size_t tasks = 0;
  *status = internal::QGemmAccess::run(gemms[static_cast<size_t>(g)], ws, p1 - p0, k,
                                       y + (p0 * y_ps + g * ocg) * static_cast<int64_t>(out_bytes), y_ps,
                                       ParallelFor(), &tasks);
}

// Output pixels [p0, p1) of a depthwise conv (at most dw_pixels).
void QConv2d::Impl::run_dw_task(const uint8_t* x, int64_t h, int64_t w, int64_t oh, int64_t ow, int64_t x_ps,
                                uint8_t* y, int64_t y_ps, int64_t p0, int64_t p1, uint8_t* ws) const {
  const void** in = reinterpret_cast<const void**>(ws);
  int32_t* acc = reinterpret_cast<int32_t*>(ws + internal::kDwHalf);
  // A window wholly inside the input: tap t at its top-left pixel + off[t]
  // (the common case, without a bounds test per tap). The offsets go after
  // the run's pointers in the same half of the workspace.
  int64_t* off = reinterpret_cast<int64_t*>(in + (p1 - p0) * taps);
  for (int64_t kh = 0; kh < p.kernel_h; ++kh) {
    for (int64_t kw = 0; kw < p.kernel_w; ++kw) off[kh * p.kernel_w + kw] = (kh * p.dilation_h * w + kw * p.dilation_w) * x_ps;
  }
  const int64_t span_h = (p.kernel_h - 1) * p.dilation_h, span_w = (p.kernel_w - 1) * p.dilation_w;
  // The output pixel (b, oy, ox) of q = p0, then stepped (a division per
  // pixel was a third of a 112 x 112 x 32 layer's time).
  int64_t b = p0 / (oh * ow), oy = p0 % (oh * ow) / ow, ox = p0 % ow;
  const size_t ch = static_cast<size_t>(p.output_channels), nt = static_cast<size_t>(taps);
  const bool rows = dw_row_ukernel != nullptr;
  // Interior columns: ox in [x_lo, x_hi) has its window's columns inside.
  const int64_t x_lo = std::min(ow, (p.pad_left + p.stride_w - 1) / p.stride_w);
  const int64_t last = w - 1 - span_w + p.pad_left;  // stride_w * (the last interior ox), at most
  const int64_t x_hi = last < 0 ? x_lo : std::max(x_lo, std::min(ow, last / p.stride_w + 1));
  // Stretches of one row's pixels, all interior (the row kernel: no
  // pointers) or all not (pointers; padded taps at the za row).
  for (int64_t q = p0; q < p1;) {
    const int64_t ih0 = oy * p.stride_h - p.pad_top, iw0 = ox * p.stride_w - p.pad_left;
    const bool row_inside = ih0 >= 0 && ih0 + span_h < h;
    int64_t n = 1;  // pixels of this stretch (same row, all interior or all not)
    const bool inside = row_inside && ox >= x_lo && ox < x_hi;
    if (inside) {
      n = std::min(p1 - q, x_hi - ox);
    } else {
      const int64_t row_end = std::min(p1 - q, ow - ox);  // the rest of this row in the run
      n = row_inside && ox < x_lo ? std::min(row_end, x_lo - ox) : row_end;
    }
    int32_t* a = acc + (q - p0) * c_pad;
    if (inside && rows) {
      const uint8_t* base = x + ((b * h + ih0) * w + iw0) * x_ps;
      dw_row_ukernel(static_cast<size_t>(n), nt, base, static_cast<size_t>(p.stride_w * x_ps), off, ch, dw_row_w, a);
    } else {
      const void** tp = in + (q - p0) * taps;
      for (int64_t i = 0; i < n; ++i, tp += taps) {
        const int64_t jw0 = (ox + i) * p.stride_w - p.pad_left;
        if (inside) {
          const uint8_t* base = x + ((b * h + ih0) * w + jw0) * x_ps;
          for (int64_t t = 0; t < taps; ++t) tp[t] = base + off[t];
          continue;
        }
        for (int64_t kh = 0; kh < p.kernel_h; ++kh) {
          const int64_t ih = ih0 + kh * p.dilation_h;
          for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
            const int64_t iw = jw0 + kw * p.dilation_w;
            const bool in_image = ih >= 0 && ih < h && iw >= 0 && iw < w;
            tp[kh * p.kernel_w + kw] = in_image ? x + ((b * h + ih) * w + iw) * x_ps : zrow.get();
          }
        }
      }
      dw_ukernel(static_cast<size_t>(n), nt, in + (q - p0) * taps, ch, dw_w.get(), a);
    }
    q += n;
    ox += n;
    if (ox == ow) {
      ox = 0;
      if (++oy == oh) {
        oy = 0;
        ++b;
      }
    }
  }
  const size_t pixels = static_cast<size_t>(p1 - p0);
  epilogue(acc, pixels, static_cast<size_t>(c_pad), ch, 0, out.ep,
           y + p0 * y_ps * static_cast<int64_t>(out_bytes), static_cast<size_t>(y_ps));
}

Status QConv2d::run(const void* x, int64_t batch, int64_t h, int64_t w, void* y, int64_t x_pixel_stride,
                    int64_t y_pixel_stride, const ParallelFor& pf) const {
  internal::VerboseScope verbose("exec", "qconv2d");
  if (!impl_) return invalid("conv: not created (QConv2d::create did not succeed)");
  const Impl& c = *impl_;
  const QConv2dParams& p = c.p;
  if (batch < 0) return invalid("batch: must be >= 0 (got " + std::to_string(batch) + ")");
  int64_t oh = 0, ow = 0;
  Status s = output_size(h, w, &oh, &ow);
  if (!s.ok()) return s;
  const int64_t x_ps = x_pixel_stride ? x_pixel_stride : p.input_channels;
  const int64_t y_ps = y_pixel_stride ? y_pixel_stride : p.output_channels;
  if (x_ps < p.input_channels) {
    return invalid("x_pixel_stride: must be 0 or >= input_channels = " + std::to_string(p.input_channels) +
                   " (got " + std::to_string(x_pixel_stride) + ")");
  }
  if (y_ps < p.output_channels) {
    return invalid("y_pixel_stride: must be 0 or >= output_channels = " + std::to_string(p.output_channels) +
                   " (got " + std::to_string(y_pixel_stride) + ")");
  }
  if (batch == 0) return Status();
  if (x == nullptr) return invalid("x: null");
  if (y == nullptr) return invalid("y: null");
  const int64_t max = std::numeric_limits<int64_t>::max();
  if (batch > max / h / w || batch * h * w > max / x_ps) {
    return Status(StatusCode::kOverflow, "x_pixel_stride: batch * h * w * x_pixel_stride overflows");
  }
  if (batch > max / oh / ow || batch * oh * ow > max / static_cast<int64_t>(c.out_bytes) / y_ps) {
    return Status(StatusCode::kOverflow, "y_pixel_stride: batch * oh * ow * y_pixel_stride overflows");
  }
  const int64_t pixels = batch * oh * ow;
  const uint8_t* xb = static_cast<const uint8_t*>(x);
  uint8_t* yb = static_cast<uint8_t*>(y);
  size_t tasks = 0;

  const bool direct = c.path == ConvPath::kDirect && (c.direct_always || ow >= internal::kConvDirectMinRow);
  if (direct) {
    if (internal::conv_workspace() == nullptr) return internal::workspace_error();
    const int64_t chunks = (ow + c.chunk - 1) / c.chunk, rows = batch * oh;
    struct Job {
      const Impl* c;
      const uint8_t* x;
      uint8_t* y;
      int64_t h, w, oh, ow, x_ps, y_ps, chunks;
      std::atomic<int> failed{0};
    };
    Job job{&c, xb, yb, h, w, oh, ow, x_ps, y_ps, chunks};
    auto task = [](void* arg, size_t t) {
      Job& j = *static_cast<Job*>(arg);
      uint8_t* ws = internal::conv_workspace();
      if (ws == nullptr) {
        j.failed = 1;
        return;
      }
      const int64_t row = static_cast<int64_t>(t) / j.chunks, ch = static_cast<int64_t>(t) % j.chunks;
      const int64_t ox0 = ch * j.c->chunk, ox1 = std::min(j.ow, ox0 + j.c->chunk);
      j.c->run_direct_task(j.x, j.h, j.w, j.oh, j.ow, j.x_ps, j.y, j.y_ps, row / j.oh, row % j.oh, ox0, ox1, ws);
    };
    tasks = static_cast<size_t>(rows * chunks);
    if (pf.run) {
      pf.run(pf.ctx, tasks, task, &job);
    } else {
      for (size_t t = 0; t < tasks; ++t) task(&job, t);
    }
    if (job.failed != 0) return internal::workspace_error();
  } else if (c.path == ConvPath::kGemm1x1) {
    for (int64_t g = 0; g < p.groups; ++g) {
      size_t t = 0;
      s = internal::QGemmAccess::run(c.gemms[static_cast<size_t>(g)], xb + g * c.icg, pixels, x_ps,
                                     yb + g * c.ocg * static_cast<int64_t>(c.out_bytes), y_ps, pf, &t);
      if (!s.ok()) return s;
      tasks += t;
    }
  } else {
    if (internal::conv_workspace() == nullptr) return internal::workspace_error();
    const bool dw = c.path == ConvPath::kDepthwise;
    // im2col: R pixels per tile fill the buffer (at least one: K <= kQGemmMaxK < its size).
    const int64_t tile = dw ? c.dw_pixels : std::max<int64_t>(1, static_cast<int64_t>(kQConvIm2colBytes) / c.k);
    const int64_t tiles = (pixels + tile - 1) / tile, groups = dw ? 1 : p.groups;
    struct Job {
      const Impl* c;
      const uint8_t* x;
      const uint8_t* x_end;
      uint8_t* y;
      int64_t h, w, oh, ow, x_ps, y_ps, pixels, tile, tiles;
      bool dw;
    };
    const uint8_t* x_end = xb + (batch * h * w - 1) * x_ps + p.input_channels;
    Job job{&c, xb, x_end, yb, h, w, oh, ow, x_ps, y_ps, pixels, tile, tiles, dw};
    struct Ctx {
      Job* job;
      std::atomic<int> status_code{0};  // nonzero: a task's workspace could not be allocated
    };
    Ctx ctx{&job};
    auto task = [](void* arg, size_t t) {
      Ctx& cx = *static_cast<Ctx*>(arg);
      const Job& j = *cx.job;
      const int64_t g = static_cast<int64_t>(t) / j.tiles, i = static_cast<int64_t>(t) % j.tiles;
      const int64_t p0 = i * j.tile, p1 = std::min(j.pixels, p0 + j.tile);
      uint8_t* ws = internal::conv_workspace();
      if (ws == nullptr) {
        cx.status_code = static_cast<int>(StatusCode::kOutOfMemory);
        return;
      }
      if (j.dw) {
        j.c->run_dw_task(j.x, j.h, j.w, j.oh, j.ow, j.x_ps, j.y, j.y_ps, p0, p1, ws);
      } else {
        Status st;
        j.c->run_im2col_task(j.x, j.x_end, j.h, j.w, j.oh, j.ow, j.x_ps, j.y, j.y_ps, g, p0, p1, ws, &st);
        if (!st.ok()) cx.status_code = static_cast<int>(st.code());
      }
    };
    tasks = static_cast<size_t>(groups * tiles);
    if (pf.run) {
      pf.run(pf.ctx, tasks, task, &ctx);
    } else {
      for (size_t t = 0; t < tasks; ++t) task(&ctx, t);
    }
    if (ctx.status_code != 0) return internal::workspace_error();  // only a workspace can fail here
  }
  if (verbose.active()) {
    verbose.record(c.isa, c.path == ConvPath::kDirect && !direct ? c.narrow_kernel : c.kernel,
                   "n" + std::to_string(batch) + "h" + std::to_string(h) + "w" + std::to_string(w) + "oh" +
                       std::to_string(oh) + "ow" + std::to_string(ow) + " tasks:" + std::to_string(tasks));
  }
  return Status();
}

}  // namespace qkern
