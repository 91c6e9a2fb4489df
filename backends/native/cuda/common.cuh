// Device-side helpers of the CUDA kernels: dtype traits and dispatch, launch sizes.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "embedspec_cuda.h"

namespace embedspec_cuda {

template <typename T>
struct Traits;

template <>
struct Traits<float> {
  using acc = float;
  static __device__ float to_acc(float x) { return x; }
  static __device__ float from_acc(float x) { return x; }
  static __device__ float from_double(double x) { return static_cast<float>(x); }
};

template <>
struct Traits<double> {
  using acc = double;
  static __device__ double to_acc(double x) { return x; }
  static __device__ double from_acc(double x) { return x; }
  static __device__ double from_double(double x) { return x; }
};

template <>
struct Traits<__half> {
  using acc = float;
  static __device__ float to_acc(__half x) { return __half2float(x); }
  static __device__ __half from_acc(float x) { return __float2half_rn(x); }
  static __device__ __half from_double(double x) { return __double2half(x); }
};

template <>
struct Traits<__nv_bfloat16> {
  using acc = float;
  static __device__ float to_acc(__nv_bfloat16 x) { return __bfloat162float(x); }
  static __device__ __nv_bfloat16 from_acc(float x) { return __float2bfloat16_rn(x); }
  static __device__ __nv_bfloat16 from_double(double x) { return __double2bfloat16(x); }
};

// Calls f(T{}) with T the C++ type of a table dtype code; cudaErrorInvalidValue otherwise.
template <typename F>
int dispatch(int dtype, F&& f) {
  switch (dtype) {
    case ES_FLOAT32: return f(float{});
    case ES_FLOAT64: return f(double{});
    case ES_FLOAT16: return f(__half{});
    case ES_BFLOAT16: return f(__nv_bfloat16{});
    default: return cudaErrorInvalidValue;
  }
}

inline cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

inline int last_error() { return static_cast<int>(cudaGetLastError()); }

constexpr int kThreads = 256;

inline unsigned blocks_for(int64_t work) {
  const int64_t blocks = (work + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 65535 * 32 ? 65535 * 32 : blocks));
}

}  // namespace embedspec_cuda
