// The CUDA backend's kernels: `extern "C"` entry points (one per op and element type, suffix
// _f32/_f64) over the bodies in densenet.cuh. nvcc compiles this file to PTX (sm_80, sm_90) for
// crates/densenet-cuda; g++ compiles the same file with emu.h for the host-executed tests
// (crates/densenet-cuda-kernels-host), which also get `dn_emu_launch`, a cuLaunchKernel look-alike.
#ifndef __CUDACC__
#include "emu.h"
#endif
#include "densenet.cuh"

#define DN_KERNELS_OF(T, S, X)                                                                                                                                                   \
  X(add_assign, S, (const T* src, T* dst, long long n), (src, dst, n))                                                                                                          \
  X(bn_stats, S, (const T* x, long long c, long long p, double eps, T* mean, T* invstd, T* var), (x, c, p, eps, mean, invstd, var))                                               \
  X(bn_stats_partial, S, (const T* x, long long c, long long p, long long segs, const double* center, double* partial), (x, c, p, segs, center, partial))                    \
  X(bn_stats_mean, S, (const double* partial, long long c, long long p, long long segs, double* mean_f64, T* mean), (partial, c, p, segs, mean_f64, mean))                       \
  X(bn_stats_var, S, (const double* partial, long long c, long long p, long long segs, double eps, T* invstd, T* var), (partial, c, p, segs, eps, invstd, var))                  \
  X(bn_running_invstd, S, (const T* var, long long n, double eps, T* invstd), (var, n, eps, invstd))                                                                            \
  X(bn_update_running, S, (const T* mean, const T* var, T* rmean, T* rvar, long long n, double momentum), (mean, var, rmean, rvar, n, momentum))                                  \
  X(bn_forward, S, (const T* x, long long c, long long p, const T* gamma, const T* beta, const T* mean, const T* invstd, long long relu, T* y),                                   \
    (x, c, p, gamma, beta, mean, invstd, relu, y))                                                                                                                               \
  X(bn_backward_sums, S,                                                                                                                                                        \
    (const T* x, const T* dy, long long c, long long p, const T* gamma, const T* beta, const T* mean, const T* invstd, long long relu, T* dgamma, T* dbeta, double* sums),      \
    (x, dy, c, p, gamma, beta, mean, invstd, relu, dgamma, dbeta, sums))                                                                                                         \
  X(bn_backward_sums_partial, S,                                                                                                                                                \
    (const T* x, const T* dy, long long c, long long p, long long segs, const T* gamma, const T* beta, const T* mean, const T* invstd, long long relu, double* partial),       \
    (x, dy, c, p, segs, gamma, beta, mean, invstd, relu, partial))                                                                                                               \
  X(bn_backward_sums_total, S, (const double* partial, long long c, long long segs, T* dgamma, T* dbeta, double* sums), (partial, c, segs, dgamma, dbeta, sums))                 \
  X(bn_backward_dx, S,                                                                                                                                                          \
    (const T* x, T* dy, long long c, long long p, const T* gamma, const T* beta, const T* mean, const T* invstd, long long relu, const double* sums, T* dx),                    \
    (x, dy, c, p, gamma, beta, mean, invstd, relu, sums, dx))                                                                                                                    \
  X(im2col, S,                                                                                                                                                                  \
    (const T* x, long long cin, long long n, long long h, long long w, long long k, long long stride, long long pad, long long ho, long long wo, long long n0, long long n1,     \
     T* cols),                                                                                                                                                                   \
    (x, cin, n, h, w, k, stride, pad, ho, wo, n0, n1, cols))                                                                                                                     \
  X(col2im, S,                                                                                                                                                                  \
    (const T* cols, long long cin, long long n, long long h, long long w, long long k, long long stride, long long pad, long long ho, long long wo, long long n0, long long n1,  \
     T* dx),                                                                                                                                                                     \
    (cols, cin, n, h, w, k, stride, pad, ho, wo, n0, n1, dx))                                                                                                                    \
  X(avg_pool2_forward, S, (const T* x, long long planes, long long h, long long w, T* y), (x, planes, h, w, y))                                                                 \
  X(bn_avg_pool2_forward, S,                                                                                                                                                    \
    (const T* x, long long c, long long n, long long h, long long w, const T* gamma, const T* beta, const T* mean, const T* invstd, long long relu, T* y),                      \
    (x, c, n, h, w, gamma, beta, mean, invstd, relu, y))                                                                                                                         \
  X(bn_max_pool3s2_forward, S,                                                                                                                                                  \
    (const T* x, long long c, long long n, long long h, long long w, const T* gamma, const T* beta, const T* mean, const T* invstd, long long relu, T* y),                      \
    (x, c, n, h, w, gamma, beta, mean, invstd, relu, y))                                                                                                                         \
  X(avg_pool2_backward, S, (const T* dy, long long planes, long long h, long long w, T* dx), (dy, planes, h, w, dx))                                                            \
  X(max_pool3s2_forward, S, (const T* x, long long planes, long long h, long long w, T* y, unsigned* argmax), (x, planes, h, w, y, argmax))                                     \
  X(max_pool3s2_backward, S, (const T* dy, const unsigned* argmax, long long planes, long long h, long long w, T* dx), (dy, argmax, planes, h, w, dx))                          \
  X(global_avg_forward, S, (const T* x, long long planes, long long hw, T* out), (x, planes, hw, out))                                                                         \
  X(global_avg_backward, S, (const T* dpooled, long long planes, long long hw, T* dx), (dpooled, planes, hw, dx))                                                               \
  X(bias_rows, S, (const T* bias, long long n, long long k, T* logits), (bias, n, k, logits))                                                                                   \
  X(bias_grad, S, (const T* dlogits, long long n, long long k, T* dbias), (dlogits, n, k, dbias))                                                                               \
  X(softmax_xent, S, (const T* logits, const long long* labels, long long n, long long k, T* dlogits, double* row_loss, long long* row_correct),                                \
    (logits, labels, n, k, dlogits, row_loss, row_correct))                                                                                                                      \
  X(dropout_hashed, S, (T * y, long long n, double p, unsigned long long base, unsigned long long threshold), (y, n, p, base, threshold))                                        \
  X(dropout_mask, S, (T * y, const T* mask, long long n, double p), (y, mask, n, p))                                                                                            \
  X(sgd_step, S, (T * param, const T* grad, T* buf, long long n, double lr, double wd, double m, long long initialized, long long nesterov),                                     \
    (param, grad, buf, n, lr, wd, m, initialized, nesterov))                                                                                                                     \
  X(sgd_step_chunks, S, (const dn::SgdChunk<T>* chunks, long long count), (chunks, count))                                                                                     \
  X(first_non_finite, S, (const T* x, long long n, long long* block_min), (x, n, block_min))                                                                                   \
  X(first_non_finite_chunks, S, (const dn::FiniteChunk<T>* chunks, long long count, long long* chunk_min), (chunks, count, chunk_min))

