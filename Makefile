# Front door. Everything real happens in CMake; these targets are the README's commands.
#   make          build (Release) into build/
#   make demo     install missing packages, build, train the default model
#   make test     install missing packages, build, run every test suite
#   make bench    CPU benchmark next to PyTorch (python3-torch)
#   make check-portable   build and test the AVX2 (x86-64-v3) and generic CPU kernels
#   make check-reference   compare forward/backward, plain state_dicts and step replays with PyTorch
#   make check-report      render a `basin report` page in headless chromium
#   make check-aarch64     cross-build for aarch64, run the suites under qemu
#   make sanitize  ASan+UBSan build (clang) in build-sanitize/, every suite and
#                  every fuzz target's seed corpus under it (docs/reliability.md);
#                  SANITIZE_SUITES="core data optim" limits the suites (CI)
#   make fuzz SECONDS=N [RUNS=M] [TARGETS="json idx"]   run the fuzz targets
#   make check-kill [KILLS=50]   SIGKILL a small run at random moments, resume, compare bits
#   make check-tsan  ThreadSanitizer probe of the OpenMP gemm/conv/pool kernels (clang, libomp, Archer)
#   make clean
BUILD  ?= build
JOBS   ?= $(shell nproc)
CMAKE_FLAGS ?=
# CUDA_ARCHS=87 compiles the CUDA backend for one architecture; CUDA_ARCHS=fat
# for every architecture; the default is the local GPU, or PTX without one.
ifdef CUDA_ARCHS
CMAKE_FLAGS += -DBASIN_CUDA_ARCHS=$(CUDA_ARCHS)
endif

.PHONY: all build build-basin configure deps demo test bench check-reference check-portable check-report \
        check-aarch64 sanitize sanitize-build fuzz check-kill check-tsan clean

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

check-report: build-basin
	@bash cmake/deps.sh --browser
	@bash tests/report/check_browser.sh $(BUILD)

# aarch64 (docs/embedded.md): installs the cross compiler, qemu-user and arm64
# zlib, cross-builds with the aarch64-cross preset (static executables) and
# runs the suites under qemu-aarch64. AARCH64_SUITES="core optim" limits it to
# those suites (CI); empty: every suite and the basin binary.
AARCH64_BUILD := build-aarch64-cross
AARCH64_SUITES ?=
check-aarch64:
	@bash cmake/deps.sh --aarch64
	@cmake --preset aarch64-cross > $(AARCH64_BUILD).configure.log 2>&1 \
	  || (cat $(AARCH64_BUILD).configure.log; exit 1)
	@nice -n 10 cmake --build $(AARCH64_BUILD) -j $(JOBS) \
	  $(if $(AARCH64_SUITES),--target $(addprefix test_,$(AARCH64_SUITES)))
	@cd $(AARCH64_BUILD) && nice -n 10 ctest --output-on-failure \
	  $(if $(AARCH64_SUITES),-R '^($(subst $(eval) ,|,$(strip $(AARCH64_SUITES))))$$')

# Sanitizers and fuzzing share one clang build: ASan+UBSan with recovery off
# (the first report fails its test), libFuzzer coverage, CUDA off.
SANITIZE_BUILD ?= build-sanitize
SECONDS ?= 60
RUNS ?= 1000000
TARGETS ?=
sanitize-build:
	@bash cmake/deps.sh --fuzz
	@cmake -S . -B $(SANITIZE_BUILD) -DCMAKE_BUILD_TYPE=Release -DBASIN_CUDA=OFF -DCMAKE_CXX_COMPILER=clang++ \
	  -DBASIN_SANITIZE=address,undefined -DBASIN_FUZZ=ON $(CMAKE_FLAGS) > $(SANITIZE_BUILD).configure.log 2>&1 \
	  || (cat $(SANITIZE_BUILD).configure.log; exit 1)
	@cmake --build $(SANITIZE_BUILD) -j $(JOBS) \
	  $(if $(SANITIZE_SUITES),--target $(addprefix test_,$(SANITIZE_SUITES)) $(FUZZ_TARGETS))

# SANITIZE_SUITES="core data optim" limits `make sanitize` to those suites plus
# every fuzz target's corpus replay (what CI runs, for time); empty: every suite.
SANITIZE_SUITES ?=
FUZZ_TARGETS := $(patsubst tests/fuzz/%.cpp,fuzz_%,$(wildcard tests/fuzz/*.cpp))
sanitize: sanitize-build
	@cd $(SANITIZE_BUILD) && ctest --output-on-failure \
	  $(if $(SANITIZE_SUITES),-R '^($(subst $(eval) ,|,$(strip $(SANITIZE_SUITES)))|fuzz_.*)$$')

fuzz: sanitize-build
	@bash tests/fuzz/run.sh $(SANITIZE_BUILD) $(SECONDS) $(RUNS) $(TARGETS)

# Four files and a driver, about a minute (docs/reliability.md, "ThreadSanitizer").
check-tsan:
	@bash cmake/deps.sh --fuzz
	@bash tests/reliability/tsan_kernels.sh build-tsan 4

KILLS ?= 50
check-kill: deps build-basin
	@bash tests/reliability/kill_test.sh $(BUILD) $(KILLS)

clean:
	rm -rf $(BUILD) $(BUILD).configure.log $(SANITIZE_BUILD) $(SANITIZE_BUILD).configure.log build-tsan
