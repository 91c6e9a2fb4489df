// The binary family (S5): LSB-first packing, the latent-path forward (packing only the
// referenced rows, fused with the unpack), the packed-table forward and the straight-through
// backward.
#include <ATen/ops/sum.h>

#include <cmath>

#include "backward.h"

namespace embedspec {
namespace {

template <typename T>
struct AccDouble {
  using type = double;
};

// The centring mean m of S5 (float64 mean of every stored entry, 0 for an empty table),
// computed as the eager backend computes it.
double table_centre(const at::Tensor& weight) {
  if (weight.numel() == 0) return 0.0;
  return at::sum(weight, at::kDouble).item<double>() / static_cast<double>(weight.numel());
}

// A contiguous latent row's bits, eight entries per byte, and the float64 sum of |w - m|
// (m = 0 without centring) in eight partial sums, so both vectorise.
template <bool Centre, typename scalar_t>
double pack_contiguous(const scalar_t* w, int64_t dim, double m, uint8_t* bytes) {
  double part[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  const int64_t full = dim / 8;
  for (int64_t j = 0; j < full; ++j) {
    unsigned byte = 0;
    for (int k = 0; k < 8; ++k) {
      const double shifted = static_cast<double>(w[8 * j + k]) - (Centre ? m : 0.0);
      byte |= static_cast<unsigned>(shifted >= 0.0) << k;
      part[k] += std::abs(shifted);
    }
    bytes[j] = static_cast<uint8_t>(byte);
  }
  if (full * 8 < dim) {
    unsigned byte = 0;
    for (int64_t c = full * 8; c < dim; ++c) {
      const double shifted = static_cast<double>(w[c]) - (Centre ? m : 0.0);
      byte |= static_cast<unsigned>(shifted >= 0.0) << (c & 7);
      part[0] += std::abs(shifted);
    }
    bytes[full] = static_cast<uint8_t>(byte);
  }
  return ((part[0] + part[1]) + (part[2] + part[3])) +
         ((part[4] + part[5]) + (part[6] + part[7]));
}

// Bits (w >= m, or w >= 0 without centring) and scale (float64 mean of |w - m| rounded to
// float32) of one latent row; the padding row packs as a zero row.
template <typename scalar_t>
float pack_row(const scalar_t* w, int64_t s1, int64_t dim, bool is_padding, bool centre,
               double m, uint8_t* bytes) {
  const int64_t width = (dim + 7) / 8;
  if (is_padding) {
    std::memset(bytes, 0, width);
    for (int64_t c = 0; c < dim; ++c) bytes[c >> 3] |= uint8_t(1u << (c & 7));
    return 0.0f;
  }
  const double count = static_cast<double>(std::max<int64_t>(dim, 1));
  if (s1 == 1) {
    const double magnitude = centre ? pack_contiguous<true>(w, dim, m, bytes)
                                    : pack_contiguous<false>(w, dim, m, bytes);
    return static_cast<float>(magnitude / count);
  }
  std::memset(bytes, 0, width);
  double magnitude = 0.0;
  for (int64_t c = 0; c < dim; ++c) {
    unsigned bit;
    if (centre) {
      const double shifted = static_cast<double>(w[c * s1]) - m;
      bit = shifted >= 0;
      magnitude += std::abs(shifted);
    } else {
      bit = w[c * s1] >= scalar_t(0);
      magnitude += std::abs(static_cast<double>(w[c * s1]));
    }
    bytes[c >> 3] |= static_cast<uint8_t>(bit << (c & 7));  // branch-free: bits are random
  }
  return static_cast<float>(magnitude / count);
}

// (+1 if bit else -1) * scale in float32, cast once to scalar_t: one of two values, since
// the cast rounds -scale to minus the rounding of scale.
template <typename scalar_t>
void unpack_row(const uint8_t* bytes, float scale, int64_t dim, scalar_t* out) {
  const scalar_t value[2] = {static_cast<scalar_t>(-scale), static_cast<scalar_t>(scale)};
  const int64_t full = dim / 8;
  for (int64_t j = 0; j < full; ++j) {
    const unsigned byte = bytes[j];
    for (int k = 0; k < 8; ++k) out[8 * j + k] = value[(byte >> k) & 1];
  }
  for (int64_t c = full * 8; c < dim; ++c) out[c] = value[(bytes[c >> 3] >> (c & 7)) & 1];
}

std::tuple<at::Tensor, at::Tensor> binary_pack(const at::Tensor& weight, int64_t padding_idx,
                                               bool centre) {
  check_table(weight, "weight");
  const int64_t rows = weight.size(0);
  const int64_t dim = weight.size(1);
  const int64_t width = (dim + 7) / 8;
  at::Tensor qweight = at::empty({rows, width}, weight.options().dtype(at::kByte));
  at::Tensor scale = at::empty({rows}, weight.options().dtype(at::kFloat));
  const double m = centre ? table_centre(weight) : 0.0;
  EMBEDSPEC_DISPATCH_FLOATS(weight.scalar_type(), "embedspec_binary_pack", [&] {
    const scalar_t* table = weight.const_data_ptr<scalar_t>();
    uint8_t* q = qweight.mutable_data_ptr<uint8_t>();
    float* s = scale.mutable_data_ptr<float>();
    at::parallel_for(0, rows, row_grain(dim, sizeof(scalar_t)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        s[r] = pack_row(table + r * weight.stride(0), weight.stride(1), dim, r == padding_idx,
                        centre, m, q + r * width);
      }
    });
  });
  return {qweight, scale};
}

// The latent path: each position's row packed and unpacked on the fly. Returns the output and
// the scale of each position (for the backward).
std::tuple<at::Tensor, at::Tensor> binary_forward(const at::Tensor& weight, const at::Tensor& ids,
                                                  int64_t padding_idx, bool centre) {
  check_table(weight, "weight");
  check_index_dtype(ids, "input");
  const at::Tensor flat = flat_ids(ids);
  const int64_t n = flat.numel();
  const int64_t dim = weight.size(1);
  check_ids_in_range(flat.const_data_ptr<int64_t>(), n, weight.size(0), "input");
  at::Tensor out = at::empty({n, dim}, weight.options());
  at::Tensor scale = at::empty({n}, weight.options().dtype(at::kFloat));
  const double m = centre ? table_centre(weight) : 0.0;
  const int64_t* id = flat.const_data_ptr<int64_t>();
  EMBEDSPEC_DISPATCH_FLOATS(weight.scalar_type(), "embedspec_binary_forward", [&] {
    const scalar_t* table = weight.const_data_ptr<scalar_t>();
    scalar_t* dst = out.mutable_data_ptr<scalar_t>();
    float* s = scale.mutable_data_ptr<float>();
    at::parallel_for(0, n, row_grain(dim, sizeof(scalar_t)), [&](int64_t b, int64_t e) {
      std::vector<uint8_t> bytes((dim + 7) / 8);
      for (int64_t i = b; i < e; ++i) {
        s[i] = pack_row(table + id[i] * weight.stride(0), weight.stride(1), dim,
                        id[i] == padding_idx, centre, m, bytes.data());
        unpack_row(bytes.data(), s[i], dim, dst + i * dim);
      }
    });
  });
  return {out.view(output_shape(ids, dim)), scale};
}

// Looks ids up in a packed table (qweight (V, ceil(D/8)) uint8, scale (V,) float32).
at::Tensor binary_packed_lookup(const at::Tensor& qweight, const at::Tensor& scale,
                                const at::Tensor& ids, int64_t dim, at::ScalarType dtype) {
  TORCH_CHECK_VALUE(qweight.dim() == 2 && qweight.scalar_type() == at::kByte &&
                        qweight.size(1) == (dim + 7) / 8,
                    "qweight must be a (V, ceil(D/8)) uint8 tensor");
  TORCH_CHECK_VALUE(scale.dim() == 1 && scale.size(0) == qweight.size(0) &&
                        scale.scalar_type() == at::kFloat,
                    "scale must be a float32 (V,) tensor");
  check_index_dtype(ids, "input");
  const at::Tensor flat = flat_ids(ids);
  const int64_t n = flat.numel();
  check_ids_in_range(flat.const_data_ptr<int64_t>(), n, qweight.size(0), "input");
  const at::Tensor q = qweight.contiguous();
  const at::Tensor sc = scale.contiguous();
  at::Tensor out = at::empty({n, dim}, qweight.options().dtype(dtype));
  const int64_t width = q.size(1);
  const int64_t* id = flat.const_data_ptr<int64_t>();
  EMBEDSPEC_DISPATCH_FLOATS(dtype, "embedspec_binary_packed_lookup", [&] {
    scalar_t* dst = out.mutable_data_ptr<scalar_t>();
    const uint8_t* bytes = q.const_data_ptr<uint8_t>();
    const float* s = sc.const_data_ptr<float>();
    at::parallel_for(0, n, row_grain(dim, sizeof(scalar_t)), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) unpack_row(bytes + id[i] * width, s[id[i]], dim, dst + i * dim);
    });
  });
  return out.view(output_shape(ids, dim));
}

