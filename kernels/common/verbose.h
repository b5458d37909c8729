// kernels/common/verbose.h: QKERN_VERBOSE=1 prints one line per call,
//   qkern_verbose,<exec|create>,<op>,<isa>,<kernel>,<problem>,<time ms>
// in the spirit of ONEDNN_VERBOSE. When the variable is unset the cost is one
// load of a cached flag per call.
#ifndef QKERN_KERNELS_COMMON_VERBOSE_H_
#define QKERN_KERNELS_COMMON_VERBOSE_H_

#include <chrono>
#include <string>

#include "qkern/isa.hpp"

namespace qkern {
namespace internal {

// The level of QKERN_VERBOSE, read once (0 when unset or not a number).
int verbose_level();

class VerboseScope {
 public:
  // `kind` is "exec" or "create"; `op` the operator name.
  VerboseScope(const char* kind, const char* op);
  ~VerboseScope();
  VerboseScope(const VerboseScope&) = delete;
  VerboseScope& operator=(const VerboseScope&) = delete;

  bool active() const { return active_; }
  // Call only when active(): the ISA and kernel that ran, and the problem.
  void record(Isa isa, std::string kernel, std::string problem);

 private:
  bool active_;
  const char* kind_;
  const char* op_;
  Isa isa_ = Isa::kScalar;
  std::string kernel_, problem_;
  std::chrono::steady_clock::time_point start_;
};

// While one lives, the calling thread's VerboseScopes print nothing: an
// operator built from others (QConv2d's per-group QGemms) prints its own line.
class VerboseMute {
 public:
  VerboseMute();
  ~VerboseMute();
  VerboseMute(const VerboseMute&) = delete;
  VerboseMute& operator=(const VerboseMute&) = delete;
};

}  // namespace internal
}  // namespace qkern

#endif  // QKERN_KERNELS_COMMON_VERBOSE_H_
