// embedspec::vocab_lookup and embedspec::vocab_backward: one vocab-parallel rank's masked
// local lookup (S3.4). A base id in [org_start, org_end) maps to local row id - org_start, an
// added id in [added_start, added_end) to id - added_start + (org_end - org_start) +
// num_org_padding; any other id is "not mine": its output row is zero and it sends no
// gradient.
#include <ATen/ops/empty_like.h>

#include "backward.h"

namespace embedspec {
namespace {

struct Shard {
  int64_t org_start, org_end, num_org_padding, added_start, added_end;

  int64_t local_row(int64_t id) const {
    if (id >= org_start && id < org_end) return id - org_start;
    if (id >= added_start && id < added_end) {
      return id - added_start + (org_end - org_start) + num_org_padding;
    }
    return -1;
  }
};

// Each position's local row, -1 where the id is not this rank's.
at::Tensor local_rows(const at::Tensor& flat, const Shard& shard) {
  at::Tensor rows = at::empty_like(flat);
  const int64_t* id = flat.const_data_ptr<int64_t>();
  int64_t* row = rows.mutable_data_ptr<int64_t>();
  at::parallel_for(0, flat.numel(), 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) row[i] = shard.local_row(id[i]);
  });
  return rows;
}

at::Tensor vocab_lookup(const at::Tensor& weight, const at::Tensor& ids, int64_t num_valid,
                        int64_t org_start, int64_t org_end, int64_t num_org_padding,
                        int64_t added_start, int64_t added_end) {
  check_table(weight, "weight");
  check_index_dtype(ids, "input_");
  const at::Tensor flat = flat_ids(ids);
  const int64_t n = flat.numel();
  const int64_t dim = weight.size(1);
  check_ids_in_range(flat.const_data_ptr<int64_t>(), n, num_valid, "input_");
  const at::Tensor rows =
      local_rows(flat, Shard{org_start, org_end, num_org_padding, added_start, added_end});
  at::Tensor out = at::empty({n, dim}, weight.options());
  EMBEDSPEC_DISPATCH_FLOATS(weight.scalar_type(), "embedspec_vocab_lookup", [&] {
    const scalar_t* table = weight.const_data_ptr<scalar_t>();
    const int64_t* row = rows.const_data_ptr<int64_t>();
    scalar_t* dst = out.mutable_data_ptr<scalar_t>();
    const int64_t s0 = weight.stride(0);
    const int64_t s1 = weight.stride(1);
    at::parallel_for(0, n, row_grain(dim, sizeof(scalar_t)), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        scalar_t* y = dst + i * dim;
        if (row[i] < 0) {
          std::fill(y, y + dim, scalar_t(0));
        } else {
          const scalar_t* w = table + row[i] * s0;
          for (int64_t c = 0; c < dim; ++c) y[c] = w[c * s1];
        }
      }
    });
  });
  return out.view(output_shape(ids, dim));
}

at::Tensor vocab_backward(const at::Tensor& grad, const at::Tensor& ids, int64_t num_weights,
                          int64_t org_start, int64_t org_end, int64_t num_org_padding,
                          int64_t added_start, int64_t added_end) {
  check_index_dtype(ids, "ids");
  const at::Tensor rows = local_rows(
      flat_ids(ids), Shard{org_start, org_end, num_org_padding, added_start, added_end});
  return dense_gradient<Acc>(grad, rows, num_weights, kNoPadding, false);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(embedspec, m) {
  m.def("vocab_lookup(Tensor weight, Tensor ids, int num_valid, int org_start, int org_end, "
        "int num_org_padding, int added_start, int added_end) -> Tensor");
  m.def("vocab_backward(Tensor grad, Tensor ids, SymInt num_weights, int org_start, "
        "int org_end, int num_org_padding, int added_start, int added_end) -> Tensor");
}

TORCH_LIBRARY_IMPL(embedspec, CPU, m) {
  m.impl("vocab_lookup", &vocab_lookup);
  m.impl("vocab_backward", &vocab_backward);
}

}  // namespace embedspec
