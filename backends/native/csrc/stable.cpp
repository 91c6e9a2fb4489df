// embedspec::stable_forward and embedspec::stable_backward: the stable family's fused gather
// and layer norm (S2.3, S2.5), computed in c = Acc<T> (float64 for float64 tables, float32
// otherwise).
#include <cmath>

#include "common.h"

namespace embedspec {
namespace {

// Positions per chunk of the norm parameters' gradient: a fixed size, so the reduction order
// (and the result) does not depend on the number of threads.
constexpr int64_t kParamChunk = 64;

void check_stable(const at::Tensor& weight, const at::Tensor& gamma, const at::Tensor& beta) {
  check_table(weight, "weight");
  const auto compute = weight.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  for (const at::Tensor* p : {&gamma, &beta}) {
    TORCH_CHECK_VALUE(p->dim() == 1 && p->size(0) == weight.size(1) &&
                          p->scalar_type() == compute,
                      "norm parameters must be (D,) tensors of dtype ", compute);
  }
}

// out[i] = layer_norm(weight[ids[i]]) with mean[i] and rstd[i] = 1 / sqrt(var + eps).
std::tuple<at::Tensor, at::Tensor, at::Tensor> stable_forward(
    const at::Tensor& weight, const at::Tensor& ids, const at::Tensor& gamma,
    const at::Tensor& beta, double eps, int64_t /*padding_idx*/, bool /*scale_grad_by_freq*/,
    bool /*sparse*/) {
  check_stable(weight, gamma, beta);
  check_index_dtype(ids, "input");
  const at::Tensor flat = flat_ids(ids);
  const int64_t n = flat.numel();
  const int64_t dim = weight.size(1);
  check_ids_in_range(flat.const_data_ptr<int64_t>(), n, weight.size(0), "input");
  at::Tensor out = at::empty({n, dim}, weight.options());
  at::Tensor mean = at::empty({n}, gamma.options());
  at::Tensor rstd = at::empty({n}, gamma.options());
  const at::Tensor g = gamma.contiguous();
  const at::Tensor b = beta.contiguous();
  EMBEDSPEC_DISPATCH_FLOATS(weight.scalar_type(), "embedspec_stable_forward", [&] {
    using c_t = typename Acc<scalar_t>::type;
    const scalar_t* table = weight.const_data_ptr<scalar_t>();
    const int64_t s0 = weight.stride(0);
    const int64_t s1 = weight.stride(1);
    const int64_t* id = flat.const_data_ptr<int64_t>();
    const c_t* gw = g.const_data_ptr<c_t>();
    const c_t* gb = b.const_data_ptr<c_t>();
    c_t* mean_out = mean.mutable_data_ptr<c_t>();
    c_t* rstd_out = rstd.mutable_data_ptr<c_t>();
    scalar_t* dst = out.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, n, row_grain(dim, sizeof(c_t)), [&](int64_t begin, int64_t end) {
      std::vector<c_t> x(dim);
      for (int64_t i = begin; i < end; ++i) {
        const scalar_t* w = table + id[i] * s0;
        c_t sum = 0;
        for (int64_t c = 0; c < dim; ++c) {
          x[c] = static_cast<c_t>(w[c * s1]);
          sum += x[c];
        }
        const c_t mu = dim > 0 ? sum / static_cast<c_t>(dim) : c_t(0);
        c_t var = 0;
        for (int64_t c = 0; c < dim; ++c) var += (x[c] - mu) * (x[c] - mu);
        var = dim > 0 ? var / static_cast<c_t>(dim) : c_t(0);
        const c_t r = c_t(1) / std::sqrt(var + static_cast<c_t>(eps));
        mean_out[i] = mu;
        rstd_out[i] = r;
        scalar_t* y = dst + i * dim;
        for (int64_t c = 0; c < dim; ++c) {
          y[c] = static_cast<scalar_t>((x[c] - mu) * r * gw[c] + gb[c]);
        }
      }
    });
  });
  return {out.view(output_shape(ids, dim)), mean, rstd};
}

// The gradients of the layer norm: the looked-up rows' (rounded to the weight's dtype, as the
// reference's cast back does), and the norm weight's and bias's in c.
std::tuple<at::Tensor, at::Tensor, at::Tensor> stable_backward(
    const at::Tensor& grad, const at::Tensor& weight, const at::Tensor& ids,
    const at::Tensor& gamma, const at::Tensor& mean, const at::Tensor& rstd) {
  check_index_dtype(ids, "ids");
  const at::Tensor flat = flat_ids(ids);
  const int64_t n = flat.numel();
  const int64_t dim = weight.size(1);
  const at::Tensor grad_rows_in = grad.reshape({n, dim}).contiguous();
  at::Tensor grad_rows = at::empty({n, dim}, weight.options());
  const int64_t chunks = (n + kParamChunk - 1) / kParamChunk;
  at::Tensor partial = at::empty({chunks, 2, dim}, gamma.options());
  at::Tensor grad_gamma = at::empty({dim}, gamma.options());
  at::Tensor grad_beta = at::empty({dim}, gamma.options());
  const at::Tensor g = gamma.contiguous();
  EMBEDSPEC_DISPATCH_FLOATS(weight.scalar_type(), "embedspec_stable_backward", [&] {
    using c_t = typename Acc<scalar_t>::type;
    const scalar_t* table = weight.const_data_ptr<scalar_t>();
    const int64_t s0 = weight.stride(0);
    const int64_t s1 = weight.stride(1);
    const int64_t* id = flat.const_data_ptr<int64_t>();
    const scalar_t* dy = grad_rows_in.const_data_ptr<scalar_t>();
    const c_t* gw = g.const_data_ptr<c_t>();
    const c_t* mu = mean.const_data_ptr<c_t>();
    const c_t* rs = rstd.const_data_ptr<c_t>();
    scalar_t* dx = grad_rows.mutable_data_ptr<scalar_t>();
    c_t* parts = partial.mutable_data_ptr<c_t>();
    at::parallel_for(0, chunks, 1, [&](int64_t chunk_begin, int64_t chunk_end) {
      std::vector<c_t> xhat(dim), gy(dim);
      for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
        c_t* dgamma = parts + chunk * 2 * dim;
        c_t* dbeta = dgamma + dim;
        std::fill(dgamma, dgamma + 2 * dim, c_t(0));
        const int64_t last = std::min(n, (chunk + 1) * kParamChunk);
        for (int64_t i = chunk * kParamChunk; i < last; ++i) {
          const scalar_t* w = table + id[i] * s0;
          c_t mean_gy = 0;
          c_t mean_gy_xhat = 0;
          for (int64_t c = 0; c < dim; ++c) {
            const c_t dyc = static_cast<c_t>(dy[i * dim + c]);
            xhat[c] = (static_cast<c_t>(w[c * s1]) - mu[i]) * rs[i];
            gy[c] = dyc * gw[c];
            mean_gy += gy[c];
            mean_gy_xhat += gy[c] * xhat[c];
            dgamma[c] += dyc * xhat[c];
            dbeta[c] += dyc;
          }
          mean_gy /= static_cast<c_t>(dim);
          mean_gy_xhat /= static_cast<c_t>(dim);
          for (int64_t c = 0; c < dim; ++c) {
            dx[i * dim + c] =
                static_cast<scalar_t>(rs[i] * (gy[c] - mean_gy - xhat[c] * mean_gy_xhat));
          }
        }
      }
    });
    c_t* dgamma = grad_gamma.mutable_data_ptr<c_t>();
    c_t* dbeta = grad_beta.mutable_data_ptr<c_t>();
    std::fill(dgamma, dgamma + dim, c_t(0));
    std::fill(dbeta, dbeta + dim, c_t(0));
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      for (int64_t c = 0; c < dim; ++c) {
        dgamma[c] += parts[chunk * 2 * dim + c];
        dbeta[c] += parts[chunk * 2 * dim + dim + c];
      }
    }
  });
  return {grad_rows.view(output_shape(ids, dim)), grad_gamma, grad_beta};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(embedspec, m) {
  m.def("stable_forward(Tensor weight, Tensor ids, Tensor norm_weight, Tensor norm_bias, "
        "float eps, int padding_idx, bool scale_grad_by_freq, bool sparse) "
        "-> (Tensor, Tensor, Tensor)");
  m.def("stable_backward(Tensor grad, Tensor weight, Tensor ids, Tensor norm_weight, "
        "Tensor mean, Tensor rstd) -> (Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(embedspec, CPU, m) {
  m.impl("stable_forward", &stable_forward);
  m.impl("stable_backward", &stable_backward);
}

}  // namespace embedspec
