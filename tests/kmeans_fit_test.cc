// tests/kmeans_fit_test.cc: qkern::kmeans_fit. Fitting is scalar code, so
// these are plain tests, not per-ISA ones (the labels come from qkern::assign,
// whose ISAs codebook_test.cc covers).
//
// kOptimal1D is checked against reference/kmeans_ref.h: brute-force
// enumeration on small inputs (the same SSE, and the same clusters when the
// optimum is unique) and the textbook O(k d^2) DP on a few hundred points.
// Partition quality is measured around each cluster's own weighted mean in
// double (PartitionSse), so the float rounding of the centroids does not blur
// a 1e-9 comparison.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "qkern/codebook.hpp"
#include "qkern/isa.hpp"
#include "reference/kmeans_ref.h"

namespace qkern {
namespace {

struct Fit {
  Status status;
  std::vector<float> centroids;
  std::vector<uint8_t> labels;
  double sse = -1;
};

Fit RunFit(const std::vector<float>& w, int64_t rows, int64_t cols, int bits, bool per_row,
           const KmeansOptions& o) {
  CodebookShape shape;
  shape.rows = rows;
  shape.cols = cols;
  shape.bits = bits;
  shape.per_row = per_row;
  Fit f;
  f.centroids.assign(static_cast<size_t>((per_row ? rows : 1) << bits), -1.0f);
  f.labels.assign(static_cast<size_t>(rows * cols), 0xEE);
  f.status = kmeans_fit(w.data(), shape, o, f.centroids.data(), f.labels.data(), &f.sse);
  return f;
}

KmeansOptions Options(KmeansMethod m, const std::vector<float>* importance = nullptr) {
  KmeansOptions o;
  o.method = m;
  o.importance = importance && !importance->empty() ? importance->data() : nullptr;
  return o;
}

// The effective weights of one codebook: importance, or 1 each when absent or all 0.
std::vector<double> Weights(const float* imp, int64_t n) {
  bool any = false;
  for (int64_t i = 0; i < n && imp; ++i) any |= imp[i] > 0;
  std::vector<double> wt(static_cast<size_t>(n), 1.0);
  if (any) {
    for (int64_t i = 0; i < n; ++i) wt[i] = imp[i];
  }
  return wt;
}

// The SSE of the partition the labels make, each cluster around its own
// weighted mean (summed in double): the quantity kOptimal1D minimizes.
double PartitionSse(const float* w, const float* imp, int64_t n, const uint8_t* labels) {
  const std::vector<double> wt = Weights(imp, n);
  std::map<int, std::pair<double, double>> sums;  // label -> (sum wt, sum wt * w)
  for (int64_t i = 0; i < n; ++i) {
    sums[labels[i]].first += wt[i];
    sums[labels[i]].second += wt[i] * w[i];
  }
  double sse = 0;
  for (int64_t i = 0; i < n; ++i) {
    const auto& s = sums[labels[i]];
    if (s.first == 0) continue;
    const double e = w[i] - s.second / s.first;
    sse += wt[i] * e * e;
  }
  return sse;
}

// The label rule of qkern::assign: #{ c : w > (C[c] + C[c + 1]) / 2 } with
// the midpoint in double, then down to the first of a run of equal
// centroids (a tie between equal centroids goes to the lower index).
int RuleLabel(float w, const float* c, int k) {
  int l = 0;
  for (int i = 0; i + 1 < k; ++i)
    l += static_cast<double>(w) > (double(c[i]) + double(c[i + 1])) / 2;
  while (l > 0 && c[l - 1] == c[l]) --l;
  return l;
}

// Sorted centroids, labels by the rule, and the reported SSE = the labelling's SSE.
void ExpectConsistent(const Fit& f, const std::vector<float>& w, const std::vector<float>& imp,
                      int64_t rows, int64_t cols, int bits, bool per_row) {
  ASSERT_TRUE(f.status.ok()) << f.status.to_string();
  const int k = 1 << bits;
  const int64_t books = per_row ? rows : 1, n = per_row ? cols : rows * cols;
  double sse = 0;
  for (int64_t b = 0; b < books; ++b) {
    const float* c = f.centroids.data() + b * k;
    for (int i = 0; i + 1 < k; ++i) ASSERT_LE(c[i], c[i + 1]) << "codebook " << b << " i=" << i;
    for (int64_t j = 0; j < n; ++j) {
      const int64_t e = b * n + j;
      ASSERT_EQ(f.labels[e], RuleLabel(w[e], c, k)) << "element " << e;
    }
    const std::vector<double> wt = Weights(imp.empty() ? nullptr : imp.data() + b * n, n);
    for (int64_t j = 0; j < n; ++j) {
      const double e = double(w[b * n + j]) - c[f.labels[b * n + j]];
      sse += wt[j] * e * e;
    }
  }
  EXPECT_NEAR(f.sse, sse, 1e-12 * sse + 1e-300);
}

// ---------------------------------------------------------------------------

TEST(KmeansFitOptimal, MatchesBruteForceOnSmallInputs) {
  std::mt19937_64 rng(12345);
  int unique_checked = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 12);
    const int bits = 1 + static_cast<int>(rng() % 2);  // k = 2 or 4
    const int mode = static_cast<int>(rng() % 3);
    std::vector<float> w(n), imp;
    for (int i = 0; i < n; ++i) {
      if (mode == 0) {
        w[i] = static_cast<float>(static_cast<int>(rng() % 9) - 4) / 4;  // many duplicates
      } else {
        w[i] = std::normal_distribution<float>(0.0f, 1.0f)(rng) * (mode == 2 ? 100.0f : 1.0f);
      }
    }
    if (rng() % 2) {
      imp.resize(n);
      for (int i = 0; i < n; ++i) {
        imp[i] = rng() % 5 == 0 ? 0.0f : std::uniform_real_distribution<float>(0.1f, 3.0f)(rng);
      }
    }
    const Fit f = RunFit(w, 1, n, bits, false, Options(KmeansMethod::kOptimal1D, &imp));
    ExpectConsistent(f, w, imp, 1, n, bits, false);
    const float* ip = imp.empty() ? nullptr : imp.data();
    const ref::Kmeans1D bf = ref::kmeans_1d_brute_force(w.data(), ip, n, 1 << bits);
    const double got = PartitionSse(w.data(), ip, n, f.labels.data());
    ASSERT_NEAR(got, bf.sse, 1e-9 * bf.sse + 1e-12) << "trial " << trial;
    ASSERT_LE(bf.sse, got * (1 + 1e-12) + 1e-15) << "trial " << trial;  // nothing beats the optimum
    if (bf.unique) {
      ++unique_checked;
      const int m = static_cast<int>(bf.centroids.size());
      for (int c = 0; c < (1 << bits); ++c) {
        const float want = static_cast<float>(bf.centroids[std::min(c, m - 1)]);
        ASSERT_NEAR(f.centroids[c], want, 1e-6f * std::fabs(want) + 1e-30f)
            << "trial " << trial << " centroid " << c;
      }
    }
  }
  EXPECT_GT(unique_checked, 1000);
}

