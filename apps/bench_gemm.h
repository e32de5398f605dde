// `basin bench --gemm`: the CPU's measured FMA peak and the GEMM's GFLOP/s on
// the im2col GEMMs of a model's convolutions, as a fraction of that peak.
#pragma once
#include <cstdint>
#include <string>

#include "nn/models.h"

namespace basin::apps {

// Spatial size of the OUTPUT of a layer of a CIFAR ResNet named "layerK...."
// (stage K halves the resolution K-1 times) or of the stem.
int64_t stage_output_size(const std::string& name, int64_t size);

// GFLOP of the model's convolutions in one forward + backward (2 FLOPs per
// multiply-add; the stem has no backward-input): the step's GFLOP/s numerator.
double conv_gflop_per_step(nn::ResNet& model, int64_t batch, int64_t size);

void print_gemm_efficiency(nn::ResNet& model, int64_t batch, int64_t size, int threads);

}  // namespace basin::apps
