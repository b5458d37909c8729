// examples/mlp_conv.cc: quantized inference end to end through qkern's C++ API (qkern/qkern.hpp
// only), the way an inference engine drives it, with float references to show the error.
// examples/mlp_conv.c is the same program on the C ABI and prints the same numbers.
//
//   1. An MLP, 8 x 64 -> 128 (ReLU) -> 10. X is quantized to u8 per tensor (asymmetric
//      qkern::choose_qparams + qkern::quantize), each weight matrix to s8 per output channel
//      (symmetric, axis 0 of N x K), each bias to int32 on the accumulator grid
//      (round(bias / (sa * sw[n]))). Layer 1 is a qkern::QGemm with requantized u8 output and
//      the ReLU fused as the clamp lo = output zero point; layer 2 a QGemm with float output,
//      whose float bias (bias_f) the kernel adds exactly, in its final fma.
//   2. The MLP again on a 4-thread qkern::ThreadPool: the bytes must be the same.
//   3. A conv stack on a 1 x 20 x 20 x 8 NHWC image (qkern::QConv2d): 3x3 conv, stride 1,
//      pad 1, 8 -> 16, fused ReLU, u8 out; then a depthwise 3x3, stride 2, pad 1 (groups 16),
//      float out.
//
// Requantized outputs take their scale and zero point from choose_qparams over the float
// reference of the layer before its ReLU, so the zero point is > 0 and the clamp at it is what
// performs the ReLU. (Calibrating on the ReLU's output gives zero point 0 and twice the
// resolution; the clamp then coincides with the code range.)
//
// Error bound. Each quantizer's rounding error is uniform within half a step: std step/sqrt(12).
// In a dot product the input's errors add up to std (sa/sqrt(12)) * |w|, the weights' to
// (sw/sqrt(12)) * |x|, and requantizing to scale so adds so/sqrt(12). With these tensors (U(+-1)
// inputs, U(+-1/sqrt(fan_in)) weights) that is about 0.003 per hidden unit and 0.002 per logit;
// the largest of the 80 logit errors, ~2.5 std, is ~0.005: 1.3% of max |logit| (measured 0.9%;
// the conv stack likewise). The checks allow 5% of max |reference|, four times that. Flipping the
// sign of a layer's largest weight code already exceeds it (5-80%), dropping the ReLU clamp gives
// 70-80%, garbage about 100%. Exits 1 if a call fails or a check fails.
//
// Run: build/release/examples/mlp_conv_cpp (milliseconds).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "qkern/qkern.hpp"

namespace {

constexpr int kBatch = 8, kIn = 64, kHidden = 128, kOut = 10;
constexpr int kH = 20, kW = 20, kCIn = 8, kCMid = 16;
constexpr int kHOut = 10;  // (20 + 1 + 1 - 3) / 2 + 1
constexpr double kMaxRelError = 0.05;
const qkern::QuantRange kU8{8, false}, kS8{8, true};

// Stops the program at the first failed call, with the library's message.
void Check(const qkern::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "mlp_conv: %s: %s\n", what, s.to_string().c_str());
    std::exit(1);
  }
}

// A deterministic generator (32-bit xorshift), uniform in [-bound, bound): mlp_conv.c's.
uint32_t rng_state = 2024;
std::vector<float> Uniform(size_t n, float bound) {
  std::vector<float> x(n);
  for (float& v : x) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    v = bound * (static_cast<float>(rng_state >> 8) * (2.0f / 16777216.0f) - 1.0f);
  }
  return x;
}

// s8 weights per output channel, w [n][k]; the bias (if any) as int32 on the grid sa * sw[n].
struct QWeights {
  std::vector<int8_t> w;
  std::vector<float> scale;
  std::vector<int32_t> bias;
};
QWeights QuantizeWeights(const std::vector<float>& w, const std::vector<float>* b, int n, int k,
                         float sa) {
  QWeights q{std::vector<int8_t>(w.size()), std::vector<float>(n), {}};
  std::vector<int32_t> zero_point(n);  // symmetric: all 0
  const qkern::Dims dims{n, k};
  Check(qkern::choose_qparams(w.data(), dims, kS8, qkern::QParamsMode::kSymmetric, /*axis=*/0,
                              q.scale.data(), zero_point.data()),
        "choose_qparams(weights)");
  const qkern::QuantParams p{kS8, q.scale.data(), nullptr, /*axis=*/0};
  Check(qkern::quantize(w.data(), dims, p, q.w.data()), "quantize(weights)");
  for (int i = 0; b != nullptr && i < n; ++i) {
    q.bias.push_back(static_cast<int32_t>(std::lrint((*b)[i] / (double{sa} * q.scale[i]))));
  }
  return q;
}

