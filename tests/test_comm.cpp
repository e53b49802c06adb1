// Communicator tests (run with 1, 2, 4 and 8 ranks): point-to-point, collectives against plain
// MPI expectations, exact traffic counters, link classes, splits, deadlines, fault injection.
#include <gtest/gtest.h>
#include <mpi.h>

#include <Kokkos_Core.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "comm/communicator.hpp"
#include "core/types.hpp"

// A named namespace: CUDA extended lambdas need an enclosing function with external linkage.
namespace wf_comm_test {

using namespace wf;
using namespace wf::comm;
using Bytes = std::uint64_t;

int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

CommOptions options(double deadline = 60.0, int ranks_per_node = 0) {
  CommOptions o;
  o.deadline_seconds = deadline;
  o.ranks_per_node = ranks_per_node;
  return o;
}

template <class T>
std::vector<T> random_values(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 gen(seed * 7919 + 17);
  std::vector<T> v(n);
  std::uniform_int_distribution<std::int64_t> integers(-1000000, 1000000);
  std::uniform_real_distribution<double> reals(-1.0, 1.0);
  for (auto& x : v) x = std::is_integral_v<T> ? static_cast<T>(integers(gen)) : static_cast<T>(reals(gen));
  return v;
}

template <class T>
Kokkos::View<T*, MemSpace> to_device(const std::vector<T>& host) {
  Kokkos::View<T*, MemSpace> device("test data", host.size());
  Kokkos::deep_copy(device, Kokkos::View<const T*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>(
                                host.data(), host.size()));
  return device;
}

template <class T>
std::vector<T> to_host(const Kokkos::View<T*, MemSpace>& device) {
  std::vector<T> host(device.extent(0));
  Kokkos::deep_copy(Kokkos::View<T*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>(host.data(), host.size()),
                    device);
  return host;
}

/// Every rank's `mine`, concatenated in rank order of comm.
template <class T>
std::vector<T> gather_all(const std::vector<T>& mine, MPI_Comm comm) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  std::vector<T> all(mine.size() * static_cast<std::size_t>(size));
  MPI_Allgather(mine.data(), static_cast<int>(mine.size() * sizeof(T)), MPI_BYTE, all.data(),
                static_cast<int>(mine.size() * sizeof(T)), MPI_BYTE, comm);
  return all;
}

/// acc = acc * base + incoming: the result spells the order in which chunks were combined.
template <class T>
void record_order(T* acc, const T* incoming, std::size_t count, T base) {
  Kokkos::parallel_for(
      "Test::record_order", Kokkos::RangePolicy<ExecSpace>(0, static_cast<std::int64_t>(count)),
      KOKKOS_LAMBDA(const std::int64_t i) { acc[i] = acc[i] * base + incoming[i]; });
}

template <class T>
void take_max(T* acc, const T* incoming, std::size_t count) {
  Kokkos::parallel_for(
      "Test::take_max", Kokkos::RangePolicy<ExecSpace>(0, static_cast<std::int64_t>(count)),
      KOKKOS_LAMBDA(const std::int64_t i) { acc[i] = acc[i] < incoming[i] ? incoming[i] : acc[i]; });
}

/// Expected traffic, keyed by peer rank in `comm`: {bytes, messages}.
using Expected = std::map<int, std::pair<Bytes, Bytes>>;

