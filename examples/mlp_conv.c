/* examples/mlp_conv.c: quantized inference end to end through qkern's C ABI (qkern/qkern.h
 * only), the way an inference engine drives it, with float references to show the error.
 * examples/mlp_conv.cc is the same program in C++ and prints the same numbers.
 *
 *   1. An MLP, 8 x 64 -> 128 (ReLU) -> 10. X is quantized to u8 per tensor (asymmetric
 *      qkern_choose_qparams + qkern_quantize), each weight matrix to s8 per output channel
 *      (symmetric, axis 0 of N x K), each bias to int32 on the accumulator grid
 *      (round(bias / (sa * sw[n]))). Layer 1 is a qkern_gemm with requantized u8 output and
 *      the ReLU fused as the clamp lo = output zero point; layer 2 a qkern_gemm with float
 *      output, whose float bias (bias_f) the kernel adds exactly, in its final fma.
 *   2. The MLP again on a 4-thread qkern_thread_pool: the bytes must be the same.
 *   3. A conv stack on a 1 x 20 x 20 x 8 NHWC image: 3x3 conv, stride 1, pad 1, 8 -> 16,
 *      fused ReLU, u8 out; then a depthwise 3x3, stride 2, pad 1 (groups 16), float out.
 *
 * Requantized outputs take their scale and zero point from qkern_choose_qparams over the float
 * reference of the layer before its ReLU, so the zero point is > 0 and the clamp at it is what
 * performs the ReLU. (Calibrating on the ReLU's output gives zero point 0 and twice the
 * resolution; the clamp then coincides with the code range.)
 *
 * Error bound. Each quantizer's rounding error is uniform within half a step: std step/sqrt(12).
 * In a dot product the input's errors add up to std (sa/sqrt(12)) * |w|, the weights' to
 * (sw/sqrt(12)) * |x|, and requantizing to scale so adds so/sqrt(12). With these tensors (U(+-1)
 * inputs, U(+-1/sqrt(fan_in)) weights) that is about 0.003 per hidden unit and 0.002 per logit;
 * the largest of the 80 logit errors, ~2.5 std, is ~0.005: 1.3% of max |logit| (measured 0.9%;
 * the conv stack likewise). The checks allow 5% of max |reference|, four times that. Flipping the
 * sign of a layer's largest weight code already exceeds it (5-80%), dropping the ReLU clamp gives
 * 70-80%, garbage about 100%. Exits 1 if a call fails or a check fails.
 *
 * Run: build/release/examples/mlp_conv_c (milliseconds).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "qkern/qkern.h"

#define BATCH 8
#define IN 64
#define HIDDEN 128
#define OUT 10
#define H 20
#define W 20
#define C_IN 8
#define C_MID 16
#define H_OUT 10 /* (20 + 1 + 1 - 3) / 2 + 1 */
#define MAX_REL_ERROR 0.05

/* A deterministic generator (32-bit xorshift), uniform in [-bound, bound). */
static uint32_t rng_state = 2024;
static float uniform(float bound) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return bound * ((float)(rng_state >> 8) * (2.0f / 16777216.0f) - 1.0f);
}
static void fill(float* x, int n, float bound) {
  for (int i = 0; i < n; ++i) x[i] = uniform(bound);
}

/* Prints the failed call's status and message; the caller then cleans up and exits 1. */
static int ok(qkern_status s, const char* what) {
  if (s != QKERN_OK)
    fprintf(stderr, "mlp_conv: %s: %s: %s\n", what, qkern_status_name(s), qkern_last_error());
  return s == QKERN_OK;
}
#define CHECK(call, what) do { if (!ok((call), what)) goto done; } while (0)

static const qkern_quant_range kU8 = {8, 0, 0}, kS8 = {8, 1, 0};

