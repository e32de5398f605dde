# Cross-compiles basin's CPU engine, apps and test suites for aarch64 (Linux)
# with Debian's g++-aarch64-linux-gnu (cmake/deps.sh --aarch64 installs it,
# qemu-user and zlib1g-dev:arm64). Used by the aarch64-cross preset and
# `make check-aarch64`; docs/embedded.md.
#
# Executables are linked statically: qemu-aarch64 then runs them with no arm64
# loader or library path to set up (libstdc++, libgomp and zlib are inside),
# and ctest runs every suite through CMAKE_CROSSCOMPILING_EMULATOR.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# Debian multiarch: arm64 libraries (zlib1g-dev:arm64) live in
# /usr/lib/aarch64-linux-gnu; headers such as zlib.h, stb and doctest are
# shared with the host in /usr/include.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(ZLIB_USE_STATIC_LIBS ON)
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
# The host's -march=native means nothing here; the baseline armv8-a already
# has NEON (Advanced SIMD), which GCC's vectoriser uses at -O3.
set(BASIN_NATIVE OFF CACHE BOOL "cross build: no -march=native")
set(BASIN_CUDA OFF CACHE STRING "cross build: CPU engine only")

find_program(BASIN_QEMU_AARCH64 qemu-aarch64)
if(BASIN_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${BASIN_QEMU_AARCH64})
endif()