/// Checks the traffic counted since `before` against `expected`, per peer, per link class, in total.
void expect_traffic(const Communicator& comm, const TrafficCounters& before, const Expected& expected) {
  const TrafficCounters& now = comm.traffic();
  std::array<Bytes, 2> bytes{}, messages{};
  std::map<int, std::pair<Bytes, Bytes>> by_world;
  for (const auto& [peer, count] : expected) {
    if (count.second == 0) continue;
    by_world[comm.world_rank(peer)] = count;
    bytes[static_cast<int>(comm.link_class(peer))] += count.first;
    messages[static_cast<int>(comm.link_class(peer))] += count.second;
  }
  std::map<int, std::pair<Bytes, Bytes>> counted;
  for (const auto& [peer, n] : now.messages_to_peer) {
    const auto old = before.messages_to_peer.count(peer) ? before.messages_to_peer.at(peer) : 0;
    const auto old_bytes = before.bytes_to_peer.count(peer) ? before.bytes_to_peer.at(peer) : 0;
    if (n != old) counted[peer] = {now.bytes_to_peer.at(peer) - old_bytes, n - old};
  }
  EXPECT_EQ(counted, by_world) << "rank " << comm.rank() << ": {bytes, messages} per world peer";
  for (int link = 0; link < 2; ++link) {
    EXPECT_EQ(now.bytes[link] - before.bytes[link], bytes[link]) << link_class_name(LinkClass(link));
    EXPECT_EQ(now.messages[link] - before.messages[link], messages[link]) << link_class_name(LinkClass(link));
  }
  EXPECT_EQ(now.total_bytes() - before.total_bytes(), bytes[0] + bytes[1]);
  EXPECT_EQ(now.total_messages() - before.total_messages(), messages[0] + messages[1]);
}

/// Ring collectives send everything to the next rank: (P-1) messages of `chunk_bytes`.
Expected ring_traffic(const Communicator& comm, Bytes chunk_bytes) {
  if (comm.size() == 1) return {};
  const Bytes steps = static_cast<Bytes>(comm.size() - 1);
  return {{(comm.rank() + 1) % comm.size(), {steps * chunk_bytes, steps}}};
}

/// Sends `count` values to the next rank and receives from the previous; returns them.
std::vector<double> ring_exchange(Communicator& comm, std::size_t count, Label label) {
  const int P = comm.size(), next = (comm.rank() + 1) % P, prev = (comm.rank() + P - 1) % P;
  auto out = to_device(random_values<double>(count, static_cast<std::uint64_t>(comm.world_rank(comm.rank()))));
  Kokkos::View<double*, MemSpace> in("in", count);
  std::vector<Request> requests;
  requests.push_back(comm.irecv(in.data(), count * sizeof(double), prev, label));
  requests.push_back(comm.isend(out.data(), count * sizeof(double), next, label));
  comm.wait_all(requests);
  return to_host(in);
}

// ---- point to point --------------------------------------------------------------------------

TEST(CommPointToPoint, RingExchangeAndCounters) {
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, options());
  const int P = comm->size(), r = comm->rank(), prev = (r + P - 1) % P;
  if (Kokkos::SpaceAccessibility<Kokkos::HostSpace, MemSpace>::accessible) {
    EXPECT_EQ(comm->backend_description(), "mpi, host memory");
  }
  const TrafficCounters before = comm->traffic();
  const auto received = ring_exchange(*comm, 100, {"test ring", 0});
  EXPECT_EQ(received, random_values<double>(100, static_cast<std::uint64_t>(comm->world_rank(prev))));
  expect_traffic(*comm, before, P == 1 ? Expected{} : Expected{{(r + 1) % P, {800, 1}}});  // self: not counted

  // One group to every peer (self included) with post(); zero-byte messages count as messages.
  const TrafficCounters before_group = comm->traffic();
  std::vector<std::int64_t> out_host(static_cast<std::size_t>(P), 10 * r);
  auto out = to_device(out_host);
  Kokkos::View<std::int64_t*, MemSpace> in("in", static_cast<std::size_t>(P));
  std::vector<Transfer> group;
  Expected expected;
  for (int p = 0; p < P; ++p) {
    group.push_back({Transfer::recv, in.data() + p, sizeof(std::int64_t), p});
    group.push_back({Transfer::send, out.data() + p, sizeof(std::int64_t), p});
    group.push_back({Transfer::send, out.data(), 0, p});
    group.push_back({Transfer::recv, in.data(), 0, p});
    if (p != r) expected[p] = {sizeof(std::int64_t), 2};
  }
  Request request = comm->post(group, {"test group", 3});
  comm->wait(request);
  EXPECT_TRUE(request.empty());
  EXPECT_TRUE(comm->test(request));
  for (int p = 0; p < P; ++p) EXPECT_EQ(to_host(in)[static_cast<std::size_t>(p)], 10 * p);
  expect_traffic(*comm, before_group, expected);
}