TEST(KmeansFitOptimal, MatchesTextbookDp) {
  std::mt19937_64 rng(777);
  for (int trial = 0; trial < 24; ++trial) {
    const int n = 150 + static_cast<int>(rng() % 200);
    const int bits = 2 + trial % 4;  // k = 4 .. 32
    std::vector<float> w(n), imp;
    for (int i = 0; i < n; ++i) {
      const double u = std::uniform_real_distribution<double>(-0.5, 0.5)(rng);
      switch (trial % 3) {
        case 0:
          w[i] = std::normal_distribution<float>(0.0f, 0.05f)(rng);
          break;
        case 1:
          w[i] = static_cast<float>(std::tan(3.0 * u));
          break;  // heavy tails
        default:
          w[i] = static_cast<float>(std::round(u * 60) / 16 + 1000);
          break;  // offset, duplicates
      }
    }
    if (trial % 2) {
      imp.resize(n);
      for (int i = 0; i < n; ++i) imp[i] = std::uniform_real_distribution<float>(0.0f, 2.0f)(rng);
    }
    const Fit f = RunFit(w, 1, n, bits, false, Options(KmeansMethod::kOptimal1D, &imp));
    ExpectConsistent(f, w, imp, 1, n, bits, false);
    const float* ip = imp.empty() ? nullptr : imp.data();
    const ref::Kmeans1D dp = ref::kmeans_1d_dp(w.data(), ip, n, 1 << bits);
    const double got = PartitionSse(w.data(), ip, n, f.labels.data());
    EXPECT_NEAR(got, dp.sse, 1e-9 * dp.sse + 1e-12) << "trial " << trial << " bits " << bits;
  }
}

