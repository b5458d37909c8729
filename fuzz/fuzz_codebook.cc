// fuzz/fuzz_codebook.cc: the codebook family (qkern/codebook.hpp) on every
// ISA against reference/codebook_ref.h and reference/kmeans_ref.h.
//
// One input is one call of assign, pack_indices, unpack_indices, decode,
// update_centroids, centroid_gradient or kmeans_fit (either method): a
// rows x cols shape (per-tensor or per-row codebooks, 1..8 bits, 2/4 for
// packing), sorted centroids with duplicates and extremes, weights on the
// centroids, on the exact decision midpoints and next to them, NaN/Inf where
// an operation accepts them; about one case in six carries one invalid
// argument (unsorted or non-finite centroids, labels >= 2^bits, bits out of
// range, negative or overflowing shapes, null pointers, bad options).
// Checks, per ISA:
//   - ok exactly when the arguments are valid, the same Status on every ISA,
//     every output byte as preset after an error;
//   - assign, pack, unpack, decode and update_centroids equal the reference
//     (ref::thresholds + assign_row, pack_row, unpack_row, decode_row, the
//     double centroid_sums_row mean) byte for byte / bit for bit;
//   - centroid_gradient within the reordering bound of docs/semantics.md of
//     the exact (double) member sums;
//   - kmeans_fit: the same centroids, labels and SSE on every ISA; centroids
//     sorted; labels = assign's rule for those centroids; SSE =
//     ref::labelling_sse; kOptimal1D's SSE equal to the optimum of
//     ref::kmeans_1d_brute_force (up to 12 distinct values) or ref::kmeans_1d_dp
//     (up to 200, k <= 32) within the centroids' fp32 rounding; no method
//     below the optimum; fewer distinct values than centroids: those values,
//     then the largest repeated, SSE 0.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "qkern/codebook.hpp"
#include "reference/codebook_ref.h"
#include "reference/kmeans_ref.h"