TEST(CommPointToPoint, ChannelsSeparateOperations) {
  // "alpha" and "beta" hash to different channels: posted in opposite orders, they still match.
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, options());
  const int P = comm->size(), next = (comm->rank() + 1) % P, prev = (comm->rank() + P - 1) % P;
  Kokkos::View<float*, MemSpace> a("a", 3), b("b", 5), ra("ra", 3), rb("rb", 5);
  Kokkos::deep_copy(a, 1.0f);
  Kokkos::deep_copy(b, 2.0f);
  std::vector<Request> requests;
  requests.push_back(comm->irecv(rb.data(), 5 * sizeof(float), prev, {"beta", 4}));
  requests.push_back(comm->irecv(ra.data(), 3 * sizeof(float), prev, {"alpha", 4}));
  requests.push_back(comm->isend(a.data(), 3 * sizeof(float), next, {"alpha", 4}));
  requests.push_back(comm->isend(b.data(), 5 * sizeof(float), next, {"beta", 4}));
  comm->wait_all(requests);
  EXPECT_EQ(to_host(ra), std::vector<float>(3, 1.0f));
  EXPECT_EQ(to_host(rb), std::vector<float>(5, 2.0f));
}

TEST(CommPointToPoint, BadArgumentsThrowClearly) {
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, options());
  Kokkos::View<char*, MemSpace> buffer("buffer", 1);
  try {
    comm->isend(buffer.data(), 1, 0, {"huge", 1 << 29});
    ADD_FAILURE() << "a step beyond MPI_TAG_UB was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("MPI_TAG_UB"), std::string::npos) << e.what();
  }
  EXPECT_THROW(comm->isend(buffer.data(), 1, 0, {"negative", -1}), Error);
  EXPECT_THROW(comm->isend(buffer.data(), 1, comm->size(), {"bad peer", 0}), Error);
  CommOptions bad = options(0.0);
  EXPECT_THROW(make_mpi_communicator(MPI_COMM_WORLD, bad), Error);
}

// ---- collectives, typed ----------------------------------------------------------------------

template <class T>
class CommCollectives : public ::testing::Test {};
using ElementTypes = ::testing::Types<float, double, std::int64_t>;
TYPED_TEST_SUITE(CommCollectives, ElementTypes);

std::vector<std::size_t> test_counts(int P) { return {1, static_cast<std::size_t>(P) + 2, 257}; }

TYPED_TEST(CommCollectives, AllGather) {
  using T = TypeParam;
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, options());
  const int P = comm->size(), r = comm->rank();
  for (std::size_t count : test_counts(P)) {
    const auto mine = random_values<T>(count, 100 + static_cast<std::uint64_t>(r));
    auto send = to_device(mine);
    Kokkos::View<T*, MemSpace> recv("recv", count * static_cast<std::size_t>(P));
    const TrafficCounters before = comm->traffic();
    comm->all_gather(send.data(), recv.data(), count, {"test all-gather", 1});
    EXPECT_EQ(to_host(recv), gather_all(mine, MPI_COMM_WORLD)) << "count " << count;
    expect_traffic(*comm, before, ring_traffic(*comm, count * sizeof(T)));
    // In place: the own chunk already sits in recv.
    Kokkos::View<T*, MemSpace> again("again", count * static_cast<std::size_t>(P));
    Kokkos::deep_copy(Kokkos::subview(again, std::make_pair(r * count, (r + 1) * count)), send);
    comm->all_gather(again.data() + r * count, again.data(), count, {"test all-gather", 2});
    EXPECT_EQ(to_host(again), to_host(recv));
  }
}

