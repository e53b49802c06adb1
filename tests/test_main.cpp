// GoogleTest main for MPI runs: every rank runs the tests, rank 0 prints (WF_TEST_ALL_RANKS=1:
// every rank), and the ranks that failed are named at the end. Exit code is non-zero on every
// rank if any rank failed.
#include <gtest/gtest.h>
#include <mpi.h>

#include <Kokkos_Core.hpp>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int result = 0;
  {
    Kokkos::ScopeGuard kokkos(argc, argv);
    ::testing::InitGoogleTest(&argc, argv);
    if (rank != 0 && std::getenv("WF_TEST_ALL_RANKS") == nullptr) {
      // Only rank 0 prints the progress; failures of other ranks are reported below
      // (WF_TEST_ALL_RANKS=1 lets every rank print, to see another rank's failures).
      auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
      delete listeners.Release(listeners.default_result_printer());
    }
    result = RUN_ALL_TESTS();
  }
  std::vector<int> results(static_cast<std::size_t>(size));
  MPI_Gather(&result, 1, MPI_INT, results.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  int any_failed = result != 0 ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0 && any_failed) {
    std::string failed;
    for (int r = 0; r < size; ++r)
      if (results[static_cast<std::size_t>(r)] != 0) failed += " " + std::to_string(r);
    std::cerr << "[  MPI   ] tests failed on rank(s):" << failed << std::endl;
  }
  MPI_Finalize();
  return any_failed;
}
