// The dense weight gradient (S1.3, S1.5), deterministic: a stable radix sort of (id, position)
// groups each row's positions in input order, integer counts and a scan give each row's
// segment, and one thread per (row, column) sums its segment in order. Rows without positions
// and the padding row are written as zeros in the same pass.
#include <cub/cub.cuh>
#include <thrust/iterator/counting_iterator.h>

#include "common.cuh"

namespace embedspec_cuda {
namespace {

__global__ void iota_kernel(int64_t n, int64_t* out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    out[i] = i;
  }
}

// counts[r] = occurrences of row r; counts[rows] = number of negative ids (sorted first).
__global__ void count_kernel(const int64_t* ids, int64_t n, int64_t rows,
                             unsigned long long* counts) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    atomicAdd(counts + (ids[i] < 0 ? rows : ids[i]), 1ull);
  }
}

template <typename T>
__global__ void accumulate_kernel(const T* grad, const int64_t* positions,
                                  const unsigned long long* offsets,
                                  const unsigned long long* counts, int64_t rows, int64_t dim,
                                  int64_t padding_idx, int scale, T* out) {
  using acc_t = typename Traits<T>::acc;
  const unsigned long long skipped = counts[rows];
  const int64_t total = rows * dim;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = e / dim;
    const int64_t c = e - r * dim;
    acc_t acc = 0;
    if (r != padding_idx) {
      const unsigned long long first = skipped + offsets[r];
      const unsigned long long last = first + counts[r];
      const acc_t count = static_cast<acc_t>(counts[r]);
      for (unsigned long long k = first; k < last; ++k) {
        const acc_t g = Traits<T>::to_acc(grad[positions[k] * dim + c]);
        acc += scale ? g / count : g;
      }
    }
    out[e] = Traits<T>::from_acc(acc);
  }
}

// Device scratch of one call, released on the stream when the call's work is done.
struct Scratch {
  cudaStream_t stream;
  void* memory = nullptr;

  Scratch(size_t bytes, cudaStream_t s) : stream(s) { cudaMallocAsync(&memory, bytes, s); }
  ~Scratch() {
    if (memory) cudaFreeAsync(memory, stream);
  }
  template <typename T>
  T* at(size_t byte_offset) const {
    return reinterpret_cast<T*>(static_cast<char*>(memory) + byte_offset);
  }
};

size_t aligned(size_t bytes) { return (bytes + 255) / 256 * 256; }

}  // namespace
}  // namespace embedspec_cuda

using namespace embedspec_cuda;

extern "C" int es_dense_backward(const void* grad, int dtype, const int64_t* ids, int64_t n,
                                 int64_t rows, int64_t dim, int64_t padding_idx,
                                 int scale_grad_by_freq, void* out, void* stream) {
  cudaStream_t s = as_stream(stream);
  if (rows == 0 || dim == 0) return 0;
  size_t sort_bytes = 0;
  size_t scan_bytes = 0;
  cub::DeviceRadixSort::SortPairs(nullptr, sort_bytes, ids, static_cast<int64_t*>(nullptr),
                                  static_cast<int64_t*>(nullptr), static_cast<int64_t*>(nullptr),
                                  n, 0, 64, s);
  cub::DeviceScan::ExclusiveSum(nullptr, scan_bytes, static_cast<unsigned long long*>(nullptr),
                                static_cast<unsigned long long*>(nullptr), rows, s);
  const size_t ids_bytes = aligned(sizeof(int64_t) * (n > 0 ? n : 1));
  const size_t counts_bytes = aligned(sizeof(unsigned long long) * (rows + 1));
  const size_t temp_bytes = aligned(sort_bytes > scan_bytes ? sort_bytes : scan_bytes);
  // layout: sorted ids | positions in | positions out | counts | offsets | cub temp
  Scratch scratch(3 * ids_bytes + 2 * counts_bytes + temp_bytes, s);
  if (!scratch.memory) return last_error();
  int64_t* sorted = scratch.at<int64_t>(0);
  int64_t* positions_in = scratch.at<int64_t>(ids_bytes);
  int64_t* positions = scratch.at<int64_t>(2 * ids_bytes);
  auto* counts = scratch.at<unsigned long long>(3 * ids_bytes);
  auto* offsets = scratch.at<unsigned long long>(3 * ids_bytes + counts_bytes);
  void* temp = scratch.at<void>(3 * ids_bytes + 2 * counts_bytes);
  cudaMemsetAsync(counts, 0, sizeof(unsigned long long) * (rows + 1), s);
  if (n > 0) {
    iota_kernel<<<blocks_for(n), kThreads, 0, s>>>(n, positions_in);
    cub::DeviceRadixSort::SortPairs(temp, sort_bytes, ids, sorted, positions_in, positions, n,
                                    0, 64, s);
    count_kernel<<<blocks_for(n), kThreads, 0, s>>>(ids, n, rows, counts);
  }
  cub::DeviceScan::ExclusiveSum(temp, scan_bytes, counts, offsets, rows, s);
  return dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    accumulate_kernel<T><<<blocks_for(rows * dim), kThreads, 0, s>>>(
        static_cast<const T*>(grad), positions, offsets, counts, rows, dim, padding_idx,
        scale_grad_by_freq, static_cast<T*>(out));
    return last_error();
  });
}

namespace embedspec_cuda {
namespace {

struct NotPadding {
  const int64_t* ids;
  int64_t padding_idx;
  __device__ bool operator()(int64_t position) const { return ids[position] != padding_idx; }
};

}  // namespace
}  // namespace embedspec_cuda

extern "C" int es_select_positions(const int64_t* ids, int64_t n, int64_t padding_idx,
                                   int64_t* kept, int64_t* count, void* stream) {
  cudaStream_t s = as_stream(stream);
  if (n == 0) return static_cast<int>(cudaMemsetAsync(count, 0, sizeof(int64_t), s));
  thrust::counting_iterator<int64_t> positions(0);
  size_t temp_bytes = 0;
  NotPadding keep{ids, padding_idx};
  cub::DeviceSelect::If(nullptr, temp_bytes, positions, kept, count, n, keep, s);
  Scratch scratch(aligned(temp_bytes), s);
  if (!scratch.memory) return last_error();
  cub::DeviceSelect::If(scratch.memory, temp_bytes, positions, kept, count, n, keep, s);
  return last_error();
}
