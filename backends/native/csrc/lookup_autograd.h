// The autograd kernel of a lookup operator (the Autograd dispatch key, in C++): the forward
// is the operator's kernel below autograd, the backward the section-1 weight gradient
// (S1.3-S1.5) from embedspec::dense_backward or embedspec::sparse_backward. One C++
// dispatch per forward; under tracing every call goes to the operators' fake kernels.
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/ops/_sparse_coo_tensor_unsafe.h>
#include <torch/csrc/autograd/custom_function.h>

#include "common.h"

namespace embedspec {

// The weight gradient of rows looked up at ids, dense or sparse.
inline at::Tensor lookup_weight_gradient(const at::Tensor& grad, const at::Tensor& ids,
                                         const c10::SymInt& num_weights,
                                         const c10::SymInt& dim, int64_t padding_idx,
                                         bool scale_grad_by_freq, bool sparse) {
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

// Name::qualname names the lookup operator (same schema as embedspec::lookup).
template <class Name>
struct LookupFunction : public torch::autograd::Function<LookupFunction<Name>> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& weight,
                            const at::Tensor& ids, int64_t padding_idx, bool scale_grad_by_freq,
                            bool sparse) {
    static const auto op = c10::Dispatcher::singleton()
                               .findSchemaOrThrow(Name::qualname, "")
                               .template typed<LookupSignature>();
    ctx->save_for_backward({ids});
    ctx->saved_data["num_weights"] = weight.sym_size(0);
    ctx->saved_data["dim"] = weight.sym_size(1);
    ctx->saved_data["padding_idx"] = padding_idx;
    ctx->saved_data["scale_grad_by_freq"] = scale_grad_by_freq;
    ctx->saved_data["sparse"] = sparse;
    at::AutoDispatchBelowADInplaceOrView guard;
    return op.call(weight, ids, padding_idx, scale_grad_by_freq, sparse);
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

// The kernel to register under the Autograd key of Name::qualname.
template <class Name>
at::Tensor lookup_autograd(const at::Tensor& weight, const at::Tensor& ids, int64_t padding_idx,
                           bool scale_grad_by_freq, bool sparse) {
  return LookupFunction<Name>::apply(weight, ids, padding_idx, scale_grad_by_freq, sparse);
}

}  // namespace embedspec