/* s8 per-channel weights w[n][k] -> wq, scales sw[n]; bias b[n] -> int32 on the grid sa * sw[n]. */
static int quantize_weights(const float* w, const float* b, int n, int k, float sa, int8_t* wq,
                            float* sw, int32_t* bias) {
  int32_t zp[HIDDEN]; /* n <= HIDDEN; symmetric s8: all 0 */
  qkern_dims dims = {2, {n, k}};
  if (!ok(qkern_choose_qparams(w, &dims, kS8, QKERN_QPARAMS_SYMMETRIC, 0, sw, zp),
          "choose_qparams(weights)"))
    return 0;
  qkern_quant_params p;
  qkern_quant_params_init(&p);
  p.range = kS8;
  p.scale = sw;
  p.axis = 0;
  if (!ok(qkern_quantize(w, &dims, &p, wq, QKERN_QUANTIZE_MULTIPLY), "quantize(weights)")) return 0;
  for (int i = 0; b != NULL && i < n; ++i) bias[i] = (int32_t)lrint(b[i] / ((double)sa * sw[i]));
  return 1;
}

/* y[m][n] = sum_k x[m][k] w[n][k] + b[n], then ReLU if relu. */
static void linear(const float* x, const float* w, const float* b, int m, int n, int k, int relu,
                   float* y) {
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = b[j];
      for (int l = 0; l < k; ++l) s += (double)x[i * k + l] * w[j * k + l];
      y[i * n + j] = (float)(relu && s < 0 ? 0 : s);
    }
}

/* NHWC conv, OHWI weights, 3x3, pad 1, groups 1 or depthwise (groups == ic == oc). */
static void conv3x3(const float* x, int h, int w, int ic, const float* wt, const float* b, int oc,
                    int stride, int depthwise, int relu, float* y) {
  int oh = (h + 2 - 3) / stride + 1, ow = (w + 2 - 3) / stride + 1, icg = depthwise ? 1 : ic;
  for (int r = 0; r < oh; ++r)
    for (int c = 0; c < ow; ++c)
      for (int o = 0; o < oc; ++o) {
        double s = b[o];
        for (int kh = 0; kh < 3; ++kh)
          for (int kw = 0; kw < 3; ++kw) {
            int ih = r * stride - 1 + kh, iw = c * stride - 1 + kw;
            if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
            for (int i = 0; i < icg; ++i)
              s += (double)x[(ih * w + iw) * ic + (depthwise ? o : i)] *
                   wt[((o * 3 + kh) * 3 + kw) * icg + i];
          }
        y[(r * ow + c) * oc + o] = (float)(relu && s < 0 ? 0 : s);
      }
}

/* Prints max |y - ref| and its ratio to max |ref|; returns whether the ratio is within bound. */
static int report(const char* what, const float* y, const float* ref, int n) {
  double err = 0, peak = 0;
  for (int i = 0; i < n; ++i) {
    double e = fabs((double)y[i] - ref[i]);
    if (e > err || isnan(e)) err = e; /* a NaN sticks, and fails the check */
    if (fabs(ref[i]) > peak) peak = fabs(ref[i]);
  }
  int good = err / peak <= MAX_REL_ERROR;
  printf("  %s: max |err| %.5f, %.2f%% of max |ref| %.4f (bound %.0f%%): %s\n", what, err,
         100 * err / peak, peak, 100 * MAX_REL_ERROR, good ? "ok" : "FAILED");
  return good;
}

