// kernels/common/verbose.cc
#include "kernels/common/verbose.h"

#include <cstdio>
#include <cstdlib>

namespace qkern {
namespace internal {

int verbose_level() {
  static const int level = [] {
    const char* env = std::getenv("QKERN_VERBOSE");
    return env ? std::atoi(env) : 0;
  }();
  return level;
}

namespace {
thread_local int mute_depth = 0;
}  // namespace

VerboseMute::VerboseMute() { ++mute_depth; }
VerboseMute::~VerboseMute() { --mute_depth; }

VerboseScope::VerboseScope(const char* kind, const char* op)
    : active_(mute_depth == 0 && verbose_level() > 0), kind_(kind), op_(op) {
  if (active_) start_ = std::chrono::steady_clock::now();
}

void VerboseScope::record(Isa isa, std::string kernel, std::string problem) {
  isa_ = isa;
  kernel_ = std::move(kernel);
  problem_ = std::move(problem);
}

VerboseScope::~VerboseScope() {
  if (!active_ || kernel_.empty()) return;  // nothing ran (an error was returned)
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
  std::fprintf(stderr, "qkern_verbose,%s,%s,%s,%s,%s,%.4f\n", kind_, op_, isa_name(isa_),
               kernel_.c_str(), problem_.c_str(), ms);
}

}  // namespace internal
}  // namespace qkern