// More points than the fast DP's cache block (4096 rows): its depth-first
// splits, then breadth-first blocks. Also the same answer on every ISA path.
TEST(KmeansFitOptimal, MatchesTextbookDpAcrossBlocks) {
  const int64_t n = 9001;
  std::mt19937_64 rng(99);
  std::vector<float> w(n);
  for (auto& v : w) v = std::normal_distribution<float>(0.0f, 0.02f)(rng);
  const Fit f = RunFit(w, 1, n, 2, false, Options(KmeansMethod::kOptimal1D));
  ExpectConsistent(f, w, {}, 1, n, 2, false);
  const ref::Kmeans1D dp = ref::kmeans_1d_dp(w.data(), nullptr, n, 4);
  EXPECT_NEAR(PartitionSse(w.data(), nullptr, n, f.labels.data()), dp.sse, 1e-9 * dp.sse);
  ASSERT_TRUE(set_max_isa(Isa::kScalar).ok());
  const Fit scalar = RunFit(w, 1, n, 2, false, Options(KmeansMethod::kOptimal1D));
  reset_max_isa();
  EXPECT_EQ(scalar.centroids, f.centroids);
  EXPECT_EQ(scalar.labels, f.labels);
}

// The DP's three scan paths (scalar; AVX2 and AVX-512 on x86: rows in lanes
// for the blocks of seven rows between the scanned ones, candidates in lanes
// for the scans of one row) give the same centroids and labels, bit for bit.
// Sizes: fewer rows than one block, partial last blocks, a depth-first
// split (more than 4096 points); data: distinct values (the reciprocal
// table), duplicates and importances (the divide), evenly spaced values far
// from 0 (exact ties: the leftmost argmin wins); k from 2 to 64.
TEST(KmeansFitOptimal, SameAnswerOnEveryPath) {
  std::mt19937_64 rng(4242);
  const int64_t sizes[] = {5, 9, 17, 23, 64, 200, 1001, 4097, 6000};
  int compared = 0;
  for (int trial = 0; trial < 36; ++trial) {
    const int64_t n = sizes[trial % 9];
    const int bits = 1 + trial % 6;
    std::vector<float> w(static_cast<size_t>(n)), imp;
    for (size_t e = 0; e < w.size(); ++e) {
      float& v = w[e];
      switch (trial / 9) {
        case 0:
          v = std::normal_distribution<float>(0.0f, 0.05f)(rng);
          break;
        case 1:  // duplicates: 1/8 steps
          v = static_cast<float>(static_cast<int>(rng() % 200)) * 0.125f;
          break;
        case 2:  // distinct, evenly spaced, far from 0: exactly equal costs (ties)
          v = 4096.0f + static_cast<float>(e);
          break;
        default:
          v = static_cast<float>(
              std::tan(3.0 * (std::uniform_real_distribution<double>(0, 1)(rng) - 0.5)));
          break;
      }
    }
    std::shuffle(w.begin(), w.end(), rng);
    if (trial % 4 == 3) {
      imp.resize(w.size());
      for (auto& v : imp) v = std::uniform_real_distribution<float>(0.0f, 3.0f)(rng);
    }
    Fit first;
    for (Isa isa : available_isas()) {
      if (isa == Isa::kNeon || isa == Isa::kNeonDotprod) continue;  // scalar DP there
      ASSERT_TRUE(set_max_isa(isa).ok());
      const Fit f = RunFit(w, 1, n, bits, false, Options(KmeansMethod::kOptimal1D, &imp));
      reset_max_isa();
      ASSERT_TRUE(f.status.ok()) << f.status.to_string();
      if (first.centroids.empty()) {
        first = f;
        if (n > 1001) continue;  // the textbook DP is O(k n^2)
        const float* ip = imp.empty() ? nullptr : imp.data();
        const ref::Kmeans1D dp = ref::kmeans_1d_dp(w.data(), ip, n, 1 << bits);
        EXPECT_NEAR(PartitionSse(w.data(), ip, n, f.labels.data()), dp.sse, 1e-9 * dp.sse + 1e-9)
            << "trial " << trial;
        continue;
      }
      ASSERT_EQ(f.centroids, first.centroids) << "trial " << trial << " isa " << isa_name(isa);
      ASSERT_EQ(f.labels, first.labels) << "trial " << trial << " isa " << isa_name(isa);
      ++compared;
    }
  }
  // Per row too: many codebooks, one Workspace.
  std::vector<float> w(64 * 300);
  for (auto& v : w) v = std::normal_distribution<float>(0.0f, 0.02f)(rng);
  Fit first;
  for (Isa isa : available_isas()) {
    if (isa == Isa::kNeon || isa == Isa::kNeonDotprod) continue;
    ASSERT_TRUE(set_max_isa(isa).ok());
    const Fit f = RunFit(w, 64, 300, 4, true, Options(KmeansMethod::kOptimal1D));
    reset_max_isa();
    if (first.centroids.empty()) {
      first = f;
      continue;
    }
    ASSERT_EQ(f.centroids, first.centroids) << isa_name(isa);
    ASSERT_EQ(f.labels, first.labels) << isa_name(isa);
  }
#if defined(__x86_64__)
  if (isa_available(Isa::kAvx2)) EXPECT_GT(compared, 36);
#endif
}