TYPED_TEST(CommCollectives, ReduceScatterSumInTheDocumentedOrder) {
  using T = TypeParam;
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, options());
  const int P = comm->size(), r = comm->rank();
  for (std::size_t count : test_counts(P)) {
    const auto mine = random_values<T>(count * static_cast<std::size_t>(P), 200 + static_cast<std::uint64_t>(r));
    auto send = to_device(mine);
    Kokkos::View<T*, MemSpace> recv("recv", count);
    const TrafficCounters before = comm->traffic();
    comm->reduce_scatter_sum(send.data(), recv.data(), count, {"test reduce-scatter", 1});
    expect_traffic(*comm, before, ring_traffic(*comm, count * sizeof(T)));
    // Expected: chunk r summed from rank r+1 around the ring to rank r itself.
    const auto all = gather_all(mine, MPI_COMM_WORLD);
    const std::size_t stride = count * static_cast<std::size_t>(P);
    const auto at = [&](int rank, std::size_t i) { return all[static_cast<std::size_t>(rank % P) * stride + r * count + i]; };
    std::vector<T> expected(count);
    for (std::size_t i = 0; i < count; ++i) {
      T acc = at(r + 1, i);
      for (int j = 2; j <= P; ++j) acc += at(r + j, i);
      expected[i] = acc;
    }
    const auto got = to_host(recv);
    EXPECT_EQ(std::memcmp(got.data(), expected.data(), count * sizeof(T)), 0) << "count " << count;
    // Against MPI's own sum (any order): exact for integers, within rounding otherwise.
    std::vector<double> reference(mine.begin(), mine.end());
    MPI_Allreduce(MPI_IN_PLACE, reference.data(), static_cast<int>(reference.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    const double tolerance = std::is_integral_v<T> ? 0.0 : 4.0 * P * std::numeric_limits<T>::epsilon();
    for (std::size_t i = 0; i < count; ++i)
      EXPECT_NEAR(static_cast<double>(got[i]), reference[r * count + i], tolerance) << i;
  }
}

TYPED_TEST(CommCollectives, ReduceScatterCustomCombine) {
  using T = TypeParam;
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, options());
  const int P = comm->size(), r = comm->rank();
  const std::size_t count = 33;
  // Order recording: every element of rank q is q; acc = acc * P + incoming spells the order
  // as base-P digits (exact in float up to 8 ranks: 8^8 = 2^24).
  std::vector<T> digits(count * static_cast<std::size_t>(P), static_cast<T>(r));
  auto send = to_device(digits);
  Kokkos::View<T*, MemSpace> recv("recv", count);
  const T base = static_cast<T>(P);
  comm->reduce_scatter<T>(send.data(), recv.data(), count,
                          [base](T* acc, const T* in, std::size_t n) { record_order<T>(acc, in, n, base); },
                          {"test order", 0});
  T expected = static_cast<T>((r + 1) % P);
  for (int j = 2; j <= P; ++j) expected = expected * base + static_cast<T>((r + j) % P);
  EXPECT_EQ(to_host(recv), std::vector<T>(count, expected));

  // Max on random data against MPI_Allreduce(MPI_MAX).
  const auto mine = random_values<T>(count * static_cast<std::size_t>(P), 300 + static_cast<std::uint64_t>(r));
  auto values = to_device(mine);
  comm->reduce_scatter<T>(values.data(), recv.data(), count, take_max<T>, {"test max", 0});
  std::vector<double> reference(mine.begin(), mine.end());
  MPI_Allreduce(MPI_IN_PLACE, reference.data(), static_cast<int>(reference.size()), MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  const auto got = to_host(recv);
  for (std::size_t i = 0; i < count; ++i) EXPECT_EQ(static_cast<double>(got[i]), reference[r * count + i]);
}

TYPED_TEST(CommCollectives, AllToAll) {
  using T = TypeParam;
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, options());
  const int P = comm->size(), r = comm->rank();
  for (std::size_t count : test_counts(P)) {
    const auto mine = random_values<T>(count * static_cast<std::size_t>(P), 400 + static_cast<std::uint64_t>(r));
    auto send = to_device(mine);
    Kokkos::View<T*, MemSpace> recv("recv", count * static_cast<std::size_t>(P));
    const TrafficCounters before = comm->traffic();
    comm->all_to_all(send.data(), recv.data(), count, {"test all-to-all", 1});
    const auto all = gather_all(mine, MPI_COMM_WORLD);
    std::vector<T> expected;
    for (int q = 0; q < P; ++q) {
      const auto from = all.begin() + static_cast<std::ptrdiff_t>((q * P + r) * count);
      expected.insert(expected.end(), from, from + static_cast<std::ptrdiff_t>(count));
    }
    EXPECT_EQ(to_host(recv), expected) << "count " << count;
    Expected traffic;
    for (int p = 0; p < P; ++p)
      if (p != r) traffic[p] = {count * sizeof(T), 1};
    expect_traffic(*comm, before, traffic);
  }
}

