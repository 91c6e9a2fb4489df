// The forward gather: out[i] = table[ids[i]] (zero row for a negative id), one thread per
// element so a warp reads consecutive columns of a row.
#include "common.cuh"

namespace embedspec_cuda {
namespace {

template <typename T>
__global__ void gather_kernel(const T* table, int64_t dim, int64_t s0, int64_t s1,
                              const int64_t* ids, int64_t n, T* out) {
  const int64_t total = n * dim;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = e / dim;
    const int64_t c = e - i * dim;
    const int64_t id = ids[i];
    out[e] = id < 0 ? Traits<T>::from_acc(0) : table[id * s0 + c * s1];
  }
}

}  // namespace
}  // namespace embedspec_cuda

using namespace embedspec_cuda;

extern "C" int es_gather(const void* table, int dtype, int64_t dim, int64_t s0, int64_t s1,
                         const int64_t* ids, int64_t n, void* out, void* stream) {
  if (n == 0 || dim == 0) return 0;
  return dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    gather_kernel<T><<<blocks_for(n * dim), kThreads, 0, as_stream(stream)>>>(
        static_cast<const T*>(table), dim, s0, s1, ids, n, static_cast<T*>(out));
    return last_error();
  });
}

namespace embedspec_cuda {
namespace {

__global__ void take_kernel(const int64_t* ids, const int64_t* positions, int64_t count,
                            int64_t* out) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < count;
       k += int64_t(gridDim.x) * blockDim.x) {
    out[k] = ids[positions[k]];
  }
}

}  // namespace
}  // namespace embedspec_cuda

extern "C" int es_take_ids(const int64_t* ids, const int64_t* positions, int64_t count,
                           int64_t* out, void* stream) {
  if (count == 0) return 0;
  take_kernel<<<blocks_for(count), kThreads, 0, as_stream(stream)>>>(ids, positions, count, out);
  return last_error();
}
