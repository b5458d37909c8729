// examples/codebook_lut_gemm.cc: weight sharing with k-means codebooks, end to end, through
// qkern's public API only (qkern/qkern.hpp).
//
//   1. A 256 x 1024 weight matrix W of N(0, 0.02^2) values (about a trained layer's) gets one
//      codebook per row, of 16 centroids (4-bit) and of 4 (2-bit), by both methods of
//      qkern::kmeans_fit: kOptimal1D (exact 1-D k-means) and kLloyd (Lloyd's iterations).
//   2. The labels are packed to 4 or 2 bits each (qkern::pack_indices).
//   3. qkern::LutGemm computes Y = X W^T for 8 rows of X straight from the packed indices:
//      with fp32 activations, and with u8 activations (X quantized per tensor with
//      qkern::choose_qparams and qkern::quantize; the codebooks are then quantized to int8
//      inside LutGemm). Both give float Y here; GemmOutput::kRequantized would give u8 codes.
//   4. Y is compared with X W^T in double, from the float X and the float W: the error of the
//      whole scheme (max |Y - X W^T|, and relative to max |X W^T|). The error against
//      X Wq^T, Wq the decoded codebook weights (qkern::decode), is the part LutGemm adds.
//
// Run: build/release/examples/codebook_lut_gemm (a fraction of a second). Exits 1 if a call
// fails or an error is out of all proportion (a broken build, not a quality judgement).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "qkern/qkern.hpp"

namespace {

constexpr int64_t kN = 256;   // rows of W: output channels
constexpr int64_t kK = 1024;  // columns of W: the reduction length
constexpr int64_t kM = 8;     // rows of X: a small batch

// Stops the example at the first failed call, with the library's message.
void Check(const qkern::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "codebook_lut_gemm: %s: %s\n", what, s.to_string().c_str());
    std::exit(1);
  }
}

// Y = X B^T in double, B n x k.
std::vector<double> ProductInDouble(const std::vector<float>& x, const std::vector<float>& b) {
  std::vector<double> y(static_cast<size_t>(kM * kN));
  for (int64_t m = 0; m < kM; ++m) {
    for (int64_t n = 0; n < kN; ++n) {
      double s = 0;
      for (int64_t k = 0; k < kK; ++k) {
        s += static_cast<double>(x[m * kK + k]) * b[n * kK + k];
      }
      y[m * kN + n] = s;
    }
  }
  return y;
}

struct Error {
  double max_abs = 0;  // max |Y - exact|
  double rel = 0;      // max_abs / max |exact|
};

Error Compare(const std::vector<float>& y, const std::vector<double>& exact) {
  Error e;
  double max_exact = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    e.max_abs = std::max(e.max_abs, std::fabs(y[i] - exact[i]));
    max_exact = std::max(max_exact, std::fabs(exact[i]));
  }
  e.rel = e.max_abs / max_exact;
  return e;
}

}  // namespace

