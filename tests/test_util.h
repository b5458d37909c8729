// tests/test_util.h: the per-ISA test fixture and data helpers shared by
// every family's tests.
#ifndef QKERN_TESTS_TEST_UTIL_H_
#define QKERN_TESTS_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/registry.h"
#include "qkern/isa.hpp"
#include "qkern/quantize.hpp"

namespace qkern {

// Failure messages print the ISA's name, not its bytes.
inline void PrintTo(Isa isa, std::ostream* os) { *os << isa_name(isa); }

namespace test {

// Parameterized by ISA: SetUp caps dispatch at the ISA and checks that the
// cap really selects it, so a case named /avx2 runs the avx2 kernels.
class IsaTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    const Isa isa = GetParam();
    if (!isa_available(isa)) GTEST_SKIP() << isa_name(isa) << " is not available on this CPU";
    ASSERT_TRUE(set_max_isa(isa).ok());
    if (active_isa() != isa) {
      reset_max_isa();
      GTEST_SKIP() << isa_name(isa) << " is excluded by QKERN_MAX_ISA";
    }
  }
  void TearDown() override { reset_max_isa(); }
  Isa isa() const { return GetParam(); }
};

// The ISA an operator of a family without avx512_amx kernels reports under
// `active`: avx512_amx falls back down the registry's chain (only QGemm, and
// QConv2d through it, have an AMX kernel); every other ISA is its own.
inline Isa FamilyIsa(Isa active) {
  return active == Isa::kAvx512Amx ? internal::fallback_isa(active) : active;
}

inline std::string IsaParamName(const ::testing::TestParamInfo<Isa>& info) {
  return isa_name(info.param);
}

#define QKERN_INSTANTIATE_ISA_TEST(suite)                                               \
  INSTANTIATE_TEST_SUITE_P(Isa, suite, ::testing::ValuesIn(::qkern::architecture_isas()), \
                           ::qkern::test::IsaParamName)

// A Dims from a shape list (tests keep shapes as vectors to iterate over them).
inline Dims DimsOf(const std::vector<int64_t>& shape) {
  Dims dims;
  dims.rank = static_cast<int>(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) dims.d[i] = shape[i];
  return dims;
}

// Bitwise float equality, with every NaN equal to every NaN.
inline bool SameFloat(float a, float b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  uint32_t ua, ub;
  std::memcpy(&ua, &a, 4);
  std::memcpy(&ub, &b, 4);
  return ua == ub;
}

// Sizes that hit empty, single, every tail length of 8- and 16-lane vectors,
// primes, and a large row.
inline std::vector<int64_t> TestSizes() {
  return {0, 1, 2, 3, 5, 7, 8, 9, 13, 15, 16, 17, 31, 33, 61, 64, 127, 257, 1021, 4099, 70001};
}

}  // namespace test
}  // namespace qkern

#endif  // QKERN_TESTS_TEST_UTIL_H_
