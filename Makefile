# A thin front for the CMake presets and the install script; all build logic
# lives in CMakeLists.txt. Every target installs what is missing first.
.PHONY: all deps deps-bench configure build tour test test-asan bench clean

all: build

deps:
	@scripts/install-deps.sh

deps-bench:
	@scripts/install-deps.sh bench

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

bench: deps-bench build
	build/release/bench/qkern_bench --benchmark_min_time=0.2

clean:
	rm -rf build
