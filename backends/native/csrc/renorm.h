// max_norm renormalisation (S1.2, S4.4) and the column-shard kernels the distributed backend
// borrows (norm_terms, scale_rows_). Templated on a policy for the test suite's variants.
#pragma once

#include <ATen/ops/index_select.h>
#include <ATen/ops/linalg_vector_norm.h>
#include <ATen/ops/zeros.h>

#include <cmath>

#include "common.h"

namespace embedspec {

// How a row's norm is obtained: in the weight's dtype exactly as torch.linalg.vector_norm
// computes it (the embedding and stable families, S1.2), or from float64 terms rounded to
// the weight's dtype (the sharded family, S4.4).
enum NormRounding : int64_t { kWeightDtypeNorm = 0, kFloat64Terms = 1 };

// The factor rule of S1.2: max_norm / (norm + 1e-7) in float64, rounded to the weight's dtype.
struct ExactFactor {
  template <typename scalar_t>
  static scalar_t factor(double max_norm, double norm) {
    return static_cast<scalar_t>(max_norm / (norm + 1e-7));
  }
};

// The distinct ids, ascending.
inline at::Tensor unique_rows(const int64_t* ids, int64_t n, int64_t num_rows,
                              const at::TensorOptions& options) {
  std::vector<uint8_t> seen(num_rows, 0);
  int64_t distinct = 0;
  for (int64_t i = 0; i < n; ++i) {
    distinct += !seen[ids[i]];
    seen[ids[i]] = 1;
  }
  at::Tensor rows = at::empty({distinct}, options.dtype(at::kLong));
  int64_t* out = rows.mutable_data_ptr<int64_t>();
  for (int64_t r = 0, k = 0; r < num_rows; ++r) {
    if (seen[r]) out[k++] = r;
  }
  return rows;
}

// Per listed row, sum |w|^p over the columns (max |w| for p = inf) in float64, sequentially.
inline at::Tensor norm_terms(const at::Tensor& weight, const at::Tensor& rows, double p) {
  const at::Tensor flat = flat_ids(rows);
  const int64_t count = flat.numel();
  const int64_t dim = weight.size(1);
  at::Tensor terms = at::empty({count}, weight.options().dtype(at::kDouble));
  const int64_t* row = flat.const_data_ptr<int64_t>();
  double* out = terms.mutable_data_ptr<double>();
  const int64_t s0 = weight.stride(0);
  const int64_t s1 = weight.stride(1);
  EMBEDSPEC_DISPATCH_FLOATS(weight.scalar_type(), "embedspec_norm_terms", [&] {
    const scalar_t* table = weight.const_data_ptr<scalar_t>();
    at::parallel_for(0, count, row_grain(dim, sizeof(scalar_t)), [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        const scalar_t* w = table + row[k] * s0;
        double total = 0.0;
        for (int64_t c = 0; c < dim; ++c) {
          const double a = std::abs(static_cast<double>(w[c * s1]));
          if (std::isinf(p)) {
            total = std::max(total, a);
          } else if (p == 1.0) {
            total += a;
          } else if (p == 2.0) {
            total += a * a;
          } else {
            total += std::pow(a, p);
          }
        }
        out[k] = total;
      }
    });
  });
  return terms;
}

// A full-row norm from its float64 terms, rounded to the weight's dtype (S4.4).
template <typename scalar_t>
double norm_from_terms(double terms, double p) {
  double norm = terms;
  if (p == 2.0) {
    norm = std::sqrt(terms);
  } else if (!std::isinf(p) && p != 1.0) {
    norm = std::pow(terms, 1.0 / p);
  }
  return static_cast<double>(static_cast<scalar_t>(norm));
}

// Float64 norms of the listed rows, by the rounding rule.
inline at::Tensor row_norms(const at::Tensor& weight, const at::Tensor& rows, double p,
                            int64_t rounding) {
  if (rounding == kWeightDtypeNorm) {
    if (weight.size(1) == 0) return at::zeros({rows.numel()}, rows.options().dtype(at::kDouble));
    const at::Tensor selected = at::index_select(weight, 0, rows);
    return at::linalg_vector_norm(selected, p, at::IntArrayRef{1}, false, std::nullopt)
        .to(at::kDouble)
        .contiguous();
  }
  at::Tensor norms = norm_terms(weight, rows, p);
  double* value = norms.mutable_data_ptr<double>();
  EMBEDSPEC_DISPATCH_FLOATS(weight.scalar_type(), "embedspec_row_norms", [&] {
    for (int64_t k = 0; k < norms.numel(); ++k) value[k] = norm_from_terms<scalar_t>(value[k], p);
  });
  return norms;
}

// Multiplies row[k] of weight in place by factor[k] (already in the weight's dtype); each
// product is rounded to the weight's dtype.
template <typename scalar_t>
void scale_rows(at::Tensor& weight, const int64_t* rows, const scalar_t* factors, int64_t count) {
  using acc_t = typename Acc<scalar_t>::type;
  const int64_t dim = weight.size(1);
  const int64_t s0 = weight.stride(0);
  const int64_t s1 = weight.stride(1);
  scalar_t* table = weight.mutable_data_ptr<scalar_t>();
  at::parallel_for(0, count, row_grain(dim, sizeof(scalar_t)), [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      scalar_t* w = table + rows[k] * s0;
      const acc_t f = static_cast<acc_t>(factors[k]);
      for (int64_t c = 0; c < dim; ++c) {
        w[c * s1] = static_cast<scalar_t>(static_cast<acc_t>(w[c * s1]) * f);
      }
    }
  });
}

// Renormalises in place every distinct row of ids whose norm exceeds max_norm (strictly; a
// NaN norm never does). The ids are checked before any row changes (S0.4).
template <class Policy>
void renorm_rows(at::Tensor& weight, const at::Tensor& ids, double max_norm, double p,
                 int64_t rounding) {
  check_table(weight, "weight");
  check_index_dtype(ids, "input");
  const at::Tensor flat = flat_ids(ids);
  const int64_t n = flat.numel();
  const int64_t num_rows = weight.size(0);
  check_ids_in_range(flat.const_data_ptr<int64_t>(), n, num_rows, "input");
  if (n == 0) return;
  const at::Tensor rows = unique_rows(flat.const_data_ptr<int64_t>(), n, num_rows, flat.options());
  const at::Tensor norms = row_norms(weight, rows, p, rounding);
  const double* norm = norms.const_data_ptr<double>();
  const int64_t* row = rows.const_data_ptr<int64_t>();
  EMBEDSPEC_DISPATCH_FLOATS(weight.scalar_type(), "embedspec_renorm", [&] {
    std::vector<int64_t> over;
    std::vector<scalar_t> factors;
    for (int64_t k = 0; k < rows.numel(); ++k) {
      if (norm[k] > max_norm) {
        over.push_back(row[k]);
        factors.push_back(Policy::template factor<scalar_t>(max_norm, norm[k]));
      }
    }
    scale_rows<scalar_t>(weight, over.data(), factors.data(), static_cast<int64_t>(over.size()));
  });
}

}  // namespace embedspec
