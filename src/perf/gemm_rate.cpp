#include "perf/gemm_rate.hpp"

#include <KokkosBlas3_gemm.hpp>
#include <Kokkos_Core.hpp>
#include <Kokkos_Random.hpp>

#include <algorithm>

#include "core/timer.hpp"
#include "core/types.hpp"
#include "perf/flops.hpp"

namespace wf::perf {

template <class T>
double measure_gemm_gflops(int n, int repeats) {
  using Matrix = Kokkos::View<T**, Kokkos::LayoutRight, MemSpace>;
  Matrix a("Perf::gemm_a", n, n), b("Perf::gemm_b", n, n), c("Perf::gemm_c", n, n);
  Kokkos::Random_XorShift64_Pool<ExecSpace> pool(12345);
  Kokkos::fill_random(a, pool, T(1));
  Kokkos::fill_random(b, pool, T(1));
  KokkosBlas::gemm("N", "T", T(1), a, b, T(0), c);  // warm-up: threads, pages, caches
  double best = 0.0;
  for (int r = 0; r < repeats; ++r) {
    Stopwatch watch("Perf::gemm_rate");
    KokkosBlas::gemm("N", "T", T(1), a, b, T(0), c);
    best = std::max(best, gemm_flops(n, n, n) / watch.stop() * 1e-9);
  }
  return best;
}

template double measure_gemm_gflops<float>(int, int);
template double measure_gemm_gflops<double>(int, int);

}  // namespace wf::perf
