# Cross-compiles qkern for aarch64 Linux with Debian's g++-aarch64-linux-gnu,
# against the arm64 packages (libhwy-dev:arm64, libgtest-dev:arm64), and runs
# every test binary through qemu-aarch64 (binfmt is not relied on). The CPU
# model qemu emulates comes from QEMU_CPU (cortex-a57: NEON; neoverse-n1:
# NEON + dotprod; max: dotprod, i8mm, SVE2), see `make test-arm`.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_CROSSCOMPILING_EMULATOR "qemu-aarch64;-L;/usr/aarch64-linux-gnu")
