// Plain C++ window onto the CUDA backend for tests, apps and benchmarks:
// devices and their architectures, the architectures this build carries,
// numerics switches (deterministic algorithms, TF32) and allocator statistics.
// Includes no CUDA header, so anything may include it when BASIN_HAS_CUDA is set.
#pragma once
#include <cstddef>
#include <string>

namespace basin::cuda {

// Number of usable devices; 0 (never a throw) when there is no driver or GPU.
int device_count();
// Why there is no device, e.g. "cudaGetDeviceCount returned 0 devices"; empty when there is one.
std::string no_device_reason();
std::string device_name(int index);
struct ComputeCapability { int major = 0, minor = 0; };
ComputeCapability compute_capability(int index);
// Architectures compiled into this build, e.g. "sm_80" or "sm_75, sm_80, sm_87".
std::string built_architectures();

// Deterministic mode restricts cuDNN to deterministic algorithms (basin's own
// kernels are always deterministic). Off by default.
void set_deterministic(bool on);
bool deterministic();
// TF32 tensor-core math for f32 GEMM and convolution. Off by default, so f32
// results agree with the CPU backend to f32 rounding.
void set_tf32(bool on);
bool tf32();
// Whether convolutions run through cuDNN (false: basin's im2col kernels).
bool uses_cudnn();
// Switch cuDNN off (or back on) at run time, e.g. to test or time basin's own
// convolution kernels in a cuDNN build; no effect in a build without cuDNN.
void set_cudnn_enabled(bool on);

// Caching allocator statistics for the current device, in bytes.
size_t allocated_bytes();       // handed out to tensors now
size_t cached_bytes();          // held in free lists, ready for reuse
size_t peak_allocated_bytes();  // maximum of allocated_bytes() since the last reset
void reset_peak();
size_t device_malloc_calls();   // cudaMalloc calls so far (steady state: no growth)
void empty_cache();             // give every cached block back to the driver

}  // namespace basin::cuda