// ---------------------------------------------------------------------------

std::vector<float> Sample(const std::string& kind, int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<float> w(static_cast<size_t>(n));
  for (auto& v : w) {
    if (kind == "gaussian") {
      v = std::normal_distribution<float>(0.1f, 0.02f)(rng);
    } else if (kind == "laplace") {
      const double a = u(rng) - 0.5;
      v = static_cast<float>(-0.03 * (a < 0 ? -1 : 1) * std::log(1 - 2 * std::fabs(a)));
    } else if (kind == "bimodal") {
      v = std::normal_distribution<float>(rng() % 2 ? -1.0f : 1.0f, 0.1f)(rng);
    } else if (kind == "cauchy") {
      v = static_cast<float>(std::tan(3.1 * (u(rng) - 0.5)));
    } else if (kind == "constant") {
      v = 0.25f;
    } else if (kind == "two") {
      v = rng() % 3 ? -2.0f : 3.0f;
    } else {  // "few": 5 distinct values
      v = static_cast<float>(rng() % 5) * 0.5f - 1.0f;
    }
  }
  return w;
}

TEST(KmeansFit, OptimalNeverWorseThanLloyd) {
  const std::vector<std::string> kinds = {"gaussian", "laplace", "bimodal", "cauchy",
                                          "constant", "two",     "few"};
  uint64_t seed = 1;
  for (const auto& kind : kinds) {
    for (int bits : {1, 2, 3, 4}) {
      for (bool per_row : {false, true}) {
        for (bool weighted : {false, true}) {
          const int64_t rows = 7, cols = 97;
          const std::vector<float> w = Sample(kind, rows * cols, seed++);
          std::vector<float> imp;
          if (weighted) {
            std::mt19937_64 rng(seed++);
            imp.resize(w.size());
            for (auto& v : imp) v = std::uniform_real_distribution<float>(0.0f, 1.0f)(rng);
          }
          const Fit opt =
              RunFit(w, rows, cols, bits, per_row, Options(KmeansMethod::kOptimal1D, &imp));
          const Fit lloyd =
              RunFit(w, rows, cols, bits, per_row, Options(KmeansMethod::kLloyd, &imp));
          SCOPED_TRACE(kind + " bits=" + std::to_string(bits) + (per_row ? " per_row" : "") +
                       (weighted ? " weighted" : ""));
          ExpectConsistent(opt, w, imp, rows, cols, bits, per_row);
          ExpectConsistent(lloyd, w, imp, rows, cols, bits, per_row);
          EXPECT_LE(opt.sse, lloyd.sse * (1 + 1e-9) + 1e-12);
          if (kind == "constant" || kind == "two" || (kind == "few" && bits >= 3)) {
            EXPECT_EQ(opt.sse, 0.0);
            EXPECT_EQ(lloyd.sse, 0.0);
          }
        }
      }
    }
  }
}

