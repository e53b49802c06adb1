// Host tile path for small heads (head_dim <= small_head_dim_limit): at head_dim 16 or 32 a
// gemm call per tile spends more on packing and on passes over the score tile than on flops,
// so the blocks are computed by register-blocked loops instead: a few query rows at a time,
// the scores of those rows kept in an L1-sized buffer, vectorised over keys (scores) and over
// head_dim (products with V, K, Q, dO). The pair physics is attention_pair.hpp's, as in every path.
//
// Every block here has consecutive key positions (tile_ranges splits at jumps), so the keys a
// row sees under the causal mask are a prefix: `limit` keys, from the row's position.
#pragma once

#include <Kokkos_Core.hpp>

#include <vector>

#include "core/compat.hpp"
#include "kernels/attention_pair.hpp"
#include "kernels/attention_tiles.hpp"
#include "kernels/attention_types.hpp"
#include "kernels/fast_exp.hpp"

namespace wf::kernels {

/// Largest head_dim the small-head loops take (above it, gemm calls on tiles win).
constexpr int small_head_dim_limit = 32;

namespace small_head {

/// Query rows computed together: each key (or V row) loaded once serves them all.
constexpr int row_block = 8;
/// Keys (or keys' head_dim entries) per vector chunk: one 64-byte vector.
template <class T>
constexpr int lanes = 64 / static_cast<int>(sizeof(T));

/// Columns of a transposed tile, padded to whole vector chunks.
template <class T>
constexpr int padded(int cols) {
  return (cols + lanes<T> - 1) / lanes<T> * lanes<T>;
}

/// out[r][j] = scale * a[r] . bt[:, j] for r < rows (<= row_block), j < cols: a is [rows][d]
/// (row stride d), bt is [d][padded(cols)] (a transposed, padded tile), out [rows][out_stride]
/// with out_stride >= padded(cols). Accumulators: row_block rows x one vector of keys.
template <class T>
void rows_dot_columns(const T* a, const T* bt, int rows, int cols, int d, T scale, T* out, int out_stride) {
  constexpr int W = lanes<T>;
  const int stride = padded<T>(cols);
  const T* a_row[row_block];
  for (int r = 0; r < row_block; ++r) a_row[r] = a + (r < rows ? r : 0) * d;
  for (int j0 = 0; j0 < cols; j0 += W) {
    T acc[row_block][W] = {};
    for (int c = 0; c < d; ++c) {
      const T* b = bt + c * stride + j0;
      for (int r = 0; r < row_block; ++r) {
        const T x = a_row[r][c];
#pragma omp simd
        for (int w = 0; w < W; ++w) acc[r][w] += x * b[w];
      }
    }
    for (int r = 0; r < rows; ++r)
#pragma omp simd
      for (int w = 0; w < W; ++w) out[r * out_stride + j0 + w] = scale * acc[r][w];
  }
}

/// One chunk of head_dim columns [c0, c0 + width) of rows_times_matrix; Width > 0 is the width
/// known at compile time (the accumulators then stay in vector registers), 0 any width <= W.
template <int Width, class T>
void rows_times_matrix_chunk(const T* const* p_row, const T* b, int rows, int cols, int d, int c0, int width,
                             const T* beta, T scale, T* out) {
  constexpr int W = Width > 0 ? Width : lanes<T>;
  const int n = Width > 0 ? Width : width;
  T acc[row_block][W] = {};
  for (int j = 0; j < cols; ++j) {
    const T* bj = b + j * d + c0;
    for (int r = 0; r < row_block; ++r) {
      const T x = p_row[r][j];
#pragma omp simd
      for (int w = 0; w < n; ++w) acc[r][w] += x * bj[w];
    }
  }
  for (int r = 0; r < rows; ++r)
    for (int w = 0; w < n; ++w) out[r * d + c0 + w] = beta[r] * out[r * d + c0 + w] + scale * acc[r][w];
}

/// out[r][:] = beta[r] out[r][:] + scale * sum_j p[r][j] b[j][:] for r < rows, j < cols: p is
/// [rows][p_stride] (zero where a row sees no key), b is [cols][d], out [rows][d].
template <class T>
void rows_times_matrix(const T* p, int p_stride, const T* b, int rows, int cols, int d, const T* beta, T scale,
                       T* out) {
  constexpr int W = lanes<T>;
  const T* p_row[row_block];
  for (int r = 0; r < row_block; ++r) p_row[r] = p + (r < rows ? r : 0) * p_stride;
  for (int c0 = 0; c0 < d; c0 += W) {
    if (d - c0 >= W)
      rows_times_matrix_chunk<W>(p_row, b, rows, cols, d, c0, W, beta, scale, out);
    else
      rows_times_matrix_chunk<0>(p_row, b, rows, cols, d, c0, d - c0, beta, scale, out);
  }
}

/// Keys handled together by columns_times_rows: each row of `a` loaded once serves them all.
constexpr int key_block = 8;

/// One block of keys [j0, j0 + keys) and chunk of head_dim [c0, c0 + width) of
/// columns_times_rows (Width as in rows_times_matrix_chunk).
template <int Width, class T>
void columns_times_rows_chunk(const T* p, int p_stride, const T* a, int rows, int d, int j0, int keys, int c0,
                              int width, T scale, T* out) {
  constexpr int W = Width > 0 ? Width : lanes<T>;
  const int n = Width > 0 ? Width : width;
  T acc[key_block][W] = {};
  for (int r = 0; r < rows; ++r) {
    const T* ar = a + r * d + c0;
    const T* pr = p + r * p_stride + j0;
    for (int k = 0; k < key_block; ++k) {
      const T x = k < keys ? pr[k] : T(0);
#pragma omp simd
      for (int w = 0; w < n; ++w) acc[k][w] += x * ar[w];
    }
  }
  for (int k = 0; k < keys; ++k)
    for (int w = 0; w < n; ++w) out[(j0 + k) * d + c0 + w] += scale * acc[k][w];
}

/// out[j][:] += scale * sum_r p[r][j] a[r][:] for j < cols, r < rows: p is [rows][p_stride], a
/// [rows][d], out [cols][d] (the transposed products: dV += P^T dO, dK += dS^T Q).
template <class T>
void columns_times_rows(const T* p, int p_stride, const T* a, int rows, int cols, int d, T scale, T* out) {
  constexpr int W = lanes<T>;
  for (int j0 = 0; j0 < cols; j0 += key_block) {
    const int keys = cols - j0 < key_block ? cols - j0 : key_block;
    for (int c0 = 0; c0 < d; c0 += W) {
      if (d - c0 >= W)
        columns_times_rows_chunk<W>(p, p_stride, a, rows, d, j0, keys, c0, W, scale, out);
      else
        columns_times_rows_chunk<0>(p, p_stride, a, rows, d, j0, keys, c0, d - c0, scale, out);
    }
  }
}

/// bt[c][j] = b[j][c]: a [cols][d] tile transposed to [d][padded(cols)], the padding zero.
template <class T>
void transpose(const T* b, int cols, int d, T* bt) {
  const int stride = padded<T>(cols);
  for (int c = 0; c < d; ++c)
    for (int j = cols; j < stride; ++j) bt[c * stride + j] = T(0);
  for (int j = 0; j < cols; ++j)
    for (int c = 0; c < d; ++c) bt[c * stride + j] = b[j * d + c];
}

/// Keys each row of the block sees: a prefix of the block's consecutive key positions.
template <class Positions>
void visible_prefix(const Positions& q_pos, const TileBlock& b, index_t first_key_pos, MaskKind mask, int rows,
                    int* limit) {
  const index_t cols = b.k1 - b.k0;
  for (int r = 0; r < rows; ++r) {
    const index_t seen = q_pos(b.q0 + r) - first_key_pos + 1;
    limit[r] = static_cast<int>(mask == MaskKind::none || !b.masked ? cols : (seen < 0 ? 0 : (seen > cols ? cols : seen)));
  }
}

/// Reusable buffers of one block: the transposed key and value tiles, and the probabilities and
/// score gradients of every row of the block (the backward sums over all of them at once).
template <class T>
struct Workspace {
  std::vector<T> kt, vt, scores, grads;
  Workspace(int q_tile, int kv_tile, int head_dim)
      : kt(std::size_t(padded<T>(kv_tile)) * head_dim), vt(std::size_t(padded<T>(kv_tile)) * head_dim),
        scores(std::size_t(q_tile) * padded<T>(kv_tile)), grads(std::size_t(q_tile) * padded<T>(kv_tile)) {}
};

}  // namespace small_head

/// \brief The forward of one block for one head: the running (O, max, sum) of rows [q0, q1)
/// of head h absorb keys [k0, k1) of kv head kvh.
template <class T, class Mem>
void small_head_forward_block(const AttentionOptions& opt, const QueryBlock<T, Mem>& qb,
                              const KeyValueBlock<T, Mem>& kvb, const ForwardAccumulator<T, Mem>& acc, int h, int kvh,
                              const TileBlock& b, small_head::Workspace<T>& ws) {
  using namespace small_head;
  const int d = opt.head_dim, cols = static_cast<int>(b.k1 - b.k0);
  transpose(&kvb.k(kvh, b.k0, 0), cols, d, ws.kt.data());
  const T scale = static_cast<T>(opt.scale);
  const FastExp exp;
  for (index_t r0 = b.q0; r0 < b.q1; r0 += row_block) {
    const int rows = static_cast<int>(b.q1 - r0 < row_block ? b.q1 - r0 : row_block);
    int limit[row_block];
    visible_prefix(qb.pos, TileBlock{r0, r0 + rows, b.k0, b.k1, b.masked}, kvb.pos(b.k0), opt.mask, rows, limit);
    const int stride = padded<T>(cols);
    rows_dot_columns(&qb.q(h, r0, 0), ws.kt.data(), rows, cols, d, scale, ws.scores.data(), stride);
    T correction[row_block];
    int seen = 0;
    for (int r = 0; r < rows; ++r) {
      T* s = ws.scores.data() + r * stride;
      T tile_max = -compat::infinity<T>();
#pragma omp simd reduction(max : tile_max)
      for (int j = 0; j < limit[r]; ++j) tile_max = s[j] > tile_max ? s[j] : tile_max;
      const OnlineSoftmaxStep<T> step = online_softmax_step(acc.row_max(h, r0 + r), tile_max, exp);
      correction[r] = step.correction;
      if (row_sees_nothing(step.max)) limit[r] = 0;
      T tile_sum = T(0);
#pragma omp simd reduction(+ : tile_sum)
      for (int j = 0; j < cols; ++j) {
        s[j] = j < limit[r] ? softmax_weight(s[j], step.max, exp) : T(0);  // masked: weight 0
        tile_sum += s[j];
      }
      seen = limit[r] > seen ? limit[r] : seen;
      if (limit[r] == 0) continue;
      acc.row_sum(h, r0 + r) = rescaled_sum(acc.row_sum(h, r0 + r), step.correction, tile_sum);
      acc.row_max(h, r0 + r) = step.max;
    }
    rows_times_matrix(ws.scores.data(), stride, &kvb.v(kvh, b.k0, 0), rows, seen, d, correction, T(1),
                      &acc.o(h, r0, 0));
  }
}

/// \brief The backward of one block for one head: probabilities recomputed from lse, then
/// dV += P^T dO, dS = P (dO V^T - D), dQ += scale dS K, dK += scale dS^T Q. P and dS of every
/// row of the block are formed first, so that dK and dV are read and written once per block.
template <class T, class Mem>
void small_head_backward_block(const AttentionOptions& opt, const BackwardQueryBlock<T, Mem>& qb,
                               const KeyValueBlock<T, Mem>& kvb, const AttentionGradients<T, Mem>& grad, int h,
                               int kvh, const TileBlock& b, small_head::Workspace<T>& ws) {
  using namespace small_head;
  const int d = opt.head_dim, cols = static_cast<int>(b.k1 - b.k0), rows = static_cast<int>(b.q1 - b.q0);
  transpose(&kvb.k(kvh, b.k0, 0), cols, d, ws.kt.data());
  transpose(&kvb.v(kvh, b.k0, 0), cols, d, ws.vt.data());
  const T scale = static_cast<T>(opt.scale);
  const FastExp exp;
  const int stride = padded<T>(cols);
  T* p = ws.scores.data();
  T* ds = ws.grads.data();
  for (int r0 = 0; r0 < rows; r0 += row_block) {
    const int n = rows - r0 < row_block ? rows - r0 : row_block;
    int limit[row_block];
    visible_prefix(qb.pos, TileBlock{b.q0 + r0, b.q0 + r0 + n, b.k0, b.k1, b.masked}, kvb.pos(b.k0), opt.mask, n, limit);
    rows_dot_columns(&qb.q(h, b.q0 + r0, 0), ws.kt.data(), n, cols, d, scale, p + r0 * stride, stride);
    rows_dot_columns(&qb.d_o(h, b.q0 + r0, 0), ws.vt.data(), n, cols, d, T(1), ds + r0 * stride, stride);
    for (int r = 0; r < n; ++r) {
      const T lse = qb.lse(h, b.q0 + r0 + r), delta = qb.delta(h, b.q0 + r0 + r);
      T* pr = p + (r0 + r) * stride;
      T* dsr = ds + (r0 + r) * stride;
      const int seen = row_sees_nothing(lse) ? 0 : limit[r];
#pragma omp simd
      for (int j = 0; j < cols; ++j) {
        pr[j] = j < seen ? softmax_weight(pr[j], lse, exp) : T(0);
        dsr[j] = score_gradient(pr[j], dsr[j], delta);
      }
    }
  }
  columns_times_rows(p, stride, &qb.d_o(h, b.q0, 0), rows, cols, d, T(1), &grad.dv(kvh, b.k0, 0));
  columns_times_rows(ds, stride, &qb.q(h, b.q0, 0), rows, cols, d, scale, &grad.dk(kvh, b.k0, 0));
  T ones[row_block];
  for (int r = 0; r < row_block; ++r) ones[r] = T(1);
  for (int r0 = 0; r0 < rows; r0 += row_block)
    rows_times_matrix(ds + r0 * stride, stride, &kvb.k(kvh, b.k0, 0), rows - r0 < row_block ? rows - r0 : row_block,
                      cols, d, ones, scale, &grad.dq(h, b.q0 + r0, 0));
}

}  // namespace wf::kernels
