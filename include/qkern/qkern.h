/* qkern/qkern.h: the C ABI. Every operator and elementwise function of the
 * C++ API (qkern/qkern.hpp), for FFI and for C hosts.
 *
 * Conventions
 *  - Every fallible function returns a qkern_status; QKERN_OK is 0. A failed
 *    call writes nothing to its outputs (operator handles included).
 *  - qkern_last_error() is the message of the calling thread's latest call
 *    into this API: "" after a call that succeeded, else the argument and the
 *    reason, e.g. "params.k: must be in [1, 65793] (got 0)".
 *  - Operators are opaque handles: *_create() allocates, *_destroy() frees
 *    (NULL is a no-op), *_run() is safe to call concurrently on one handle.
 *  - Accessors (qkern_gemm_n, qkern_conv2d_kernel, ...) of a NULL handle
 *    return 0, "", NULL or the scalar ISA.
 *  - Parameter structs have no defaults in C: call the matching *_init()
 *    first, which fills in the defaults documented in the C++ headers, then
 *    set the fields you need. Booleans are ints (0 false, anything else true).
 *  - Semantics are the C++ API's: docs/semantics.md, the headers in include/qkern/.
 *    Error codes and messages: docs/errors.md.
 *  - Struct layouts and enum values are part of the ABI of the library's
 *    SONAME (libqkern.so.0).
 */
#ifndef QKERN_QKERN_H_
#define QKERN_QKERN_H_

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define QKERN_C_API __attribute__((visibility("default")))
#else
#define QKERN_C_API
#endif

/* Every enum spans the whole int range (these two enumerators are not
 * values to pass): its size is an int's on every compiler, and a C caller's
 * out-of-range value is an error the library reports (QKERN_INVALID_ARGUMENT),
 * not undefined behaviour in its C++ implementation. */
#define QKERN_ENUM_RANGE_(prefix) prefix##_ENUM_MIN_ = -2147483647 - 1, prefix##_ENUM_MAX_ = 2147483647

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status, version ---------------------------------------------------- */

typedef enum qkern_status {
  QKERN_OK = 0,
  QKERN_INVALID_ARGUMENT = 1, /* a null pointer, a bad enum, a shape that does not fit */
  QKERN_OUT_OF_RANGE = 2,     /* a value outside its allowed range */
  QKERN_OVERFLOW = 3,         /* a size whose element or byte count does not fit */
  QKERN_UNSUPPORTED = 4,      /* valid, but beyond what this configuration supports */
  QKERN_OUT_OF_MEMORY = 5,
  QKERN_INTERNAL = 6,
  QKERN_ENUM_RANGE_(QKERN_STATUS)
} qkern_status;

/* "ok", "invalid_argument", ...; "unknown" for a value outside the enum. */
QKERN_C_API const char* qkern_status_name(qkern_status status);
/* The calling thread's latest message (see above); valid until its next call. */
QKERN_C_API const char* qkern_last_error(void);
/* "0.1.0", and its parts (each pointer may be NULL). */
QKERN_C_API const char* qkern_version(int* major, int* minor, int* patch);

/* ---- ISAs and dispatch (qkern/isa.hpp) ---------------------------------- */

typedef enum qkern_isa {
  QKERN_ISA_SCALAR = 0,
  QKERN_ISA_AVX2 = 1,
  QKERN_ISA_AVX512 = 2,
  QKERN_ISA_AVX512_VNNI = 3,
  QKERN_ISA_NEON = 4,
  QKERN_ISA_NEON_DOTPROD = 5,
  QKERN_ISA_AVX512_AMX = 6,
  QKERN_ENUM_RANGE_(QKERN_ISA)
} qkern_isa;

/* "scalar", "avx2", ...; "unknown" for a value outside the enum. */
QKERN_C_API const char* qkern_isa_name(qkern_isa isa);
QKERN_C_API qkern_status qkern_isa_from_name(const char* name, qkern_isa* isa);
/* Writes up to `capacity` ISAs this process can run, lowest first; returns how many there are. */
QKERN_C_API size_t qkern_available_isas(qkern_isa* isas, size_t capacity);
QKERN_C_API int qkern_isa_available(qkern_isa isa);
QKERN_C_API qkern_isa qkern_best_isa(void);
QKERN_C_API qkern_isa qkern_active_isa(void);
QKERN_C_API qkern_status qkern_set_max_isa(qkern_isa isa);
QKERN_C_API void qkern_reset_max_isa(void);

