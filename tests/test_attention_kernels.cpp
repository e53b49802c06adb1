// Attention tile kernels against the naive double reference: both tile implementations,
// float and double, causal and not, multi-head and grouped-query, tiny to large sizes.
#include <gtest/gtest.h>

#include <cstdio>
#include <numeric>
#include <sstream>

#include "attention_runner.hpp"
#include "test_util.hpp"

namespace {

using wf::TileImpl;
using wf::reference::AttentionProblem;
using wf::testing::eps;
using wf::testing::max_scaled_error;
using wf::testing::relative_error;

struct Case {
  const char* name;
  std::int64_t nq, nk;
  int heads, kv_heads, head_dim, q_tile, kv_tile;
  bool causal;
  int key_blocks;
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

AttentionProblem make_problem(const Case& c, std::uint64_t seed) {
  AttentionProblem p;
  p.heads = c.heads;
  p.kv_heads = c.kv_heads;
  p.head_dim = c.head_dim;
  p.scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim));
  p.causal = c.causal;
  // Queries sit at the end of the key range when nq < nk, as in a decoder's last block.
  p.k_pos.resize(static_cast<std::size_t>(c.nk));
  std::iota(p.k_pos.begin(), p.k_pos.end(), 0);
  p.q_pos.resize(static_cast<std::size_t>(c.nq));
  std::iota(p.q_pos.begin(), p.q_pos.end(), std::max<std::int64_t>(0, c.nk - c.nq));
  p.q = wf::testing::random_vector(static_cast<std::size_t>(c.heads * c.nq * c.head_dim), seed + 1, -2, 2);
  p.k = wf::testing::random_vector(static_cast<std::size_t>(c.kv_heads * c.nk * c.head_dim), seed + 2, -2, 2);
  p.v = wf::testing::random_vector(static_cast<std::size_t>(c.kv_heads * c.nk * c.head_dim), seed + 3);
  p.d_o = wf::testing::random_vector(static_cast<std::size_t>(c.heads * c.nq * c.head_dim), seed + 4);
  return p;
}

const Case kCases[] = {
    {"tiny_1x1", 1, 1, 1, 1, 1, 1, 1, false, 1},
    {"tiny_causal", 3, 3, 1, 1, 2, 2, 2, true, 1},
    {"odd_sizes", 37, 53, 3, 3, 13, 8, 16, false, 1},
    {"odd_causal", 53, 53, 2, 2, 13, 16, 8, true, 1},
    {"gqa_2", 64, 64, 4, 2, 16, 16, 32, true, 1},
    {"gqa_mqa", 45, 45, 6, 1, 8, 32, 16, false, 1},
    {"tile_larger_than_block", 20, 30, 2, 1, 8, 64, 64, true, 1},
    {"split_keys", 70, 70, 4, 2, 32, 16, 16, true, 3},
    {"medium_d64", 256, 256, 2, 2, 64, 64, 64, true, 2},
    {"large_d128", 1024, 1024, 1, 1, 128, 128, 128, false, 1},
    {"large_causal_d128", 1024, 1024, 2, 1, 128, 128, 64, true, 1},
};

// Tolerances in units of eps(T). Measured worst cases over the sweep: about 6 eps (float)
// and 9 eps (double) for every output, so a 2-4x margin.
template <class T>
struct Tolerance {
  static constexpr double forward = 16;
  static constexpr double backward = 32;
};

