// fuzz/fuzz_conv.cc: QConv2d (qkern/conv.hpp) on every ISA against the
// direct convolution of reference/conv_ref.h.
//
// One input is one convolution: images up to 12 x 12 (batch 0..3), up to 24
// input and output channels, groups (plain, grouped, depthwise, channel
// multiplier > 1), kernels 1..5 per side (sometimes 7), strides 1..3
// (sometimes larger than the kernel), dilations 1..3, asymmetric padding
// (sometimes larger than the kernel), OHWI or OIHW weights (random, extreme,
// alternating), per-channel or per-tensor scales, every output kind and
// scheme with clamps and biases, pixel strides with garbage in their gaps,
// and a ParallelFor that shuffles the tasks or runs them on a pool. Inputs
// whose padded size is smaller than the dilated kernel must be rejected by
// run() and output_size(); about one case in six breaks another argument.
// Checks, per ISA, with the JIT off and (where it has generators for the
// ISA) on, since the 1x1 and im2col paths run QGemms:
//   - ok exactly when the arguments are valid, the same Status on every ISA;
//     create() picks the capped ISA's own kernels and the path the geometry
//     calls for (gemm_1x1, depthwise, im2col; with the JIT on, direct may
//     replace im2col for groups 1 and unit dilation_w); output_size() agrees with
//     ref::conv_out_dim; a failed run() writes nothing;
//   - Y equals the reference (ref::conv_acc and ref::gemm_store, which is
//     ref::conv2d) byte for byte, pixel-stride gaps and guards included;
//     float outputs bit for bit with NaN equal to NaN. X is allocated to its
//     last pixel's last channel, so a read past it is an ASan report.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "qkern/conv.hpp"
#include "reference/conv_ref.h"
#include "reference/gemm_ref.h"

