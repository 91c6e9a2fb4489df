// embedspec::renorm_, embedspec::norm_terms and embedspec::scale_rows_.
#include "renorm.h"

namespace embedspec {
namespace {

void renorm_(at::Tensor weight, const at::Tensor& ids, double max_norm, double norm_type,
             int64_t rounding) {
  TORCH_CHECK_VALUE(rounding == kWeightDtypeNorm || rounding == kFloat64Terms,
                    "rounding must be 0 (weight dtype) or 1 (float64 terms), got ", rounding);
  renorm_rows<ExactFactor>(weight, ids, max_norm, norm_type, rounding);
}

at::Tensor norm_terms_op(const at::Tensor& weight, const at::Tensor& rows, double norm_type) {
  check_table(weight, "weight");
  check_index_dtype(rows, "rows");
  return norm_terms(weight, rows, norm_type);
}

// factors (any floating dtype, one per row) are cast to the weight's dtype first.
void scale_rows_(at::Tensor weight, const at::Tensor& rows, const at::Tensor& factors) {
  check_table(weight, "weight");
  check_index_dtype(rows, "rows");
  TORCH_CHECK_VALUE(factors.numel() == rows.numel(), "factors must have one entry per row");
  const at::Tensor flat = flat_ids(rows);
  const at::Tensor cast = factors.reshape({-1}).to(weight.scalar_type()).contiguous();
  EMBEDSPEC_DISPATCH_FLOATS(weight.scalar_type(), "embedspec_scale_rows", [&] {
    scale_rows<scalar_t>(weight, flat.const_data_ptr<int64_t>(), cast.const_data_ptr<scalar_t>(),
                         flat.numel());
  });
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(embedspec, m) {
  m.def("renorm_(Tensor(a!) weight, Tensor ids, float max_norm, float norm_type, "
        "int rounding) -> ()");
  m.def("norm_terms(Tensor weight, Tensor rows, float norm_type) -> Tensor");
  m.def("scale_rows_(Tensor(a!) weight, Tensor rows, Tensor factors) -> ()");
}

TORCH_LIBRARY_IMPL(embedspec, CPU, m) {
  m.impl("renorm_", &renorm_);
  m.impl("norm_terms", &norm_terms_op);
  m.impl("scale_rows_", &scale_rows_);
}

}  // namespace embedspec
