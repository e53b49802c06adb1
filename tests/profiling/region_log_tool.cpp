// A minimal Kokkos profiling tool of the project's own, for the profiling-region test: it
// writes one line per region event to $WF_REGION_LOG.<rank> ("push <depth> <parent> > <name>",
// "pop <depth> <name>") and, at the end, "end balanced" or "end unbalanced <depth>". Loaded by
// Kokkos through KOKKOS_TOOLS_LIBS (Kokkos 4) or KOKKOS_PROFILE_LIBRARY (Kokkos 3.4).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

std::FILE* log_file = nullptr;
std::vector<std::string> open_regions;
bool underflow = false;

std::string rank_suffix() {
  for (const char* variable : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"})
    if (const char* value = std::getenv(variable)) return value;
  return "0";
}

}  // namespace

extern "C" void kokkosp_init_library(int, std::uint64_t, std::uint32_t, void*) {
  const char* base = std::getenv("WF_REGION_LOG");
  if (base == nullptr) return;
  log_file = std::fopen((std::string(base) + "." + rank_suffix()).c_str(), "w");
}

extern "C" void kokkosp_push_profile_region(const char* name) {
  const std::string parent = open_regions.empty() ? "-" : open_regions.back();
  open_regions.emplace_back(name);
  if (log_file) std::fprintf(log_file, "push %zu %s > %s\n", open_regions.size(), parent.c_str(), name);
}

extern "C" void kokkosp_pop_profile_region() {
  if (open_regions.empty()) {
    underflow = true;
    if (log_file) std::fprintf(log_file, "pop without push\n");
    return;
  }
  if (log_file) std::fprintf(log_file, "pop %zu %s\n", open_regions.size(), open_regions.back().c_str());
  open_regions.pop_back();
}

extern "C" void kokkosp_finalize_library() {
  if (log_file == nullptr) return;
  if (open_regions.empty() && !underflow)
    std::fprintf(log_file, "end balanced\n");
  else
    std::fprintf(log_file, "end unbalanced %zu\n", open_regions.size());
  std::fclose(log_file);
  log_file = nullptr;
}
