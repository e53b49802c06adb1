// The resolved configuration of a run: every deck key with its default.
// Decks (TOML) and --set overrides fill it; validate() checks it. See docs/decks.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/enums.hpp"

namespace wf::config {

/// \brief [run]: what to run and how.
struct RunSection {
  Problem problem = Problem::kernel;
  Precision precision = Precision::fp32;
  std::uint64_t seed = 20240701;     ///< seed of every random input
  bool verify = false;               ///< also check against a double-precision reference
  bool allow_non_finite = false;     ///< accept NaN/inf in inputs, weights and losses (experiments)
};

/// \brief [attention]: one attention layer.
struct AttentionSection {
  std::int64_t seq_len = 2048;  ///< N, tokens in the sequence
  int heads = 8;
  int kv_heads = 0;  ///< 0 means heads (multi-head attention)
  int head_dim = 64;
  bool causal = false;
  double scale = 0.0;          ///< 0 means 1/sqrt(head_dim)
  TileChoice impl = TileChoice::blas;
  int q_tile = 128;            ///< query rows per tile
  int kv_tile = 128;           ///< key rows per tile
  std::string input;           ///< HDF5 file with /input/{q,k,v,do}; "" = seeded random inputs
  std::string output;          ///< HDF5 file for /output/{o,lse} and /grad/{dq,dk,dv}; "" = none
};

/// \brief [parallel]: how the sequence is distributed (problems attention and gravity).
struct ParallelSection {
  Schedule schedule = Schedule::wallfacer;
  int team_size = 1;                    ///< c, the replication factor; c^2 must divide P
  Arrangement arrangement = Arrangement::team_major;
  RotateSide rotate = RotateSide::query;  ///< backward: the query side travels, or the key side
  int head_group_size = 2;              ///< u of ulysses-wallfacer: ranks that split the heads
  HeadPlacement head_placement = HeadPlacement::consecutive;  ///< ulysses-wallfacer: where a head group's ranks are
  Backend backend = Backend::mpi;
  int ranks_per_node = 0;               ///< 0: detect with MPI_Comm_split_type
  double deadline_seconds = 120.0;      ///< the longest any wait may take (>= 1)
  std::string machine;                  ///< machine file for schedule = "auto" (and compute injection under SimGrid)
};

/// \brief [gravity]: softened direct-sum n-body problem.
struct GravitySection {
  std::int64_t bodies = 4096;
  double softening = 1e-2;             ///< Plummer softening length (> 0)
  double gravitational_constant = 1.0;
  int tile = 256;                      ///< source bodies per tile
};

/// \brief [model]: the model of the training benchmark, a GPT (causal) or a DiT (bidirectional)
/// (heads, kv_heads, head_dim, seq_len, tiles and tile path come from [attention]).
struct ModelSection {
  ModelKind kind = ModelKind::gpt;
  int vocab = 64;
  int d_model = 64;
  int layers = 2;
  int mlp_dim = 0;                 ///< 0 means 4 d_model
  double rotary_base = 10000.0;
  DataMode data = DataMode::recall;  ///< long-range key-value recall, or uniform tokens
  int pairs = 0;                   ///< recall pairs per sample; 0 chooses
  std::string weights_in;          ///< HDF5 file with /params/<torch names>; "" = seeded init
  bool tokens_from_weights = false;  ///< also read /data/tokens [N] from weights_in
  std::string grads_out;           ///< HDF5 file for /params, /grads and /loss after the first step
  int patch_dim = 16;              ///< DiT: scalars per patch token (e.g. 2 x 2 patches of 4 latent channels)
  int timestep_dim = 256;          ///< DiT: frequencies of the sinusoidal timestep embedding
  int diffusion_steps = 1000;      ///< DiT: T of the linear noise schedule (timesteps 0 .. T-1)
};

/// \brief [train]: the optimisation and the outputs of the training benchmark.
struct TrainSection {
  int steps = 20;                  ///< timed steps (bench.warmup untimed steps come first)
  double learning_rate = 3e-3;
  double weight_decay = 0.0;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.95;
  double adam_eps = 1e-8;
  double clip_norm = 1.0;          ///< 0: no gradient clipping
  int checkpoint_every = 0;        ///< 0: no checkpoints
  std::string checkpoint_prefix = "results/checkpoint";
  std::string restart_from;        ///< checkpoint file to continue from; "" = start fresh
  std::string results = "results/train.h5";  ///< HDF5 results file; "" = none
  bool trace = true;               ///< keep every phase and transfer event in /trace
  double peak_gflops = 0.0;        ///< per rank; 0 = the gemm rate measured at start
  std::optional<Schedule> compare_schedule;  ///< a schedule to run the same steps with, for the comparison table
};

/// \brief [bench]: repetitions and baselines.
struct BenchSection {
  int warmup = 1;             ///< untimed repetitions
  int repeats = 3;            ///< timed repetitions (the best and the mean are reported)
  int gemm_size = 1024;       ///< m = n = k of the reference gemm rate
  bool dense_baseline = true; ///< also time naive dense attention (N x N scores)
};

/// \brief Everything a run needs.
struct RunConfig {
  RunSection run;
  AttentionSection attention;
  GravitySection gravity;
  ParallelSection parallel;
  ModelSection model;
  TrainSection train;
  BenchSection bench;
  std::string deck_path;   ///< where it came from ("" for defaults only)
  std::string deck_text;   ///< the resolved configuration as TOML (for reports and HDF5)

  /// \brief Number of kv heads with the 0 default resolved.
  int kv_heads() const { return attention.kv_heads == 0 ? attention.heads : attention.kv_heads; }
  /// \brief Softmax scale with the 0 default resolved.
  double attention_scale() const;
};

}  // namespace wf::config
