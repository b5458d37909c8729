// kernels/common/run_grid.h: what the prepacked operators' run() share: the
// checks of (M, the input and output pointers and row strides), and the task
// grid of (row blocks) x (ranges of weight panels) run through a ParallelFor.
#ifndef QKERN_KERNELS_COMMON_RUN_GRID_H_
#define QKERN_KERNELS_COMMON_RUN_GRID_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include "qkern/parallel.hpp"
#include "qkern/status.hpp"

namespace qkern {
namespace internal {

// One operand of run(): `name` (e.g. "a"), its stride's name ("lda"), the
// stride, the row length it must cover and its element size in bytes.
struct RunOperand {
  const char* name;
  const char* ld_name;
  const void* data;
  int64_t ld, row, elem_bytes;
};

// m >= 0; each stride >= its row; for m > 0 non-null data and m * ld within
// int64. The messages name the argument. *empty: m == 0 (nothing to do).
inline Status check_run(int64_t m, const RunOperand& in, const RunOperand& out, bool* empty) {
  *empty = false;
  if (m < 0) return Status(StatusCode::kInvalidArgument, "m: must be >= 0 (got " + std::to_string(m) + ")");
  for (const RunOperand* o : {&in, &out}) {
    if (o->ld < o->row) {
      return Status(StatusCode::kInvalidArgument,
                    std::string(o->ld_name) + ": must be >= " + (o == &in ? "k" : "n") + " = " +
                        std::to_string(o->row) + " (got " + std::to_string(o->ld) + ")");
    }
  }
  if (m == 0) {
    *empty = true;
    return Status();
  }
  for (const RunOperand* o : {&in, &out}) {
    if (o->data == nullptr) return Status(StatusCode::kInvalidArgument, std::string(o->name) + ": null");
  }
  for (const RunOperand* o : {&in, &out}) {
    // The last byte, ((m - 1) * ld + row) * elem_bytes, within int64
    // (overflow checks, not divisions: run() is called per inference step).
    int64_t end = 0;
    if (__builtin_mul_overflow(m - 1, o->ld, &end) || __builtin_add_overflow(end, o->row, &end) ||
        __builtin_mul_overflow(end, o->elem_bytes, &end)) {
      return Status(StatusCode::kOverflow, std::string(o->ld_name) + ": m * " + o->ld_name + " overflows");
    }
  }
  return Status();
}

// Runs body(m0, m1, p0, p1) over row blocks of mc rows of [0, m) times ranges
// of [0, panels): one range without a pool; with one, small M splits the
// panels so that threads have work (about 16 tasks). Ranges hold at most
// `chunk` panels, and tasks run range by range (every row block of a range,
// then the next range): weights larger than the last-level cache are then read
// from DRAM once, not once per row block. The pool's split keeps at least
// `min_range` panels per range where there are that many (a task that packs
// its rows of A for few panels spends its time packing). The body returns
// false when its thread's workspace could not be allocated; so does run_grid.
// *tasks: how many ran.
template <class Body>
bool run_grid(const ParallelFor& pf, int64_t m, int64_t mc, int64_t panels, Body&& body, size_t* tasks,
              int64_t chunk = std::numeric_limits<int64_t>::max(), int64_t min_range = 1) {
  const int64_t m_blocks = (m + mc - 1) / mc;
  int64_t n_blocks = pf.run ? std::min(panels, std::max<int64_t>(1, 16 / m_blocks)) : 1;
  n_blocks = std::min(n_blocks, std::max<int64_t>(1, panels / min_range));
  if (m_blocks > 1 && panels > 0) n_blocks = std::max(n_blocks, (panels - 1) / chunk + 1);  // no overflow at the default chunk
  struct Job {
    Body* body;
    int64_t m, mc, panels, n_blocks;
    std::atomic<bool> failed{false};
  } job{&body, m, mc, panels, n_blocks};
  auto task = [](void* arg, size_t t) {
    Job& j = *static_cast<Job*>(arg);
    const int64_t m_blocks = (j.m + j.mc - 1) / j.mc;
    const int64_t nb = static_cast<int64_t>(t) / m_blocks, mb = static_cast<int64_t>(t) % m_blocks;
    const int64_t m0 = mb * j.mc, m1 = std::min(j.m, m0 + j.mc);
    const int64_t p0 = nb * j.panels / j.n_blocks, p1 = (nb + 1) * j.panels / j.n_blocks;
    if (!(*j.body)(m0, m1, p0, p1)) j.failed = true;
  };
  *tasks = static_cast<size_t>(m_blocks * n_blocks);
  if (pf.run) {
    pf.run(pf.ctx, *tasks, task, &job);
    return !job.failed;
  }
  // Without a pool, the same tasks in the same order, their bounds stepped
  // rather than divided out.
  bool ok = true;
  for (int64_t nb = 0; nb < n_blocks; ++nb) {
    const int64_t p0 = n_blocks == 1 ? 0 : nb * panels / n_blocks;
    const int64_t p1 = n_blocks == 1 ? panels : (nb + 1) * panels / n_blocks;
    for (int64_t m0 = 0; m0 < m; m0 += mc) ok = body(m0, std::min(m, m0 + mc), p0, p1) && ok;
  }
  return ok;
}

}  // namespace internal
}  // namespace qkern

#endif  // QKERN_KERNELS_COMMON_RUN_GRID_H_
