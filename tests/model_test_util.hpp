// The tiny model shapes and the schedule contexts the model tests share.
#pragma once

#include "comm/communicator.hpp"
#include "model/model_config.hpp"
#include "nbody/schedule_context.hpp"

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

}  // namespace wf::testing
