// Kernel bodies of the CUDA backend, written once for the GPU (nvcc) and the host emulation
// (emu.h, g++). Layout and semantics follow densenet-cpu's ops exactly: channel-major tensors
// [C, N, H, W], every channel one contiguous run of P = N·H·W values.
//
// Conventions: sizes and indices are `long long` (i64 on the Rust side), scalars are `double`
// (converted to T where the CPU backend converts them), pointers are device pointers already
// offset to the view's start. Reductions are fixed-order: a block of DN_BLOCK threads, each
// summing a strided subsequence in f64, then a shared-memory tree: the same bits on every run.
// No atomics anywhere (gathers instead of scatters), so every kernel is deterministic.
#pragma once

#define DN_BLOCK 256

// A block's shared array: `__shared__` under nvcc; the emulator's per-block, poisoned arena
// (emu.h), which also refuses more than CUDA's 48 KiB.
#ifdef __CUDACC__
#define DN_SHARED(T, name, count) __shared__ T name[count]
#endif

namespace dn {

#define DN_GRID_STRIDE(i, n) for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

// Tree reduction of one double per thread over a block of DN_BLOCK threads; the result is
// returned to every thread. `s` is the block's shared scratch of DN_BLOCK doubles.
__device__ __forceinline__ double block_sum(double v, double* s) {
  s[threadIdx.x] = v;
  __syncthreads();
  for (unsigned stride = DN_BLOCK / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) s[threadIdx.x] += s[threadIdx.x + stride];
    __syncthreads();
  }
  double r = s[0];
  __syncthreads();
  return r;
}

