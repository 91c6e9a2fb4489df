// Shared pieces of the native CPU kernels: dtype dispatch, accumulation types, reading ids of
// any dtype and strides, and the S0.3 range check that every entry point runs before it
// writes anything.
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace embedspec {

// Asks for transparent huge pages on a fresh, untouched buffer of at least 4 MiB, so writing
// it first faults in 2 MiB pages instead of 4 KiB ones (where THP is "madvise" only, the
// page faults of a fresh gradient otherwise cost more than the kernel). Only a hint.
inline void advise_huge_pages(void* data, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t{1} << 21;
  if (bytes < (size_t{4} << 20)) return;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

// The padding_idx argument of the ops: a row of the table, or this for "no padding row".
constexpr int64_t kNoPadding = -1;

// Accumulation type: double for double, float for float, half and bfloat16.
template <typename T>
struct Acc {
  using type = float;
};
template <>
struct Acc<double> {
  using type = double;
};

#define EMBEDSPEC_DISPATCH_FLOATS(TYPE, NAME, ...) \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, TYPE, NAME, __VA_ARGS__)

inline void check_index_dtype(const at::Tensor& ids, const char* name) {
  TORCH_CHECK_TYPE(ids.scalar_type() == at::kLong || ids.scalar_type() == at::kInt, name,
                   " must be an int32 or int64 tensor, got ", ids.scalar_type());
}

inline void check_table(const at::Tensor& weight, const char* name) {
  TORCH_CHECK_VALUE(weight.dim() == 2 && at::isFloatingType(weight.scalar_type()), name,
                    " must be a 2-D floating tensor, got ", weight.dim(), "-D ",
                    weight.scalar_type());
}

// Copies the ids of a tensor of any shape and strides, in row-major order of its shape.
template <typename index_t>
void copy_strided_ids(const at::Tensor& ids, int64_t* out) {
  const index_t* base = ids.const_data_ptr<index_t>();
  const int64_t n = ids.numel();
  const int64_t dims = ids.dim();
  const auto sizes = ids.sizes();
  const auto strides = ids.strides();
  at::parallel_for(0, n, 8192, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> index(dims);
    int64_t rest = begin;
    int64_t offset = 0;
    for (int64_t d = dims - 1; d >= 0; --d) {
      index[d] = rest % sizes[d];
      rest /= sizes[d];
      offset += index[d] * strides[d];
    }
    for (int64_t i = begin; i < end; ++i) {
      out[i] = static_cast<int64_t>(base[offset]);
      for (int64_t d = dims - 1; d >= 0; --d) {
        offset += strides[d];
        if (++index[d] < sizes[d]) break;
        offset -= strides[d] * sizes[d];
        index[d] = 0;
      }
    }
  });
}

// The ids as a flat int64 tensor in row-major order: a view when they already are one,
// otherwise a copy that honours every stride.
inline at::Tensor flat_ids(const at::Tensor& ids) {
  if (ids.scalar_type() == at::kLong && ids.is_contiguous()) return ids.reshape({-1});
  at::Tensor out = at::empty({ids.numel()}, ids.options().dtype(at::kLong));
  AT_DISPATCH_INDEX_TYPES(ids.scalar_type(), "embedspec_flat_ids", [&] {
    copy_strided_ids<index_t>(ids, out.mutable_data_ptr<int64_t>());
  });
  return out;
}

struct IdRange {
  int64_t lo;
  int64_t hi;
};

// IndexError (S0.3) unless every id lies in [0, num_valid); reports the smallest id when
// it is negative, else the largest, as the eager backend does.
inline void check_ids_in_range(const int64_t* ids, int64_t n, int64_t num_valid,
                               const char* name) {
  if (n == 0) return;
  const IdRange all = at::parallel_reduce(
      0, n, 1 << 15,
      IdRange{std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()},
      [&](int64_t begin, int64_t end, IdRange range) {
        for (int64_t i = begin; i < end; ++i) {
          range.lo = std::min(range.lo, ids[i]);
          range.hi = std::max(range.hi, ids[i]);
        }
        return range;
      },
      [](IdRange a, IdRange b) { return IdRange{std::min(a.lo, b.lo), std::max(a.hi, b.hi)}; });
  if (all.lo < 0 || all.hi >= num_valid) {
    const int64_t bad = all.lo < 0 ? all.lo : all.hi;
    TORCH_CHECK_INDEX(false, name, " holds id ", bad, ", outside the valid range [0, ",
                      num_valid, ")");
  }
}

// The shape of a lookup's output: the ids' shape followed by the embedding dimension.
inline std::vector<int64_t> output_shape(const at::Tensor& ids, int64_t dim) {
  std::vector<int64_t> shape(ids.sizes().begin(), ids.sizes().end());
  shape.push_back(dim);
  return shape;
}

// Positions per row: a stable counting sort of the ids (ids < 0 are left out), so each
// row lists its positions in input order. offsets has V + 1 entries.
struct RowPositions {
  std::vector<int64_t> offsets;
  std::vector<int64_t> positions;
  int64_t distinct = 0;  // rows with at least one position

  RowPositions(const int64_t* ids, int64_t n, int64_t rows) : offsets(rows + 1, 0) {
    for (int64_t i = 0; i < n; ++i) {
      if (ids[i] >= 0) ++offsets[ids[i] + 1];
    }
    for (int64_t r = 0; r < rows; ++r) {
      distinct += offsets[r + 1] > 0;
      offsets[r + 1] += offsets[r];
    }
    positions.resize(offsets[rows]);
    std::vector<int64_t> cursor(offsets.begin(), offsets.end() - 1);
    for (int64_t i = 0; i < n; ++i) {
      if (ids[i] >= 0) positions[cursor[ids[i]]++] = i;
    }
  }

  int64_t count(int64_t row) const { return offsets[row + 1] - offsets[row]; }
};

// Rows per parallel task so that each task moves about 64 KiB.
inline int64_t row_grain(int64_t dim, int64_t element_size) {
  return std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, dim * element_size));
}

}  // namespace embedspec
