// Default fused batch-norm + ReLU kernels, composed from the unfused ones so
// a backend works before it has fused versions (same bits as the fused CPU
// kernels: the ReLU and its gradient mask are exact operations).
#include "core/backend.h"

namespace basin {

void Backend::batch_norm_relu_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                    Tensor& running_mean, Tensor& running_var, bool update_running,
                                    double momentum, double eps, Tensor& y, Tensor& save_mean,
                                    Tensor& save_invstd) {
  batch_norm_train(x, gamma, beta, running_mean, running_var, update_running, momentum, eps, y,
                   save_mean, save_invstd);
  unary(UnaryOp::Relu, y, y);
}

void Backend::batch_norm_relu_backward(const Tensor& gy, const Tensor& y, const Tensor& x,
                                       const Tensor& gamma, const Tensor& save_mean,
                                       const Tensor& save_invstd, Tensor& gx, Tensor& ggamma,
                                       Tensor& gbeta) {
  Tensor masked = empty(gy.shape(), gy.dtype(), gy.device());
  binary(BinaryOp::ReluGrad, gy, y, masked);
  batch_norm_backward(masked, x, gamma, save_mean, save_invstd, gx, ggamma, gbeta);
}

}  // namespace basin
