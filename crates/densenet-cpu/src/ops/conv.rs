//! 2-D convolution (no bias) on channel-major tensors: x [Cin, N, H, W] → y [Cout, N, Ho, Wo].
//!
//! A 1x1 stride-1 conv is one GEMM over the (contiguous) input prefix; any other conv lowers
//! a chunk of samples to columns (im2col) and multiplies. Forward, weight gradient and input
//! gradient sit side by side.

use super::gemm::{matmul, matmul_serial, matmul_serial_raw, MatRef};

use densenet_core::geometry::ConvGeom;
use densenet_core::Float;
use rayon::prelude::*;
use std::sync::Mutex;

/// Largest im2col scratch (elements) a chunk of samples may use.
const COLS_BUDGET: usize = 1 << 18;

/// Fewest chunks a batch is cut into (when it has that many samples), so that the workers
/// that take whole chunks stay busy to the end.
const MIN_CHUNKS: usize = 8;

/// Samples per im2col chunk: within the scratch budget, at least [`MIN_CHUNKS`] chunks, and
/// the batch cut evenly (64 samples at 9 per chunk would leave a last chunk of 1 and one
/// worker idle; 8 × 8 does not). A function of the shape only, never of the thread count.
fn chunk(g: &ConvGeom) -> usize {
    let per_sample = g.k() * g.ho * g.wo;
    let widest = (COLS_BUDGET / per_sample.max(1)).clamp(1, g.n.max(1));
    let count = g.n.div_ceil(widest).max(MIN_CHUNKS.min(g.n)).max(1);
    g.n.div_ceil(count).max(1)
}

/// Scratch elements the non-pointwise paths need.
pub fn scratch_len(g: &ConvGeom) -> usize {
    if g.is_pointwise() {
        0
    } else {
        g.k() * chunk(g) * g.ho * g.wo
    }
}

/// Lowers samples [n0, n1) of x to cols [Cin*kh*kw, (n1-n0)*Ho*Wo], its rows spread over the
/// pool.
fn im2col<T: Float>(x: &[T], g: &ConvGeom, n0: usize, n1: usize, cols: &mut [T]) {
    let _p = super::profile::scope("conv.im2col");
    let pc = (n1 - n0) * g.ho * g.wo;
    cols[..g.k() * pc].par_chunks_mut(pc).enumerate().for_each(|(row, out)| im2col_row(x, g, n0, n1, row, out));
}

/// [`im2col`] on the calling thread (for callers that spread whole chunks over the pool).
fn im2col_serial<T: Float>(x: &[T], g: &ConvGeom, n0: usize, n1: usize, cols: &mut [T]) {
    let _p = super::profile::scope("conv.im2col");
    let pc = (n1 - n0) * g.ho * g.wo;
    cols[..g.k() * pc].chunks_mut(pc).enumerate().for_each(|(row, out)| im2col_row(x, g, n0, n1, row, out));
}

/// The output columns ox whose input column ox·stride + kx − pad lies inside the image (the
/// others read padding) for kernel column `kx`.
pub(crate) fn tap_columns(g: &ConvGeom, kx: usize) -> std::ops::Range<usize> {
    let lo = g.pad.saturating_sub(kx).div_ceil(g.stride).min(g.wo);
    let hi = if g.w + g.pad > kx { ((g.w + g.pad - kx - 1) / g.stride + 1).min(g.wo) } else { 0 }.max(lo);
    lo..hi
}

/// Row `row` (= (ci, ky, kx)) of the columns of samples [n0, n1).
fn im2col_row<T: Float>(x: &[T], g: &ConvGeom, n0: usize, n1: usize, row: usize, out: &mut [T]) {
    let kk = g.kernel * g.kernel;
    let howo = g.ho * g.wo;
    let ci = row / kk;
    let ky = (row % kk) / g.kernel;
    let kx = row % g.kernel;
    let std::ops::Range { start: ox_lo, end: ox_hi } = tap_columns(g, kx);
    for (s, sample) in (n0..n1).enumerate() {
        let plane = &x[(ci * g.n + sample) * g.h * g.w..][..g.h * g.w];
        let dst = &mut out[s * howo..(s + 1) * howo];
        for oy in 0..g.ho {
            let iy = (oy * g.stride + ky) as isize - g.pad as isize;
            let drow = &mut dst[oy * g.wo..(oy + 1) * g.wo];
            if iy < 0 || iy >= g.h as isize {
                drow.fill(T::ZERO);
                continue;
            }
            let srow = &plane[iy as usize * g.w..][..g.w];
            drow[..ox_lo].fill(T::ZERO);
            drow[ox_hi..].fill(T::ZERO);
            let ix0 = ox_lo * g.stride + kx - g.pad;
            if g.stride == 1 {
                drow[ox_lo..ox_hi].copy_from_slice(&srow[ix0..ix0 + (ox_hi - ox_lo)]);
            } else {
                for (i, d) in drow[ox_lo..ox_hi].iter_mut().enumerate() {
                    *d = srow[ix0 + i * g.stride];
                }
            }
        }
    }
}

