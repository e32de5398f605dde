# Front door. Everything real happens in CMake; these targets are the README's commands.
#   make          build (Release) into build/
#   make demo     install missing packages, build, train the default model
#   make test     install missing packages, build, run every test suite
#   make bench    CPU benchmark next to PyTorch (python3-torch)
#   make check-portable   build and test the AVX2 (x86-64-v3) and generic CPU kernels
#   make check-reference   compare forward/backward with PyTorch
#   make clean
BUILD  ?= build
JOBS   ?= $(shell nproc)
CMAKE_FLAGS ?=
# CUDA_ARCHS=87 compiles the CUDA backend for one architecture; CUDA_ARCHS=fat
# for every architecture; the default is the local GPU, or PTX without one.
ifdef CUDA_ARCHS
CMAKE_FLAGS += -DBASIN_CUDA_ARCHS=$(CUDA_ARCHS)
endif

.PHONY: all build build-basin configure deps demo test bench check-reference check-portable clean

all: build

configure:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) > $(BUILD).configure.log 2>&1 \
	  || (cat $(BUILD).configure.log; exit 1)
	@grep -E "^-- basin:" $(BUILD).configure.log || true

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# Only the `basin` binary (what the demo and the benchmarks run).
build-basin: configure
	@cmake --build $(BUILD) -j $(JOBS) --target basin

deps:
	@bash cmake/deps.sh

demo: deps build-basin
	@bash apps/demo.sh $(BUILD)

test: deps build
	@cd $(BUILD) && ctest --output-on-failure

bench: deps build-basin
	@bash apps/bench.sh $(BUILD)

# The portable CPU kernels: an AVX2 build (-march=x86-64-v3, no AVX-512) and a
# generic one (no -march: no x86 intrinsics), CPU only, each running the whole
# test suite. Two more full builds: CI (.ci/run) does not run this target, it
# is too slow for CI's budget; run it after touching core/cpu/.
check-portable: deps
	@for arch in x86-64-v3 none; do \
	  dir=$(BUILD)-march-$$arch; \
	  echo "== check-portable: BASIN_MARCH=$$arch in $$dir"; \
	  cmake -S . -B $$dir -DCMAKE_BUILD_TYPE=Release -DBASIN_CUDA=OFF -DBASIN_MARCH=$$arch $(CMAKE_FLAGS) > $$dir.configure.log 2>&1 \
	    || { cat $$dir.configure.log; exit 1; }; \
	  cmake --build $$dir -j $(JOBS) || exit 1; \
	  (cd $$dir && ctest --output-on-failure) || exit 1; \
	done

check-reference: build
	@bash cmake/deps.sh --reference
	@bash tests/reference/check.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD).configure.log
