// The watchdog thread: enforces the deadline of guarded sections, answers roll calls (where is
// this rank?) and, on the lowest responding rank, prints the verdict that ends the job. It talks
// over its own duplicate of MPI_COMM_WORLD, which needs MPI_THREAD_MULTIPLE.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>

#include "comm/deadline.hpp"
#include "comm/deadline_registry.hpp"
#include "comm/roll_call.hpp"

namespace wf::comm {

using detail::Clock;

namespace {

constexpr int tag_ping = 1, tag_reply = 2, tag_verdict = 3;
constexpr int reply_bytes = 1024, verdict_bytes = 4096;
constexpr auto service_period = std::chrono::milliseconds(10);

}  // namespace

struct Watchdog::Service {
  MPI_Comm comm = MPI_COMM_NULL;
  bool roll_call_possible = false;  // MPI_THREAD_MULTIPLE
  int rank = 0, size = 1;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::mutex serving;  // both threads may serve (the main thread during its own roll call)
  std::mutex ending;   // one end of the job per process
  int ping = 0;
  MPI_Request ping_request = MPI_REQUEST_NULL, verdict_request = MPI_REQUEST_NULL;
  char verdict[verdict_bytes] = {};
  std::vector<std::pair<MPI_Request, std::unique_ptr<std::string>>> sent;  // replies and verdicts in flight