/* ---- the parallel-for hook and the default pool (qkern/parallel.hpp) ---- */

/* An engine's pool, lent to one run: run(ctx, n, task, arg) calls task(arg, i)
 * exactly once for every i < n, on any threads in any order, and returns when
 * all have returned. Operators take a `const qkern_parallel_for*`: NULL, or a
 * NULL run, runs the tasks on the calling thread. Results never depend on it. */
typedef void (*qkern_task_fn)(void* arg, size_t i);
typedef struct qkern_parallel_for {
  void (*run)(void* ctx, size_t n, qkern_task_fn task, void* arg);
  void* ctx;
} qkern_parallel_for;

typedef struct qkern_thread_pool qkern_thread_pool;
/* threads <= 1 runs everything on the calling thread. */
QKERN_C_API qkern_status qkern_thread_pool_create(int threads, qkern_thread_pool** pool);
QKERN_C_API void qkern_thread_pool_destroy(qkern_thread_pool* pool);
QKERN_C_API int qkern_thread_pool_threads(const qkern_thread_pool* pool);
/* The hook for *_run(); valid while the pool lives. A NULL pool gives the inline hook. */
QKERN_C_API qkern_parallel_for qkern_thread_pool_parallel_for(qkern_thread_pool* pool);

/* ---- quantization (qkern/quantize.hpp) ---------------------------------- */

#define QKERN_MAX_RANK 8
typedef struct qkern_dims {
  int rank; /* 0..8; rank 0 is a scalar */
  int64_t d[QKERN_MAX_RANK];
} qkern_dims;

typedef struct qkern_quant_range {
  int bits; /* 2..8 */
  int is_signed;
  int narrow_range; /* signed only */
} qkern_quant_range;

QKERN_C_API int32_t qkern_qmin(qkern_quant_range range);
QKERN_C_API int32_t qkern_qmax(qkern_quant_range range);

typedef struct qkern_quant_params {
  qkern_quant_range range;
  const float* scale;         /* 1 value (axis < 0) or dims.d[axis] values */
  const int32_t* zero_point;  /* NULL: all 0 */
  int axis;                   /* -1: per tensor */
} qkern_quant_params;
/* range {8, unsigned}, no scale, axis -1. */
QKERN_C_API void qkern_quant_params_init(qkern_quant_params* params);

typedef enum qkern_quantize_mode {
  QKERN_QUANTIZE_MULTIPLY = 0, /* rne(x * (1/s)) */
  QKERN_QUANTIZE_DIVIDE = 1,  /* rne(x / s) */
  QKERN_ENUM_RANGE_(QKERN_QUANTIZE)
} qkern_quantize_mode;

/* y: uint8_t[numel] or int8_t[numel] per params->range.is_signed. */
QKERN_C_API qkern_status qkern_quantize(const float* x, const qkern_dims* dims,
                                        const qkern_quant_params* params, void* y,
                                        qkern_quantize_mode mode);
QKERN_C_API qkern_status qkern_dequantize(const void* q, const qkern_dims* dims,
                                          const qkern_quant_params* params, float* y);

typedef enum qkern_requant_scheme {
  QKERN_REQUANT_FP32 = 0,
  QKERN_REQUANT_FIXED_POINT = 1,
  QKERN_ENUM_RANGE_(QKERN_REQUANT)
} qkern_requant_scheme;

typedef struct qkern_requant_params {
  qkern_requant_scheme scheme;
  qkern_quant_range range;
  const float* multiplier;          /* fp32 scheme */
  const int32_t* fixed_multiplier;  /* fixed-point scheme */
  const int32_t* shift;             /* fixed-point scheme */
  int axis;
  int32_t zero_point;
  int32_t lo, hi; /* fused clamp in codes; init gives INT32_MIN, INT32_MAX */
} qkern_requant_params;
QKERN_C_API void qkern_requant_params_init(qkern_requant_params* params);
QKERN_C_API qkern_status qkern_requantize(const int32_t* acc, const qkern_dims* dims,
                                          const qkern_requant_params* params, void* y);
