// The autograd kernel of a lookup operator (the Autograd dispatch key, in C++): the forward
// is the operator's kernel below autograd, the backward the section-1 weight gradient
// (S1.3-S1.5) from embedspec::dense_backward or embedspec::sparse_backward. A graph node is
// made only when the weight requires a gradient, as for ATen's own operators, so a forward
// under no_grad costs the kernel and one dispatch. Under tracing every call goes to the
// operators' fake kernels. A weight with a forward-mode tangent is refused: the operator
// has no forward-mode formula, and a silently dropped tangent would read as zero.
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/ops/_sparse_coo_tensor_unsafe.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/saved_variable.h>

#include "common.h"

namespace embedspec {

// The weight gradient of rows looked up at ids, dense or sparse. With no padding row and
// D > 0 every position is an entry (S1.4): the sparse gradient's values are the output
// gradient itself (a view where its layout allows, as in torch's sparse embedding
// backward) and its indices a copy of the ids; otherwise embedspec::sparse_backward drops
// the padding entries.
inline at::Tensor lookup_weight_gradient(const at::Tensor& grad, const at::Tensor& ids,
                                         const c10::SymInt& num_weights,
                                         const c10::SymInt& dim, int64_t padding_idx,
                                         bool scale_grad_by_freq, bool sparse) {
  if (sparse && padding_idx == kNoPadding && dim != 0) {
    const c10::SymInt n = ids.sym_numel();
    const at::Tensor indices = ids.reshape({1, -1}).to(at::kLong, false, /*copy=*/true);
    return at::_sparse_coo_tensor_unsafe_symint(indices, grad.reshape_symint({n, dim}),
                                                {num_weights, dim});
  }
  if (sparse) {
    static const auto op =
        c10::Dispatcher::singleton()
            .findSchemaOrThrow("embedspec::sparse_backward", "")
            .typed<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                      int64_t)>();
    auto [indices, values] = op.call(grad, ids, padding_idx);
    return at::_sparse_coo_tensor_unsafe_symint(indices, values, {num_weights, dim});
  }
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("embedspec::dense_backward", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, c10::SymInt, int64_t, bool)>();
  return op.call(grad, ids, num_weights, padding_idx, scale_grad_by_freq);
}

using LookupSignature = at::Tensor(const at::Tensor&, const at::Tensor&, int64_t, bool, bool);

// The graph node of one lookup: the weight gradient from the output gradient and the ids.
// An undefined output gradient (no path to the loss) gives an undefined weight gradient.
struct LookupBackward : public torch::autograd::Node {
  torch::autograd::SavedVariable ids;
  c10::SymInt num_weights;
  c10::SymInt dim;
  int64_t padding_idx = -1;
  bool scale_grad_by_freq = false;
  bool sparse = false;

  std::string name() const override { return "embedspec::LookupBackward"; }

  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    torch::autograd::variable_list out(1);
    if (!grads[0].defined() || !task_should_compute_output(0)) return out;
    out[0] = lookup_weight_gradient(grads[0], ids.unpack(), num_weights, dim,
                                    padding_idx, scale_grad_by_freq, sparse);
    return out;
  }

  void release_variables() override { ids.reset_data(); }
};

// The kernel to register under the Autograd key of Name::qualname (same schema as
// embedspec::lookup).
template <class Name>
at::Tensor lookup_autograd(const at::Tensor& weight, const at::Tensor& ids, int64_t padding_idx,
                           bool scale_grad_by_freq, bool sparse) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow(Name::qualname, "")
                             .template typed<LookupSignature>();
  TORCH_CHECK_NOT_IMPLEMENTED(!weight._fw_grad(/*level=*/0).defined(), Name::qualname,
                              " has no forward-mode derivative (a tangent of the weight)");
  at::Tensor out;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    out = op.call(weight, ids, padding_idx, scale_grad_by_freq, sparse);
  }
  if (!torch::autograd::compute_requires_grad(weight)) return out;
  auto node = c10::make_intrusive<LookupBackward>();
  node->set_next_edges(torch::autograd::collect_next_edges(weight));
  node->ids = torch::autograd::SavedVariable(ids, false);
  node->num_weights = weight.sym_size(0);
  node->dim = weight.sym_size(1);
  node->padding_idx = padding_idx;
  node->scale_grad_by_freq = scale_grad_by_freq;
  node->sparse = sparse;
  torch::autograd::set_history(out, node);
  return out;
}

}  // namespace embedspec
