// The GEMMs timed here are the ones core/cpu/conv.cpp issues for each distinct
// convolution shape of the model (one group of samples, ~1024 columns):
//   forward          y[C_out, cols]  = w[C_out, rows] * col[rows, cols]
//   backward-input   gcol[rows, cols] = w^T * gy[C_out, cols]
//   backward-weight  gw^T[rows, C_out] = col * gy^T
// with rows = C_in * k * k. Each is timed as the fastest of several runs (a
// neighbour on a shared machine can only slow a run down), like the peak.
#include "apps/bench_gemm.h"

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "core/cpu/fma_peak.h"
#include "core/cpu/gemm.h"
#include "core/cpu/isa.h"
#include "core/error.h"
#include "nn/layers.h"

namespace basin::apps {
namespace {

// Best GFLOP/s of `reps` runs of one gemm call.
double gemm_gflops(bool ta, bool tb, int64_t M, int64_t N, int64_t K, int reps) {
  const int64_t a_size = M * K, b_size = K * N;
  std::vector<float> A(static_cast<size_t>(a_size)), B(static_cast<size_t>(b_size)),
      C(static_cast<size_t>(M * N));
  for (int64_t i = 0; i < a_size; ++i) A[i] = static_cast<float>((i * 7 % 13) - 6) * 0.1f;
  for (int64_t i = 0; i < b_size; ++i) B[i] = static_cast<float>((i * 5 % 11) - 5) * 0.1f;
  double best_s = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    cpu::gemm<float>(ta, tb, M, N, K, 1.0f, A.data(), ta ? M : K, B.data(), tb ? K : N, 0.0f,
                     C.data(), N);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best_s = std::min(best_s, s);
  }
  return 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K) / best_s / 1e9;
}

}  // namespace

int64_t stage_output_size(const std::string& name, int64_t size) {
  if (name.rfind("layer", 0) != 0) return size;
  const int stage = std::atoi(name.c_str() + 5);
  return stage > 1 ? size >> (stage - 1) : size;
}

double conv_gflop_per_step(nn::ResNet& model, int64_t batch, int64_t size) {
  double gflop = 0;
  for (auto& [name, module] : model.named_modules()) {
    auto* conv = dynamic_cast<nn::Conv2d*>(module);
    if (!conv) continue;
    const int64_t oh = stage_output_size(name, size), k = conv->kernel_size;
    const double pass = 2.0 * static_cast<double>(batch * conv->out_channels * oh * oh) *
                        static_cast<double>(conv->in_channels * k * k) / 1e9;
    gflop += (name == "conv1" ? 2.0 : 3.0) * pass;
  }
  return gflop;
}

void print_gemm_efficiency(nn::ResNet& model, int64_t batch, int64_t size, int threads) {
  const double peak1 = cpu::fma_peak_gflops(1, 1.0);
  const double peak = threads > 1 ? cpu::fma_peak_gflops(threads, 1.0) : peak1;
  std::printf("CPU kernels: %s; measured f32 FMA peak %.1f GFLOP/s on 1 thread, %.1f on %d\n",
              cpu::isa_name(), peak1, peak, threads);
  std::printf("%-34s %8s %8s %8s   %s\n", "conv GEMM (C_in x k x k -> C_out, cols)", "forward",
              "bwd-in", "bwd-w", "GFLOP/s (% of peak)");
  std::set<std::tuple<int64_t, int64_t, int64_t, int64_t>> seen;
  const int reps = 9;
  double flops = 0, seconds = 0;
  for (auto& [name, module] : model.named_modules()) {
    auto* conv = dynamic_cast<nn::Conv2d*>(module);
    if (!conv) continue;
    const int64_t k = conv->kernel_size, cin = conv->in_channels, cout = conv->out_channels;
    const int64_t ohw = stage_output_size(name, size) * stage_output_size(name, size);
    const int64_t samples = std::min<int64_t>(batch, std::max<int64_t>(1, (1024 + ohw - 1) / ohw));
    const int64_t cols = samples * ohw, rows = cin * k * k;
    if (!seen.insert({cin, cout, k, cols}).second) continue;
    const double f = gemm_gflops(false, false, cout, cols, rows, reps);
    const double bi = gemm_gflops(true, false, rows, cols, cout, reps);
    const double bw = gemm_gflops(false, true, rows, cout, cols, reps);
    const double one = 2.0 * cout * cols * rows / 1e9;
    flops += 3 * one;
    seconds += one / f + one / bi + one / bw;
    const std::string what = cat(cin, "x", k, "x", k, " -> ", cout, ", ", cols);
    std::printf("%-34s %8.1f %8.1f %8.1f   (%.0f%% %.0f%% %.0f%%)\n", what.c_str(), f, bi, bw,
                100 * f / peak, 100 * bi / peak, 100 * bw / peak);
    std::printf("{\"bench\":\"gemm\",\"shape\":\"%s\",\"forward_gflops\":%.2f,\"backward_input_gflops\":%.2f,"
                "\"backward_weight_gflops\":%.2f,\"threads\":%d}\n",
                what.c_str(), f, bi, bw, threads);
  }
  const double square = gemm_gflops(false, false, 1024, 1024, 1024, 5);
  std::printf("%-34s %8.1f %8s %8s   (%.0f%%)\n", "square 1024 x 1024 x 1024", square, "", "",
              100 * square / peak);
  std::printf("all conv GEMMs above (each shape once): %.1f GFLOP/s = %.0f%% of peak\n",
              flops / seconds, 100 * flops / seconds / peak);
  std::printf("{\"bench\":\"gemm_summary\",\"isa\":\"%s\",\"threads\":%d,\"peak_gflops_1thread\":%.2f,"
              "\"peak_gflops\":%.2f,\"conv_gemm_gflops\":%.2f,\"square1024_gflops\":%.2f}\n",
              cpu::isa_name(), threads, peak1, peak, flops / seconds, square);
}

}  // namespace basin::apps
