// Host emulation of the small part of CUDA C++ our kernels use, so that the very same kernel
// sources run on the CPU in `cargo test` (crates/densenet-cuda-kernels-host) and are compared
// against the CPU backend. Not used by nvcc (the .cu file includes it only without __CUDACC__).
//
// Model: a launch runs its blocks one after another on the calling OS thread; inside a block,
// every CUDA thread is a fiber (ucontext) with its own stack. A fiber runs until it reaches
// __syncthreads() or returns; when every fiber of the block waits at the barrier they all go on.
// A block where some threads return while others wait at a barrier is reported as an error
// (undefined behaviour on a GPU). `__shared__` is `static thread_local`: one copy per launch
// (per OS thread), shared by the fibers of the running block, so concurrent tests do not mix.
// Fibers are scheduled in threadIdx order, so emulated results are deterministic; kernels must
// not rely on that (they use only barriers, no warp-synchronous tricks and no atomics).
#pragma once
#ifndef __CUDACC__

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
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
#define __shared__ static thread_local
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

// Runs `body` as a grid of blocks; 0 on success, -1 when a block's threads diverged at a barrier.
// `barriers`: whether the kernel calls __syncthreads(); without, each block's threads simply run
// one after another (the same semantics for a kernel without barriers, much faster).
inline int launch(dim3 grid, dim3 block, std::function<void()> body, bool barriers) {
  const size_t nthreads = size_t(block.x) * block.y * block.z;
  gridDim = grid;
  blockDim = block;
  if (!barriers) {
    plain_loop = true;
    const bool rev = reverse_order;
    for (unsigned bz = 0; bz < grid.z; ++bz)
      for (unsigned by = 0; by < grid.y; ++by)
        for (unsigned bi = 0; bi < grid.x; ++bi) {
          const unsigned bx = rev ? grid.x - 1 - bi : bi;
          blockIdx = uint3{bx, by, bz};
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
      for (unsigned bi = 0; bi < grid.x && rc == 0; ++bi) {
        const unsigned bx = reverse_order ? grid.x - 1 - bi : bi;
        blockIdx = uint3{bx, by, bz};
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

#endif  // !__CUDACC__
