// Fresh tables whose memory the operating system hands out already zero. An anonymous
// mapping reads as zeros until it is written, and a page is only backed (and zeroed by
// the kernel) when it is first touched, so a (V, D) gradient of which a batch references
// a few rows costs the faults of the pages those rows lie on, not a pass over V * D.
// Unwritten pages read as the kernel's shared zero page. The mapping is released with the
// tensor's storage.
#pragma once

#include <ATen/EmptyTensor.h>
#include <c10/core/Allocator.h>

#include <memory>

#include "common.h"

namespace embedspec {

// Tables of at least this many bytes come from their own mapping.
constexpr int64_t kZeroPagesBytes = int64_t{1} << 20;

#if defined(__linux__)
class ZeroPagesAllocator final : public c10::Allocator {
 public:
  // Where transparent huge pages are "always", writing one row would fault in (and zero) a
  // whole 2 MiB page: the mapping asks for 4 KiB pages.
  c10::DataPtr allocate(size_t bytes) override {
    if (bytes == 0) return {nullptr, nullptr, &release, c10::Device(c10::DeviceType::CPU)};
    auto mapping = std::make_unique<Mapping>(Mapping{nullptr, bytes});
    mapping->data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                         -1, 0);
    TORCH_CHECK(mapping->data != MAP_FAILED, "embedspec: cannot map ", bytes,
                " bytes for a gradient");
#if defined(MADV_NOHUGEPAGE)
    madvise(mapping->data, bytes, MADV_NOHUGEPAGE);
#endif
    void* data = mapping->data;
    return {data, mapping.release(), &release, c10::Device(c10::DeviceType::CPU)};
  }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }

 private:
  struct Mapping {
    void* data;
    size_t bytes;
  };

  static void release(void* context) {
    if (context == nullptr) return;
    auto* mapping = static_cast<Mapping*>(context);
    munmap(mapping->data, mapping->bytes);
    delete mapping;
  }
};
#endif

// A (rows, dim) CPU table of options' dtype that reads as zeros, from its own mapping, when
// it is large enough for the mapping to pay (kZeroPagesBytes) and the platform has one;
// otherwise an undefined tensor, and the caller zeroes a table of its own.
inline at::Tensor zero_pages_table(int64_t rows, int64_t dim, const at::TensorOptions& options) {
#if defined(__linux__)
  const int64_t bytes = rows * dim * static_cast<int64_t>(options.dtype().itemsize());
  if (options.device().is_cpu() && bytes >= kZeroPagesBytes) {
    static ZeroPagesAllocator allocator;
    return at::detail::empty_generic({rows, dim}, &allocator,
                                     c10::DispatchKeySet(c10::DispatchKey::CPU),
                                     options.dtype().toScalarType(), std::nullopt);
  }
#endif
  (void)rows;
  (void)dim;
  (void)options;
  return at::Tensor();
}

}  // namespace embedspec