// Multiplies each row's summed gradient by that row's scale (the scale of any of its
// positions: they are equal), in float64.
struct RowScale {
  const float* position_scale;

  void apply(int64_t first_position, double* acc, int64_t dim) const {
    const double s = position_scale[first_position];
    for (int64_t c = 0; c < dim; ++c) acc[c] *= s;
  }
};

// Straight-through: grad_weight[r] = scale[r] * (sum of the output gradients of row r), in
// float64; the padding row and unreferenced rows are zero.
at::Tensor binary_backward(const at::Tensor& grad, const at::Tensor& ids,
                           const at::Tensor& position_scale, int64_t num_weights,
                           int64_t padding_idx) {
  check_index_dtype(ids, "ids");
  const at::Tensor flat = flat_ids(ids);
  const at::Tensor scale = position_scale.contiguous();
  return dense_gradient<AccDouble>(grad, flat, num_weights, padding_idx, false,
                                   RowScale{scale.const_data_ptr<float>()});
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(embedspec, m) {
  m.def("binary_pack(Tensor weight, int padding_idx, bool centre) -> (Tensor, Tensor)");
  m.def("binary_forward(Tensor weight, Tensor ids, int padding_idx, bool centre) "
        "-> (Tensor, Tensor)");
  m.def("binary_packed_lookup(Tensor qweight, Tensor scale, Tensor ids, SymInt embedding_dim, "
        "ScalarType dtype) -> Tensor");
  m.def("binary_backward(Tensor grad, Tensor ids, Tensor position_scale, SymInt num_weights, "
        "int padding_idx) -> Tensor");
}

TORCH_LIBRARY_IMPL(embedspec, CPU, m) {
  m.impl("binary_pack", &binary_pack);
  m.impl("binary_forward", &binary_forward);
  m.impl("binary_packed_lookup", &binary_packed_lookup);
  m.impl("binary_backward", &binary_backward);
}

}  // namespace embedspec