__device__ __forceinline__ unsigned long long splitmix64(unsigned long long z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// ---- memory --------------------------------------------------------------------------------

template <class T>
__device__ void add_assign(const T* src, T* dst, long long n) {
  DN_GRID_STRIDE(i, n) { dst[i] += src[i]; }
}

// ---- batch norm ----------------------------------------------------------------------------

// One block per channel: mean, 1/sqrt(var + eps) and the unbiased variance (two passes in f64).
template <class T>
__device__ void bn_stats(const T* x, long long channels, long long p, double eps, T* mean, T* invstd, T* var_unbiased) {
  DN_SHARED(double, s, DN_BLOCK);
  for (long long c = blockIdx.x; c < channels; c += gridDim.x) {
    const T* xc = x + c * p;
    double acc = 0;
    for (long long i = threadIdx.x; i < p; i += DN_BLOCK) acc += (double)xc[i];
    const double m = block_sum(acc, s) / (double)p;
    acc = 0;
    for (long long i = threadIdx.x; i < p; i += DN_BLOCK) {
      const double d = (double)xc[i] - m;
      acc += d * d;
    }
    const double ss = block_sum(acc, s);
    if (threadIdx.x == 0) {
      mean[c] = (T)m;
      invstd[c] = (T)(1.0 / sqrt(ss / (double)p + eps));
      var_unbiased[c] = p > 1 ? (T)(ss / (double)(p - 1)) : (T)NAN;
    }
  }
}

// The same statistics for a channel split into `segs` segments of ceil(p / segs) values (few
// channels over many values: norm0 has 64 channels for 132 SMs). Each stage is fixed-order, so
// the result is the same bits on every run (not the one-block kernel's bits: another order).
// Stage 1 (twice): partial[c·segs + s] = Σ over segment s of channel c of x (center null), or of
// (x − center[c])² in f64.
template <class T>
__device__ void bn_stats_partial(const T* x, long long channels, long long p, long long segs, const double* center, double* partial) {
  DN_SHARED(double, s, DN_BLOCK);
  const long long len = (p + segs - 1) / segs;
  for (long long b = blockIdx.x; b < channels * segs; b += gridDim.x) {
    const long long c = b / segs, lo = (b % segs) * len, hi = lo + len < p ? lo + len : p;
    const T* xc = x + c * p;
    double acc = 0;
    if (center) {
      const double m = center[c];
      for (long long i = lo + threadIdx.x; i < hi; i += DN_BLOCK) {
        const double d = (double)xc[i] - m;
        acc += d * d;
      }
    } else {
      for (long long i = lo + threadIdx.x; i < hi; i += DN_BLOCK) acc += (double)xc[i];
    }
    const double total = block_sum(acc, s);
    if (threadIdx.x == 0) partial[b] = total;
  }
}

// Stage 2 of the mean: one thread per channel sums its segments in order.
template <class T>
__device__ void bn_stats_mean(const double* partial, long long channels, long long p, long long segs, double* mean_f64, T* mean) {
  DN_GRID_STRIDE(c, channels) {
    double acc = 0;
    for (long long k = 0; k < segs; k++) acc += partial[c * segs + k];
    const double m = acc / (double)p;
    mean_f64[c] = m;
    mean[c] = (T)m;
  }
}

// Stage 2 of the variance: 1/sqrt(var + eps) and the unbiased variance, as bn_stats.
template <class T>
__device__ void bn_stats_var(const double* partial, long long channels, long long p, long long segs, double eps, T* invstd, T* var_unbiased) {
  DN_GRID_STRIDE(c, channels) {
    double ss = 0;
    for (long long k = 0; k < segs; k++) ss += partial[c * segs + k];
    invstd[c] = (T)(1.0 / sqrt(ss / (double)p + eps));
    var_unbiased[c] = p > 1 ? (T)(ss / (double)(p - 1)) : (T)NAN;
  }
}

template <class T>
__device__ void bn_running_invstd(const T* running_var, long long n, double eps, T* invstd) {
  DN_GRID_STRIDE(i, n) { invstd[i] = (T)(1.0 / sqrt((double)running_var[i] + eps)); }
}

template <class T>
__device__ void bn_update_running(const T* mean, const T* var_unbiased, T* running_mean, T* running_var, long long n, double momentum) {
  const T m = (T)momentum, keep = (T)(1.0 - momentum);
  DN_GRID_STRIDE(i, n) {
    running_mean[i] = keep * running_mean[i] + m * mean[i];
    running_var[i] = keep * running_var[i] + m * var_unbiased[i];
  }
}

// y = [relu](gamma·(x − mean)·invstd + beta); NaN propagates through the ReLU (as torch.relu).
template <class T>
__device__ void bn_forward(const T* x, long long channels, long long p, const T* gamma, const T* beta, const T* mean, const T* invstd, long long relu, T* y) {
  DN_GRID_STRIDE(i, channels * p) {
    const long long c = i / p;
    const T v = (x[i] - mean[c]) * invstd[c] * gamma[c] + beta[c];
    y[i] = (relu && v <= (T)0) ? (T)0 : v;
  }
}

// One block's Σg and Σg·x̂ over values [lo, hi) of channel c (g = dy masked by the recomputed
// ReLU), in f64, the same on every thread of the block after the two block sums.
template <class T>
__device__ void bn_grad_block_sums(const T* x, const T* dy, long long c, long long p, long long lo, long long hi, const T* gamma, const T* beta, const T* mean, const T* invstd,
                                   long long relu, double* s, double& sg, double& sgx) {
  const T* xc = x + c * p;
  const T* dyc = dy + c * p;
  const T m = mean[c], is = invstd[c], g = gamma[c], b = beta[c];
  double ag = 0, agx = 0;
  for (long long i = lo + threadIdx.x; i < hi; i += DN_BLOCK) {
    const T xhat = (xc[i] - m) * is;
    const T gv = (!relu || xhat * g + b > (T)0) ? dyc[i] : (T)0;
    ag += (double)gv;
    agx += (double)(gv * xhat);
  }
  sg = block_sum(ag, s);
  sgx = block_sum(agx, s);
}

// One block per channel: Σg and Σg·x̂ (g = dy masked by the recomputed ReLU) in f64 into
// sums[2c], sums[2c+1]; dgamma[c] += Σg·x̂, dbeta[c] += Σg.
template <class T>
__device__ void bn_backward_sums(const T* x, const T* dy, long long channels, long long p, const T* gamma, const T* beta, const T* mean, const T* invstd, long long relu, T* dgamma,
                                 T* dbeta, double* sums) {
  DN_SHARED(double, s, DN_BLOCK);
  for (long long c = blockIdx.x; c < channels; c += gridDim.x) {
    double sg, sgx;
    bn_grad_block_sums(x, dy, c, p, 0, p, gamma, beta, mean, invstd, relu, s, sg, sgx);
    if (threadIdx.x == 0) {
      sums[2 * c] = sg;
      sums[2 * c + 1] = sgx;
      dgamma[c] += (T)sgx;
      dbeta[c] += (T)sg;
    }
  }
}

// The same sums for a channel split into `segs` segments of ceil(p / segs) values (as
// bn_stats_partial): block b = c·segs + s writes its segment's Σg and Σg·x̂ into partial[2b],
// partial[2b + 1]. Fixed-order, so the same bits on every run (another order than the one-block
// kernel's).
template <class T>
__device__ void bn_backward_sums_partial(const T* x, const T* dy, long long channels, long long p, long long segs, const T* gamma, const T* beta, const T* mean, const T* invstd,
                                         long long relu, double* partial) {
  DN_SHARED(double, s, DN_BLOCK);
  const long long len = (p + segs - 1) / segs;
  for (long long b = blockIdx.x; b < channels * segs; b += gridDim.x) {
    const long long c = b / segs, lo = (b % segs) * len, hi = lo + len < p ? lo + len : p;
    double sg, sgx;
    bn_grad_block_sums(x, dy, c, p, lo, hi, gamma, beta, mean, invstd, relu, s, sg, sgx);
    if (threadIdx.x == 0) {
      partial[2 * b] = sg;
      partial[2 * b + 1] = sgx;
    }
  }
}

// Stage 2: one thread per channel adds its segments in order into sums[2c], sums[2c + 1];
// dgamma[c] += Σg·x̂, dbeta[c] += Σg (as bn_backward_sums).
template <class T>
__device__ void bn_backward_sums_total(const double* partial, long long channels, long long segs, T* dgamma, T* dbeta, double* sums) {
  DN_GRID_STRIDE(c, channels) {
    double sg = 0, sgx = 0;
    for (long long k = 0; k < segs; k++) {
      sg += partial[2 * (c * segs + k)];
      sgx += partial[2 * (c * segs + k) + 1];
    }
    sums[2 * c] = sg;
    sums[2 * c + 1] = sgx;
    dgamma[c] += (T)sgx;
    dbeta[c] += (T)sg;
  }
}

// dx = gamma·invstd·(g − Σg/P − x̂·Σg·x̂/P): added into dx, or written over dy when dx is null.
template <class T>
__device__ void bn_backward_dx(const T* x, T* dy, long long channels, long long p, const T* gamma, const T* beta, const T* mean, const T* invstd, long long relu, const double* sums,
                               T* dx) {
  DN_GRID_STRIDE(i, channels * p) {
    const long long c = i / p;
    const T m = mean[c], is = invstd[c], g = gamma[c], b = beta[c];
    const T coef = g * is;
    const T mean_g = (T)(sums[2 * c] / (double)p);
    const T mean_gx = (T)(sums[2 * c + 1] / (double)p);
    const T xhat = (x[i] - m) * is;
    const T gv = (!relu || xhat * g + b > (T)0) ? dy[i] : (T)0;
    const T d = coef * (gv - mean_g - xhat * mean_gx);
    if (dx) {
      dx[i] += d;
    } else {
      dy[i] = d;
    }
  }
}

// ---- convolution lowering --------------------------------------------------------------------

// im2col and col2im work in tiles of DN_TILE consecutive columns (pixels) of one row (plane):
// the 64-bit row/plane decomposition once per tile, the in-row one in 32 bits per element (the
// host keeps (n1−n0)·Ho·Wo and H·W under 2³¹: the column budget chunks the samples).
#define DN_TILE 1024

// cols [Cin·k·k, (n1−n0)·Ho·Wo] from samples [n0, n1) of x [Cin, N, H, W] (zero outside the image).
template <class T>
__device__ void im2col(const T* x, long long cin, long long n, long long h, long long w, long long k, long long stride, long long pad, long long ho, long long wo, long long n0,
                       long long n1, T* cols) {
  const unsigned howo = (unsigned)(ho * wo), wo32 = (unsigned)wo;
  const unsigned pc = (unsigned)((n1 - n0) * ho * wo);
  const long long kk = k * k, tiles = ((long long)pc + DN_TILE - 1) / DN_TILE;
  for (long long b = blockIdx.x; b < cin * kk * tiles; b += gridDim.x) {
    const long long row = b / tiles, ci = row / kk;
    const long long ky = (row % kk) / k, kx = row % k;
    const unsigned c0 = (unsigned)(b % tiles) * DN_TILE;
    const T* xc = x + (ci * n + n0) * h * w;
    T* out = cols + row * (long long)pc;
    for (unsigned j = threadIdx.x; j < DN_TILE && c0 + j < pc; j += blockDim.x) {
      const unsigned col = c0 + j, s = col / howo, r = col - s * howo, oy = r / wo32, ox = r - oy * wo32;
      const long long iy = (long long)oy * stride + ky - pad, ix = (long long)ox * stride + kx - pad;
      out[col] = (iy >= 0 && iy < h && ix >= 0 && ix < w) ? xc[((long long)s * h + iy) * w + ix] : (T)0;
    }
  }
}

// The adjoint of im2col, as a gather: each dx element of samples [n0, n1) adds the columns that
// read it, in the order (ky, kx) of the CPU backend's col2im (so the same bits).
template <class T>
__device__ void col2im(const T* cols, long long cin, long long n, long long h, long long w, long long k, long long stride, long long pad, long long ho, long long wo, long long n0,
                       long long n1, T* dx) {
  const long long ns = n1 - n0, pc = ns * ho * wo;
  const unsigned hw = (unsigned)(h * w), w32 = (unsigned)w;
  const int k32 = (int)k, st = (int)stride, pd = (int)pad, ho32 = (int)ho, wo32 = (int)wo;
  const long long tiles = ((long long)hw + DN_TILE - 1) / DN_TILE;
  for (long long b = blockIdx.x; b < cin * ns * tiles; b += gridDim.x) {
    const long long plane = b / tiles, ci = plane / ns, s = plane % ns;
    const unsigned q0 = (unsigned)(b % tiles) * DN_TILE;
    T* d = dx + (ci * n + n0 + s) * (long long)hw;
    const T* c = cols + ci * k * k * pc + s * ho * wo;
    for (unsigned j = threadIdx.x; j < DN_TILE && q0 + j < hw; j += blockDim.x) {
      const unsigned q = q0 + j;
      const int iy = (int)(q / w32), ix = (int)(q - (unsigned)iy * w32);
      T acc = d[q];
      for (int ky = 0; ky < k32; ++ky) {
        const int ty = iy + pd - ky;
        if (ty < 0 || ty % st != 0 || ty / st >= ho32) continue;
        const int oy = ty / st;
        for (int kx = 0; kx < k32; ++kx) {
          const int tx = ix + pd - kx;
          if (tx < 0 || tx % st != 0 || tx / st >= wo32) continue;
          const int ox = tx / st;
          acc += c[(long long)(ky * k32 + kx) * pc + (long long)oy * wo32 + ox];
        }
      }
      d[q] = acc;
    }
  }
}

// ---- pooling -------------------------------------------------------------------------------

template <class T>
__device__ void avg_pool2_forward(const T* x, long long planes, long long h, long long w, T* y) {
  const long long ho = h / 2, wo = w / 2;
  DN_GRID_STRIDE(i, planes * ho * wo) {
    const long long pl = i / (ho * wo), oy = (i % (ho * wo)) / wo, ox = i % wo;
    const T* r0 = x + pl * h * w + 2 * oy * w;
    const T* r1 = r0 + w;
    y[i] = (r0[2 * ox] + r0[2 * ox + 1] + r1[2 * ox] + r1[2 * ox + 1]) * (T)0.25;
  }
}

// bn_forward's value of x in channel c: [relu](gamma·(x − mean)·invstd + beta), NaN kept.
template <class T>
__device__ __forceinline__ T bn_value(T v, T mean, T invstd, T gamma, T beta, long long relu) {
  const T t = (v - mean) * invstd * gamma + beta;
  return (relu && t <= (T)0) ? (T)0 : t;
}

// y = avg_pool2_forward of bn_forward(x) without the normalized copy (a pool-first transition at
// inference); x [C, N, h, w], y [C, N, h/2, w/2]; the same values and sums in the same order.
template <class T>
__device__ void bn_avg_pool2_forward(const T* x, long long channels, long long n, long long h, long long w, const T* gamma, const T* beta, const T* mean, const T* invstd,
                                     long long relu, T* y) {
  const long long ho = h / 2, wo = w / 2;
  DN_GRID_STRIDE(i, channels * n * ho * wo) {
    const long long pl = i / (ho * wo), c = pl / n, oy = (i % (ho * wo)) / wo, ox = i % wo;
    const T* r0 = x + pl * h * w + 2 * oy * w;
    const T* r1 = r0 + w;
    const T m = mean[c], is = invstd[c], g = gamma[c], b = beta[c];
    y[i] = (bn_value(r0[2 * ox], m, is, g, b, relu) + bn_value(r0[2 * ox + 1], m, is, g, b, relu) + bn_value(r1[2 * ox], m, is, g, b, relu) +
            bn_value(r1[2 * ox + 1], m, is, g, b, relu)) *
           (T)0.25;
  }
}

template <class T>
__device__ void avg_pool2_backward(const T* dy, long long planes, long long h, long long w, T* dx) {
  const long long ho = h / 2, wo = w / 2;
  DN_GRID_STRIDE(i, planes * h * w) {
    const long long pl = i / (h * w), iy = (i % (h * w)) / w, ix = i % w;
    const long long oy = iy / 2, ox = ix / 2;
    dx[i] = (oy < ho && ox < wo) ? dy[pl * ho * wo + oy * wo + ox] * (T)0.25 : (T)0;
  }
}

__device__ __forceinline__ long long max3s2_out(long long n) { return (n + 2 - 3) / 2 + 1; }

// 3×3 max pool, stride 2, padding 1; the first maximum in scan order (NaN wins), its in-plane
// index into argmax when argmax is not null.
template <class T>
__device__ void max_pool3s2_forward(const T* x, long long planes, long long h, long long w, T* y, unsigned* argmax) {
  const long long ho = max3s2_out(h), wo = max3s2_out(w);
  DN_GRID_STRIDE(i, planes * ho * wo) {
    const long long pl = i / (ho * wo), oy = (i % (ho * wo)) / wo, ox = i % wo;
    const T* xp = x + pl * h * w;
    const long long y0 = oy > 0 ? 2 * oy - 1 : 0, y1 = 2 * oy + 2 < h ? 2 * oy + 2 : h;
    const long long x0 = ox > 0 ? 2 * ox - 1 : 0, x1 = 2 * ox + 2 < w ? 2 * ox + 2 : w;
    long long best = y0 * w + x0;
    T bv = xp[best];
    for (long long iy = y0; iy < y1; ++iy)
      for (long long ix = x0; ix < x1; ++ix) {
        const T v = xp[iy * w + ix];
        if (v > bv || v != v) {
          bv = v;
          best = iy * w + ix;
        }
      }
    y[i] = bv;
    if (argmax) argmax[i] = (unsigned)best;
  }
}

// y = max_pool3s2_forward of bn_forward(x) without the normalized copy or an argmax (the stem
// at inference); x [C, N, h, w]. The maxima of the normalized values, NaN winning.
template <class T>
__device__ void bn_max_pool3s2_forward(const T* x, long long channels, long long n, long long h, long long w, const T* gamma, const T* beta, const T* mean, const T* invstd,
                                       long long relu, T* y) {
  const long long ho = max3s2_out(h), wo = max3s2_out(w);
  DN_GRID_STRIDE(i, channels * n * ho * wo) {
    const long long pl = i / (ho * wo), c = pl / n, oy = (i % (ho * wo)) / wo, ox = i % wo;
    const T* xp = x + pl * h * w;
    const T m = mean[c], is = invstd[c], g = gamma[c], b = beta[c];
    const long long y0 = oy > 0 ? 2 * oy - 1 : 0, y1 = 2 * oy + 2 < h ? 2 * oy + 2 : h;
    const long long x0 = ox > 0 ? 2 * ox - 1 : 0, x1 = 2 * ox + 2 < w ? 2 * ox + 2 : w;
    T bv = bn_value(xp[y0 * w + x0], m, is, g, b, relu);
    for (long long iy = y0; iy < y1; ++iy)
      for (long long ix = x0; ix < x1; ++ix) {
        const T v = bn_value(xp[iy * w + ix], m, is, g, b, relu);
        if (v > bv || v != v) bv = v;
      }
    y[i] = bv;
  }
}

// The scatter onto the saved maxima, as a gather: each input position sums the d(y) of the
// (at most 2×2) windows covering it that chose it, in the windows' scan order.
template <class T>
__device__ void max_pool3s2_backward(const T* dy, const unsigned* argmax, long long planes, long long h, long long w, T* dx) {
  const long long ho = max3s2_out(h), wo = max3s2_out(w);
  DN_GRID_STRIDE(i, planes * h * w) {
    const long long pl = i / (h * w), pos = i % (h * w), iy = pos / w, ix = pos % w;
    // Window oy covers rows 2·oy−1 .. 2·oy+1.
    const long long oy0 = iy > 0 ? iy / 2 : 0, oy1 = (iy + 1) / 2 < ho - 1 ? (iy + 1) / 2 : ho - 1;
    const long long ox0 = ix > 0 ? ix / 2 : 0, ox1 = (ix + 1) / 2 < wo - 1 ? (ix + 1) / 2 : wo - 1;
    T acc = (T)0;
    for (long long oy = oy0; oy <= oy1; ++oy)
      for (long long ox = ox0; ox <= ox1; ++ox) {
        const long long o = pl * ho * wo + oy * wo + ox;
        if ((long long)argmax[o] == pos) acc += dy[o];
      }
    dx[i] = acc;
  }
}

// One block per plane: the mean in f64.
template <class T>
__device__ void global_avg_forward(const T* x, long long planes, long long hw, T* out) {
  DN_SHARED(double, s, DN_BLOCK);
  for (long long pl = blockIdx.x; pl < planes; pl += gridDim.x) {
    double acc = 0;
    for (long long i = threadIdx.x; i < hw; i += DN_BLOCK) acc += (double)x[pl * hw + i];
    const double total = block_sum(acc, s);
    if (threadIdx.x == 0) out[pl] = (T)(total / (double)hw);
  }
}

template <class T>
__device__ void global_avg_backward(const T* dpooled, long long planes, long long hw, T* dx) {
  const T inv = (T)(1.0 / (double)hw);
  DN_GRID_STRIDE(i, planes * hw) { dx[i] = dpooled[i / hw] * inv; }
}

// ---- classifier, loss ----------------------------------------------------------------------

// logits[i, j] = bias[j] (the GEMM then accumulates onto it).
template <class T>
__device__ void bias_rows(const T* bias, long long n, long long k, T* logits) {
  DN_GRID_STRIDE(i, n * k) { logits[i] = bias[i % k]; }
}

// dbias[o] += Σ_i dlogits[i, o], summed in f64 in row order.
template <class T>
__device__ void bias_grad(const T* dlogits, long long n, long long k, T* dbias) {
  DN_GRID_STRIDE(o, k) {
    double s = 0;
    for (long long i = 0; i < n; ++i) s += (double)dlogits[i * k + o];
    dbias[o] += (T)s;
  }
}

// One thread per row: the row's loss (f64) and whether its top-1 is the label; dlogits of the
// mean loss. The same sequence of operations as the CPU backend's loop.
template <class T>
__device__ void softmax_xent(const T* logits, const long long* labels, long long n, long long k, T* dlogits, double* row_loss, long long* row_correct) {
  DN_GRID_STRIDE(r, n) {
    const T* row = logits + r * k;
    const long long label = labels[r];
    long long arg = 0;
    for (long long j = 1; j < k; ++j)
      if (row[j] > row[arg]) arg = j;
    const double mx = (double)row[arg];
    double sum = 0;
    for (long long j = 0; j < k; ++j) sum += exp((double)row[j] - mx);
    const double lse = mx + log(sum);
    row_loss[r] = lse - (double)row[label];
    row_correct[r] = arg == label;
    for (long long j = 0; j < k; ++j) {
      const double pj = exp((double)row[j] - lse);
      dlogits[r * k + j] = (T)((j == label ? pj - 1.0 : pj) / (double)n);
    }
  }
}

// ---- dropout, optimizer, numerics guard ----------------------------------------------------

// y ← y·keep/(1−p), keep = densenet_core::dropout_keep(seed, layer, p)(i).
template <class T>
__device__ void dropout_hashed(T* y, long long n, double p, unsigned long long base, unsigned long long threshold) {
  const T scale = (T)(1.0 / (1.0 - p));
  DN_GRID_STRIDE(i, n) { y[i] = (splitmix64(base + (unsigned long long)i) >> 11) >= threshold ? y[i] * scale : (T)0; }
}

template <class T>
__device__ void dropout_mask(T* y, const T* mask, long long n, double p) {
  const T scale = (T)(1.0 / (1.0 - p));
  DN_GRID_STRIDE(i, n) { y[i] = y[i] * mask[i] * scale; }
}

// PyTorch's SGD (dampening 0), operation for operation as the CPU backend: g = grad (+ wd·p);
// buf = g (first step) or m·buf + g; d = g + m·buf (Nesterov) or buf; p −= lr·d.
// buf is null without momentum.
template <class T>
__device__ inline void sgd_element(T* param, const T* grad, T* buf, long long i, T lr, double weight_decay, T wd, T m, long long initialized, long long nesterov) {
  T d = weight_decay != 0.0 ? grad[i] + wd * param[i] : grad[i];
  if (buf) {
    const T b = initialized ? buf[i] * m + d : d;
    buf[i] = b;
    d = nesterov ? d + m * b : b;
  }
  param[i] -= lr * d;
}

template <class T>
__device__ void sgd_step(T* param, const T* grad, T* buf, long long n, double lr, double weight_decay, double momentum, long long initialized, long long nesterov) {
  DN_GRID_STRIDE(i, n) { sgd_element(param, grad, buf, i, (T)lr, weight_decay, (T)weight_decay, (T)momentum, initialized, nesterov); }
}

// A piece of one tensor's SGD step in a multi-tensor launch: pointers already offset to the
// piece, its length and its tensor's hyper-parameters. Nine 8-byte fields, written by the Rust
// side (backend.rs, SGD_CHUNK_WORDS) as 64-bit words in this order.
template <class T>
struct SgdChunk {
  T* param;
  const T* grad;
  T* buf;
  long long n;
  double lr, weight_decay, momentum;
  long long initialized, nesterov;
};

// Every tensor's step in one launch: block b takes chunks b, b + gridDim.x, ...; the same
// per-element operations as sgd_step, so the same bits.
template <class T>
__device__ void sgd_step_chunks(const SgdChunk<T>* chunks, long long count) {
  for (long long c = blockIdx.x; c < count; c += gridDim.x) {
    const SgdChunk<T> e = chunks[c];
    for (long long i = threadIdx.x; i < e.n; i += blockDim.x) {
      sgd_element(e.param, e.grad, e.buf, i, (T)e.lr, e.weight_decay, (T)e.weight_decay, (T)e.momentum, e.initialized, e.nesterov);
    }
  }
}

// The smallest of each thread's `best` over the block (every thread gets it); `s` is the block's
// shared scratch of DN_BLOCK values.
__device__ inline long long block_min(long long best, long long* s) {
  s[threadIdx.x] = best;
  __syncthreads();
  for (unsigned stride = DN_BLOCK / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride && s[threadIdx.x + stride] < s[threadIdx.x]) s[threadIdx.x] = s[threadIdx.x + stride];
    __syncthreads();
  }
  const long long m = s[0];
  __syncthreads();  // s is reused by the caller's next round
  return m;
}

