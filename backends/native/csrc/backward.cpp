// embedspec::dense_backward and embedspec::sparse_backward: the weight gradients of a
// lookup (S1.3-S1.5).
#include "backward.h"

namespace embedspec {
namespace {

void check_gradient(const at::Tensor& grad, const at::Tensor& ids) {
  check_index_dtype(ids, "ids");
  TORCH_CHECK_VALUE(grad.dim() == ids.dim() + 1, "grad must have shape ids.shape + (D,)");
}

at::Tensor dense_backward(const at::Tensor& grad, const at::Tensor& ids, int64_t num_weights,
                          int64_t padding_idx, bool scale_grad_by_freq) {
  check_gradient(grad, ids);
  return dense_gradient<Acc>(grad, flat_ids(ids), num_weights, padding_idx, scale_grad_by_freq);
}

// COO entries (S1.4): one per position whose id is not padding_idx, in input order;
// no entries when D = 0. Returns (indices (1, m) int64, values (m, D)).
std::tuple<at::Tensor, at::Tensor> sparse_backward(const at::Tensor& grad, const at::Tensor& ids,
                                                   int64_t padding_idx) {
  check_gradient(grad, ids);
  const at::Tensor flat = flat_ids(ids);
  const int64_t* id = flat.const_data_ptr<int64_t>();
  const int64_t n = flat.numel();
  const int64_t dim = grad.size(-1);
  std::vector<int64_t> kept;
  if (dim > 0) {
    kept.reserve(n);
    for (int64_t i = 0; i < n; ++i) {
      if (id[i] != padding_idx) kept.push_back(i);
    }
  }
  const int64_t m = static_cast<int64_t>(kept.size());
  at::Tensor indices = at::empty({1, m}, flat.options());
  at::Tensor values = at::empty({m, dim}, grad.options());
  const at::Tensor rows_grad = grad.reshape({n, dim}).contiguous();
  int64_t* index = indices.mutable_data_ptr<int64_t>();
  EMBEDSPEC_DISPATCH_FLOATS(grad.scalar_type(), "embedspec_sparse_backward", [&] {
    const scalar_t* src = rows_grad.const_data_ptr<scalar_t>();
    scalar_t* dst = values.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, m, row_grain(dim, sizeof(scalar_t)), [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        index[k] = id[kept[k]];
        std::memcpy(dst + k * dim, src + kept[k] * dim, dim * sizeof(scalar_t));
      }
    });
  });
  return {indices, values};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(embedspec, m) {
  m.def("dense_backward(Tensor grad, Tensor ids, SymInt num_weights, int padding_idx, "
        "bool scale_grad_by_freq) -> Tensor");
  m.def("sparse_backward(Tensor grad, Tensor ids, int padding_idx) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(embedspec, CPU, m) {
  m.impl("dense_backward", &dense_backward);
  m.impl("sparse_backward", &sparse_backward);
}

}  // namespace embedspec
