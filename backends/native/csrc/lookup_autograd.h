// The autograd kernel of a lookup operator (the Autograd dispatch key, in C++): the forward
// is the operator's kernel below autograd, the backward the section-1 weight gradient
// (S1.3-S1.5) from embedspec::dense_backward or embedspec::sparse_backward. A graph node is
// made only when the weight requires a gradient, as for ATen's own operators, so a forward
// under no_grad costs the kernel and one dispatch, not an autograd Function's bookkeeping. Under tracing every call goes to the
// operators' fake kernels. A weight with a forward-mode tangent is refused: the operator
// has no forward-mode formula, and a silently dropped tangent would read as zero.
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/ops/_sparse_coo_tensor_unsafe.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/functions/utils.h>

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

// The lookup operator's kernel below the Autograd key.
template <class Name>
at::Tensor lookup_below_autograd(const at::Tensor& weight, const at::Tensor& ids,
                                 int64_t padding_idx, bool scale_grad_by_freq, bool sparse) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow(Name::qualname, "")
                             .template typed<LookupSignature>();
  at::AutoDispatchBelowADInplaceOrView guard;
  return op.call(weight, ids, padding_idx, scale_grad_by_freq, sparse);
}

// The graph node of a lookup that needs one. A C++ autograd Function, so the node locks
// itself like every autograd node and compiled autograd can run it (as an opaque call).
// Name::qualname names the lookup operator (same schema as embedspec::lookup).
template <class Name>
struct LookupFunction : public torch::autograd::Function<LookupFunction<Name>> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& weight,
                            const at::Tensor& ids, int64_t padding_idx, bool scale_grad_by_freq,
                            bool sparse) {
    ctx->save_for_backward({ids});
    ctx->saved_data["num_weights"] = weight.sym_size(0);
    ctx->saved_data["dim"] = weight.sym_size(1);
    ctx->saved_data["padding_idx"] = padding_idx;
    ctx->saved_data["scale_grad_by_freq"] = scale_grad_by_freq;
    ctx->saved_data["sparse"] = sparse;
    return lookup_below_autograd<Name>(weight, ids, padding_idx, scale_grad_by_freq, sparse);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const at::Tensor ids = ctx->get_saved_variables()[0];
    auto& data = ctx->saved_data;
    at::Tensor grad_weight = lookup_weight_gradient(
        grads[0], ids, data["num_weights"].toSymInt(), data["dim"].toSymInt(),
        data["padding_idx"].toInt(), data["scale_grad_by_freq"].toBool(),
        data["sparse"].toBool());
    return {grad_weight, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// The kernel to register under the Autograd key of Name::qualname: the operator below
// autograd, through LookupFunction only when the weight requires a gradient.
template <class Name>
at::Tensor lookup_autograd(const at::Tensor& weight, const at::Tensor& ids, int64_t padding_idx,
                           bool scale_grad_by_freq, bool sparse) {
  TORCH_CHECK_NOT_IMPLEMENTED(!weight._fw_grad(/*level=*/0).defined(), Name::qualname,
                              " has no forward-mode derivative (a tangent of the weight)");
  if (torch::autograd::compute_requires_grad(weight)) {
    return LookupFunction<Name>::apply(weight, ids, padding_idx, scale_grad_by_freq, sparse);
  }
  return lookup_below_autograd<Name>(weight, ids, padding_idx, scale_grad_by_freq, sparse);
}

}  // namespace embedspec
