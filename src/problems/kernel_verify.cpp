#include "problems/kernel_verify.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "comm/log.hpp"
#include "core/device_copy.hpp"
#include "perf/report.hpp"
#include "problems/result_comparison.hpp"

namespace wf::problems {
namespace {

/// Every element of a contiguous view (any rank), in double on the host.
template <class View>
std::vector<double> host_vector(const View& view) {
  using T = typename View::non_const_value_type;
  const auto flat = Kokkos::View<const T*, typename View::memory_space, Kokkos::MemoryTraits<Kokkos::Unmanaged>>(
      view.data(), view.span());
  const std::vector<T> host = to_host(flat);
  return std::vector<double>(host.begin(), host.end());
}


}  // namespace

template <class T>
reference::AttentionResult copy_outputs(const kernels::Tensor3<T, MemSpace>& o,
                                        const kernels::Tensor2<T, MemSpace>& lse,
                                        const kernels::AttentionGradients<T, MemSpace>& grad) {
  return {host_vector(o), host_vector(lse), host_vector(grad.dq), host_vector(grad.dk), host_vector(grad.dv)};
}

template <class T>
bool verify_kernel_outputs(const kernels::AttentionOptions& opt, const KernelInputs<T>& inputs,
                           const std::vector<NamedOutputs>& paths) {
  const index_t n = static_cast<index_t>(inputs.q.extent(1));
  const int d = opt.head_dim;
  const bool full = double(opt.heads) * double(n) * double(n) * d <= std::pow(2.0, 31);
  std::vector<index_t> rows;
  if (full) {
    for (index_t i = 0; i < n; ++i) rows.push_back(i);
  } else {
    for (int s = 0; s < 64; ++s) rows.push_back(static_cast<index_t>((n - 1) * s / 63));
  }
  reference::AttentionProblem problem;
  problem.heads = opt.heads;
  problem.kv_heads = opt.kv_heads;
  problem.head_dim = d;
  problem.scale = opt.scale;
  problem.causal = opt.mask == kernels::MaskKind::causal;
  for (index_t i = 0; i < n; ++i) problem.k_pos.push_back(i);
  problem.q_pos.assign(rows.begin(), rows.end());  // positions are 0..N-1
  problem.q = rows_of_heads(host_vector(inputs.q), opt.heads, n, d, rows);
  problem.d_o = rows_of_heads(host_vector(inputs.d_o), opt.heads, n, d, rows);
  problem.k = host_vector(inputs.k);
  problem.v = host_vector(inputs.v);
  const auto ref = reference::attention_reference(problem);

  const double eps = std::numeric_limits<T>::epsilon();
  const double tolerance = 64 * eps * std::log2(std::max<double>(2.0, static_cast<double>(n)));
  perf::Table table({"path", "O", "lse", "dQ", "dK", "dV"});
  bool ok = true;
  for (const auto& path : paths) {
    const auto& out = *path.outputs;
    std::vector<double> errors = {relative_error(rows_of_heads(out.o, opt.heads, n, d, rows), ref.o),
                                  relative_error(rows_of_heads(out.lse, opt.heads, n, 1, rows), ref.lse),
                                  relative_error(rows_of_heads(out.dq, opt.heads, n, d, rows), ref.dq)};
    if (full) {
      errors.push_back(relative_error(out.dk, ref.dk));
      errors.push_back(relative_error(out.dv, ref.dv));
    }
    std::vector<std::string> cells = {path.name};
    for (double e : errors) {
      ok = ok && e <= tolerance;  // NaN fails too
      char text[32];
      std::snprintf(text, sizeof text, "%.2e", e);
      cells.push_back(text);
    }
    while (cells.size() < 6) cells.push_back("n/a");
    table.add_row(cells);
  }
  comm::log_root(std::string("\nverification against the double reference (") +
           (full ? "every row" : "64 sampled rows per head; dK, dV need every row: n/a at this size") +
           ", relative 2-norm errors)\n" + table.str());
  char line[160];
  std::snprintf(line, sizeof line, "verification %s: tolerance %.2e = 64 eps log2(N)", ok ? "passed" : "FAILED",
                tolerance);
  comm::log_root(line);
  return ok;
}

template reference::AttentionResult copy_outputs<float>(const kernels::Tensor3<float, MemSpace>&,
                                                        const kernels::Tensor2<float, MemSpace>&,
                                                        const kernels::AttentionGradients<float, MemSpace>&);
template reference::AttentionResult copy_outputs<double>(const kernels::Tensor3<double, MemSpace>&,
                                                         const kernels::Tensor2<double, MemSpace>&,
                                                         const kernels::AttentionGradients<double, MemSpace>&);
template bool verify_kernel_outputs<float>(const kernels::AttentionOptions&, const KernelInputs<float>&,
                                           const std::vector<NamedOutputs>&);
template bool verify_kernel_outputs<double>(const kernels::AttentionOptions&, const KernelInputs<double>&,
                                            const std::vector<NamedOutputs>&);

}  // namespace wf::problems
