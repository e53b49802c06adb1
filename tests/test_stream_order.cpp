// The stream design on the host (docs/communication.md, "Streams"): an instrumented
// communicator records, in program order, every ordering point between the compute and the
// communication instance, every posted transfer and its completion; an instrumented attention
// interaction records its compute. The schedules must put an ordering point
//   A. between compute and every transfer posted after it (sends read what compute wrote,
//      receives overwrite what it read): communication after compute;
//   B. between a collective's completion and the next compute (it reads what arrived):
//      compute after communication (point-to-point receives are complete once wait() returns);
// and the ring must overlap:
//   C. the shift of block s+1 is posted before the compute of block s starts and completes
//      after it started; the compute of step s+1 reads the buffer that shift received.
// Synthetic logs with one ordering point missing show that the checks fail.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "mpi_test_util.hpp"
#include "schedule_runner.hpp"

namespace {

using namespace wf;

struct Event {
  enum Kind { communication_after_compute, compute_after_communication, post, complete, compute_begin, compute_end };
  Kind kind;
  std::shared_ptr<comm::Request::State> state;  ///< post, complete
  int tag = 0;                                   ///< post
  std::vector<const void*> sends, receives;      ///< post
  std::string what;                              ///< compute: "interact", "interact_backward", "combine", ...
  std::vector<const void*> reads;                ///< compute: the blocks it reads
};
using Log = std::vector<Event>;

/// A transfer posted through the recording communicator: the inner MPI request.
struct RecordedState final : comm::Request::State {
  comm::Request inner;
};

/// Records the ordering points, posts and completions, and passes the transfers to an MPI
/// communicator of the same processes.
class RecordingCommunicator final : public comm::Communicator {
 public:
  RecordingCommunicator(std::unique_ptr<comm::Communicator> inner, std::shared_ptr<Log> log)
      : Communicator(inner->mpi_comm(), gather_world_ranks(inner->mpi_comm()), detect_nodes(inner->mpi_comm(), 0),
                     std::make_shared<const comm::CommOptions>(inner->options()),
                     std::make_shared<comm::TrafficCounters>()),
        inner_(std::move(inner)),
        log_(std::move(log)) {}

  std::string backend_description() const override { return "recording " + inner_->backend_description(); }
  std::unique_ptr<comm::Communicator> split(int color, int key) const override {
    auto child = inner_->split(color, key);
    return child ? std::make_unique<RecordingCommunicator>(std::move(child), log_) : nullptr;
  }
  void order(comm::StreamOrder order, const ExecSpace& compute, const ExecSpace& communication) override {
    log_->push_back({order == comm::StreamOrder::communication_after_compute ? Event::communication_after_compute
                                                                              : Event::compute_after_communication,
                     nullptr, 0, {}, {}, "", {}});
    Communicator::order(order, compute, communication);
  }

 protected:
  std::shared_ptr<comm::Request::State> post_transfers(const std::vector<comm::Transfer>& transfers, int tag,
                                                       const ExecSpace& space) override {
    auto state = std::make_shared<RecordedState>();
    state->inner = inner_->post(transfers, {"recorded", tag}, space);
    Event event{Event::post, state, tag, {}, {}, "", {}};
    for (const auto& t : transfers) (t.kind == comm::Transfer::send ? event.sends : event.receives).push_back(t.data);
    log_->push_back(event);
    return state;
  }
  bool test_state(comm::Request::State& base) override {
    auto& state = static_cast<RecordedState&>(base);
    if (!inner_->test(state.inner)) return false;
    for (auto& item : state.items) item.complete = true;
    const auto posted = std::find_if(log_->begin(), log_->end(),
                                     [&](const Event& e) { return e.kind == Event::post && e.state.get() == &base; });
    const Event done{Event::complete, posted->state, posted->tag, {}, {}, "", {}};
    log_->push_back(done);
    return true;
  }
  void cancel_state(comm::Request::State& base) override { static_cast<RecordedState&>(base).inner = comm::Request(); }

 private:
  std::unique_ptr<comm::Communicator> inner_;
  std::shared_ptr<Log> log_;
};

/// Attention with its compute recorded.
template <class T>
class RecordedAttention : public nbody::AttentionInteraction<T> {
  using Base = nbody::AttentionInteraction<T>;

