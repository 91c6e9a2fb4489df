// Copying gathered rows at memory bandwidth: rows fetched far enough ahead that a random
// row's cache misses and TLB walk overlap the copies before it, and, for outputs too large
// to stay in cache, non-temporal stores (no read-for-ownership of the output lines).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace embedspec {

// Outputs of at least this many bytes are written with non-temporal stores.
constexpr int64_t kStreamingBytes = int64_t{16} << 20;
// How far ahead rows are prefetched, in bytes of rows.
constexpr int64_t kPrefetchBytes = int64_t{48} << 10;

// Rows between a row's prefetch and its copy.
inline int64_t prefetch_distance(int64_t row_bytes) {
  return std::clamp<int64_t>(kPrefetchBytes / std::max<int64_t>(1, row_bytes), 4, 256);
}

// Prefetches every cache line of a row into the outer cache levels.
inline void prefetch_bytes(const void* begin, int64_t bytes) {
  const char* p = static_cast<const char*>(begin);
  for (int64_t b = 0; b < bytes; b += 64) __builtin_prefetch(p + b, 0, 1);
}

// Whether rows of row_bytes can be streamed into dst (16-byte aligned rows).
inline bool can_stream(const void* dst, int64_t row_bytes, int64_t total_bytes) {
#if defined(__SSE2__)
  return total_bytes >= kStreamingBytes && row_bytes % 16 == 0 &&
         reinterpret_cast<uintptr_t>(dst) % 16 == 0;
#else
  (void)dst;
  (void)row_bytes;
  (void)total_bytes;
  return false;
#endif
}

// Copies bytes (a multiple of 16; dst 16-byte aligned) with non-temporal stores. The
// caller ends its run of streamed rows with stream_fence().
inline void stream_copy(void* dst, const void* src, int64_t bytes) {
#if defined(__SSE2__)
  auto* d = static_cast<__m128i*>(dst);
  const auto* s = static_cast<const __m128i*>(src);
  int64_t k = 0;
  for (; k + 4 <= bytes / 16; k += 4) {
    const __m128i a = _mm_loadu_si128(s + k);
    const __m128i b = _mm_loadu_si128(s + k + 1);
    const __m128i c = _mm_loadu_si128(s + k + 2);
    const __m128i e = _mm_loadu_si128(s + k + 3);
    _mm_stream_si128(d + k, a);
    _mm_stream_si128(d + k + 1, b);
    _mm_stream_si128(d + k + 2, c);
    _mm_stream_si128(d + k + 3, e);
  }
  for (; k < bytes / 16; ++k) _mm_stream_si128(d + k, _mm_loadu_si128(s + k));
#else
  std::memcpy(dst, src, bytes);
#endif
}

inline void stream_fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

}  // namespace embedspec
