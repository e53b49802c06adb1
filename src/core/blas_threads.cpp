#include "core/blas_threads.hpp"

// Weak: resolves to null when the BLAS in use is not OpenBLAS.
extern "C" void openblas_set_num_threads(int) __attribute__((weak));

namespace wf {

bool set_blas_threads(int threads) {
  if (openblas_set_num_threads == nullptr) return false;
  openblas_set_num_threads(threads);
  return true;
}

}  // namespace wf