 public:
  RecordedAttention(const Base& base, std::shared_ptr<Log> log) : Base(base), log_(std::move(log)) {}
  RecordedAttention sliced(int parts) const { return RecordedAttention(Base::sliced(parts), log_); }
  void begin(T* results, index_t tokens) {
    recorded("begin", {}, [&] { Base::begin(results, tokens); });
  }
  void finish() {
    recorded("finish", {}, [&] { Base::finish(); });
  }
  void interact(const T* targets, const nbody::PositionsView& tp, index_t nt, const T* sources,
                const nbody::PositionsView& sp, index_t ns, const nbody::Progress& progress) {
    recorded("interact", {targets, sources}, [&] { Base::interact(targets, tp, nt, sources, sp, ns, progress); });
  }
  void make_query_rest(const T* results, const T* d_output, T* rest, index_t tokens) const {
    recorded("make_query_rest", {results, d_output}, [&] { Base::make_query_rest(results, d_output, rest, tokens); });
  }
  void interact_backward(const T* query, const nbody::PositionsView& qp, index_t nq, T* d_query, const T* key,
                         const nbody::PositionsView& kp, index_t nk, T* d_key, const nbody::Progress& progress) {
    recorded("interact_backward", {query, key},
             [&] { Base::interact_backward(query, qp, nq, d_query, key, kp, nk, d_key, progress); });
  }
  comm::Combine<T> combine(index_t tokens) const {
    const comm::Combine<T> inner = Base::combine(tokens);
    const auto log = log_;
    return [inner, log](T* acc, const T* incoming, std::size_t count) {
      log->push_back({Event::compute_begin, nullptr, 0, {}, {}, "combine", {acc, incoming}});
      inner(acc, incoming, count);
      log->push_back({Event::compute_end, nullptr, 0, {}, {}, "combine", {}});
    };
  }

