// embedspec::lookup: the forward gather, with its C++ autograd kernel (lookup_autograd.h)
// whose backward runs the ops of backward.cpp.
#include "gather.h"
#include "lookup_autograd.h"

namespace embedspec {
namespace {

at::Tensor lookup(const at::Tensor& weight, const at::Tensor& ids, int64_t /*padding_idx*/,
                  bool /*scale_grad_by_freq*/, bool /*sparse*/) {
  return lookup_forward<ExactLookup>(weight, ids);
}

// The gather into a preallocated contiguous (ids.numel(), D) output of the weight's dtype.
void lookup_out(const at::Tensor& weight, const at::Tensor& ids, at::Tensor out) {
  check_table(weight, "weight");
  check_index_dtype(ids, "input");
  TORCH_CHECK_VALUE(out.is_contiguous() && out.scalar_type() == weight.scalar_type() &&
                        out.numel() == ids.numel() * weight.size(1),
                    "out must be a contiguous tensor of ids.numel() * D elements of the "
                    "weight's dtype");
  const at::Tensor flat = ExactLookup::ids(ids);
  check_ids_in_range(flat.const_data_ptr<int64_t>(), flat.numel(), weight.size(0), "input");
  EMBEDSPEC_DISPATCH_FLOATS(weight.scalar_type(), "embedspec_lookup_out", [&] {
    gather_rows<ExactLookup, scalar_t>(weight, flat.const_data_ptr<int64_t>(), flat.numel(),
                                       out.mutable_data_ptr<scalar_t>());
  });
}

struct LookupName {
  static constexpr const char* qualname = "embedspec::lookup";
};

}  // namespace

TORCH_LIBRARY_FRAGMENT(embedspec, m) {
  m.def("lookup(Tensor weight, Tensor ids, int padding_idx, bool scale_grad_by_freq, "
        "bool sparse) -> Tensor");
  m.def("lookup_out(Tensor weight, Tensor ids, Tensor(a!) out) -> ()");
}

TORCH_LIBRARY_IMPL(embedspec, CPU, m) {
  m.impl("lookup", &lookup);
  m.impl("lookup_out", &lookup_out);
}

TORCH_LIBRARY_IMPL(embedspec, Autograd, m) {
  m.impl("lookup", &lookup_autograd<LookupName>);
}

}  // namespace embedspec
