/* tests/embed/c_api_test.c: every entry point of the C ABI (qkern/qkern.h),
 * compiled as C11 and linked against libqkern.so. Each operator's answer is
 * checked against a direct loop written here, every available ISA gives the
 * same bytes, and results are identical for 1 to 8 threads and for a hook of
 * the test's own (tasks in reverse order). */
#include "qkern/qkern.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_failures = 0;

/* qemu-user 7.2 hangs in the guest's pthread_create: cross builds run one thread. */
#ifdef QKERN_TEST_EMULATED
enum { kMaxThreads = 1 };
#else
enum { kMaxThreads = 8 };
#endif

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "%s:%d: CHECK failed: %s (last error: '%s')\n", __FILE__, \
              __LINE__, #cond, qkern_last_error());                             \
      ++g_failures;                                                              \
    }                                                                            \
  } while (0)

#define CHECK_OK(call) CHECK((call) == QKERN_OK)

/* A failed call: the code, a message naming `arg`. */
#define CHECK_ERROR(call, code, arg)                          \
  do {                                                        \
    CHECK((call) == (code));                                  \
    CHECK(strstr(qkern_last_error(), (arg)) != NULL);         \
  } while (0)

static uint32_t g_rng = 12345u;
static uint32_t rnd(void) {
  g_rng = g_rng * 1664525u + 1013904223u;
  return g_rng >> 8;
}
static int rnd_in(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }

static qkern_dims dims1(int64_t n) {
  qkern_dims d;
  memset(&d, 0, sizeof d);
  d.rank = 1;
  d.d[0] = n;
  return d;
}

/* A parallel-for of the test's own: tasks in reverse order, on this thread. */
static int g_reverse_calls = 0;
static void reverse_run(void* ctx, size_t n, qkern_task_fn task, void* arg) {
  (void)ctx;
  ++g_reverse_calls;
  for (size_t i = n; i-- > 0;) task(arg, i);
}

/* ---- status, version, ISAs, pool ---- */

static void test_basics(void) {
  int major = -1, minor = -1, patch = -1;
  char buf[64];
  qkern_isa isas[16];
  size_t count, i;
  qkern_isa parsed;
  qkern_thread_pool* pool = NULL;
  qkern_parallel_for pf;

  CHECK(strcmp(qkern_status_name(QKERN_OK), "ok") == 0);
  CHECK(strcmp(qkern_status_name(QKERN_OUT_OF_RANGE), "out_of_range") == 0);
  CHECK(strcmp(qkern_status_name(QKERN_INTERNAL), "internal") == 0);
  CHECK(strcmp(qkern_status_name((qkern_status)42), "unknown") == 0);

  CHECK(qkern_version(&major, &minor, &patch) != NULL);
  snprintf(buf, sizeof buf, "%d.%d.%d", major, minor, patch);
  CHECK(strcmp(buf, qkern_version(NULL, NULL, NULL)) == 0);

  count = qkern_available_isas(isas, 16);
  CHECK(count >= 1 && count <= 6);
  CHECK(isas[0] == QKERN_ISA_SCALAR);
  CHECK(qkern_available_isas(NULL, 0) == count);
  CHECK(qkern_isa_available(QKERN_ISA_SCALAR) == 1);
  CHECK(qkern_isa_available((qkern_isa)77) == 0);
  CHECK(qkern_best_isa() == isas[count - 1]);
  for (i = 0; i < count; ++i) {
    CHECK_OK(qkern_isa_from_name(qkern_isa_name(isas[i]), &parsed));
    CHECK(parsed == isas[i]);
    CHECK_OK(qkern_set_max_isa(isas[i]));
    CHECK(strcmp(qkern_last_error(), "") == 0);
    CHECK(qkern_active_isa() == isas[i]);
  }
  qkern_reset_max_isa();
  CHECK(qkern_active_isa() == qkern_best_isa());
  CHECK(strcmp(qkern_isa_name((qkern_isa)-1), "unknown") == 0);
  CHECK_ERROR(qkern_isa_from_name("avx9", &parsed), QKERN_INVALID_ARGUMENT, "avx9");
  CHECK_ERROR(qkern_isa_from_name(NULL, &parsed), QKERN_INVALID_ARGUMENT, "name");
  CHECK_ERROR(qkern_set_max_isa((qkern_isa)9), QKERN_INVALID_ARGUMENT, "isa");

  CHECK_OK(qkern_thread_pool_create(kMaxThreads > 3 ? 3 : kMaxThreads, &pool));
  CHECK(qkern_thread_pool_threads(pool) == (kMaxThreads > 3 ? 3 : kMaxThreads));
  pf = qkern_thread_pool_parallel_for(pool);
  CHECK(pf.run != NULL);
  qkern_thread_pool_destroy(pool);
  qkern_thread_pool_destroy(NULL);
  CHECK(qkern_thread_pool_threads(NULL) == 0);
  pf = qkern_thread_pool_parallel_for(NULL);
  CHECK(pf.run == NULL);
  CHECK_ERROR(qkern_thread_pool_create(2, NULL), QKERN_INVALID_ARGUMENT, "pool");
}