 private:
  template <class F>
  void recorded(const char* what, std::vector<const void*> reads, F&& f) const {
    log_->push_back({Event::compute_begin, nullptr, 0, {}, {}, what, std::move(reads)});
    f();
    log_->push_back({Event::compute_end, nullptr, 0, {}, {}, what, {}});
  }
  std::shared_ptr<Log> log_;
};

bool collective(const Event& e) { return e.tag % 64 >= 48; }  // the reserved channels (communicator.cpp)
std::string step_of(const Event& e) { return e.state ? e.state->operation + " step " + std::to_string(e.state->step) : ""; }

/// Rules A and B; every violation as a line.
std::vector<std::string> ordering_violations(const Log& log) {
  std::vector<std::string> violations;
  long last_compute = -1, last_collective = -1, last_after_compute = -1, last_after_communication = -1;
  for (std::size_t i = 0; i < log.size(); ++i) {
    const Event& e = log[i];
    const long at = static_cast<long>(i);
    if (e.kind == Event::communication_after_compute) last_after_compute = at;
    if (e.kind == Event::compute_after_communication) last_after_communication = at;
    if (e.kind == Event::compute_end) last_compute = at;
    if (e.kind == Event::complete && collective(e)) last_collective = at;
    if (e.kind == Event::post && last_compute > last_after_compute)
      violations.push_back("A: " + step_of(e) + " posted after compute without an ordering point");
    if (e.kind == Event::compute_begin && e.what != "combine" && last_collective > last_after_communication)
      violations.push_back("B: " + e.what + " after a collective without an ordering point");
  }
  return violations;
}

/// Rule C for the shifts named `operation` and the compute `what`; returns the shifts checked.
int check_overlap(const Log& log, const std::string& operation, const std::string& what) {
  int shifts = 0;
  for (std::size_t i = 0; i < log.size(); ++i) {
    if (log[i].kind != Event::post || log[i].state->operation != operation) continue;
    ++shifts;
    std::size_t compute = i, done = i, next = i;
    while (compute < log.size() && !(log[compute].kind == Event::compute_begin && log[compute].what == what)) ++compute;
    while (done < log.size() && !(log[done].kind == Event::complete && log[done].state == log[i].state)) ++done;
    EXPECT_LT(compute, done) << operation << ": the transfer did not overlap the compute of the step";
    next = done;
    while (next < log.size() && !(log[next].kind == Event::compute_begin && log[next].what == what)) ++next;
    if (next == log.size()) {
      ADD_FAILURE() << operation << ": no compute after the transfer";
      continue;
    }
    const auto& reads = log[next].reads;
    const bool reads_arrival = std::find(reads.begin(), reads.end(), log[i].receives.at(0)) != reads.end();
    EXPECT_TRUE(reads_arrival) << operation << ": the next " << what << " does not read the block that arrived";
  }
  return shifts;
}

/// Runs forward and backward of `c` with the recording communicator and interaction.
Log recorded_run(const wf::testing::ScheduleCase& c) {
  const int ranks = wf::testing::world_size();
  const std::int64_t n_total = c.tokens_per_rank * ranks;
  const auto problem = wf::testing::global_problem(c, n_total);
  auto log = std::make_shared<Log>();
  RecordingCommunicator world(comm::make_mpi_communicator(MPI_COMM_WORLD, {}), log);
  const nbody::Sharding sharding(n_total, ranks, c.causal);
  nbody::ScheduleContext ctx(world, comm::ProcessGrid(ranks, c.team_size, c.arrangement), sharding);
  RecordedAttention<double> inter(nbody::AttentionInteraction<double>(wf::testing::case_options(c, problem.scale)), log);
  nbody::ShardBlocks<double> shard =
      wf::testing::shard_blocks<double>(problem, c, n_total, sharding.positions(ctx.shard(), 1), inter);
  const auto state = nbody::schedule_forward(ctx, c.kind, inter, shard);
  nbody::schedule_backward(ctx, c.kind, c.rotate, inter, state, shard);
  return *log;
}

int events_of_kind(const Log& log, Event::Kind kind) {
  return static_cast<int>(std::count_if(log.begin(), log.end(), [kind](const Event& e) { return e.kind == kind; }));
}

TEST(StreamOrder, RingShiftsOverlapComputeAndAreOrdered) {
  const int ranks = wf::testing::world_size();
  for (RotateSide side : {RotateSide::query, RotateSide::key}) {
    wf::testing::ScheduleCase c;
    c.causal = true;
    c.rotate = side;
    const Log log = recorded_run(c);
    const auto violations = ordering_violations(log);
    EXPECT_TRUE(violations.empty()) << violations.front();
    EXPECT_EQ(check_overlap(log, "ring shift of sources", "interact"), ranks - 1);
    EXPECT_EQ(check_overlap(log, "backward shift", "interact_backward"), ranks - 1);
    if (ranks > 1) {
      EXPECT_GE(events_of_kind(log, Event::communication_after_compute), 2 * (ranks - 1));
    }
  }
}

/// Where the transfers posted as `operation` completed (the log's size when none did).
std::size_t completion_of(const Log& log, const std::string& operation) {
  for (std::size_t i = 0; i < log.size(); ++i)
    if (log[i].kind == Event::complete && log[i].state && log[i].state->operation == operation) return i;
  return log.size();
}

/// Where the first compute `what` began (the log's size when none did).
std::size_t first_compute(const Log& log, const std::string& what) {
  for (std::size_t i = 0; i < log.size(); ++i)
    if (log[i].kind == Event::compute_begin && log[i].what == what) return i;
  return log.size();
}

TEST(StreamOrder, TeamCollectivesAreOrdered) {
  const int ranks = wf::testing::world_size();
  for (const auto& [kind, team] : {std::pair{Schedule::wallfacer, ranks >= 4 ? 2 : 1}, std::pair{Schedule::ulysses, 1}}) {
    wf::testing::ScheduleCase c;
    c.kind = kind;
    c.team_size = team;
    const Log log = recorded_run(c);
    const auto violations = ordering_violations(log);
    EXPECT_TRUE(violations.empty()) << violations.front();
    if (ranks > 1 && kind == Schedule::ulysses) {
      EXPECT_GE(events_of_kind(log, Event::compute_after_communication), 2) << name_of(kind);
    }
    if (team > 1) {  // the posted team steps: complete before the compute that reads them
      EXPECT_LT(completion_of(log, "team all-gather of targets"), first_compute(log, "interact"));
      EXPECT_LT(completion_of(log, "initial send of sources"), first_compute(log, "interact"));
      EXPECT_LT(completion_of(log, "team reduce-scatter of results"), first_compute(log, "combine"));
    }
  }
}

// The checks fail when an ordering point is missing.
TEST(StreamOrder, MissingOrderingPointsAreFound) {
  auto state = std::make_shared<RecordedState>();
  state->operation = "ring shift of sources";
  const Event compute{Event::compute_begin, nullptr, 0, {}, {}, "interact", {}};
  const Event compute_end{Event::compute_end, nullptr, 0, {}, {}, "interact", {}};
  const Event post{Event::post, state, 1 * 64 + 3, {}, {}, "", {}};
  const Event gathered{Event::complete, state, 2 * 64 + 48, {}, {}, "", {}};
  const Event after_compute{Event::communication_after_compute, nullptr, 0, {}, {}, "", {}};
  const Event after_communication{Event::compute_after_communication, nullptr, 0, {}, {}, "", {}};
  EXPECT_TRUE(ordering_violations({compute, compute_end, after_compute, post}).empty());
  EXPECT_EQ(ordering_violations({compute, compute_end, post}).size(), 1u);
  EXPECT_TRUE(ordering_violations({gathered, after_communication, compute}).empty());
  EXPECT_EQ(ordering_violations({gathered, compute}).size(), 1u);
}

}  // namespace