int main() {
  std::mt19937 rng(2024);
  std::normal_distribution<float> weight(0.0f, 0.02f), activation(0.0f, 1.0f);
  std::vector<float> w(static_cast<size_t>(kN * kK)), x(static_cast<size_t>(kM * kK));
  for (float& v : w) v = weight(rng);
  for (float& v : x) v = activation(rng);
  double w_energy = 0;  // sum of w^2: the SSE of the all-zero codebook
  for (float v : w) w_energy += static_cast<double>(v) * v;
  const std::vector<double> exact = ProductInDouble(x, w);

  // u8 activations: one scale and zero point for X (asymmetric: the zero point maps 0.0).
  const qkern::QuantRange u8;  // 8 bits, unsigned
  float x_scale = 0;
  int32_t x_zero_point = 0;
  Check(qkern::choose_qparams(x.data(), qkern::Dims(kM * kK), u8, qkern::QParamsMode::kAsymmetric,
                              /*axis=*/-1, &x_scale, &x_zero_point),
        "choose_qparams");
  std::vector<uint8_t> xq(x.size());
  const qkern::QuantParams xq_params{u8, &x_scale, &x_zero_point};
  Check(qkern::quantize(x.data(), qkern::Dims(kM * kK), xq_params, xq.data()), "quantize");

  std::printf("W %lld x %lld ~ N(0, 0.02^2) (%.0f KiB of floats), one codebook per row; "
              "X %lld x %lld ~ N(0, 1)\n",
              static_cast<long long>(kN), static_cast<long long>(kK),
              static_cast<double>(w.size() * sizeof(float)) / 1024, static_cast<long long>(kM),
              static_cast<long long>(kK));
  std::printf("X as u8: scale %.6g, zero point %d\n\n", static_cast<double>(x_scale),
              static_cast<int>(x_zero_point));
  std::printf("%-4s %-8s %10s %9s %11s  %-4s %-48s %12s %9s %12s\n", "bits", "method", "sse",
              "rel sse", "packed W", "X", "kernel", "max |Y-XW'|", "relative", "vs decoded");

  bool ok = true;
  for (int bits : {4, 2}) {
    double optimal_sse = 0;
    for (qkern::KmeansMethod method : {qkern::KmeansMethod::kOptimal1D, qkern::KmeansMethod::kLloyd}) {
      const bool is_optimal = method == qkern::KmeansMethod::kOptimal1D;
      const int entries = 1 << bits;

      // 1. Fit: centroids [rows][2^bits] (sorted), one label byte per weight.
      qkern::CodebookShape shape;
      shape.rows = kN;
      shape.cols = kK;
      shape.bits = bits;
      shape.per_row = true;
      qkern::KmeansOptions options;
      options.method = method;
      std::vector<float> codebook(static_cast<size_t>(kN * entries));
      std::vector<uint8_t> labels(static_cast<size_t>(kN * kK));
      double sse = 0;
      Check(qkern::kmeans_fit(w.data(), shape, options, codebook.data(), labels.data(), &sse),
            "kmeans_fit");
      if (is_optimal) optimal_sse = sse;
      ok = ok && (is_optimal || optimal_sse <= sse * (1 + 1e-9));  // the exact fit is never worse
      std::vector<float> decoded(w.size());
      Check(qkern::decode(labels.data(), shape, codebook.data(), decoded.data()), "decode");
      const std::vector<double> exact_decoded = ProductInDouble(x, decoded);

      // 2. Pack: packed_row_bytes(cols, bits) bytes per row.
      const int64_t row_bytes = qkern::packed_row_bytes(kK, bits);
      std::vector<uint8_t> packed(static_cast<size_t>(kN * row_bytes));
      Check(qkern::pack_indices(labels.data(), shape, packed.data()), "pack_indices");

      // 3. LutGemm on the packed indices and the codebooks, fp32 then u8 activations.
      for (qkern::LutActivation act : {qkern::LutActivation::kFp32, qkern::LutActivation::kU8}) {
        const bool is_u8 = act == qkern::LutActivation::kU8;
        qkern::LutGemmParams p;
        p.n = kN;
        p.k = kK;
        p.bits = bits;
        p.indices = packed.data();
        p.indices_size = static_cast<int64_t>(packed.size());
        p.codebook = codebook.data();
        p.codebook_size = static_cast<int64_t>(codebook.size());
        p.codebook_per_row = true;
        p.activation = act;
        if (is_u8) {
          p.activation_zero_point = x_zero_point;
          p.activation_scale = x_scale;
        }
        p.output = qkern::GemmOutput::kFloat;
        qkern::LutGemm gemm;
        Check(qkern::LutGemm::create(p, &gemm), "LutGemm::create");
        std::vector<float> y(static_cast<size_t>(kM * kN));
        const void* xp = is_u8 ? static_cast<const void*>(xq.data()) : x.data();
        Check(gemm.run(xp, kM, /*ldx=*/kK, y.data(), /*ldy=*/kN), "LutGemm::run");

        // 4. Errors.
        const Error e = Compare(y, exact);
        const Error e_decoded = Compare(y, exact_decoded);
        std::printf("%-4d %-8s %10.5f %8.2f%% %7.0f KiB  %-4s %-48s %12.5f %8.2f%% %11.3g%%\n",
                    bits, is_optimal ? "optimal" : "lloyd", sse, 100.0 * sse / w_energy,
                    static_cast<double>(packed.size()) / 1024, is_u8 ? "u8" : "f32",
                    gemm.kernel().c_str(), e.max_abs, 100.0 * e.rel, 100.0 * e_decoded.rel);
        ok = ok && std::isfinite(e.rel) && e.rel < 0.5 && e_decoded.rel < 0.05;
      }
    }
  }
  std::printf("\nrel sse: the SSE over sum w^2; relative: max |Y - X W^T| / max |X W^T|;\n"
              "vs decoded: the same against X Wq^T, Wq = the codebook weights (what LutGemm adds)\n");
  if (!ok) {
    std::fprintf(stderr, "codebook_lut_gemm: an error is out of all proportion\n");
    return 1;
  }
  return 0;
}