template <class T>
void check_case(const Case& c, TileImpl impl) {
  const auto p = make_problem(c, 7 + static_cast<std::uint64_t>(c.nq));
  const auto ref = wf::reference::attention_reference(p);
  wf::testing::RunShape shape{c.q_tile, c.kv_tile, impl, c.key_blocks};
  const auto got = wf::testing::run_attention<T>(p, shape);
  const double e = eps<T>();
  EXPECT_LE(relative_error(got.o, ref.o), Tolerance<T>::forward * e) << "O";
  EXPECT_LE(max_scaled_error(got.lse, ref.lse), Tolerance<T>::forward * e) << "lse";
  EXPECT_LE(relative_error(got.dq, ref.dq), Tolerance<T>::backward * e) << "dQ";
  EXPECT_LE(relative_error(got.dk, ref.dk), Tolerance<T>::backward * e) << "dK";
  EXPECT_LE(relative_error(got.dv, ref.dv), Tolerance<T>::backward * e) << "dV";
}

class AttentionSweep : public ::testing::TestWithParam<std::tuple<Case, TileImpl>> {};

TEST_P(AttentionSweep, FloatMatchesReference) { check_case<float>(std::get<0>(GetParam()), std::get<1>(GetParam())); }
TEST_P(AttentionSweep, DoubleMatchesReference) { check_case<double>(std::get<0>(GetParam()), std::get<1>(GetParam())); }

INSTANTIATE_TEST_SUITE_P(Kernels, AttentionSweep,
                         ::testing::Combine(::testing::ValuesIn(kCases),
                                            ::testing::Values(TileImpl::blas, TileImpl::fused, TileImpl::gemm)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param).name) + "_" +
                                  wf::name_of(std::get<1>(info.param));
                         });

// Both implementations agree with each other more tightly than with the reference.
TEST(AttentionKernels, ImplementationsAgreeInDouble) {
  const Case c{"agree", 90, 90, 4, 2, 24, 32, 16, true, 1};
  const auto p = make_problem(c, 99);
  const auto blas = wf::testing::run_attention<double>(p, {32, 16, TileImpl::blas, 1});
  const auto fused = wf::testing::run_attention<double>(p, {32, 16, TileImpl::fused, 1});
  EXPECT_LE(relative_error(blas.o, fused.o), 1e-13);
  EXPECT_LE(relative_error(blas.dk, fused.dk), 1e-13);
}

// Fully masked tiles are skipped, diagonal tiles masked element by element (the statistics
// are computed on request from the positions and the tiling, never by the kernels).
TEST(AttentionKernels, CausalTileStatistics) {
  const Case c{"stats", 64, 64, 1, 1, 4, 16, 16, true, 1};
  const auto p = make_problem(c, 3);
  wf::kernels::AttentionOptions opt;
  opt.mask = wf::kernels::MaskKind::causal;
  opt.q_tile = opt.kv_tile = 16;
  const auto positions = wf::testing::to_positions(p.q_pos);
  const wf::kernels::TileStats stats = wf::kernels::count_tiles_of<wf::MemSpace>(opt, positions, positions);
  EXPECT_EQ(stats.tiles_computed, 10);  // lower triangle of 4 x 4 tiles
  EXPECT_EQ(stats.tiles_skipped, 6);
  EXPECT_EQ(stats.tiles_partial, 4);    // the diagonal
  EXPECT_EQ(stats.pairs_unmasked, 64 * 65 / 2);
}

// Queries that precede every key see nothing: O = 0, lse = -inf, zero gradients, no NaN.
TEST(AttentionKernels, FullyMaskedRows) {
  for (TileImpl impl : {TileImpl::blas, TileImpl::fused, TileImpl::gemm}) {
    Case c{"masked", 10, 12, 2, 1, 4, 4, 4, true, 1};
    auto p = make_problem(c, 5);
    std::iota(p.q_pos.begin(), p.q_pos.end(), 0);
    std::iota(p.k_pos.begin(), p.k_pos.end(), 5);  // rows 0..4 see nothing, 5..9 see some keys
    const auto ref = wf::reference::attention_reference(p);
    const auto got = wf::testing::run_attention<float>(p, {4, 4, impl, 2});
    for (int h = 0; h < 2; ++h)
      for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(got.lse[h * 10 + i], -std::numeric_limits<double>::infinity());
        for (int cc = 0; cc < 4; ++cc) EXPECT_EQ(got.o[(h * 10 + i) * 4 + cc], 0.0);
      }
    EXPECT_LE(relative_error(got.o, ref.o), 64 * eps<float>());
    EXPECT_LE(max_scaled_error(got.lse, ref.lse), 64 * eps<float>());
    EXPECT_LE(relative_error(got.dq, ref.dq), 256 * eps<float>());
    EXPECT_LE(relative_error(got.dk, ref.dk), 256 * eps<float>());
  }
}

