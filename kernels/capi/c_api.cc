// kernels/capi/c_api.cc: the C ABI of include/qkern/qkern.h over the C++ API.
//
// Every entry point converts its C structs to the C++ ones (checking each enum
// value: a C caller can pass any int), calls the C++ function, records the
// message for qkern_last_error() and returns the code. No exception crosses
// the ABI: an allocation failure is QKERN_OUT_OF_MEMORY.
#include "qkern/qkern.h"

#include <cstdint>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "qkern/qkern.hpp"

namespace qkern {
namespace {

static_assert(static_cast<int>(StatusCode::kOk) == QKERN_OK &&
                  static_cast<int>(StatusCode::kInvalidArgument) == QKERN_INVALID_ARGUMENT &&
                  static_cast<int>(StatusCode::kOutOfRange) == QKERN_OUT_OF_RANGE &&
                  static_cast<int>(StatusCode::kOverflow) == QKERN_OVERFLOW &&
                  static_cast<int>(StatusCode::kUnsupported) == QKERN_UNSUPPORTED &&
                  static_cast<int>(StatusCode::kOutOfMemory) == QKERN_OUT_OF_MEMORY &&
                  static_cast<int>(StatusCode::kInternal) == QKERN_INTERNAL,
              "qkern_status mirrors StatusCode");
static_assert(static_cast<int>(Isa::kScalar) == QKERN_ISA_SCALAR &&
                  static_cast<int>(Isa::kAvx2) == QKERN_ISA_AVX2 &&
                  static_cast<int>(Isa::kAvx512) == QKERN_ISA_AVX512 &&
                  static_cast<int>(Isa::kAvx512Vnni) == QKERN_ISA_AVX512_VNNI &&
                  static_cast<int>(Isa::kNeon) == QKERN_ISA_NEON &&
                  static_cast<int>(Isa::kNeonDotprod) == QKERN_ISA_NEON_DOTPROD &&
                  static_cast<int>(Isa::kAvx512Amx) == QKERN_ISA_AVX512_AMX && kIsaCount == 7,
              "qkern_isa mirrors Isa");
static_assert(static_cast<int>(ConvPath::kGemm1x1) == QKERN_CONV_GEMM_1X1 &&
                  static_cast<int>(ConvPath::kIm2col) == QKERN_CONV_IM2COL &&
                  static_cast<int>(ConvPath::kDepthwise) == QKERN_CONV_DEPTHWISE &&
                  static_cast<int>(ConvPath::kDirect) == QKERN_CONV_DIRECT,
              "qkern_conv_path mirrors ConvPath");
static_assert(Dims::kMaxRank == QKERN_MAX_RANK, "qkern_dims mirrors Dims");
static_assert(kQGemmMaxK == QKERN_GEMM_MAX_K, "QKERN_GEMM_MAX_K mirrors kQGemmMaxK");
static_assert(kQGemmWorkspaceBytes == QKERN_GEMM_WORKSPACE_BYTES, "workspace bound");
static_assert(kQConvIm2colBytes == QKERN_CONV_IM2COL_BYTES, "im2col bound");
// The hook is passed through as is.
static_assert(std::is_same<decltype(ParallelFor::run), decltype(qkern_parallel_for::run)>::value,
              "qkern_parallel_for mirrors ParallelFor");

thread_local std::string g_last_error;

qkern_status record(const Status& s) {
  if (s.ok()) {
    g_last_error.clear();
  } else {
    g_last_error = s.message();
  }
  return static_cast<qkern_status>(s.code());
}

Status invalid(const std::string& message) {
  return Status(StatusCode::kInvalidArgument, message);
}

Status null_argument(const char* name) { return invalid(std::string(name) + ": must not be null"); }

// Runs `body` (which returns a Status) with the C boundary's guarantees: the
// message is recorded and no exception escapes.
template <typename F>
qkern_status guarded(F&& body) {
  try {
    return record(body());
  } catch (const std::bad_alloc&) {
    return record(Status(StatusCode::kOutOfMemory, "out of memory"));
  } catch (...) {
    return record(Status(StatusCode::kInternal, "unexpected exception"));
  }
}

// Enum conversions: the name of the field for the message, and every value
// the C enum defines.
Status to_isa(qkern_isa v, const char* name, Isa* out) {
  const int i = static_cast<int>(v);
  if (i < 0 || i >= kIsaCount) {
    return invalid(std::string(name) + ": not a qkern_isa (got " + std::to_string(i) + ")");
  }
  *out = static_cast<Isa>(i);
  return Status();
}

Status to_mode(qkern_quantize_mode v, QuantizeMode* out) {
  switch (v) {
    case QKERN_QUANTIZE_MULTIPLY: *out = QuantizeMode::kMultiply; return Status();
    case QKERN_QUANTIZE_DIVIDE: *out = QuantizeMode::kDivide; return Status();
    default: break;
  }
  return invalid("mode: not a qkern_quantize_mode (got " + std::to_string(static_cast<int>(v)) + ")");
}

Status to_scheme(qkern_requant_scheme v, const char* name, RequantScheme* out) {
  switch (v) {
    case QKERN_REQUANT_FP32: *out = RequantScheme::kFp32; return Status();
    case QKERN_REQUANT_FIXED_POINT: *out = RequantScheme::kFixedPoint; return Status();
    default: break;
  }
  return invalid(std::string(name) + ": not a qkern_requant_scheme (got " +
                 std::to_string(static_cast<int>(v)) + ")");
}

Status to_output(qkern_gemm_output v, const char* name, GemmOutput* out) {
  switch (v) {
    case QKERN_OUTPUT_REQUANTIZED: *out = GemmOutput::kRequantized; return Status();
    case QKERN_OUTPUT_INT32: *out = GemmOutput::kInt32; return Status();
    case QKERN_OUTPUT_FLOAT: *out = GemmOutput::kFloat; return Status();
    default: break;
  }
  return invalid(std::string(name) + ": not a qkern_gemm_output (got " +
                 std::to_string(static_cast<int>(v)) + ")");
}

QuantRange to_range(const qkern_quant_range& r) {
  QuantRange out;
  out.bits = r.bits;
  out.is_signed = r.is_signed != 0;
  out.narrow_range = r.narrow_range != 0;
  return out;
}

Status to_dims(const qkern_dims* dims, Dims* out) {
  if (dims == nullptr) return null_argument("dims");
  // Dims::kMaxRank + 1 is how the C++ API spells "too many dimensions"; any
  // rank outside [0, 8] is reported by the C++ validation with its value.
  out->rank = dims->rank;
  const int n = dims->rank < 0 ? 0 : (dims->rank > QKERN_MAX_RANK ? QKERN_MAX_RANK : dims->rank);
  for (int i = 0; i < n; ++i) out->d[i] = dims->d[i];
  return Status();
}

Status to_quant_params(const qkern_quant_params* p, QuantParams* out) {
  if (p == nullptr) return null_argument("params");
  out->range = to_range(p->range);
  out->scale = p->scale;
  out->zero_point = p->zero_point;
  out->axis = p->axis;
  return Status();
}

Status to_requant_params(const qkern_requant_params* p, RequantParams* out) {
  if (p == nullptr) return null_argument("params");
  if (Status s = to_scheme(p->scheme, "params.scheme", &out->scheme); !s.ok()) return s;
  out->range = to_range(p->range);
  out->multiplier = p->multiplier;
  out->fixed_multiplier = p->fixed_multiplier;
  out->shift = p->shift;
  out->axis = p->axis;
  out->zero_point = p->zero_point;
  out->lo = p->lo;
  out->hi = p->hi;
  return Status();
}

Status to_shape(const qkern_codebook_shape* s, CodebookShape* out) {
  if (s == nullptr) return null_argument("shape");
  out->rows = s->rows;
  out->cols = s->cols;
  out->bits = s->bits;
  out->per_row = s->per_row != 0;
  return Status();
}

ParallelFor to_pf(const qkern_parallel_for* pf) {
  ParallelFor out;
  if (pf != nullptr) {
    out.run = pf->run;
    out.ctx = pf->ctx;
  }
  return out;
}


// The output fields that qkern_gemm_params, qkern_lut_gemm_params and
// qkern_conv2d_params share with their C++ structs (same names), both ways.
template <class C, class P>
Status output_from_c(const C& c, P* p) {
  if (Status s = to_output(c.output, "params.output", &p->output); !s.ok()) return s;
  if (Status s = to_scheme(c.scheme, "params.scheme", &p->scheme); !s.ok()) return s;
  p->output_range = to_range(c.output_range);
  p->output_scale = c.output_scale;
  p->output_zero_point = c.output_zero_point;
  p->lo = c.lo;
  p->hi = c.hi;
  p->bias = c.bias;
  p->bias_f = c.bias_f;
  return Status();
}

template <class P, class C>
void output_to_c(const P& d, C* c) {
  c->output = static_cast<qkern_gemm_output>(d.output);
  c->scheme = static_cast<qkern_requant_scheme>(d.scheme);
  c->output_range = {d.output_range.bits, d.output_range.is_signed, d.output_range.narrow_range};
  c->output_scale = d.output_scale;
  c->output_zero_point = d.output_zero_point;
  c->lo = d.lo;
  c->hi = d.hi;
  c->bias = d.bias;
  c->bias_f = d.bias_f;
}
static_assert(static_cast<int>(GemmOutput::kRequantized) == QKERN_OUTPUT_REQUANTIZED &&
                  static_cast<int>(GemmOutput::kInt32) == QKERN_OUTPUT_INT32 &&
                  static_cast<int>(GemmOutput::kFloat) == QKERN_OUTPUT_FLOAT &&
                  static_cast<int>(RequantScheme::kFp32) == QKERN_REQUANT_FP32 &&
                  static_cast<int>(RequantScheme::kFixedPoint) == QKERN_REQUANT_FIXED_POINT,
              "output enums mirror the C++ ones");

}  // namespace
}  // namespace qkern

