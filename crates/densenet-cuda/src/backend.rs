//! `Gpu<T, D>`: the [`Backend`] over a [`Device`]: buffers are device allocations, views are
//! (address, length) pairs, every op is one or a few launches of our kernels (kernels/densenet.cu)
//! or a GEMM. The same code drives the CUDA device and the host emulator of the kernels.
//!
//! Most `Backend` ops cannot return an error, while every device call can fail (a launch refused,
//! a kernel fault surfacing at the next synchronization, a scratch allocation): the first failure
//! is kept, the device work after it skipped, and the next fallible call (an allocation, an
//! upload, a loss, [`Backend::take_error`]) returns it, naming the op that failed.

use crate::device::{Addr, Device, Elem, Gemm, Word};
use densenet_core::backend::{splitmix64, BN_EPS, BN_MOMENTUM};
use densenet_core::geometry::ConvGeom;
use densenet_core::{Backend, BatchStats, BnArgs, Error, Float, GradOut, LossOut, MaskSource, Result, SgdConfig, SgdUpdate};
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::Mutex;

mod multi_tensor;

/// Threads per block of every kernel (DN_BLOCK in densenet.cuh).
pub const BLOCK: u32 = 256;
/// Most im2col elements one conv chunk may hold on a GPU (64 Mi elements: 256 MiB in f32,
/// 512 MiB in f64).
pub const COLS_BUDGET: usize = 1 << 26;
/// Most blocks an element-wise (grid-stride) launch uses.
const MAX_GRID: usize = 65_535;

/// An owned device buffer of `len` elements.
pub struct Buf<D: Device, E: Elem> {
    mem: D::Mem<E>,
    len: usize,
}

impl<D: Device, E: Elem> Buf<D, E> {
    pub fn addr(&self) -> Addr {
        D::addr(&self.mem)
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A read-only view: a device address and a length.
pub struct Src<'a, T> {
    pub addr: Addr,
    pub len: usize,
    _p: PhantomData<&'a T>,
}
impl<T> Clone for Src<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Src<'_, T> {}

/// A writable view: a device address and a length (exclusive, as `&mut [T]`).
pub struct Dst<'a, T> {
    pub addr: Addr,
    pub len: usize,
    _p: PhantomData<&'a mut T>,
}

fn src<'a, T>(addr: Addr, len: usize) -> Src<'a, T> {
    Src { addr, len, _p: PhantomData }
}
fn dst<'a, T>(addr: Addr, len: usize) -> Dst<'a, T> {
    Dst { addr, len, _p: PhantomData }
}

/// The backend for element type `T` on device `D`.
pub struct Gpu<T: Elem, D: Device> {
    dev: D,
    /// im2col / col2im columns, reused across calls.
    cols: Mutex<Option<Buf<D, T>>>,
    /// Largest column buffer (elements) one conv chunk may use.
    cols_budget: usize,
    /// The first failure of an op that cannot return one, until a fallible call reports it.
    error: Mutex<Option<Error>>,
    _t: PhantomData<T>,
}

/// Kernel parameter words.
fn w_i(v: usize) -> Word {
    v as i64 as u64
}
fn w_f(v: f64) -> Word {
    v.to_bits()
}

/// Samples per conv chunk: as many as fit the column budget (at least one).
fn chunk(g: &ConvGeom, cols_budget: usize) -> usize {
    (cols_budget / (g.k() * g.ho * g.wo).max(1)).clamp(1, g.n.max(1))
}

/// Elements of the column buffer the convs among `convs` that need one (all but the 1×1s) grow
/// it to: the largest chunk's, at most `cols_budget` unless one sample alone needs more.
pub fn cols_elements(convs: &[ConvGeom], cols_budget: usize) -> usize {
    convs.iter().filter(|g| !g.is_pointwise()).map(|g| g.k() * chunk(g, cols_budget) * g.ho * g.wo).max().unwrap_or(0)
}

/// An allocation failure names what it was for.
fn named(e: Error, what: &str) -> Error {
    match e {
        Error::Memory(m) => Error::Memory(format!("{what}: {m}")),
        other => other,
    }
}

