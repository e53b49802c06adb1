// The engine protocol: what an interaction must provide for each schedule, checked at compile
// time with one readable message per missing member (C++17 detection, no concepts).
//
// Forward (multi-ring and Ulysses), an interaction I over scalars T provides
//   BlockLayout target_layout() const;     the targets of a block (attention: Q)
//   BlockLayout source_layout() const;     the sources that travel (attention: K, V)
//   BlockLayout result_layout() const;     what accumulates on the targets (attention: O, lse)
//   void begin(T* results, index_t tokens);              zero the accumulator over `results`
//   void interact(const T* targets, PositionsView, index_t, const T* sources, PositionsView, index_t,
//                 const Progress&);                       fold one source block in
//   void finish();                                        normalise the accumulator
//   comm::Combine<T> combine(index_t tokens) const;       merge partial results of two processes
// Backward (multi-ring and Ulysses), additionally
//   BlockLayout output_grad_layout() const; the gradient of the results (attention: dO)
//   BlockLayout query_rest_layout() const;  what the query side needs besides the targets
//                                           (attention: dO, lse, D); query bundle = targets + rest
//   BlockLayout query_grad_layout() const;  gradient of the targets (attention: dQ)
//   BlockLayout key_grad_layout() const;    gradient of the sources (attention: dK, dV)
//   void make_query_rest(const T* results, const T* d_output, T* rest, index_t tokens) const;
//   void interact_backward(const T* query, PositionsView, index_t, T* d_query,
//                          const T* sources, PositionsView, index_t, T* d_sources, const Progress&);
// Ulysses and the Ulysses x WallFacer hybrid, additionally
//   I sliced(int parts) const;              the same interaction on 1/parts of the target rows (heads)
//   std::vector<int> sliced_source_rows(int parts, int part) const;
//                                           the source rows (of every source segment, and of the
//                                           source gradients) that part `part` of sliced(parts)
//                                           holds, in its order; a row may go to several parts
#pragma once

#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include "comm/communicator.hpp"
#include "nbody/block_layout.hpp"
#include "nbody/schedule_context.hpp"

namespace wf::nbody {

/// \brief Called by long computations between tiles, so that transfers progress (MPI over
/// shared memory only moves data inside MPI calls). May be empty.
using Progress = std::function<void()>;

namespace protocol {

template <class I>
const I& c();
template <class I>
I& m();
template <class T>
T* ptr();

// One detector per member: true when the expression is well formed with the right type.
#define WF_DETECT(name, expr, type)                                                          \
  template <class I, class T, class = void>                                                  \
  struct name : std::false_type {};                                                          \
  template <class I, class T>                                                                \
  struct name<I, T, std::void_t<decltype(expr)>> : std::is_convertible<decltype(expr), type> {}
WF_DETECT(has_target_layout, c<I>().target_layout(), BlockLayout);
WF_DETECT(has_source_layout, c<I>().source_layout(), BlockLayout);
WF_DETECT(has_result_layout, c<I>().result_layout(), BlockLayout);
WF_DETECT(has_begin, (m<I>().begin(ptr<T>(), index_t()), 0), int);
WF_DETECT(has_interact,
          (m<I>().interact(ptr<const T>(), PositionsView(), index_t(), ptr<const T>(), PositionsView(), index_t(),
                           Progress()),
           0),
          int);
WF_DETECT(has_finish, (m<I>().finish(), 0), int);
WF_DETECT(has_combine, c<I>().combine(index_t()), comm::Combine<T>);
WF_DETECT(has_output_grad_layout, c<I>().output_grad_layout(), BlockLayout);
WF_DETECT(has_query_rest_layout, c<I>().query_rest_layout(), BlockLayout);
WF_DETECT(has_query_grad_layout, c<I>().query_grad_layout(), BlockLayout);
WF_DETECT(has_key_grad_layout, c<I>().key_grad_layout(), BlockLayout);
WF_DETECT(has_make_query_rest, (c<I>().make_query_rest(ptr<const T>(), ptr<const T>(), ptr<T>(), index_t()), 0), int);
WF_DETECT(has_interact_backward,
          (m<I>().interact_backward(ptr<const T>(), PositionsView(), index_t(), ptr<T>(), ptr<const T>(),
                                    PositionsView(), index_t(), ptr<T>(), Progress()),
           0),
          int);
WF_DETECT(has_sliced, c<I>().sliced(1), I);
WF_DETECT(has_sliced_source_rows, c<I>().sliced_source_rows(1, 0), std::vector<int>);
#undef WF_DETECT

}  // namespace protocol

/// \brief Compile-time check of the forward protocol (see the top of this file).
template <class I, class T>
constexpr bool require_forward_interaction() {
  using namespace protocol;
  static_assert(has_target_layout<I, T>::value, "interaction: needs `BlockLayout target_layout() const`");
  static_assert(has_source_layout<I, T>::value, "interaction: needs `BlockLayout source_layout() const`");
  static_assert(has_result_layout<I, T>::value, "interaction: needs `BlockLayout result_layout() const`");
  static_assert(has_begin<I, T>::value, "interaction: needs `void begin(T* results, index_t tokens)`");
  static_assert(has_interact<I, T>::value,
                "interaction: needs `void interact(const T* targets, PositionsView, index_t, const T* sources, "
                "PositionsView, index_t, const Progress&)`");
  static_assert(has_finish<I, T>::value, "interaction: needs `void finish()`");
  static_assert(has_combine<I, T>::value, "interaction: needs `comm::Combine<T> combine(index_t tokens) const`");
  return true;
}

/// \brief Compile-time check of the backward protocol (see the top of this file).
template <class I, class T>
constexpr bool require_backward_interaction() {
  using namespace protocol;
  static_assert(require_forward_interaction<I, T>());
  static_assert(has_output_grad_layout<I, T>::value, "interaction: needs `BlockLayout output_grad_layout() const`");
  static_assert(has_query_rest_layout<I, T>::value, "interaction: needs `BlockLayout query_rest_layout() const`");
  static_assert(has_query_grad_layout<I, T>::value, "interaction: needs `BlockLayout query_grad_layout() const`");
  static_assert(has_key_grad_layout<I, T>::value, "interaction: needs `BlockLayout key_grad_layout() const`");
  static_assert(has_make_query_rest<I, T>::value,
                "interaction: needs `void make_query_rest(const T* results, const T* d_output, T* rest, index_t) "
                "const`");
  static_assert(has_interact_backward<I, T>::value,
                "interaction: needs `void interact_backward(const T* query, PositionsView, index_t, T* d_query, "
                "const T* sources, PositionsView, index_t, T* d_sources, const Progress&)`");
  return true;
}

/// \brief Compile-time check of what Ulysses (and the hybrid) needs besides the forward protocol.
template <class I, class T>
constexpr bool require_sliceable_interaction() {
  static_assert(protocol::has_sliced<I, T>::value, "interaction: Ulysses needs `I sliced(int parts) const`");
  static_assert(protocol::has_sliced_source_rows<I, T>::value,
                "interaction: Ulysses needs `std::vector<int> sliced_source_rows(int parts, int part) const`");
  return true;
}

}  // namespace wf::nbody