  void post_receives();
  void send(int peer, int tag, std::string text);
  void serve();
  void loop();
  std::vector<RollCallReply> roll_call(double seconds);
  [[noreturn]] void end_job(const std::string& what);
};

namespace {

std::atomic<Watchdog::Service*> current_service{nullptr};

}  // namespace

void Watchdog::Service::post_receives() {
  MPI_Irecv(&ping, 1, MPI_INT, MPI_ANY_SOURCE, tag_ping, comm, &ping_request);
  MPI_Irecv(verdict, verdict_bytes, MPI_CHAR, MPI_ANY_SOURCE, tag_verdict, comm, &verdict_request);
}

void Watchdog::Service::send(int peer, int tag, std::string text) {
  auto buffer = std::make_unique<std::string>(std::move(text));
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_Isend(buffer->data(), static_cast<int>(buffer->size()), MPI_CHAR, peer, tag, comm, &request);
  sent.emplace_back(request, std::move(buffer));
}

/// Answers pings with where this rank is; the reporter ends the job on a verdict.
void Watchdog::Service::serve() {
  const std::unique_lock<std::mutex> lock(serving, std::try_to_lock);
  if (!lock.owns_lock() || !roll_call_possible) return;
  int arrived = 0;
  MPI_Status status;
  MPI_Test(&ping_request, &arrived, &status);
  if (arrived) {
    std::string reply = detail::current_position().encode();
    if (reply.size() > reply_bytes) reply.resize(reply_bytes);
    send(status.MPI_SOURCE, tag_reply, std::move(reply));
    MPI_Irecv(&ping, 1, MPI_INT, MPI_ANY_SOURCE, tag_ping, comm, &ping_request);
  }
  MPI_Test(&verdict_request, &arrived, &status);
  if (arrived) {
    int length = 0;
    MPI_Get_count(&status, MPI_CHAR, &length);
    detail::report_and_abort(std::string(verdict, static_cast<std::size_t>(std::max(length, 0))));
  }
  sent.erase(std::remove_if(sent.begin(), sent.end(),
                            [](auto& s) {
                              int done = 0;
                              MPI_Test(&s.first, &done, MPI_STATUS_IGNORE);
                              return done != 0;
                            }),
             sent.end());
}

void Watchdog::Service::loop() {
  while (!stopping.load()) {
    serve();
    const std::string expired = detail::expired_section();
    if (!expired.empty()) end_job(expired);
    std::this_thread::sleep_for(service_period);
  }
}

/// Asks every other rank where it is; those that do not answer within `seconds` are silent.
std::vector<RollCallReply> Watchdog::Service::roll_call(double seconds) {
  std::vector<RollCallReply> replies(static_cast<std::size_t>(size));
  replies[static_cast<std::size_t>(rank)] = {true, detail::current_position()};
  std::vector<std::vector<char>> buffers(static_cast<std::size_t>(size), std::vector<char>(reply_bytes));
  std::vector<MPI_Request> receives(static_cast<std::size_t>(size), MPI_REQUEST_NULL);
  static int token = 1;  // outlives the sends: they are freed, not waited for
  for (int r = 0; r < size; ++r) {
    if (r == rank) continue;
    const auto i = static_cast<std::size_t>(r);
    MPI_Irecv(buffers[i].data(), reply_bytes, MPI_CHAR, r, tag_reply, comm, &receives[i]);
    MPI_Request ping_sent = MPI_REQUEST_NULL;
    MPI_Isend(&token, 1, MPI_INT, r, tag_ping, comm, &ping_sent);
    MPI_Request_free(&ping_sent);
  }
  const Clock::time_point start = Clock::now();
  int pending = size - 1;
  while (pending > 0 && detail::seconds_between(start, Clock::now()) < seconds) {
    for (int r = 0; r < size; ++r) {
      const auto i = static_cast<std::size_t>(r);
      int done = 0;
      MPI_Status status;
      if (receives[i] == MPI_REQUEST_NULL || MPI_Test(&receives[i], &done, &status) != MPI_SUCCESS || !done) continue;
      int length = 0;
      MPI_Get_count(&status, MPI_CHAR, &length);
      replies[i] = {true, RankPosition::decode(std::string(buffers[i].data(), static_cast<std::size_t>(length)))};
      --pending;
    }
    serve();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return replies;
}

void Watchdog::Service::end_job(const std::string& what) {
  const std::unique_lock<std::mutex> lock(ending, std::try_to_lock);
  while (!lock.owns_lock()) std::this_thread::sleep_for(std::chrono::seconds(1));  // the other thread ends it
  if (!roll_call_possible)
    detail::report_and_abort(what + " (the stalled rank cannot be named: MPI runs without MPI_THREAD_MULTIPLE)");
  const double seconds = roll_call_seconds(deadline_seconds());
  const std::vector<RollCallReply> replies = roll_call(seconds);
  const std::string verdict = compose_verdict(rank, what, seconds, replies);
  const int reporter = choose_reporter(rank, replies);
  if (reporter == rank) detail::report_and_abort(verdict);
  {
    const std::lock_guard<std::mutex> serving_lock(serving);
    send(reporter, tag_verdict, verdict.substr(0, verdict_bytes));
  }
  // The reporter aborts the job; should it not do so in time, this rank does.
  const Clock::time_point start = Clock::now();
  while (detail::seconds_between(start, Clock::now()) < 2 * seconds + 1.0) {
    serve();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  detail::report_and_abort(verdict);
}

void end_job_after_timeout(const std::string& what) {
  Watchdog::Service* service = current_service.load();
  if (service == nullptr) detail::report_and_abort(what);
  service->end_job(what);
}

Watchdog::Watchdog(MPI_Comm world) : service_(std::make_unique<Service>()) {
  Service& s = *service_;
  int provided = MPI_THREAD_SINGLE;
  MPI_Query_thread(&provided);
  s.roll_call_possible = provided == MPI_THREAD_MULTIPLE;
  MPI_Comm_rank(world, &s.rank);
  MPI_Comm_size(world, &s.size);
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_Comm_idup(world, &s.comm, &request);
  wait_with_deadline(request, "starting the watchdog (MPI_Comm_idup)");
  MPI_Comm_set_errhandler(s.comm, MPI_ERRORS_RETURN);  // a dead peer must not abort the roll call
  if (s.roll_call_possible) s.post_receives();
  current_service.store(&s);
  s.thread = std::thread([&s] { s.loop(); });
}

Watchdog::~Watchdog() {
  Service& s = *service_;
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_Ibarrier(s.comm, &request);
  wait_with_deadline(request, "the final barrier");  // every rank is done: no roll call can come now
  s.stopping.store(true);
  s.thread.join();
  current_service.store(nullptr);
  for (MPI_Request* pending : {&s.ping_request, &s.verdict_request}) {
    if (*pending == MPI_REQUEST_NULL) continue;
    MPI_Cancel(pending);
    MPI_Wait(pending, MPI_STATUS_IGNORE);
  }
  for (auto& [sent, buffer] : s.sent) MPI_Wait(&sent, MPI_STATUS_IGNORE);  // replies to pings: delivered
  MPI_Comm_free(&s.comm);
}

bool Watchdog::running() { return current_service.load() != nullptr; }

}  // namespace wf::comm