/// Blocks the BN statistics aim for (several per SM on the largest GPUs: 132 SMs on an H100).
const BN_TARGET_BLOCKS: usize = 1024;
/// Fewest values one block of the split BN statistics sums (below it, launches cost more than
/// they spread).
const BN_MIN_SEGMENT: usize = 16_384;

/// Segments per channel for the BN statistics: 1 (one block per channel, `bn_stats`) when there
/// are channels enough to fill the GPU or too few values to split, else enough to reach
/// [`BN_TARGET_BLOCKS`] blocks with segments of at least [`BN_MIN_SEGMENT`] values.
pub(crate) fn bn_segments(channels: usize, p: usize) -> usize {
    if channels == 0 {
        return 1;
    }
    BN_TARGET_BLOCKS.div_ceil(channels).min(p / BN_MIN_SEGMENT).max(1)
}

fn grid_for(n: usize) -> u32 {
    n.div_ceil(BLOCK as usize).clamp(1, MAX_GRID) as u32
}

impl<T: Float + Elem, D: Device> Gpu<T, D> {
    /// `cols_budget`: the most im2col elements one conv chunk may hold.
    pub fn with_device(dev: D, cols_budget: usize) -> Self {
        Gpu { dev, cols: Mutex::new(None), cols_budget: cols_budget.max(1), error: Mutex::new(None), _t: PhantomData }
    }

    /// The most im2col elements one conv chunk may hold.
    pub fn cols_budget(&self) -> usize {
        self.cols_budget
    }

    fn kept_error(&self) -> std::sync::MutexGuard<'_, Option<Error>> {
        self.error.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn failed(&self) -> bool {
        self.kept_error().is_some()
    }

    /// Keeps `e` unless an earlier failure is kept already (the first one names the cause).
    fn fail(&self, e: Error) {
        self.kept_error().get_or_insert(e);
    }

    /// The device call of an op that cannot return its failure: skipped after a failure (its
    /// inputs are garbage then), its own failure kept.
    fn queue(&self, call: impl FnOnce() -> Result<()>) {
        if !self.failed() {
            if let Err(e) = call() {
                self.fail(e);
            }
        }
    }

    /// A host copy for an op that cannot fail: zeros after a failure (never trusted: the kept
    /// error is reported first).
    fn download_or_keep<E: Elem>(&self, addr: Addr, len: usize) -> Vec<E> {
        if len == 0 || self.failed() {
            return vec![E::default(); len];
        }
        self.dev.download(addr, len).unwrap_or_else(|e| {
            self.fail(e);
            vec![E::default(); len]
        })
    }

    /// Scratch of an op that cannot fail; None (the failure kept, naming `what`) when it cannot be had.
    fn scratch<E: Elem>(&self, len: usize, what: &str) -> Option<Buf<D, E>> {
        if self.failed() {
            return None;
        }
        self.alloc_buf(len).map_err(|e| self.fail(named(e, what))).ok()
    }

    pub fn device(&self) -> &D {
        &self.dev
    }

    /// The pooling indices of an argmax buffer, on the host.
    pub fn download_idx(&self, idx: &Buf<D, u32>) -> Vec<u32> {
        self.download_or_keep(idx.addr(), idx.len)
    }

    fn size(&self) -> usize {
        std::mem::size_of::<T>()
    }

    fn kernel(&self, stem: &str) -> String {
        format!("{stem}_{}", T::NAME)
    }

    /// An element-wise kernel over `n` elements (nothing to do when n = 0).
    fn elementwise(&self, stem: &str, n: usize, params: &[Word]) {
        if n > 0 {
            self.queue(|| self.dev.launch(&self.kernel(stem), grid_for(n), BLOCK, params));
        }
    }

    /// A kernel with one block per row/channel (grid-stride over `rows`).
    fn per_row(&self, stem: &str, rows: usize, params: &[Word]) {
        if rows > 0 {
            self.queue(|| self.dev.launch(&self.kernel(stem), rows.min(MAX_GRID) as u32, BLOCK, params));
        }
    }

