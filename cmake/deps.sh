#!/usr/bin/env bash
# Installs the Debian packages basin needs when they are missing: apt-get as
# root, sudo when available, otherwise prints the one command to run.
#   deps.sh              build and test packages
#   deps.sh --reference  also PyTorch for the reference checks and benchmarks
#   deps.sh --browser    also Chromium, for the headless check of `basin report`'s HTML
#   deps.sh --aarch64    also the aarch64 cross compiler, qemu-user and arm64
#                        zlib (multiarch; linked statically, see
#                        cmake/toolchain-aarch64.cmake)
#   deps.sh --fuzz       also clang and its ASan/UBSan/libFuzzer runtimes (make sanitize, make fuzz)
set -euo pipefail
packages=(cmake g++ make zlib1g-dev libstb-dev doctest-dev dataset-fashion-mnist)
if [[ "${1:-}" == "--reference" ]]; then packages+=(python3-torch python3-numpy); fi
if [[ "${1:-}" == "--browser" ]]; then packages+=(chromium); fi
if [[ "${1:-}" == "--fuzz" ]]; then packages+=(clang libclang-rt-14-dev libomp-dev); fi
if [[ "${1:-}" == "--aarch64" ]]; then
  packages+=(g++-aarch64-linux-gnu qemu-user zlib1g-dev:arm64)
  # zlib1g-dev:arm64 needs the arm64 architecture known to dpkg (once).
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    add_arch="dpkg --add-architecture arm64"
    if [[ $(id -u) -eq 0 ]]; then $add_arch
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo $add_arch
    else echo "basin: run: sudo $add_arch" >&2; exit 1; fi
  fi
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
echo "basin: installing missing packages: ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $cmd
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo apt-get update -q >/dev/null && sudo DEBIAN_FRONTEND=noninteractive $cmd
else
  echo "basin: cannot install packages without root. Run:" >&2
  echo "  sudo apt-get update && sudo $cmd" >&2
  exit 1
fi
