// The backward engine: topological order over the recorded nodes, gradient
// accumulation per tensor, and in-place accumulation into the leaves' .grad
// (which is what lets .grad be a view into a flat gradient arena).
#include "core/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "core/ops.h"

namespace basin {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }

NoGrad::NoGrad() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGrad::~NoGrad() { g_grad_enabled = previous_; }

std::vector<Tensor> Node::backward(const Tensor& grad_output) {
  BASIN_CHECK(fn_ != nullptr, "backward through '", name_,
              "' a second time: its saved tensors were freed by the first backward; pass "
              "retain_graph=true to that one");
  return fn_(grad_output);
}

void Node::release() { fn_ = nullptr; }

Node::~Node() {
  // Detach every upstream node that dies with this one into a local list and
  // destroy them one at a time, each with its inputs already detached, so the
  // depth of the graph never becomes depth of the call stack.
  std::vector<std::shared_ptr<Node>> dying;
  auto detach_inputs = [&dying](Node& node) {
    node.fn_ = nullptr;  // its saved tensors first, so the inputs' counts are exact
    for (Tensor& t : node.inputs_) {
      TensorImpl* impl = t.impl();
      if (impl && impl->grad_fn && t.impl_ptr().use_count() == 1) dying.push_back(std::move(impl->grad_fn));
    }
    node.inputs_.clear();
  };
  detach_inputs(*this);
  while (!dying.empty()) {
    std::shared_ptr<Node> node = std::move(dying.back());
    dying.pop_back();
    if (node.use_count() == 1) detach_inputs(*node);
  }  // `node` dies here with nothing left to release recursively
}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor record(const char* name, Tensor output, std::vector<Tensor> inputs, Node::BackwardFn fn) {
  if (!any_requires_grad(inputs)) return output;
  output.impl()->requires_grad = true;
  output.impl()->grad_fn = std::make_shared<Node>(name, std::move(inputs), std::move(fn));
  return output;
}

namespace {

// Tensors reachable from root through recorded nodes, inputs before outputs.
std::vector<TensorImpl*> topological_order(TensorImpl* root) {
  std::vector<TensorImpl*> order;
  std::unordered_set<TensorImpl*> seen{root};
  // Iterative post-order DFS: deep networks must not overflow the stack.
  std::vector<std::pair<TensorImpl*, size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    auto& [impl, next] = stack.back();
    const Node* node = impl->grad_fn.get();
    if (node && next < node->inputs().size()) {
      TensorImpl* child = node->inputs()[next++].impl();
      if (child && child->requires_grad && seen.insert(child).second) stack.push_back({child, 0});
    } else {
      order.push_back(impl);
      stack.pop_back();
    }
  }
  return order;
}

void accumulate(std::unordered_map<TensorImpl*, Tensor>& grads, TensorImpl* key, const Tensor& g) {
  auto it = grads.find(key);
  if (it == grads.end()) grads.emplace(key, g);
  else it->second = add(it->second, g);
}

}  // namespace

void run_backward(const Tensor& root, const Tensor& upstream, bool retain_graph) {
  BASIN_CHECK(root.defined() && root.requires_grad(), "backward() on ", root.str(),
              " which does not require grad (no input of it requires grad)");
  Tensor seed = upstream;
  if (!seed.defined()) {
    BASIN_CHECK(root.numel() == 1, "backward() without an upstream gradient needs a one-element "
                "tensor, got ", root.str(), "; pass backward(upstream)");
    seed = ones(root.shape(), root.dtype(), root.device());
  }
  BASIN_CHECK(seed.shape() == root.shape() && seed.dtype() == root.dtype() &&
                  seed.device() == root.device(),
              "backward(upstream): upstream ", seed.str(), " does not match ", root.str());

  NoGrad no_grad;  // backward closures build no graph of their own
  const std::vector<TensorImpl*> order = topological_order(root.impl());
  std::unordered_map<TensorImpl*, Tensor> grads;
  grads.emplace(root.impl(), seed);

  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    TensorImpl* impl = *it;
    auto found = grads.find(impl);
    if (found == grads.end()) continue;
    const Tensor g = found->second;
    if (!impl->grad_fn) {  // a leaf: accumulate into .grad, in place when it exists
      if (impl->grad) Tensor(impl->grad).add_(g);
      else impl->grad = g.clone().impl_ptr();
      continue;
    }
    Node& node = *impl->grad_fn;
    const std::vector<Tensor> input_grads = node.backward(g);
    BASIN_CHECK(input_grads.size() == node.inputs().size(), "autograd: node '", node.name(),
                "' returned ", input_grads.size(), " gradients for ", node.inputs().size(),
                " inputs");
    for (size_t i = 0; i < input_grads.size(); ++i) {
      const Tensor& input = node.inputs()[i];
      if (!input.defined() || !input.requires_grad() || !input_grads[i].defined()) continue;
      BASIN_CHECK(input_grads[i].shape() == input.shape(), "autograd: node '", node.name(),
                  "' produced gradient ", input_grads[i].str(), " for input ", input.str());
      accumulate(grads, input.impl(), input_grads[i]);
    }
    grads.erase(impl);
    if (!retain_graph) node.release();
  }
}

}  // namespace basin