// v − v is NaN exactly for NaN and ±Inf.
template <class T>
__device__ inline bool non_finite(T v) {
  return !(v - v == v - v);
}

// The smallest index of a NaN/±Inf element per block (n when none) into block_min[blockIdx.x].
template <class T>
__device__ void first_non_finite(const T* x, long long n, long long* block_mins) {
  DN_SHARED(long long, s, DN_BLOCK);
  long long best = n;
  DN_GRID_STRIDE(i, n) {
    if (non_finite(x[i]) && i < best) best = i;
  }
  const long long m = block_min(best, s);
  if (threadIdx.x == 0) block_mins[blockIdx.x] = m;
}

// A piece of one tensor in a multi-tensor finite check: x offset to the piece, its length and
// where it starts in its tensor (three 64-bit words, FINITE_CHUNK_WORDS on the Rust side).
template <class T>
struct FiniteChunk {
  const T* x;
  long long n;
  long long base;
};

// Every tensor's check in one launch: chunk_min[c] = the index in its tensor of chunk c's first
// NaN/±Inf, the chunk's end (base + n) when it has none. Block b takes chunks b, b + gridDim.x, ... (the loop's trip
// count is the same for every thread of a block, so its barriers are reached by all).
template <class T>
__device__ void first_non_finite_chunks(const FiniteChunk<T>* chunks, long long count, long long* chunk_min) {
  DN_SHARED(long long, s, DN_BLOCK);
  for (long long c = blockIdx.x; c < count; c += gridDim.x) {
    const FiniteChunk<T> e = chunks[c];
    long long best = e.n;
    for (long long i = threadIdx.x; i < e.n; i += blockDim.x) {
      if (non_finite(e.x[i]) && i < best) best = i;
    }
    const long long m = block_min(best, s);
    if (threadIdx.x == 0) chunk_min[c] = e.base + m;
  }
}

}  // namespace dn
