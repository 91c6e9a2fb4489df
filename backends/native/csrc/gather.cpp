// embedspec::lookup: the forward gather. Its backward (dense or sparse) is registered from
// Python (torch.library.register_autograd) and runs the ops of backward.cpp.
#include "gather.h"

namespace embedspec {
namespace {

at::Tensor lookup(const at::Tensor& weight, const at::Tensor& ids, int64_t /*padding_idx*/,
                  bool /*scale_grad_by_freq*/, bool /*sparse*/) {
  return lookup_forward<ExactLookup>(weight, ids);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(embedspec, m) {
  m.def("lookup(Tensor weight, Tensor ids, int padding_idx, bool scale_grad_by_freq, "
        "bool sparse) -> Tensor");
}

TORCH_LIBRARY_IMPL(embedspec, CPU, m) { m.impl("lookup", &lookup); }

}  // namespace embedspec
