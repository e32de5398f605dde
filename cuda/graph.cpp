// CUDA graph capture behind Backend::record_allocations / begin_capture /
// end_capture (optim/captured_step.h drives them). The stream is captured in
// thread-local mode, so a host synchronisation, a blocking copy or a
// cudaMalloc made by this thread while capturing fails with the call named
// instead of silently running; the step's temporaries come from a private
// pool reserved from the warm-up step (cuda/allocator.h). Only calls whose
// signatures are the same in CUDA 12 and 13 are used.
#include <cuda_runtime.h>

#include <memory>

#include "cuda/allocator.h"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_common.h"

namespace basin::cuda {
namespace {

// cuBLAS picks its workspace itself unless given one; under capture it must
// be a fixed buffer (cuBLAS documents cublasSetWorkspace for graphs). 32 MiB
// covers the largest recommendation (Hopper); set before the warm-up step so
// the warm-up and the captured GEMMs choose the same algorithms.
constexpr size_t kCublasWorkspaceBytes = size_t(32) << 20;

struct CaptureState {
  int pool = -1;  // the private pool of the capture in progress; -1: none
};
CaptureState g_capture;

class CudaGraphWork final : public CapturedWork {
 public:
  CudaGraphWork(cudaGraphExec_t exec, int pool) : exec_(exec), pool_(pool) {}
  ~CudaGraphWork() override {
    // Launches still queued read the pool's blocks: drain before handing them back.
    cudaStreamSynchronize(stream());
    cudaGraphExecDestroy(exec_);
    private_pool_release(pool_);
  }
  CudaGraphWork(const CudaGraphWork&) = delete;
  CudaGraphWork& operator=(const CudaGraphWork&) = delete;
  void replay() override {
    CUDA_CHECK(cudaGraphLaunch(exec_, stream()));
  }

 private:
  cudaGraphExec_t exec_;
  int pool_;
};

void end_pool() {
  private_pool_activate(-1);
  private_pool_release(g_capture.pool);
  g_capture.pool = -1;
}

}  // namespace

void CudaBackend::record_allocations() {
  DeviceContext& ctx = context();
  if (ctx.cublas_workspace == nullptr) {
    ctx.cublas_workspace = device_allocate(kCublasWorkspaceBytes);  // lives as long as the handle
    CUBLAS_CHECK(cublasSetWorkspace(ctx.cublas, ctx.cublas_workspace, kCublasWorkspaceBytes));
  }
  allocation_recording_start();
}

void CudaBackend::begin_capture() {
  DeviceContext& ctx = context();
  BASIN_CHECK(g_capture.pool < 0, "CUDA graph capture: a capture is already in progress");
  g_capture.pool = private_pool_create();  // cudaMalloc happens here, before the capture
  private_pool_activate(g_capture.pool);
  const cudaError_t err = cudaStreamBeginCapture(ctx.stream, cudaStreamCaptureModeThreadLocal);
  if (err != cudaSuccess) {
    end_pool();
    fail_cuda("cudaStreamBeginCapture", err, __FILE__, __LINE__);
  }
}

std::unique_ptr<CapturedWork> CudaBackend::end_capture() {
  DeviceContext& ctx = context();
  BASIN_CHECK(g_capture.pool >= 0, "CUDA graph capture: end_capture without begin_capture");
  cudaGraph_t graph = nullptr;
  cudaError_t err = cudaStreamEndCapture(ctx.stream, &graph);
  private_pool_activate(-1);
  if (err != cudaSuccess) {
    if (graph) cudaGraphDestroy(graph);
    end_pool();
    fail(cat("CUDA graph capture failed in cudaStreamEndCapture: ", cudaGetErrorString(err),
             " (something inside the step synchronised with the host or used another stream)"));
  }
  cudaGraphExec_t exec = nullptr;
  err = cudaGraphInstantiateWithFlags(&exec, graph, 0);
  cudaGraphDestroy(graph);
  if (err != cudaSuccess) {
    end_pool();
    fail_cuda("cudaGraphInstantiateWithFlags", err, __FILE__, __LINE__);
  }
  const int pool = g_capture.pool;
  g_capture.pool = -1;
  return std::make_unique<CudaGraphWork>(exec, pool);
}

void CudaBackend::abort_capture() {
  if (g_capture.pool < 0) return;
  DeviceContext& ctx = context();
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(ctx.stream, &status) == cudaSuccess && status != cudaStreamCaptureStatusNone) {
    cudaGraph_t graph = nullptr;
    cudaStreamEndCapture(ctx.stream, &graph);  // an invalidated capture reports an error: nothing to keep
    if (graph) cudaGraphDestroy(graph);
  }
  cudaGetLastError();
  end_pool();
}

}  // namespace basin::cuda