TEST(KmeansFit, FewerDistinctValuesThanCentroids) {
  const std::vector<float> w = {3.0f, 1.0f, 3.0f, 2.0f, -0.0f, 0.0f};
  for (KmeansMethod m : {KmeansMethod::kOptimal1D, KmeansMethod::kLloyd}) {
    const Fit f = RunFit(w, 2, 3, 3, false, Options(m));
    ASSERT_TRUE(f.status.ok());
    EXPECT_EQ(f.centroids, (std::vector<float>{0, 1, 2, 3, 3, 3, 3, 3}));
    EXPECT_EQ(f.labels, (std::vector<uint8_t>{3, 1, 3, 2, 0, 0}));
    EXPECT_EQ(f.sse, 0.0);
  }
  // Per row: each row its own distinct values.
  const Fit f = RunFit({5, 5, 5, 1, 2, 1}, 2, 3, 2, true, Options(KmeansMethod::kOptimal1D));
  ASSERT_TRUE(f.status.ok());
  EXPECT_EQ(f.centroids, (std::vector<float>{5, 5, 5, 5, 1, 2, 2, 2}));
  EXPECT_EQ(f.labels, (std::vector<uint8_t>{0, 0, 0, 0, 1, 0}));
}

TEST(KmeansFit, ExactOnWellSeparatedClusters) {
  // Four tight groups and k = 4: both methods must find the groups' means.
  std::vector<float> w;
  for (float c : {-3.0f, -1.0f, 0.5f, 4.0f}) {
    for (float e : {-0.01f, 0.0f, 0.01f}) w.push_back(c + e);
  }
  for (KmeansMethod m : {KmeansMethod::kOptimal1D, KmeansMethod::kLloyd}) {
    const Fit f = RunFit(w, 3, 4, 2, false, Options(m));
    ASSERT_TRUE(f.status.ok());
    const float want[4] = {-3.0f, -1.0f, 0.5f, 4.0f};
    for (int c = 0; c < 4; ++c) EXPECT_NEAR(f.centroids[c], want[c], 1e-6f);
    for (size_t i = 0; i < w.size(); ++i) EXPECT_EQ(f.labels[i], i / 3);
  }
}

TEST(KmeansFit, ZeroImportanceDoesNotMoveCentroids) {
  const std::vector<float> base = Sample("laplace", 200, 9);
  std::vector<float> w = base, imp(base.size(), 1.0f);
  const std::vector<float> extra = Sample("cauchy", 50, 10);
  w.insert(w.end(), extra.begin(), extra.end());
  imp.resize(w.size(), 0.0f);
  for (KmeansMethod m : {KmeansMethod::kOptimal1D, KmeansMethod::kLloyd}) {
    const Fit a = RunFit(base, 1, static_cast<int64_t>(base.size()), 3, false, Options(m));
    const Fit b = RunFit(w, 1, static_cast<int64_t>(w.size()), 3, false, Options(m, &imp));
    ASSERT_TRUE(a.status.ok() && b.status.ok());
    EXPECT_EQ(a.centroids, b.centroids);
    EXPECT_NEAR(a.sse, b.sse, 1e-12 * a.sse);
  }
  // All importances 0: as if there were none.
  const std::vector<float> zeros(base.size(), 0.0f);
  for (KmeansMethod m : {KmeansMethod::kOptimal1D, KmeansMethod::kLloyd}) {
    const Fit a = RunFit(base, 1, static_cast<int64_t>(base.size()), 3, false, Options(m));
    const Fit b = RunFit(base, 1, static_cast<int64_t>(base.size()), 3, false, Options(m, &zeros));
    EXPECT_EQ(a.centroids, b.centroids);
    EXPECT_EQ(a.labels, b.labels);
    EXPECT_EQ(a.sse, b.sse);
  }
}

