// jit/code_cache.cc
#include "jit/code_cache.h"

namespace qkern {
namespace jit {

std::shared_ptr<const Kernel> CodeCache::get(const std::string& key, const Make& make, std::string* why) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    auto it = map_.find(key);
    if (it == map_.end()) break;
    if (!it->second.pending) {
      ++stats_.hits;
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return it->second.kernel;
    }
    // Another thread is generating this key: wait for it, then look again
    // (its entry is ready, or gone after a failure).
    done_.wait(lock);
  }
  ++stats_.misses;
  map_.emplace(key, Entry());
  lock.unlock();

  std::string reason;
  std::shared_ptr<const Kernel> kernel;
  try {
    kernel = make(&reason);
  } catch (...) {  // make() reports by value; this only keeps the cache consistent
    reason = "generator threw";
  }

  lock.lock();
  auto it = map_.find(key);
  if (kernel == nullptr) {
    ++stats_.failures;
    map_.erase(it);
    if (why != nullptr) *why = reason;
  } else {
    it->second.kernel = kernel;
    it->second.pending = false;
    lru_.push_front(key);
    it->second.lru = lru_.begin();
    evict_locked();
  }
  done_.notify_all();
  return kernel;
}

void CodeCache::evict_locked() {
  while (lru_.size() > capacity_) {
    map_.erase(lru_.back());  // its kernel lives on in any operator holding it
    lru_.pop_back();
    ++stats_.evictions;
  }
}

CodeCache::Stats CodeCache::stats() const {
  const std::lock_guard<std::mutex> lock(mu_);
  Stats s = stats_;
  s.entries = lru_.size();
  s.capacity = capacity_;
  return s;
}

void CodeCache::clear() {
  const std::lock_guard<std::mutex> lock(mu_);
  for (auto it = map_.begin(); it != map_.end();) {
    if (it->second.pending) {
      ++it;  // its generator will find it
    } else {
      it = map_.erase(it);
    }
  }
  lru_.clear();
  stats_ = Stats();
}

CodeCache& global_cache() {
  static CodeCache* cache = new CodeCache(1024);  // never destroyed: kernels may outlive static destruction order
  return *cache;
}

}  // namespace jit
}  // namespace qkern
