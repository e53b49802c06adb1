// wallfacer-platform MACHINE.toml RANKS OUTPUT_PREFIX: writes OUTPUT_PREFIX.xml (a SimGrid
// platform of RANKS ranks on the machine) and OUTPUT_PREFIX.hosts (smpirun's host file).
// No MPI: it runs anywhere, also next to the SimGrid build whose program only runs in smpirun.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include "config/machine.hpp"
#include "config/platform.hpp"
#include "core/error.hpp"

namespace {

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) throw wf::Error("cannot write '" + path + "'");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: wallfacer-platform MACHINE.toml RANKS OUTPUT_PREFIX (writes OUTPUT_PREFIX.xml and .hosts)\n";
    return 2;
  }
  try {
    const wf::config::Machine machine = wf::config::load_machine(argv[1]);
    char* end = nullptr;
    const long ranks = std::strtol(argv[2], &end, 10);
    if (end == argv[2] || *end != '\0' || ranks < 1) throw wf::Error(std::string("RANKS = '") + argv[2] + "' is not a positive integer");
    write_file(std::string(argv[3]) + ".xml", wf::config::simgrid_platform(machine, static_cast<int>(ranks)));
    write_file(std::string(argv[3]) + ".hosts", wf::config::simgrid_hostfile(machine, static_cast<int>(ranks)));
  } catch (const std::exception& e) {
    std::cerr << "wallfacer-platform: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