/// Adds cols [Cin*kh*kw, (n1-n0)*Ho*Wo] back into dx at the positions im2col read them from.
fn col2im_add<T: Float>(cols: &[T], g: &ConvGeom, n0: usize, n1: usize, dx: &mut [T]) {
    let kk = g.kernel * g.kernel;
    let howo = g.ho * g.wo;
    let pc = (n1 - n0) * howo;
    let plane_len = g.n * g.h * g.w;
    dx[..g.cin * plane_len].par_chunks_mut(plane_len).enumerate().for_each(|(ci, dplane)| {
        for r in 0..kk {
            let ky = r / g.kernel;
            let kx = r % g.kernel;
            let src_row = &cols[(ci * kk + r) * pc..][..pc];
            for (s, sample) in (n0..n1).enumerate() {
                let dsample = &mut dplane[sample * g.h * g.w..][..g.h * g.w];
                let src = &src_row[s * howo..(s + 1) * howo];
                for oy in 0..g.ho {
                    let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                    if iy < 0 || iy >= g.h as isize {
                        continue;
                    }
                    let drow = &mut dsample[iy as usize * g.w..][..g.w];
                    for ox in 0..g.wo {
                        let ix = (ox * g.stride + kx) as isize - g.pad as isize;
                        if ix >= 0 && ix < g.w as isize {
                            drow[ix as usize] += src[oy * g.wo + ox];
                        }
                    }
                }
            }
        }
    });
}

fn chunks(g: &ConvGeom) -> impl Iterator<Item = (usize, usize)> {
    let c = chunk(g);
    let n = g.n;
    (0..n).step_by(c).map(move |n0| (n0, (n0 + c).min(n)))
}

/// y[Cout, N*Ho*Wo] = conv(x, weight). `weight` is [Cout, Cin, kh, kw].
pub fn forward<T: Float>(x: &[T], weight: &[T], g: &ConvGeom, y: &mut [T], cols: &ColsPool<T>) {
    forward_into(x, weight, g, y, false, cols)
}

/// y (+)= conv(x, weight).
///
/// One chunk of samples: its lowering and its GEMM are each spread over the pool. Several
/// chunks: each worker lowers and multiplies whole chunks into their own output columns (the
/// small GEMMs of a dense layer's 3×3 conv, Cout = the growth rate, do not split well, and the
/// columns a worker wrote stay in its cache). Every output element is the same serial sum
/// either way, so the bits do not depend on the thread count.
pub fn forward_into<T: Float>(x: &[T], weight: &[T], g: &ConvGeom, y: &mut [T], accumulate: bool, cols: &ColsPool<T>) {
    let _p = super::profile::scope(if g.is_pointwise() { "conv1x1.forward" } else { "convkxk.forward" });
    let pout = g.out_plane();
    if g.is_pointwise() {
        matmul(g.cout, pout, g.cin, y, pout, accumulate, MatRef::rows(weight, g.cin), MatRef::rows(x, pout));
        return;
    }
    let howo = g.ho * g.wo;
    let per = chunk(g);
    if g.n == 0 {
        return;
    }
    if per >= g.n {
        let mut c = cols.take();
        ensure_len(&mut c.0, scratch_len(g));
        im2col(x, g, 0, g.n, &mut c.0);
        matmul(g.cout, pout, g.k(), y, pout, accumulate, MatRef::rows(weight, g.k()), MatRef::rows(&c.0[..], pout));
        return;
    }
    assert!(y.len() >= g.cout * pout, "conv output too small");
    let out = SharedOut(y.as_mut_ptr());
    (0..g.n.div_ceil(per)).into_par_iter().for_each_init(
        || cols.take(),
        |c, i| {
            let (n0, n1) = (i * per, ((i + 1) * per).min(g.n));
            ensure_len(&mut c.0, scratch_len(g));
            im2col_serial(x, g, n0, n1, &mut c.0);
            let pc = (n1 - n0) * howo;
            // SAFETY: y holds Cout rows of `pout`; this chunk writes only its columns
            // [n0·HoWo, n1·HoWo) of each row, which no other chunk touches.
            unsafe { matmul_serial_raw(g.cout, pc, g.k(), out.at(n0 * howo), pout, accumulate, MatRef::rows(weight, g.k()), MatRef::rows(&c.0[..], pc)) };
        },
    );
}

