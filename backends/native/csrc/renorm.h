// max_norm renormalisation (S1.2, S4.4) and the column-shard kernels the distributed backend
// borrows (norm_terms, scale_rows_). Templated on a policy for the test suite's variants.
#pragma once

#include <cmath>

#include "common.h"
#include "row_copy.h"

namespace embedspec {

// The norm rule a caller asks for: the weight's dtype (the embedding and stable families,
// S1.2) or float64 terms rounded to the weight's dtype (the sharded family, S4.4). The CPU
// kernel meets both with the second (see renorm_rows); the CUDA kernel reduces in the
// weight's dtype for the first.
enum NormRounding : int64_t { kWeightDtypeNorm = 0, kFloat64Terms = 1 };

// The factor rule of S1.2: max_norm / (norm + 1e-7) in float64, rounded to the weight's dtype.
struct ExactFactor {
  template <typename scalar_t>
  static scalar_t factor(double max_norm, double norm) {
    return static_cast<scalar_t>(max_norm / (norm + 1e-7));
  }
};

// The distinct ids, in order of first appearance.
inline std::vector<int64_t> distinct_rows(const int64_t* ids, int64_t n, int64_t num_rows) {
  std::vector<uint8_t> seen(num_rows, 0);
  std::vector<int64_t> rows;
  rows.reserve(std::min(n, num_rows));
  for (int64_t i = 0; i < n; ++i) {
    if (!seen[ids[i]]) rows.push_back(ids[i]);
    seen[ids[i]] = 1;
  }
  return rows;
}

// Sum over a contiguous row of a*a (Square) or |a| (else), in float64, in eight
// independent partial sums (vectorisable without reassociation).
template <bool Square, typename scalar_t>
double contiguous_terms(const scalar_t* w, int64_t dim) {
  double part[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  int64_t c = 0;
  for (; c + 8 <= dim; c += 8) {
    for (int k = 0; k < 8; ++k) {
      const double a = static_cast<double>(w[c + k]);
      part[k] += Square ? a * a : std::abs(a);
    }
  }
  for (; c < dim; ++c) {
    const double a = static_cast<double>(w[c]);
    part[0] += Square ? a * a : std::abs(a);
  }
  return ((part[0] + part[1]) + (part[2] + part[3])) +
         ((part[4] + part[5]) + (part[6] + part[7]));
}

// Sum of |w|^p over a row (max |w| for p = inf), in float64.
template <typename scalar_t>
double row_terms(const scalar_t* w, int64_t dim, int64_t stride, double p) {
  if (stride == 1 && p == 2.0) return contiguous_terms<true>(w, dim);
  if (stride == 1 && p == 1.0) return contiguous_terms<false>(w, dim);
  double total = 0.0;
  for (int64_t c = 0; c < dim; ++c) {
    const double a = std::abs(static_cast<double>(w[c * stride]));
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
  return total;
}

// Per listed row, row_terms in float64.
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
      for (int64_t k = b; k < e; ++k) out[k] = row_terms(table + row[k] * s0, dim, s1, p);
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

// Multiplies a row in place by f (in the weight's dtype); each product is rounded to it.
template <typename scalar_t>
void scale_row(scalar_t* w, int64_t dim, int64_t stride, scalar_t factor) {
  using acc_t = typename Acc<scalar_t>::type;
  const acc_t f = static_cast<acc_t>(factor);
  for (int64_t c = 0; c < dim; ++c) {
    w[c * stride] = static_cast<scalar_t>(static_cast<acc_t>(w[c * stride]) * f);
  }
}

// Multiplies row[k] of weight in place by factor[k] (already in the weight's dtype).
template <typename scalar_t>
void scale_rows(at::Tensor& weight, const int64_t* rows, const scalar_t* factors, int64_t count) {
  const int64_t dim = weight.size(1);
  const int64_t s0 = weight.stride(0);
  const int64_t s1 = weight.stride(1);
  scalar_t* table = weight.mutable_data_ptr<scalar_t>();
  at::parallel_for(0, count, row_grain(dim, sizeof(scalar_t)), [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) scale_row(table + rows[k] * s0, dim, s1, factors[k]);
  });
}

// Renormalises in place every distinct row of ids whose norm exceeds max_norm (strictly; a
// NaN norm never does), in one parallel pass over the rows. A row's norm comes from its
// float64 terms rounded to the weight's dtype under either rounding rule: for S1.2 this
// is within the renorm bound of S0.7 of torch.linalg.vector_norm's weight-dtype norm (a
// row whose norm is within rounding of max_norm may go either way), for S4.4 it is the
// rule itself. The ids are checked before any row changes (S0.4).
template <class Policy>
void renorm_rows(at::Tensor& weight, const at::Tensor& ids, double max_norm, double p,
                 int64_t /*rounding*/) {
  check_table(weight, "weight");
  check_index_dtype(ids, "input");
  const at::Tensor flat = flat_ids(ids);
  const int64_t n = flat.numel();
  const int64_t num_rows = weight.size(0);
  check_ids_in_range(flat.const_data_ptr<int64_t>(), n, num_rows, "input");
  if (n == 0) return;
  const std::vector<int64_t> rows = distinct_rows(flat.const_data_ptr<int64_t>(), n, num_rows);
  const int64_t dim = weight.size(1);
  const int64_t s0 = weight.stride(0);
  const int64_t s1 = weight.stride(1);
  EMBEDSPEC_DISPATCH_FLOATS(weight.scalar_type(), "embedspec_renorm", [&] {
    scalar_t* table = weight.mutable_data_ptr<scalar_t>();
    const int64_t count = static_cast<int64_t>(rows.size());
    const int64_t span = dim * s1 * static_cast<int64_t>(sizeof(scalar_t));
    const int64_t ahead = prefetch_distance(span);
    at::parallel_for(0, count, row_grain(dim, sizeof(scalar_t)), [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < std::min(e, b + ahead); ++k) {
        prefetch_bytes(table + rows[k] * s0, span);
      }
      for (int64_t k = b; k < e; ++k) {
        if (k + ahead < e) prefetch_bytes(table + rows[k + ahead] * s0, span);
        scalar_t* w = table + rows[k] * s0;
        const double norm = norm_from_terms<scalar_t>(row_terms(w, dim, s1, p), p);
        if (norm > max_norm) {
          scale_row(w, dim, s1, Policy::template factor<scalar_t>(max_norm, norm));
        }
      }
    });
  });
}

}  // namespace embedspec
