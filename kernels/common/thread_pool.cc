// kernels/common/thread_pool.cc: qkern::ThreadPool, the default ParallelFor
// for callers without a pool of their own. Within a run every thread (the
// caller included) takes task indices from one atomic counter, so uneven
// tasks balance. Between runs a worker spins for up to `spin` before it sleeps
// on a condition variable, and the caller spins as long for the workers to
// finish before it sleeps: waking a sleeping thread costs 55-75 us on a VM
// (an IPI through the hypervisor), an eighth of a two-thread 1024^3 GEMM.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "qkern/parallel.hpp"

namespace qkern {
namespace {

using Clock = std::chrono::steady_clock;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Spins until done() or `spin` has passed; true if done().
template <class Done>
bool spin_until(std::chrono::microseconds spin, Done&& done) {
  const Clock::time_point end = Clock::now() + spin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (Clock::now() >= end) return done();
  }
}

}  // namespace

struct ThreadPool::Impl {
  explicit Impl(int spin_us) : spin(spin_us > 0 ? spin_us : 0) {}
  const std::chrono::microseconds spin;
  std::mutex run_mutex;  // one run at a time
  std::mutex mutex;      // guards the sleeps on `wake` and `done`
  std::condition_variable wake, done;
  std::vector<std::thread> workers;
  // A run publishes n, task and arg, then increments generation (release);
  // a worker reads them after seeing the new generation (acquire).
  std::atomic<uint64_t> generation{0};
  std::atomic<bool> stop{false};
  size_t n = 0;
  void (*task)(void*, size_t) = nullptr;
  void* arg = nullptr;
  std::atomic<size_t> next{0};
  std::atomic<size_t> busy{0};  // workers still inside the current run

  void work() {
    for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) task(arg, i);
  }
  void worker_loop() {
    uint64_t seen = 0;
    for (;;) {
      auto ready = [&] {
        return stop.load(std::memory_order_acquire) || generation.load(std::memory_order_acquire) != seen;
      };
      if (!spin_until(spin, ready)) {
        std::unique_lock<std::mutex> lock(mutex);
        wake.wait(lock, ready);
      }
      if (stop.load(std::memory_order_acquire)) return;
      seen = generation.load(std::memory_order_acquire);
      work();
      if (busy.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        // The lock orders this notify after a caller's check of `busy` under
        // it, so a caller about to sleep does not miss it.
        std::lock_guard<std::mutex> lock(mutex);
        done.notify_one();
      }
    }
  }
  static void run(void* ctx, size_t n, void (*task)(void*, size_t), void* arg) {
    Impl& p = *static_cast<Impl*>(ctx);
    if (p.workers.empty() || n <= 1) {
      for (size_t i = 0; i < n; ++i) task(arg, i);
      return;
    }
    std::lock_guard<std::mutex> one_run(p.run_mutex);
    {
      std::lock_guard<std::mutex> lock(p.mutex);
      p.n = n;
      p.task = task;
      p.arg = arg;
      p.next.store(0, std::memory_order_relaxed);
      p.busy.store(p.workers.size(), std::memory_order_relaxed);
      p.generation.fetch_add(1, std::memory_order_release);
    }
    p.wake.notify_all();
    p.work();
    auto finished = [&] { return p.busy.load(std::memory_order_acquire) == 0; };
    if (!spin_until(p.spin, finished)) {
      std::unique_lock<std::mutex> lock(p.mutex);
      p.done.wait(lock, finished);
    }
  }
};

ThreadPool::ThreadPool(int threads, int spin_us) : impl_(new Impl(spin_us)) {
  for (int t = 1; t < threads; ++t) impl_->workers.emplace_back([this] { impl_->worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stop.store(true, std::memory_order_release);
  }
  impl_->wake.notify_all();
  for (auto& t : impl_->workers) t.join();
}

int ThreadPool::threads() const { return static_cast<int>(impl_->workers.size()) + 1; }

ParallelFor ThreadPool::parallel_for() {
  ParallelFor pf;
  pf.run = &Impl::run;
  pf.ctx = impl_.get();
  return pf;
}

}  // namespace qkern
