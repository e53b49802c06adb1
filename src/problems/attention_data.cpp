#include "problems/attention_data.hpp"

#include <chrono>
#include <cmath>
#include <ctime>

#include "comm/collective_errors.hpp"
#include "io/hdf5.hpp"
#include "wf_config.hpp"
#include "core/region.hpp"

namespace wf::problems {
namespace {

/// Uniform in [-1, 1) from (seed, tensor, element): a counter-based generator, so every
/// process makes exactly the values of its tokens whatever the process count.
double counter_uniform(std::uint64_t seed, std::uint64_t tensor, std::uint64_t element) {
  std::uint64_t x = seed ^ (tensor * 0x9E3779B97F4A7C15ull) ^ (element * 0xD1B54A32D192ED03ull);
  x += 0x9E3779B97F4A7C15ull;  // splitmix64 finaliser
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  x ^= x >> 31;
  return static_cast<double>(x >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

std::vector<io::TokenRange> io_ranges(const nbody::Sharding& sharding, int shard) {
  std::vector<io::TokenRange> out;
  for (const auto& r : sharding.ranges(shard))
    out.push_back({static_cast<std::uint64_t>(r.begin), static_cast<std::uint64_t>(r.count)});
  return out;
}

/// [n][rows][width] (file order) <-> [rows][n][width] (head-major), appended to / read from out.
template <class T>
void token_major_to_head_major(const std::vector<T>& in, index_t n, int rows, int width, std::vector<T>& out) {
  const std::size_t base = out.size();
  out.resize(base + in.size());
  for (index_t i = 0; i < n; ++i)
    for (int h = 0; h < rows; ++h)
      for (int c = 0; c < width; ++c)
        out[base + static_cast<std::size_t>((h * n + i) * width + c)] = in[static_cast<std::size_t>((i * rows + h) * width + c)];
}

template <class T>
std::vector<T> head_major_to_token_major(const std::vector<T>& in, index_t n, int rows, int width) {
  std::vector<T> out(in.size());
  for (index_t i = 0; i < n; ++i)
    for (int h = 0; h < rows; ++h)
      for (int c = 0; c < width; ++c)
        out[static_cast<std::size_t>((i * rows + h) * width + c)] = in[static_cast<std::size_t>((h * n + i) * width + c)];
  return out;
}

/// Index of the first NaN or infinity in `values`, or values.size().
template <class T>
std::size_t first_non_finite(const std::vector<T>& values) {
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i])) return i;
  return values.size();
}

/// Collective: throws on every rank when a rank's `token_major` ([n][rows][width], tokens at
/// `positions`) holds a non-finite value, naming the file, dataset, token, head and element.
template <class T>
void require_finite_tokens(const std::vector<T>& token_major, const std::vector<index_t>& positions, int rows,
                           int width, const std::string& where, MPI_Comm comm) {
  const std::size_t at = first_non_finite(token_major);
  comm::collectively(comm, [&] {
    if (at == token_major.size()) return;
    const std::size_t row_size = static_cast<std::size_t>(rows) * width, token = at / row_size;
    throw Error(where + " holds " + std::to_string(token_major[at]) + " at token " + std::to_string(positions[token]) +
                ", head " + std::to_string((at % row_size) / width) + ", element " + std::to_string(at % width) +
                " (non-finite inputs are errors; run.allow_non_finite = true accepts them)");
  });
}

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

}  // namespace

