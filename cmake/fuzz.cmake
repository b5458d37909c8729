# cmake/fuzz.cmake: compile and link options of the fuzz build (the "fuzz"
# preset: clang 14, QKERN_BUILD_FUZZ=ON). Included by the top-level
# CMakeLists.txt before the library is defined, so that the library itself is
# built with libFuzzer's coverage instrumentation (-fsanitize=fuzzer-no-link)
# and with ASan + UBSan: a fuzz target only explores what is instrumented, and
# an out-of-bounds read inside a SIMD kernel is exactly what it is here to find.
# The fuzz targets (fuzz/CMakeLists.txt) add -fsanitize=fuzzer at link time,
# which brings libFuzzer's main().
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "QKERN_BUILD_FUZZ needs clang's libFuzzer (configure with --preset fuzz: clang-14); "
                      "the C++ compiler is ${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}")
endif()

# -fno-sanitize-recover=all: a UBSan report aborts, so libFuzzer saves the input.
set(QKERN_FUZZ_SAN_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
# Edge coverage everywhere; comparison tracing (trace-cmp, which feeds
# libFuzzer the operands of every compare) only in fuzz/ (fuzz/CMakeLists.txt),
# where the compares are on the input's bytes: in the library's loops it
# compares derived values, and its callbacks halved the execution rate.
add_compile_options(-fsanitize=fuzzer-no-link -fno-sanitize-coverage=trace-cmp ${QKERN_FUZZ_SAN_FLAGS})
add_link_options(-fsanitize=address,undefined)
# clang links a sanitizer runtime into executables only; libqkern.so, linked
# with -Wl,--no-undefined, then misses every __asan_*/__ubsan_* symbol. Shared
# libraries of this build take the shared runtime instead (the fuzz targets
# link the static library and the static runtime).
add_link_options($<$<STREQUAL:$<TARGET_PROPERTY:TYPE>,SHARED_LIBRARY>:-shared-libsan>)
