// The SimGrid build's program links this first (SimGrid loads the program with RTLD_DEEPBIND, so
// the program and the ranks' Kokkos find this malloc before libc's): with
// WF_SIMGRID_SHARED_BYTES set (tools/simulate.sh), every malloc of at least that many bytes
// made by a simulated rank becomes an SMPI shared allocation
// (SMPI_PARTIAL_SHARED_MALLOC: its pages are one small file mapped again and again, shared by
// every rank), so the ranks' large buffers cost almost no memory. That is what keeps a
// paper-sized layer on 64 simulated GPUs within this machine's memory. It is safe only because
// the simulated run computes nothing from those buffers (compute is injected) and is not
// checked (run.verify is refused): their contents are garbage. The first MiB of every such
// block stays private (Kokkos keeps its allocation header there). Nothing of the program
// changes: Kokkos allocates its views with malloc, which this file replaces (operator new is
// libstdc++'s, loaded before the program: std::vector buffers stay private).
#include <simgrid/actor.h>
#include <smpi/smpi.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstdint>
#include <cstring>

extern "C" {
void* __libc_malloc(size_t size);
void __libc_free(void* pointer);
void* __libc_realloc(void* pointer, size_t size);
}

namespace {

constexpr std::size_t private_head = std::size_t(1) << 20;  // SMPI's shared block size
constexpr int table_size = 1 << 16;

struct Block {
  void* pointer;
  std::size_t size;
};
Block table[table_size];  // the shared blocks alive (open addressing; no malloc inside malloc)
std::atomic_flag table_lock = ATOMIC_FLAG_INIT;

struct Guard {
  Guard() {
    while (table_lock.test_and_set(std::memory_order_acquire)) {
    }
  }
  ~Guard() { table_lock.clear(std::memory_order_release); }
};

std::size_t slot_of(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) >> 12) % table_size; }

/// The threshold, read once; 0 (off) outside smpimain or without the variable.
std::size_t threshold() {
  static const std::size_t bytes = [] {
    char exe[4096] = {0};
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    const char* value = std::getenv("WF_SIMGRID_SHARED_BYTES");
    if (n <= 0 || !std::strstr(exe, "smpimain") || !value) return std::size_t(0);
    return static_cast<std::size_t>(std::strtoull(value, nullptr, 10));
  }();
  return bytes;
}

/// The shared block at `p`, removed from the table, or a size of 0.
Block take(void* p) {
  Guard guard;
  for (std::size_t i = slot_of(p), probes = 0; probes < table_size; i = (i + 1) % table_size, ++probes) {
    if (table[i].pointer == nullptr) break;
    if (table[i].pointer == p) {
      const Block found = table[i];
      table[i].pointer = reinterpret_cast<void*>(1);  // tombstone
      return found;
    }
  }
  return {nullptr, 0};
}

bool put(void* p, std::size_t size) {
  Guard guard;
  for (std::size_t i = slot_of(p), probes = 0; probes < table_size; i = (i + 1) % table_size, ++probes)
    if (table[i].pointer == nullptr || table[i].pointer == reinterpret_cast<void*>(1)) {
      table[i] = {p, size};
      return true;
    }
  return false;
}

}  // namespace

extern "C" {

void* malloc(size_t size) {
  const std::size_t limit = threshold();
  // Only inside a simulated rank (an actor with a pid), never in SimGrid's own start-up.
  if (limit == 0 || size < limit || size < 2 * private_head || sg_actor_self() == nullptr || sg_actor_self_get_pid() <= 0)
    return __libc_malloc(size);
  const size_t shared[2] = {private_head, size};
  void* p = smpi_shared_malloc_partial(size, shared, 1);
  if (p && !put(p, size)) {
    smpi_shared_free(p);
    return __libc_malloc(size);
  }
  return p;
}

void free(void* pointer) {
  if (pointer == nullptr) return;
  if (threshold() != 0 && take(pointer).pointer != nullptr) return smpi_shared_free(pointer);
  __libc_free(pointer);
}

void* realloc(void* pointer, size_t size) {
  if (pointer == nullptr || threshold() == 0) return __libc_realloc(pointer, size);
  const Block old = take(pointer);
  if (old.pointer == nullptr) return __libc_realloc(pointer, size);
  void* moved = malloc(size);
  if (moved) std::memcpy(moved, pointer, old.size < size ? old.size : size);
  smpi_shared_free(pointer);
  return moved;
}

}  // extern "C"