QKERN_C_API qkern_status qkern_quantize_multiplier(double real_multiplier, int32_t* q31,
                                                   int32_t* shift);

typedef enum qkern_qparams_mode {
  QKERN_QPARAMS_ASYMMETRIC = 0,
  QKERN_QPARAMS_SYMMETRIC = 1,
  QKERN_ENUM_RANGE_(QKERN_QPARAMS)
} qkern_qparams_mode;
QKERN_C_API qkern_status qkern_choose_qparams(const float* x, const qkern_dims* dims,
                                              qkern_quant_range range, qkern_qparams_mode mode,
                                              int axis, float* scale, int32_t* zero_point);

QKERN_C_API qkern_status qkern_fake_quantize(const float* x, const qkern_dims* dims,
                                             const qkern_quant_params* params, float* y);
/* dx, dscale, dzero_point may each be NULL to skip; grad_scale NULL gives the
 * LSQ default 1 / sqrt(numel * qmax). */
QKERN_C_API qkern_status qkern_fake_quantize_backward(const float* x, const float* dy,
                                                      const qkern_dims* dims,
                                                      const qkern_quant_params* params, float* dx,
                                                      float* dscale, float* dzero_point,
                                                      const float* grad_scale);

/* ---- k-means codebooks (qkern/codebook.hpp) ----------------------------- */

typedef struct qkern_codebook_shape {
  int64_t rows, cols;
  int bits; /* 1..8; packing: 2 or 4 */
  int per_row;
} qkern_codebook_shape;

typedef enum qkern_kmeans_method {
  QKERN_KMEANS_OPTIMAL_1D = 0,
  QKERN_KMEANS_LLOYD = 1,
  QKERN_ENUM_RANGE_(QKERN_KMEANS)
} qkern_kmeans_method;

typedef struct qkern_kmeans_options {
  qkern_kmeans_method method;
  const float* importance; /* optional [rows][cols] */
  int max_iterations;
  double tolerance;
  uint64_t seed;
} qkern_kmeans_options;
QKERN_C_API void qkern_kmeans_options_init(qkern_kmeans_options* options);

/* options NULL: the defaults; sse may be NULL. */
QKERN_C_API qkern_status qkern_kmeans_fit(const float* w, const qkern_codebook_shape* shape,
                                          const qkern_kmeans_options* options, float* centroids,
                                          uint8_t* labels, double* sse);
QKERN_C_API qkern_status qkern_assign(const float* w, const qkern_codebook_shape* shape,
                                      const float* centroids, uint8_t* labels);
/* ceil(cols * bits / 8); -1 when cols < 0 or bits is not 2 or 4. */
QKERN_C_API int64_t qkern_packed_row_bytes(int64_t cols, int bits);
QKERN_C_API qkern_status qkern_pack_indices(const uint8_t* labels,
                                            const qkern_codebook_shape* shape, uint8_t* packed);
QKERN_C_API qkern_status qkern_unpack_indices(const uint8_t* packed,
                                              const qkern_codebook_shape* shape, uint8_t* labels);
QKERN_C_API qkern_status qkern_decode(const uint8_t* labels, const qkern_codebook_shape* shape,
                                      const float* centroids, float* w);
QKERN_C_API qkern_status qkern_update_centroids(const float* w, const uint8_t* labels,
                                                const qkern_codebook_shape* shape,
                                                float* centroids);
QKERN_C_API qkern_status qkern_centroid_gradient(const float* dw, const uint8_t* labels,
                                                 const qkern_codebook_shape* shape,
                                                 float* dcentroids);

/* ---- int8 GEMM (qkern/gemm.hpp) ----------------------------------------- */

#define QKERN_GEMM_MAX_K 65793
#define QKERN_GEMM_WORKSPACE_BYTES ((size_t)1 << 20)

typedef enum qkern_weight_layout {
  QKERN_WEIGHTS_NK = 0, /* W[n][k] (PyTorch Linear) */
  QKERN_WEIGHTS_KN = 1,  /* W[k][n] (matmul) */
  QKERN_ENUM_RANGE_(QKERN_WEIGHTS)
} qkern_weight_layout;

