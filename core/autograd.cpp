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

Node::Node(std::string name, const std::vector<Tensor>& inputs, BackwardFn fn)
    : name_(std::move(name)), fn_(std::move(fn)) {
  edges_.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    if (!t.defined() || !t.requires_grad()) continue;
    Edge& e = edges_[i];
    if (t.impl()->grad_fn) e.node = t.impl()->grad_fn;
    else e.leaf = t.impl_ptr();
    e.shape = t.shape();
  }
}

std::vector<Tensor> Node::backward(const Tensor& grad_output) {
  BASIN_CHECK(fn_ != nullptr, "backward through '", name_,
              "' a second time: its saved tensors were freed by the first backward; pass "
              "retain_graph=true to that one");
  return fn_(grad_output);
}

void Node::release() { fn_ = nullptr; }

Node::~Node() {
  // Detach every upstream node that dies with this one into a local list and
  // destroy them one at a time, each with its edges already detached, so the
  // depth of the graph never becomes depth of the call stack.
  std::vector<std::shared_ptr<Node>> dying;
  auto detach_edges = [&dying](Node& node) {
    node.fn_ = nullptr;  // its saved tensors first
    for (Edge& e : node.edges_)
      if (e.node && e.node.use_count() == 1) dying.push_back(std::move(e.node));
    node.edges_.clear();
  };
  detach_edges(*this);
  while (!dying.empty()) {
    std::shared_ptr<Node> node = std::move(dying.back());
    dying.pop_back();
    if (node.use_count() == 1) detach_edges(*node);
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

// A vertex of the backward walk: a node (standing for the tensor it computed)
// or a leaf tensor. Its address keys the gradient being accumulated for it.
struct Vertex {
  // Both held, so what a released node led to lives until it is walked.
  std::shared_ptr<Node> node;
  std::shared_ptr<TensorImpl> leaf;
  const void* key() const {
    return node ? static_cast<const void*>(node.get()) : static_cast<const void*>(leaf.get());
  }
};

Vertex vertex_of(const Node::Edge& e) {
  Vertex v;
  v.node = e.node;
  if (!e.node) v.leaf = e.leaf;
  return v;
}

// Vertices reachable from root, inputs before outputs.
std::vector<Vertex> topological_order(const Vertex& root) {
  std::vector<Vertex> order;
  std::unordered_set<const void*> seen{root.key()};
  // Iterative post-order DFS: deep networks must not overflow the stack.
  std::vector<std::pair<Vertex, size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    auto& [v, next] = stack.back();
    const Node* node = v.node.get();
    if (node && next < node->edges().size()) {
      const Node::Edge& e = node->edges()[next++];
      if (e.wants_grad() && seen.insert(vertex_of(e).key()).second)
        stack.push_back({vertex_of(e), 0});
    } else {
      order.push_back(std::move(v));
      stack.pop_back();
    }
  }
  return order;
}

void accumulate(std::unordered_map<const void*, Tensor>& grads, const void* key, const Tensor& g) {
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
  Vertex start;
  start.node = root.impl()->grad_fn;
  if (!start.node) start.leaf = root.impl_ptr();
  std::vector<Vertex> order = topological_order(start);
  std::unordered_map<const void*, Tensor> grads;
  grads.emplace(start.key(), seed);

  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    auto found = grads.find(it->key());
    if (found == grads.end()) continue;
    const Tensor g = found->second;
    grads.erase(found);
    if (!it->node) {  // a leaf: accumulate into .grad, in place when it exists
      TensorImpl* impl = it->leaf.get();
      if (impl->grad) Tensor(impl->grad).add_(g);
      else impl->grad = g.clone().impl_ptr();
      continue;
    }
    Node& node = *it->node;
    const std::vector<Tensor> input_grads = node.backward(g);
    BASIN_CHECK(input_grads.size() == node.edges().size(), "autograd: node '", node.name(),
                "' returned ", input_grads.size(), " gradients for ", node.edges().size(),
                " inputs");
    for (size_t i = 0; i < input_grads.size(); ++i) {
      const Node::Edge& e = node.edges()[i];
      if (!e.wants_grad() || !input_grads[i].defined()) continue;
      BASIN_CHECK(input_grads[i].shape() == e.shape, "autograd: node '", node.name(),
                  "' produced gradient ", input_grads[i].str(), " for input of shape ",
                  shape_str(e.shape));
      accumulate(grads, vertex_of(e).key(), input_grads[i]);
    }
    if (!retain_graph) node.release();
    it->node.reset();  // the walk's hold on it: a released node's closure is gone already
  }
}

}  // namespace basin