namespace qkern {
namespace fuzz {
namespace {

enum class Op { kAssign, kPack, kUnpack, kDecode, kUpdate, kGradient, kFit };
const char* const kOpNames[] = {"assign", "pack_indices", "unpack_indices", "decode", "update_centroids",
                                "centroid_gradient", "kmeans_fit"};

// Sorted centroids for `books` codebooks of k: normal-ish, some duplicates,
// now and then extremes.
std::vector<float> DecodeCentroids(Input& in, int64_t books, int k) {
  std::vector<float> c(static_cast<size_t>(books * k));
  const int kind = in.u8();
  const float spread = kind < 200 ? 1.0f : std::ldexp(1.0f, static_cast<int>(in.range(-60, 60)));
  for (int64_t b = 0; b < books; ++b) {
    float* cb = c.data() + b * k;
    for (int i = 0; i < k; ++i) {
      const int e = in.u8();
      cb[i] = i > 0 && e < 30 ? cb[i - 1]
              : e < 40        ? in.pick({FLT_MAX, -FLT_MAX, 0.0f, -0.0f, FLT_MIN, 1e-40f})
                              : spread * (in.u16() / 16384.0f - 2.0f);
    }
    std::sort(cb, cb + k);
  }
  return c;
}

// Weights that hit the centroids, their exact midpoints (in double, rounded)
// and the floats next to those, plus random values and specials.
float DecodeWeightNear(Input& in, const float* cb, int k, bool specials) {
  const int i = static_cast<int>(in.range(0, k - 1)), j = std::min(i + 1, k - 1);
  const float mid = static_cast<float>((static_cast<double>(cb[i]) + cb[j]) / 2);
  switch (in.range(0, specials ? 6 : 5)) {
    case 0: return cb[i];
    case 1: return mid;
    case 2: return std::nextafter(mid, INFINITY);
    case 3: return std::nextafter(mid, -INFINITY);
    case 4: return (in.u16() / 8192.0f - 4.0f) * (std::fabs(cb[k - 1]) + std::fabs(cb[0]) + 1e-30f);
    case 5: return in.u16() / 16384.0f - 2.0f;
    default: return SpecialFloat(in);
  }
}

struct Shape {
  CodebookShape s;       // what the call gets
  CodebookShape alloc;   // what the buffers are sized for
  int64_t numel = 0, books = 1, row_len = 0;
  int k = 2;
  bool valid = true;
};

Shape DecodeShape(Input& in, Case& c, bool packing, int max_bits, int64_t max_numel) {
  Shape sh;
  sh.s.rows = in.chance(10) ? 0 : in.range(1, 8);
  const int64_t max_cols = std::max<int64_t>(1, max_numel / std::max<int64_t>(sh.s.rows, 1));
  sh.s.cols = in.chance(10) ? 0 : in.chance(180) ? in.range(1, std::min<int64_t>(max_cols, 40)) : in.range(1, max_cols);
  sh.s.bits = packing ? (in.boolean() ? 2 : 4) : in.chance(150) ? static_cast<int>(in.range(1, 4)) : static_cast<int>(in.range(1, max_bits));
  sh.s.per_row = in.boolean();
  sh.alloc = sh.s;
  sh.numel = sh.s.rows * sh.s.cols;
  sh.k = 1 << sh.s.bits;
  sh.books = sh.s.per_row ? sh.s.rows : 1;
  sh.row_len = sh.s.per_row ? sh.s.cols : sh.numel;
  c.add("rows", sh.s.rows).add("cols", sh.s.cols).add("bits", sh.s.bits).add("per_row", sh.s.per_row);
  return sh;
}

// A shape error (of any op): bits outside the op's range, negative or overflowing extents.
void CorruptShape(Input& in, Case& c, bool packing, Shape* sh) {
  sh->valid = false;
  switch (in.range(0, 3)) {
    case 0:
      sh->s.bits = packing ? in.pick({0, 1, 3, 5, 8, 16}) : in.pick({0, -1, 9, 16, 31});
      break;
    case 1: sh->s.rows = -in.range(1, 9); break;
    case 2: sh->s.cols = -in.range(1, 9); break;
    default: sh->s.rows = int64_t{1} << in.range(31, 40), sh->s.cols = int64_t{1} << in.range(31, 40); break;
  }
  c.add("bad_shape", Str(sh->s.rows, "x", sh->s.cols, "/", sh->s.bits));
}

void CheckSameBytes(Isa isa, const char* what, const Guarded& got, const Guarded& want, const Case& c) {
  ptrdiff_t at = 0;
  if (got.same(want, &at)) return;
  Fail(isa, Str(what, ": byte ", at, got.inside(at) ? "" : " (outside the output)", " is ", int{got.at(at)},
                ", reference ", int{want.at(at)}),
       c);
}

void CheckFloats(Isa isa, const char* what, const Guarded& got, const Guarded& want, int64_t n, const Case& c) {
  ptrdiff_t at = 0;
  if (got.same(want, &at)) return;
  CheckGemmOutput(isa, what, got, want, true, 4, 1, n, n, c);
}

// ------------------------------------------------ the elementwise operations

void FuzzElementwise(Op op, Input& in, Case& c, bool corrupt) {
  const bool packing = op == Op::kPack || op == Op::kUnpack;
  Shape sh = DecodeShape(in, c, packing, 8, 3000);
  const int k = sh.k;
  const int64_t n = sh.numel;
  std::vector<float> centroids = DecodeCentroids(in, sh.books, k);
  // Inputs.
  std::vector<float> w(static_cast<size_t>(std::max<int64_t>(n, 1)));
  std::vector<uint8_t> labels(w.size());
  const int label_kind = in.u8();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t b = sh.s.per_row ? i / std::max<int64_t>(sh.s.cols, 1) : 0;
    w[static_cast<size_t>(i)] = op == Op::kGradient ? (in.chance(250) ? in.u16() / 16384.0f - 2.0f : SpecialFloat(in))
                                                    : DecodeWeightNear(in, centroids.data() + b * k, k, op != Op::kUpdate || in.chance(20));
    labels[static_cast<size_t>(i)] = label_kind < 20 ? static_cast<uint8_t>(k - 1) : static_cast<uint8_t>(in.range(0, k - 1));
  }
  const int64_t row_bytes = packed_row_bytes(sh.s.cols, packing ? sh.s.bits : 4);
  std::vector<uint8_t> packed(static_cast<size_t>(std::max<int64_t>(sh.s.rows * row_bytes, 1)));
  for (auto& b : packed) b = in.u8();
  // Decode reads any centroids (unsorted, non-finite); the QAT updates overwrite them.
  if (op == Op::kDecode && in.chance(60)) {
    for (auto& v : centroids) v = in.chance(200) ? in.u16() / 1024.0f - 32.0f : SpecialFloat(in);
  }

