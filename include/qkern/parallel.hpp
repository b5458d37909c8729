// qkern/parallel.hpp: the parallel-for hook every prepacked operator's run()
// takes (QGemm, and later QConv2d and LutGemm), and a default pool.
#ifndef QKERN_PARALLEL_HPP_
#define QKERN_PARALLEL_HPP_

#include <cstddef>
#include <memory>

// The shared library exports what this header declares (cmake/qkern.map).
#pragma GCC visibility push(default)
namespace qkern {

// An engine's thread pool, lent to one run: `run(ctx, n, task, arg)` must call
// task(arg, i) exactly once for every i in [0, n), on any threads in any order,
// and return when all have returned. A null `run` runs the tasks inline.
// Results never depend on how the tasks are scheduled.
struct ParallelFor {
  void (*run)(void* ctx, size_t n, void (*task)(void* arg, size_t i), void* arg) = nullptr;
  void* ctx = nullptr;
};

// A simple fixed-size pool for callers without one of their own. threads <= 1
// runs everything on the calling thread. One run at a time per pool (runs from
// several threads on one pool are serialized). Between runs a worker, and a
// caller waiting for the workers, spins for up to spin_us microseconds before
// it sleeps (OpenMP's KMP_BLOCKTIME); 0 sleeps at once, negative reads as 0.
class ThreadPool {
 public:
  static constexpr int kDefaultSpinUs = 500;
  explicit ThreadPool(int threads, int spin_us = kDefaultSpinUs);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const;
  // The hook to pass to run(); valid while the pool lives.
  ParallelFor parallel_for();

 private:
  struct __attribute__((visibility("hidden"))) Impl;  // not exported
  std::unique_ptr<Impl> impl_;
};

}  // namespace qkern
#pragma GCC visibility pop

#endif  // QKERN_PARALLEL_HPP_
