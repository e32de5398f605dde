// Measured f32 FMA peak of this machine for the ISA the kernels use: the
// yardstick that `basin bench --gemm` sets the GEMM's GFLOP/s against.
#pragma once

namespace basin::cpu {

// GFLOP/s of independent fused multiply-adds on the widest vectors of
// isa_name(), over `threads` OpenMP threads, timed for about `seconds`.
double fma_peak_gflops(int threads, double seconds);

}  // namespace basin::cpu
