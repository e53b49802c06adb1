// The reference compute rate of this run: KokkosBlas::gemm on square matrices.
#pragma once

namespace wf::perf {

/// \brief Best GFLOP/s of `repeats` KokkosBlas::gemm calls of size n x n x n in precision T
/// (float or double), after one warm-up call.
template <class T>
double measure_gemm_gflops(int n, int repeats);

}  // namespace wf::perf
