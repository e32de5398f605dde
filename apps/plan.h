// `basin plan`: the memory one training step needs, MEASURED by running the
// step on the CPU backend with the storage counters of core/storage.h (the
// CUDA backend allocates the same tensors), so the numbers cannot drift from
// the code the way a formula would.
#pragma once
#include <cstdint>
#include <string>

namespace basin::apps {

struct PlanRequest {
  std::string model = "resnet20";
  std::string optimizer = "sgd";  // sgd | sam | asam | ncsam | casam
  int64_t batch = 128;
  int64_t channels = 3, height = 32, width = 32;  // --input CxHxW
  int64_t classes = 10;
  double width_multiplier = 1.0;  // --width
  int64_t dataset_size = 50000;   // rows of the sample tracker
  uint64_t seed = 0;
};

// Bytes of live tensors, split by what holds them. Everything but
// `activations` and `workspace` is alive for the whole run.
struct PlanBytes {
  int64_t parameters = 0;        // the flat parameter arena
  int64_t gradients = 0;         // the flat gradient arena (g at w)
  int64_t optimizer = 0;         // all optimizer buffers (the five below and any other)
  int64_t momentum = 0;          // SGD momentum m
  int64_t perturbation = 0;      // SAM family: e
  int64_t descent_gradient = 0;  // SAM family: g2, the gradient at w + e
  int64_t aux_gradient = 0;      // NCSAM g*, CA-SAM g_C
  int64_t tracker = 0;           // the per-sample tracker (dataset_size rows)
  int64_t model_buffers = 0;     // BatchNorm running statistics, decay / ASAM masks
  int64_t batch_tensors = 0;     // the batch: inputs, labels, indices
  int64_t activations = 0;       // saved for backward by one forward (largest pass)
  int64_t workspace = 0;         // temporaries alive at the peak (the rest of it)
  int64_t peak = 0;              // maximum of live tensor bytes during the step
  int64_t persistent() const {
    return parameters + gradients + optimizer + tracker + model_buffers + batch_tensors;
  }
};

struct MemoryPlan {
  PlanRequest request;
  int64_t parameter_count = 0;
  PlanBytes bytes;             // at request.batch
  int64_t second_batch = 0;    // the other batch size measured
  int64_t second_peak = 0;     // its peak
  // peak(B) ~ fixed_bytes + bytes_per_sample * B, through the two measurements.
  double fixed_bytes = 0, bytes_per_sample = 0;
  // Largest batch whose extrapolated peak fits in `capacity_bytes` (0: none).
  int64_t largest_batch(double capacity_bytes) const;
};

// Builds the model, optimizer and tracker on the CPU, takes one warm-up step
// (the optimizer allocates its buffers lazily), then measures one step at
// request.batch and one at a second batch size. Throws basin::Error naming a
// bad field of the request.
MemoryPlan measure_memory_plan(const PlanRequest& request);

}  // namespace basin::apps
