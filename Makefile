# A thin front for the CMake presets and the install script; all build logic
# lives in CMakeLists.txt. Every target installs what is missing first.
.PHONY: all deps deps-bench deps-arm deps-fuzz build tour test test-asan test-tsan test-arm test-install fuzz fuzz-smoke bench clean

all: build

deps:
	@scripts/install-deps.sh

deps-bench:
	@scripts/install-deps.sh bench

deps-arm:
	@scripts/install-deps.sh arm

deps-fuzz:
	@scripts/install-deps.sh fuzz

build/release/build.ninja: | deps
	cmake --preset release

build: deps build/release/build.ninja
	cmake --build --preset release

tour: build
	build/release/tools/qkern tour

test: build
	ctest --preset release

test-asan: deps
	cmake --preset asan-ubsan
	cmake --build --preset asan-ubsan
	ctest --preset asan-ubsan

# The concurrency tests (names matching Threads|Concurrent) under ThreadSanitizer.
test-tsan: deps
	cmake --preset tsan
	cmake --build --preset tsan --target qkern_tests
	ctest --preset tsan

# Installs the release build into build/install and builds examples/consumer
# against it, once through find_package(qkern CONFIG) and once through pkg-config.
test-install: build
	scripts/test-install.sh

# Every fuzz target for FUZZ_SECONDS each (default in scripts/fuzz.sh);
# fuzz-smoke is CI's short run.
fuzz: deps-fuzz
	scripts/fuzz.sh

fuzz-smoke: deps-fuzz
	FUZZ_SECONDS=60 scripts/fuzz.sh

# aarch64: cross-build, then the whole suite under qemu-aarch64 as three CPUs:
# NEON only, NEON + dotprod, and everything qemu has (dotprod, i8mm, SVE2).
test-arm: deps-arm
	cmake --preset arm
	cmake --build --preset arm
	QEMU_CPU=cortex-a57 ctest --preset arm
	QEMU_CPU=neoverse-n1 ctest --preset arm
	QEMU_CPU=max ctest --preset arm

# Re-configure after deps-bench: a oneDNN installed just now is found then.
bench: deps-bench build
	cmake --preset release > /dev/null
	cmake --build --preset release
	build/release/bench/qkern_bench --benchmark_min_time=0.2
	build/release/bench/qkern_gemm_bench
	build/release/bench/qkern_jit_bench
	build/release/bench/qkern_conv_bench

clean:
	rm -rf build
