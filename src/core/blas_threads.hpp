// One BLAS thread per MPI rank (DESIGN 4): ranks already fill the cores.
#pragma once

namespace wf {

/// \brief Sets OpenBLAS (when it is the BLAS underneath) to `threads` threads; returns false
/// when the BLAS offers no such control.
bool set_blas_threads(int threads);

}  // namespace wf