/* ---- elementwise quantization ---- */

static void test_quantize(void) {
  const float x[6] = {-1.0f, -0.25f, 0.0f, 0.75f, 1.25f, 100.0f};
  const float scale = 0.5f;
  const int32_t zp = 3;
  qkern_dims d = dims1(6);
  qkern_quant_params p;
  uint8_t q[6], sentinel[6];
  float back[6], fq[6], dx[6], dscale = 0.0f, dzp = 0.0f;
  const float dy[6] = {1, 1, 1, 1, 1, 1};
  const float gs = 1.0f;
  qkern_requant_params rp;
  const int32_t acc[4] = {-1000, -3, 7, 1000};
  const float mult = 0.25f;
  int8_t rq[4];
  int32_t q31 = 0, shift = 0;
  float cs = 0.0f;
  int32_t czp = -1;
  const float range_data[2] = {-1.0f, 3.0f};
  qkern_quant_range u8 = {8, 0, 0};
  qkern_quant_range s4n = {4, 1, 1};
  int i;

  CHECK(qkern_qmin(u8) == 0 && qkern_qmax(u8) == 255);
  CHECK(qkern_qmin(s4n) == -7 && qkern_qmax(s4n) == 7);

  qkern_quant_params_init(&p);
  CHECK(p.range.bits == 8 && !p.range.is_signed && p.axis == -1 && p.scale == NULL);
  p.scale = &scale;
  p.zero_point = &zp;
  CHECK_OK(qkern_quantize(x, &d, &p, q, QKERN_QUANTIZE_MULTIPLY));
  /* rne(x * 2) + 3: -2+3, rne(-0.5)=0 -> 3, 3, rne(1.5)=2 -> 5, rne(2.5)=2 -> 5, 200+3 */
  CHECK(q[0] == 1 && q[1] == 3 && q[2] == 3 && q[3] == 5 && q[4] == 5 && q[5] == 203);
  CHECK_OK(qkern_quantize(x, &d, &p, q, QKERN_QUANTIZE_DIVIDE));
  CHECK(q[0] == 1 && q[5] == 203);
  CHECK_OK(qkern_dequantize(q, &d, &p, back));
  for (i = 0; i < 6; ++i) CHECK(back[i] == (float)(q[i] - zp) * scale);
  CHECK_OK(qkern_fake_quantize(x, &d, &p, fq));
  for (i = 0; i < 6; ++i) CHECK(fq[i] == back[i]);
  CHECK_OK(qkern_fake_quantize_backward(x, dy, &d, &p, dx, &dscale, &dzp, &gs));
  for (i = 0; i < 6; ++i) CHECK(dx[i] == 1.0f); /* every x is inside [0, 255] after quantization */
  CHECK_OK(qkern_fake_quantize_backward(x, dy, &d, &p, NULL, &dscale, NULL, NULL));

  /* Errors write nothing. */
  memset(sentinel, 0xA5, sizeof sentinel);
  memcpy(q, sentinel, sizeof q);
  {
    const float bad = -1.0f;
    p.scale = &bad;
    CHECK_ERROR(qkern_quantize(x, &d, &p, q, QKERN_QUANTIZE_MULTIPLY), QKERN_OUT_OF_RANGE, "scale");
    CHECK(memcmp(q, sentinel, sizeof q) == 0);
    p.scale = &scale;
  }
  CHECK_ERROR(qkern_quantize(x, &d, &p, q, (qkern_quantize_mode)5), QKERN_INVALID_ARGUMENT, "mode");
  CHECK_ERROR(qkern_quantize(x, NULL, &p, q, QKERN_QUANTIZE_MULTIPLY), QKERN_INVALID_ARGUMENT,
              "dims");
  CHECK_ERROR(qkern_dequantize(q, &d, NULL, back), QKERN_INVALID_ARGUMENT, "params");
  CHECK(memcmp(q, sentinel, sizeof q) == 0);
  CHECK_OK(qkern_quantize(x, &d, &p, q, QKERN_QUANTIZE_MULTIPLY));
  CHECK(strcmp(qkern_last_error(), "") == 0);

  /* requantize, both schemes: rne(acc / 4) into s8 with zero point -1. */
  qkern_requant_params_init(&rp);
  CHECK(rp.lo == INT32_MIN && rp.hi == INT32_MAX && rp.scheme == QKERN_REQUANT_FP32);
  rp.range.is_signed = 1;
  rp.multiplier = &mult;
  rp.zero_point = -1;
  d = dims1(4);
  CHECK_OK(qkern_requantize(acc, &d, &rp, rq));
  CHECK(rq[0] == -128 && rq[1] == -2 && rq[2] == 1 && rq[3] == 127);
  CHECK_OK(qkern_quantize_multiplier(0.25, &q31, &shift));
  CHECK(q31 == 1 << 30 && shift == -1);
  rp.scheme = QKERN_REQUANT_FIXED_POINT;
  rp.fixed_multiplier = &q31;
  rp.shift = &shift;
  rp.lo = -10;
  CHECK_OK(qkern_requantize(acc, &d, &rp, rq));
  CHECK(rq[0] == -10 && rq[1] == -2 && rq[2] == 1 && rq[3] == 127);
  rp.scheme = (qkern_requant_scheme)3;
  CHECK_ERROR(qkern_requantize(acc, &d, &rp, rq), QKERN_INVALID_ARGUMENT, "params.scheme");
  CHECK_ERROR(qkern_quantize_multiplier(-1.0, &q31, &shift), QKERN_OUT_OF_RANGE, "");

  d = dims1(2);
  CHECK_OK(qkern_choose_qparams(range_data, &d, u8, QKERN_QPARAMS_ASYMMETRIC, -1, &cs, &czp));
  CHECK(fabsf(cs - 4.0f / 255.0f) < 1e-7f && czp == 64);
  CHECK_OK(qkern_choose_qparams(range_data, &d, u8, QKERN_QPARAMS_SYMMETRIC, -1, &cs, &czp));
  CHECK(czp == 128);
  CHECK_ERROR(qkern_choose_qparams(range_data, &d, u8, (qkern_qparams_mode)2, -1, &cs, &czp),
              QKERN_INVALID_ARGUMENT, "mode");
}

