// A training step captured once as a device graph (a CUDA graph) and then
// replayed as one launch per step: `basin train --cuda-graph`. The first plain
// step of a kind runs eagerly while the allocator notes its temporaries
// (warm-up: cuDNN's algorithm search, cuBLAS's workspace, the optimizer's
// buffers); the next is captured and launched; later ones copy the batch into
// fixed buffers, write lr, s(t) and the Philox offset into the optimizer's
// device values, replay, and book the step as Optimizer::step would.
// docs/optimizers.md, "Captured steps", says what is fixed and what refuses.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/tensor.h"
#include "optim/optimizer.h"

namespace basin::optim {

class CapturedStep {
 public:
  // forward(x) runs the model on the (already augmented) batch x and returns
  // the logits [B, C] with their graph; it is called with the fixed input
  // buffer when capturing, so it must not hold on to a particular x.
  using Forward = std::function<Tensor(const Tensor& x)>;

  // Throws basin::Error when the optimizer cannot be captured (refusal()).
  // Switches the optimizer's device step values on for good.
  CapturedStep(Optimizer& optimizer, Forward forward);
  ~CapturedStep();
  CapturedStep(const CapturedStep&) = delete;
  CapturedStep& operator=(const CapturedStep&) = delete;

  // One step on batch x with input's labels, step number and progress. Steps
  // that read back (read_back, observe, a dump) or accumulate gradients run
  // eagerly (Optimizer::step), as does the warm-up step of each kind; the
  // others are captured or replayed. A plain step whose batch differs in
  // shape from the captured one is refused (basin::Error naming both).
  StepResult step(const Tensor& x, const StepInput& input);

  // Why this optimizer's step cannot be captured ("" when it can): the
  // backend cannot capture (CPU), CA-SAM (its mask refit reads the tracker),
  // a loss other than one view.
  static std::string refusal(const Optimizer& optimizer);

  struct Counts {
    int64_t eager = 0;     // ran through Optimizer::step for a host reason (read-back, observe, dump)
    int64_t warmups = 0;   // eager warm-up steps (one per kind of step)
    int64_t captures = 0;  // graphs captured
    int64_t replays = 0;   // graph launches, the capture's own included
  };
  const Counts& counts() const { return counts_; }

 private:
  // What a captured graph is specialised to; a step of another kind re-warms
  // (NCSAM's warm-up epochs end, s(t) becomes non-zero), another shape refuses.
  struct Kind {
    Shape x_shape;
    int64_t batch = 0;
    bool two_pass = false;
    bool keeps_graph = false;
    bool operator==(const Kind& o) const {
      return x_shape == o.x_shape && batch == o.batch && two_pass == o.two_pass && keeps_graph == o.keeps_graph;
    }
  };
  Kind kind_of(const Tensor& x, const StepInput& input) const;
  StepResult warm_up(const Tensor& x, const StepInput& input, const Kind& kind);
  StepResult capture(const Tensor& x, const StepInput& input);
  StepResult replay(const Tensor& x, const StepInput& input);
  StepResult launch(const StepInput& input);  // one graph launch, booked
  void load_batch(const Tensor& x, const StepInput& input);
  StepResult book(const StepInput& input);
  void drop_graph();

  Optimizer& opt_;
  Forward forward_;
  Backend& backend_;
  Counts counts_;
  bool warm_ = false;      // kind_ has had its warm-up step
  Kind kind_;
  std::unique_ptr<CapturedWork> work_;
  Tensor x_fixed_, labels_fixed_;  // the graph's inputs, at fixed addresses
  // The captured step's pending entry: its tensors are the graph's outputs,
  // overwritten by every replay and copied out by book().
  std::unique_ptr<Optimizer::PendingStep> template_;
  uint64_t draws_per_step_ = 0;  // Philox counters the step consumes (NCSAM's draw)
};

}  // namespace basin::optim