using namespace qkern;  // NOLINT: this file only translates between the two APIs

// The handles: a C++ operator each.
struct qkern_thread_pool {
  explicit qkern_thread_pool(int threads) : pool(threads) {}
  ThreadPool pool;
};
struct qkern_gemm {
  QGemm op;
};
struct qkern_lut_gemm {
  LutGemm op;
};
struct qkern_conv2d {
  QConv2d op;
};

extern "C" {

// ---- status, version ----

const char* qkern_status_name(qkern_status status) {
  const int i = static_cast<int>(status);
  if (i < QKERN_OK || i > QKERN_INTERNAL) return "unknown";
  return status_code_name(static_cast<StatusCode>(i));
}

const char* qkern_last_error(void) { return g_last_error.c_str(); }

const char* qkern_version(int* major, int* minor, int* patch) {
  if (major != nullptr) *major = QKERN_VERSION_MAJOR;
  if (minor != nullptr) *minor = QKERN_VERSION_MINOR;
  if (patch != nullptr) *patch = QKERN_VERSION_PATCH;
  return QKERN_VERSION_STRING;
}

// ---- ISAs ----

const char* qkern_isa_name(qkern_isa isa) {
  Isa i;
  if (!to_isa(isa, "isa", &i).ok()) return "unknown";
  return qkern::isa_name(i);
}

qkern_status qkern_isa_from_name(const char* name, qkern_isa* isa) {
  return guarded([&] {
    if (name == nullptr) return null_argument("name");
    if (isa == nullptr) return null_argument("isa");
    Isa i;
    if (!qkern::isa_from_name(name, &i)) {
      return invalid(std::string("name: '") + name + "' is not an ISA name");
    }
    *isa = static_cast<qkern_isa>(i);
    return Status();
  });
}

size_t qkern_available_isas(qkern_isa* isas, size_t capacity) {
  const std::vector<Isa> all = qkern::available_isas();
  for (size_t i = 0; i < all.size() && i < capacity && isas != nullptr; ++i) {
    isas[i] = static_cast<qkern_isa>(all[i]);
  }
  return all.size();
}

int qkern_isa_available(qkern_isa isa) {
  Isa i;
  return to_isa(isa, "isa", &i).ok() && qkern::isa_available(i) ? 1 : 0;
}

qkern_isa qkern_best_isa(void) { return static_cast<qkern_isa>(qkern::best_isa()); }
qkern_isa qkern_active_isa(void) { return static_cast<qkern_isa>(qkern::active_isa()); }

qkern_status qkern_set_max_isa(qkern_isa isa) {
  return guarded([&] {
    Isa i;
    if (Status s = to_isa(isa, "isa", &i); !s.ok()) return s;
    return qkern::set_max_isa(i);
  });
}

void qkern_reset_max_isa(void) { qkern::reset_max_isa(); }

// ---- thread pool ----

qkern_status qkern_thread_pool_create(int threads, qkern_thread_pool** pool) {
  return guarded([&] {
    if (pool == nullptr) return null_argument("pool");
    *pool = new qkern_thread_pool(threads);
    return Status();
  });
}

void qkern_thread_pool_destroy(qkern_thread_pool* pool) { delete pool; }

int qkern_thread_pool_threads(const qkern_thread_pool* pool) {
  return pool == nullptr ? 0 : pool->pool.threads();
}

qkern_parallel_for qkern_thread_pool_parallel_for(qkern_thread_pool* pool) {
  qkern_parallel_for out = {nullptr, nullptr};
  if (pool != nullptr) {
    const ParallelFor pf = pool->pool.parallel_for();
    out.run = pf.run;
    out.ctx = pf.ctx;
  }
  return out;
}

// ---- quantization ----

int32_t qkern_qmin(qkern_quant_range range) { return qkern::qmin(to_range(range)); }
int32_t qkern_qmax(qkern_quant_range range) { return qkern::qmax(to_range(range)); }

void qkern_quant_params_init(qkern_quant_params* params) {
  if (params == nullptr) return;
  const QuantParams d;
  params->range = {d.range.bits, d.range.is_signed, d.range.narrow_range};
  params->scale = d.scale;
  params->zero_point = d.zero_point;
  params->axis = d.axis;
}

qkern_status qkern_quantize(const float* x, const qkern_dims* dims,
                            const qkern_quant_params* params, void* y, qkern_quantize_mode mode) {
  return guarded([&] {
    Dims d;
    QuantParams p;
    QuantizeMode m = QuantizeMode::kMultiply;
    if (Status s = to_dims(dims, &d); !s.ok()) return s;
    if (Status s = to_quant_params(params, &p); !s.ok()) return s;
    if (Status s = to_mode(mode, &m); !s.ok()) return s;
    return qkern::quantize(x, d, p, y, m);
  });
}

qkern_status qkern_dequantize(const void* q, const qkern_dims* dims,
                              const qkern_quant_params* params, float* y) {
  return guarded([&] {
    Dims d;
    QuantParams p;
    if (Status s = to_dims(dims, &d); !s.ok()) return s;
    if (Status s = to_quant_params(params, &p); !s.ok()) return s;
    return qkern::dequantize(q, d, p, y);
  });
}

void qkern_requant_params_init(qkern_requant_params* params) {
  if (params == nullptr) return;
  const RequantParams d;
  params->scheme = QKERN_REQUANT_FP32;
  params->range = {d.range.bits, d.range.is_signed, d.range.narrow_range};
  params->multiplier = d.multiplier;
  params->fixed_multiplier = d.fixed_multiplier;
  params->shift = d.shift;
  params->axis = d.axis;
  params->zero_point = d.zero_point;
  params->lo = d.lo;
  params->hi = d.hi;
}

qkern_status qkern_requantize(const int32_t* acc, const qkern_dims* dims,
                              const qkern_requant_params* params, void* y) {
  return guarded([&] {
    Dims d;
    RequantParams p;
    if (Status s = to_dims(dims, &d); !s.ok()) return s;
    if (Status s = to_requant_params(params, &p); !s.ok()) return s;
    return qkern::requantize(acc, d, p, y);
  });
}

qkern_status qkern_quantize_multiplier(double real_multiplier, int32_t* q31, int32_t* shift) {
  return guarded([&] { return qkern::quantize_multiplier(real_multiplier, q31, shift); });
}

qkern_status qkern_choose_qparams(const float* x, const qkern_dims* dims, qkern_quant_range range,
                                  qkern_qparams_mode mode, int axis, float* scale,
                                  int32_t* zero_point) {
  return guarded([&] {
    Dims d;
    if (Status s = to_dims(dims, &d); !s.ok()) return s;
    QParamsMode m;
    switch (mode) {
      case QKERN_QPARAMS_ASYMMETRIC: m = QParamsMode::kAsymmetric; break;
      case QKERN_QPARAMS_SYMMETRIC: m = QParamsMode::kSymmetric; break;
      default:
        return invalid("mode: not a qkern_qparams_mode (got " +
                       std::to_string(static_cast<int>(mode)) + ")");
    }
    return qkern::choose_qparams(x, d, to_range(range), m, axis, scale, zero_point);
  });
}

qkern_status qkern_fake_quantize(const float* x, const qkern_dims* dims,
                                 const qkern_quant_params* params, float* y) {
  return guarded([&] {
    Dims d;
    QuantParams p;
    if (Status s = to_dims(dims, &d); !s.ok()) return s;
    if (Status s = to_quant_params(params, &p); !s.ok()) return s;
    return qkern::fake_quantize(x, d, p, y);
  });
}

qkern_status qkern_fake_quantize_backward(const float* x, const float* dy, const qkern_dims* dims,
                                          const qkern_quant_params* params, float* dx,
                                          float* dscale, float* dzero_point,
                                          const float* grad_scale) {
  return guarded([&] {
    Dims d;
    QuantParams p;
    if (Status s = to_dims(dims, &d); !s.ok()) return s;
    if (Status s = to_quant_params(params, &p); !s.ok()) return s;
    FakeQuantGrads g;
    g.dx = dx;
    g.dscale = dscale;
    g.dzero_point = dzero_point;
    std::optional<float> gs;
    if (grad_scale != nullptr) gs = *grad_scale;
    return qkern::fake_quantize_backward(x, dy, d, p, g, gs);
  });
}

// ---- codebooks ----

void qkern_kmeans_options_init(qkern_kmeans_options* options) {
  if (options == nullptr) return;
  const KmeansOptions d;
  options->method = QKERN_KMEANS_OPTIMAL_1D;
  options->importance = d.importance;
  options->max_iterations = d.max_iterations;
  options->tolerance = d.tolerance;
  options->seed = d.seed;
}

qkern_status qkern_kmeans_fit(const float* w, const qkern_codebook_shape* shape,
                              const qkern_kmeans_options* options, float* centroids,
                              uint8_t* labels, double* sse) {
  return guarded([&] {
    CodebookShape s;
    if (Status st = to_shape(shape, &s); !st.ok()) return st;
    KmeansOptions o;
    if (options != nullptr) {
      switch (options->method) {
        case QKERN_KMEANS_OPTIMAL_1D: o.method = KmeansMethod::kOptimal1D; break;
        case QKERN_KMEANS_LLOYD: o.method = KmeansMethod::kLloyd; break;
        default:
          return invalid("options.method: not a qkern_kmeans_method (got " +
                         std::to_string(static_cast<int>(options->method)) + ")");
      }
      o.importance = options->importance;
      o.max_iterations = options->max_iterations;
      o.tolerance = options->tolerance;
      o.seed = options->seed;
    }
    return qkern::kmeans_fit(w, s, o, centroids, labels, sse);
  });
}

qkern_status qkern_assign(const float* w, const qkern_codebook_shape* shape,
                          const float* centroids, uint8_t* labels) {
  return guarded([&] {
    CodebookShape s;
    if (Status st = to_shape(shape, &s); !st.ok()) return st;
    return qkern::assign(w, s, centroids, labels);
  });
}

int64_t qkern_packed_row_bytes(int64_t cols, int bits) {
  if (cols < 0 || (bits != 2 && bits != 4) || cols > INT64_MAX / 8) return -1;
  return qkern::packed_row_bytes(cols, bits);
}

qkern_status qkern_pack_indices(const uint8_t* labels, const qkern_codebook_shape* shape,
                                uint8_t* packed) {
  return guarded([&] {
    CodebookShape s;
    if (Status st = to_shape(shape, &s); !st.ok()) return st;
    return qkern::pack_indices(labels, s, packed);
  });
}

qkern_status qkern_unpack_indices(const uint8_t* packed, const qkern_codebook_shape* shape,
                                  uint8_t* labels) {
  return guarded([&] {
    CodebookShape s;
    if (Status st = to_shape(shape, &s); !st.ok()) return st;
    return qkern::unpack_indices(packed, s, labels);
  });
}

qkern_status qkern_decode(const uint8_t* labels, const qkern_codebook_shape* shape,
                          const float* centroids, float* w) {
  return guarded([&] {
    CodebookShape s;
    if (Status st = to_shape(shape, &s); !st.ok()) return st;
    return qkern::decode(labels, s, centroids, w);
  });
}

qkern_status qkern_update_centroids(const float* w, const uint8_t* labels,
                                    const qkern_codebook_shape* shape, float* centroids) {
  return guarded([&] {
    CodebookShape s;
    if (Status st = to_shape(shape, &s); !st.ok()) return st;
    return qkern::update_centroids(w, labels, s, centroids);
  });
}

qkern_status qkern_centroid_gradient(const float* dw, const uint8_t* labels,
                                     const qkern_codebook_shape* shape, float* dcentroids) {
  return guarded([&] {
    CodebookShape s;
    if (Status st = to_shape(shape, &s); !st.ok()) return st;
    return qkern::centroid_gradient(dw, labels, s, dcentroids);
  });
}

// ---- GEMM ----

void qkern_gemm_params_init(qkern_gemm_params* params) {
  if (params == nullptr) return;
  const QGemmParams d;
  params->n = d.n;
  params->k = d.k;
  params->activation_signed = d.activation_signed;
  params->activation_zero_point = d.activation_zero_point;
  params->activation_scale = d.activation_scale;
  params->activation_7bit = d.activation_7bit;
  params->weights = d.weights;
  params->weight_layout = QKERN_WEIGHTS_NK;
  params->ldw = d.ldw;
  params->weight_scale = d.weight_scale;
  params->weight_scale_per_channel = d.weight_scale_per_channel;
  output_to_c(d, params);
}

qkern_status qkern_gemm_create(const qkern_gemm_params* params, qkern_gemm** gemm) {
  return guarded([&] {
    if (params == nullptr) return null_argument("params");
    if (gemm == nullptr) return null_argument("gemm");
    QGemmParams p;
    p.n = params->n;
    p.k = params->k;
    p.activation_signed = params->activation_signed != 0;
    p.activation_zero_point = params->activation_zero_point;
    p.activation_scale = params->activation_scale;
    p.activation_7bit = params->activation_7bit != 0;
    p.weights = params->weights;
    switch (params->weight_layout) {
      case QKERN_WEIGHTS_NK: p.weight_layout = WeightLayout::kNK; break;
      case QKERN_WEIGHTS_KN: p.weight_layout = WeightLayout::kKN; break;
      default:
        return invalid("params.weight_layout: not a qkern_weight_layout (got " +
                       std::to_string(static_cast<int>(params->weight_layout)) + ")");
    }
    p.ldw = params->ldw;
    p.weight_scale = params->weight_scale;
    p.weight_scale_per_channel = params->weight_scale_per_channel != 0;
    if (Status s = output_from_c(*params, &p); !s.ok()) return s;
    QGemm op;
    if (Status s = QGemm::create(p, &op); !s.ok()) return s;
    *gemm = new qkern_gemm{std::move(op)};
    return Status();
  });
}

void qkern_gemm_destroy(qkern_gemm* gemm) { delete gemm; }

qkern_status qkern_gemm_run(const qkern_gemm* gemm, const void* a, int64_t m, int64_t lda, void* c,
                            int64_t ldc, const qkern_parallel_for* pf) {
  return guarded([&] {
    if (gemm == nullptr) return null_argument("gemm");
    return gemm->op.run(a, m, lda, c, ldc, to_pf(pf));
  });
}

int64_t qkern_gemm_n(const qkern_gemm* gemm) { return gemm == nullptr ? 0 : gemm->op.n(); }
int64_t qkern_gemm_k(const qkern_gemm* gemm) { return gemm == nullptr ? 0 : gemm->op.k(); }
qkern_isa qkern_gemm_isa(const qkern_gemm* gemm) {
  return gemm == nullptr ? QKERN_ISA_SCALAR : static_cast<qkern_isa>(gemm->op.isa());
}
const char* qkern_gemm_kernel(const qkern_gemm* gemm) {
  return gemm == nullptr ? "" : gemm->op.kernel().c_str();
}
size_t qkern_gemm_packed_bytes(const qkern_gemm* gemm) {
  return gemm == nullptr ? 0 : gemm->op.packed_bytes();
}

// ---- lookup GEMM ----

void qkern_lut_gemm_params_init(qkern_lut_gemm_params* params) {
  if (params == nullptr) return;
  const LutGemmParams d;
  params->n = d.n;
  params->k = d.k;
  params->bits = d.bits;
  params->indices = d.indices;
  params->ld_indices = d.ld_indices;
  params->indices_size = d.indices_size;
  params->codebook = d.codebook;
  params->codebook_size = d.codebook_size;
  params->codebook_per_row = d.codebook_per_row;
  params->activation = QKERN_LUT_FP32;
  params->activation_zero_point = d.activation_zero_point;
  params->activation_scale = d.activation_scale;
  params->activation_7bit = d.activation_7bit;
  output_to_c(d, params);
}

qkern_status qkern_quantize_codebook_int8(const float* codebook, int count, int8_t* q,
                                          float* scale) {
  return guarded([&] { return qkern::quantize_codebook_int8(codebook, count, q, scale); });
}

qkern_status qkern_lut_gemm_create(const qkern_lut_gemm_params* params, qkern_lut_gemm** gemm) {
  return guarded([&] {
    if (params == nullptr) return null_argument("params");
    if (gemm == nullptr) return null_argument("gemm");
    LutGemmParams p;
    p.n = params->n;
    p.k = params->k;
    p.bits = params->bits;
    p.indices = params->indices;
    p.ld_indices = params->ld_indices;
    p.indices_size = params->indices_size;
    p.codebook = params->codebook;
    p.codebook_size = params->codebook_size;
    p.codebook_per_row = params->codebook_per_row != 0;
    switch (params->activation) {
      case QKERN_LUT_FP32: p.activation = LutActivation::kFp32; break;
      case QKERN_LUT_U8: p.activation = LutActivation::kU8; break;
      case QKERN_LUT_S8: p.activation = LutActivation::kS8; break;
      default:
        return invalid("params.activation: not a qkern_lut_activation (got " +
                       std::to_string(static_cast<int>(params->activation)) + ")");
    }
    p.activation_zero_point = params->activation_zero_point;
    p.activation_scale = params->activation_scale;
    p.activation_7bit = params->activation_7bit != 0;
    if (Status s = output_from_c(*params, &p); !s.ok()) return s;
    LutGemm op;
    if (Status s = LutGemm::create(p, &op); !s.ok()) return s;
    *gemm = new qkern_lut_gemm{std::move(op)};
    return Status();
  });
}

void qkern_lut_gemm_destroy(qkern_lut_gemm* gemm) { delete gemm; }

qkern_status qkern_lut_gemm_run(const qkern_lut_gemm* gemm, const void* x, int64_t m, int64_t ldx,
                                void* y, int64_t ldy, const qkern_parallel_for* pf) {
  return guarded([&] {
    if (gemm == nullptr) return null_argument("gemm");
    return gemm->op.run(x, m, ldx, y, ldy, to_pf(pf));
  });
}

int64_t qkern_lut_gemm_n(const qkern_lut_gemm* gemm) { return gemm == nullptr ? 0 : gemm->op.n(); }
int64_t qkern_lut_gemm_k(const qkern_lut_gemm* gemm) { return gemm == nullptr ? 0 : gemm->op.k(); }
int qkern_lut_gemm_bits(const qkern_lut_gemm* gemm) {
  return gemm == nullptr ? 0 : gemm->op.bits();
}
qkern_isa qkern_lut_gemm_isa(const qkern_lut_gemm* gemm) {
  return gemm == nullptr ? QKERN_ISA_SCALAR : static_cast<qkern_isa>(gemm->op.isa());
}
const char* qkern_lut_gemm_kernel(const qkern_lut_gemm* gemm) {
  return gemm == nullptr ? "" : gemm->op.kernel().c_str();
}
size_t qkern_lut_gemm_packed_bytes(const qkern_lut_gemm* gemm) {
  return gemm == nullptr ? 0 : gemm->op.packed_bytes();
}
const float* qkern_lut_gemm_codebook_scales(const qkern_lut_gemm* gemm) {
  return gemm == nullptr ? nullptr : gemm->op.codebook_scales();
}

// ---- convolution ----

const char* qkern_conv_path_name(qkern_conv_path path) {
  switch (path) {
    case QKERN_CONV_GEMM_1X1: return conv_path_name(ConvPath::kGemm1x1);
    case QKERN_CONV_IM2COL: return conv_path_name(ConvPath::kIm2col);
    case QKERN_CONV_DEPTHWISE: return conv_path_name(ConvPath::kDepthwise);
    case QKERN_CONV_DIRECT: return conv_path_name(ConvPath::kDirect);
    default: break;
  }
  return "unknown";
}

void qkern_conv2d_params_init(qkern_conv2d_params* params) {
  if (params == nullptr) return;
  const QConv2dParams d;
  params->input_channels = d.input_channels;
  params->output_channels = d.output_channels;
  params->kernel_h = d.kernel_h;
  params->kernel_w = d.kernel_w;
  params->stride_h = d.stride_h;
  params->stride_w = d.stride_w;
  params->dilation_h = d.dilation_h;
  params->dilation_w = d.dilation_w;
  params->pad_top = d.pad_top;
  params->pad_left = d.pad_left;
  params->pad_bottom = d.pad_bottom;
  params->pad_right = d.pad_right;
  params->groups = d.groups;
  params->activation_signed = d.activation_signed;
  params->activation_zero_point = d.activation_zero_point;
  params->activation_scale = d.activation_scale;
  params->weights = d.weights;
  params->weight_layout = QKERN_CONV_WEIGHTS_OHWI;
  params->weight_scale = d.weight_scale;
  params->weight_scale_per_channel = d.weight_scale_per_channel;
  output_to_c(d, params);
}

qkern_status qkern_conv2d_create(const qkern_conv2d_params* params, qkern_conv2d** conv) {
  return guarded([&] {
    if (params == nullptr) return null_argument("params");
    if (conv == nullptr) return null_argument("conv");
    QConv2dParams p;
    p.input_channels = params->input_channels;
    p.output_channels = params->output_channels;
    p.kernel_h = params->kernel_h;
    p.kernel_w = params->kernel_w;
    p.stride_h = params->stride_h;
    p.stride_w = params->stride_w;
    p.dilation_h = params->dilation_h;
    p.dilation_w = params->dilation_w;
    p.pad_top = params->pad_top;
    p.pad_left = params->pad_left;
    p.pad_bottom = params->pad_bottom;
    p.pad_right = params->pad_right;
    p.groups = params->groups;
    p.activation_signed = params->activation_signed != 0;
    p.activation_zero_point = params->activation_zero_point;
    p.activation_scale = params->activation_scale;
    p.weights = params->weights;
    switch (params->weight_layout) {
      case QKERN_CONV_WEIGHTS_OHWI: p.weight_layout = ConvWeightLayout::kOHWI; break;
      case QKERN_CONV_WEIGHTS_OIHW: p.weight_layout = ConvWeightLayout::kOIHW; break;
      default:
        return invalid("params.weight_layout: not a qkern_conv_weight_layout (got " +
                       std::to_string(static_cast<int>(params->weight_layout)) + ")");
    }
    p.weight_scale = params->weight_scale;
    p.weight_scale_per_channel = params->weight_scale_per_channel != 0;
    if (Status s = output_from_c(*params, &p); !s.ok()) return s;
    QConv2d op;
    if (Status s = QConv2d::create(p, &op); !s.ok()) return s;
    *conv = new qkern_conv2d{std::move(op)};
    return Status();
  });
}

void qkern_conv2d_destroy(qkern_conv2d* conv) { delete conv; }

qkern_status qkern_conv2d_output_size(const qkern_conv2d* conv, int64_t h, int64_t w, int64_t* oh,
                                      int64_t* ow) {
  return guarded([&] {
    if (conv == nullptr) return null_argument("conv");
    return conv->op.output_size(h, w, oh, ow);
  });
}

qkern_status qkern_conv2d_run(const qkern_conv2d* conv, const void* x, int64_t batch, int64_t h,
                              int64_t w, void* y, int64_t x_pixel_stride, int64_t y_pixel_stride,
                              const qkern_parallel_for* pf) {
  return guarded([&] {
    if (conv == nullptr) return null_argument("conv");
    return conv->op.run(x, batch, h, w, y, x_pixel_stride, y_pixel_stride, to_pf(pf));
  });
}

qkern_conv_path qkern_conv2d_path(const qkern_conv2d* conv) {
  return conv == nullptr ? QKERN_CONV_GEMM_1X1 : static_cast<qkern_conv_path>(conv->op.path());
}
qkern_isa qkern_conv2d_isa(const qkern_conv2d* conv) {
  return conv == nullptr ? QKERN_ISA_SCALAR : static_cast<qkern_isa>(conv->op.isa());
}
const char* qkern_conv2d_kernel(const qkern_conv2d* conv) {
  return conv == nullptr ? "" : conv->op.kernel().c_str();
}
size_t qkern_conv2d_packed_bytes(const qkern_conv2d* conv) {
  return conv == nullptr ? 0 : conv->op.packed_bytes();
}

}  // extern "C"