int main(void) {
  int status = 1;
  qkern_gemm *fc1 = NULL, *fc2 = NULL;
  qkern_conv2d *conv = NULL, *dw = NULL;
  qkern_thread_pool* pool = NULL;
  qkern_gemm_params gp;
  qkern_conv2d_params cp;

  /* ---- 1. the MLP ---- */
  static float x[BATCH * IN], w1[HIDDEN * IN], b1[HIDDEN], w2[OUT * HIDDEN], b2[OUT];
  static float pre1[BATCH * HIDDEN], h1[BATCH * HIDDEN], ref[BATCH * OUT];
  fill(x, BATCH * IN, 1.0f);
  fill(w1, HIDDEN * IN, 1 / sqrtf(IN)); /* PyTorch's Linear init: U(+-1/sqrt(fan_in)) */
  fill(b1, HIDDEN, 1 / sqrtf(IN));
  fill(w2, OUT * HIDDEN, 1 / sqrtf(HIDDEN));
  fill(b2, OUT, 1 / sqrtf(HIDDEN));
  linear(x, w1, b1, BATCH, HIDDEN, IN, 0, pre1);
  linear(x, w1, b1, BATCH, HIDDEN, IN, 1, h1);
  linear(h1, w2, b2, BATCH, OUT, HIDDEN, 0, ref);
  printf("qkern %s C ABI, active ISA %s\n", qkern_version(NULL, NULL, NULL),
         qkern_isa_name(qkern_active_isa()));

  float sa, s1; /* scales of X and of layer 1's output */
  int32_t za, z1;
  static uint8_t xq[BATCH * IN], h1q[BATCH * HIDDEN], h1q_pool[BATCH * HIDDEN];
  static int8_t w1q[HIDDEN * IN], w2q[OUT * HIDDEN];
  static float sw1[HIDDEN], sw2[OUT], logits[BATCH * OUT], logits_pool[BATCH * OUT];
  static int32_t bias1[HIDDEN];
  qkern_dims xdims = {2, {BATCH, IN}}, hdims = {2, {BATCH, HIDDEN}};
  CHECK(qkern_choose_qparams(x, &xdims, kU8, QKERN_QPARAMS_ASYMMETRIC, -1, &sa, &za),
        "choose_qparams(x)");
  qkern_quant_params xp;
  qkern_quant_params_init(&xp); /* u8, per tensor */
  xp.scale = &sa;
  xp.zero_point = &za;
  CHECK(qkern_quantize(x, &xdims, &xp, xq, QKERN_QUANTIZE_MULTIPLY), "quantize(x)");
  CHECK(qkern_choose_qparams(pre1, &hdims, kU8, QKERN_QPARAMS_ASYMMETRIC, -1, &s1, &z1),
        "choose_qparams(layer 1)");
  if (!quantize_weights(w1, b1, HIDDEN, IN, sa, w1q, sw1, bias1) ||
      !quantize_weights(w2, NULL, OUT, HIDDEN, s1, w2q, sw2, NULL))
    goto done;

  qkern_gemm_params_init(&gp); /* u8 activations, NK weights, per-channel scales, u8 output */
  gp.n = HIDDEN;
  gp.k = IN;
  gp.activation_zero_point = za;
  gp.activation_scale = sa;
  gp.weights = w1q;
  gp.weight_scale = sw1;
  gp.bias = bias1;
  gp.output_scale = s1;
  gp.output_zero_point = z1;
  gp.lo = z1; /* ReLU: codes below the zero point are negative values */
  CHECK(qkern_gemm_create(&gp, &fc1), "gemm_create(layer 1)");
  qkern_gemm_params_init(&gp);
  gp.n = OUT;
  gp.k = HIDDEN;
  gp.activation_zero_point = z1;
  gp.activation_scale = s1;
  gp.weights = w2q;
  gp.weight_scale = sw2;
  gp.output = QKERN_OUTPUT_FLOAT;
  gp.bias_f = b2;
  CHECK(qkern_gemm_create(&gp, &fc2), "gemm_create(layer 2)");
  /* The weights could be freed here: create() packed them. */
  CHECK(qkern_gemm_run(fc1, xq, BATCH, IN, h1q, HIDDEN, NULL), "gemm_run(layer 1)");
  CHECK(qkern_gemm_run(fc2, h1q, BATCH, HIDDEN, logits, OUT, NULL), "gemm_run(layer 2)");

  printf("MLP %d x %d -> %d (ReLU) -> %d\n", BATCH, IN, HIDDEN, OUT);
  printf("  x u8: scale %.6f, zero point %d\n", sa, za);
  printf("  layer 1: %s (%s)\n", qkern_gemm_kernel(fc1), qkern_isa_name(qkern_gemm_isa(fc1)));
  printf("           u8 out: scale %.6f, zero point %d = clamp lo (the ReLU)\n", s1, z1);
  printf("  layer 2: %s (%s)\n", qkern_gemm_kernel(fc2), qkern_isa_name(qkern_gemm_isa(fc2)));
  printf("           float out, float bias\n");
  int good = report("logits", logits, ref, BATCH * OUT);
  printf("  argmax (float / quantized):");
  int agree = 0;
  for (int m = 0; m < BATCH; ++m) {
    int a = 0, b = 0;
    for (int j = 1; j < OUT; ++j) {
      if (ref[m * OUT + j] > ref[m * OUT + a]) a = j;
      if (logits[m * OUT + j] > logits[m * OUT + b]) b = j;
    }
    agree += a == b;
    printf(" %d/%d", a, b);
  }
  printf("; %d of %d rows agree\n", agree, BATCH);

  /* ---- 2. the MLP on a thread pool: the same bytes ---- */
#ifndef QKERN_TEST_EMULATED
  CHECK(qkern_thread_pool_create(4, &pool), "thread_pool_create");
  qkern_parallel_for pf = qkern_thread_pool_parallel_for(pool);
  CHECK(qkern_gemm_run(fc1, xq, BATCH, IN, h1q_pool, HIDDEN, &pf), "gemm_run(layer 1, pool)");
  CHECK(qkern_gemm_run(fc2, h1q_pool, BATCH, HIDDEN, logits_pool, OUT, &pf),
        "gemm_run(layer 2, pool)");
  int same = memcmp(h1q, h1q_pool, sizeof h1q) == 0 &&
             memcmp(logits, logits_pool, sizeof logits) == 0;
  printf("  %d-thread pool: %s\n", qkern_thread_pool_threads(pool),
         same ? "bitwise identical to the inline run" : "DIFFERS from the inline run");
  good = good && same;
#else
  (void)h1q_pool;
  (void)logits_pool;
  printf("  thread pool: skipped (emulated)\n");
#endif

  /* ---- 3. the conv stack ---- */
  static float img[H * W * C_IN], wc[C_MID * 9 * C_IN], bc[C_MID], wd[C_MID * 9], bd[C_MID];
  static float pre_c[H * W * C_MID], hc[H * W * C_MID], ref_d[H_OUT * H_OUT * C_MID];
  fill(img, H * W * C_IN, 1.0f);
  fill(wc, C_MID * 9 * C_IN, 1 / sqrtf(9 * C_IN));
  fill(bc, C_MID, 1 / sqrtf(9 * C_IN));
  fill(wd, C_MID * 9, 1 / 3.0f);
  fill(bd, C_MID, 1 / 3.0f);
  conv3x3(img, H, W, C_IN, wc, bc, C_MID, 1, 0, 0, pre_c);
  conv3x3(img, H, W, C_IN, wc, bc, C_MID, 1, 0, 1, hc);
  conv3x3(hc, H, W, C_MID, wd, bd, C_MID, 2, 1, 0, ref_d);

  float si, sc; /* scales of the image and of the conv's output */
  int32_t zi, zc;
  static uint8_t imgq[H * W * C_IN], hcq[H * W * C_MID];
  static int8_t wcq[C_MID * 9 * C_IN], wdq[C_MID * 9];
  static float swc[C_MID], swd[C_MID], out[H_OUT * H_OUT * C_MID];
  static int32_t biasc[C_MID];
  qkern_dims idims = {4, {1, H, W, C_IN}}, cdims = {4, {1, H, W, C_MID}};
  CHECK(qkern_choose_qparams(img, &idims, kU8, QKERN_QPARAMS_ASYMMETRIC, -1, &si, &zi),
        "choose_qparams(image)");
  xp.scale = &si;
  xp.zero_point = &zi;
  CHECK(qkern_quantize(img, &idims, &xp, imgq, QKERN_QUANTIZE_MULTIPLY), "quantize(image)");
  CHECK(qkern_choose_qparams(pre_c, &cdims, kU8, QKERN_QPARAMS_ASYMMETRIC, -1, &sc, &zc),
        "choose_qparams(conv)");
  /* OHWI weights are [OC][KH * KW * IC] matrices: per channel is axis 0 again. */
  if (!quantize_weights(wc, bc, C_MID, 9 * C_IN, si, wcq, swc, biasc) ||
      !quantize_weights(wd, NULL, C_MID, 9, sc, wdq, swd, NULL))
    goto done;

  qkern_conv2d_params_init(&cp); /* 1x1, stride 1, no padding, u8 in and out */
  cp.input_channels = C_IN;
  cp.output_channels = C_MID;
  cp.kernel_h = cp.kernel_w = 3;
  cp.pad_top = cp.pad_left = cp.pad_bottom = cp.pad_right = 1;
  cp.activation_zero_point = zi;
  cp.activation_scale = si;
  cp.weights = wcq;
  cp.weight_scale = swc;
  cp.bias = biasc;
  cp.output_scale = sc;
  cp.output_zero_point = zc;
  cp.lo = zc;
  CHECK(qkern_conv2d_create(&cp, &conv), "conv2d_create(conv)");
  cp.input_channels = cp.groups = C_MID;
  cp.stride_h = cp.stride_w = 2;
  cp.activation_zero_point = zc;
  cp.activation_scale = sc;
  cp.weights = wdq;
  cp.weight_scale = swd;
  cp.bias = NULL;
  cp.output = QKERN_OUTPUT_FLOAT;
  cp.bias_f = bd;
  cp.lo = INT32_MIN; /* unused by float output */
  CHECK(qkern_conv2d_create(&cp, &dw), "conv2d_create(depthwise)");
  int64_t oh, ow;
  CHECK(qkern_conv2d_output_size(dw, H, W, &oh, &ow), "conv2d_output_size");
  if (oh != H_OUT || ow != H_OUT) {
    fprintf(stderr, "mlp_conv: depthwise output %lld x %lld\n", (long long)oh, (long long)ow);
    goto done;
  }
  CHECK(qkern_conv2d_run(conv, imgq, 1, H, W, hcq, 0, 0, NULL), "conv2d_run(conv)");
  CHECK(qkern_conv2d_run(dw, hcq, 1, H, W, out, 0, 0, NULL), "conv2d_run(depthwise)");

  printf("conv 1 x %d x %d x %d -> 3x3 (ReLU) -> %d channels -> depthwise 3x3 stride 2 -> "
         "%d x %d x %d\n", H, W, C_IN, C_MID, H_OUT, H_OUT, C_MID);
  printf("  image u8: scale %.6f, zero point %d\n", si, zi);
  printf("  conv:      %s (%s path, %s)\n", qkern_conv2d_kernel(conv),
         qkern_conv_path_name(qkern_conv2d_path(conv)), qkern_isa_name(qkern_conv2d_isa(conv)));
  printf("             u8 out: scale %.6f, zero point %d = clamp lo (the ReLU)\n", sc, zc);
  printf("  depthwise: %s (%s path, %s)\n", qkern_conv2d_kernel(dw),
         qkern_conv_path_name(qkern_conv2d_path(dw)), qkern_isa_name(qkern_conv2d_isa(dw)));
  printf("             float out, float bias\n");
  good = report("output", out, ref_d, H_OUT * H_OUT * C_MID) && good;
  status = good ? 0 : 1;
  if (!good) fprintf(stderr, "mlp_conv: a check failed\n");

done: /* every destroy takes NULL */
  qkern_gemm_destroy(fc1);
  qkern_gemm_destroy(fc2);
  qkern_conv2d_destroy(conv);
  qkern_conv2d_destroy(dw);
  qkern_thread_pool_destroy(pool);
  return status;
}
