// tests/codebook_test.cc: assign, pack/unpack, decode and the QAT updates on
// every ISA, against the reference and against first principles (nearest by
// distance, ties to the lower index; hand-packed bytes).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "qkern/codebook.hpp"
#include "reference/codebook_ref.h"
#include "tests/test_util.h"

namespace qkern {
namespace {

using test::IsaTest;
using test::SameFloat;

// Sorted centroids for `books` codebooks of k, with some duplicates.
std::vector<float> Centroids(int64_t books, int k, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> c(static_cast<size_t>(books * k));
  for (int64_t b = 0; b < books; ++b) {
    for (int i = 0; i < k; ++i) c[b * k + i] = (i > 0 && rng() % 7 == 0) ? c[b * k + i - 1] : nd(rng);
    std::sort(c.begin() + b * k, c.begin() + (b + 1) * k);
  }
  return c;
}

// Weights that hit the centroids, the exact midpoints and their neighbours.
std::vector<float> Weights(int64_t n, const std::vector<float>& c, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.5f);
  std::vector<float> w(static_cast<size_t>(n));
  for (auto& v : w) {
    const size_t i = rng() % c.size(), j = std::min(i + 1, c.size() - 1);
    switch (rng() % 5) {
      case 0: v = c[i]; break;
      case 1: v = static_cast<float>((double(c[i]) + c[j]) / 2); break;
      case 2: v = std::nextafter(static_cast<float>((double(c[i]) + c[j]) / 2), 10.0f); break;
      default: v = nd(rng);
    }
  }
  return w;
}

class CodebookTest : public IsaTest {};

TEST_P(CodebookTest, AssignIsNearestWithTiesToTheLowerIndex) {
  std::mt19937 rng(1);
  for (int bits = 1; bits <= 8; ++bits) {
    const int k = 1 << bits;
    for (bool per_row : {false, true}) {
      for (int64_t cols : {1, 7, 16, 33, 250}) {
        const CodebookShape shape{5, cols, bits, per_row};
        const int64_t books = per_row ? 5 : 1;
        const auto c = Centroids(books, k, rng);
        const auto w = Weights(5 * cols, c, rng);
        std::vector<uint8_t> labels(w.size(), 0xEE);
        ASSERT_TRUE(assign(w.data(), shape, c.data(), labels.data()).ok());
        for (int64_t r = 0; r < 5; ++r) {
          const float* cb = c.data() + (per_row ? r * k : 0);
          for (int64_t j = 0; j < cols; ++j) {
            const float x = w[r * cols + j];
            int best = 0;  // first principles: strictly closer wins, so ties keep the lower index
            for (int i = 1; i < k; ++i) {
              if (std::fabs(double(x) - cb[i]) < std::fabs(double(x) - cb[best])) best = i;
            }
            ASSERT_EQ(labels[r * cols + j], best)
                << "w=" << x << " bits=" << bits << " per_row=" << per_row;
          }
        }
      }
    }
  }
}

TEST_P(CodebookTest, AssignAndDecodeMatchTheReferenceOnLongRows) {
  std::mt19937 rng(2);
  for (int bits : {2, 4}) {
    const int k = 1 << bits;
    for (int64_t n : test::TestSizes()) {
      const CodebookShape shape{1, n, bits, false};
      const auto c = Centroids(1, k, rng);
      const auto w = Weights(n, c, rng);
      std::vector<uint8_t> labels(n + 1, 0xEE), want(n);
      std::vector<float> t(k);
      ASSERT_TRUE(assign(w.data(), shape, c.data(), labels.data()).ok());
      ref::thresholds(c.data(), k, t.data());
      ref::assign_row(w.data(), n, t.data(), k, want.data());
      for (int64_t j = 0; j < n; ++j) ASSERT_EQ(labels[j], want[j]) << "j=" << j;
      ASSERT_EQ(labels[n], 0xEE) << "wrote past the end";
      std::vector<float> out(n + 1, -3.0f);
      ASSERT_TRUE(decode(labels.data(), shape, c.data(), out.data()).ok());
      for (int64_t j = 0; j < n; ++j) ASSERT_TRUE(SameFloat(out[j], c[labels[j]]));
      ASSERT_EQ(out[n], -3.0f);
    }
  }
}

TEST_P(CodebookTest, DecodePerRow) {
  std::mt19937 rng(3);
  const CodebookShape shape{9, 37, 4, true};
  const auto c = Centroids(9, 16, rng);
  std::vector<uint8_t> labels(9 * 37);
  for (auto& l : labels) l = static_cast<uint8_t>(rng() % 16);
  std::vector<float> w(labels.size());
  ASSERT_TRUE(decode(labels.data(), shape, c.data(), w.data()).ok());
  for (size_t i = 0; i < w.size(); ++i) ASSERT_TRUE(SameFloat(w[i], c[(i / 37) * 16 + labels[i]]));
}

TEST_P(CodebookTest, CentroidGradientSumsMembers) {
  std::mt19937 rng(4);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int bits : {1, 2, 4, 5}) {
    const int k = 1 << bits;
    for (bool per_row : {false, true}) {
      const CodebookShape shape{6, 1001, bits, per_row};
      const int64_t books = per_row ? 6 : 1, per_book = 6 * 1001 / books;
      std::vector<float> dw(6 * 1001);
      std::vector<uint8_t> labels(dw.size());
      for (size_t i = 0; i < dw.size(); ++i) {
        dw[i] = nd(rng);
        labels[i] = static_cast<uint8_t>(rng() % k);
      }
      std::vector<float> dc(books * k, 99.0f);
      ASSERT_TRUE(centroid_gradient(dw.data(), labels.data(), shape, dc.data()).ok());
      for (int64_t b = 0; b < books; ++b) {
        for (int c = 0; c < k; ++c) {
          double exact = 0.0, abs_sum = 0.0;
          int64_t members = 0;
          for (int64_t j = b * per_book; j < (b + 1) * per_book; ++j) {
            if (labels[j] == c) exact += dw[j], abs_sum += std::fabs(dw[j]), ++members;
          }
          const double u = std::ldexp(1.0, -24), gamma = members * u / (1 - members * u);
          EXPECT_LE(std::fabs(dc[b * k + c] - exact), gamma * abs_sum + 1e-30) << "c=" << c;
        }
      }
    }
  }
}