TYPED_TEST(CommCollectives, AllReduceSumAnyCount) {
  using T = TypeParam;
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, options());
  const int P = comm->size(), r = comm->rank();
  for (std::size_t count : {std::size_t{0}, std::size_t{1}, static_cast<std::size_t>(P - 1),
                            static_cast<std::size_t>(P + 1), std::size_t{1003}}) {
    const auto mine = random_values<T>(count, 500 + static_cast<std::uint64_t>(r));
    auto data = to_device(mine);
    const TrafficCounters before = comm->traffic();
    comm->all_reduce_sum(data.data(), count, {"test all-reduce", 2});
    // Chunk k (count/P elements, one more for k < count%P) is summed from rank k+1 around the ring.
    const auto all = gather_all(mine, MPI_COMM_WORLD);
    const auto chunk_size = [&](int k) { return count / P + (static_cast<std::size_t>(k) < count % P ? 1 : 0); };
    std::vector<T> expected(count);
    for (int k = 0, begin = 0; k < P; begin += static_cast<int>(chunk_size(k)), ++k)
      for (std::size_t i = static_cast<std::size_t>(begin); i < begin + chunk_size(k); ++i) {
        T acc = all[static_cast<std::size_t>((k + 1) % P) * count + i];
        for (int j = 2; j <= P; ++j) acc += all[static_cast<std::size_t>((k + j) % P) * count + i];
        expected[i] = acc;
      }
    const auto got = to_host(data);
    EXPECT_EQ(std::memcmp(got.data(), expected.data(), count * sizeof(T)), 0) << "count " << count;
    // Bytes: all chunks but r in the reduce-scatter, all but r+1 in the all-gather.
    Expected traffic;
    if (P > 1) {
      Bytes messages = 0;
      for (int k = 0; k < P; ++k)
        messages += (k != r && chunk_size(k) > 0) + (k != (r + 1) % P && chunk_size(k) > 0);
      const Bytes bytes = (2 * count - chunk_size(r) - chunk_size((r + 1) % P)) * sizeof(T);
      traffic[(r + 1) % P] = {bytes, messages};
      if (count % P == 0) {
        EXPECT_EQ(bytes, 2 * (P - 1) * (count / P) * sizeof(T));
      }
    }
    expect_traffic(*comm, before, traffic);
  }
}

TEST(CommCollectives, RepeatedRunsAreBitwiseIdentical) {
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, options());
  const int P = comm->size();
  const std::size_t count = 1000;
  auto send = to_device(random_values<float>(count * P, 600 + static_cast<std::uint64_t>(comm->rank())));
  std::vector<std::vector<float>> results;
  for (int run = 0; run < 2; ++run) {
    Kokkos::View<float*, MemSpace> recv("recv", count);
    comm->reduce_scatter_sum(send.data(), recv.data(), count, {"test determinism", run});
    auto reduced = Kokkos::View<float*, MemSpace>("all", count * P);
    Kokkos::deep_copy(reduced, send);
    comm->all_reduce_sum(reduced.data(), count * P, {"test determinism", run});
    results.push_back(to_host(recv));
    const auto all = to_host(reduced);
    results.back().insert(results.back().end(), all.begin(), all.end());
  }
  EXPECT_EQ(std::memcmp(results[0].data(), results[1].data(), results[0].size() * sizeof(float)), 0);
}