/* ---- codebooks ---- */

static void test_codebook(void) {
  enum { R = 3, C = 10 };
  float w[R * C], cents[4], dec[R * C], upd[4], grad[4], row_cents[R * 4];
  uint8_t labels[R * C], labels2[R * C], packed[R * 3];
  const float centers[4] = {-2.0f, -0.5f, 0.5f, 2.0f};
  qkern_codebook_shape shape = {R, C, 2, 0};
  qkern_kmeans_options opt;
  double sse = -1.0, expect_grad[4] = {0, 0, 0, 0};
  int i;

  for (i = 0; i < R * C; ++i) w[i] = centers[i % 4] + 0.01f * (float)((i % 3) - 1);
  qkern_kmeans_options_init(&opt);
  CHECK(opt.method == QKERN_KMEANS_OPTIMAL_1D && opt.max_iterations == 100);
  CHECK_OK(qkern_kmeans_fit(w, &shape, &opt, cents, labels, &sse));
  for (i = 0; i < 4; ++i) CHECK(fabsf(cents[i] - centers[i]) < 0.011f);
  for (i = 0; i < R * C; ++i) CHECK(labels[i] == i % 4);
  CHECK(sse >= 0.0 && sse < 1e-2);
  opt.method = QKERN_KMEANS_LLOYD;
  CHECK_OK(qkern_kmeans_fit(w, &shape, &opt, cents, labels, NULL));
  CHECK_OK(qkern_kmeans_fit(w, &shape, NULL, cents, labels, NULL));
  opt.method = (qkern_kmeans_method)9;
  CHECK_ERROR(qkern_kmeans_fit(w, &shape, &opt, cents, labels, NULL), QKERN_INVALID_ARGUMENT,
              "options.method");

  CHECK_OK(qkern_assign(w, &shape, cents, labels2));
  CHECK(memcmp(labels, labels2, sizeof labels) == 0);

  CHECK(qkern_packed_row_bytes(10, 2) == 3);
  CHECK(qkern_packed_row_bytes(10, 4) == 5);
  CHECK(qkern_packed_row_bytes(10, 3) == -1);
  CHECK(qkern_packed_row_bytes(-1, 4) == -1);
  CHECK_OK(qkern_pack_indices(labels, &shape, packed));
  CHECK(packed[0] == (uint8_t)(labels[0] | labels[1] << 2 | labels[2] << 4 | labels[3] << 6));
  memset(labels2, 0xFF, sizeof labels2);
  CHECK_OK(qkern_unpack_indices(packed, &shape, labels2));
  CHECK(memcmp(labels, labels2, sizeof labels) == 0);

  CHECK_OK(qkern_decode(labels, &shape, cents, dec));
  for (i = 0; i < R * C; ++i) CHECK(dec[i] == cents[labels[i]]);
  memcpy(upd, cents, sizeof upd);
  CHECK_OK(qkern_update_centroids(w, labels, &shape, upd));
  for (i = 0; i < 4; ++i) CHECK(fabsf(upd[i] - cents[i]) < 1e-5f);
  CHECK_OK(qkern_centroid_gradient(w, labels, &shape, grad));
  for (i = 0; i < R * C; ++i) expect_grad[labels[i]] += w[i];
  for (i = 0; i < 4; ++i) CHECK(fabs(grad[i] - expect_grad[i]) < 1e-4);

  shape.per_row = 1;
  CHECK_OK(qkern_kmeans_fit(w, &shape, NULL, row_cents, labels, NULL));
  CHECK_OK(qkern_decode(labels, &shape, row_cents, dec));
  for (i = 0; i < R * C; ++i) CHECK(dec[i] == row_cents[(i / C) * 4 + labels[i]]);

  shape.bits = 3;
  CHECK(qkern_pack_indices(labels, &shape, packed) != QKERN_OK);
  CHECK(strstr(qkern_last_error(), "bits") != NULL);
  CHECK_ERROR(qkern_assign(w, NULL, cents, labels), QKERN_INVALID_ARGUMENT, "shape");
}