// Positions, not storage order, decide the mask: a zigzag shard (two separated chunks).
TEST(AttentionKernels, ZigzagPositions) {
  Case c{"zigzag", 32, 64, 2, 2, 8, 8, 8, true, 2};
  auto p = make_problem(c, 11);
  for (int i = 0; i < 16; ++i) {
    p.q_pos[static_cast<std::size_t>(i)] = 16 + i;       // chunk 1
    p.q_pos[static_cast<std::size_t>(16 + i)] = 96 + i;  // chunk 6 of 8 chunks of 16
  }
  for (int j = 0; j < 64; ++j) p.k_pos[static_cast<std::size_t>(j)] = (j * 37) % 128;  // scattered keys
  const auto ref = wf::reference::attention_reference(p);
  for (TileImpl impl : {TileImpl::blas, TileImpl::fused, TileImpl::gemm}) {
    const auto got = wf::testing::run_attention<double>(p, {8, 8, impl, 2});
    EXPECT_LE(relative_error(got.o, ref.o), 1e-13);
    EXPECT_LE(max_scaled_error(got.lse, ref.lse), 1e-13);
    EXPECT_LE(relative_error(got.dq, ref.dq), 1e-12);
    EXPECT_LE(relative_error(got.dk, ref.dk), 1e-12);
    EXPECT_LE(relative_error(got.dv, ref.dv), 1e-12);
  }
}

// The gemm path in chunks smaller than the blocks: one gemm per head (rows of a chunk are not
// every row), column chunks fully masked (skipped), partly masked and fully visible, zigzag
// positions and grouped-query heads; against the double reference in both precisions.
TEST(AttentionKernels, GemmPathChunks) {
  Case c{"gemm_chunks", 32, 64, 4, 2, 8, 8, 8, true, 2};
  auto p = make_problem(c, 17);
  for (int i = 0; i < 16; ++i) {
    p.q_pos[static_cast<std::size_t>(i)] = 16 + i;
    p.q_pos[static_cast<std::size_t>(16 + i)] = 96 + i;
  }
  std::iota(p.k_pos.begin(), p.k_pos.end(), 24);  // keys 24..87: before, across and after the query chunks
  const auto ref = wf::reference::attention_reference(p);
  wf::testing::RunShape shape{8, 8, TileImpl::gemm, 2};
  shape.gemm_rows = 12;    // chunks straddle the two query chunks and end short
  shape.gemm_columns = 10;
  const auto got = wf::testing::run_attention<double>(p, shape);
  EXPECT_LE(relative_error(got.o, ref.o), 1e-13);
  EXPECT_LE(max_scaled_error(got.lse, ref.lse), 1e-13);
  EXPECT_LE(relative_error(got.dq, ref.dq), 1e-12);
  EXPECT_LE(relative_error(got.dk, ref.dk), 1e-12);
  EXPECT_LE(relative_error(got.dv, ref.dv), 1e-12);
  const auto single = wf::testing::run_attention<float>(p, shape);
  EXPECT_LE(relative_error(single.o, ref.o), Tolerance<float>::forward * eps<float>());
  EXPECT_LE(relative_error(single.dk, ref.dk), Tolerance<float>::backward * eps<float>());
}