// y[m][n] = sum_k x[m][k] w[n][k] + b[n], then ReLU if relu.
std::vector<float> Linear(const std::vector<float>& x, const std::vector<float>& w,
                          const std::vector<float>& b, int m, int n, int k, bool relu) {
  std::vector<float> y(static_cast<size_t>(m) * n);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double s = b[j];
      for (int l = 0; l < k; ++l) s += double{x[i * k + l]} * w[j * k + l];
      y[i * n + j] = static_cast<float>(relu && s < 0 ? 0 : s);
    }
  }
  return y;
}

// NHWC conv, OHWI weights, 3x3, pad 1, groups 1 or depthwise (groups == ic == oc).
std::vector<float> Conv3x3(const std::vector<float>& x, int h, int w, int ic,
                           const std::vector<float>& wt, const std::vector<float>& b, int oc,
                           int stride, bool depthwise, bool relu) {
  const int oh = (h + 2 - 3) / stride + 1, ow = (w + 2 - 3) / stride + 1, icg = depthwise ? 1 : ic;
  std::vector<float> y(static_cast<size_t>(oh) * ow * oc);
  for (int r = 0; r < oh; ++r) {
    for (int c = 0; c < ow; ++c) {
      for (int o = 0; o < oc; ++o) {
        double s = b[o];
        for (int kh = 0; kh < 3; ++kh) {
          for (int kw = 0; kw < 3; ++kw) {
            const int ih = r * stride - 1 + kh, iw = c * stride - 1 + kw;
            if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
            for (int i = 0; i < icg; ++i) {
              s += double{x[(ih * w + iw) * ic + (depthwise ? o : i)]} *
                   wt[((o * 3 + kh) * 3 + kw) * icg + i];
            }
          }
        }
        y[(r * ow + c) * oc + o] = static_cast<float>(relu && s < 0 ? 0 : s);
      }
    }
  }
  return y;
}

// Prints max |y - ref| and its ratio to max |ref|; returns whether the ratio is within bound.
bool Report(const char* what, const std::vector<float>& y, const std::vector<float>& ref) {
  double err = 0, peak = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double e = std::fabs(double{y[i]} - ref[i]);
    if (e > err || std::isnan(e)) err = e;  // a NaN sticks, and fails the check
    peak = std::max(peak, std::fabs(double{ref[i]}));
  }
  const bool good = err / peak <= kMaxRelError;
  std::printf("  %s: max |err| %.5f, %.2f%% of max |ref| %.4f (bound %.0f%%): %s\n", what, err,
              100 * err / peak, peak, 100 * kMaxRelError, good ? "ok" : "FAILED");
  return good;
}

// Chooses u8 per-tensor qparams for x and quantizes it.
std::vector<uint8_t> QuantizeU8(const std::vector<float>& x, const qkern::Dims& dims, float* scale,
                                int32_t* zero_point, const char* what) {
  Check(qkern::choose_qparams(x.data(), dims, kU8, qkern::QParamsMode::kAsymmetric, -1, scale,
                              zero_point),
        what);
  std::vector<uint8_t> q(x.size());
  const qkern::QuantParams p{kU8, scale, zero_point};
  Check(qkern::quantize(x.data(), dims, p, q.data()), what);
  return q;
}

}  // namespace

