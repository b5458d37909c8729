// jit/jit.h: what operators see of the JIT (no Xbyak here): whether it is
// on, the kernel handle, and the test hooks. The generators are x86-64 only
// (CMake defines QKERN_HAVE_JIT there); on aarch64 the AOT kernels serve.
#ifndef QKERN_JIT_JIT_H_
#define QKERN_JIT_JIT_H_

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace qkern {
namespace jit {

// Whether operators may ask for JIT kernels: not QKERN_JIT=0 and not
// disabled by set_enabled_for_test(false).
bool enabled();
void set_enabled_for_test(bool on);
void reset_enabled_for_test();  // back to the environment's choice
// Makes every generation fail as if Xbyak had thrown (tests of the fallback).
void set_fail_for_test(bool fail);

// A finished kernel: read-execute code with a name. Owned by the code cache
// (shared_ptr): it lives while any operator still refers to it.
class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual const void* entry() const = 0;
  virtual size_t size() const = 0;
  const std::string& name() const { return name_; }

 protected:
  explicit Kernel(std::string name) : name_(std::move(name)) {}

 private:
  std::string name_;
};

bool fail_for_test();

// One line per generator of this build ("gemm avx512_vnni: ..."), for
// `qkern info`; empty where the JIT is not built.
std::vector<std::string> generator_descriptions();

}  // namespace jit
}  // namespace qkern

#endif  // QKERN_JIT_JIT_H_