/* ---- GEMM ---- */

enum { GM = 11, GN = 37, GK = 45 };

static void test_gemm(void) {
  uint8_t a[GM * (GK + 3)];
  int8_t wt[GN * GK];
  int32_t bias[GN], out32[GM * GN], expect[GM * GN];
  float wscale[GN];
  uint8_t first[GM * GN], cur[GM * GN];
  qkern_gemm_params p;
  qkern_gemm* g = NULL;
  qkern_gemm* g8 = NULL;
  qkern_isa isas[8];
  size_t n_isas = qkern_available_isas(isas, 8), i;
  const int lda = GK + 3;
  const int32_t za = 7;
  int m, n, k, threads;

  for (i = 0; i < sizeof a; ++i) a[i] = (uint8_t)rnd_in(0, 255);
  for (i = 0; i < sizeof wt; ++i) wt[i] = (int8_t)rnd_in(-128, 127);
  for (n = 0; n < GN; ++n) {
    bias[n] = rnd_in(-5000, 5000);
    wscale[n] = 0.001f * (float)(1 + n % 5);
  }
  for (m = 0; m < GM; ++m) {
    for (n = 0; n < GN; ++n) {
      int32_t s = bias[n];
      for (k = 0; k < GK; ++k) s += ((int32_t)a[m * lda + k] - za) * wt[n * GK + k];
      expect[m * GN + n] = s;
    }
  }

  qkern_gemm_params_init(&p);
  CHECK(p.output == QKERN_OUTPUT_REQUANTIZED && p.weight_layout == QKERN_WEIGHTS_NK);
  CHECK(p.weight_scale_per_channel == 1 && p.lo == INT32_MIN);
  p.n = GN;
  p.k = GK;
  p.activation_zero_point = za;
  p.activation_scale = 0.02f;
  p.weights = wt;
  p.weight_scale = wscale;
  p.bias = bias;
  p.output = QKERN_OUTPUT_INT32;
  CHECK_OK(qkern_gemm_create(&p, &g));
  CHECK(g != NULL);
  CHECK(qkern_gemm_n(g) == GN && qkern_gemm_k(g) == GK);
  CHECK(qkern_gemm_isa(g) == qkern_active_isa());
  CHECK(strstr(qkern_gemm_kernel(g), "qgemm") != NULL);
  CHECK(qkern_gemm_packed_bytes(g) > 0);
  CHECK_OK(qkern_gemm_run(g, a, GM, lda, out32, GN, NULL));
  CHECK(memcmp(out32, expect, sizeof expect) == 0);
  qkern_gemm_destroy(g);
  qkern_gemm_destroy(NULL);

  /* Requantized u8 with a ReLU6-style clamp: every ISA, every pool size and the
   * reverse hook give the bytes of the first run. */
  p.output = QKERN_OUTPUT_REQUANTIZED;
  p.output_scale = 0.5f;
  p.output_zero_point = 10;
  p.hi = 200;
  for (i = 0; i < n_isas; ++i) {
    CHECK_OK(qkern_set_max_isa(isas[i]));
    g8 = NULL;
    CHECK_OK(qkern_gemm_create(&p, &g8));
    if (g8 == NULL) continue;
    CHECK(qkern_gemm_isa(g8) == isas[i]);
    memset(cur, 0, sizeof cur);
    CHECK_OK(qkern_gemm_run(g8, a, GM, lda, cur, GN, NULL));
    if (i == 0) memcpy(first, cur, sizeof first);
    CHECK(memcmp(cur, first, sizeof cur) == 0);
    for (threads = 1; threads <= kMaxThreads; ++threads) {
      qkern_thread_pool* pool = NULL;
      qkern_parallel_for pf;
      CHECK_OK(qkern_thread_pool_create(threads, &pool));
      pf = qkern_thread_pool_parallel_for(pool);
      memset(cur, 0, sizeof cur);
      CHECK_OK(qkern_gemm_run(g8, a, GM, lda, cur, GN, &pf));
      CHECK(memcmp(cur, first, sizeof cur) == 0);
      qkern_thread_pool_destroy(pool);
    }
    {
      qkern_parallel_for rev;
      const int before = g_reverse_calls;
      rev.run = reverse_run;
      rev.ctx = NULL;
      memset(cur, 0, sizeof cur);
      CHECK_OK(qkern_gemm_run(g8, a, GM, lda, cur, GN, &rev));
      CHECK(memcmp(cur, first, sizeof cur) == 0);
      CHECK(g_reverse_calls > before);
    }
    qkern_gemm_destroy(g8);
  }
  qkern_reset_max_isa();
  for (i = 0; i < GM * GN; ++i) CHECK(first[i] <= 200);

  /* Errors: nothing written, the handle left alone. */
  g = NULL;
  p.k = 0;
  CHECK(qkern_gemm_create(&p, &g) != QKERN_OK);
  CHECK(strstr(qkern_last_error(), "k") != NULL);
  CHECK(g == NULL);
  p.k = GK;
  p.output = (qkern_gemm_output)11;
  CHECK_ERROR(qkern_gemm_create(&p, &g), QKERN_INVALID_ARGUMENT, "params.output");
  p.output = QKERN_OUTPUT_INT32;
  p.weight_layout = (qkern_weight_layout)4;
  CHECK_ERROR(qkern_gemm_create(&p, &g), QKERN_INVALID_ARGUMENT, "params.weight_layout");
  CHECK(g == NULL);
  p.weight_layout = QKERN_WEIGHTS_NK;
  CHECK_ERROR(qkern_gemm_create(NULL, &g), QKERN_INVALID_ARGUMENT, "params");
  CHECK_ERROR(qkern_gemm_create(&p, NULL), QKERN_INVALID_ARGUMENT, "gemm");
  CHECK_OK(qkern_gemm_create(&p, &g));
  memcpy(out32, expect, sizeof out32);
  CHECK_ERROR(qkern_gemm_run(g, a, GM, GK - 1, out32, GN, NULL), QKERN_INVALID_ARGUMENT, "lda");
  CHECK(memcmp(out32, expect, sizeof out32) == 0);
  CHECK_ERROR(qkern_gemm_run(NULL, a, GM, lda, out32, GN, NULL), QKERN_INVALID_ARGUMENT, "gemm");
  qkern_gemm_destroy(g);
  CHECK(qkern_gemm_n(NULL) == 0 && strcmp(qkern_gemm_kernel(NULL), "") == 0);
}

