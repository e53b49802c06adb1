// Cross-entropy of logits [rows][vocab] against integer targets, as
// torch.nn.functional.cross_entropy(..., ignore_index=-1, reduction="none"). A target of -1
// marks a row without a next token (the last position of the sequence, DESIGN 2.7): its loss
// and gradient are 0 and it is not counted. The mean over the global sequence is formed by
// the caller: sum over ranks, divided by the global count of valid rows; the backward takes
// that 1 / count as `scale`.
//
// One team per row (vocabularies are wide). The log-sum-exp subtracts the row maximum, so
// logits of any magnitude neither overflow nor lose the target's term.
#pragma once

#include <Kokkos_Core.hpp>

#include <string>

#include "core/compat.hpp"
#include "core/error.hpp"
#include "core/types.hpp"
#include "kernels/attention_types.hpp"

namespace wf::kernels {

/// Target value of a row that has no target.
constexpr index_t ignore_target = -1;

template <class Mem>
using TargetView = Kokkos::View<const index_t*, Mem>;  ///< [rows], class index or -1

/// \brief Per-row losses and their sum over the valid rows.
template <class T>
struct CrossEntropyResult {
  Kokkos::View<T*, MemSpace> loss;  ///< [rows]; 0 for ignored rows
  double sum = 0.0;                 ///< sum of loss over valid rows, accumulated in double
  index_t valid_rows = 0;           ///< rows whose target is not -1
};

namespace cross_entropy_detail {

/// Row maximum and log(sum_j exp(logit_j - max)) of one row, kept apart: logit - max is exact
/// when the two are within a factor 2 (Sterbenz), so loss and probabilities built from the parts
/// keep their relative precision for large logits (max + log_sum would add |logit| eps).
template <class T>
struct RowLogSumExp {
  T max;
  T log_sum;
};

template <class T, class Member, class Logits>
KOKKOS_INLINE_FUNCTION RowLogSumExp<T> row_log_sum_exp(const Member& team, const Logits& logits, const int i,
                                                       const int vocab) {
  T row_max = T(0);
  Kokkos::parallel_reduce(
      Kokkos::TeamThreadRange(team, vocab),
      [&](const int j, T& local) { local = logits(i, j) > local ? logits(i, j) : local; }, Kokkos::Max<T>(row_max));
  T sum = T(0);
  Kokkos::parallel_reduce(
      Kokkos::TeamThreadRange(team, vocab), [&](const int j, T& acc) { acc += compat::exp(logits(i, j) - row_max); },
      sum);
  return {row_max, compat::log(sum)};
}

/// Throws wf::Error unless every target is -1 or in [0, vocab) (a bad target would read
/// outside the row). Returns the number of valid rows.
template <class Exec>
index_t check_targets(const char* where, const TargetView<MemSpace>& targets, const index_t vocab) {
  const index_t rows = static_cast<index_t>(targets.extent(0));
  index_t bad = 0, valid = 0;
  Kokkos::parallel_reduce(
      "Kernels::cross_entropy_check_targets", Kokkos::RangePolicy<Exec>(0, rows),
      KOKKOS_LAMBDA(const index_t i, index_t& count) {
        count += (targets(i) < ignore_target || targets(i) >= vocab) ? 1 : 0;
      },
      bad);
  require(bad == 0, std::string(where) + ": " + std::to_string(bad) + " target(s) outside [-1, " +
                        std::to_string(vocab) + ")");
  Kokkos::parallel_reduce(
      "Kernels::cross_entropy_count_targets", Kokkos::RangePolicy<Exec>(0, rows),
      KOKKOS_LAMBDA(const index_t i, index_t& count) { count += targets(i) != ignore_target ? 1 : 0; }, valid);
  return valid;
}

}  // namespace cross_entropy_detail

/// \brief loss(i) = logsumexp(logits(i, :)) - logits(i, target(i)) for valid rows, 0 for rows
/// with target -1; returns the sum over valid rows (double accumulation; Kokkos combines the
/// partial sums in a fixed order, without atomics, so it is bitwise reproducible run to run for
/// a given backend and launch configuration) and the count of valid rows. Throws wf::Error on a target outside [-1, vocab).
template <class T, class Exec = ExecSpace>
CrossEntropyResult<T> cross_entropy_forward(const typename Tensor2<T, MemSpace>::const_type& logits,
                                            const TargetView<MemSpace>& targets,
                                            const Kokkos::View<T*, MemSpace>& loss) {
  require(targets.extent(0) == logits.extent(0) && loss.extent(0) == logits.extent(0),
          "cross_entropy_forward: logits, targets and loss differ in rows");
  const int rows = static_cast<int>(logits.extent(0));
  const int vocab = static_cast<int>(logits.extent(1));
  CrossEntropyResult<T> result;
  result.loss = loss;
  result.valid_rows = cross_entropy_detail::check_targets<Exec>("cross_entropy_forward", targets, vocab);
  if (rows == 0) return result;
  using Policy = Kokkos::TeamPolicy<Exec>;
  using Member = typename Policy::member_type;
  Kokkos::parallel_for(
      "Kernels::cross_entropy_forward", Policy(rows, Kokkos::AUTO), KOKKOS_LAMBDA(const Member& team) {
        const int i = team.league_rank();
        const index_t target = targets(i);
        if (target == ignore_target) {
          Kokkos::single(Kokkos::PerTeam(team), [&]() { loss(i) = T(0); });
          return;
        }
        const auto lse = cross_entropy_detail::row_log_sum_exp<T>(team, logits, i, vocab);
        // Two non-negative terms: no cancellation.
        Kokkos::single(Kokkos::PerTeam(team), [&]() { loss(i) = lse.log_sum + (lse.max - logits(i, target)); });
      });
  double sum = 0.0;
  Kokkos::parallel_reduce(
      "Kernels::cross_entropy_sum", Kokkos::RangePolicy<Exec>(0, rows),
      KOKKOS_LAMBDA(const index_t i, double& acc) { acc += static_cast<double>(loss(i)); }, sum);
  result.sum = sum;
  return result;
}

/// \brief As above, allocating the per-row loss (call as cross_entropy_forward<T>(...)).
template <class T, class Exec = ExecSpace>
CrossEntropyResult<T> cross_entropy_forward(const typename Tensor2<T, MemSpace>::const_type& logits,
                                            const TargetView<MemSpace>& targets) {
  Kokkos::View<T*, MemSpace> loss("Kernels::cross_entropy_loss", logits.extent(0));
  return cross_entropy_forward<T, Exec>(logits, targets, loss);
}

/// \brief dlogits(i, j) = scale * (softmax(logits(i, :))_j - [j == target(i)]) for valid rows,
/// 0 for rows with target -1 (dlogits overwritten). scale is the gradient of the total loss
/// with respect to each row's loss, e.g. 1 / (valid rows of the whole global sequence).
template <class T, class Exec = ExecSpace>
void cross_entropy_backward(const typename Tensor2<T, MemSpace>::const_type& logits,
                            const TargetView<MemSpace>& targets, double scale,
                            const Tensor2<T, MemSpace>& dlogits) {
  require(targets.extent(0) == logits.extent(0) && dlogits.extent(0) == logits.extent(0) &&
              dlogits.extent(1) == logits.extent(1),
          "cross_entropy_backward: logits, targets and dlogits differ in extents");
  const int rows = static_cast<int>(logits.extent(0));
  const int vocab = static_cast<int>(logits.extent(1));
  cross_entropy_detail::check_targets<Exec>("cross_entropy_backward", targets, vocab);
  if (rows == 0) return;
  using Policy = Kokkos::TeamPolicy<Exec>;
  using Member = typename Policy::member_type;
  const T row_scale = static_cast<T>(scale);
  Kokkos::parallel_for(
      "Kernels::cross_entropy_backward", Policy(rows, Kokkos::AUTO), KOKKOS_LAMBDA(const Member& team) {
        const int i = team.league_rank();
        const index_t target = targets(i);
        if (target == ignore_target) {
          Kokkos::parallel_for(Kokkos::TeamThreadRange(team, vocab), [&](const int j) { dlogits(i, j) = T(0); });
          return;
        }
        const auto lse = cross_entropy_detail::row_log_sum_exp<T>(team, logits, i, vocab);
        Kokkos::parallel_for(Kokkos::TeamThreadRange(team, vocab), [&](const int j) {
          const T p = compat::exp((logits(i, j) - lse.max) - lse.log_sum);
          dlogits(i, j) = row_scale * (j == target ? p - T(1) : p);
        });
      });
}

}  // namespace wf::kernels
