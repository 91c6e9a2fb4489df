// max_norm renorm (S1.2, S4.4) and the column-shard kernels norm_terms and scale_rows: one
// block per row, a fixed-shape tree reduction (deterministic), the factor in float64 rounded
// to the table's dtype, each product rounded to it.
#include <cmath>

#include "common.cuh"

namespace embedspec_cuda {
namespace {

template <typename acc_t>
__device__ acc_t norm_term(acc_t a, double p) {
  if (p == 1.0) return a;
  if (p == 2.0) return a * a;
  return static_cast<acc_t>(pow(static_cast<double>(a), p));
}

// The block's reduction of one value per thread: sum, or max for p = inf.
template <typename acc_t>
__device__ acc_t block_reduce(acc_t value, bool take_max) {
  __shared__ acc_t shared[kThreads];
  shared[threadIdx.x] = value;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      const acc_t other = shared[threadIdx.x + half];
      shared[threadIdx.x] = take_max ? max(shared[threadIdx.x], other)
                                     : shared[threadIdx.x] + other;
    }
    __syncthreads();
  }
  const acc_t total = shared[0];
  __syncthreads();
  return total;
}

// sum |w|^p (max |w| for inf) of one row in acc_t, by the whole block.
template <typename T, typename acc_t>
__device__ acc_t row_terms(const T* w, int64_t dim, int64_t s1, double p) {
  const bool inf = isinf(p);
  acc_t local = 0;
  for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) {
    const acc_t a = static_cast<acc_t>(fabs(static_cast<double>(Traits<T>::to_acc(w[c * s1]))));
    local = inf ? max(local, a) : local + norm_term(a, p);
  }
  return block_reduce<acc_t>(local, inf);
}

__device__ double root(double terms, double p) {
  if (isinf(p) || p == 1.0) return terms;
  if (p == 2.0) return sqrt(terms);
  return pow(terms, 1.0 / p);
}

__global__ void mark_kernel(const int64_t* ids, int64_t n, unsigned char* seen) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    seen[ids[i]] = 1;
  }
}

template <typename T>
__device__ void scale_row(T* w, int64_t dim, int64_t s1, T factor) {
  using acc_t = typename Traits<T>::acc;
  const acc_t f = Traits<T>::to_acc(factor);
  for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) {
    w[c * s1] = Traits<T>::from_acc(Traits<T>::to_acc(w[c * s1]) * f);
  }
}

// One block per table row; rows not marked are skipped. rounding 0: the norm is reduced in
// the accumulation type and rounded to T (S1.2); 1: float64 terms, rounded to T (S4.4).
template <typename T>
__global__ void renorm_kernel(T* table, int64_t rows, int64_t dim, int64_t s0, int64_t s1,
                              const unsigned char* seen, double max_norm, double p,
                              int rounding) {
  using acc_t = typename Traits<T>::acc;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    if (!seen[r]) continue;
    T* w = table + r * s0;
    double norm;
    if (rounding == 0) {
      const acc_t terms = row_terms<T, acc_t>(w, dim, s1, p);
      norm = static_cast<double>(Traits<T>::to_acc(Traits<T>::from_acc(
          static_cast<acc_t>(root(static_cast<double>(terms), p)))));
    } else {
      const double terms = row_terms<T, double>(w, dim, s1, p);
      norm = static_cast<double>(Traits<T>::to_acc(Traits<T>::from_double(root(terms, p))));
    }
    if (norm > max_norm) scale_row(w, dim, s1, Traits<T>::from_double(max_norm / (norm + 1e-7)));
  }
}

template <typename T>
__global__ void norm_terms_kernel(const T* table, int64_t dim, int64_t s0, int64_t s1,
                                  const int64_t* rows, int64_t count, double p, double* terms) {
  for (int64_t k = blockIdx.x; k < count; k += gridDim.x) {
    const double total = row_terms<T, double>(table + rows[k] * s0, dim, s1, p);
    if (threadIdx.x == 0) terms[k] = total;
  }
}

template <typename T>
__global__ void scale_rows_kernel(T* table, int64_t dim, int64_t s0, int64_t s1,
                                  const int64_t* rows, int64_t count, const double* factors) {
  for (int64_t k = blockIdx.x; k < count; k += gridDim.x) {
    scale_row(table + rows[k] * s0, dim, s1, Traits<T>::from_double(factors[k]));
  }
}

unsigned row_blocks(int64_t rows) {
  return static_cast<unsigned>(rows < 1 ? 1 : (rows > 65535 ? 65535 : rows));
}

}  // namespace
}  // namespace embedspec_cuda

using namespace embedspec_cuda;

extern "C" int es_renorm(void* table, int dtype, int64_t rows, int64_t dim, int64_t s0,
                         int64_t s1, const int64_t* ids, int64_t n, double max_norm,
                         double norm_type, int rounding, void* stream) {
  cudaStream_t s = as_stream(stream);
  if (n == 0 || rows == 0) return 0;
  unsigned char* seen = nullptr;
  if (cudaMallocAsync(reinterpret_cast<void**>(&seen), rows, s) != cudaSuccess) {
    return last_error();
  }
  cudaMemsetAsync(seen, 0, rows, s);
  mark_kernel<<<blocks_for(n), kThreads, 0, s>>>(ids, n, seen);
  const int status = dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    renorm_kernel<T><<<row_blocks(rows), kThreads, 0, s>>>(
        static_cast<T*>(table), rows, dim, s0, s1, seen, max_norm, norm_type, rounding);
    return last_error();
  });
  cudaFreeAsync(seen, s);
  return status;
}

extern "C" int es_norm_terms(const void* table, int dtype, int64_t dim, int64_t s0, int64_t s1,
                             const int64_t* rows, int64_t count, double norm_type,
                             double* terms, void* stream) {
  if (count == 0) return 0;
  return dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    norm_terms_kernel<T><<<row_blocks(count), kThreads, 0, as_stream(stream)>>>(
        static_cast<const T*>(table), dim, s0, s1, rows, count, norm_type, terms);
    return last_error();
  });
}

extern "C" int es_scale_rows(void* table, int dtype, int64_t dim, int64_t s0, int64_t s1,
                             const int64_t* rows, int64_t count, const double* factors,
                             void* stream) {
  if (count == 0) return 0;
  return dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    scale_rows_kernel<T><<<row_blocks(count), kThreads, 0, as_stream(stream)>>>(
        static_cast<T*>(table), dim, s0, s1, rows, count, factors);
    return last_error();
  });
}