  bool null_in = false, null_out = false, null_c = false;
  std::vector<float> bad_centroids;
  if (corrupt) {
    const int what = static_cast<int>(in.range(0, 4));
    if (what == 0) {
      CorruptShape(in, c, packing, &sh);
    } else if (what == 1 && op != Op::kUnpack && n > 0 && k < 256) {  // a label >= 2^bits
      const size_t i = static_cast<size_t>(in.range(0, n - 1));
      labels[i] = static_cast<uint8_t>(in.range(k, 255));
      sh.valid = op == Op::kAssign;  // assign writes labels, it does not read them
      c.add("bad_label_at", i);
    } else if (what == 2 && op == Op::kAssign && sh.books * k > 0) {  // unsorted or non-finite centroids
      bad_centroids = centroids;
      const size_t i = static_cast<size_t>(in.range(0, static_cast<int64_t>(centroids.size()) - 1));
      if (in.boolean() || k < 2) {
        bad_centroids[i] = in.pick({NAN, INFINITY, -INFINITY});
      } else {
        const size_t b = i / static_cast<size_t>(k) * static_cast<size_t>(k);
        const size_t a = b + static_cast<size_t>(in.range(0, k - 2));
        if (bad_centroids[a] < bad_centroids[a + 1]) {
          std::swap(bad_centroids[a], bad_centroids[a + 1]);
        } else {  // equal: raise the first
          bad_centroids[a] = std::nextafter(bad_centroids[a], INFINITY);
        }
      }
      sh.valid = false;
      c.add("bad_centroid_at", i);
    } else if (what == 3) {
      null_in = n > 0;
      sh.valid = !null_in;
    } else if (op == Op::kUpdate || op == Op::kGradient || op == Op::kDecode || op == Op::kAssign) {
      if (in.boolean()) {
        null_out = n > 0;
        sh.valid = !null_out;
      } else {
        null_c = sh.books * k > 0 && sh.row_len >= 0;
        sh.valid = !null_c;
      }
    } else {
      null_out = n > 0;
      sh.valid = !null_out;
    }
    c.add("null_in", null_in).add("null_out", null_out).add("null_centroids", null_c).add("valid", sh.valid);
  }
  Announce(c);

  // Expected outputs (from the reference), in preset buffers.
  const uint8_t pattern = in.u8();
  Guarded want, got;
  const float* cin = bad_centroids.empty() ? centroids.data() : bad_centroids.data();
  switch (op) {
    case Op::kAssign: {
      want.reset(static_cast<size_t>(n), pattern);
      if (!sh.valid) break;
      std::vector<float> t(static_cast<size_t>(k));
      for (int64_t b = 0; b < sh.books && sh.row_len > 0; ++b) {
        ref::thresholds(centroids.data() + b * k, k, t.data());
        ref::assign_row(w.data() + b * sh.row_len, sh.row_len, t.data(), k, want.data() + b * sh.row_len);
      }
      break;
    }
    case Op::kPack:
      want.reset(packed.size() * (n > 0 ? 1 : 0), pattern);
      for (int64_t r = 0; sh.valid && r < sh.s.rows && n > 0; ++r) {
        ref::pack_row(labels.data() + r * sh.s.cols, sh.s.cols, sh.s.bits, want.data() + r * row_bytes);
      }
      break;
    case Op::kUnpack:
      want.reset(static_cast<size_t>(n), pattern);
      for (int64_t r = 0; sh.valid && r < sh.s.rows; ++r) {
        ref::unpack_row(packed.data() + r * row_bytes, sh.s.cols, sh.s.bits, want.data() + r * sh.s.cols);
      }
      break;
    case Op::kDecode:
      want.reset(static_cast<size_t>(n) * 4, pattern);
      for (int64_t b = 0; sh.valid && b < sh.books && sh.row_len > 0; ++b) {
        ref::decode_row(labels.data() + b * sh.row_len, sh.row_len, centroids.data() + b * k,
                        reinterpret_cast<float*>(want.data()) + b * sh.row_len);
      }
      break;
    case Op::kUpdate:
    case Op::kGradient:
      // The centroid array is in/out: preset to the input centroids.
      want.reset(centroids.size() * 4, pattern);
      if (!centroids.empty()) std::memcpy(want.data(), centroids.data(), centroids.size() * 4);
      if (op == Op::kUpdate) {
        for (int64_t b = 0; sh.valid && b < sh.books && sh.row_len > 0; ++b) {
          std::vector<double> sums(static_cast<size_t>(k), 0.0);
          std::vector<int64_t> counts(static_cast<size_t>(k), 0);
          ref::centroid_sums_row(w.data() + b * sh.row_len, labels.data() + b * sh.row_len, sh.row_len, sums.data(),
                                 counts.data());
          for (int i = 0; i < k; ++i) {
            if (counts[static_cast<size_t>(i)] > 0) {
              const float mean = static_cast<float>(sums[static_cast<size_t>(i)] / counts[static_cast<size_t>(i)]);
              std::memcpy(want.data() + (b * k + i) * 4, &mean, 4);
            }
          }
        }
      }
      break;
    default: break;
  }
  got.reset(want.bytes(), pattern);

