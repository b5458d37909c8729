// qkern/isa.hpp: which instruction sets a kernel may use, and how to cap them.
//
// Levels, lowest first: x86 scalar < avx2 < avx512 (F/BW/DQ/VL) < avx512_vnni
// < avx512_amx;
// Arm scalar < neon < neon_dotprod. Every call dispatches to the highest ISA
// that (a) the CPU supports, (b) this build compiled, and (c) no cap excludes.
// Caps: the environment variable QKERN_MAX_ISA=<name> (read once, at first use)
// and set_max_isa() at run time (tests and benchmarks); the lower one wins.
// A kernel family without a kernel for the chosen ISA falls back down the
// chain (avx512_amx -> avx512_vnni -> avx512 -> avx2 -> scalar; neon_dotprod ->
// neon -> scalar).
#ifndef QKERN_ISA_HPP_
#define QKERN_ISA_HPP_

#include <string>
#include <vector>

#include "qkern/status.hpp"

// The shared library exports what this header declares (cmake/qkern.map).
#pragma GCC visibility push(default)
namespace qkern {

enum class Isa : int {
  kScalar = 0,
  kAvx2 = 1,
  kAvx512 = 2,      // AVX-512 F/BW/DQ/VL, no VNNI (Highway's AVX3)
  kAvx512Vnni = 3,  // AVX-512 + VNNI, VBMI, VBMI2 (Highway's AVX3_DL: Ice Lake, Zen 4)
  kNeon = 4,
  kNeonDotprod = 5,  // NEON + sdot/udot (HWCAP_ASIMDDP)
  // avx512_vnni + AMX-TILE and AMX-INT8 (tdpbusd; Sapphire Rapids and later),
  // with the kernel's permission for the tile state (arch_prctl on Linux).
  // After the Arm levels in the enum; within x86 it is the highest.
  kAvx512Amx = 6,
};
constexpr int kIsaCount = 7;

// "scalar", "avx2", "avx512", "avx512_vnni", "neon", "neon_dotprod", "avx512_amx".
const char* isa_name(Isa isa);
// Parses one of the names above (exact, lower case). False for anything else.
bool isa_from_name(const std::string& name, Isa* isa);

// Every ISA of this build's architecture, lowest first, supported or not.
std::vector<Isa> architecture_isas();
// The ISAs this process can run (CPU support and build), lowest first; always
// starts with scalar. Caps do not change this list.
std::vector<Isa> available_isas();
bool isa_available(Isa isa);
// The highest available ISA, ignoring caps.
Isa best_isa();
// The ISA dispatch uses now: best_isa() capped by QKERN_MAX_ISA and set_max_isa().
Isa active_isa();

// Caps dispatch for the whole process at `isa` (a cap above what the CPU has
// is allowed and changes nothing). Error if `isa` belongs to another
// architecture. Thread-safe; calls already running finish on their old ISA.
Status set_max_isa(Isa isa);
// Removes the set_max_isa() cap; QKERN_MAX_ISA still applies.
void reset_max_isa();
// The result of parsing QKERN_MAX_ISA: ok when unset or valid. An invalid
// value is also reported once on stderr at first use, and then ignored.
Status environment_status();

struct CpuInfo {
  std::string model;                  // e.g. "AMD EPYC 9654 96-Core Processor"
  std::vector<std::string> features;  // the features qkern's dispatch looks at
};
CpuInfo cpu_info();

}  // namespace qkern
#pragma GCC visibility pop

#endif  // QKERN_ISA_HPP_
