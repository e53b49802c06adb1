// The all-to-all between sequence shards and head shards that Ulysses and the Ulysses x
// WallFacer hybrid share: inside a group of u processes, each process gives every other one
// the rows (heads) it will compute for the own tokens, and gets its rows for their tokens.
// Rows are split evenly (query heads, results, gradients of the targets) or as the
// interaction says for the sources (sliced_source_rows: a kv head may go to several parts);
// on the way back, the copies of a source row are summed (their gradients).
#pragma once

#include <string>
#include <vector>

#include "core/device_copy.hpp"
#include "nbody/team_collectives.hpp"

namespace wf::nbody::detail {

/// \brief Which rows of every segment of a block each of `parts` parts holds.
struct RowSplit {
  BlockLayout whole, part;
  int parts = 1;
  std::vector<std::vector<int>> rows;  ///< per segment: [parts][part rows], the row of the whole
};

/// \brief Part p holds rows [p R / parts, (p + 1) R / parts) of every segment (R its rows).
inline RowSplit even_split(const BlockLayout& whole, int parts) {
  RowSplit split{whole, whole.rows_divided_by(parts), parts, {}};
  for (const Segment& segment : split.part.segments) {
    std::vector<int> rows;
    for (int p = 0; p < parts; ++p)
      for (int j = 0; j < segment.rows; ++j) rows.push_back(p * segment.rows + j);
    split.rows.push_back(std::move(rows));
  }
  return split;
}

/// \brief The split of the sources (or their gradients, same rows) of `whole_inter` over
/// `parts`: part p holds whole_inter.sliced_source_rows(parts, p) of every segment.
template <class Interaction>
RowSplit source_split(const Interaction& whole_inter, const BlockLayout& whole, int parts) {
  RowSplit split{whole, whole, parts, {}};
  std::vector<int> rows;
  for (int p = 0; p < parts; ++p)
    for (const int row : whole_inter.sliced_source_rows(parts, p)) rows.push_back(row);
  const int part_rows = static_cast<int>(rows.size()) / parts;
  for (Segment& segment : split.part.segments) {
    for (const int row : rows)
      require(row >= 0 && row < segment.rows, "sliced_source_rows: row " + std::to_string(row) + " outside [0, " +
                                                  std::to_string(segment.rows) + ")");
    segment.rows = part_rows;
    split.rows.push_back(rows);
  }
  return split;
}

/// \brief Sequence shard (whole layout, n tokens) -> [parts][part layout (n)].
template <class T>
void pack_parts(const ExecSpace& space, const RowSplit& split, index_t tokens, const T* in, T* out) {
  const std::size_t part_size = split.part.size(tokens);
  for (std::size_t s = 0; s < split.part.segments.size(); ++s) {
    const int part_rows = split.part.segments[s].rows;
    const index_t row_size = tokens * split.part.segments[s].width;
    const std::size_t whole_off = split.whole.offset(s, tokens), part_off = split.part.offset(s, tokens);
    const auto rows = to_device(split.rows[s], "Nbody::split_rows");
    Kokkos::parallel_for(
        "Nbody::pack_parts",
        Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<3>>(space, {0, 0, 0}, {index_t(split.parts), index_t(part_rows), row_size}),
        KOKKOS_LAMBDA(const index_t p, const index_t j, const index_t k) {
          out[p * part_size + part_off + j * row_size + k] = in[whole_off + rows(p * part_rows + j) * row_size + k];
        });
  }
}

/// \brief [parts][part layout (n)] -> sequence shard: every row of the whole is its first copy
/// plus the others in part order (a plain copy when each row has one).
template <class T>
void unpack_parts(const ExecSpace& space, const RowSplit& split, index_t tokens, const T* in, T* out) {
  const std::size_t part_size = split.part.size(tokens);
  for (std::size_t s = 0; s < split.part.segments.size(); ++s) {
    const int whole_rows = split.whole.segments[s].rows, part_rows = split.part.segments[s].rows;
    const index_t row_size = tokens * split.part.segments[s].width;
    const std::size_t whole_off = split.whole.offset(s, tokens), part_off = split.part.offset(s, tokens);
    // The copies of each row of the whole (CSR: copies of row r at [first[r], first[r + 1])).
    std::vector<int> first(static_cast<std::size_t>(whole_rows) + 1, 0), copies;
    for (int r = 0; r < whole_rows; ++r) {
      for (std::size_t e = 0; e < split.rows[s].size(); ++e)
        if (split.rows[s][e] == r) copies.push_back(static_cast<int>(e));
      first[static_cast<std::size_t>(r) + 1] = static_cast<int>(copies.size());
    }
    const auto first_view = to_device(first, "Nbody::split_first"), copies_view = to_device(copies, "Nbody::split_copies");
    Kokkos::parallel_for(
        "Nbody::unpack_parts",
        Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>(space, {0, 0}, {index_t(whole_rows), row_size}),
        KOKKOS_LAMBDA(const index_t r, const index_t k) {
          T sum = T(0);
          for (int e = first_view(r); e < first_view(r + 1); ++e) {
            const int p = copies_view(e) / part_rows, j = copies_view(e) % part_rows;
            const T value = in[p * part_size + part_off + j * row_size + k];
            sum = e == first_view(r) ? value : sum + value;
          }
          out[whole_off + r * row_size + k] = sum;
        });
  }
}

/// \brief Sequence shard -> head shard of the group's tokens (parts n tokens, group rank q's
/// shard at [q n, (q + 1) n)): one all-to-all over `group` (split.parts processes).
template <class T>
Buffer<T> to_head_shard(const ScheduleContext& ctx, comm::Communicator& group, ScheduleClock& clock,
                        const RowSplit& split, const Buffer<T>& shard, const char* what) {
  const int parts = split.parts;
  const index_t n = ctx.shard_tokens();
  const std::size_t chunk = split.part.size(n);
  Buffer<T> packed("Nbody::head_packed", chunk * parts), received("Nbody::head_received", chunk * parts);
  Buffer<T> whole("Nbody::head_shard", split.part.size(n * parts));
  clock.local([&] { pack_parts(ctx.compute_space(), split, n, shard.data(), packed.data()); });
  clock.collective(group, [&] {
    ctx.communication_after_compute();
    group.all_to_all(packed.data(), received.data(), chunk, {what, 0}, ctx.communication_space());
    ctx.compute_after_communication();
  });
  clock.local([&] { concat_blocks(ctx.compute_space(), split.part, parts, n, received.data(), whole.data()); });
  return whole;
}

/// \brief Head shard of the group's tokens -> sequence shard (the inverse of to_head_shard;
/// copies of a row are summed).
template <class T>
void to_sequence_shard(const ScheduleContext& ctx, comm::Communicator& group, ScheduleClock& clock,
                       const RowSplit& split, const Buffer<T>& whole, const Buffer<T>& shard, const char* what) {
  const int parts = split.parts;
  const index_t n = ctx.shard_tokens();
  const std::size_t chunk = split.part.size(n);
  Buffer<T> split_parts("Nbody::head_parts", chunk * parts), received("Nbody::head_received", chunk * parts);
  clock.local([&] { split_blocks(ctx.compute_space(), split.part, parts, n, whole.data(), split_parts.data()); });
  clock.collective(group, [&] {
    ctx.communication_after_compute();
    group.all_to_all(split_parts.data(), received.data(), chunk, {what, 0}, ctx.communication_space());
    ctx.compute_after_communication();
  });
  clock.local([&] { unpack_parts(ctx.compute_space(), split, n, received.data(), shard.data()); });
}

}  // namespace wf::nbody::detail