/// The output pointer the chunks of [`forward_into`] share (each writes its own columns).
#[derive(Clone, Copy)]
struct SharedOut<T>(*mut T);
// SAFETY: only used for the disjoint writes described at its use.
unsafe impl<T> Send for SharedOut<T> {}
unsafe impl<T> Sync for SharedOut<T> {}

impl<T> SharedOut<T> {
    /// The pointer `offset` elements in (a method, so closures capture the Sync wrapper).
    fn at(self, offset: usize) -> *mut T {
        // SAFETY: callers pass offsets inside the allocation the pointer came from.
        unsafe { self.0.add(offset) }
    }
}

/// dweight += dy × lowered(x)ᵀ.
///
/// Computed as its transpose, lowered(x) × dyᵀ → [Cin·k², Cout], then added transposed: the
/// GEMM's long reduction (N·Ho·Wo) then feeds a tall output that the kernels tile well (6–10×
/// faster here than the [Cout, Cin·k²] form, whose Cout is as small as the growth rate).
/// The reduction is cut into segments whose boundaries depend on the shape only; segments run in
/// parallel into their own partial sums, added in segment order: the same bits for any thread count.
pub fn backward_weight<T: Float>(x: &[T], dy: &[T], g: &ConvGeom, dweight: &mut [T], ws: &WgradScratch<T>) {
    let _p = super::profile::scope(if g.is_pointwise() { "conv1x1.backward_weight" } else { "convkxk.backward_weight" });
    let pout = g.out_plane();
    let kdim = g.k();
    let howo = g.ho * g.wo;
    let out_len = kdim * g.cout;
    // Segments: ranges of samples (lowered in chunks) or, for 1×1 convs, of positions.
    let segments: Vec<(usize, usize)> = if g.is_pointwise() {
        let seg = WGRAD_SEGMENT.max(1).min(pout);
        (0..pout).step_by(seg).map(|s| (s, (s + seg).min(pout))).collect()
    } else {
        chunks(g).collect()
    };
    let mut parts = ws.parts.lock().unwrap_or_else(|p| p.into_inner());
    ensure_len(&mut parts, segments.len() * out_len);
    let parts = &mut parts[..segments.len() * out_len];
    parts.par_chunks_mut(out_len).zip(segments.par_iter()).for_each_init(
        || ws.cols.take(),
        |cols, (part, &(a, b))| {
            if g.is_pointwise() {
                let len = b - a;
                matmul_serial(g.cin, g.cout, len, part, g.cout, false, MatRef::strided(&x[a..], pout), MatRef::strided_t(&dy[a..], pout));
            } else {
                ensure_len(&mut cols.0, scratch_len(g));
                let pc = (b - a) * howo;
                im2col_serial(x, g, a, b, &mut cols.0);
                matmul_serial(kdim, g.cout, pc, part, g.cout, false, MatRef::rows(&cols.0[..], pc), MatRef::strided_t(&dy[a * howo..], pout));
            }
        },
    );
    for part in parts.chunks(out_len) {
        for co in 0..g.cout {
            for kk in 0..kdim {
                dweight[co * kdim + kk] += part[kk * g.cout + co];
            }
        }
    }
}

/// What [`backward_weight`] reuses across calls: each worker's im2col columns and the
/// segments' partial sums.
#[derive(Default)]
pub struct WgradScratch<T> {
    cols: ColsPool<T>,
    parts: Mutex<Vec<T>>,
}