    fn gemm(&self, g: Gemm) {
        if g.m > 0 && g.n > 0 {
            if g.k == 0 {
                if !g.accumulate {
                    for r in 0..g.m {
                        self.queue(|| self.dev.memset_zero(g.c + (r * g.ldc * self.size()) as u64, g.n * self.size()));
                    }
                }
                return;
            }
            self.queue(|| self.dev.gemm(&g, T::NAME == "f64"));
        }
    }

    /// A fresh buffer; a kept failure is reported first.
    fn alloc_buf<E: Elem>(&self, len: usize) -> Result<Buf<D, E>> {
        self.take_kept()?;
        Ok(Buf { mem: self.dev.alloc::<E>(len)?, len })
    }

    /// The kept failure (cleared), or Ok.
    fn take_kept(&self) -> Result<()> {
        self.kept_error().take().map_or(Ok(()), Err)
    }

    fn chunk(&self, g: &ConvGeom) -> usize {
        chunk(g, self.cols_budget)
    }

    /// The column buffer for `len` elements (grown when too small); `f` is skipped when it
    /// cannot be had (the failure kept).
    fn with_cols(&self, len: usize, f: impl FnOnce(Addr)) {
        let mut cols = self.cols.lock().unwrap_or_else(|p| p.into_inner());
        if cols.as_ref().is_none_or(|c| c.len < len) {
            *cols = None;
            *cols = self.scratch::<T>(len, "conv columns");
        }
        if let Some(c) = cols.as_ref() {
            f(c.addr());
        }
    }

    /// A launch of im2col or col2im: blocks of `TILE` consecutive columns of `rows` rows of
    /// `per_row` columns, whose in-row index math is 32-bit (see kernels/densenet.cuh).
    fn tiled(&self, stem: &str, rows: usize, per_row: usize, params: &[Word]) {
        const TILE: usize = 1024;
        if rows == 0 || per_row == 0 {
            return;
        }
        if per_row > i32::MAX as usize {
            // Cannot happen with the column budget (it chunks the samples): refused, not wrapped.
            return self.fail(Error::InvalidArg(format!("{stem}: {per_row} columns per row do not fit the kernel's 32-bit index")));
        }
        let blocks = (rows * per_row.div_ceil(TILE)).min(MAX_GRID) as u32;
        self.queue(|| self.dev.launch(&self.kernel(stem), blocks, BLOCK, params));
    }

    fn im2col(&self, x: Addr, g: &ConvGeom, n0: usize, n1: usize, cols: Addr) {
        let p = [x, w_i(g.cin), w_i(g.n), w_i(g.h), w_i(g.w), w_i(g.kernel), w_i(g.stride), w_i(g.pad), w_i(g.ho), w_i(g.wo), w_i(n0), w_i(n1), cols];
        self.tiled("im2col", g.k(), (n1 - n0) * g.ho * g.wo, &p);
    }

    fn col2im(&self, cols: Addr, g: &ConvGeom, n0: usize, n1: usize, dx: Addr) {
        let p = [cols, w_i(g.cin), w_i(g.n), w_i(g.h), w_i(g.w), w_i(g.kernel), w_i(g.stride), w_i(g.pad), w_i(g.ho), w_i(g.wo), w_i(n0), w_i(n1), dx];
        self.tiled("col2im", g.cin * (n1 - n0), g.h * g.w, &p);
    }

    fn bn_params(x: Addr, channels: usize, p: usize, a: &BnArgs<Src<'_, T>>) -> [Word; 8] {
        [x, w_i(channels), w_i(p), a.gamma.addr, a.beta.addr, a.mean.addr, a.invstd.addr, a.relu as u64]
    }

    /// The parameters of the fused BN-pool kernels: x, channels, n, h, w, the BN arguments, y.
    fn pool_bn_params(x: Addr, channels: usize, n: usize, h: usize, w: usize, a: &BnArgs<Src<'_, T>>, y: Addr) -> [Word; 11] {
        [x, w_i(channels), w_i(n), w_i(h), w_i(w), a.gamma.addr, a.beta.addr, a.mean.addr, a.invstd.addr, a.relu as u64, y]
    }

    fn off(&self, addr: Addr, elems: usize) -> Addr {
        addr + (elems * self.size()) as u64
    }
}

