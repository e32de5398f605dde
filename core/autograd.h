// Define-by-run autograd. Every differentiable op that sees an input requiring
// a gradient records a Node on its output; backward() walks the nodes in
// reverse topological order and accumulates into the leaves' .grad.
//
// A Node's backward is a closure written next to the op's forward (see
// core/ops_*.cpp). Closures capture what they need, always detached, so a
// node never holds its own output alive.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace basin {

class Node {
 public:
  using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

  Node(std::string name, std::vector<Tensor> inputs, BackwardFn fn)
      : name_(std::move(name)), inputs_(std::move(inputs)), fn_(std::move(fn)) {}
  // Frees the chain behind it iteratively: a recursive release (node -> input
  // tensor -> its node -> ...) overflows the stack on deep graphs.
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const std::string& name() const { return name_; }
  const std::vector<Tensor>& inputs() const { return inputs_; }
  // One gradient per input, undefined where the input needs none.
  std::vector<Tensor> backward(const Tensor& grad_output);
  // Drop saved tensors once a non-retained backward has passed through.
  void release();
  bool released() const { return !fn_; }

 private:
  std::string name_;
  std::vector<Tensor> inputs_;
  BackwardFn fn_;
};

// Whether ops record nodes on this thread (off inside NoGrad).
bool grad_enabled();

class NoGrad {
 public:
  NoGrad();
  ~NoGrad();
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool previous_;
};

// True when grad mode is on and any defined input requires a gradient.
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Attach a node to `output` when any input requires grad (no-op otherwise).
// Returns output for chaining.
Tensor record(const char* name, Tensor output, std::vector<Tensor> inputs, Node::BackwardFn fn);

// The engine behind Tensor::backward.
void run_backward(const Tensor& root, const Tensor& upstream, bool retain_graph);

}  // namespace basin
