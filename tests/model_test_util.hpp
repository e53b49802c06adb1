// The tiny model shapes and the schedule contexts the model tests share.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "comm/communicator.hpp"
#include "model/model_config.hpp"
#include "model/parameters.hpp"
#include "model/transformer.hpp"
#include "nbody/schedule_context.hpp"
#include "test_util.hpp"

namespace wf::testing {

/// \brief 2 layers, d_model 8, 2 heads of 4 sharing 1 kv head, mlp 12, vocab 11.
inline model::ModelShape tiny_model_shape(double rotary_base = 10000.0) {
  model::ModelShape s;
  s.vocab = 11;
  s.d_model = 8;
  s.layers = 2;
  s.heads = 2;
  s.kv_heads = 1;
  s.head_dim = 4;
  s.mlp_dim = 12;
  s.rotary_base = rotary_base;
  return s;
}

/// \brief The attention of a model shape through `kind` (tiles of 4, scale 1/sqrt(head_dim)).
inline model::AttentionPlan attention_plan(const model::ModelShape& s, Schedule kind, RotateSide side,
                                           kernels::MaskKind mask) {
  model::AttentionPlan plan;
  plan.options.heads = s.heads;
  plan.options.kv_heads = s.kv_heads;
  plan.options.head_dim = s.head_dim;
  plan.options.scale = 1.0 / std::sqrt(double(s.head_dim));
  plan.options.mask = mask;
  plan.options.q_tile = plan.options.kv_tile = 4;
  plan.schedule = kind;
  plan.rotate = side;
  return plan;
}

/// \brief The context of `kind` on `world` over `sharding`: the ulysses-wallfacer hybrid has
/// head groups of 2 and a ring grid of P / 2 ranks with `team_size`, the others a grid of P.
inline nbody::ScheduleContext make_context(comm::Communicator& world, Schedule kind, int team_size,
                                           const nbody::Sharding& sharding) {
  const int p = world.size();
  if (kind != Schedule::ulysses_wallfacer)
    return nbody::ScheduleContext(world, comm::ProcessGrid(p, team_size, Arrangement::team_major), sharding);
  return nbody::ScheduleContext(world, comm::ProcessGrid(p / 2, team_size, Arrangement::team_major),
                                comm::HeadGroups(p, 2, HeadPlacement::consecutive), sharding);
}

/// \brief Adds uniform noise in [-amplitude, amplitude) to every parameter (weights larger than
/// the initialisation's 0.02, so that every path carries signal).
inline void add_noise(model::Parameters<double>& params, std::uint64_t seed, double amplitude) {
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), params.values);
  const auto noise = random_vector(h.span(), seed, -amplitude, amplitude);
  for (std::size_t i = 0; i < h.span(); ++i) h(i) += noise[i];
  Kokkos::deep_copy(params.values, h);
}

/// \brief Expects `analytic` (the gradient of loss_of() at params) to equal central differences
/// with step h at three random entries of every parameter tensor, within absolute + relative
/// * |difference|. The parameters are restored.
inline void expect_gradients_match_differences(model::Parameters<double>& params, const std::vector<double>& analytic,
                                               const std::function<double()>& loss_of, double absolute,
                                               double relative, double h = 1e-5) {
  auto values = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), params.values);
  std::mt19937_64 gen(17);
  for (const auto& info : params.infos())
    for (int trial = 0; trial < 3; ++trial) {
      const std::size_t k = info.offset + gen() % info.size;
      const double saved = values(k);
      double loss[2];
      for (int side = 0; side < 2; ++side) {
        values(k) = saved + (side == 0 ? h : -h);
        Kokkos::deep_copy(params.values, values);
        loss[side] = loss_of();
      }
      values(k) = saved;
      Kokkos::deep_copy(params.values, values);
      const double numeric = (loss[0] - loss[1]) / (2 * h);
      EXPECT_NEAR(analytic[k], numeric, absolute + relative * std::abs(numeric)) << info.name << " element "
                                                                                 << k - info.offset;
    }
}

}  // namespace wf::testing
