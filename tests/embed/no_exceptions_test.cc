// tests/embed/no_exceptions_test.cc: a host compiled with -fno-exceptions
// -fno-rtti (as many inference engines are) includes the public C++ headers,
// creates and runs every operator and elementwise function, and links against
// libqkern.so. A failure prints the call and exits 1; there is no try/catch to
// lean on here.
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(__GXX_RTTI)
#error "this translation unit must be compiled with -fno-exceptions -fno-rtti"
#endif

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "qkern/qkern.hpp"

namespace {

int g_failures = 0;

void expect(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "no_exceptions_test: %s failed\n", what);
    ++g_failures;
  }
}

void expect_ok(const qkern::Status& s, const char* what) {
  if (!s.ok()) std::fprintf(stderr, "%s: %s\n", what, s.to_string().c_str());
  expect(s.ok(), what);
}

#ifdef QKERN_TEST_EMULATED
constexpr int kThreads = 1;  // qemu-user 7.2 hangs in the guest's pthread_create
#else
constexpr int kThreads = 3;
#endif

}  // namespace

int main() {
  using namespace qkern;
  expect(!available_isas().empty() && available_isas()[0] == Isa::kScalar, "available_isas");

  // Elementwise.
  const float scale = 0.25f;
  const int32_t zp = 5;
  QuantParams qp;
  qp.scale = &scale;
  qp.zero_point = &zp;
  std::vector<float> x = {-1.0f, 0.0f, 0.5f, 2.0f, 70.0f};
  std::vector<uint8_t> q(x.size());
  std::vector<float> back(x.size()), fq(x.size()), dx(x.size());
  const Dims d(static_cast<int64_t>(x.size()));
  expect_ok(quantize(x.data(), d, qp, q.data()), "quantize");
  expect(q[0] == 1 && q[3] == 13 && q[4] == 255, "quantize values");
  expect_ok(dequantize(q.data(), d, qp, back.data()), "dequantize");
  expect_ok(fake_quantize(x.data(), d, qp, fq.data()), "fake_quantize");
  expect(fq == back, "fake_quantize == dequantize(quantize)");
  FakeQuantGrads grads;
  grads.dx = dx.data();
  expect_ok(fake_quantize_backward(x.data(), x.data(), d, qp, grads), "fake_quantize_backward");
  float cs = 0;
  int32_t czp = 0;
  expect_ok(choose_qparams(x.data(), d, QuantRange(), QParamsMode::kAsymmetric, -1, &cs, &czp),
            "choose_qparams");
  int32_t q31 = 0, shift = 0;
  expect_ok(quantize_multiplier(0.3, &q31, &shift), "quantize_multiplier");
  std::vector<int32_t> acc = {-100, 0, 100, 1 << 20};
  std::vector<uint8_t> rq(acc.size());
  RequantParams rp;
  rp.scheme = RequantScheme::kFixedPoint;
  rp.fixed_multiplier = &q31;
  rp.shift = &shift;
  expect_ok(requantize(acc.data(), Dims(4), rp, rq.data()), "requantize");
  expect(rq[0] == 0 && rq[2] == 30 && rq[3] == 255, "requantize values");
  // An error is a value here too.
  const float bad_scale = 0.0f;
  qp.scale = &bad_scale;
  expect(!quantize(x.data(), d, qp, q.data()).ok(), "quantize rejects scale 0");

  // Codebooks.
  const int64_t rows = 4, cols = 32;
  std::vector<float> w(rows * cols);
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::sin(0.37f * static_cast<float>(i));
  CodebookShape shape;
  shape.rows = rows;
  shape.cols = cols;
  shape.bits = 4;
  shape.per_row = true;
  std::vector<float> cents(rows * 16), dec(w.size()), dc(rows * 16);
  std::vector<uint8_t> labels(w.size()), labels2(w.size()),
      packed(rows * packed_row_bytes(cols, 4));
  expect_ok(kmeans_fit(w.data(), shape, KmeansOptions(), cents.data(), labels.data()), "kmeans_fit");
  expect_ok(assign(w.data(), shape, cents.data(), labels2.data()), "assign");
  expect(labels == labels2, "assign == kmeans_fit labels");
  expect_ok(pack_indices(labels.data(), shape, packed.data()), "pack_indices");
  expect_ok(unpack_indices(packed.data(), shape, labels2.data()), "unpack_indices");
  expect(labels == labels2, "unpack(pack)");
  expect_ok(decode(labels.data(), shape, cents.data(), dec.data()), "decode");
  expect_ok(update_centroids(w.data(), labels.data(), shape, cents.data()), "update_centroids");
  expect_ok(centroid_gradient(w.data(), labels.data(), shape, dc.data()), "centroid_gradient");

  ThreadPool pool(kThreads);

  // QGemm.
  const int64_t m = 3, n = 20, k = 33;
  std::vector<uint8_t> a(m * k);
  std::vector<int8_t> wt(n * k);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i * 37);
  for (size_t i = 0; i < wt.size(); ++i) wt[i] = static_cast<int8_t>(i * 11);
  std::vector<float> wscale(n, 0.01f);
  QGemmParams gp;
  gp.n = n;
  gp.k = k;
  gp.activation_zero_point = 128;
  gp.weights = wt.data();
  gp.weight_scale = wscale.data();
  gp.output = GemmOutput::kInt32;
  QGemm gemm;
  expect_ok(QGemm::create(gp, &gemm), "QGemm::create");
  std::vector<int32_t> c(m * n), c2(m * n);
  expect_ok(gemm.run(a.data(), m, k, c.data(), n), "QGemm::run");
  expect_ok(gemm.run(a.data(), m, k, c2.data(), n, pool.parallel_for()), "QGemm::run (pool)");
  expect(c == c2, "QGemm pool == inline");
  int32_t want = 0;
  for (int64_t kk = 0; kk < k; ++kk) want += (a[kk] - 128) * wt[kk];
  expect(c[0] == want, "QGemm value");

  // LutGemm.
  LutGemmParams lp;
  lp.n = rows;
  lp.k = cols;
  lp.indices = packed.data();
  lp.indices_size = static_cast<int64_t>(packed.size());
  lp.codebook = cents.data();
  lp.codebook_size = static_cast<int64_t>(cents.size());
  lp.codebook_per_row = true;
  LutGemm lut;
  expect_ok(LutGemm::create(lp, &lut), "LutGemm::create");
  std::vector<float> xs(2 * cols, 0.5f), ys(2 * rows);
  expect_ok(lut.run(xs.data(), 2, cols, ys.data(), rows, pool.parallel_for()), "LutGemm::run");
  double want_f = 0;
  for (int64_t kk = 0; kk < cols; ++kk) want_f += 0.5 * dec[kk];
  expect(std::fabs(ys[0] - want_f) < 1e-4, "LutGemm value");

  // QConv2d, 3x3 with padding, and its depthwise twin.
  QConv2dParams cp;
  cp.input_channels = 4;
  cp.output_channels = 4;
  cp.kernel_h = cp.kernel_w = 3;
  cp.pad_top = cp.pad_left = cp.pad_bottom = cp.pad_right = 1;
  std::vector<int8_t> cw(4 * 9 * 4, 3);
  std::vector<float> cscale(4, 0.02f);
  cp.weights = cw.data();
  cp.weight_scale = cscale.data();
  cp.output = GemmOutput::kInt32;
  cp.activation_zero_point = 1;
  std::vector<uint8_t> img(5 * 5 * 4, 2);
  std::vector<int32_t> out(5 * 5 * 4);
  for (int64_t groups : {int64_t{1}, int64_t{4}}) {
    cp.groups = groups;
    QConv2d conv;
    expect_ok(QConv2d::create(cp, &conv), "QConv2d::create");
    int64_t oh = 0, ow = 0;
    expect_ok(conv.output_size(5, 5, &oh, &ow), "QConv2d::output_size");
    expect(oh == 5 && ow == 5, "QConv2d output size");
    expect_ok(conv.run(img.data(), 1, 5, 5, out.data(), 0, 0, pool.parallel_for()), "QConv2d::run");
    // The centre pixel sees 9 taps of (2 - 1) * 3 per input channel of its group.
    expect(out[(2 * 5 + 2) * 4] == 9 * 3 * (4 / groups), "QConv2d value");
    // 4 input channels: the direct path where the JIT runs (x86), else im2col.
    expect(groups == 1 ? conv.path() == ConvPath::kIm2col || conv.path() == ConvPath::kDirect
                       : conv.path() == ConvPath::kDepthwise,
           "QConv2d path");
  }

  if (g_failures != 0) return 1;
  std::printf("no_exceptions_test: ok (%s)\n", isa_name(active_isa()));
  return 0;
}