  // centroid_gradient: the exact member sums and the sums of their magnitudes.
  std::vector<double> exact, abs_sum, finite_abs;
  std::vector<int64_t> members;
  if (op == Op::kGradient && sh.valid) {
    exact.assign(centroids.size(), 0.0), abs_sum.assign(centroids.size(), 0.0), finite_abs.assign(centroids.size(), 0.0);
    members.assign(centroids.size(), 0);
    std::vector<float> mag(w.size()), finite(w.size());
    for (size_t i = 0; i < w.size(); ++i) {
      mag[i] = std::fabs(w[i]);
      finite[i] = std::isfinite(w[i]) ? mag[i] : 0.0f;
    }
    for (int64_t b = 0; b < sh.books && sh.row_len > 0; ++b) {
      const size_t off = static_cast<size_t>(b * sh.row_len), cb = static_cast<size_t>(b * k);
      std::vector<int64_t> scratch(static_cast<size_t>(k), 0);
      ref::centroid_sums_row(w.data() + off, labels.data() + off, sh.row_len, exact.data() + cb, members.data() + cb);
      ref::centroid_sums_row(mag.data() + off, labels.data() + off, sh.row_len, abs_sum.data() + cb, scratch.data());
      ref::centroid_sums_row(finite.data() + off, labels.data() + off, sh.row_len, finite_abs.data() + cb, scratch.data());
    }
  }

