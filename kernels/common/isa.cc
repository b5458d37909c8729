// kernels/common/isa.cc: CPU detection, the QKERN_MAX_ISA / set_max_isa caps.
//
// Detection is Highway's (cpuid + xgetbv on x86, getauxval on Arm), read once
// before anything could mock it, intersected with the targets this build
// compiled. neon_dotprod is a HWCAP check on top of Highway's NEON.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>

#include "hwy/highway.h"
#include "hwy/targets.h"
#include "kernels/common/registry.h"
#include "qkern/isa.hpp"

#if HWY_ARCH_X86 && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if HWY_ARCH_ARM_A64 && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

namespace qkern {
namespace {

constexpr const char* kIsaNames[kIsaCount] = {"scalar", "avx2",         "avx512",    "avx512_vnni",
                                              "neon",   "neon_dotprod", "avx512_amx"};

struct IsaState {
  bool supported[kIsaCount] = {};
  Isa best = Isa::kScalar;
  int env_cap = -1;  // QKERN_MAX_ISA as an Isa, -1 when unset or invalid
  Status env_status;
};

bool same_architecture(Isa isa) {
#if HWY_ARCH_X86
  return isa == Isa::kScalar || isa == Isa::kAvx2 || isa == Isa::kAvx512 || isa == Isa::kAvx512Vnni ||
         isa == Isa::kAvx512Amx;
#elif HWY_ARCH_ARM_A64
  return isa == Isa::kScalar || isa == Isa::kNeon || isa == Isa::kNeonDotprod;
#else
  return isa == Isa::kScalar;
#endif
}

// avx512_amx beyond avx512_vnni: the CPU has AMX-TILE and AMX-INT8 (cpuid
// leaf 7), the OS saves the tile state (XCR0 bits 17-18), and Linux grants
// this process its use (ARCH_REQ_XCOMP_PERM; the permission is the
// process's, for every thread, present and future). Asked once, here.
bool detect_amx() {
#if HWY_ARCH_X86 && defined(__linux__)
  constexpr int kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  const bool tile = (edx >> 24) & 1, int8 = (edx >> 25) & 1;
  const bool osxsave = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && ((ecx >> 27) & 1);
  if (!tile || !int8 || !osxsave) return false;
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if (((lo >> 17) & 3) != 3) return false;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

IsaState detect() {
  IsaState s;
  s.supported[static_cast<int>(Isa::kScalar)] = true;
  const int64_t targets = hwy::SupportedTargets() & HWY_TARGETS;
#if HWY_ARCH_X86
  s.supported[static_cast<int>(Isa::kAvx2)] = (targets & HWY_AVX2) != 0;
  s.supported[static_cast<int>(Isa::kAvx512)] = (targets & HWY_AVX3) != 0;
  s.supported[static_cast<int>(Isa::kAvx512Vnni)] = (targets & HWY_AVX3_DL) != 0;
  s.supported[static_cast<int>(Isa::kAvx512Amx)] =
      (targets & HWY_AVX3_DL) != 0 && detect_amx();
#elif HWY_ARCH_ARM_A64
  s.supported[static_cast<int>(Isa::kNeon)] = (targets & HWY_NEON) != 0;
#if defined(__linux__)
  s.supported[static_cast<int>(Isa::kNeonDotprod)] =
      (targets & HWY_NEON) != 0 && (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
#else
  (void)targets;
#endif
  for (int i = 0; i < kIsaCount; ++i) {
    // Within one architecture the enum order is the level order.
    if (s.supported[i] && same_architecture(static_cast<Isa>(i))) s.best = static_cast<Isa>(i);
  }

  if (const char* env = std::getenv("QKERN_MAX_ISA"); env != nullptr && env[0] != '\0') {
    Isa cap;
    if (!isa_from_name(env, &cap)) {
      s.env_status = Status(StatusCode::kInvalidArgument,
                            std::string("QKERN_MAX_ISA: '") + env +
                                "' is not an ISA name (expected one of scalar, avx2, avx512, "
                                "avx512_vnni, avx512_amx, neon, neon_dotprod); ignored");
    } else if (!same_architecture(cap)) {
      s.env_status = Status(StatusCode::kInvalidArgument,
                            std::string("QKERN_MAX_ISA: '") + env +
                                "' is an ISA of another architecture; ignored");
    } else {
      s.env_cap = static_cast<int>(cap);
    }
    if (!s.env_status.ok()) std::fprintf(stderr, "qkern: error: %s\n", s.env_status.message().c_str());
  }
  return s;
}

const IsaState& state() {
  static const IsaState s = detect();
  return s;
}

std::atomic<int> g_api_cap{-1};

}  // namespace

namespace internal {
Isa fallback_isa(Isa isa) {
  switch (isa) {
    case Isa::kAvx512Amx: return Isa::kAvx512Vnni;
    case Isa::kAvx512Vnni: return Isa::kAvx512;
    case Isa::kAvx512: return Isa::kAvx2;
    case Isa::kNeonDotprod: return Isa::kNeon;
    default: return Isa::kScalar;
  }
}
}  // namespace internal

const char* isa_name(Isa isa) {
  const int i = static_cast<int>(isa);
  return (i >= 0 && i < kIsaCount) ? kIsaNames[i] : "unknown";
}

bool isa_from_name(const std::string& name, Isa* isa) {
  for (int i = 0; i < kIsaCount; ++i) {
    if (name == kIsaNames[i]) {
      *isa = static_cast<Isa>(i);
      return true;
    }
  }
  return false;
}

std::vector<Isa> architecture_isas() {
  std::vector<Isa> out;
  for (int i = 0; i < kIsaCount; ++i) {
    if (same_architecture(static_cast<Isa>(i))) out.push_back(static_cast<Isa>(i));
  }
  return out;
}

std::vector<Isa> available_isas() {
  std::vector<Isa> out;
  for (Isa isa : architecture_isas()) {
    if (state().supported[static_cast<int>(isa)]) out.push_back(isa);
  }
  return out;
}

bool isa_available(Isa isa) {
  const int i = static_cast<int>(isa);
  return i >= 0 && i < kIsaCount && same_architecture(isa) && state().supported[i];
}

Isa best_isa() { return state().best; }

Isa active_isa() {
  // Within one architecture the enum order is the level order.
  int isa = static_cast<int>(state().best);
  if (state().env_cap >= 0 && state().env_cap < isa) isa = state().env_cap;
  const int api = g_api_cap.load(std::memory_order_relaxed);
  if (api >= 0 && api < isa) isa = api;
  return static_cast<Isa>(isa);
}

Status set_max_isa(Isa isa) {
  const int i = static_cast<int>(isa);
  if (i < 0 || i >= kIsaCount) {
    return Status(StatusCode::kInvalidArgument, "isa: not a qkern ISA (" + std::to_string(i) + ")");
  }
  if (!same_architecture(isa)) {
    return Status(StatusCode::kInvalidArgument,
                  std::string("isa: '") + isa_name(isa) + "' is an ISA of another architecture");
  }
  g_api_cap.store(i, std::memory_order_relaxed);
  return Status();
}

void reset_max_isa() { g_api_cap.store(-1, std::memory_order_relaxed); }

Status environment_status() { return state().env_status; }

CpuInfo cpu_info() {
  CpuInfo info;
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    // x86: "model name : ..."; aarch64: no model name, use "CPU part".
    if (line.rfind("model name", 0) == 0 || (info.model.empty() && line.rfind("CPU part", 0) == 0)) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) info.model = line.substr(colon + 2);
      if (line.rfind("model name", 0) == 0) break;
    }
  }
  if (info.model.empty()) info.model = "unknown";
#if HWY_ARCH_X86
  const int64_t t = hwy::SupportedTargets();
  if (t & HWY_AVX2) info.features.push_back("avx2+fma+bmi2+f16c");
  if (t & HWY_AVX3) info.features.push_back("avx512f+bw+dq+vl");
  if (t & HWY_AVX3_DL) info.features.push_back("avx512_vnni+vbmi+vbmi2+bitalg+vpopcntdq+vaes");
  if (isa_available(Isa::kAvx512Amx)) info.features.push_back("amx_tile+amx_int8");
#elif HWY_ARCH_ARM_A64
  info.features.push_back("neon");
#if defined(__linux__)
  if (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) info.features.push_back("asimddp(dotprod)");
#endif
#endif
  return info;
}

}  // namespace qkern