TEST(KmeansFit, ImportanceIsMultiplicity) {
  // Integer importances = repeating each value that many times.
  const std::vector<float> w = Sample("bimodal", 60, 21);
  std::vector<float> imp(w.size()), repeated;
  for (size_t i = 0; i < w.size(); ++i) {
    imp[i] = static_cast<float>(1 + i % 3);
    for (int r = 0; r < 1 + static_cast<int>(i % 3); ++r) repeated.push_back(w[i]);
  }
  const Fit a = RunFit(w, 1, 60, 2, false, Options(KmeansMethod::kOptimal1D, &imp));
  const Fit b = RunFit(repeated, 1, static_cast<int64_t>(repeated.size()), 2, false,
                       Options(KmeansMethod::kOptimal1D));
  ASSERT_TRUE(a.status.ok() && b.status.ok());
  EXPECT_EQ(a.centroids, b.centroids);
  EXPECT_NEAR(a.sse, b.sse, 1e-9 * b.sse);
}

TEST(KmeansFit, LloydIsDeterministic) {
  const std::vector<float> w = Sample("laplace", 5 * 300, 4);
  for (bool per_row : {false, true}) {
    const Fit a = RunFit(w, 5, 300, 4, per_row, Options(KmeansMethod::kLloyd));
    const Fit b = RunFit(w, 5, 300, 4, per_row, Options(KmeansMethod::kLloyd));
    ASSERT_TRUE(a.status.ok());
    EXPECT_EQ(0, std::memcmp(a.centroids.data(), b.centroids.data(), a.centroids.size() * 4));
    EXPECT_EQ(a.labels, b.labels);
    EXPECT_EQ(a.sse, b.sse);
  }
  // One round from the seeding, and a tolerance that stops at once: still valid.
  KmeansOptions o = Options(KmeansMethod::kLloyd);
  o.max_iterations = 1;
  const Fit one = RunFit(w, 5, 300, 4, false, o);
  ExpectConsistent(one, w, {}, 5, 300, 4, false);
  o.max_iterations = 100;
  o.tolerance = 0;
  const Fit full = RunFit(w, 5, 300, 4, false, o);
  ExpectConsistent(full, w, {}, 5, 300, 4, false);
  EXPECT_LE(full.sse, one.sse);
}

TEST(KmeansFit, EmptyShapes) {
  for (KmeansMethod m : {KmeansMethod::kOptimal1D, KmeansMethod::kLloyd}) {
    // Per tensor with no values: k zero centroids, SSE 0, nothing else touched.
    Fit f = RunFit({}, 0, 5, 2, false, Options(m));
    ASSERT_TRUE(f.status.ok()) << f.status.to_string();
    EXPECT_EQ(f.centroids, std::vector<float>(4, 0.0f));
    EXPECT_EQ(f.sse, 0.0);
    // Per row with empty rows: zeros for each row's codebook.
    f = RunFit({}, 3, 0, 1, true, Options(m));
    ASSERT_TRUE(f.status.ok());
    EXPECT_EQ(f.centroids, std::vector<float>(6, 0.0f));
    // No rows: nothing at all; null outputs are fine.
    CodebookShape s;
    s.rows = 0;
    s.cols = 7;
    s.per_row = true;
    double sse = -1;
    EXPECT_TRUE(kmeans_fit(nullptr, s, Options(m), nullptr, nullptr, &sse).ok());
    EXPECT_EQ(sse, 0.0);
  }
}

// ---------------------------------------------------------------------------
// Errors: the code, the message's start, and untouched outputs.

struct ErrorCase {
  std::string name;
  CodebookShape shape;
  KmeansOptions options;
  bool null_w = false, null_centroids = false, null_labels = false;
  std::vector<float> w;  // empty: 4 x 8 valid values
  StatusCode code;
  std::string prefix;
};

