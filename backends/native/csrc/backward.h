// The dense weight gradient shared by every family (S1.3, S1.5): one pass over the rows of a
// fresh (V, D) gradient, each row either zeroed or summed from its positions. A gradient of
// which the ids reference few rows comes from zero pages (zero_pages.h), and only the
// referenced rows are written.
#pragma once

#include "common.h"
#include "zero_pages.h"

namespace embedspec {

// grad_weight[r] = row_factor * sum over the positions p of row r, in input order, of
// grad[p] / (count_r if scale_by_count), accumulated in acc_t and rounded once. Rows without
// positions and the padding row are written as zeros in the same pass, so the result is
// deterministic for any number of threads; when out already reads as zeros (zeroed), they
// are left as they are. grad is a contiguous (n, D) table.
template <typename scalar_t, typename acc_t, typename RowFactor>
void accumulate_rows(const scalar_t* grad, const RowPositions& rows, int64_t num_rows,
                     int64_t dim, int64_t padding_idx, bool scale_by_count,
                     const RowFactor& row_factor, scalar_t* out, bool zeroed) {
  at::parallel_for(0, num_rows, row_grain(dim, sizeof(scalar_t)), [&](int64_t begin,
                                                                      int64_t end) {
    std::vector<acc_t> acc(dim);
    for (int64_t r = begin; r < end; ++r) {
      scalar_t* dst = out + r * dim;
      const int64_t first = rows.offsets[r];
      const int64_t last = rows.offsets[r + 1];
      if (r == padding_idx || first == last) {
        if (dim > 0 && !zeroed) std::memset(dst, 0, dim * sizeof(scalar_t));
        continue;
      }
      std::fill(acc.begin(), acc.end(), acc_t(0));
      const acc_t count = static_cast<acc_t>(last - first);
      for (int64_t k = first; k < last; ++k) {
        const scalar_t* src = grad + rows.positions[k] * dim;
        if (scale_by_count) {
          for (int64_t c = 0; c < dim; ++c) acc[c] += static_cast<acc_t>(src[c]) / count;
        } else {
          for (int64_t c = 0; c < dim; ++c) acc[c] += static_cast<acc_t>(src[c]);
        }
      }
      row_factor.apply(rows.positions[first], acc.data(), dim);
      for (int64_t c = 0; c < dim; ++c) dst[c] = static_cast<scalar_t>(acc[c]);
    }
  });
}

// No per-row factor (the embedding family). A factor's apply(first_position, acc, dim)
// receives the row's first position and its accumulated sums.
struct UnitRowFactor {
  template <typename acc_t>
  void apply(int64_t /*first_position*/, acc_t* /*acc*/, int64_t /*dim*/) const {}
};

// Whether the referenced rows lie on at most half the table's 4 KiB pages, counting for each
// the most pages a row of its size can span, as if no two rows shared one: then faulting in
// only their pages beats writing the whole table.
inline bool references_few_pages(const RowPositions& rows, int64_t row_bytes) {
  constexpr int64_t kPage = 4096;
  const int64_t num_rows = static_cast<int64_t>(rows.offsets.size()) - 1;
  const int64_t pages = (num_rows * row_bytes + kPage - 1) / kPage;
  const int64_t touched = rows.distinct * ((row_bytes + kPage - 1) / kPage + 1);
  return 2 * touched <= pages;
}

// The (V, D) dense gradient of the positions' ids (ids < 0 contribute nothing), with an
// accumulation type chosen by acc_of<scalar_t>.
template <template <typename> class AccOf, typename RowFactor = UnitRowFactor>
at::Tensor dense_gradient(const at::Tensor& grad, const at::Tensor& flat, int64_t num_rows,
                          int64_t padding_idx, bool scale_by_count,
                          const RowFactor& row_factor = RowFactor()) {
  const int64_t n = flat.numel();
  const int64_t dim = grad.size(-1);
  const at::Tensor rows_grad = grad.reshape({n, dim}).contiguous();
  const RowPositions rows(flat.const_data_ptr<int64_t>(), n, num_rows);
  at::Tensor out = references_few_pages(rows, dim * grad.element_size())
                       ? zero_pages_table(num_rows, dim, grad.options())
                       : at::Tensor();
  const bool zeroed = out.defined();
  if (!zeroed) {
    out = at::empty({num_rows, dim}, grad.options());
    advise_huge_pages(out.mutable_data_ptr(), out.nbytes());
  }
  EMBEDSPEC_DISPATCH_FLOATS(grad.scalar_type(), "embedspec_dense_gradient", [&] {
    using acc_t = typename AccOf<scalar_t>::type;
    accumulate_rows<scalar_t, acc_t>(rows_grad.const_data_ptr<scalar_t>(), rows, num_rows, dim,
                                     padding_idx, scale_by_count, row_factor,
                                     out.mutable_data_ptr<scalar_t>(), zeroed);
  });
  return out;
}

}  // namespace embedspec