// A non-default scale is honoured.
TEST(AttentionKernels, CustomScale) {
  Case c{"scale", 24, 24, 1, 1, 8, 8, 8, false, 1};
  auto p = make_problem(c, 13);
  p.scale = 0.77;
  const auto ref = wf::reference::attention_reference(p);
  const auto got = wf::testing::run_attention<double>(p, {8, 8, TileImpl::blas, 1});
  EXPECT_LE(relative_error(got.o, ref.o), 1e-13);
  EXPECT_LE(relative_error(got.dq, ref.dq), 1e-12);
}

}  // namespace

namespace {

/// Zigzag shard r of N tokens over P processes: chunks r and 2P - 1 - r of N / (2P).
std::vector<std::int64_t> zigzag_shard(std::int64_t n, int p, int r) {
  const std::int64_t chunk = n / (2 * p);
  std::vector<std::int64_t> pos;
  for (const std::int64_t c : {std::int64_t(r), std::int64_t(2 * p - 1 - r)})
    for (std::int64_t i = 0; i < chunk; ++i) pos.push_back(c * chunk + i);
  return pos;
}

// Causal runs split over P = 8 zigzag shards (Ring: every rank's queries meet every shard's
// keys): the blas path computes within 2 % of the pairs the mask needs, whatever N and tile
// (tiles never straddle two chunks, tiles cut by the mask are refined); the fused path
// computes its tiles whole.
TEST(AttentionKernels, CausalZigzagComputesTheNeededPairs) {
  for (const std::int64_t n : {1024, 1536, 4096}) {
    wf::kernels::AttentionOptions opt;
    opt.mask = wf::kernels::MaskKind::causal;
    opt.q_tile = opt.kv_tile = 128;
    wf::kernels::TileStats blas, fused;
    for (int q = 0; q < 8; ++q)
      for (int k = 0; k < 8; ++k) {
        const auto q_pos = wf::testing::to_positions(zigzag_shard(n, 8, q));
        const auto k_pos = wf::testing::to_positions(zigzag_shard(n, 8, k));
        opt.impl = TileImpl::blas;
        blas += wf::kernels::count_tiles_of<wf::MemSpace>(opt, q_pos, k_pos);
        opt.impl = TileImpl::fused;
        fused += wf::kernels::count_tiles_of<wf::MemSpace>(opt, q_pos, k_pos);
      }
    SCOPED_TRACE("N = " + std::to_string(n));
    std::printf("N = %lld, P = 8, tile 128: pairs needed %lld, computed blas %lld (%.4f), fused %lld (%.4f)\n",
                static_cast<long long>(n), static_cast<long long>(blas.pairs_unmasked),
                static_cast<long long>(blas.pairs_computed), double(blas.pairs_computed) / blas.pairs_unmasked,
                static_cast<long long>(fused.pairs_computed), double(fused.pairs_computed) / fused.pairs_unmasked);
    EXPECT_EQ(blas.pairs_unmasked, n * (n + 1) / 2);
    EXPECT_EQ(fused.pairs_unmasked, n * (n + 1) / 2);
    EXPECT_LE(double(blas.pairs_computed), 1.02 * double(blas.pairs_unmasked));
    EXPECT_GE(fused.pairs_computed, fused.pairs_unmasked);
  }
}

// Tiles start wherever positions jump, so no tile mixes two chunks of a zigzag shard.
TEST(AttentionKernels, TilesNeverStraddleAJump) {
  const auto positions = zigzag_shard(1536, 8, 3);  // two chunks of 96, tile 128
  const Kokkos::View<const std::int64_t*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> pos(
      positions.data(), positions.size());
  const auto tiles = wf::kernels::tile_ranges(pos, 128);
  ASSERT_EQ(tiles.count(), 2u);
  for (std::size_t t = 0; t < tiles.count(); ++t) {
    EXPECT_EQ(tiles.end[t] - tiles.begin[t], 96);
    EXPECT_EQ(tiles.max_pos[t] - tiles.min_pos[t], 95);
  }
}

}  // namespace
