// The forward gather of the embedding family (S0.1-S0.3): out[i] = weight[ids[i]].
// Templated on a policy so the test suite's deliberately wrong variants reuse the kernel.
#pragma once

#include "common.h"
#include "row_copy.h"

namespace embedspec {

// The correct behaviour: every stride of the ids honoured, ids in [0, V).
struct ExactLookup {
  static at::Tensor ids(const at::Tensor& ids) { return flat_ids(ids); }
  static int64_t num_valid(int64_t rows) { return rows; }
  static int64_t row(int64_t id, int64_t /*rows*/) { return id; }
};

template <class Policy, typename scalar_t>
void gather_rows(const at::Tensor& weight, const int64_t* ids, int64_t n, scalar_t* out) {
  const int64_t rows = weight.size(0);
  const int64_t dim = weight.size(1);
  if (dim == 0 || n == 0) return;
  const int64_t s0 = weight.stride(0);
  const int64_t s1 = weight.stride(1);
  const scalar_t* table = weight.const_data_ptr<scalar_t>();
  const int64_t row_bytes = dim * static_cast<int64_t>(sizeof(scalar_t));
  const int64_t ahead = prefetch_distance(row_bytes * s1);
  const bool stream = s1 == 1 && can_stream(out, row_bytes, n * row_bytes);
  at::parallel_for(0, n, row_grain(dim, sizeof(scalar_t)), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < std::min(end, begin + ahead); ++i) {
      prefetch_bytes(table + Policy::row(ids[i], rows) * s0, row_bytes * s1);
    }
    for (int64_t i = begin; i < end; ++i) {
      if (i + ahead < end) {
        prefetch_bytes(table + Policy::row(ids[i + ahead], rows) * s0, row_bytes * s1);
      }
      const scalar_t* src = table + Policy::row(ids[i], rows) * s0;
      scalar_t* dst = out + i * dim;
      if (stream) {
        stream_copy(dst, src, row_bytes);
      } else if (s1 == 1) {
        std::memcpy(dst, src, row_bytes);
      } else {
        for (int64_t c = 0; c < dim; ++c) dst[c] = src[c * s1];
      }
    }
    if (stream) stream_fence();
  });
}

// A fresh (ids.shape..., D) tensor of the rows; every check runs before anything is written.
template <class Policy>
at::Tensor lookup_forward(const at::Tensor& weight, const at::Tensor& ids) {
  check_table(weight, "weight");
  check_index_dtype(ids, "input");
  const at::Tensor flat = Policy::ids(ids);
  const int64_t n = flat.numel();
  const int64_t rows = weight.size(0);
  check_ids_in_range(flat.const_data_ptr<int64_t>(), n, Policy::num_valid(rows), "input");
  at::Tensor out = at::empty({n, weight.size(1)}, weight.options());
  advise_huge_pages(out.mutable_data_ptr(), out.nbytes());
  EMBEDSPEC_DISPATCH_FLOATS(weight.scalar_type(), "embedspec_lookup", [&] {
    gather_rows<Policy, scalar_t>(weight, flat.const_data_ptr<int64_t>(), n,
                                  out.mutable_data_ptr<scalar_t>());
  });
  return out.view(output_shape(ids, weight.size(1)));
}

}  // namespace embedspec
