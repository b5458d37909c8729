// kernels/codebook/kmeans_dp-inl.h: one layer of kOptimal1D's dynamic
// program (kernels/codebook/kmeans_fit.cc). No include guard, by design:
// kmeans_fit.cc includes it once per candidate scan (scalar, AVX2, AVX-512),
// each time inside that scan's namespace and target region, so that the
// namespace's scans inline into these loops (a target function does not
// inline into a function compiled without the target).
//
// Expects in the enclosing namespaces: Prefix, LayerIo,
// scan(p, i, lo, hi, dprev, best_v), the leftmost argmin over j in [lo, hi]
// of dprev[j - 1] + cost(j, i) (and that least value), and
// scan_block(p, io, i0, i1, lo, hi), which does the same for rows [i0, i1]
// (at most kBlock - 1), row i over [io.narrow(i, lo, min(hi, i)), min(hi, i)].
//
// layer() fills layer q: dcur[i] and arg[i] for rows i in [q, imax], from
// dprev (layer q - 1, valid on [q - 1, imax - 1]) and lower (layer q - 1's
// argmins, a lower bound of layer q's; null: none). Columns j in [q, imax].
//
// Divide and conquer over the monotone argmin: a row's argmin lies between
// those of any rows above and below it. O(d log d) evaluations per layer.
// Depth first (split at the middle row) while a block of rows is larger than
// kBlockRows, so that each block's rows and candidates (5 arrays of 8-byte
// values, ~200 KiB) stay in L2 for all of its levels; within a block,
// breadth first in flat loops: rows r in [1, R] (i = ilo - 1 + r), level by
// level from the largest power of two b <= R down to kBlock, the rows
// r = b, 3b, 5b, ..., each between rows r - b and r + b of earlier levels
// (or the block's bounds), one scan per row. The rows left, seven between
// each two multiples of kBlock (7/8 of all rows, whose scans would be
// 3-8 candidates each), are scanned together between those two rows'
// argmins: the vector paths put one row in each lane and step through the
// candidates, no reduction across lanes.

struct LayerRows {
  static constexpr int64_t kBlockRows = 4096;
  static constexpr int64_t kBlock = 8;

  const Prefix& p;
  LayerIo io;

  void row(int64_t i, int64_t lo, int64_t hi) const {
    double best;
    io.arg[i] = static_cast<uint32_t>(scan(p, i, io.narrow(i, lo, hi), hi, io.dprev, &best));
    io.dcur[i] = best;
  }

  // Rows [ilo, ihi] with argmins in [jlo, jhi].
  void solve(int64_t ilo, int64_t ihi, int64_t jlo, int64_t jhi) const {
    if (ilo > ihi) return;
    if (ihi - ilo + 1 > kBlockRows) {
      const int64_t i = ilo + (ihi - ilo) / 2;
      row(i, jlo, std::min(jhi, i));
      solve(ilo, i - 1, jlo, io.arg[i]);
      solve(i + 1, ihi, io.arg[i], jhi);
      return;
    }
    const int64_t base = ilo - 1, rows = ihi - base;
    int64_t b = 1;
    while (b * 2 <= rows) b *= 2;
    for (; b >= kBlock; b /= 2) {
      for (int64_t r = b; r <= rows; r += 2 * b) {
        const int64_t i = base + r;
        row(i, r - b >= 1 ? io.arg[i - b] : jlo,
            std::min<int64_t>(r + b <= rows ? io.arg[i + b] : jhi, i));
      }
    }
    for (int64_t r0 = 1; r0 <= rows; r0 += kBlock) {
      const int64_t r1 = std::min(r0 + kBlock - 2, rows);
      scan_block(p, io, base + r0, base + r1, r0 > 1 ? io.arg[base + r0 - 1] : jlo,
                 r1 < rows ? io.arg[base + r1 + 1] : jhi);
    }
  }
};

inline void layer(const Prefix& p, int64_t q, int64_t imax, const double* dprev,
                  const uint32_t* lower, double* dcur, uint32_t* arg) {
  const LayerRows l{p, LayerIo{imax, dprev, lower, dcur, arg}};
  l.solve(q, imax, q, imax);
}
