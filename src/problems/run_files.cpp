#include "problems/run_files.hpp"

#include <cctype>
#include <cstdlib>

#include "core/error.hpp"
#include "io/output_path.hpp"
#include "model/checkpoint.hpp"

namespace wf::problems {
namespace {

bool training(const config::RunConfig& cfg) { return cfg.run.problem == Problem::train; }

[[noreturn]] void refuse(const RunFile& output, const RunFile& other, const char* role) {
  throw Error(output.key + " = '" + output.path + "' is the same file as " + other.key + " = '" + other.path +
              "': writing it would destroy " + role + "; choose another path for " + output.key);
}

/// The step of a checkpoint file name ("..._step000010.h5" -> 10), or -1.
long long checkpoint_step_of(const std::string& path) {
  const std::string suffix = ".h5";
  if (path.size() <= suffix.size() || path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0) return -1;
  std::size_t begin = path.size() - suffix.size();
  while (begin > 0 && std::isdigit(static_cast<unsigned char>(path[begin - 1]))) --begin;
  const std::size_t digits = path.size() - suffix.size() - begin;
  if (digits == 0 || digits > 12) return -1;
  return std::atoll(path.substr(begin, digits).c_str());
}

/// A checkpoint this run writes that is the file `input`, or "".
std::string checkpoint_overwriting(const config::RunConfig& cfg, const std::string& input) {
  if (!training(cfg) || cfg.train.checkpoint_every <= 0) return "";
  const long long step = checkpoint_step_of(input);
  const long long last = static_cast<long long>(cfg.bench.warmup) + cfg.train.steps;
  if (step <= 0 || step > last || step % cfg.train.checkpoint_every != 0) return "";
  const std::string path = model::checkpoint_path(cfg.train.checkpoint_prefix, step);
  return io::same_file(path, input) ? path : "";
}

}  // namespace

std::vector<RunFile> input_files(const config::RunConfig& cfg) {
  std::vector<RunFile> files;
  if (!cfg.deck_path.empty()) files.push_back({"the deck", cfg.deck_path});
  if (cfg.run.problem == Problem::attention && !cfg.attention.input.empty())
    files.push_back({"attention.input", cfg.attention.input});
  if (training(cfg) && !cfg.model.weights_in.empty()) files.push_back({"model.weights_in", cfg.model.weights_in});
  if (training(cfg) && !cfg.train.restart_from.empty()) files.push_back({"train.restart_from", cfg.train.restart_from});
  return files;
}

std::vector<RunFile> output_files(const config::RunConfig& cfg) {
  std::vector<RunFile> files;
  if (cfg.run.problem == Problem::attention && !cfg.attention.output.empty())
    files.push_back({"attention.output", cfg.attention.output});
  if (training(cfg) && !cfg.train.results.empty()) files.push_back({"train.results", cfg.train.results});
  if (training(cfg) && !cfg.model.grads_out.empty()) files.push_back({"model.grads_out", cfg.model.grads_out});
  return files;
}

void check_run_files(const config::RunConfig& cfg) {
  const std::vector<RunFile> inputs = input_files(cfg), outputs = output_files(cfg);
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    for (const RunFile& input : inputs)
      if (io::same_file(outputs[o].path, input.path)) refuse(outputs[o], input, "the input");
    for (std::size_t other = o + 1; other < outputs.size(); ++other)
      if (io::same_file(outputs[o].path, outputs[other].path)) refuse(outputs[other], outputs[o], "the other output");
  }
  for (const RunFile& input : inputs) {
    // A restart continues after its checkpoint's step: checkpoints before it are not rewritten.
    if (input.key == "train.restart_from") continue;
    const std::string checkpoint = checkpoint_overwriting(cfg, input.path);
    require(checkpoint.empty(), "train.checkpoint_prefix = '" + cfg.train.checkpoint_prefix + "' writes '" + checkpoint +
                                    "', the same file as " + input.key + " = '" + input.path +
                                    "': it would be overwritten; choose another train.checkpoint_prefix");
  }
}

}  // namespace wf::problems