typedef enum qkern_gemm_output {
  QKERN_OUTPUT_REQUANTIZED = 0,
  QKERN_OUTPUT_INT32 = 1,
  QKERN_OUTPUT_FLOAT = 2,
  QKERN_ENUM_RANGE_(QKERN_OUTPUT)
} qkern_gemm_output;

typedef struct qkern_gemm_params {
  int64_t n, k;
  int activation_signed;
  int32_t activation_zero_point;
  float activation_scale;
  int activation_7bit;
  const int8_t* weights;
  qkern_weight_layout weight_layout;
  int64_t ldw; /* 0: dense */
  const float* weight_scale;
  int weight_scale_per_channel;
  const int32_t* bias;
  qkern_gemm_output output;
  qkern_requant_scheme scheme;
  qkern_quant_range output_range;
  float output_scale;
  int32_t output_zero_point;
  int32_t lo, hi;
  const float* bias_f;
} qkern_gemm_params;
/* The QGemmParams defaults: u8 activations with zero point 0 and scale 1,
 * per-channel scales, NK layout, requantized u8 output (fp32 scheme), no clamp. */
QKERN_C_API void qkern_gemm_params_init(qkern_gemm_params* params);

typedef struct qkern_gemm qkern_gemm;
QKERN_C_API qkern_status qkern_gemm_create(const qkern_gemm_params* params, qkern_gemm** gemm);
QKERN_C_API void qkern_gemm_destroy(qkern_gemm* gemm);
QKERN_C_API qkern_status qkern_gemm_run(const qkern_gemm* gemm, const void* a, int64_t m,
                                        int64_t lda, void* c, int64_t ldc,
                                        const qkern_parallel_for* pf);
QKERN_C_API int64_t qkern_gemm_n(const qkern_gemm* gemm);
QKERN_C_API int64_t qkern_gemm_k(const qkern_gemm* gemm);
QKERN_C_API qkern_isa qkern_gemm_isa(const qkern_gemm* gemm);
QKERN_C_API const char* qkern_gemm_kernel(const qkern_gemm* gemm);
QKERN_C_API size_t qkern_gemm_packed_bytes(const qkern_gemm* gemm);

/* ---- lookup GEMM (qkern/lut_gemm.hpp) ----------------------------------- */

typedef enum qkern_lut_activation {
  QKERN_LUT_FP32 = 0,
  QKERN_LUT_U8 = 1,
  QKERN_LUT_S8 = 2,
  QKERN_ENUM_RANGE_(QKERN_LUT)
} qkern_lut_activation;

typedef struct qkern_lut_gemm_params {
  int64_t n, k;
  int bits; /* 4 or 2 */
  const uint8_t* indices;
  int64_t ld_indices;   /* 0: packed row bytes */
  int64_t indices_size; /* bytes readable at indices */
  const float* codebook;
  int64_t codebook_size; /* 2^bits or n * 2^bits floats */
  int codebook_per_row;
  qkern_lut_activation activation;
  int32_t activation_zero_point;
  float activation_scale;
  int activation_7bit;
  qkern_gemm_output output; /* init: QKERN_OUTPUT_FLOAT */
  const int32_t* bias;
  const float* bias_f;
  qkern_requant_scheme scheme;
  qkern_quant_range output_range;
  float output_scale;
  int32_t output_zero_point;
  int32_t lo, hi;
} qkern_lut_gemm_params;
QKERN_C_API void qkern_lut_gemm_params_init(qkern_lut_gemm_params* params);

/* s = max|C| / 127 (1 when all are 0), q[i] = clamp(rne(C[i] / s), -127, 127). */
QKERN_C_API qkern_status qkern_quantize_codebook_int8(const float* codebook, int count, int8_t* q,
                                                      float* scale);

typedef struct qkern_lut_gemm qkern_lut_gemm;
QKERN_C_API qkern_status qkern_lut_gemm_create(const qkern_lut_gemm_params* params,
                                               qkern_lut_gemm** gemm);
QKERN_C_API void qkern_lut_gemm_destroy(qkern_lut_gemm* gemm);
QKERN_C_API qkern_status qkern_lut_gemm_run(const qkern_lut_gemm* gemm, const void* x, int64_t m,
                                            int64_t ldx, void* y, int64_t ldy,
                                            const qkern_parallel_for* pf);
