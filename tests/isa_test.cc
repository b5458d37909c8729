// tests/isa_test.cc: ISA names, detection and caps.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "qkern/isa.hpp"

namespace qkern {
namespace {

TEST(Isa, NamesRoundTrip) {
  for (int i = 0; i < kIsaCount; ++i) {
    const Isa isa = static_cast<Isa>(i);
    Isa parsed;
    ASSERT_TRUE(isa_from_name(isa_name(isa), &parsed)) << isa_name(isa);
    EXPECT_EQ(parsed, isa);
  }
  Isa unused;
  EXPECT_FALSE(isa_from_name("AVX2", &unused));  // names are exact and lower case
  EXPECT_FALSE(isa_from_name("", &unused));
  EXPECT_FALSE(isa_from_name("sse4", &unused));
}

TEST(Isa, AvailableStartsWithScalarAndIsAscending) {
  const auto avail = available_isas();
  ASSERT_FALSE(avail.empty());
  EXPECT_EQ(avail.front(), Isa::kScalar);
  EXPECT_TRUE(std::is_sorted(avail.begin(), avail.end()));
  EXPECT_EQ(avail.back(), best_isa());
  for (Isa isa : avail) EXPECT_TRUE(isa_available(isa));
}

TEST(Isa, ArchitectureListsEveryLevel) {
  const auto arch = architecture_isas();
#if defined(__x86_64__)
  EXPECT_EQ(arch, (std::vector<Isa>{Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Vnni, Isa::kAvx512Amx}));
#elif defined(__aarch64__)
  EXPECT_EQ(arch, (std::vector<Isa>{Isa::kScalar, Isa::kNeon, Isa::kNeonDotprod}));
#endif
}

TEST(Isa, SetMaxIsaCapsAndResets) {
  ASSERT_TRUE(environment_status().ok()) << environment_status().message();
  const Isa before = active_isa();
  ASSERT_TRUE(set_max_isa(Isa::kScalar).ok());
  EXPECT_EQ(active_isa(), Isa::kScalar);
  // A cap above what the CPU has changes nothing.
  const Isa top = architecture_isas().back();
  ASSERT_TRUE(set_max_isa(top).ok());
  EXPECT_EQ(active_isa(), before);
  reset_max_isa();
  EXPECT_EQ(active_isa(), before);
}

TEST(Isa, SetMaxIsaRejectsOtherArchitectures) {
#if defined(__x86_64__)
  const Status s = set_max_isa(Isa::kNeon);
#else
  const Status s = set_max_isa(Isa::kAvx2);
#endif
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("isa:"), std::string::npos) << s.message();
  EXPECT_FALSE(set_max_isa(static_cast<Isa>(42)).ok());
}

// Under qemu-aarch64 (make test-arm) QEMU_CPU names the emulated CPU: detection
// must pick its ISA. Elsewhere there is nothing to compare with.
TEST(Isa, DetectsTheEmulatedArmCpu) {
  const char* cpu = std::getenv("QEMU_CPU");
#if defined(__aarch64__)
  if (cpu == nullptr) GTEST_SKIP() << "QEMU_CPU is not set: not under qemu-aarch64";
  const std::string model = cpu;
  if (model == "cortex-a57") {
    EXPECT_EQ(best_isa(), Isa::kNeon);  // ARMv8.0: no dotprod
    EXPECT_FALSE(isa_available(Isa::kNeonDotprod));
  } else if (model == "neoverse-n1" || model == "cortex-a76" || model == "max") {
    EXPECT_EQ(best_isa(), Isa::kNeonDotprod);
  } else {
    GTEST_SKIP() << "no expectation for QEMU_CPU=" << model;
  }
#else
  (void)cpu;
  GTEST_SKIP() << "not an aarch64 build";
#endif
}

TEST(Isa, CpuInfoHasAModel) { EXPECT_FALSE(cpu_info().model.empty()); }

}  // namespace
}  // namespace qkern