impl<T> WgradScratch<T> {
    pub fn held_bytes(&self) -> usize {
        self.cols.held_bytes() + self.parts.lock().unwrap_or_else(|p| p.into_inner()).capacity() * std::mem::size_of::<T>()
    }
}

/// im2col column buffers reused across calls: a free list, one buffer per worker in use.
pub struct ColsPool<T>(Mutex<Vec<Vec<T>>>);

impl<T> Default for ColsPool<T> {
    fn default() -> Self {
        ColsPool(Mutex::new(Vec::new()))
    }
}

impl<T> ColsPool<T> {
    /// A buffer for one worker, back on the list when the guard drops.
    fn take(&self) -> ColsGuard<'_, T> {
        let v = self.0.lock().unwrap_or_else(|p| p.into_inner()).pop().unwrap_or_default();
        ColsGuard(v, &self.0)
    }

    pub fn held_bytes(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|c| c.capacity()).sum::<usize>() * std::mem::size_of::<T>()
    }
}

/// A worker's columns, back to the free list when the worker is done.
struct ColsGuard<'a, T>(Vec<T>, &'a Mutex<Vec<Vec<T>>>);

impl<T> Drop for ColsGuard<'_, T> {
    fn drop(&mut self) {
        self.1.lock().unwrap_or_else(|p| p.into_inner()).push(std::mem::take(&mut self.0));
    }
}

/// Positions per segment of a 1×1 weight-gradient reduction.
const WGRAD_SEGMENT: usize = 8192;

/// dx (+)= conv input gradient of dy.
///
/// Stride 1: a convolution of dy with the flipped, transposed kernel (padding k−1−pad), which
/// lowers dy's Cout channels instead of expanding Cin·k² gradient columns. Otherwise:
/// weightᵀ × dy folded back to image positions (col2im).
pub fn backward_input<T: Float>(dy: &[T], weight: &[T], g: &ConvGeom, dx: &mut [T], accumulate: bool, cols: &ColsPool<T>) {
    let pout = g.out_plane();
    let _p = super::profile::scope(if g.is_pointwise() { "conv1x1.backward_input" } else { "convkxk.backward_input" });
    if g.is_pointwise() {
        matmul(g.cin, pout, g.cout, dx, pout, accumulate, MatRef::rows_t(weight, g.cin), MatRef::rows(dy, pout));
        return;
    }
    if g.stride == 1 && g.pad < g.kernel {
        let flipped = flip_transpose(weight, g);
        let gt = ConvGeom::new(g.cout, g.cin, g.kernel, 1, g.kernel - 1 - g.pad, g.n, g.ho, g.wo);
        debug_assert_eq!((gt.ho, gt.wo), (g.h, g.w));
        forward_into(dy, &flipped, &gt, dx, accumulate, cols);
        return;
    }
    if !accumulate {
        dx[..g.cin * g.in_plane()].fill(T::ZERO);
    }
    let mut scratch = cols.take();
    ensure_len(&mut scratch.0, scratch_len(g));
    let howo = g.ho * g.wo;
    for (n0, n1) in chunks(g) {
        let pc = (n1 - n0) * howo;
        matmul(g.k(), pc, g.cout, &mut scratch.0[..], pc, false, MatRef::rows_t(weight, g.k()), MatRef::strided(&dy[n0 * howo..], pout));
        col2im_add(&scratch.0[..], g, n0, n1, dx);
    }
}

/// W'[ci, co, ky, kx] = W[co, ci, kh−1−ky, kw−1−kx].
pub fn flip_transpose<T: Float>(weight: &[T], g: &ConvGeom) -> Vec<T> {
    let k = g.kernel;
    let mut out = vec![T::ZERO; weight.len()];
    for co in 0..g.cout {
        for ci in 0..g.cin {
            for ky in 0..k {
                for kx in 0..k {
                    out[((ci * g.cout + co) * k + ky) * k + kx] = weight[((co * g.cin + ci) * k + (k - 1 - ky)) * k + (k - 1 - kx)];
                }
            }
        }
    }
    out
}

fn ensure_len<T: Float>(buf: &mut Vec<T>, len: usize) {
    if buf.len() < len {
        buf.resize(len, T::ZERO);
    }
}
