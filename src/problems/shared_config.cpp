#include "problems/shared_config.hpp"

#include <exception>

#include "comm/collective_errors.hpp"
#include "comm/deadline.hpp"
#include "comm/mpi_util.hpp"
#include "comm/reductions.hpp"
#include "config/deck.hpp"
#include "io/checksum.hpp"

namespace wf::problems {
namespace {

/// The first rank whose configuration hash differs from rank 0's, or -1.
int first_disagreeing_rank(MPI_Comm comm, const config::RunConfig& cfg) {
  const auto hashes = comm::gather_over_ranks(comm, io::checksum_text(cfg.deck_path + "\n" + cfg.deck_text),
                                              "comparing the resolved configuration");
  for (std::size_t r = 1; r < hashes.size(); ++r)
    if (hashes[r] != hashes[0]) return static_cast<int>(r);
  return -1;
}

}  // namespace

int load_shared_config(const std::string& deck_path, const std::vector<std::string>& overrides, MPI_Comm comm,
                       config::RunConfig& cfg, bool deck_optional) {
  std::string text;
  int code = comm::exit_code_of(comm, [&] {
    require(!deck_path.empty() || deck_optional, "no deck given: wallfacer DECK.toml [--set section.key=value ...]"
                                                 " (see --help; inputs/default.toml is the default deck)");
    if (comm::rank_of(comm) == 0 && !deck_path.empty()) text = config::read_deck_text(deck_path);
  });
  if (code != 0) return code;
  text = comm::broadcast(comm, text);
  code = comm::exit_code_of(comm, [&] { cfg = config::config_from_toml(text, deck_path, overrides); });
  if (code != 0) return code;
  comm::set_deadline_seconds(cfg.parallel.deadline_seconds);
  const int differs = first_disagreeing_rank(comm, cfg);  // the same on every rank
  return comm::exit_code_of(comm, [&] {
    require(differs < 0, "the ranks resolved different configurations: rank " + std::to_string(differs) +
                             " differs from rank 0 (different --set options or environments per rank?)");
  });
}

}  // namespace wf::problems