QKERN_INSTANTIATE_ISA_TEST(CodebookTest);

TEST(Codebook, ThresholdsTieToTheLowerCentroid) {
  const float c[] = {0.0f, 1.0f, 1.0f, 3.0f};
  float t[3];
  ref::thresholds(c, 4, t);
  EXPECT_EQ(t[0], 0.5f);
  EXPECT_EQ(t[1], 2.0f);  // inside the group {1, 1}: the group's upper boundary
  EXPECT_EQ(t[2], 2.0f);
  const float w[] = {0.5f, std::nextafter(0.5f, 1.0f), 1.0f, 1.5f, 2.0f, 2.5f, -7.0f};
  uint8_t labels[7];
  ASSERT_TRUE(assign(w, {1, 7, 2, false}, c, labels).ok());
  // Equal centroids 1 and 2: index 1 takes them all; 2.0 ties three ways: index 1.
  const uint8_t want[] = {0, 1, 1, 1, 1, 3, 0};
  for (int i = 0; i < 7; ++i) EXPECT_EQ(labels[i], want[i]) << "w=" << w[i];
  // A midpoint that is not a float: t is the float just below it.
  const float last_equal[] = {0.0f, 5.0f, 5.0f}, big = 9.0f;
  float t3[2];
  ref::thresholds(last_equal, 3, t3);
  EXPECT_EQ(t3[1], std::numeric_limits<float>::infinity());
  const float top_equal[] = {0.0f, 5.0f, 5.0f, 5.0f};
  ASSERT_TRUE(assign(&big, {1, 1, 2, false}, top_equal, labels).ok());
  EXPECT_EQ(labels[0], 1);
  const float c2[] = {1.0f, std::nextafter(1.0f, 2.0f)};
  float t2;
  ref::thresholds(c2, 2, &t2);
  EXPECT_EQ(t2, 1.0f);
}

TEST(Codebook, PackedLayout) {
  const uint8_t l4[] = {1, 2, 3, 15, 4};
  uint8_t p4[3] = {0xEE, 0xEE, 0xEE};
  ASSERT_TRUE(pack_indices(l4, {1, 5, 4, false}, p4).ok());
  EXPECT_EQ(p4[0], 0x21);
  EXPECT_EQ(p4[1], 0xF3);
  EXPECT_EQ(p4[2], 0x04);  // padded with label 0
  const uint8_t l2[] = {1, 2, 3, 0, 1, 3};
  uint8_t p2[2];
  ASSERT_TRUE(pack_indices(l2, {1, 6, 2, false}, p2).ok());
  EXPECT_EQ(p2[0], 0x39);  // 1 | 2 << 2 | 3 << 4 | 0 << 6
  EXPECT_EQ(p2[1], 0x0D);  // 1 | 3 << 2
  EXPECT_EQ(packed_row_bytes(5, 4), 3);
  EXPECT_EQ(packed_row_bytes(6, 2), 2);
}