  StatusAgreement agree(kOpNames[static_cast<int>(op)]);
  ForEachIsa([&](Isa isa) {
    got.fill();
    if ((op == Op::kUpdate || op == Op::kGradient) && !centroids.empty()) {
      std::memcpy(got.data(), centroids.data(), centroids.size() * 4);
    }
    Status s;
    float* gf = reinterpret_cast<float*>(got.data());
    switch (op) {
      case Op::kAssign:
        s = assign(null_in ? nullptr : w.data(), sh.s, null_c ? nullptr : cin, null_out ? nullptr : got.data());
        break;
      case Op::kPack: s = pack_indices(null_in ? nullptr : labels.data(), sh.s, null_out ? nullptr : got.data()); break;
      case Op::kUnpack: s = unpack_indices(null_in ? nullptr : packed.data(), sh.s, null_out ? nullptr : got.data()); break;
      case Op::kDecode:
        s = decode(null_in ? nullptr : labels.data(), sh.s, null_c ? nullptr : centroids.data(), null_out ? nullptr : gf);
        break;
      case Op::kUpdate:
        s = update_centroids(null_in ? nullptr : w.data(), null_out ? nullptr : labels.data(), sh.s, null_c ? nullptr : gf);
        break;
      default:
        s = centroid_gradient(null_in ? nullptr : w.data(), null_out ? nullptr : labels.data(), sh.s, null_c ? nullptr : gf);
        break;
    }
    Tamper(isa, got.data(), got.bytes());
    agree.check(isa, s, c);
    ExpectStatus(isa, kOpNames[static_cast<int>(op)], s, sh.valid, c);
    if (!s.ok()) {
      if (op == Op::kUpdate || op == Op::kGradient) {  // untouched: still the input centroids
        Guarded preset(got.bytes(), pattern);
        if (!centroids.empty()) std::memcpy(preset.data(), centroids.data(), centroids.size() * 4);
        return CheckSameBytes(isa, Str(kOpNames[static_cast<int>(op)], " failed but changed its output").c_str(), got,
                              preset, c);
      }
      return ExpectUntouched(isa, kOpNames[static_cast<int>(op)], got, c);
    }
    switch (op) {
      case Op::kDecode:
      case Op::kUpdate: return CheckFloats(isa, kOpNames[static_cast<int>(op)], got, want, static_cast<int64_t>(got.bytes() / 4), c);
      case Op::kGradient: {
        ptrdiff_t at = 0;
        if (!got.guards_untouched(&at)) Fail(isa, Str("centroid_gradient: wrote byte ", at, " outside dcentroids"), c);
        for (size_t i = 0; i < exact.size(); ++i) {
          const float v = LoadFloat(got.data() + 4 * i);
          if (!SumBoundApplies(finite_abs[i])) continue;
          if (!std::isfinite(exact[i])) {
            if (!SameFloat(v, static_cast<float>(exact[i]))) {
              Fail(isa, Str("dcentroids[", i, "] = ", v, ", the exact sum is ", exact[i]), c);
            }
            continue;
          }
          const double err = std::fabs(static_cast<double>(v) - exact[i]), bound = Gamma(members[i]) * abs_sum[i];
          if (!(err <= bound)) {
            Fail(isa, Str("dcentroids[", i, "] = ", v, ", exact ", exact[i], ": error ", err, " > bound ", bound, " (",
                          members[i], " members)"),
                 c);
          }
        }
        return;
      }
      default: return CheckSameBytes(isa, kOpNames[static_cast<int>(op)], got, want, c);
    }
  });
}

// ---------------------------------------------------------------- kmeans_fit

// The sorted distinct values of positive effective weight (importance, or 1
// each when null or all 0) of one codebook: how many, and the largest weight.
struct Distinct {
  std::vector<float> values;
  double total_weight = 0, max_abs = 0;
};
Distinct DistinctPoints(const float* w, const float* imp, int64_t n) {
  bool any = false;
  for (int64_t i = 0; imp && i < n; ++i) any |= imp[i] > 0;
  Distinct d;
  for (int64_t i = 0; i < n; ++i) {
    const double wt = imp && any ? imp[i] : 1.0;
    if (wt > 0) d.values.push_back(w[i]), d.total_weight += wt, d.max_abs = std::max(d.max_abs, std::fabs(double{w[i]}));
  }
  std::sort(d.values.begin(), d.values.end());
  d.values.erase(std::unique(d.values.begin(), d.values.end()), d.values.end());
  return d;
}

void FuzzFit(Input& in, Case& c, bool corrupt) {
  Shape sh = DecodeShape(in, c, false, 8, in.chance(230) ? 64 : 400);
  const int k = sh.k;
  const int64_t n = sh.numel;
  KmeansOptions o;
  o.method = in.boolean() ? KmeansMethod::kLloyd : KmeansMethod::kOptimal1D;
  if (in.chance(60)) o.max_iterations = static_cast<int>(in.range(1, 5));
  if (in.chance(40)) o.tolerance = in.pick({0.0, 1e-3, 0.5, 1e-12});
  o.seed = in.chance(200) ? o.seed : in.u64();
  // Weights: a distribution per case.
  std::vector<float> w(static_cast<size_t>(std::max<int64_t>(n, 1)));
  const int dist = static_cast<int>(in.range(0, 6));
  const float scale = in.chance(230) ? 1.0f : std::ldexp(1.0f, static_cast<int>(in.range(-100, 100)));
  for (auto& v : w) {
    switch (dist) {
      case 0: v = (in.u16() / 32768.0f - 1.0f) * 0.05f; break;                              // uniform, small
      case 1: v = static_cast<float>(in.range(0, 4)) * 0.5f - 1.0f; break;                   // five values
      case 2: v = 0.25f; break;                                                               // constant
      case 3: v = static_cast<float>(std::tan(3.1 * (in.u16() / 65536.0 - 0.5))); break;     // heavy tails
      case 4: v = 1000.0f + static_cast<float>(in.range(-30, 30)) / 16.0f; break;            // offset, duplicates
      case 5: v = in.chance(128) ? -2.0f : 3.0f; break;                                      // two values
      default: v = in.chance(240) ? (in.u16() / 32768.0f - 1.0f) : in.pick({-0.0f, 0.0f, FLT_MIN, -FLT_MIN, 1e-40f}); break;
    }
    v *= scale;
  }
  std::vector<float> imp;
  const int imp_kind = in.u8();
  if (imp_kind < 90) {
    imp.resize(w.size());
    for (auto& v : imp) v = imp_kind < 10 ? 0.0f : in.chance(50) ? 0.0f : in.u8() / 64.0f;
    o.importance = imp.data();
  }
  c.add("method", o.method == KmeansMethod::kLloyd ? "lloyd" : "optimal").add("iters", o.max_iterations)
      .add("tol", o.tolerance).add("dist", dist).add("scale", scale).add("imp", imp_kind < 90 ? (imp_kind < 10 ? "zero" : "random") : "none");

  bool null_w = false, null_c = false, null_l = false, want_sse = in.chance(220);
  std::vector<float> bad_imp;
  if (corrupt) {
    sh.valid = false;
    switch (in.range(0, 8)) {
      case 0: CorruptShape(in, c, false, &sh); break;
      case 1: o.method = static_cast<KmeansMethod>(in.range(2, 9)); break;
      case 2: o.max_iterations = -static_cast<int>(in.range(0, 5)); break;
      case 3: {
        static const double kBad[] = {-1e-3, -1.0, std::numeric_limits<double>::quiet_NaN(), HUGE_VAL, -HUGE_VAL};
        o.tolerance = in.pick(kBad);
        break;
      }
      case 4:
        if (n == 0) { sh.valid = true; break; }
        w[static_cast<size_t>(in.range(0, n - 1))] = in.pick({NAN, INFINITY, -INFINITY});
        break;
      case 5:
        if (n == 0) { sh.valid = true; break; }
        bad_imp = imp.empty() ? std::vector<float>(w.size(), 1.0f) : imp;
        bad_imp[static_cast<size_t>(in.range(0, n - 1))] = in.pick({-1.0f, -FLT_MIN, NAN, INFINITY});
        o.importance = bad_imp.data();
        break;
      case 6: null_w = n > 0; sh.valid = !null_w; break;
      case 7: null_c = sh.books > 0; sh.valid = !null_c; break;
      default: null_l = n > 0; sh.valid = !null_l; break;
    }
    c.add("valid", sh.valid);
  }
  Announce(c);

  const uint8_t pattern = in.u8();
  const size_t cbytes = static_cast<size_t>(sh.books * k) * 4;
  Guarded got_c(cbytes, pattern), got_l(static_cast<size_t>(n), pattern ^ 0x3c);
  Guarded first_c(cbytes, pattern), first_l(static_cast<size_t>(n), pattern ^ 0x3c);
  double first_sse = 0;
  StatusAgreement agree("kmeans_fit");
  ForEachIsa([&](Isa isa) {
    got_c.fill(), got_l.fill();
    double sse = -5.0;
    const Status s = kmeans_fit(null_w ? nullptr : w.data(), sh.s, o, null_c ? nullptr : reinterpret_cast<float*>(got_c.data()),
                                null_l ? nullptr : got_l.data(), want_sse ? &sse : nullptr);
    Tamper(isa, got_c.data(), got_c.bytes());
    agree.check(isa, s, c);
    ExpectStatus(isa, "kmeans_fit", s, sh.valid, c);
    if (!s.ok()) {
      ExpectUntouched(isa, "kmeans_fit centroids", got_c, c);
      ExpectUntouched(isa, "kmeans_fit labels", got_l, c);
      if (sse != -5.0) Fail(isa, "kmeans_fit failed but wrote sse", c);
      return;
    }
    // Every ISA gives the scalar ISA's bytes.
    if (isa != Isas().front()) {
      CheckSameBytes(isa, "kmeans_fit centroids (vs scalar)", got_c, first_c, c);
      CheckSameBytes(isa, "kmeans_fit labels (vs scalar)", got_l, first_l, c);
      if (want_sse && std::memcmp(&sse, &first_sse, sizeof(sse)) != 0) {
        Fail(isa, Str("kmeans_fit sse ", sse, " differs from scalar's ", first_sse), c);
      }
      return;
    }
    first_c = got_c, first_l = got_l, first_sse = sse;
    ptrdiff_t at = 0;
    if (!got_c.guards_untouched(&at)) Fail(isa, Str("kmeans_fit: wrote centroid byte ", at, " outside"), c);
    if (!got_l.guards_untouched(&at)) Fail(isa, Str("kmeans_fit: wrote label byte ", at, " outside"), c);
    double total = 0;
    std::vector<float> t(static_cast<size_t>(k));
    std::vector<uint8_t> rule(static_cast<size_t>(std::max<int64_t>(sh.row_len, 1)));
    for (int64_t b = 0; b < sh.books; ++b) {
      const float* cb = reinterpret_cast<const float*>(got_c.data()) + b * k;
      const float* wb = w.data() + b * sh.row_len;
      const uint8_t* lb = got_l.data() + b * sh.row_len;
      for (int i = 0; i + 1 < k; ++i) {
        if (!(cb[i] <= cb[i + 1])) Fail(isa, Str("codebook ", b, ": centroids ", i, ", ", i + 1, " are ", cb[i], ", ", cb[i + 1]), c);
      }
      if (sh.row_len == 0) {
        for (int i = 0; i < k; ++i) {
          if (cb[i] != 0.0f) Fail(isa, Str("codebook ", b, " has no values but centroid ", i, " is ", cb[i]), c);
        }
        continue;
      }
      ref::thresholds(cb, k, t.data());
      ref::assign_row(wb, sh.row_len, t.data(), k, rule.data());
      for (int64_t j = 0; j < sh.row_len; ++j) {
        if (lb[j] != rule[static_cast<size_t>(j)]) {
          Fail(isa, Str("codebook ", b, ": label of w[", j, "] = ", wb[j], " is ", int{lb[j]}, ", assign's rule gives ",
                        int{rule[static_cast<size_t>(j)]}),
               c);
        }
      }
      const float* ib = o.importance ? o.importance + b * sh.row_len : nullptr;
      const Distinct d = DistinctPoints(wb, ib, sh.row_len);
      bool any = false;
      for (int64_t j = 0; ib && j < sh.row_len; ++j) any |= ib[j] > 0;
      const double book_sse = ref::labelling_sse(wb, any ? ib : nullptr, sh.row_len, cb, lb);
      total += book_sse;
      // The centroids' fp32 rounding adds at most W * (2^-24 max|w|)^2.
      const double round = 4 * d.total_weight * std::pow(std::ldexp(d.max_abs, -24), 2) + 1e-300;
      const size_t dc = d.values.size();
      if (dc <= static_cast<size_t>(k)) {  // fewer distinct values than centroids: those, then the largest
        for (int i = 0; i < k; ++i) {
          const float want = d.values[std::min(static_cast<size_t>(i), dc - 1)];
          if (cb[i] != want) Fail(isa, Str("codebook ", b, " has ", dc, " distinct values; centroid ", i, " is ", cb[i], ", not ", want), c);
        }
        if (book_sse != 0.0) Fail(isa, Str("codebook ", b, ": ", dc, " distinct values but SSE ", book_sse), c);
        continue;
      }
      double opt = -1;
      if (dc <= 12) {
        opt = ref::kmeans_1d_brute_force(wb, ib, sh.row_len, k).sse;
      } else if (dc <= 200 && k <= 32) {
        opt = ref::kmeans_1d_dp(wb, ib, sh.row_len, k).sse;
      }
      if (opt < 0) continue;
      if (book_sse < opt * (1 - 1e-9) - round) {
        Fail(isa, Str("codebook ", b, ": SSE ", book_sse, " is below the optimum ", opt), c);
      }
      if (o.method == KmeansMethod::kOptimal1D && book_sse > opt * (1 + 1e-9) + round) {
        Fail(isa, Str("codebook ", b, ": kOptimal1D's SSE ", book_sse, " exceeds the optimum ", opt, " (",
                      dc, " distinct values)"),
             c);
      }
    }
    if (want_sse && !(std::fabs(sse - total) <= 1e-9 * total + 1e-300)) {
      Fail(isa, Str("kmeans_fit reported SSE ", sse, ", the labelling's is ", total), c);
    }
  });
}

}  // namespace
}  // namespace fuzz
}  // namespace qkern

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace qkern::fuzz;
  TargetName() = "fuzz_codebook";
  Input in(data, size);
  Case c;
  const Op op = static_cast<Op>(in.range(0, 6));
  const bool corrupt = in.chance(40);
  c.add("op", kOpNames[static_cast<int>(op)]).add("corrupt", corrupt);
  if (op == Op::kFit) {
    FuzzFit(in, c, corrupt);
  } else {
    FuzzElementwise(op, in, c, corrupt);
  }
  return 0;
}