impl<T: Float + Elem, D: Device> Backend<T> for Gpu<T, D> {
    type Buf = Buf<D, T>;
    type Idx = Buf<D, u32>;
    type Src<'a> = Src<'a, T>;
    type Dst<'a> = Dst<'a, T>;

    fn name(&self) -> &'static str {
        self.dev.name()
    }
    fn device_memory_available(&self) -> Option<u64> {
        self.dev.memory_available()
    }
    fn take_error(&self) -> Result<()> {
        self.take_kept()
    }
    /// Frees the conv column buffer (the next conv allocates it again); the device's own
    /// workspace (cuBLAS's) stays for the device's lifetime.
    fn trim(&self) {
        *self.cols.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
    fn workspace_bytes(&self, convs: &[ConvGeom]) -> u64 {
        (cols_elements(convs, self.cols_budget) * self.size()) as u64 + self.dev.workspace_bytes()
    }
    /// The conv column buffer and the device's workspace.
    fn cached_bytes(&self) -> u64 {
        let cols = self.cols.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map_or(0, |c| (c.len * self.size()) as u64);
        cols + self.dev.workspace_bytes()
    }

    fn alloc(&self, len: usize) -> Result<Self::Buf> {
        self.alloc_buf(len)
    }
    fn alloc_idx(&self, len: usize) -> Result<Self::Idx> {
        self.alloc_buf(len)
    }
    fn upload(&self, data: &[T]) -> Result<Self::Buf> {
        self.take_kept()?;
        Ok(Buf { mem: self.dev.upload(data)?, len: data.len() })
    }
    fn download(&self, s: Src<'_, T>) -> Vec<T> {
        self.download_or_keep(s.addr, s.len)
    }
    fn len(buf: &Self::Buf) -> usize {
        buf.len
    }
    fn src(buf: &Self::Buf) -> Src<'_, T> {
        src(buf.addr(), buf.len)
    }
    fn dst(buf: &mut Self::Buf) -> Dst<'_, T> {
        dst(buf.addr(), buf.len)
    }
    fn slice<'a>(s: Self::Src<'a>, range: Range<usize>) -> Self::Src<'a> {
        assert!(range.start <= range.end && range.end <= s.len, "slice {range:?} of a view of {}", s.len);
        src(s.addr + (range.start * std::mem::size_of::<T>()) as u64, range.end - range.start)
    }
    fn slice_mut<'a>(d: Self::Dst<'a>, range: Range<usize>) -> Self::Dst<'a> {
        assert!(range.start <= range.end && range.end <= d.len, "slice {range:?} of a view of {}", d.len);
        dst(d.addr + (range.start * std::mem::size_of::<T>()) as u64, range.end - range.start)
    }
    fn split_mut<'a>(d: Self::Dst<'a>, at: usize) -> (Self::Dst<'a>, Self::Dst<'a>) {
        assert!(at <= d.len, "split at {at} of a view of {}", d.len);
        (dst(d.addr, at), dst(d.addr + (at * std::mem::size_of::<T>()) as u64, d.len - at))
    }
    fn reborrow<'b>(d: &'b mut Dst<'_, T>) -> Dst<'b, T> {
        dst(d.addr, d.len)
    }
    fn as_src<'b>(d: &'b Dst<'_, T>) -> Src<'b, T> {
        src(d.addr, d.len)
    }

    fn fill_zero(&self, d: Dst<'_, T>) {
        if d.len > 0 {
            self.queue(|| self.dev.memset_zero(d.addr, d.len * self.size()));
        }
    }
    fn copy(&self, s: Src<'_, T>, d: Dst<'_, T>) {
        assert_eq!(s.len, d.len, "copy between views of different lengths");
        if d.len > 0 {
            self.queue(|| self.dev.memcpy(d.addr, s.addr, d.len * self.size()));
        }
    }
    fn add_assign(&self, s: Src<'_, T>, d: Dst<'_, T>) {
        assert_eq!(s.len, d.len, "add_assign between views of different lengths");
        self.elementwise("add_assign", d.len, &[s.addr, d.addr, w_i(d.len)]);
    }

    fn bn_stats(&self, x: Src<'_, T>, channels: usize, p: usize) -> Result<BatchStats<Self::Buf>> {
        let (mean, invstd, var) = (self.alloc_buf(channels)?, self.alloc_buf(channels)?, self.alloc_buf(channels)?);
        let segs = bn_segments(channels, p);
        if segs == 1 {
            self.per_row("bn_stats", channels, &[x.addr, w_i(channels), w_i(p), w_f(BN_EPS), mean.addr(), invstd.addr(), var.addr()]);
        } else {
            // Few channels over many values: each channel's sums in `segs` blocks, then one
            // fixed-order sum per channel (two passes, as the one-block kernel).
            let (partial, mean64) = (self.alloc_buf::<f64>(channels * segs)?, self.alloc_buf::<f64>(channels)?);
            let blocks = (channels * segs).min(MAX_GRID) as u32;
            let (c, p_, s) = (w_i(channels), w_i(p), w_i(segs));
            self.queue(|| self.dev.launch(&self.kernel("bn_stats_partial"), blocks, BLOCK, &[x.addr, c, p_, s, 0, partial.addr()]));
            self.elementwise("bn_stats_mean", channels, &[partial.addr(), c, p_, s, mean64.addr(), mean.addr()]);
            self.queue(|| self.dev.launch(&self.kernel("bn_stats_partial"), blocks, BLOCK, &[x.addr, c, p_, s, mean64.addr(), partial.addr()]));
            self.elementwise("bn_stats_var", channels, &[partial.addr(), c, p_, s, w_f(BN_EPS), invstd.addr(), var.addr()]);
        }
        self.take_kept()?;
        Ok(BatchStats { mean, invstd, var_unbiased: Some(var) })
    }
    fn bn_running_stats(&self, running_mean: Src<'_, T>, running_var: Src<'_, T>) -> Result<BatchStats<Self::Buf>> {
        let n = running_var.len;
        let (mut mean, invstd) = (self.alloc_buf(running_mean.len)?, self.alloc_buf(n)?);
        self.copy(running_mean, Self::dst(&mut mean));
        self.elementwise("bn_running_invstd", n, &[running_var.addr, w_i(n), w_f(BN_EPS), invstd.addr()]);
        self.take_kept()?;
        Ok(BatchStats { mean, invstd, var_unbiased: None })
    }
    fn bn_update_running(&self, batch_mean: Src<'_, T>, batch_var_unbiased: Src<'_, T>, running_mean: Dst<'_, T>, running_var: Dst<'_, T>) {
        let n = running_mean.len;
        self.elementwise("bn_update_running", n, &[batch_mean.addr, batch_var_unbiased.addr, running_mean.addr, running_var.addr, w_i(n), w_f(BN_MOMENTUM)]);
    }
    fn bn_forward(&self, x: Src<'_, T>, channels: usize, p: usize, args: &BnArgs<Src<'_, T>>, y: Dst<'_, T>) {
        let mut params = Self::bn_params(x.addr, channels, p, args).to_vec();
        params.push(y.addr);
        self.elementwise("bn_forward", channels * p, &params);
    }
    fn bn_backward(&self, x: Src<'_, T>, dy: Dst<'_, T>, channels: usize, p: usize, args: &BnArgs<Src<'_, T>>, dgamma: Dst<'_, T>, dbeta: Dst<'_, T>, out: GradOut<Dst<'_, T>>) {
        let Some(sums) = self.scratch::<f64>(2 * channels, "bn_backward sums") else { return };
        let bn = Self::bn_params(x.addr, channels, p, args);
        let segs = bn_segments(channels, p);
        if segs == 1 {
            let mut params = vec![bn[0], dy.addr];
            params.extend_from_slice(&bn[1..]);
            params.extend_from_slice(&[dgamma.addr, dbeta.addr, sums.addr()]);
            self.per_row("bn_backward_sums", channels, &params);
        } else {
            // Few channels over many values (as bn_stats): each channel's sums in `segs` blocks,
            // then one fixed-order sum per channel.
            let Some(partial) = self.scratch::<f64>(2 * channels * segs, "bn_backward partial sums") else { return };
            // bn = [x, channels, p, gamma, beta, mean, invstd, relu]; the split kernel takes segs after p.
            let mut params = vec![bn[0], dy.addr, bn[1], bn[2], w_i(segs)];
            params.extend_from_slice(&bn[3..]);
            params.push(partial.addr());
            self.queue(|| self.dev.launch(&self.kernel("bn_backward_sums_partial"), (channels * segs).min(MAX_GRID) as u32, BLOCK, &params));
            self.elementwise("bn_backward_sums_total", channels, &[partial.addr(), w_i(channels), w_i(segs), dgamma.addr, dbeta.addr, sums.addr()]);
        }
        let dx = match out {
            GradOut::Accumulate(dx) => dx.addr,
            GradOut::InPlace => 0,
        };
        let mut params = vec![bn[0], dy.addr];
        params.extend_from_slice(&bn[1..]);
        params.extend_from_slice(&[sums.addr(), dx]);
        self.elementwise("bn_backward_dx", channels * p, &params);
    }

    fn conv_forward(&self, x: Src<'_, T>, weight: Src<'_, T>, g: &ConvGeom, y: Dst<'_, T>, accumulate: bool) {
        let pout = g.out_plane();
        if g.is_pointwise() {
            self.gemm(Gemm { m: g.cout, n: pout, k: g.cin, a: weight.addr, lda: g.cin, ta: false, b: x.addr, ldb: pout, tb: false, c: y.addr, ldc: pout, accumulate });
            return;
        }
        let (howo, chunk) = (g.ho * g.wo, self.chunk(g));
        self.with_cols(g.k() * chunk * howo, |cols| {
            for n0 in (0..g.n).step_by(chunk) {
                let n1 = (n0 + chunk).min(g.n);
                let pc = (n1 - n0) * howo;
                self.im2col(x.addr, g, n0, n1, cols);
                let c = self.off(y.addr, n0 * howo);
                self.gemm(Gemm { m: g.cout, n: pc, k: g.k(), a: weight.addr, lda: g.k(), ta: false, b: cols, ldb: pc, tb: false, c, ldc: pout, accumulate });
            }
        });
    }
    fn conv_backward_weight(&self, x: Src<'_, T>, dy: Src<'_, T>, g: &ConvGeom, dweight: Dst<'_, T>) {
        let pout = g.out_plane();
        if g.is_pointwise() {
            self.gemm(Gemm { m: g.cout, n: g.cin, k: pout, a: dy.addr, lda: pout, ta: false, b: x.addr, ldb: pout, tb: true, c: dweight.addr, ldc: g.cin, accumulate: true });
            return;
        }
        let (howo, chunk) = (g.ho * g.wo, self.chunk(g));
        self.with_cols(g.k() * chunk * howo, |cols| {
            for n0 in (0..g.n).step_by(chunk) {
                let n1 = (n0 + chunk).min(g.n);
                let pc = (n1 - n0) * howo;
                self.im2col(x.addr, g, n0, n1, cols);
                let a = self.off(dy.addr, n0 * howo);
                self.gemm(Gemm { m: g.cout, n: g.k(), k: pc, a, lda: pout, ta: false, b: cols, ldb: pc, tb: true, c: dweight.addr, ldc: g.k(), accumulate: true });
            }
        });
    }
    fn conv_backward_input(&self, dy: Src<'_, T>, weight: Src<'_, T>, g: &ConvGeom, dx: Dst<'_, T>, accumulate: bool) {
        let pout = g.out_plane();
        if g.is_pointwise() {
            self.gemm(Gemm { m: g.cin, n: pout, k: g.cout, a: weight.addr, lda: g.cin, ta: true, b: dy.addr, ldb: pout, tb: false, c: dx.addr, ldc: pout, accumulate });
            return;
        }
        if !accumulate {
            self.fill_zero(Self::slice_mut(dst(dx.addr, dx.len), 0..g.cin * g.in_plane()));
        }
        let (howo, chunk) = (g.ho * g.wo, self.chunk(g));
        self.with_cols(g.k() * chunk * howo, |cols| {
            for n0 in (0..g.n).step_by(chunk) {
                let n1 = (n0 + chunk).min(g.n);
                let pc = (n1 - n0) * howo;
                let b = self.off(dy.addr, n0 * howo);
                self.gemm(Gemm { m: g.k(), n: pc, k: g.cout, a: weight.addr, lda: g.k(), ta: true, b, ldb: pout, tb: false, c: cols, ldc: pc, accumulate: false });
                self.col2im(cols, g, n0, n1, dx.addr);
            }
        });
    }

    fn avg_pool2_forward(&self, x: Src<'_, T>, planes: usize, h: usize, w: usize, y: Dst<'_, T>) {
        self.elementwise("avg_pool2_forward", planes * (h / 2) * (w / 2), &[x.addr, w_i(planes), w_i(h), w_i(w), y.addr]);
    }
    fn bn_avg_pool2_forward(&self, x: Src<'_, T>, channels: usize, n: usize, h: usize, w: usize, args: &BnArgs<Src<'_, T>>, y: Dst<'_, T>) -> bool {
        self.elementwise("bn_avg_pool2_forward", channels * n * (h / 2) * (w / 2), &Self::pool_bn_params(x.addr, channels, n, h, w, args, y.addr));
        true
    }
    fn bn_max_pool3s2_forward(&self, x: Src<'_, T>, channels: usize, n: usize, h: usize, w: usize, args: &BnArgs<Src<'_, T>>, y: Dst<'_, T>) -> bool {
        let (ho, wo) = (densenet_core::geometry::max3s2_out(h), densenet_core::geometry::max3s2_out(w));
        self.elementwise("bn_max_pool3s2_forward", channels * n * ho * wo, &Self::pool_bn_params(x.addr, channels, n, h, w, args, y.addr));
        true
    }
    fn avg_pool2_backward(&self, dy: Src<'_, T>, planes: usize, h: usize, w: usize, dx: Dst<'_, T>) {
        self.elementwise("avg_pool2_backward", planes * h * w, &[dy.addr, w_i(planes), w_i(h), w_i(w), dx.addr]);
    }
    fn max_pool3s2_forward(&self, x: Src<'_, T>, planes: usize, h: usize, w: usize, y: Dst<'_, T>, argmax: Option<&mut Self::Idx>) {
        let (ho, wo) = (densenet_core::geometry::max3s2_out(h), densenet_core::geometry::max3s2_out(w));
        let a = argmax.map(|a| a.addr()).unwrap_or(0);
        self.elementwise("max_pool3s2_forward", planes * ho * wo, &[x.addr, w_i(planes), w_i(h), w_i(w), y.addr, a]);
    }
    fn max_pool3s2_backward(&self, dy: Src<'_, T>, argmax: &Self::Idx, planes: usize, h: usize, w: usize, dx: Dst<'_, T>) {
        self.elementwise("max_pool3s2_backward", planes * h * w, &[dy.addr, argmax.addr(), w_i(planes), w_i(h), w_i(w), dx.addr]);
    }
    fn global_avg_forward(&self, x: Src<'_, T>, planes: usize, hw: usize, out: Dst<'_, T>) {
        self.per_row("global_avg_forward", planes, &[x.addr, w_i(planes), w_i(hw), out.addr]);
    }
    fn global_avg_backward(&self, dpooled: Src<'_, T>, planes: usize, hw: usize, dx: Dst<'_, T>) {
        self.elementwise("global_avg_backward", planes * hw, &[dpooled.addr, w_i(planes), w_i(hw), dx.addr]);
    }
    fn linear_forward(&self, pooled: Src<'_, T>, weight: Src<'_, T>, bias: Src<'_, T>, n: usize, c: usize, k: usize, logits: Dst<'_, T>) {
        self.elementwise("bias_rows", n * k, &[bias.addr, w_i(n), w_i(k), logits.addr]);
        self.gemm(Gemm { m: n, n: k, k: c, a: pooled.addr, lda: n, ta: true, b: weight.addr, ldb: c, tb: true, c: logits.addr, ldc: k, accumulate: true });
    }
    fn linear_backward(
        &self,
        pooled: Src<'_, T>,
        weight: Src<'_, T>,
        dlogits: Src<'_, T>,
        n: usize,
        c: usize,
        k: usize,
        dweight: Dst<'_, T>,
        dbias: Dst<'_, T>,
        dpooled: Dst<'_, T>,
    ) {
        self.gemm(Gemm { m: k, n: c, k: n, a: dlogits.addr, lda: k, ta: true, b: pooled.addr, ldb: n, tb: true, c: dweight.addr, ldc: c, accumulate: true });
        self.elementwise("bias_grad", k, &[dlogits.addr, w_i(n), w_i(k), dbias.addr]);
        self.gemm(Gemm { m: c, n, k, a: weight.addr, lda: c, ta: true, b: dlogits.addr, ldb: k, tb: true, c: dpooled.addr, ldc: n, accumulate: false });
    }
    fn softmax_cross_entropy(&self, logits: Src<'_, T>, labels: &[usize], k: usize) -> Result<LossOut<Self::Buf>> {
        let n = labels.len();
        let labels_i64: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
        self.take_kept()?;
        let dev_labels = self.dev.upload(&labels_i64)?;
        let dlogits = self.alloc_buf::<T>(n * k)?;
        let (row_loss, row_correct) = (self.alloc_buf::<f64>(n)?, self.alloc_buf::<i64>(n)?);
        let params = [logits.addr, D::addr(&dev_labels), w_i(n), w_i(k), dlogits.addr(), row_loss.addr(), row_correct.addr()];
        self.elementwise("softmax_xent", n, &params);
        let losses: Vec<f64> = self.download_or_keep(row_loss.addr(), n);
        let correct: Vec<i64> = self.download_or_keep(row_correct.addr(), n);
        self.take_kept()?;
        let total: f64 = losses.iter().fold(0.0, |a, v| a + v);
        Ok(LossOut { loss: total / n as f64, correct: correct.iter().filter(|&&c| c != 0).count(), dlogits })
    }

    fn dropout(&self, y: Dst<'_, T>, p: f64, mask: MaskSource<Src<'_, T>>) {
        match mask {
            MaskSource::Hashed { seed, layer } => {
                // densenet_core::dropout_keep, with its base and threshold computed here.
                let base = splitmix64(seed ^ (layer as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
                let threshold = (p * (1u64 << 53) as f64) as u64;
                self.elementwise("dropout_hashed", y.len, &[y.addr, w_i(y.len), w_f(p), base, threshold]);
            }
            MaskSource::Given(m) => self.elementwise("dropout_mask", y.len, &[y.addr, m.addr, w_i(y.len), w_f(p)]),
        }
    }
    fn sgd_step(&self, param: Dst<'_, T>, grad: Src<'_, T>, momentum: Option<(Dst<'_, T>, bool)>, cfg: &SgdConfig) {
        let (buf, initialized) = momentum.map(|(b, i)| (b.addr, i)).unwrap_or((0, false));
        let params = [param.addr, grad.addr, buf, w_i(param.len), w_f(cfg.lr), w_f(cfg.weight_decay), w_f(cfg.momentum), initialized as u64, cfg.nesterov as u64];
        self.elementwise("sgd_step", param.len, &params);
    }
    fn sgd_steps<'a>(&self, updates: Vec<SgdUpdate<Dst<'a, T>, Src<'a, T>>>) {
        self.sgd_steps_chunked(&updates);
    }
    fn first_non_finite_of(&self, xs: &[Src<'_, T>]) -> Option<(usize, usize, f64)> {
        self.first_non_finite_chunked(xs)
    }
    fn first_non_finite(&self, x: Src<'_, T>) -> Option<(usize, f64)> {
        if x.len == 0 {
            return None;
        }
        let grid = grid_for(x.len).min(1024);
        let mins = self.scratch::<i64>(grid as usize, "finite check")?;
        self.queue(|| self.dev.launch(&self.kernel("first_non_finite"), grid, BLOCK, &[x.addr, w_i(x.len), mins.addr()]));
        let first = self.download_or_keep::<i64>(mins.addr(), grid as usize).into_iter().min().unwrap_or(x.len as i64) as usize;
        if self.failed() {
            return None;
        }
        (first < x.len).then(|| (first, self.download_or_keep::<T>(x.addr + (first * self.size()) as u64, 1)[0].to_f64()))
    }
}