TEST(Codebook, PackUnpackRoundTripsRowByRow) {
  std::mt19937 rng(5);
  for (int bits : {2, 4}) {
    for (int64_t cols : {1, 2, 3, 4, 5, 63, 64, 65}) {
      const CodebookShape shape{3, cols, bits, false};
      std::vector<uint8_t> labels(3 * cols), back(labels.size());
      for (auto& l : labels) l = static_cast<uint8_t>(rng() % (1 << bits));
      std::vector<uint8_t> packed(3 * packed_row_bytes(cols, bits));
      ASSERT_TRUE(pack_indices(labels.data(), shape, packed.data()).ok());
      ASSERT_TRUE(unpack_indices(packed.data(), shape, back.data()).ok());
      EXPECT_EQ(back, labels) << "bits=" << bits << " cols=" << cols;
    }
  }
}

TEST(Codebook, UpdateCentroidsIsTheMeanAndKeepsEmptyOnes) {
  const float w[] = {1.0f, 2.0f, 4.0f, 10.0f, 0.1f, 0.2f};
  const uint8_t labels[] = {0, 0, 0, 3, 2, 2};
  float c[4] = {-1.0f, -2.0f, -3.0f, -4.0f};
  ASSERT_TRUE(update_centroids(w, labels, {1, 6, 2, false}, c).ok());
  EXPECT_EQ(c[0], static_cast<float>(7.0 / 3.0));
  EXPECT_EQ(c[1], -2.0f);  // no members: unchanged
  EXPECT_EQ(c[2], static_cast<float>((double(0.1f) + double(0.2f)) / 2));
  EXPECT_EQ(c[3], 10.0f);
}

TEST(Codebook, BadInputIsAnErrorAndWritesNothing) {
  const float w[4] = {0, 1, 2, 3};
  const float sorted[4] = {0, 1, 2, 3};
  uint8_t labels[4] = {7, 7, 7, 7};
  float out[4] = {-9, -9, -9, -9};
  auto untouched = [&] {
    return labels[0] == 7 && labels[3] == 7 && out[0] == -9 && out[3] == -9;
  };
  auto expect = [&](const Status& s, StatusCode code, const char* prefix) {
    EXPECT_EQ(s.code(), code) << s.to_string();
    EXPECT_EQ(s.message().rfind(prefix, 0), 0u) << s.message();
    EXPECT_TRUE(untouched());
  };
  expect(assign(w, {1, 4, 0, false}, sorted, labels), StatusCode::kOutOfRange, "shape.bits:");
  expect(assign(w, {1, 4, 9, false}, sorted, labels), StatusCode::kOutOfRange, "shape.bits:");
  expect(assign(w, {-1, 4, 2, false}, sorted, labels), StatusCode::kInvalidArgument, "shape:");
  expect(assign(w, {int64_t{1} << 40, int64_t{1} << 40, 2, false}, sorted, labels),
         StatusCode::kOverflow, "shape:");
  expect(assign(nullptr, {1, 4, 2, false}, sorted, labels), StatusCode::kInvalidArgument, "w:");
  const float unsorted[4] = {0, 2, 1, 3};
  expect(assign(w, {1, 4, 2, false}, unsorted, labels), StatusCode::kOutOfRange, "centroids[2]:");
  const float nan_c[4] = {0, std::numeric_limits<float>::quiet_NaN(), 2, 3};
  expect(assign(w, {1, 4, 2, false}, nan_c, labels), StatusCode::kOutOfRange, "centroids[1]:");
  const uint8_t bad_labels[4] = {0, 1, 4, 0};
  expect(decode(bad_labels, {1, 4, 2, false}, sorted, out), StatusCode::kOutOfRange, "labels[2]:");
  expect(update_centroids(w, bad_labels, {1, 4, 2, false}, out), StatusCode::kOutOfRange,
         "labels[2]:");
  expect(centroid_gradient(w, bad_labels, {1, 4, 2, false}, out), StatusCode::kOutOfRange,
         "labels[2]:");
  expect(pack_indices(bad_labels, {1, 4, 2, false}, labels), StatusCode::kOutOfRange, "labels[2]:");
  expect(pack_indices(labels, {1, 4, 3, false}, labels), StatusCode::kOutOfRange, "shape.bits:");
  expect(unpack_indices(nullptr, {1, 4, 4, false}, labels), StatusCode::kInvalidArgument, "packed:");
}

}  // namespace
}  // namespace qkern
