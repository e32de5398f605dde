// The CPU backend's class. Its methods are spread over core/cpu/cpu_*.cpp by theme
// (memory and linear algebra, elementwise, reductions, batch norm, softmax, indexing,
// random, optimizer arena, augmentation); cpu_backend() returns the one instance.
#pragma once
#include "core/backend.h"

namespace basin::cpu {

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }

  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t nbytes) override;
  void copy_from_host(void* dst, const void* src, size_t nbytes) override;
  void copy_to_host(void* dst, const void* src, size_t nbytes) override;
  void copy_device(void* dst, const void* src, size_t nbytes) override;

  void fill(Tensor& out, double value) override;
  void copy_strided(const Tensor& src, Tensor& dst) override;
  void cast(const Tensor& src, Tensor& dst) override;

  void unary(UnaryOp op, const Tensor& a, Tensor& out) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override;
  void binary_scalar(BinaryOp op, const Tensor& a, double s, Tensor& out) override;

  void sum_dim(const Tensor& a, int64_t outer, int64_t n, int64_t inner, Tensor& out) override;
  void max_dim(const Tensor& a, int64_t outer, int64_t n, int64_t inner, Tensor& out) override;
  void argmax_rows(const Tensor& a, Tensor& out) override;
  void topk_rows(const Tensor& a, int64_t k, Tensor& values, Tensor& indices) override;
  void dot(const Tensor& a, const Tensor& b, Tensor& out) override;

  void gemm(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
            double alpha, const Tensor& A, const Tensor& B, double beta, Tensor& C,
            bool b_broadcast) override;

  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y,
                      const Conv2dParams& p) override;
  void conv2d_backward_input(const Tensor& gy, const Tensor& w, Tensor& gx,
                             const Conv2dParams& p) override;
  void conv2d_backward_weight(const Tensor& gy, const Tensor& x, Tensor& gw,
                              const Conv2dParams& p) override;

  void batch_norm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                        Tensor& running_mean, Tensor& running_var, bool update_running,
                        double momentum, double eps, Tensor& y, Tensor& save_mean,
                        Tensor& save_invstd) override;
  void batch_norm_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                       const Tensor& running_mean, const Tensor& running_var, double eps,
                       Tensor& y) override;
  void batch_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& gamma,
                           const Tensor& save_mean, const Tensor& save_invstd, Tensor& gx,
                           Tensor& ggamma, Tensor& gbeta) override;
  void batch_norm_relu_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                             Tensor& running_mean, Tensor& running_var, bool update_running,
                             double momentum, double eps, Tensor& y, Tensor& save_mean,
                             Tensor& save_invstd) override;
  void batch_norm_relu_backward(const Tensor& gy, const Tensor& y, const Tensor& x,
                                const Tensor& gamma, const Tensor& save_mean,
                                const Tensor& save_invstd, Tensor& gx, Tensor& ggamma,
                                Tensor& gbeta) override;

  void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices,
                          const Pool2dParams& p) override;
  void max_pool2d_backward(const Tensor& gy, const Tensor& indices, Tensor& gx) override;
  void avg_pool2d_forward(const Tensor& x, Tensor& y, const Pool2dParams& p) override;
  void avg_pool2d_backward(const Tensor& gy, Tensor& gx, const Pool2dParams& p) override;

  void softmax_rows(const Tensor& x, Tensor& y, bool log) override;
  void softmax_backward_rows(const Tensor& gy, const Tensor& y, bool log, Tensor& gx) override;
  void cross_entropy_forward(const Tensor& logits, const Tensor& labels, double smoothing,
                             Tensor& loss) override;
  void cross_entropy_backward(const Tensor& logits, const Tensor& labels, double smoothing,
                              const Tensor& gloss, Tensor& glogits) override;

  void index_select_rows(const Tensor& a, const Tensor& idx, Tensor& out) override;
  void index_add_rows(const Tensor& src, const Tensor& idx, Tensor& out) override;

  void fill_uniform(Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) override;
  void fill_normal(Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) override;
  void fill_uniform_at(Tensor& out, uint64_t seed, const Tensor& offset, double lo, double hi) override;

  void sgd_step(Tensor& w, const Tensor& g, Tensor& m, const Tensor& decay_mask, const Tensor& e,
                const SgdStepParams& p) override;
  void sam_perturb(Tensor& w, Tensor& e, const Tensor& g, const Tensor& g_dot, const Tensor& skip,
                   const AscentParams& p) override;
  void asam_perturb(Tensor& w, Tensor& e, const Tensor& g, const Tensor& scale, const Tensor& tg_dot,
                    const Tensor& skip, const AscentParams& p) override;
  void ncsam_perturb(Tensor& w, Tensor& e, const Tensor& g, const Tensor& g_star, const Tensor& g_dot,
                     const Tensor& g_star_dot, Tensor& e_dot, const Tensor& skip,
                     const NcsamPerturbParams& p) override;
  void casam_perturb(Tensor& w, Tensor& e, const Tensor& g_clean, const Tensor& g_clean_dot,
                     const Tensor& g, const Tensor& g_dot, const Tensor& clean_count, const Tensor& skip,
                     const AscentParams& p) override;

  void augment(const Tensor& src, const AugmentSpec& spec, uint64_t seed, uint64_t offset,
               Tensor& out) override;
  void rand_augment(const Tensor& src, const RandAugmentSpec& spec, uint64_t seed, uint64_t offset,
                    Tensor& out) override;
  void cutout(Tensor& x, int64_t side, uint64_t seed, uint64_t offset) override;
};

}  // namespace basin::cpu