QKERN_C_API int64_t qkern_lut_gemm_n(const qkern_lut_gemm* gemm);
QKERN_C_API int64_t qkern_lut_gemm_k(const qkern_lut_gemm* gemm);
QKERN_C_API int qkern_lut_gemm_bits(const qkern_lut_gemm* gemm);
QKERN_C_API qkern_isa qkern_lut_gemm_isa(const qkern_lut_gemm* gemm);
QKERN_C_API const char* qkern_lut_gemm_kernel(const qkern_lut_gemm* gemm);
QKERN_C_API size_t qkern_lut_gemm_packed_bytes(const qkern_lut_gemm* gemm);
/* Quantized activations: the int8 codebooks' scales (n, or 1 per tensor); NULL for fp32. */
QKERN_C_API const float* qkern_lut_gemm_codebook_scales(const qkern_lut_gemm* gemm);

/* ---- int8 convolution (qkern/conv.hpp) ---------------------------------- */

#define QKERN_CONV_IM2COL_BYTES ((size_t)256 << 10)

typedef enum qkern_conv_weight_layout {
  QKERN_CONV_WEIGHTS_OHWI = 0,
  QKERN_CONV_WEIGHTS_OIHW = 1,  /* PyTorch's Conv2d.weight */
  QKERN_ENUM_RANGE_(QKERN_CONV_WEIGHTS)
} qkern_conv_weight_layout;

typedef enum qkern_conv_path {
  QKERN_CONV_GEMM_1X1 = 0,
  QKERN_CONV_IM2COL = 1,
  QKERN_CONV_DEPTHWISE = 2,
  QKERN_CONV_DIRECT = 3,
  QKERN_ENUM_RANGE_(QKERN_CONV_PATH)
} qkern_conv_path;
/* "gemm_1x1", "im2col", "depthwise", "direct"; "unknown" outside the enum. */
QKERN_C_API const char* qkern_conv_path_name(qkern_conv_path path);

typedef struct qkern_conv2d_params {
  int64_t input_channels, output_channels;
  int64_t kernel_h, kernel_w;
  int64_t stride_h, stride_w;
  int64_t dilation_h, dilation_w;
  int64_t pad_top, pad_left, pad_bottom, pad_right;
  int64_t groups;
  int activation_signed;
  int32_t activation_zero_point;
  float activation_scale;
  const int8_t* weights;
  qkern_conv_weight_layout weight_layout;
  const float* weight_scale;
  int weight_scale_per_channel;
  const int32_t* bias;
  qkern_gemm_output output;
  qkern_requant_scheme scheme;
  qkern_quant_range output_range;
  float output_scale;
  int32_t output_zero_point;
  int32_t lo, hi;
  const float* bias_f;
} qkern_conv2d_params;
/* 1x1 kernel, strides and dilations 1, no padding, 1 group, otherwise as qkern_gemm_params_init. */
QKERN_C_API void qkern_conv2d_params_init(qkern_conv2d_params* params);

typedef struct qkern_conv2d qkern_conv2d;
QKERN_C_API qkern_status qkern_conv2d_create(const qkern_conv2d_params* params,
                                             qkern_conv2d** conv);
QKERN_C_API void qkern_conv2d_destroy(qkern_conv2d* conv);
QKERN_C_API qkern_status qkern_conv2d_output_size(const qkern_conv2d* conv, int64_t h, int64_t w,
                                                  int64_t* oh, int64_t* ow);
/* NHWC; pixel strides in elements, 0 for dense (IC and OC). */
QKERN_C_API qkern_status qkern_conv2d_run(const qkern_conv2d* conv, const void* x, int64_t batch,
                                          int64_t h, int64_t w, void* y, int64_t x_pixel_stride,
                                          int64_t y_pixel_stride, const qkern_parallel_for* pf);
QKERN_C_API qkern_conv_path qkern_conv2d_path(const qkern_conv2d* conv);
QKERN_C_API qkern_isa qkern_conv2d_isa(const qkern_conv2d* conv);
QKERN_C_API const char* qkern_conv2d_kernel(const qkern_conv2d* conv);
QKERN_C_API size_t qkern_conv2d_packed_bytes(const qkern_conv2d* conv);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* QKERN_QKERN_H_ */