template <class T>
AttentionInputs<T> load_attention_inputs(const config::RunConfig& cfg, const nbody::Sharding& sharding, int shard,
                                         MPI_Comm comm) {
  const ProfilingRegion region("IO::load_attention_inputs");
  const auto& a = cfg.attention;
  const int heads = a.heads, kv_heads = cfg.kv_heads(), d = a.head_dim;
  const index_t n = sharding.shard_tokens(), total = sharding.tokens();
  const std::vector<index_t> positions = sharding.positions(shard, 1);
  AttentionInputs<T> in;
  if (a.input.empty()) {
    auto fill = [&](std::uint64_t tensor, int rows, std::vector<T>& out) {
      const std::size_t base = out.size();
      out.resize(base + std::size_t(rows) * n * d);
      for (int h = 0; h < rows; ++h)
        for (index_t i = 0; i < n; ++i)
          for (int c = 0; c < d; ++c) {
            const std::uint64_t element = (std::uint64_t(positions[i]) * rows + h) * d + c;  // file order
            out[base + static_cast<std::size_t>((h * n + i) * d + c)] =
                static_cast<T>(counter_uniform(cfg.run.seed, tensor, element));
          }
    };
    fill(0, heads, in.q);
    fill(1, kv_heads, in.kv);
    fill(2, kv_heads, in.kv);
    fill(3, heads, in.d_o);
    return in;
  }
  io::InputFile file = io::InputFile::open(a.input, comm);
  const auto ranges = io_ranges(sharding, shard);
  auto read = [&](const char* path, int rows, std::vector<T>& out) {
    std::vector<T> token_major(std::size_t(n) * rows * d);
    io::read_token_slices<T>(file, path, {std::uint64_t(total), std::uint64_t(rows), std::uint64_t(d)}, 0, ranges,
                             token_major.data());
    if (!cfg.run.allow_non_finite) require_finite_tokens(token_major, positions, rows, d, a.input + ": " + path, comm);
    token_major_to_head_major(token_major, n, rows, d, out);
  };
  read("/input/q", heads, in.q);
  read("/input/k", kv_heads, in.kv);
  read("/input/v", kv_heads, in.kv);
  read("/input/do", heads, in.d_o);
  return in;
}

template <class T>
AttentionInputs<T> load_whole_attention_inputs(const config::RunConfig& cfg, MPI_Comm comm) {
  return load_attention_inputs<T>(cfg, nbody::Sharding(cfg.attention.seq_len, 1, false), 0, comm);
}

template <class T>
void write_attention_outputs(const config::RunConfig& cfg, const nbody::Sharding& sharding, int shard,
                             const AttentionOutputs<T>& out, MPI_Comm comm) {
  const ProfilingRegion region("IO::write_attention_outputs");
  const auto& a = cfg.attention;
  const std::uint64_t total = static_cast<std::uint64_t>(sharding.tokens());
  const std::uint64_t heads = a.heads, kv_heads = cfg.kv_heads(), d = a.head_dim;
  const index_t n = sharding.shard_tokens();
  const auto ranges = io_ranges(sharding, shard);
  int ranks = 1;
  MPI_Comm_size(comm, &ranks);
  io::OutputFile file = io::OutputFile::create(a.output, comm);
  auto write = [&](const char* path, const std::vector<T>& head_major, std::uint64_t rows) {
    const auto token_major = head_major_to_token_major(head_major, n, int(rows), int(d));
    io::write_token_slices<T>(file, path, {total, rows, d}, 0, ranges, token_major.data());
  };
  write("/output/o", out.o, heads);
  io::write_token_slices<T>(file, "/output/lse", {heads, total}, 1, ranges, out.lse.data());
  write("/grad/dq", out.dq, heads);
  write("/grad/dk", out.dk, kv_heads);
  write("/grad/dv", out.dv, kv_heads);
  io::write_attribute(file, "/", "scale", cfg.attention_scale());
  io::write_attribute(file, "/", "causal", a.causal);
  io::write_attribute(file, "/", "software", std::string("WallFacer"));
  io::write_attribute(file, "/", "version", std::string(WF_VERSION_STRING));
  io::write_attribute(file, "/", "git_hash", std::string(WF_GIT_HASH));
  io::write_attribute(file, "/", "date", utc_now());
  io::write_attribute(file, "/", "ranks", std::int64_t(ranks));
  io::write_attribute(file, "/", "deck", cfg.deck_text);
  file.commit();
}

template AttentionInputs<float> load_attention_inputs<float>(const config::RunConfig&, const nbody::Sharding&, int, MPI_Comm);
template AttentionInputs<double> load_attention_inputs<double>(const config::RunConfig&, const nbody::Sharding&, int,
                                                               MPI_Comm);
template AttentionInputs<float> load_whole_attention_inputs<float>(const config::RunConfig&, MPI_Comm);
template AttentionInputs<double> load_whole_attention_inputs<double>(const config::RunConfig&, MPI_Comm);
template void write_attention_outputs<float>(const config::RunConfig&, const nbody::Sharding&, int,
                                             const AttentionOutputs<float>&, MPI_Comm);
template void write_attention_outputs<double>(const config::RunConfig&, const nbody::Sharding&, int,
                                              const AttentionOutputs<double>&, MPI_Comm);

}  // namespace wf::problems
