/* The C ABI of the native backend's CUDA kernels. No torch headers: every function takes raw
 * device pointers, sizes, strides (in elements), dtype codes and the cudaStream_t to run on
 * (passed as void*, e.g. torch.cuda.current_stream().cuda_stream), and returns a cudaError_t
 * (0 on success). Ids are flattened to contiguous int64 first (es_flatten_ids); tables are
 * (rows, dim) with strides (s0, s1). Every function only enqueues work on the stream. */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Table dtypes. */
enum { ES_FLOAT32 = 0, ES_FLOAT64 = 1, ES_FLOAT16 = 2, ES_BFLOAT16 = 3 };
/* Id dtypes. */
enum { ES_INT32 = 0, ES_INT64 = 1 };
/* Most dimensions of an id tensor. */
enum { ES_MAX_DIMS = 8 };

/* out[i] = ids at row-major position i of a (sizes, strides) view, as int64. */
int es_flatten_ids(const void* ids, int id_dtype, int ndim, const int64_t* sizes,
                   const int64_t* strides, int64_t n, int64_t* out, void* stream);

/* range[0] = min, range[1] = max of ids (device memory; INT64_MAX / INT64_MIN when n = 0). */
int es_id_range(const int64_t* ids, int64_t n, int64_t* range, void* stream);

/* out (n, dim) contiguous = table rows ids[i]; a negative id gives a zero row. */
int es_gather(const void* table, int dtype, int64_t dim, int64_t s0, int64_t s1,
              const int64_t* ids, int64_t n, void* out, void* stream);

/* The dense (rows, dim) gradient of a contiguous (n, dim) grad at ids (S1.3, S1.5): each row
 * summed in input order (stable radix sort), float32 accumulation for half types, padding row
 * and unreferenced rows zero; negative ids contribute nothing. padding_idx < 0: none. */
int es_dense_backward(const void* grad, int dtype, const int64_t* ids, int64_t n, int64_t rows,
                      int64_t dim, int64_t padding_idx, int scale_grad_by_freq, void* out,
                      void* stream);

/* The positions whose id is not padding_idx, in order, into kept (n entries of room);
 * their number into *count (device memory). */
int es_select_positions(const int64_t* ids, int64_t n, int64_t padding_idx, int64_t* kept,
                        int64_t* count, void* stream);

/* out[k] = ids[positions[k]]. */
int es_take_ids(const int64_t* ids, const int64_t* positions, int64_t count, int64_t* out,
                void* stream);

/* max_norm renorm in place of the distinct rows of ids (S1.2; rounding 1: the norm from
 * float64 terms, S4.4). Ids must already be checked. */
int es_renorm(void* table, int dtype, int64_t rows, int64_t dim, int64_t s0, int64_t s1,
              const int64_t* ids, int64_t n, double max_norm, double norm_type, int rounding,
              void* stream);

/* terms[k] = sum |w|^p (max |w| for p = inf) of row rows_[k], in float64. */
int es_norm_terms(const void* table, int dtype, int64_t dim, int64_t s0, int64_t s1,
                  const int64_t* rows_, int64_t count, double norm_type, double* terms,
                  void* stream);

/* Row rows_[k] *= factors[k] rounded to the table's dtype. */
int es_scale_rows(void* table, int dtype, int64_t dim, int64_t s0, int64_t s1,
                  const int64_t* rows_, int64_t count, const double* factors, void* stream);

/* One vocab-parallel rank's local row of each id (S3.4), -1 where it is not this rank's. */
int es_vocab_rows(const int64_t* ids, int64_t n, int64_t org_start, int64_t org_end,
                  int64_t num_org_padding, int64_t added_start, int64_t added_end,
                  int64_t* rows_, void* stream);

#ifdef __cplusplus
}
#endif
