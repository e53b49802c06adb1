// Packed blocks: what the schedules move. A block of n tokens is one contiguous buffer of
// segments, each a head-major tensor [rows][n][width] (e.g. K and V: two segments of
// [kv_heads][n][head_dim]; gravity bodies: one segment [1][n][4]). The schedules only know
// layouts and buffers; the interaction gives the segments their meaning.
#pragma once

#include <Kokkos_Core.hpp>

#include <cstddef>
#include <string>
#include <vector>

#include "core/types.hpp"

namespace wf::nbody {

/// \brief One [rows][tokens][width] tensor inside a packed block.
struct Segment {
  int rows = 1;
  int width = 1;
};

/// \brief The segments of a packed block, back to back.
struct BlockLayout {
  std::vector<Segment> segments;

  /// \brief Scalars per token, summed over segments.
  std::size_t scalars_per_token() const {
    std::size_t s = 0;
    for (const auto& seg : segments) s += std::size_t(seg.rows) * seg.width;
    return s;
  }
  /// \brief Scalars of a block of n tokens.
  std::size_t size(index_t tokens) const { return scalars_per_token() * static_cast<std::size_t>(tokens); }
  /// \brief Offset of segment `index` in a block of n tokens.
  std::size_t offset(std::size_t index, index_t tokens) const {
    std::size_t off = 0;
    for (std::size_t i = 0; i < index; ++i) off += std::size_t(segments[i].rows) * segments[i].width * tokens;
    return off;
  }
  /// \brief This layout's segments followed by `more`'s.
  BlockLayout followed_by(const BlockLayout& more) const {
    BlockLayout joined = *this;
    joined.segments.insert(joined.segments.end(), more.segments.begin(), more.segments.end());
    return joined;
  }
  /// \brief The same segments with rows / parts rows each (one part of a split over rows).
  BlockLayout rows_divided_by(int parts) const {
    BlockLayout part = *this;
    for (auto& segment : part.segments) segment.rows /= parts;
    return part;
  }
};

template <class T>
using Buffer = Kokkos::View<T*, MemSpace>;

/// \brief A buffer whose every element is written before it is read (no zero fill: fresh pages
/// are touched once, by the kernel or transfer that fills them).
template <class T>
Buffer<T> unfilled_buffer(const std::string& label, std::size_t size) {
  return Buffer<T>(Kokkos::ViewAllocateWithoutInitializing(label), size);
}
// Views made from a raw pointer are unmanaged whatever their type: the block owns the memory.
template <class T>
using SegmentTensor = Kokkos::View<T***, Kokkos::LayoutRight, MemSpace>;
template <class T>
using SegmentMatrix = Kokkos::View<T**, Kokkos::LayoutRight, MemSpace>;

/// \brief Segment `index` of the block in `data` (n tokens) as [rows][n][width].
template <class T>
SegmentTensor<T> segment_view(T* data, const BlockLayout& layout, std::size_t index, index_t tokens) {
  const Segment& s = layout.segments[index];
  return SegmentTensor<T>(data + layout.offset(index, tokens), s.rows, tokens, s.width);
}

/// \brief A width-1 segment as [rows][n] (lse, D).
template <class T>
SegmentMatrix<T> segment_matrix(T* data, const BlockLayout& layout, std::size_t index, index_t tokens) {
  const Segment& s = layout.segments[index];
  return SegmentMatrix<T>(data + layout.offset(index, tokens), s.rows, tokens);
}

/// \brief The blocks of one process's shard, in the layouts of an interaction: the forward's
/// inputs and result, and the backward's input and outputs. Generic: for attention, targets = Q,
/// sources = K, V, results = O, lse, d_output = dO, d_targets = dQ, d_sources = dK, dV.
template <class T>
struct ShardBlocks {
  Buffer<T> targets, sources;       ///< inputs of the forward
  Buffer<T> results;                ///< output of the forward
  Buffer<T> d_output;               ///< input of the backward
  Buffer<T> d_targets, d_sources;   ///< outputs of the backward
};

/// \brief parts blocks of n tokens each, back to back ([parts][block(n)], as an all-gather
/// leaves them) -> one block of parts * n tokens with the tokens of part p at [p n, (p+1) n).
template <class T>
void concat_blocks(const ExecSpace& space, const BlockLayout& layout, int parts, index_t tokens, const T* in, T* out) {
  const std::size_t part_size = layout.size(tokens);
  for (std::size_t s = 0; s < layout.segments.size(); ++s) {
    const int rows = layout.segments[s].rows, width = layout.segments[s].width;
    const std::size_t in_off = layout.offset(s, tokens), out_off = layout.offset(s, tokens * parts);
    Kokkos::parallel_for(
        "Nbody::concat_blocks",
        Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<3>>(space, {0, 0, 0}, {index_t(parts), index_t(rows), tokens}),
        KOKKOS_LAMBDA(const index_t p, const index_t r, const index_t i) {
          const T* src = in + p * part_size + in_off + (r * tokens + i) * width;
          T* dst = out + out_off + (r * tokens * parts + p * tokens + i) * width;
          for (int c = 0; c < width; ++c) dst[c] = src[c];
        });
  }
}

/// \brief The inverse of concat_blocks: one block of parts * n tokens -> [parts][block(n)].
template <class T>
void split_blocks(const ExecSpace& space, const BlockLayout& layout, int parts, index_t tokens, const T* in, T* out) {
  const std::size_t part_size = layout.size(tokens);
  for (std::size_t s = 0; s < layout.segments.size(); ++s) {
    const int rows = layout.segments[s].rows, width = layout.segments[s].width;
    const std::size_t out_off = layout.offset(s, tokens), in_off = layout.offset(s, tokens * parts);
    Kokkos::parallel_for(
        "Nbody::split_blocks",
        Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<3>>(space, {0, 0, 0}, {index_t(parts), index_t(rows), tokens}),
        KOKKOS_LAMBDA(const index_t p, const index_t r, const index_t i) {
          const T* src = in + in_off + (r * tokens * parts + p * tokens + i) * width;
          T* dst = out + p * part_size + out_off + (r * tokens + i) * width;
          for (int c = 0; c < width; ++c) dst[c] = src[c];
        });
  }
}

}  // namespace wf::nbody