int main() {
  // ---- 1. the MLP ----
  const std::vector<float> x = Uniform(kBatch * kIn, 1.0f);
  const std::vector<float> w1 = Uniform(kHidden * kIn, 1 / std::sqrt(float{kIn}));  // PyTorch's
  const std::vector<float> b1 = Uniform(kHidden, 1 / std::sqrt(float{kIn}));  // Linear init
  const std::vector<float> w2 = Uniform(kOut * kHidden, 1 / std::sqrt(float{kHidden}));
  const std::vector<float> b2 = Uniform(kOut, 1 / std::sqrt(float{kHidden}));
  const std::vector<float> pre1 = Linear(x, w1, b1, kBatch, kHidden, kIn, false);
  const std::vector<float> ref = Linear(Linear(x, w1, b1, kBatch, kHidden, kIn, true), w2, b2,
                                        kBatch, kOut, kHidden, false);
  std::printf("qkern C++ API, active ISA %s\n", qkern::isa_name(qkern::active_isa()));

  float sa, s1;  // scales of X and of layer 1's output
  int32_t za, z1;
  const std::vector<uint8_t> xq = QuantizeU8(x, qkern::Dims{kBatch, kIn}, &sa, &za, "quantize(x)");
  Check(qkern::choose_qparams(pre1.data(), qkern::Dims{kBatch, kHidden}, kU8,
                              qkern::QParamsMode::kAsymmetric, -1, &s1, &z1),
        "choose_qparams(layer 1)");
  const QWeights q1 = QuantizeWeights(w1, &b1, kHidden, kIn, sa);
  const QWeights q2 = QuantizeWeights(w2, nullptr, kOut, kHidden, s1);

  qkern::QGemmParams gp;  // u8 activations, NK weights, per-channel scales, u8 output
  gp.n = kHidden;
  gp.k = kIn;
  gp.activation_zero_point = za;
  gp.activation_scale = sa;
  gp.weights = q1.w.data();
  gp.weight_scale = q1.scale.data();
  gp.bias = q1.bias.data();
  gp.output_scale = s1;
  gp.output_zero_point = z1;
  gp.lo = z1;  // ReLU: codes below the zero point are negative values
  qkern::QGemm fc1, fc2;
  Check(qkern::QGemm::create(gp, &fc1), "QGemm::create(layer 1)");
  gp = qkern::QGemmParams();
  gp.n = kOut;
  gp.k = kHidden;
  gp.activation_zero_point = z1;
  gp.activation_scale = s1;
  gp.weights = q2.w.data();
  gp.weight_scale = q2.scale.data();
  gp.output = qkern::GemmOutput::kFloat;
  gp.bias_f = b2.data();
  Check(qkern::QGemm::create(gp, &fc2), "QGemm::create(layer 2)");
  // The weights could be freed here: create() packed them.
  std::vector<uint8_t> h1q(kBatch * kHidden);
  std::vector<float> logits(kBatch * kOut);
  Check(fc1.run(xq.data(), kBatch, kIn, h1q.data(), kHidden), "QGemm::run(layer 1)");
  Check(fc2.run(h1q.data(), kBatch, kHidden, logits.data(), kOut), "QGemm::run(layer 2)");

  std::printf("MLP %d x %d -> %d (ReLU) -> %d\n", kBatch, kIn, kHidden, kOut);
  std::printf("  x u8: scale %.6f, zero point %d\n", sa, za);
  std::printf("  layer 1: %s (%s)\n", fc1.kernel().c_str(), qkern::isa_name(fc1.isa()));
  std::printf("           u8 out: scale %.6f, zero point %d = clamp lo (the ReLU)\n", s1, z1);
  std::printf("  layer 2: %s (%s)\n", fc2.kernel().c_str(), qkern::isa_name(fc2.isa()));
  std::printf("           float out, float bias\n");
  bool good = Report("logits", logits, ref);
  std::printf("  argmax (float / quantized):");
  int agree = 0;
  for (int m = 0; m < kBatch; ++m) {
    const auto argmax = [&](const std::vector<float>& v) {
      return std::max_element(v.begin() + m * kOut, v.begin() + (m + 1) * kOut) -
             (v.begin() + m * kOut);
    };
    agree += argmax(ref) == argmax(logits);
    std::printf(" %d/%d", static_cast<int>(argmax(ref)), static_cast<int>(argmax(logits)));
  }
  std::printf("; %d of %d rows agree\n", agree, kBatch);

  // ---- 2. the MLP on a thread pool: the same bytes ----
#ifndef QKERN_TEST_EMULATED
  {
    qkern::ThreadPool pool(4);
    std::vector<uint8_t> h1q_pool(h1q.size());
    std::vector<float> logits_pool(logits.size());
    Check(fc1.run(xq.data(), kBatch, kIn, h1q_pool.data(), kHidden, pool.parallel_for()),
          "QGemm::run(layer 1, pool)");
    Check(fc2.run(h1q_pool.data(), kBatch, kHidden, logits_pool.data(), kOut, pool.parallel_for()),
          "QGemm::run(layer 2, pool)");
    const bool same = h1q == h1q_pool && std::memcmp(logits.data(), logits_pool.data(),
                                                     logits.size() * sizeof(float)) == 0;
    std::printf("  %d-thread pool: %s\n", pool.threads(),
                same ? "bitwise identical to the inline run" : "DIFFERS from the inline run");
    good = good && same;
  }
#else
  std::printf("  thread pool: skipped (emulated)\n");
#endif

  // ---- 3. the conv stack ----
  const std::vector<float> img = Uniform(kH * kW * kCIn, 1.0f);
  const std::vector<float> wc = Uniform(kCMid * 9 * kCIn, 1 / std::sqrt(float{9 * kCIn}));
  const std::vector<float> bc = Uniform(kCMid, 1 / std::sqrt(float{9 * kCIn}));
  const std::vector<float> wd = Uniform(kCMid * 9, 1 / 3.0f);
  const std::vector<float> bd = Uniform(kCMid, 1 / 3.0f);
  const std::vector<float> pre_c = Conv3x3(img, kH, kW, kCIn, wc, bc, kCMid, 1, false, false);
  const std::vector<float> ref_d =
      Conv3x3(Conv3x3(img, kH, kW, kCIn, wc, bc, kCMid, 1, false, true), kH, kW, kCMid, wd, bd,
              kCMid, 2, true, false);

  float si, sc;  // scales of the image and of the conv's output
  int32_t zi, zc;
  const std::vector<uint8_t> imgq =
      QuantizeU8(img, qkern::Dims{1, kH, kW, kCIn}, &si, &zi, "quantize(image)");
  Check(qkern::choose_qparams(pre_c.data(), qkern::Dims{1, kH, kW, kCMid}, kU8,
                              qkern::QParamsMode::kAsymmetric, -1, &sc, &zc),
        "choose_qparams(conv)");
  // OHWI weights are [OC][KH * KW * IC] matrices: per channel is axis 0 again.
  const QWeights qc = QuantizeWeights(wc, &bc, kCMid, 9 * kCIn, si);
  const QWeights qd = QuantizeWeights(wd, nullptr, kCMid, 9, sc);

  qkern::QConv2dParams cp;  // 1x1, stride 1, no padding, u8 in and out
  cp.input_channels = kCIn;
  cp.output_channels = kCMid;
  cp.kernel_h = cp.kernel_w = 3;
  cp.pad_top = cp.pad_left = cp.pad_bottom = cp.pad_right = 1;
  cp.activation_zero_point = zi;
  cp.activation_scale = si;
  cp.weights = qc.w.data();
  cp.weight_scale = qc.scale.data();
  cp.bias = qc.bias.data();
  cp.output_scale = sc;
  cp.output_zero_point = zc;
  cp.lo = zc;
  qkern::QConv2d conv, dw;
  Check(qkern::QConv2d::create(cp, &conv), "QConv2d::create(conv)");
  cp.input_channels = cp.groups = kCMid;
  cp.stride_h = cp.stride_w = 2;
  cp.activation_zero_point = zc;
  cp.activation_scale = sc;
  cp.weights = qd.w.data();
  cp.weight_scale = qd.scale.data();
  cp.bias = nullptr;
  cp.output = qkern::GemmOutput::kFloat;
  cp.bias_f = bd.data();
  cp.lo = INT32_MIN;  // unused by float output
  Check(qkern::QConv2d::create(cp, &dw), "QConv2d::create(depthwise)");
  int64_t oh = 0, ow = 0;
  Check(dw.output_size(kH, kW, &oh, &ow), "QConv2d::output_size");
  if (oh != kHOut || ow != kHOut) {
    std::fprintf(stderr, "mlp_conv: depthwise output %lld x %lld\n", static_cast<long long>(oh),
                 static_cast<long long>(ow));
    return 1;
  }
  std::vector<uint8_t> hcq(kH * kW * kCMid);
  std::vector<float> out(kHOut * kHOut * kCMid);
  Check(conv.run(imgq.data(), 1, kH, kW, hcq.data()), "QConv2d::run(conv)");
  Check(dw.run(hcq.data(), 1, kH, kW, out.data()), "QConv2d::run(depthwise)");

  std::printf("conv 1 x %d x %d x %d -> 3x3 (ReLU) -> %d channels -> depthwise 3x3 stride 2 -> "
              "%d x %d x %d\n", kH, kW, kCIn, kCMid, kHOut, kHOut, kCMid);
  std::printf("  image u8: scale %.6f, zero point %d\n", si, zi);
  std::printf("  conv:      %s (%s path, %s)\n", conv.kernel().c_str(),
              qkern::conv_path_name(conv.path()), qkern::isa_name(conv.isa()));
  std::printf("             u8 out: scale %.6f, zero point %d = clamp lo (the ReLU)\n", sc, zc);
  std::printf("  depthwise: %s (%s path, %s)\n", dw.kernel().c_str(),
              qkern::conv_path_name(dw.path()), qkern::isa_name(dw.isa()));
  std::printf("             float out, float bias\n");
  good = Report("output", out, ref_d) && good;
  if (!good) std::fprintf(stderr, "mlp_conv: a check failed\n");
  return good ? 0 : 1;
}