TEST(CommCollectives, BarrierCountsAndWaits) {
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, options(30.0));
  const int P = comm->size(), r = comm->rank();
  MPI_Barrier(MPI_COMM_WORLD);
  if (r == 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto start = std::chrono::steady_clock::now();
  const TrafficCounters before = comm->traffic();
  comm->barrier({"test barrier", 0});
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (P > 1 && r != 0) {
    EXPECT_GT(waited, 0.1);  // nobody leaves before rank 0 arrives
  }
  Expected traffic;
  for (int distance = 1; distance < P; distance *= 2) traffic[(r + distance) % P] = {sizeof(int), 1};
  expect_traffic(*comm, before, traffic);
}

// ---- link classes and splits -----------------------------------------------------------------

TEST(CommTopology, LinkClassesFollowRanksPerNode) {
  int P = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &P);
  for (int ranks_per_node : {1, P}) {
    auto comm = make_mpi_communicator(MPI_COMM_WORLD, options(60.0, ranks_per_node));
    const LinkClass others = ranks_per_node == 1 ? LinkClass::other_node : LinkClass::same_node;
    for (int p = 0; p < P; ++p)
      EXPECT_EQ(comm->link_class(p), p == comm->rank() ? LinkClass::same_node : others);
    const TrafficCounters before = comm->traffic();
    Kokkos::View<double*, MemSpace> send("send", 4), recv("recv", 4 * static_cast<std::size_t>(P));
    comm->all_gather(send.data(), recv.data(), 4, {"test links", 0});
    expect_traffic(*comm, before, ring_traffic(*comm, 4 * sizeof(double)));
    EXPECT_EQ(comm->traffic().bytes[static_cast<int>(others)] - before.bytes[static_cast<int>(others)],
              static_cast<Bytes>((P - 1) * 4 * sizeof(double)));
  }
  // Detected: the peers in this process's shared-memory communicator are on its node.
  auto detected = make_mpi_communicator(MPI_COMM_WORLD, options());
  MPI_Comm shared;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &shared);
  int on_node = 0;
  MPI_Comm_size(shared, &on_node);
  MPI_Comm_free(&shared);
  int same = 0;
  for (int p = 0; p < P; ++p) same += detected->link_class(p) == LinkClass::same_node;
  EXPECT_EQ(same, on_node);
}

TEST(CommTopology, SplitTeamsAndRings) {
  auto world = make_mpi_communicator(MPI_COMM_WORLD, options(60.0, 2));
  const int P = world->size(), r = world->rank();
  auto team = world->split(r / 2, r);    // teams of two consecutive ranks
  auto ring = world->split(r % 2, -r);   // reversed order
  EXPECT_EQ(&team->traffic(), &world->traffic());
  EXPECT_EQ(&ring->traffic(), &world->traffic());
  EXPECT_EQ(ring->options().ranks_per_node, 2);
  EXPECT_EQ(team->size(), std::min(2, P - (r / 2) * 2));
  EXPECT_EQ(team->world_rank(team->rank()), r);
  for (int i = 0; i < ring->size(); ++i) EXPECT_EQ(ring->world_rank(i) % 2, r % 2);
  for (int i = 0; i + 1 < ring->size(); ++i) EXPECT_GT(ring->world_rank(i), ring->world_rank(i + 1));
  for (int i = 0; i < team->size(); ++i)  // 2 ranks per node: a team shares a node
    EXPECT_EQ(team->link_class(i), LinkClass::same_node);

  const std::size_t count = 10;
  const auto mine = random_values<double>(count, 700 + static_cast<std::uint64_t>(r));
  auto send = to_device(mine);
  Kokkos::View<double*, MemSpace> gathered("gathered", count * static_cast<std::size_t>(team->size()));
  MPI_Comm team_mpi;
  MPI_Comm_split(MPI_COMM_WORLD, r / 2, r, &team_mpi);
  TrafficCounters before = world->traffic();
  team->all_gather(send.data(), gathered.data(), count, {"test team all-gather", 0});
  EXPECT_EQ(to_host(gathered), gather_all(mine, team_mpi));
  expect_traffic(*team, before, ring_traffic(*team, count * sizeof(double)));
  MPI_Comm_free(&team_mpi);

  auto sum = to_device(std::vector<std::int64_t>(count, r));
  before = world->traffic();
  ring->all_reduce_sum(sum.data(), count, {"test ring all-reduce", 0});
  std::int64_t expected = 0;
  for (int i = 0; i < ring->size(); ++i) expected += ring->world_rank(i);
  EXPECT_EQ(to_host(sum), std::vector<std::int64_t>(count, expected));
  const Bytes total = before.total_bytes() + 2 * (ring->size() - 1) * (count / ring->size()) * 8;
  if (count % ring->size() == 0) {
    EXPECT_EQ(world->traffic().total_bytes(), total);
  }

  auto only_even = world->split(r % 2 == 0 ? 0 : MPI_UNDEFINED, r);
  EXPECT_EQ(only_even == nullptr, r % 2 != 0);
}

