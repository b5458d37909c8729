// reference/kmeans_ref.cc: brute-force and textbook-DP exact 1-D k-means.
#include "reference/kmeans_ref.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace qkern {
namespace ref {
namespace {

struct Points {
  std::vector<double> x, w;  // sorted distinct values with weight > 0, and their weights
};

Points merge(const float* v, const float* importance, int64_t n) {
  bool any_positive = false;
  for (int64_t i = 0; i < n && importance; ++i) any_positive |= importance[i] > 0.0f;
  std::vector<std::pair<float, double>> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[i] = {v[i], importance && any_positive ? importance[i] : 1.0};
  std::sort(p.begin(), p.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  Points out;
  for (size_t i = 0; i < p.size();) {
    size_t e = i;
    double sum = 0;
    while (e < p.size() && p[e].first == p[i].first) sum += p[e++].second;
    if (sum > 0) {
      out.x.push_back(p[i].first);
      out.w.push_back(sum);
    }
    i = e;
  }
  return out;
}

// Points [a, b): the weighted mean and the weighted SSE around it, summed directly.
std::pair<double, double> cluster(const Points& p, size_t a, size_t b) {
  double sw = 0, swx = 0;
  for (size_t i = a; i < b; ++i) {
    sw += p.w[i];
    swx += p.w[i] * p.x[i];
  }
  const double mean = swx / sw;
  double sse = 0;
  for (size_t i = a; i < b; ++i) sse += p.w[i] * (p.x[i] - mean) * (p.x[i] - mean);
  return {mean, sse};
}

// Clusters [bounds[c], bounds[c + 1]).
Kmeans1D from_bounds(const Points& p, const std::vector<size_t>& bounds) {
  Kmeans1D r;
  for (size_t c = 0; c + 1 < bounds.size(); ++c) {
    const auto [mean, sse] = cluster(p, bounds[c], bounds[c + 1]);
    r.centroids.push_back(mean);
    r.sse += sse;
  }
  return r;
}

}  // namespace

Kmeans1D kmeans_1d_brute_force(const float* w, const float* importance, int64_t n, int k) {
  const Points p = merge(w, importance, n);
  const size_t d = p.x.size();
  if (d == 0) return {};
  const size_t m = std::min<size_t>(d, static_cast<size_t>(k));
  // bounds = {0, s_1 < ... < s_{m-1}, d}: odometer over the m - 1 inner cuts.
  std::vector<size_t> bounds(m + 1);
  for (size_t c = 0; c < m; ++c) bounds[c] = c;
  bounds[m] = d;
  Kmeans1D best;
  best.sse = std::numeric_limits<double>::infinity();
  double second = std::numeric_limits<double>::infinity();
  for (;;) {
    Kmeans1D r = from_bounds(p, bounds);
    if (r.sse < best.sse) {
      second = best.sse;
      best = std::move(r);
    } else if (r.sse < second) {
      second = r.sse;
    }
    // Advance the last inner cut that can move (cut c <= d - (m - c)), and
    // put the ones after it right behind it.
    size_t c = m - 1;
    while (c >= 1 && bounds[c] >= d - (m - c)) --c;
    if (c == 0) break;
    ++bounds[c];
    for (size_t e = c + 1; e < m; ++e) bounds[e] = bounds[e - 1] + 1;
  }
  best.unique = !(second <= best.sse * (1 + 1e-9) + 1e-300);
  return best;
}

Kmeans1D kmeans_1d_dp(const float* w, const float* importance, int64_t n, int k) {
  const Points p = merge(w, importance, n);
  const size_t d = p.x.size();
  if (d == 0) return {};
  const size_t m = std::min<size_t>(d, static_cast<size_t>(k));
  const double inf = std::numeric_limits<double>::infinity();
  // D[q][i]: the least SSE of points [0, i] in q + 1 clusters; J: where the last one starts.
  // Each candidate last cluster [j, i] is grown one point at a time from j
  // (West's weighted update of the mean and the SSE): O(k d^2) time, O(k d)
  // memory, and no prefix sums.
  std::vector<std::vector<double>> D(m, std::vector<double>(d, inf));
  std::vector<std::vector<size_t>> J(m, std::vector<size_t>(d, 0));
  for (size_t q = 0; q < m; ++q) {
    for (size_t j = q; j < d; ++j) {
      if (q == 0 && j > 0) break;  // one cluster: it starts at 0
      const double before = q == 0 ? 0.0 : D[q - 1][j - 1];
      double sw = 0, mean = 0, sse = 0;
      for (size_t i = j; i < d; ++i) {
        sw += p.w[i];
        const double delta = p.x[i] - mean;
        mean += p.w[i] / sw * delta;
        sse += p.w[i] * delta * (p.x[i] - mean);
        if (before + sse < D[q][i]) {  // strict: the least j wins ties
          D[q][i] = before + sse;
          J[q][i] = j;
        }
      }
    }
  }
  std::vector<size_t> bounds(m + 1);
  bounds[m] = d;
  size_t i = d - 1;
  for (size_t q = m - 1; q >= 1; --q) {
    bounds[q] = J[q][i];
    i = J[q][i] - 1;
  }
  bounds[0] = 0;
  return from_bounds(p, bounds);
}

double labelling_sse(const float* w, const float* importance, int64_t n, const float* centroids,
                     const uint8_t* labels) {
  double sse = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double e = static_cast<double>(w[i]) - centroids[labels[i]];
    sse += (importance ? importance[i] : 1.0) * e * e;
  }
  return sse;
}

}  // namespace ref
}  // namespace qkern
