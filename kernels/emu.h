// Host emulation of the small part of CUDA C++ our kernels use, so that the very same kernel
// sources run on the CPU in `cargo test` (crates/densenet-cuda-kernels-host) and are compared
// against the CPU backend. Not used by nvcc (the .cu file includes it only without __CUDACC__).
//
// Model: a launch runs its blocks one after another on the calling OS thread; inside a block,
// every CUDA thread is a fiber (ucontext) with its own stack. A fiber runs until it reaches
// __syncthreads() or returns; when every fiber of the block waits at the barrier they all go on.
// A block where some threads return while others wait at a barrier is reported as an error
// (undefined behaviour on a GPU). Shared memory is declared with DN_SHARED (plain `__shared__`
// does not compile here): every block gets it afresh from a per-OS-thread arena, filled with
// 0xFF bytes (NaN as a double, -1 as an integer) when the block first reaches the declaration,
// so a kernel that reads shared memory before writing it, or counts on a previous block's
// values, gives wrong results here too.
// Fibers are scheduled in threadIdx order, so emulated results are deterministic; kernels must
// not rely on that (they use only barriers, no warp-synchronous tricks and no atomics).
//
// What CUDA refuses, the emulator refuses: a block of more than 1024 threads (x, y ≤ 1024,
// z ≤ 64), a grid beyond 2³¹−1 × 65535 × 65535 blocks, a zero dimension, and more static shared
// memory per block than the 48 KiB a kernel gets without opting in. Such a launch runs nothing
// and fails with a message (`emu::last_error`).
#pragma once
#ifndef __CUDACC__

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <ucontext.h>
#include <vector>

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3() = default;
  dim3(unsigned a, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static_assert(false, "declare shared memory with DN_SHARED(type, name, count): the emulator gives each block its own, poisoned");
#define __restrict__ __restrict

inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;

// getcontext() "returns twice" only in the sense that a context made from it could resume there;
// ours never do (makecontext sends every fiber to fiber_entry), so GCC's clobber warning is moot.
#pragma GCC diagnostic ignored "-Wclobbered"

namespace emu {

enum class State { Runnable, AtBarrier, Done };

struct Fiber {
  ucontext_t ctx;
  uint3 tid;
  State state;
};

struct Launch {
  std::vector<Fiber> fibers;
  ucontext_t scheduler;
  size_t current = 0;
  std::function<void()> body;
};

inline thread_local Launch* active = nullptr;
// Set while a launch runs its threads as a plain loop (a kernel declared barrier-free).
inline thread_local bool plain_loop = false;
// Run blocks and threads in reverse order (a test switch): a kernel whose result depends on the
// order threads run in without a barrier between them (a race on a GPU) then gives other results.
inline thread_local bool reverse_order = false;
// Fiber stacks, kept from launch to launch (allocating them per launch dominated the run time).
inline thread_local std::vector<std::vector<char>> stack_pool;
// Why the last launch on this OS thread was refused or failed.
inline thread_local std::string last_error;

// CUDA's limits (every GPU we build for: sm_80, sm_90).
constexpr unsigned kMaxThreadsPerBlock = 1024, kMaxBlockX = 1024, kMaxBlockY = 1024, kMaxBlockZ = 64;
constexpr unsigned kMaxGridX = 0x7FFFFFFFu, kMaxGridYZ = 65535;
// Static shared memory per block without the opt-in (cudaFuncAttributeMaxDynamicSharedMemorySize).
constexpr size_t kSharedLimit = 48 * 1024;
// The arena is larger than the limit so that a kernel over it runs to the end of the block
// (which then fails) instead of writing past the arena; past this the emulator aborts.
constexpr size_t kSharedArena = 1024 * 1024;

// The running block's shared memory: each DN_SHARED declaration (by its site) gets a region,
// poisoned when the block first reaches it; reset at every block's start.
struct SharedMemory {
  std::vector<unsigned char> arena = std::vector<unsigned char>(kSharedArena);
  std::vector<std::pair<const void*, size_t>> regions;  // (site, offset)
  size_t used = 0;
  bool over_limit = false;
};
inline thread_local SharedMemory shared_memory;

inline void shared_reset() {
  shared_memory.regions.clear();
  shared_memory.used = 0;
}

template <class T>
T* shared(size_t count, const void* site, const char* name) {
  SharedMemory& m = shared_memory;
  for (auto& [s, off] : m.regions) {
    if (s == site) return reinterpret_cast<T*>(m.arena.data() + off);
  }
  const size_t off = (m.used + 15) / 16 * 16, bytes = count * sizeof(T);
  if (off + bytes > kSharedArena) {
    std::fprintf(stderr, "emu: __shared__ %s (%zu bytes) does not fit even the emulator's arena\n", name, bytes);
    std::abort();
  }
  m.used = off + bytes;
  if (m.used > kSharedLimit && !m.over_limit) {
    m.over_limit = true;
    last_error = "uses " + std::to_string(m.used) + " bytes of static shared memory per block (at " + name + "), over CUDA's " + std::to_string(kSharedLimit) + "-byte limit";
  }
  std::memset(m.arena.data() + off, 0xFF, bytes);
  m.regions.emplace_back(site, off);
  return reinterpret_cast<T*>(m.arena.data() + off);
}

// The reason CUDA would refuse this configuration (cudaErrorInvalidConfiguration), or empty.
inline std::string refused_config(dim3 grid, dim3 block) {
  const size_t threads = size_t(block.x) * block.y * block.z;
  auto dims = [](dim3 d) { return "(" + std::to_string(d.x) + ", " + std::to_string(d.y) + ", " + std::to_string(d.z) + ")"; };
  if (block.x == 0 || block.y == 0 || block.z == 0 || grid.x == 0 || grid.y == 0 || grid.z == 0) return "a zero grid or block dimension: grid " + dims(grid) + ", block " + dims(block);
  if (block.x > kMaxBlockX || block.y > kMaxBlockY || block.z > kMaxBlockZ || threads > kMaxThreadsPerBlock)
    return "block " + dims(block) + " = " + std::to_string(threads) + " threads: CUDA allows at most 1024 per block (x, y ≤ 1024, z ≤ 64)";
  if (grid.x > kMaxGridX || grid.y > kMaxGridYZ || grid.z > kMaxGridYZ) return "grid " + dims(grid) + ": CUDA allows at most 2147483647 × 65535 × 65535 blocks";
  return "";
}

inline void fiber_entry() {
  Launch* l = active;
  l->body();
  l->fibers[l->current].state = State::Done;
  swapcontext(&l->fibers[l->current].ctx, &l->scheduler);
}

inline void syncthreads() {
  if (plain_loop) {
    std::fprintf(stderr, "emu: __syncthreads() in a kernel launched as barrier-free; list it in kBarrierKernels\n");
    std::abort();
  }
  Launch* l = active;
  Fiber& f = l->fibers[l->current];
  f.state = State::AtBarrier;
  swapcontext(&f.ctx, &l->scheduler);
}

// Runs `body` as a grid of blocks; 0 on success, -1 when a block's threads diverged at a barrier,
// -3 for a launch CUDA refuses (see the header; the reason in last_error).
// `barriers`: whether the kernel calls __syncthreads(); without, each block's threads simply run
// one after another (the same semantics for a kernel without barriers, much faster).
inline int run_blocks(dim3 grid, dim3 block, std::function<void()> body, bool barriers);

inline int launch(dim3 grid, dim3 block, std::function<void()> body, bool barriers) {
  last_error.clear();
  if (std::string why = refused_config(grid, block); !why.empty()) {
    last_error = why;
    return -3;
  }
  shared_memory.over_limit = false;
  const int rc = run_blocks(grid, block, std::move(body), barriers);
  return rc == 0 && shared_memory.over_limit ? -3 : rc;
}

inline int run_blocks(dim3 grid, dim3 block, std::function<void()> body, bool barriers) {
  const size_t nthreads = size_t(block.x) * block.y * block.z;
  gridDim = grid;
  blockDim = block;
  if (!barriers) {
    plain_loop = true;
    const bool rev = reverse_order;
    for (unsigned bz = 0; bz < grid.z; ++bz)
      for (unsigned by = 0; by < grid.y; ++by)
        for (unsigned bi = 0; bi < grid.x && !shared_memory.over_limit; ++bi) {
          const unsigned bx = rev ? grid.x - 1 - bi : bi;
          blockIdx = uint3{bx, by, bz};
          shared_reset();
          for (size_t ti = 0; ti < nthreads; ++ti) {
            const size_t t = rev ? nthreads - 1 - ti : ti;
            threadIdx = uint3{unsigned(t % block.x), unsigned((t / block.x) % block.y), unsigned(t / (size_t(block.x) * block.y))};
            body();
          }
        }
    plain_loop = false;
    return 0;
  }
  const size_t stack_bytes = 64 * 1024;
  Launch l;
  l.body = std::move(body);
  l.fibers.resize(nthreads);
  if (stack_pool.size() < nthreads) stack_pool.resize(nthreads);
  for (size_t t = 0; t < nthreads; ++t) {
    if (stack_pool[t].size() < stack_bytes) stack_pool[t].resize(stack_bytes);
  }
  Launch* outer = active;
  active = &l;
  int rc = 0;
  for (unsigned bz = 0; bz < grid.z && rc == 0; ++bz)
    for (unsigned by = 0; by < grid.y && rc == 0; ++by)
      for (unsigned bi = 0; bi < grid.x && rc == 0 && !shared_memory.over_limit; ++bi) {
        const unsigned bx = reverse_order ? grid.x - 1 - bi : bi;
        blockIdx = uint3{bx, by, bz};
        shared_reset();
        for (size_t t = 0; t < nthreads; ++t) {
          Fiber& f = l.fibers[t];
          f.tid = uint3{unsigned(t % block.x), unsigned((t / block.x) % block.y), unsigned(t / (size_t(block.x) * block.y))};
          f.state = State::Runnable;
          getcontext(&f.ctx);
          f.ctx.uc_stack.ss_sp = stack_pool[t].data();
          f.ctx.uc_stack.ss_size = stack_pool[t].size();
          f.ctx.uc_link = nullptr;
          makecontext(&f.ctx, fiber_entry, 0);
        }
        for (;;) {
          for (size_t ti = 0; ti < nthreads; ++ti) {
            const size_t t = reverse_order ? nthreads - 1 - ti : ti;
            Fiber& f = l.fibers[t];
            if (f.state != State::Runnable) continue;
            l.current = t;
            threadIdx = f.tid;
            swapcontext(&l.scheduler, &f.ctx);
          }
          size_t done = 0, waiting = 0;
          for (auto& f : l.fibers) {
            done += f.state == State::Done;
            waiting += f.state == State::AtBarrier;
          }
          if (done == nthreads) break;
          if (done > 0) {
            std::fprintf(stderr, "emu: block (%u,%u,%u): %zu threads returned while %zu wait at __syncthreads()\n", bx, by, bz, done, waiting);
            last_error = "block (" + std::to_string(bx) + ", " + std::to_string(by) + ", " + std::to_string(bz) + "): " + std::to_string(done) + " threads returned while " +
                         std::to_string(waiting) + " wait at __syncthreads()";
            rc = -1;
            break;
          }
          for (auto& f : l.fibers) f.state = State::Runnable;
        }
      }
  active = outer;
  return rc;
}

// Calls a kernel `f(A...)` with its parameters given as cuLaunchKernel gives them: an array of
// pointers, one per parameter, each to the parameter's value.
template <class... A, size_t... I>
void call_packed(void (*f)(A...), void** params, std::index_sequence<I...>) {
  f(*static_cast<std::remove_reference_t<A>*>(params[I])...);
}
template <class... A>
void call_packed(void (*f)(A...), void** params) {
  call_packed(f, params, std::index_sequence_for<A...>{});
}

}  // namespace emu

inline void __syncthreads() { emu::syncthreads(); }

// `__shared__ T name[count]` of the running block (see the header).
#define DN_SHARED(T, name, count)          \
  static const char name##_site = 0;       \
  T* const name = ::emu::shared<T>((count), &name##_site, #name)

#endif  // !__CUDACC__