TEST(CommStaging, HostStagingPathMatchesDirect) {
  // Test hook: the copies to and from host buffers that device builds without CUDA-aware MPI use.
  setenv("WF_COMM_FORCE_HOST_STAGING", "1", 1);
  auto staged = make_mpi_communicator(MPI_COMM_WORLD, options(0.5));
  unsetenv("WF_COMM_FORCE_HOST_STAGING");
  EXPECT_EQ(staged->backend_description(), "mpi, host staging");
  const int P = staged->size(), r = staged->rank(), prev = (r + P - 1) % P;
  EXPECT_EQ(ring_exchange(*staged, 50, {"staged ring", 0}),
            random_values<double>(50, static_cast<std::uint64_t>(staged->world_rank(prev))));
  const std::size_t count = 2 * static_cast<std::size_t>(P) + 1;
  const auto mine = random_values<double>(count, 800 + static_cast<std::uint64_t>(r));
  auto data = to_device(mine);
  std::vector<double> reference(mine);
  MPI_Allreduce(MPI_IN_PLACE, reference.data(), static_cast<int>(count), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  staged->all_reduce_sum(data.data(), count, {"staged all-reduce", 0});
  const auto got = to_host(data);
  for (std::size_t i = 0; i < count; ++i) EXPECT_NEAR(got[i], reference[i], 1e-13 * P);
  // A staged receive that times out is cancelled too.
  Kokkos::View<double*, MemSpace> buffer("buffer", 4);
  Request request = staged->irecv(buffer.data(), 4 * sizeof(double), prev, {"staged never sent", 1});
  EXPECT_THROW(staged->wait(request), TimeoutError);
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_EQ(ring_exchange(*staged, 4, {"staged never sent", 1}),
            random_values<double>(4, static_cast<std::uint64_t>(staged->world_rank(prev))));
}

// ---- deadlines and fault injection -----------------------------------------------------------

TEST(CommDeadline, UnmatchedReceiveTimesOutAndIsCancelled) {
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, options(0.5));
  const int P = comm->size(), next = (comm->rank() + 1) % P;
  Kokkos::View<double*, MemSpace> buffer("buffer", 8);
  Request request = comm->irecv(buffer.data(), 8 * sizeof(double), next, {"never sent", 9});
  const auto start = std::chrono::steady_clock::now();
  std::string message;
  try {
    comm->wait(request);
  } catch (const TimeoutError& e) {
    message = e.what();
  }
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(waited, 0.5);
  EXPECT_LT(waited, 0.5 + 5.0);
  const std::string expected = "rank " + std::to_string(comm->rank()) + ": never sent step 9: receive from rank " +
                               std::to_string(next) + " (world " + std::to_string(comm->world_rank(next)) +
                               ") not complete after 0.5 s";
  EXPECT_EQ(message, expected);
  EXPECT_TRUE(request.empty());
  MPI_Barrier(MPI_COMM_WORLD);
  // Same operation and step again: a receive left posted would steal this message.
  const int prev = (comm->rank() + P - 1) % P;
  EXPECT_EQ(ring_exchange(*comm, 8, {"never sent", 9}),
            random_values<double>(8, static_cast<std::uint64_t>(comm->world_rank(prev))));
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST(CommDeadline, FaultInjectionDropsSendsAtOneStep) {
  int P = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &P);
  const int faulty = P > 1 ? 1 : 0, victim = (faulty + 1) % P;
  setenv("WF_FAULT_DROP_SEND", (std::to_string(faulty) + ":3").c_str(), 1);
  auto comm = make_mpi_communicator(MPI_COMM_WORLD, options(1.0));  // read here
  unsetenv("WF_FAULT_DROP_SEND");
  auto child = comm->split(0, comm->rank());  // inherits the hook
  const int r = comm->rank();
  EXPECT_EQ(ring_exchange(*comm, 4, {"test fault", 2}).size(), 4u);
  for (Communicator* c : {comm.get(), child.get()}) {
    const TrafficCounters before = c->traffic();
    bool timed_out = false;
    try {
      ring_exchange(*c, 4, {"test fault", 3});
    } catch (const TimeoutError& e) {
      timed_out = true;
      EXPECT_NE(std::string(e.what()).find("test fault step 3: receive from rank " + std::to_string(faulty)),
                std::string::npos) << e.what();
    }
    EXPECT_EQ(timed_out, r == victim);
    const Bytes sent = r == faulty || P == 1 ? 0 : 1;  // dropped sends are not counted
    EXPECT_EQ(c->traffic().total_messages() - before.total_messages(), sent);
    MPI_Barrier(MPI_COMM_WORLD);
  }
  EXPECT_EQ(ring_exchange(*comm, 4, {"test fault", 4}).size(), 4u);

  setenv("WF_FAULT_DROP_SEND", "not a rank", 1);
  EXPECT_THROW(make_mpi_communicator(MPI_COMM_WORLD, options()), Error);
  unsetenv("WF_FAULT_DROP_SEND");
}

