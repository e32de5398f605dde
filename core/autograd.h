// Define-by-run autograd. Every differentiable op that sees an input requiring
// a gradient records a Node on its output; backward() walks the nodes in
// reverse topological order and accumulates into the leaves' .grad.
//
// A Node's backward is a closure written next to the op's forward (see
// core/ops_*.cpp). Closures capture what they need, always detached, so a
// node never holds its own output alive. A node links to its inputs' nodes
// (and to leaf inputs), not to the inputs' data: an intermediate tensor that
// no closure saved is freed as soon as the forward pass drops it, as in
// PyTorch (a ResNet's BatchNorm outputs, residual sums, ...).
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

  // Where the gradient of one input goes: the node that computed the input,
  // or the input itself when it is a leaf (it accumulates .grad); neither for
  // an input that needs no gradient. The shape checks the closure's answer.
  struct Edge {
    std::shared_ptr<Node> node;
    std::shared_ptr<TensorImpl> leaf;
    Shape shape;
    bool wants_grad() const { return node != nullptr || (leaf && leaf->requires_grad); }
  };

  Node(std::string name, const std::vector<Tensor>& inputs, BackwardFn fn);
  // Frees the chain behind it iteratively: a recursive release (node -> input
  // tensor -> its node -> ...) overflows the stack on deep graphs.
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const std::string& name() const { return name_; }
  // One edge per input of the op, in the order the closure returns gradients.
  const std::vector<Edge>& edges() const { return edges_; }
  // One gradient per input, undefined where the input needs none.
  std::vector<Tensor> backward(const Tensor& grad_output);
  // Drop saved tensors once a non-retained backward has passed through.
  void release();
  bool released() const { return !fn_; }

 private:
  std::string name_;
  std::vector<Edge> edges_;
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
