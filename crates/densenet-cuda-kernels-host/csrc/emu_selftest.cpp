// Kernels that exist only to test the emulator itself (kernels/emu.h): what it must refuse
// (shared memory over CUDA's limit) and what it must not carry from one block to the next
// (shared memory). Not part of kernels/densenet.cu, so never built for a GPU.
#include "emu.h"

#include <cstring>

namespace {

// 64 KiB of static shared memory: over the 48 KiB a kernel gets without opting in.
void over_the_shared_limit(double* out) {
  DN_SHARED(double, big, 8192);
  big[threadIdx.x] = 1.0;
  out[blockIdx.x] = big[threadIdx.x];
}

// Two arrays of 24 KiB: exactly the limit, which CUDA accepts.
void at_the_shared_limit(double* out) {
  DN_SHARED(double, a, 3072);
  DN_SHARED(double, b, 3072);
  a[threadIdx.x] = 1.0;
  b[threadIdx.x] = 2.0;
  out[blockIdx.x] = a[threadIdx.x] + b[threadIdx.x];
}

// Thread 0 of each block reads the shared word before writing it: on a GPU its value is
// undefined, so the emulator must not hand over what the previous block wrote.
void read_before_write(long long* seen_int, double* seen_double) {
  DN_SHARED(long long, word, 1);
  DN_SHARED(double, real, 1);
  if (threadIdx.x == 0) {
    seen_int[blockIdx.x] = word[0];
    seen_double[blockIdx.x] = real[0];
    word[0] = blockIdx.x;
    real[0] = 0.0;
  }
}

}  // namespace

// 0 on success, else the launch's error code (see emu::launch); the reason in dn_emu_last_error().
extern "C" int dn_emu_selftest(const char* name, unsigned grid, unsigned block, void* out0, void* out1) {
  if (std::strcmp(name, "over_the_shared_limit") == 0) return emu::launch(dim3(grid), dim3(block), [&] { over_the_shared_limit(static_cast<double*>(out0)); }, false);
  if (std::strcmp(name, "at_the_shared_limit") == 0) return emu::launch(dim3(grid), dim3(block), [&] { at_the_shared_limit(static_cast<double*>(out0)); }, false);
  if (std::strcmp(name, "read_before_write") == 0)
    return emu::launch(dim3(grid), dim3(block), [&] { read_before_write(static_cast<long long*>(out0), static_cast<double*>(out1)); }, false);
  emu::last_error = std::string("no self-test kernel named ") + name;
  return -2;
}
