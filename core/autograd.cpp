// Grad mode, op recording and the backward pass.
#include "core/autograd.h"

#include <unordered_map>
#include <unordered_set>

namespace fq {

namespace {
thread_local bool g_grad_enabled = true;
}  // namespace

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool enabled) { g_grad_enabled = enabled; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor* t : inputs) {
    if (t && t->defined() && t->requires_grad()) return true;
  }
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs) {
    if (t.defined() && t.requires_grad()) return true;
  }
  return false;
}

void record(Tensor& out, const char* name, const std::vector<Tensor>& inputs,
            BackwardFn backward) {
  if (!needs_grad(inputs)) return;
  auto meta = out.autograd_meta();
  FQ_INTERNAL(!meta->grad_fn, "record(" << name << "): output already has history");
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    node->inputs.push_back(t.defined() && t.requires_grad() ? t.autograd_meta() : nullptr);
  }
  node->backward = std::move(backward);
  meta->grad_fn = std::move(node);
  meta->requires_grad = true;
}

void accumulate(Tensor& dst, const Tensor& src) {
  FQ_INTERNAL(dst.numel() == src.numel(), "accumulate: " << shape_str(dst.shape()) << " vs "
                                                         << shape_str(src.shape()));
  float* d = dst.data();
  const float* s = src.data();
  const int64_t n = dst.numel();
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) d[i] += s[i];
}

namespace {

// Orders every metadata reachable from the roots so that each one comes after all metadata
// whose node consumes it (iterative DFS post-order, reversed). Deterministic: it depends only on
// the graph, so gradient sums are added in the same order on every run.
std::vector<AutogradMeta*> topological_order(const std::vector<AutogradMeta*>& roots) {
  std::vector<AutogradMeta*> post_order;
  std::unordered_set<AutogradMeta*> visited;
  struct Frame {
    AutogradMeta* meta;
    size_t next_input;
  };
  std::vector<Frame> stack;
  for (AutogradMeta* root : roots) {
    if (!visited.insert(root).second) continue;
    stack.push_back({root, 0});
    while (!stack.empty()) {
      Frame& frame = stack.back();
      Node* node = frame.meta->grad_fn.get();
      if (node && frame.next_input < node->inputs.size()) {
        AutogradMeta* child = node->inputs[frame.next_input++].get();
        if (child && visited.insert(child).second) stack.push_back({child, 0});
        continue;
      }
      post_order.push_back(frame.meta);
      stack.pop_back();
    }
  }
  return std::vector<AutogradMeta*>(post_order.rbegin(), post_order.rend());
}

}  // namespace

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_outputs) {
  FQ_CHECK(roots.size() == grad_outputs.size(),
           "backward: " << roots.size() << " roots but " << grad_outputs.size()
                        << " seed gradients");
  std::vector<AutogradMeta*> root_metas;
  // Keeps every metadata alive while backward runs, even if a released node held the last
  // reference to it.
  std::vector<std::shared_ptr<AutogradMeta>> keep_alive;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& root = roots[i];
    FQ_CHECK(root.requires_grad(),
             "backward: tensor of shape " << shape_str(root.shape())
                                          << " does not require grad and has no grad_fn");
    FQ_CHECK(grad_outputs[i].defined() && grad_outputs[i].shape() == root.shape(),
             "backward: seed gradient shape "
                 << (grad_outputs[i].defined() ? shape_str(grad_outputs[i].shape()) : "undefined")
                 << " does not match root shape " << shape_str(root.shape()));
    auto meta = root.autograd_meta();
    FQ_CHECK(!meta->grad_fn || !meta->grad_fn->released,
             "backward: the graph was already released by an earlier backward(); "
             "run the forward again");
    if (!meta->grad.defined()) meta->grad = Tensor::zeros(root.shape());
    accumulate(meta->grad, grad_outputs[i]);
    root_metas.push_back(meta.get());
    keep_alive.push_back(meta);
  }

  std::vector<AutogradMeta*> order = topological_order(root_metas);
  std::vector<Tensor> dinputs;
  for (AutogradMeta* meta : order) {
    std::shared_ptr<Node> node = meta->grad_fn;
    if (!node) continue;  // a leaf: its gradient stays in meta->grad
    FQ_CHECK(!node->released, "backward: node '" << node->name
                                                  << "' was already released by an earlier "
                                                     "backward(); run the forward again");
    for (auto& input : node->inputs) {
      if (input) keep_alive.push_back(input);
    }
    if (meta->grad.defined()) {
      dinputs.assign(node->inputs.size(), Tensor());
      for (size_t i = 0; i < node->inputs.size(); ++i) {
        AutogradMeta* input = node->inputs[i].get();
        if (!input) continue;
        if (!input->grad.defined()) input->grad = Tensor::zeros(input->shape);
        dinputs[i] = input->grad;
      }
      node->backward(meta->grad, dinputs);
      dinputs.clear();
    }
    // Release: the closure's saved tensors go now; non-leaf gradients are not kept.
    node->backward = nullptr;
    node->released = true;
    if (!meta->retain_grad) meta->grad = Tensor();
  }
}

}  // namespace fq
