// jit/jit_generator.cc: environment, W^X finalization, perf map and dumps.
#include "jit/jit_generator.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <unordered_map>

namespace qkern {
namespace jit {
namespace {

struct Env {
  bool jit = true;
  bool perf_map = true;
  std::string dump_dir;
  Env() {
    if (const char* v = std::getenv("QKERN_JIT")) jit = std::strcmp(v, "0") != 0;
    if (const char* v = std::getenv("QKERN_JIT_PERF_MAP")) perf_map = std::strcmp(v, "0") != 0;
    if (const char* v = std::getenv("QKERN_JIT_DUMP")) dump_dir = v;
  }
};

const Env& env() {
  static const Env e;
  return e;
}

std::atomic<int> g_enabled_override{-1};  // -1: the environment decides
std::atomic<bool> g_fail{false};
std::mutex g_files_mu;
std::atomic<uint64_t> g_seq{0};

// The map file stays open (appending) for the process's life, buffered
// (perf reads it when it reports) and flushed at exit.
std::FILE* perf_map_file() {
  static std::FILE* f = [] {
    char path[64];
    std::snprintf(path, sizeof path, "/tmp/perf-%d.map", static_cast<int>(getpid()));
    std::FILE* file = std::fopen(path, "a");
    if (file != nullptr) std::atexit([] { std::fflush(nullptr); });
    return file;
  }();
  return f;
}

void perf_map_line(const void* code, size_t size, const std::string& name) {
  std::FILE* f = perf_map_file();
  if (f == nullptr) return;  // a profiling aid only: no error
  std::fprintf(f, "%llx %zx qkern_jit:%s\n",
               static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(code)), size, name.c_str());
}

void dump(const void* code, size_t size, const std::string& name, uint64_t seq) {
  const std::string path = env().dump_dir + "/" + name + "." + std::to_string(seq) + ".bin";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return;
  std::fwrite(code, 1, size, f);
  std::fclose(f);
}

class PopulatingAllocator : public Xbyak::Allocator {
 public:
  uint8_t* alloc(size_t size) override {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t bytes = (size + page - 1) / page * page;
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) return nullptr;  // Xbyak reports ERR_CANT_ALLOC: the operator falls back
    const std::lock_guard<std::mutex> lock(mu_);
    sizes_[p] = bytes;
    return static_cast<uint8_t*>(p);
  }
  void free(uint8_t* p) override {
    if (p == nullptr) return;
    size_t bytes = 0;
    {
      const std::lock_guard<std::mutex> lock(mu_);
      auto it = sizes_.find(p);
      if (it == sizes_.end()) return;
      bytes = it->second;
      sizes_.erase(it);
    }
    munmap(p, bytes);
  }

 private:
  std::mutex mu_;
  std::unordered_map<void*, size_t> sizes_;
};

}  // namespace

Xbyak::Allocator* code_allocator() {
  static PopulatingAllocator* a = new PopulatingAllocator();  // outlives every kernel
  return a;
}

bool enabled() {
  const int o = g_enabled_override.load(std::memory_order_relaxed);
  return o >= 0 ? o == 1 : env().jit;
}
void set_enabled_for_test(bool on) { g_enabled_override.store(on ? 1 : 0); }
void reset_enabled_for_test() { g_enabled_override.store(-1); }
void set_fail_for_test(bool fail) { g_fail.store(fail); }
bool fail_for_test() { return g_fail.load(std::memory_order_relaxed); }

void Generator::preamble(int saved_gprs) {
  static const Xbyak::Reg64 regs[] = {rbx, rbp, r12, r13, r14, r15};
  saved_gprs_ = saved_gprs;
  for (int i = 0; i < saved_gprs_; ++i) push(regs[i]);
}

void Generator::postamble() {
  static const Xbyak::Reg64 regs[] = {rbx, rbp, r12, r13, r14, r15};
  for (int i = saved_gprs_ - 1; i >= 0; --i) pop(regs[i]);
  vzeroupper();
  ret();
}

bool finalize(Xbyak::CodeGenerator& gen, const std::string& name, std::string* why) {
  // The pages were read-write while emitting (DontSetProtectRWE); from here
  // on they are read-execute.
  if (!gen.setProtectModeRE(false)) {
    *why = std::string("mprotect(PROT_READ | PROT_EXEC) failed: ") + std::strerror(errno);
    return false;
  }
  const uint64_t seq = g_seq.fetch_add(1);
  const Env& e = env();
  if (e.perf_map || !e.dump_dir.empty()) {
    const std::lock_guard<std::mutex> lock(g_files_mu);
    if (e.perf_map) perf_map_line(gen.getCode(), gen.getSize(), name);
    if (!e.dump_dir.empty()) dump(gen.getCode(), gen.getSize(), name, seq);
  }
  return true;
}

void flush_perf_map() {
  const std::lock_guard<std::mutex> lock(g_files_mu);
  if (env().perf_map) std::fflush(perf_map_file());
}

bool any_wx_mapping(std::string* line) {
  std::ifstream maps("/proc/self/maps");
  std::string l;
  while (std::getline(maps, l)) {
    // "start-end perms offset dev inode path": perms like "rwxp".
    const size_t sp = l.find(' ');
    if (sp == std::string::npos || sp + 4 >= l.size()) continue;
    if (l[sp + 2] == 'w' && l[sp + 3] == 'x') {
      if (line != nullptr) *line = l;
      return true;
    }
  }
  return false;
}

}  // namespace jit
}  // namespace qkern
