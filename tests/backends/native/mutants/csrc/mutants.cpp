// Deliberately wrong variants of native kernels, each breaking one rule of the spec. They
// reuse the real kernels with a different policy, so each differs only in the rule it breaks.
#include "gather.h"
#include "lookup_autograd.h"
#include "renorm.h"

namespace embedspec {
namespace {

// Off-by-one bounds check: the id V passes (S0.3 says IndexError). It is then read as row
// V - 1, which keeps the mutant memory-safe; what the suite must catch is the missing error.
struct OffByOneBounds : ExactLookup {
  static int64_t num_valid(int64_t rows) { return rows + 1; }
  static int64_t row(int64_t id, int64_t rows) { return std::min(id, rows - 1); }
};

// Ids read as if contiguous: the strides of a transposed or sliced index tensor are ignored
// (S0.1). Reads stay inside the ids' storage.
struct IgnoredStrides : ExactLookup {
  static at::Tensor ids(const at::Tensor& ids) {
    const int64_t n = ids.numel();
    const int64_t available =
        static_cast<int64_t>(ids.storage().nbytes() / ids.element_size()) - ids.storage_offset();
    at::Tensor out = at::empty({n}, ids.options().dtype(at::kLong));
    int64_t* dst = out.mutable_data_ptr<int64_t>();
    AT_DISPATCH_INDEX_TYPES(ids.scalar_type(), "mutant_ignored_strides", [&] {
      const index_t* src = ids.const_data_ptr<index_t>();
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<int64_t>(src[std::min(i, available - 1)]);
    });
    return out;
  }
};

// The renorm factor rounded to bfloat16 instead of the weight's dtype (S1.2).
struct Bfloat16Factor {
  template <typename scalar_t>
  static scalar_t factor(double max_norm, double norm) {
    return static_cast<scalar_t>(static_cast<float>(c10::BFloat16(max_norm / (norm + 1e-7))));
  }
};

at::Tensor lookup_off_by_one(const at::Tensor& weight, const at::Tensor& ids, int64_t, bool,
                             bool) {
  return lookup_forward<OffByOneBounds>(weight, ids);
}

at::Tensor lookup_ignoring_strides(const at::Tensor& weight, const at::Tensor& ids, int64_t,
                                   bool, bool) {
  return lookup_forward<IgnoredStrides>(weight, ids);
}

void renorm_bfloat16_factor_(at::Tensor weight, const at::Tensor& ids, double max_norm,
                             double norm_type, int64_t rounding) {
  renorm_rows<Bfloat16Factor>(weight, ids, max_norm, norm_type, rounding);
}

struct OffByOneName {
  static constexpr const char* qualname = "embedspec_mutants::lookup_off_by_one";
};
struct IgnoringStridesName {
  static constexpr const char* qualname = "embedspec_mutants::lookup_ignoring_strides";
};

}  // namespace

TORCH_LIBRARY(embedspec_mutants, m) {
  const char* lookup_args =
      "(Tensor weight, Tensor ids, int padding_idx, bool scale_grad_by_freq, bool sparse) "
      "-> Tensor";
  m.def((std::string("lookup_off_by_one") + lookup_args).c_str());
  m.def((std::string("lookup_ignoring_strides") + lookup_args).c_str());
  m.def("renorm_bfloat16_factor_(Tensor(a!) weight, Tensor ids, float max_norm, "
        "float norm_type, int rounding) -> ()");
}

TORCH_LIBRARY_IMPL(embedspec_mutants, CPU, m) {
  m.impl("lookup_off_by_one", &lookup_off_by_one);
  m.impl("lookup_ignoring_strides", &lookup_ignoring_strides);
  m.impl("renorm_bfloat16_factor_", &renorm_bfloat16_factor_);
}

TORCH_LIBRARY_IMPL(embedspec_mutants, Autograd, m) {
  m.impl("lookup_off_by_one", &lookup_autograd<OffByOneName>);
  m.impl("lookup_ignoring_strides", &lookup_autograd<IgnoringStridesName>);
}

}  // namespace embedspec