#define DN_KERNELS(X)          \
  DN_KERNELS_OF(float, f32, X) \
  DN_KERNELS_OF(double, f64, X)

// One entry point per (op, type): `<op>_f32(...) { dn::<op>(...); }`, T deduced from the pointers.
#define DN_DEFINE(stem, S, params, args) \
  extern "C" __global__ void stem##_##S params { dn::stem args; }
DN_KERNELS(DN_DEFINE)

#ifndef __CUDACC__
#include <cstring>

namespace {
struct Entry {
  const char* name;
  void (*call)(void**);
};
#define DN_ENTRY(stem, S, params, args) {#stem "_" #S, [](void** p) { emu::call_packed(&stem##_##S, p); }},
const Entry kEntries[] = {DN_KERNELS(DN_ENTRY)};

// The kernels that use shared memory and __syncthreads() (their threads run as fibers); the
// others run thread after thread. A kernel missing here that calls __syncthreads() aborts loudly.
const char* const kBarrierKernels[] = {"bn_stats_", "bn_backward_sums_", "global_avg_forward_", "first_non_finite_"};  // by prefix: bn_stats_partial_, bn_backward_sums_partial_ and first_non_finite_chunks_ too

bool uses_barriers(const char* name) {
  for (const char* stem : kBarrierKernels) {
    if (std::strncmp(name, stem, std::strlen(stem)) == 0) return true;
  }
  return false;
}
}  // namespace

// Runs kernel `name` on the host emulator: grid and block as cuLaunchKernel takes them, `params`
// one pointer per kernel parameter. 0 on success, -2 for an unknown name, -1 for a block whose
// threads diverged at a barrier, -3 for a launch CUDA refuses; the reason in dn_emu_last_error().
extern "C" int dn_emu_launch(const char* name, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, void** params) {
  for (const Entry& e : kEntries) {
    if (std::strcmp(e.name, name) == 0) {
      return emu::launch(dim3(gx, gy, gz), dim3(bx, by, bz), [&] { e.call(params); }, uses_barriers(name));
    }
  }
  emu::last_error = std::string("no kernel named ") + name;
  return -2;
}

// Why the last launch on this OS thread failed (empty after a success).
extern "C" const char* dn_emu_last_error() { return emu::last_error.c_str(); }

// Blocks and threads in reverse order on this OS thread (1) or in order (0): see emu.h.
extern "C" void dn_emu_set_reverse_order(int on) { emu::reverse_order = on != 0; }

// The entry points' names, for the tests that check every kernel is exercised.
extern "C" unsigned dn_emu_kernel_count() { return sizeof(kEntries) / sizeof(kEntries[0]); }
extern "C" const char* dn_emu_kernel_name(unsigned i) { return i < dn_emu_kernel_count() ? kEntries[i].name : nullptr; }
#endif
