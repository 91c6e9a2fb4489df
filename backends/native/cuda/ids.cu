// Flattening ids of any dtype and strides, their range (S0.3), and the vocab-parallel mapping.
#include <climits>

#include "common.cuh"

namespace embedspec_cuda {
namespace {

struct Layout {
  int ndim;
  int64_t sizes[ES_MAX_DIMS];
  int64_t strides[ES_MAX_DIMS];
};

template <typename index_t>
__global__ void flatten_kernel(const index_t* ids, Layout layout, int64_t n, int64_t* out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t rest = i;
    int64_t offset = 0;
    for (int d = layout.ndim - 1; d >= 0; --d) {
      offset += (rest % layout.sizes[d]) * layout.strides[d];
      rest /= layout.sizes[d];
    }
    out[i] = static_cast<int64_t>(ids[offset]);
  }
}

__global__ void range_kernel(const int64_t* ids, int64_t n, unsigned long long* range) {
  long long lo = LLONG_MAX;
  long long hi = LLONG_MIN;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    lo = min(lo, static_cast<long long>(ids[i]));
    hi = max(hi, static_cast<long long>(ids[i]));
  }
  atomicMin(reinterpret_cast<long long*>(range), lo);
  atomicMax(reinterpret_cast<long long*>(range) + 1, hi);
}

__global__ void init_range_kernel(int64_t* range) {
  range[0] = LLONG_MAX;
  range[1] = LLONG_MIN;
}

__global__ void vocab_rows_kernel(const int64_t* ids, int64_t n, int64_t org_start,
                                  int64_t org_end, int64_t num_org_padding, int64_t added_start,
                                  int64_t added_end, int64_t* rows) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t id = ids[i];
    int64_t row = -1;
    if (id >= org_start && id < org_end) {
      row = id - org_start;
    } else if (id >= added_start && id < added_end) {
      row = id - added_start + (org_end - org_start) + num_org_padding;
    }
    rows[i] = row;
  }
}

}  // namespace
}  // namespace embedspec_cuda

using namespace embedspec_cuda;

extern "C" int es_flatten_ids(const void* ids, int id_dtype, int ndim, const int64_t* sizes,
                              const int64_t* strides, int64_t n, int64_t* out, void* stream) {
  if (ndim < 0 || ndim > ES_MAX_DIMS) return cudaErrorInvalidValue;
  if (n == 0) return 0;
  Layout layout{ndim, {}, {}};
  for (int d = 0; d < ndim; ++d) {
    layout.sizes[d] = sizes[d];
    layout.strides[d] = strides[d];
  }
  if (id_dtype == ES_INT64) {
    flatten_kernel<<<blocks_for(n), kThreads, 0, as_stream(stream)>>>(
        static_cast<const int64_t*>(ids), layout, n, out);
  } else if (id_dtype == ES_INT32) {
    flatten_kernel<<<blocks_for(n), kThreads, 0, as_stream(stream)>>>(
        static_cast<const int32_t*>(ids), layout, n, out);
  } else {
    return cudaErrorInvalidValue;
  }
  return last_error();
}

extern "C" int es_id_range(const int64_t* ids, int64_t n, int64_t* range, void* stream) {
  init_range_kernel<<<1, 1, 0, as_stream(stream)>>>(range);
  if (n > 0) {
    range_kernel<<<blocks_for(n) > 1024 ? 1024 : blocks_for(n), kThreads, 0,
                   as_stream(stream)>>>(ids, n, reinterpret_cast<unsigned long long*>(range));
  }
  return last_error();
}

extern "C" int es_vocab_rows(const int64_t* ids, int64_t n, int64_t org_start, int64_t org_end,
                             int64_t num_org_padding, int64_t added_start, int64_t added_end,
                             int64_t* rows, void* stream) {
  if (n == 0) return 0;
  vocab_rows_kernel<<<blocks_for(n), kThreads, 0, as_stream(stream)>>>(
      ids, n, org_start, org_end, num_org_padding, added_start, added_end, rows);
  return last_error();
}