/* ---- lookup GEMM ---- */

enum { LM = 5, LN = 9, LK = 70 };

static void test_lut_gemm(void) {
  uint8_t labels[LN * LK], packed[LN * 35], xq[LM * LK];
  float cb[LN * 16], xf[LM * LK], yf[LM * LN];
  int8_t cq[LN * 16];
  float cscale[LN];
  int32_t y32[LM * LN];
  qkern_codebook_shape shape = {LN, LK, 4, 1};
  qkern_lut_gemm_params p;
  qkern_lut_gemm* g = NULL;
  const int32_t za = 100;
  int i, m, n, k;

  for (i = 0; i < LN * LK; ++i) labels[i] = (uint8_t)rnd_in(0, 15);
  for (i = 0; i < LN * 16; ++i) cb[i] = (float)rnd_in(-1000, 1000) / 256.0f;
  for (i = 0; i < LM * LK; ++i) {
    xq[i] = (uint8_t)rnd_in(0, 255);
    xf[i] = (float)rnd_in(-64, 64) / 8.0f;
  }
  CHECK_OK(qkern_pack_indices(labels, &shape, packed));
  for (n = 0; n < LN; ++n) CHECK_OK(qkern_quantize_codebook_int8(cb + n * 16, 16, cq + n * 16, cscale + n));

  qkern_lut_gemm_params_init(&p);
  CHECK(p.output == QKERN_OUTPUT_FLOAT && p.activation == QKERN_LUT_FP32 && p.bits == 4);
  p.n = LN;
  p.k = LK;
  p.indices = packed;
  p.indices_size = (int64_t)sizeof packed;
  p.codebook = cb;
  p.codebook_size = LN * 16;
  p.codebook_per_row = 1;

  /* fp32: within a loose multiple of the documented bound of these small sums. */
  CHECK_OK(qkern_lut_gemm_create(&p, &g));
  CHECK(qkern_lut_gemm_n(g) == LN && qkern_lut_gemm_k(g) == LK && qkern_lut_gemm_bits(g) == 4);
  /* avx512_amx: LutGemm has no AMX kernel and runs avx512_vnni's. */
  CHECK(qkern_lut_gemm_isa(g) == qkern_active_isa() ||
        (qkern_active_isa() == QKERN_ISA_AVX512_AMX && qkern_lut_gemm_isa(g) == QKERN_ISA_AVX512_VNNI));
  CHECK(strstr(qkern_lut_gemm_kernel(g), "lut_gemm") != NULL);
  CHECK(qkern_lut_gemm_packed_bytes(g) > 0);
  CHECK(qkern_lut_gemm_codebook_scales(g) == NULL);
  CHECK_OK(qkern_lut_gemm_run(g, xf, LM, LK, yf, LN, NULL));
  for (m = 0; m < LM; ++m) {
    for (n = 0; n < LN; ++n) {
      double s = 0.0, mag = 0.0;
      for (k = 0; k < LK; ++k) {
        const double t = (double)xf[m * LK + k] * cb[n * 16 + labels[n * LK + k]];
        s += t;
        mag += fabs(t);
      }
      CHECK(fabs(yf[m * LN + n] - s) <= 1e-5 * mag + 1e-6);
    }
  }
  qkern_lut_gemm_destroy(g);

  /* u8 activations, int32 output: exactly sum (x - za) * Cq[idx]. */
  p.activation = QKERN_LUT_U8;
  p.activation_zero_point = za;
  p.activation_scale = 0.05f;
  p.output = QKERN_OUTPUT_INT32;
  g = NULL;
  CHECK_OK(qkern_lut_gemm_create(&p, &g));
  CHECK(qkern_lut_gemm_codebook_scales(g) != NULL);
  CHECK(qkern_lut_gemm_codebook_scales(g)[3] == cscale[3]);
  CHECK_OK(qkern_lut_gemm_run(g, xq, LM, LK, y32, LN, NULL));
  for (m = 0; m < LM; ++m) {
    for (n = 0; n < LN; ++n) {
      int32_t s = 0;
      for (k = 0; k < LK; ++k) s += ((int32_t)xq[m * LK + k] - za) * cq[n * 16 + labels[n * LK + k]];
      CHECK(y32[m * LN + n] == s);
    }
  }
  {
    qkern_parallel_for rev = {reverse_run, NULL};
    int32_t y2[LM * LN];
    CHECK_OK(qkern_lut_gemm_run(g, xq, LM, LK, y2, LN, &rev));
    CHECK(memcmp(y2, y32, sizeof y2) == 0);
  }
  qkern_lut_gemm_destroy(g);
  qkern_lut_gemm_destroy(NULL);

  g = NULL;
  p.bits = 3;
  CHECK(qkern_lut_gemm_create(&p, &g) != QKERN_OK);
  CHECK(strstr(qkern_last_error(), "bits") != NULL);
  p.bits = 4;
  p.activation = (qkern_lut_activation)6;
  CHECK_ERROR(qkern_lut_gemm_create(&p, &g), QKERN_INVALID_ARGUMENT, "params.activation");
  CHECK(g == NULL);
  CHECK_ERROR(qkern_lut_gemm_run(NULL, xq, LM, LK, y32, LN, NULL), QKERN_INVALID_ARGUMENT, "gemm");
  CHECK(qkern_lut_gemm_bits(NULL) == 0 && qkern_lut_gemm_codebook_scales(NULL) == NULL);
}

