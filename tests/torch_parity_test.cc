// tests/torch_parity_test.cc: the quantize family against PyTorch's own
// outputs, on every ISA. The vectors (tests/data/torch_parity.txt) were
// written by tools/gen_torch_vectors.py with Debian's PyTorch 1.13; CI only
// reads them. Integer outputs and elementwise floats must match exactly;
// gradient sums (summed in another order by PyTorch) within the reordering
// bound of docs/semantics.md.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "qkern/quantize.hpp"
#include "tests/test_util.h"

namespace qkern {
namespace {

using test::IsaTest;
using test::SameFloat;

// One line: the op, its parameter words, then the '|'-separated fields.
struct Line {
  std::string op;
  std::vector<std::string> params;
  std::vector<std::vector<std::string>> fields;
};

std::vector<Line> ReadVectors() {
  std::ifstream in(QKERN_TEST_DATA_DIR "/torch_parity.txt");
  std::vector<Line> lines;
  std::string text;
  while (std::getline(in, text)) {
    if (text.empty() || text[0] == '#') continue;
    std::istringstream words(text);
    Line line;
    words >> line.op;
    std::vector<std::string>* dst = &line.params;
    for (std::string w; words >> w;) {
      if (w == "|") {
        line.fields.emplace_back();
        dst = &line.fields.back();
      } else {
        dst->push_back(w);
      }
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

float F(const std::string& s) { return std::strtof(s.c_str(), nullptr); }  // hex floats are exact
int32_t I(const std::string& s) { return static_cast<int32_t>(std::stol(s)); }
std::vector<float> Floats(const std::vector<std::string>& v, size_t from = 0, size_t n = SIZE_MAX) {
  std::vector<float> out;
  for (size_t i = from; i < v.size() && out.size() < n; ++i) out.push_back(F(v[i]));
  return out;
}
std::vector<int32_t> Ints(const std::vector<std::string>& v, size_t from = 0, size_t n = SIZE_MAX) {
  std::vector<int32_t> out;
  for (size_t i = from; i < v.size() && out.size() < n; ++i) out.push_back(I(v[i]));
  return out;
}

QuantRange Range(int bits, bool is_signed) { return {bits, is_signed, false}; }

// Sum of |term| over the channel: each term is the gradient sum of one element.
double AbsTermSum(const std::vector<float>& x, const std::vector<float>& dy, const QuantParams& p,
                  float g, bool dscale) {
  double sum = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    float ds = 0.0f, dzp = 0.0f;
    EXPECT_TRUE(fake_quantize_backward(&x[i], &dy[i], Dims(1), p, {nullptr, &ds, &dzp}, g).ok());
    sum += std::fabs(dscale ? ds : dzp);
  }
  return sum;
}

void ExpectSumsClose(float got, float torch, double abs_sum, size_t n, const char* what) {
  const double gamma = n * std::ldexp(1.0, -24) / (1.0 - n * std::ldexp(1.0, -24));
  // Both sides are within gamma_n * sum|t| of the exact sum.
  EXPECT_LE(std::fabs(double(got) - double(torch)), 2 * gamma * abs_sum + 1e-30)
      << what << ": qkern " << got << " PyTorch " << torch;
}

class TorchParityTest : public IsaTest {};

TEST_P(TorchParityTest, MatchesPyTorch) {
  const std::vector<Line> lines = ReadVectors();
  ASSERT_GT(lines.size(), 100u) << "tests/data/torch_parity.txt missing or short";
  int checked = 0;
  for (const Line& line : lines) {
    SCOPED_TRACE(line.op + " " + (line.params.empty() ? "" : line.params[0]));
    if (line.op == "quantize" || line.op == "dequantize") {
      const bool is_signed = I(line.params[0]) != 0;
      const float scale = F(line.params[1]);
      const int32_t zp = I(line.params[2]);
      const QuantParams p{Range(8, is_signed), &scale, &zp, -1};
      if (line.op == "quantize") {
        const auto x = Floats(line.fields[0]);
        const auto want = Ints(line.fields[1]);
        std::vector<uint8_t> y(x.size());
        ASSERT_TRUE(quantize(x.data(), Dims(int64_t(x.size())), p, y.data()).ok());
        for (size_t i = 0; i < x.size(); ++i) {
          const int32_t got = is_signed ? int32_t(int8_t(y[i])) : int32_t(y[i]);
          ASSERT_EQ(got, want[i]) << "x=" << x[i] << " scale=" << scale << " zp=" << zp;
        }
      } else {
        const auto codes = Ints(line.fields[0]);
        const auto want = Floats(line.fields[1]);
        std::vector<uint8_t> q(codes.begin(), codes.end());
        std::vector<float> y(q.size());
        ASSERT_TRUE(dequantize(q.data(), Dims(int64_t(q.size())), p, y.data()).ok());
        for (size_t i = 0; i < y.size(); ++i) ASSERT_TRUE(SameFloat(y[i], want[i])) << "q=" << codes[i];
      }
    } else if (line.op == "quantize_per_channel") {
      const bool is_signed = I(line.params[0]) != 0;
      const int c = I(line.params[1]);
      const auto scales = Floats(line.params, 2, c);
      const auto zps = Ints(line.params, 2 + c, c);
      const auto x = Floats(line.fields[0]);
      const auto want = Ints(line.fields[1]);
      const QuantParams p{Range(8, is_signed), scales.data(), zps.data(), 1};
      std::vector<uint8_t> y(x.size());
      ASSERT_TRUE(quantize(x.data(), Dims{5, c, 3}, p, y.data()).ok());
      for (size_t i = 0; i < x.size(); ++i) {
        ASSERT_EQ(is_signed ? int32_t(int8_t(y[i])) : int32_t(y[i]), want[i]) << "i=" << i;
      }
    } else if (line.op == "lsq" || line.op == "lsq_per_channel") {
      const bool per_channel = line.op == "lsq_per_channel";
      const int bits = I(line.params[0]);
      const bool is_signed = I(line.params[1]) != 0;
      const int c = per_channel ? I(line.params[2]) : 1;
      const size_t at = per_channel ? 3 : 2;
      const auto scales = Floats(line.params, at, c);
      const auto zps = Ints(line.params, at + c, c);
      const float g = F(line.params[at + 2 * c]);
      const auto x = Floats(line.fields[0]), dy = Floats(line.fields[1]);
      const auto want_y = Floats(line.fields[2]), want_dx = Floats(line.fields[3]);
      const auto want_ds = per_channel ? Floats(line.fields[4]) : Floats(line.fields[4], 0, 1);
      const auto want_dzp = per_channel ? Floats(line.fields[5]) : Floats(line.fields[4], 1, 1);
      const int64_t n = int64_t(x.size());
      const Dims dims = per_channel ? Dims{c, n / c} : Dims(n);
      const QuantParams p{Range(bits, is_signed), scales.data(), zps.data(), per_channel ? 0 : -1};
      std::vector<float> y(x.size()), dx(x.size()), ds(c), dzp(c);
      ASSERT_TRUE(fake_quantize(x.data(), dims, p, y.data()).ok());
      ASSERT_TRUE(fake_quantize_backward(x.data(), dy.data(), dims, p, {dx.data(), ds.data(), dzp.data()}, g).ok());
      for (size_t i = 0; i < x.size(); ++i) {
        ASSERT_TRUE(SameFloat(y[i], want_y[i])) << "y: x=" << x[i] << " " << y[i] << " vs " << want_y[i];
        ASSERT_TRUE(SameFloat(dx[i], want_dx[i])) << "dx: x=" << x[i];
      }
      const size_t per = x.size() / c;
      for (int ch = 0; ch < c; ++ch) {
        const std::vector<float> xc(x.begin() + ch * per, x.begin() + (ch + 1) * per);
        const std::vector<float> dyc(dy.begin() + ch * per, dy.begin() + (ch + 1) * per);
        const QuantParams pc{Range(bits, is_signed), &scales[ch], &zps[ch], -1};
        ExpectSumsClose(ds[ch], want_ds[ch], AbsTermSum(xc, dyc, pc, g, true), per, "dscale");
        ExpectSumsClose(dzp[ch], want_dzp[ch], AbsTermSum(xc, dyc, pc, g, false), per, "dzero_point");
      }
    } else if (line.op == "choose_qparams") {
      const bool symmetric = line.params[0] == "symmetric";
      const QuantRange r{8, I(line.params[1]) != 0, I(line.params[2]) != 0};
      const auto x = Floats(line.fields[0]);
      float scale = 0.0f;
      int32_t zp = 0;
      ASSERT_TRUE(choose_qparams(x.data(), Dims(int64_t(x.size())), r,
                                 symmetric ? QParamsMode::kSymmetric : QParamsMode::kAsymmetric, -1,
                                 &scale, &zp)
                      .ok());
      EXPECT_TRUE(SameFloat(scale, F(line.fields[1][0]))) << scale << " vs " << line.fields[1][0];
      EXPECT_EQ(zp, I(line.fields[1][1]));
    } else {
      FAIL() << "unknown op in torch_parity.txt: " << line.op;
    }
    if (HasFatalFailure()) return;
    ++checked;
  }
  EXPECT_EQ(checked, int(lines.size()));
}

QKERN_INSTANTIATE_ISA_TEST(TorchParityTest);

}  // namespace
}  // namespace qkern
