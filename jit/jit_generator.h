// jit/jit_generator.h: the base of qkern's Xbyak generators (oneDNN's
// jit_generator shape): a named kernel, emitted into read-write pages and
// flipped to read-execute before it is ever called (never writable and
// executable at once), then announced to perf (/tmp/perf-<pid>.map) and,
// with QKERN_JIT_DUMP=<dir>, written out for objdump.
//
// Environment (read once):
//   QKERN_JIT=0            no JIT: every operator runs its AOT kernels
//   QKERN_JIT_DUMP=<dir>   <dir>/<name>.<seq>.bin per kernel:
//                          objdump -D -b binary -mi386:x86-64 <file>
//   QKERN_JIT_PERF_MAP=0   no /tmp/perf-<pid>.map lines (on by default)
#ifndef QKERN_JIT_JIT_GENERATOR_H_
#define QKERN_JIT_JIT_GENERATOR_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#define XBYAK_NO_OP_NAMES
#include <xbyak/xbyak.h>

#include "jit/jit.h"

namespace qkern {
namespace jit {

// Code pages: mmap'ed read-write and pre-faulted (MAP_POPULATE: one system
// call instead of a page fault per page; in a VM each costs microseconds).
// Xbyak flips them with mprotect and unmaps them through free().
Xbyak::Allocator* code_allocator();

// Subclasses emit their code in generate() between preamble() and postamble()
// (SysV: rbx, rbp, r12-r15 saved when `saved_gprs` asks for them).
class Generator : public Xbyak::CodeGenerator {
 public:
  explicit Generator(size_t max_code_bytes)
      : Xbyak::CodeGenerator(max_code_bytes, Xbyak::DontSetProtectRWE, code_allocator()) {}
  ~Generator() override = default;

 protected:
  void preamble(int saved_gprs);
  void postamble();
  int saved_gprs_ = 0;
};

template <class G>
class GeneratedKernel final : public Kernel {
 public:
  GeneratedKernel(std::string name, std::unique_ptr<G> gen) : Kernel(std::move(name)), gen_(std::move(gen)) {}
  const void* entry() const override { return gen_->getCode(); }
  size_t size() const override { return gen_->getSize(); }

 private:
  std::unique_ptr<G> gen_;
};

// After emitting: read-execute, perf map, dump. False (and *why) on failure.
bool finalize(Xbyak::CodeGenerator& gen, const std::string& name, std::string* why);

// Constructs G(args...) (whose constructor emits the code; Xbyak throws on
// failure), flips it to read-execute, registers it (perf map, dump) and
// returns it. On any failure: null and *why (the caller falls back to its AOT
// kernel).
template <class G, class... Args>
std::shared_ptr<const Kernel> build(const std::string& name, std::string* why, Args&&... args) {
  if (fail_for_test()) {
    *why = "generation failure forced by a test";
    return nullptr;
  }
  try {
    auto gen = std::make_unique<G>(std::forward<Args>(args)...);
    if (!finalize(*gen, name, why)) return nullptr;
    return std::make_shared<GeneratedKernel<G>>(name, std::move(gen));
  } catch (const Xbyak::Error& e) {
    *why = std::string("xbyak: ") + e.what();
  } catch (const std::bad_alloc&) {
    *why = "out of memory";
  }
  return nullptr;
}

// Writes out the perf map lines buffered so far (also done at exit).
void flush_perf_map();

// Test hook: true if any mapping of this process is writable and executable.
bool any_wx_mapping(std::string* line);

}  // namespace jit
}  // namespace qkern

#endif  // QKERN_JIT_JIT_GENERATOR_H_