namespace qkern {
namespace fuzz {
namespace {

enum class Bad {
  kNone,
  // create()
  kGeometry, kHuge, kPad, kInputGroups, kOutputGroups, kTooManyTaps, kLayout, kNullWeights, kZeroPoint,
  kActivationScale, kWeightScale, kOutputScale, kOutputZeroPoint, kClamp, kOutputBits,
  // run()
  kBatch, kHeight, kWidth, kXStride, kYStride, kNullX, kNullY, kRunOverflow, kNotCreated,
  kCount
};
bool IsRunBad(Bad b) { return b >= Bad::kBatch; }

void Run(Input& in) {
  Case c;
  QConv2dParams p;
  // ---- geometry
  // Most cases small (executions stay fast), the rest up to 24 channels and 12 x 12.
  const bool small = in.chance(190);
  const int64_t max_c = small ? 8 : 24, max_hw = small ? 6 : 12;
  const int gk = in.u8();
  int64_t groups, icg, ocg;
  if (gk < 140) {
    groups = 1, icg = in.range(1, max_c), ocg = in.range(1, max_c);
  } else if (gk < 200) {
    groups = in.range(2, max_c), icg = 1, ocg = in.chance(200) ? 1 : in.range(2, 3);  // depthwise, multiplier
  } else {
    groups = in.range(2, 6), icg = in.range(1, 4), ocg = in.range(1, 4);
  }
  groups = std::min<int64_t>(groups, max_c / std::max(icg, ocg));
  p.groups = std::max<int64_t>(groups, 1);
  p.input_channels = p.groups * icg;
  p.output_channels = p.groups * ocg;
  const int kk = in.u8();
  if (kk < 70) {
    p.kernel_h = p.kernel_w = 1;
  } else if (kk < 170) {
    p.kernel_h = p.kernel_w = in.boolean() ? 3 : 5;
  } else {
    p.kernel_h = in.range(1, 5), p.kernel_w = in.chance(230) ? in.range(1, 5) : 7;
  }
  p.stride_h = in.chance(170) ? 1 : in.range(2, in.chance(220) ? 3 : 6);
  p.stride_w = in.chance(200) ? p.stride_h : in.range(1, 3);
  p.dilation_h = in.chance(210) ? 1 : in.range(2, 3);
  p.dilation_w = in.chance(220) ? p.dilation_h : in.range(1, 3);
  if (in.chance(150)) {
    p.pad_top = p.pad_bottom = p.kernel_h / 2 * p.dilation_h;
    p.pad_left = p.pad_right = p.kernel_w / 2 * p.dilation_w;
  } else if (in.chance(128)) {
    p.pad_top = in.range(0, 3), p.pad_left = in.range(0, 3), p.pad_bottom = in.range(0, 3), p.pad_right = in.range(0, 3);
  }
  if (in.chance(12)) p.pad_bottom = in.range(4, 8);  // padding larger than the kernel
  p.weight_layout = in.boolean() ? ConvWeightLayout::kOIHW : ConvWeightLayout::kOHWI;
  p.activation_signed = in.boolean();
  const int32_t a_min = p.activation_signed ? -128 : 0, a_max = p.activation_signed ? 127 : 255;
  const int zk = in.u8();
  p.activation_zero_point = zk < 50 ? a_min : zk < 100 ? a_max : zk < 130 ? 0 : static_cast<int32_t>(in.range(a_min, a_max));
  const int64_t batch = in.chance(8) ? 0 : in.range(1, in.chance(200) ? 1 : 3);
  const int64_t h = in.range(1, max_hw), w = in.range(1, max_hw);
  const int64_t x_ps = in.chance(170) ? 0 : p.input_channels + in.range(1, 8);
  const int64_t y_ps = in.chance(170) ? 0 : p.output_channels + in.range(1, 8);
  const int64_t xs = x_ps ? x_ps : p.input_channels, ys = y_ps ? y_ps : p.output_channels;
  c.add("batch", batch).add("h", h).add("w", w).add("ic", p.input_channels).add("oc", p.output_channels)
      .add("groups", p.groups).add("k", Str(p.kernel_h, "x", p.kernel_w)).add("s", Str(p.stride_h, "x", p.stride_w))
      .add("d", Str(p.dilation_h, "x", p.dilation_w))
      .add("pad", Str(p.pad_top, ",", p.pad_left, ",", p.pad_bottom, ",", p.pad_right))
      .add("layout", p.weight_layout == ConvWeightLayout::kOIHW ? "oihw" : "ohwi").add("x_ps", x_ps).add("y_ps", y_ps)
      .add("a_signed", p.activation_signed).add("za", p.activation_zero_point);

  // ---- weights, scales, output
  const int64_t taps = p.kernel_h * p.kernel_w;
  std::vector<int8_t> wts(static_cast<size_t>(p.output_channels * taps * icg));
  const int w_kind = static_cast<int>(in.range(0, 4));
  for (size_t i = 0; i < wts.size(); ++i) {
    wts[i] = w_kind == 0 ? 127 : w_kind == 1 ? -128 : w_kind == 2 ? (i % 2 ? -128 : 127) : static_cast<int8_t>(in.u8());
  }
  p.weights = wts.data();
  p.weight_scale_per_channel = in.chance(170);
  std::vector<float> wscale(static_cast<size_t>(p.output_channels));
  for (auto& s : wscale) s = DecodeGemmScale(in);
  p.weight_scale = wscale.data();
  p.activation_scale = DecodeGemmScale(in);
  GemmOutputData out;
  DecodeGemmOutput(in, c, p.output_channels, true, &p, &out);
  c.add("w_kind", w_kind).add("per_channel", p.weight_scale_per_channel).add("sa", p.activation_scale).add("sw0", wscale[0]);

  // ---- X: up to the last pixel's last channel; garbage in the pixel gaps
  const int64_t pixels_in = batch * h * w;
  std::vector<uint8_t> x(static_cast<size_t>(pixels_in > 0 ? (pixels_in - 1) * xs + p.input_channels : 1));
  for (auto& b : x) b = in.u8();
  const int x_kind = static_cast<int>(in.range(0, 3));
  const int32_t far = p.activation_zero_point > (a_min + a_max) / 2 ? a_min : a_max;
  for (int64_t i = 0; i < pixels_in; ++i) {
    for (int64_t ch = 0; ch < p.input_channels; ++ch) {
      const int32_t v = x_kind == 0 ? far : x_kind == 1 ? p.activation_zero_point : static_cast<int32_t>(in.range(a_min, a_max));
      x[static_cast<size_t>(i * xs + ch)] = static_cast<uint8_t>(v);
    }
  }
  c.add("x_kind", x_kind);

  // ---- the reference
  const int64_t oh = ref::conv_out_dim(h, p.pad_top, p.pad_bottom, p.kernel_h, p.dilation_h, p.stride_h);
  const int64_t ow = ref::conv_out_dim(w, p.pad_left, p.pad_right, p.kernel_w, p.dilation_w, p.stride_w);
  const bool fits = oh > 0 && ow > 0;
  const int64_t pixels_out = fits ? batch * oh * ow : 0;
  std::vector<int32_t> acc(static_cast<size_t>(pixels_out * p.output_channels));
  int64_t acc_lo = 0, acc_hi = 1;
  for (int64_t b = 0; b < batch && fits; ++b) {
    for (int64_t y = 0; y < oh; ++y) {
      for (int64_t xo = 0; xo < ow; ++xo) {
        for (int64_t oc = 0; oc < p.output_channels; ++oc) {
          const int32_t v = ref::conv_acc(p, x.data(), h, w, xs, b, y, xo, oc);
          acc[static_cast<size_t>(((b * oh + y) * ow + xo) * p.output_channels + oc)] = v;
          acc_lo = std::min<int64_t>(acc_lo, v), acc_hi = std::max<int64_t>(acc_hi, v);
        }
      }
    }
  }
  if (out.span_scale) p.output_scale = SpanOutputScale(acc_lo, acc_hi, p.activation_scale * wscale[0]);
  const bool scales_ok = FixedPointScalesValid(p, wscale.data(), p.weight_scale_per_channel ? p.output_channels : 1);
  c.add("so", p.output_scale).add("oh", oh).add("ow", ow).add("fixed_scales_ok", scales_ok);

  // ---- one broken argument, now and then
  Bad bad = Bad::kNone;
  QConv2dParams pc = p;
  int64_t run_batch = batch, run_h = h, run_w = w, run_xps = x_ps, run_yps = y_ps;
  bool null_x = false, null_y = false;
  std::vector<float> bad_wscale;
  if (in.chance(40)) {
    bad = static_cast<Bad>(in.range(1, static_cast<int64_t>(Bad::kCount) - 1));
    const bool requant = p.output == GemmOutput::kRequantized, scaled = p.output != GemmOutput::kInt32;
    int64_t* geometry[] = {&pc.input_channels, &pc.output_channels, &pc.kernel_h, &pc.kernel_w, &pc.stride_h,
                           &pc.stride_w, &pc.dilation_h, &pc.dilation_w, &pc.groups};
    int64_t* pads[] = {&pc.pad_top, &pc.pad_left, &pc.pad_bottom, &pc.pad_right};
    switch (bad) {
      case Bad::kGeometry: *geometry[in.range(0, 8)] = -in.range(0, 3); break;
      case Bad::kHuge: *geometry[in.range(0, 8)] = (int64_t{1} << 30) + in.range(1, 1000); break;
      case Bad::kPad: *pads[in.range(0, 3)] = in.boolean() ? -in.range(1, 3) : (int64_t{1} << 30) + 1; break;
      case Bad::kInputGroups:  // IC not divisible by groups (OC still is)
        if (p.groups < 2 || icg < 1) bad = Bad::kNone; else pc.input_channels = p.input_channels - 1, pc.output_channels = p.output_channels;
        if (bad != Bad::kNone && pc.input_channels % p.groups == 0) bad = Bad::kNone;
        break;
      case Bad::kOutputGroups:
        if (p.groups < 2) bad = Bad::kNone; else pc.output_channels = p.output_channels + 1;
        break;
      case Bad::kTooManyTaps: pc.kernel_h = in.range(300, 1000), pc.kernel_w = in.range(300, 1000); break;
      case Bad::kLayout: pc.weight_layout = static_cast<ConvWeightLayout>(in.range(2, 9)); break;
      case Bad::kNullWeights: pc.weights = nullptr; break;
      case Bad::kZeroPoint: pc.activation_zero_point = in.boolean() ? a_min - static_cast<int32_t>(in.range(1, 300)) : a_max + static_cast<int32_t>(in.range(1, 300)); break;
      case Bad::kActivationScale: if (!scaled) bad = Bad::kNone; else pc.activation_scale = in.pick({0.0f, -1.0f, NAN, -INFINITY}); break;
      case Bad::kWeightScale:
        if (!scaled) {
          bad = Bad::kNone;
        } else {
          bad_wscale = wscale;
          bad_wscale[static_cast<size_t>(in.range(0, p.weight_scale_per_channel ? p.output_channels - 1 : 0))] = in.pick({0.0f, -3.0f, NAN, INFINITY});
          pc.weight_scale = bad_wscale.data();
        }
        break;
      case Bad::kOutputScale: if (!requant) bad = Bad::kNone; else pc.output_scale = in.pick({0.0f, -1.0f, NAN, INFINITY}); break;
      case Bad::kOutputZeroPoint:
        if (!requant) bad = Bad::kNone;
        else pc.output_zero_point = in.boolean() ? qmin(p.output_range) - static_cast<int32_t>(in.range(1, 300)) : qmax(p.output_range) + static_cast<int32_t>(in.range(1, 300));
        break;
      case Bad::kClamp:
        if (!requant) bad = Bad::kNone;
        else pc.hi = qmin(p.output_range) - static_cast<int32_t>(in.range(1, 100)), pc.lo = INT32_MIN;
        break;
      case Bad::kOutputBits: if (!requant) bad = Bad::kNone; else pc.output_range.bits = static_cast<int>(in.range(9, 16)); break;
      case Bad::kBatch: run_batch = -in.range(1, 5); break;
      case Bad::kHeight: run_h = in.boolean() ? -in.range(0, 3) : (int64_t{1} << 30) + 1; break;
      case Bad::kWidth: run_w = in.boolean() ? -in.range(0, 3) : (int64_t{1} << 30) + 1; break;
      case Bad::kXStride: run_xps = p.input_channels > 1 && in.boolean() ? in.range(1, p.input_channels - 1) : -in.range(1, 5); break;
      case Bad::kYStride: run_yps = p.output_channels > 1 && in.boolean() ? in.range(1, p.output_channels - 1) : -in.range(1, 5); break;
      case Bad::kNullX: if (batch == 0 || !fits) bad = Bad::kNone; else null_x = true; break;
      case Bad::kNullY: if (batch == 0 || !fits) bad = Bad::kNone; else null_y = true; break;
      case Bad::kRunOverflow:  // batch * h * w * x_pixel_stride beyond int64
        if (!fits || h * w * xs < 2) bad = Bad::kNone; else run_batch = INT64_MAX / (h * w) / xs + 1;
        break;
      default: break;  // kNotCreated
    }
    c.add("bad", static_cast<int>(bad));
  }
  const bool create_ok = scales_ok && (bad == Bad::kNone || IsRunBad(bad));
  const bool run_ok = fits && (bad == Bad::kNone || !IsRunBad(bad));
  Announce(c);

  // ---- the expected Y
  const bool out_float = p.output == GemmOutput::kFloat;
  const size_t elem = p.output == GemmOutput::kRequantized ? 1 : 4;
  const QGemmParams op = ref::conv_output_params(p);
  const uint8_t pattern = in.u8();
  Guarded want(static_cast<size_t>(pixels_out > 0 ? (pixels_out - 1) * ys + p.output_channels : 0) * elem, pattern);
  Guarded got(want.bytes(), pattern);
  for (int64_t i = 0; i < pixels_out; ++i) {
    for (int64_t oc = 0; oc < p.output_channels; ++oc) {
      ref::gemm_store(op, acc[static_cast<size_t>(i * p.output_channels + oc)], oc, want.data(), i * ys + oc);
    }
  }
  const bool depthwise = icg == 1 && ocg == 1 && p.groups > 1;
  const bool one_by_one = p.kernel_h == 1 && p.kernel_w == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 &&
                          p.pad_left == 0 && p.pad_bottom == 0 && p.pad_right == 0;
  const ConvPath path = depthwise ? ConvPath::kDepthwise : one_by_one ? ConvPath::kGemm1x1 : ConvPath::kIm2col;
  // Where im2col is due, the JIT's direct path may take it (groups 1, unit
  // dilation_w; which ones also depends on the config's tile).
  const bool direct_ok = path == ConvPath::kIm2col && p.groups == 1 && p.dilation_w == 1;
  const int pool_kind = in.chance(200) ? 0 : in.chance(220) ? 1 : 2;
  FuzzPool pool(pool_kind, in.u64());
  c.add("pool", pool_kind);

  StatusAgreement agree_create("QConv2d::create"), agree_run("QConv2d::run"), agree_size("QConv2d::output_size");
  ForEachIsaAndJit([&](Isa isa, bool jit_on) {
    // The JIT serves the GEMMs of the 1x1 and im2col paths, and the direct path.
    QConv2d conv;
    Status s = bad == Bad::kNotCreated ? Status() : QConv2d::create(pc, &conv);
    agree_create.check(isa, s, c);
    ExpectStatus(isa, "QConv2d::create", s, bad == Bad::kNotCreated || create_ok, c);
    if (!s.ok()) {
      if (conv.valid()) Fail(isa, "QConv2d::create failed but left a valid QConv2d", c);
      return;
    }
    if (bad != Bad::kNotCreated) {
      if (!OwnIsa(isa, conv.isa())) Fail(isa, Str("create() picked ", conv.kernel(), " (isa ", isa_name(conv.isa()), ")"), c);
      if (conv.path() != path && !(jit_on && direct_ok && conv.path() == ConvPath::kDirect)) {
        Fail(isa, Str("create() picked the ", conv_path_name(conv.path()), " path (", conv.kernel(), "), not ",
                      conv_path_name(path)),
             c);
      }
      int64_t goh = -7, gow = -7;
      const Status so = conv.output_size(h, w, &goh, &gow);
      agree_size.check(isa, so, c);
      ExpectStatus(isa, "QConv2d::output_size", so, fits, c);
      if (so.ok() && (goh != oh || gow != ow)) Fail(isa, Str("output_size gave ", goh, "x", gow, ", reference ", oh, "x", ow), c);
      if (!so.ok() && (goh != -7 || gow != -7)) Fail(isa, "output_size failed but wrote its outputs", c);
    }
    got.fill();
    s = conv.run(null_x ? nullptr : x.data(), run_batch, run_h, run_w, null_y ? nullptr : got.data(), run_xps, run_yps,
                 pool.hook());
    Tamper(isa, got.data(), got.bytes());
    agree_run.check(isa, s, c);
    ExpectStatus(isa, "QConv2d::run", s, run_ok, c);
    if (!s.ok()) return ExpectUntouched(isa, "QConv2d::run", got, c);
    CheckGemmOutput(isa, conv.kernel().c_str(), got, want, out_float, elem, pixels_out, p.output_channels, ys, c);
  });
}

}  // namespace
}  // namespace fuzz
}  // namespace qkern

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  qkern::fuzz::TargetName() = "fuzz_conv";
  qkern::fuzz::Input in(data, size);
  qkern::fuzz::Run(in);
  return 0;
}