TEST(KmeansFitErrors, EveryValidationError) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> good(32);
  for (int i = 0; i < 32; ++i) good[i] = static_cast<float>(i % 7) * 0.25f;
  std::vector<float> bad_imp(32, 1.0f), nan_imp(32, 1.0f);
  bad_imp[2] = -1.0f;
  nan_imp[5] = nan;

  CodebookShape s;
  s.rows = 4;
  s.cols = 8;
  s.bits = 2;
  std::vector<ErrorCase> cases;
  auto add = [&](std::string name, StatusCode code, std::string prefix) {
    ErrorCase c;
    c.name = std::move(name);
    c.shape = s;
    c.code = code;
    c.prefix = std::move(prefix);
    cases.push_back(c);
    return &cases.back();
  };
  add("null w", StatusCode::kInvalidArgument, "w: null pointer")->null_w = true;
  add("null centroids", StatusCode::kInvalidArgument, "centroids: null pointer")->null_centroids =
      true;
  add("null labels", StatusCode::kInvalidArgument, "labels: null pointer")->null_labels = true;
  add("negative rows", StatusCode::kInvalidArgument, "shape: rows and cols must be >= 0")
      ->shape.rows = -1;
  add("negative cols", StatusCode::kInvalidArgument, "shape: rows and cols must be >= 0")
      ->shape.cols = -3;
  {
    ErrorCase* c = add("overflow", StatusCode::kOverflow, "shape:");
    c->shape.rows = int64_t{1} << 40;
    c->shape.cols = int64_t{1} << 40;
  }
  add("bits 0", StatusCode::kOutOfRange, "shape.bits: must be in [1, 8] (got 0)")->shape.bits = 0;
  add("bits 9", StatusCode::kOutOfRange, "shape.bits: must be in [1, 8] (got 9)")->shape.bits = 9;
  add("method", StatusCode::kInvalidArgument, "options.method:")->options.method =
      static_cast<KmeansMethod>(7);
  add("max_iterations", StatusCode::kOutOfRange, "options.max_iterations: must be >= 1 (got 0)")
      ->options.max_iterations = 0;
  add("negative tolerance", StatusCode::kOutOfRange, "options.tolerance: must be finite and >= 0")
      ->options.tolerance = -1e-3;
  add("nan tolerance", StatusCode::kOutOfRange, "options.tolerance:")->options.tolerance =
      std::numeric_limits<double>::quiet_NaN();
  add("inf tolerance", StatusCode::kOutOfRange, "options.tolerance:")->options.tolerance =
      std::numeric_limits<double>::infinity();
  {
    ErrorCase* c = add("nan w", StatusCode::kOutOfRange, "w[17]: must be finite (got nan)");
    c->w = good;
    c->w[17] = nan;
  }
  {
    ErrorCase* c = add("inf w", StatusCode::kOutOfRange, "w[31]: must be finite (got -inf)");
    c->w = good;
    c->w[31] = -inf;
  }
  add("negative importance", StatusCode::kOutOfRange,
      "options.importance[2]: must be finite and >= 0 (got -1)")
      ->options.importance = bad_imp.data();
  add("nan importance", StatusCode::kOutOfRange, "options.importance[5]: must be finite")
      ->options.importance = nan_imp.data();

  for (const ErrorCase& c : cases) {
    for (KmeansMethod m : {KmeansMethod::kOptimal1D, KmeansMethod::kLloyd}) {
      SCOPED_TRACE(c.name);
      KmeansOptions o = c.options;
      if (c.name != "method") o.method = m;
      const std::vector<float>& w = c.w.empty() ? good : c.w;
      std::vector<float> centroids(16, -7.0f);
      std::vector<uint8_t> labels(32, 0xAB);
      double sse = -5;
      const Status st = kmeans_fit(c.null_w ? nullptr : w.data(), c.shape, o,
                                   c.null_centroids ? nullptr : centroids.data(),
                                   c.null_labels ? nullptr : labels.data(), &sse);
      EXPECT_EQ(st.code(), c.code) << st.to_string();
      EXPECT_EQ(st.message().rfind(c.prefix, 0), 0u) << st.message();
      EXPECT_EQ(centroids, std::vector<float>(16, -7.0f));
      EXPECT_EQ(labels, std::vector<uint8_t>(32, 0xAB));
      EXPECT_EQ(sse, -5);
    }
  }
}

}  // namespace
}  // namespace qkern
