// kernels/common/buffer.h: 64-byte aligned heap buffers for packed operands,
// and the per-thread run workspace shared by the prepacked operators.
#ifndef QKERN_KERNELS_COMMON_BUFFER_H_
#define QKERN_KERNELS_COMMON_BUFFER_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "qkern/status.hpp"

namespace qkern {
namespace internal {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
template <typename T>
using Buffer = std::unique_ptr<T[], FreeDeleter>;

// 64-byte aligned, zero-filled; null when out of memory.
template <typename T>
Buffer<T> alloc_zeroed(size_t count) {
  const size_t bytes = (std::max<size_t>(count * sizeof(T), 1) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (p) std::memset(p, 0, bytes);
  return Buffer<T>(static_cast<T*>(p));
}

inline int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

// The calling thread's run workspace (kQGemmWorkspaceBytes), allocated on its
// first use and kept for the thread's life; null when out of memory.
uint8_t* thread_workspace();

// What run() returns when a thread's workspace cannot be allocated.
inline Status workspace_error() {
  return Status(StatusCode::kOutOfMemory, "workspace: cannot allocate a thread's run workspace");
}

}  // namespace internal
}  // namespace qkern

#endif  // QKERN_KERNELS_COMMON_BUFFER_H_
