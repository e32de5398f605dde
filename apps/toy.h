// `basin toy label-noise`: the two-phase picture of label-noise SGD (arXiv
// 2603.10397; docs/probe.md) on a two-layer linear network f(x) = a^T W x,
// trained with basin's Linear layers, flat arena and optimizer-arena kernels
// on a squared loss whose labels get fresh Gaussian noise at every step.
// Phase I: the weights' norms shrink (the network leaves the lazy regime);
// phase II: W^T a turns toward the true map.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace basin::apps {

struct LabelNoiseToyConfig {
  std::string optimizer = "sgd";  // sgd | sam
  int64_t dim = 20;               // input dimension d
  int64_t width = 1000;           // hidden units m
  int64_t samples = 200;          // n Gaussian inputs, fixed
  int64_t batch_size = 1;         // samples per step (each with fresh label noise)
  double sigma = 4.0;             // label noise std
  double lr = 1e-3;
  double rho = 0.05;              // SAM radius
  double init_scale = 1.0;        // W ~ N(0, s^2/d), a ~ N(0, s^2/m)
  int64_t steps = 300000;
  int64_t log_every = 2000;       // a point every this many steps (and at 0 and the end)
  uint64_t seed = 0;
  std::string device = "cpu";
};

struct LabelNoiseToyPoint {
  int64_t step = 0;
  double loss = 0;         // 1/2 mean (f(x) - y)^2 on the n inputs, clean targets
  double weight_norm = 0;  // |W|_F
  double neuron_norm = 0;  // mean over units j of sqrt(|W_j|^2 + a_j^2)
  double alignment = 0;    // cos(W^T a, beta), beta the true map
  double neuron_alignment = 0;  // |W beta|^2 / |W|_F^2: the share of the units' weights along beta (1/d at random)
};

struct LabelNoiseToyResult {
  std::vector<LabelNoiseToyPoint> points;
  // When each phase is half done: the first logged step where |W|_F has made
  // half its way from the start to its lowest value, and where the alignment
  // (trailing mean over ~5% of the run, at least 5 points) has made half its way
  // from the start to its highest value. -1 when there is no way to go.
  int64_t norm_half_step = -1;
  int64_t alignment_half_step = -1;
  int64_t neuron_alignment_half_step = -1;  // the same for neuron_alignment (smooth: no window needed)
};

// Validates the config (throws naming the field), runs, calls on_point for every logged point.
LabelNoiseToyResult run_label_noise_toy(const LabelNoiseToyConfig& config,
                                        const std::function<void(const LabelNoiseToyPoint&)>& on_point = {});

}  // namespace basin::apps