// ---- NCCL ------------------------------------------------------------------------------------

bool nccl_everywhere() {
  int available = nccl_available() ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &available, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return available != 0;
}

TEST(CommNccl, UnavailableBackendThrows) {
  if (nccl_everywhere()) return;  // covered by the test below
  EXPECT_THROW(make_nccl_communicator(MPI_COMM_WORLD, options()), Error);
}

TEST(CommNccl, CollectivesAndCounters) {
  if (!nccl_everywhere()) GTEST_SKIP() << "NCCL backend not built or no GPU visible";
  auto comm = make_nccl_communicator(MPI_COMM_WORLD, options(60.0));
  const int P = comm->size(), r = comm->rank(), prev = (r + P - 1) % P;
  EXPECT_EQ(comm->backend_description().rfind("nccl", 0), 0u);
  TrafficCounters before = comm->traffic();
  EXPECT_EQ(ring_exchange(*comm, 64, {"nccl ring", 0}),
            random_values<double>(64, static_cast<std::uint64_t>(comm->world_rank(prev))));
  const std::size_t count = 37;
  auto data = to_device(std::vector<std::int64_t>(count, r + 1));
  before = comm->traffic();
  comm->all_reduce_sum(data.data(), count, {"nccl all-reduce", 0});
  EXPECT_EQ(to_host(data), std::vector<std::int64_t>(count, P * (P + 1) / 2));
  auto send = to_device(random_values<float>(count, static_cast<std::uint64_t>(r)));
  Kokkos::View<float*, MemSpace> recv("recv", count * static_cast<std::size_t>(P));
  before = comm->traffic();
  comm->all_gather(send.data(), recv.data(), count, {"nccl all-gather", 0});
  expect_traffic(*comm, before, ring_traffic(*comm, count * sizeof(float)));
  auto team = comm->split(r / 2, r);
  team->barrier({"nccl barrier", 0});
}

}  // namespace wf_comm_test
