#!/usr/bin/env bash
# Installs the Debian packages qkern needs, and nothing when they are already
# there (so a second `make test` costs a dpkg query, not an apt-get run).
#   scripts/install-deps.sh            build + test dependencies
#   scripts/install-deps.sh bench      also the peers the benchmarks compare with
#   scripts/install-deps.sh fuzz       clang 14 and its sanitizer/libFuzzer runtimes (make fuzz)
#   scripts/install-deps.sh arm        the aarch64 cross toolchain, qemu-user and the
#                                      arm64 libraries (adds the arm64 dpkg architecture)
set -euo pipefail

pkgs=(g++ cmake ninja-build ccache make pkgconf libhwy-dev libxbyak-dev libgtest-dev libbenchmark-dev)
for group in "$@"; do
  case "$group" in
    bench) pkgs+=(libdnnl-dev libxnnpack-dev libpthreadpool-dev) ;;
    fuzz) pkgs+=(clang-14 libclang-rt-14-dev) ;;
    arm) pkgs+=(g++-aarch64-linux-gnu qemu-user libhwy-dev:arm64 libgtest-dev:arm64) ;;
    *) echo "install-deps.sh: unknown group '$group' (known: bench, fuzz, arm)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps.sh: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
if printf '%s\n' "${missing[@]}" | grep -q ':arm64$' && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $sudo dpkg --add-architecture arm64
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