/* ---- convolution ---- */

enum { CB = 2, CH = 7, CW = 6, CI = 3, CO = 5, KH = 3, KW = 3 };

static void test_conv(void) {
  uint8_t x[CB * CH * CW * CI];
  int8_t w_ohwi[CO * KH * KW * CI], w_oihw[CO * CI * KH * KW];
  float wscale[CO];
  int32_t y[CB * CH * CW * CO], y2[CB * CH * CW * CO], expect[CB * CH * CW * CO];
  qkern_conv2d_params p;
  qkern_conv2d* c = NULL;
  int64_t oh = 0, ow = 0;
  const int32_t za = 9;
  int b, i, oy, ox, o, ky, kx, ic;

  for (i = 0; i < (int)sizeof x; ++i) x[i] = (uint8_t)rnd_in(0, 255);
  for (o = 0; o < CO; ++o) {
    wscale[o] = 0.01f;
    for (ky = 0; ky < KH; ++ky)
      for (kx = 0; kx < KW; ++kx)
        for (ic = 0; ic < CI; ++ic) {
          const int8_t v = (int8_t)rnd_in(-128, 127);
          w_ohwi[((o * KH + ky) * KW + kx) * CI + ic] = v;
          w_oihw[((o * CI + ic) * KH + ky) * KW + kx] = v;
        }
  }
  /* 3x3, stride 1, padding 1 on every side: same size; padded taps read za. */
  for (b = 0; b < CB; ++b)
    for (oy = 0; oy < CH; ++oy)
      for (ox = 0; ox < CW; ++ox)
        for (o = 0; o < CO; ++o) {
          int32_t s = 0;
          for (ky = 0; ky < KH; ++ky)
            for (kx = 0; kx < KW; ++kx) {
              const int iy = oy + ky - 1, ix = ox + kx - 1;
              if (iy < 0 || iy >= CH || ix < 0 || ix >= CW) continue;
              for (ic = 0; ic < CI; ++ic) {
                s += ((int32_t)x[((b * CH + iy) * CW + ix) * CI + ic] - za) *
                     w_ohwi[((o * KH + ky) * KW + kx) * CI + ic];
              }
            }
          expect[((b * CH + oy) * CW + ox) * CO + o] = s;
        }

  qkern_conv2d_params_init(&p);
  CHECK(p.kernel_h == 1 && p.stride_w == 1 && p.dilation_h == 1 && p.groups == 1);
  CHECK(p.output == QKERN_OUTPUT_REQUANTIZED && p.weight_layout == QKERN_CONV_WEIGHTS_OHWI);
  p.input_channels = CI;
  p.output_channels = CO;
  p.kernel_h = KH;
  p.kernel_w = KW;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = 1;
  p.activation_zero_point = za;
  p.weights = w_ohwi;
  p.weight_scale = wscale;
  p.output = QKERN_OUTPUT_INT32;
  CHECK_OK(qkern_conv2d_create(&p, &c));
  CHECK_OK(qkern_conv2d_output_size(c, CH, CW, &oh, &ow));
  CHECK(oh == CH && ow == CW);
  /* 4 input channels: the direct path where the JIT runs (x86), else im2col. */
  CHECK(qkern_conv2d_path(c) == QKERN_CONV_IM2COL || qkern_conv2d_path(c) == QKERN_CONV_DIRECT);
  CHECK(strcmp(qkern_conv_path_name(qkern_conv2d_path(c)),
               qkern_conv2d_path(c) == QKERN_CONV_DIRECT ? "direct" : "im2col") == 0);
  CHECK(strcmp(qkern_conv_path_name(QKERN_CONV_DIRECT), "direct") == 0);
  CHECK(qkern_conv2d_isa(c) == qkern_active_isa() ||
        (qkern_active_isa() == QKERN_ISA_AVX512_AMX && qkern_conv2d_isa(c) == QKERN_ISA_AVX512_VNNI));
  CHECK(strstr(qkern_conv2d_kernel(c), "conv2d") != NULL);
  CHECK(qkern_conv2d_packed_bytes(c) > 0);
  CHECK_OK(qkern_conv2d_run(c, x, CB, CH, CW, y, 0, 0, NULL));
  CHECK(memcmp(y, expect, sizeof y) == 0);
  {
    qkern_thread_pool* pool = NULL;
    qkern_parallel_for pf;
    CHECK_OK(qkern_thread_pool_create(kMaxThreads > 4 ? 4 : kMaxThreads, &pool));
    pf = qkern_thread_pool_parallel_for(pool);
    memset(y2, 0, sizeof y2);
    CHECK_OK(qkern_conv2d_run(c, x, CB, CH, CW, y2, 0, 0, &pf));
    CHECK(memcmp(y2, expect, sizeof y2) == 0);
    qkern_thread_pool_destroy(pool);
  }
  qkern_conv2d_destroy(c);

  /* PyTorch's OIHW layout gives the same answer. */
  p.weights = w_oihw;
  p.weight_layout = QKERN_CONV_WEIGHTS_OIHW;
  c = NULL;
  CHECK_OK(qkern_conv2d_create(&p, &c));
  memset(y2, 0, sizeof y2);
  CHECK_OK(qkern_conv2d_run(c, x, CB, CH, CW, y2, 0, 0, NULL));
  CHECK(memcmp(y2, expect, sizeof y2) == 0);
  memcpy(y2, expect, sizeof y2);
  CHECK_ERROR(qkern_conv2d_run(c, x, -1, CH, CW, y2, 0, 0, NULL), QKERN_INVALID_ARGUMENT, "batch");
  CHECK(memcmp(y2, expect, sizeof y2) == 0);
  qkern_conv2d_destroy(c);
  qkern_conv2d_destroy(NULL);

  /* Depthwise: groups = IC = OC = 3. */
  p.output_channels = CI;
  p.groups = CI;
  p.weights = w_ohwi; /* the first 3 * 3 * 3 weights, one filter per channel */
  p.weight_layout = QKERN_CONV_WEIGHTS_OHWI;
  c = NULL;
  CHECK_OK(qkern_conv2d_create(&p, &c));
  CHECK(qkern_conv2d_path(c) == QKERN_CONV_DEPTHWISE);
  CHECK(strcmp(qkern_conv_path_name(QKERN_CONV_DEPTHWISE), "depthwise") == 0);
  CHECK(strcmp(qkern_conv_path_name((qkern_conv_path)8), "unknown") == 0);
  CHECK_OK(qkern_conv2d_run(c, x, CB, CH, CW, y, 0, 0, NULL));
  for (b = 0; b < CB; ++b)
    for (oy = 0; oy < CH; ++oy)
      for (ox = 0; ox < CW; ++ox)
        for (o = 0; o < CI; ++o) {
          int32_t s = 0;
          for (ky = 0; ky < KH; ++ky)
            for (kx = 0; kx < KW; ++kx) {
              const int iy = oy + ky - 1, ix = ox + kx - 1;
              if (iy < 0 || iy >= CH || ix < 0 || ix >= CW) continue;
              s += ((int32_t)x[((b * CH + iy) * CW + ix) * CI + o] - za) * w_ohwi[(o * KH + ky) * KW + kx];
            }
          CHECK(y[((b * CH + oy) * CW + ox) * CI + o] == s);
        }
  qkern_conv2d_destroy(c);

  c = NULL;
  p.groups = 2; /* 3 channels do not split into 2 groups */
  CHECK(qkern_conv2d_create(&p, &c) != QKERN_OK);
  CHECK(strstr(qkern_last_error(), "groups") != NULL);
  p.groups = CI;
  p.weight_layout = (qkern_conv_weight_layout)2;
  CHECK_ERROR(qkern_conv2d_create(&p, &c), QKERN_INVALID_ARGUMENT, "params.weight_layout");
  CHECK(c == NULL);
  CHECK_ERROR(qkern_conv2d_output_size(NULL, 1, 1, &oh, &ow), QKERN_INVALID_ARGUMENT, "conv");
  CHECK_ERROR(qkern_conv2d_run(NULL, x, 1, 1, 1, y, 0, 0, NULL), QKERN_INVALID_ARGUMENT, "conv");
  CHECK(qkern_conv2d_packed_bytes(NULL) == 0 && strcmp(qkern_conv2d_kernel(NULL), "") == 0);
  CHECK(qkern_conv2d_isa(NULL) == QKERN_ISA_SCALAR);
}

int main(void) {
  test_basics();
  test_quantize();
  test_codebook();
  test_gemm();
  test_lut_gemm();
  test_conv();
  if (g_failures != 0) {
    fprintf(stderr, "c_api_test: %d check(s) failed\n", g_failures);
    return 1;
  }
  printf("c_api_test: every check passed (%s, best ISA %s)\n", qkern_version(NULL, NULL, NULL),
         qkern_isa_name(qkern_best_isa()));
  return 0;
}
