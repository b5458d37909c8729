// kernels/common/thread_pool.cc: qkern::ThreadPool, the default ParallelFor
// for callers without a pool of their own. Workers sleep on a condition
// variable between runs; within a run every thread (the caller included)
// takes task indices from one atomic counter, so uneven tasks balance.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "qkern/parallel.hpp"

namespace qkern {

struct ThreadPool::Impl {
  std::mutex run_mutex;  // one run at a time
  std::mutex mutex;
  std::condition_variable wake, done;
  std::vector<std::thread> workers;
  uint64_t generation = 0;
  bool stop = false;
  // The current run.
  size_t n = 0;
  void (*task)(void*, size_t) = nullptr;
  void* arg = nullptr;
  std::atomic<size_t> next{0};
  size_t busy = 0;  // workers still inside the current run

  void work() {
    for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) task(arg, i);
  }
  void worker_loop() {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      wake.wait(lock, [&] { return stop || generation != seen; });
      if (stop) return;
      seen = generation;
      lock.unlock();
      work();
      lock.lock();
      if (--busy == 0) done.notify_one();
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
      p.busy = p.workers.size();
      ++p.generation;
    }
    p.wake.notify_all();
    p.work();
    std::unique_lock<std::mutex> lock(p.mutex);
    p.done.wait(lock, [&] { return p.busy == 0; });
  }
};

ThreadPool::ThreadPool(int threads) : impl_(new Impl) {
  for (int t = 1; t < threads; ++t) impl_->workers.emplace_back([this] { impl_->worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stop = true;
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
