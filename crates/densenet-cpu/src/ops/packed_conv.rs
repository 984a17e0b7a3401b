//! Convolution as an implicit GEMM: y[Cout, N·Ho·Wo] (+)= W[Cout, Cin·k²] × cols, where the
//! columns are never materialized.
//!
//! Output positions are cut into tiles of [`NR`]. A worker packs one tile's panel (Cin·k² rows ×
//! NR positions, a few dozen KiB) straight from the input, applying the input's per-channel
//! BN(+ReLU) on the way when asked, then multiplies [`MR`]-row strips of the packed weights by
//! it. So neither an im2col buffer nor a normalized copy of the input exists: the BN-ReLU of a
//! dense layer costs one read of its input inside the convolution.
//!
//! Each output element is one sum over the panel rows in order, so the result has the same bits
//! for any thread count, and a fused BN-ReLU gives the same bits as normalizing first (the
//! packing evaluates the BN formula of `batchnorm::forward`). f32 runs an AVX-512 micro-kernel
//! where the CPU has one; f64 (the parity suite) and other CPUs run a portable micro-kernel over
//! the same tiling and packing.

use super::gemm::MatRef;
use densenet_core::geometry::ConvGeom;
use densenet_core::{BnArgs, Float};
use rayon::prelude::*;
use std::any::TypeId;
use std::sync::Mutex;

/// Output positions per tile (two 16-lane f32 vectors).
pub const NR: usize = 32;
/// Output channels per strip of the micro-kernel (12 × 2 vector accumulators).
pub const MR: usize = 12;
// The memory estimate counts the packed weights kept for inference in strips of this height.
const _: () = assert!(MR == densenet_core::memory::PACKED_STRIP);

/// Whether [`forward`] has a fast kernel for `T` on this CPU (f32: AVX-512; f64: always, it is
/// the exact reference path). Elsewhere the backend keeps the `gemm` crate's kernels.
pub fn available<T: Float>() -> bool {
    if TypeId::of::<T>() == TypeId::of::<f64>() {
        return true;
    }
    TypeId::of::<T>() == TypeId::of::<f32>() && has_avx512()
}

/// Whether the packed kernels (this forward, the packed input and weight gradients) take this
/// conv: a fast kernel for `T`, and a 1×1 or stride-1 conv.
pub fn preferred<T: Float>(g: &ConvGeom) -> bool {
    available::<T>() && !matches!(Layout::of(g), Layout::Gather { .. })
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx512() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma"))
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn has_avx512() -> bool {
    false
}

/// Buffers a kernel reuses across calls: one shared by the call (packed weights, partial
/// sums) and a free list of per-worker buffers (packed items).
pub struct KernelScratch<T> {
    shared: Mutex<Vec<T>>,
    per_worker: Mutex<Vec<Vec<T>>>,
}

/// The implicit-GEMM convolution's scratch: packed weights and each worker's packed item.
pub type PackScratch<T> = KernelScratch<T>;

impl<T> Default for KernelScratch<T> {
    fn default() -> Self {
        KernelScratch { shared: Mutex::new(Vec::new()), per_worker: Mutex::new(Vec::new()) }
    }
}

impl<T> KernelScratch<T> {
    pub(crate) fn shared(&self) -> std::sync::MutexGuard<'_, Vec<T>> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub(crate) fn per_worker(&self) -> &Mutex<Vec<Vec<T>>> {
        &self.per_worker
    }
    pub fn held_bytes(&self) -> usize {
        let workers: usize = self.per_worker.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|c| c.capacity()).sum();
        (workers + self.shared().capacity()) * std::mem::size_of::<T>()
    }
}

/// A worker's panel, back to the free list when the worker is done.
pub(crate) struct PanelGuard<'a, T>(pub(crate) Vec<T>, &'a Mutex<Vec<Vec<T>>>);

impl<'a, T: Float> PanelGuard<'a, T> {
    pub(crate) fn take(home: &'a Mutex<Vec<Vec<T>>>, len: usize) -> Self {
        let mut v = home.lock().unwrap_or_else(|p| p.into_inner()).pop().unwrap_or_default();
        if v.len() < len {
            v.resize(len, T::ZERO);
        }
        PanelGuard(v, home)
    }
}

impl<T> Drop for PanelGuard<'_, T> {
    fn drop(&mut self) {
        self.1.lock().unwrap_or_else(|p| p.into_inner()).push(std::mem::take(&mut self.0));
    }
}

/// y[Cout, N·Ho·Wo] (+)= conv(norm(x), W), W read through `weight` as a [Cout, Cin·k²] matrix
/// (a transposed view works too). `norm`: the BN(+ReLU) of x's channels, applied to every value
/// read (padding stays zero: it pads the normalized tensor).
pub fn forward<T: Float>(x: &[T], weight: MatRef<T>, g: &ConvGeom, norm: Option<&BnArgs<&[T]>>, y: &mut [T], accumulate: bool, scratch: &PackScratch<T>) {
    if g.cout == 0 || g.out_plane() == 0 {
        return;
    }
    let mut wp = scratch.shared();
    pack_weights(weight, g.cout, g.k(), &mut wp);
    forward_packed(x, &wp[..packed_len(g)], g, norm, y, accumulate, scratch);
}

/// Values of a conv's packed weights (see [`pack`]).
pub fn packed_len(g: &ConvGeom) -> usize {
    g.cout.div_ceil(MR) * g.k() * MR
}

/// The weights in the layout [`forward_packed`] reads, for a caller that keeps them.
pub fn pack<T: Float>(weight: MatRef<T>, g: &ConvGeom) -> Vec<T> {
    let mut wp = Vec::new();
    pack_weights(weight, g.cout, g.k(), &mut wp);
    wp.truncate(packed_len(g));
    wp
}

/// [`forward`] with weights packed beforehand by [`pack`].
pub fn forward_packed<T: Float>(x: &[T], wp: &[T], g: &ConvGeom, norm: Option<&BnArgs<&[T]>>, y: &mut [T], accumulate: bool, scratch: &PackScratch<T>) {
    let _p = super::profile::scope(match (norm.is_some(), g.is_pointwise()) {
        (true, true) => "packed.bn_conv1x1",
        (true, false) => "packed.bn_convkxk",
        (false, true) => "packed.conv1x1",
        (false, false) => "packed.convkxk",
    });
    let pout = g.out_plane();
    if g.cout == 0 || pout == 0 {
        return;
    }
    assert!(x.len() >= g.cin * g.in_plane(), "conv input too small");
    assert!(y.len() >= g.cout * pout, "conv output too small");
    if let Some(a) = norm {
        assert!(a.mean.len() >= g.cin && a.invstd.len() >= g.cin && a.gamma.len() >= g.cin && a.beta.len() >= g.cin, "BN arguments shorter than the input channels");
    }
    assert_eq!(wp.len(), packed_len(g), "packed weights of another shape");
    let threads = rayon::current_num_threads();
    if let Some(span) = shared_span(g, threads) {
        return forward_shared(x, wp, g, norm, y, accumulate, scratch, span);
    }
    let layout = Layout::of(g).balanced(g, threads);
    let parts = layout.band_parts(g, threads);
    let job = Job { x, wp, g, norm, layout, parts, out: SharedOut(y.as_mut_ptr()), accumulate };
    (0..layout.items(g) * parts).into_par_iter().for_each_init(
        || Work { buf: PanelGuard::take(scratch.per_worker(), layout.buffer_len(g)), offs: Vec::new(), segs: Vec::new(), packed: None },
        // SAFETY: items write disjoint output positions of every row, and `y` holds Cout rows of
        // `pout` (asserted above).
        |work, item| unsafe { run_item(&job, item, work) },
    );
}

/// Most elements of the one packed input that [`forward_shared`] builds (1.5 MiB in f32).
const SHARED_PACK_BUDGET: usize = 4 * ITEM_BUDGET;

/// The row length of [`forward_shared`]'s packed input where it takes the conv: a 1×1 conv whose
/// positions make fewer than 4 tiles per worker (a batch-1 14² conv is 7 tiles, which items of
/// whole tiles cut 4 + 3 for 2 workers; a 7² conv is 2, each item then running every strip and
/// reading all the weights), with the packed input within [`SHARED_PACK_BUDGET`]. (The same
/// two passes for the padded 3×3 convs of batch-1 14² and 7² planes were no faster and slower
/// whenever one of two vCPUs was held up: each pass waits for the slower worker.)
fn shared_span(g: &ConvGeom, threads: usize) -> Option<usize> {
    let tiles = g.out_plane().div_ceil(NR);
    let span = tiles * NR;
    (g.is_pointwise() && threads >= 2 && tiles < 4 * threads && g.cin * span <= SHARED_PACK_BUDGET).then_some(span)
}

/// A 1×1 conv of few tiles (see [`shared_span`]) in two passes over the workers: the
/// (normalized) input is packed once, its channels shared out, then the (strip, tile) pairs are
/// shared out, so the work splits finer than whole tiles and each worker reads the weights of
/// its own strips only. Each output is the same micro-kernel chain over the channels in order as
/// in the item path: the same bits.
#[allow(clippy::too_many_arguments)]
fn forward_shared<T: Float>(x: &[T], wp: &[T], g: &ConvGeom, norm: Option<&BnArgs<&[T]>>, y: &mut [T], accumulate: bool, scratch: &PackScratch<T>, span: usize) {
    let pout = g.out_plane();
    let (tiles, strips, kdim) = (span / NR, g.cout.div_ceil(MR), g.k());
    let mut packed = PanelGuard::take(scratch.per_worker(), g.cin * span);
    // Pass 1: row ci = norm(x[ci, ..pout]), in runs of `rows` channels; the columns from pout to
    // span keep what the buffer held (they feed only output columns that are never stored).
    let rows = g.cin.div_ceil(4 * rayon::current_num_threads()).max(1);
    packed.0[..g.cin * span].par_chunks_mut(rows * span).enumerate().for_each(|(i, chunk)| {
        pack_rows(x, g, norm, i * rows..(i * rows + rows).min(g.cin), span, chunk);
    });
    // Pass 2: unit u is tile u % tiles of strip u / tiles (a worker's run of units keeps to few
    // strips).
    let buf = &packed.0[..g.cin * span];
    let offs: Vec<usize> = (0..kdim).map(|r| r * span).collect();
    let out = SharedOut(y.as_mut_ptr());
    (0..strips * tiles).into_par_iter().for_each(|u| {
        let (s, t) = (u / tiles, u % tiles);
        // SAFETY: strip s and tile t name output rows [s·MR, s·MR + rows) < Cout and positions
        // [t·NR, t·NR + len) < pout, written by this unit only; `y` holds Cout rows of pout
        // (asserted by the caller); every row read (offs[r] + t·NR + NR ≤ Cin·span) is in `buf`.
        unsafe { run_unit(&wp[s * kdim * MR..][..kdim * MR], buf, &offs, g, s, t * NR, NR.min(pout - t * NR), out, accumulate) };
    });
}

/// [`pack_channels`] of all of `channels`' positions into rows of `span`, with the AVX-512
/// features where the CPU has them (the same values either way: the normalization is
/// elementwise).
fn pack_rows<T: Float>(x: &[T], g: &ConvGeom, norm: Option<&BnArgs<&[T]>>, channels: std::ops::Range<usize>, span: usize, chunk: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    if TypeId::of::<T>() == TypeId::of::<f32>() && has_avx512() {
        // SAFETY: T is f32 (checked), so the casts are identities; the CPU has AVX-512F.
        unsafe {
            let cast = |s: &[T]| std::slice::from_raw_parts(s.as_ptr() as *const f32, s.len());
            let normf = norm.map(|a| BnArgs { gamma: cast(a.gamma), beta: cast(a.beta), mean: cast(a.mean), invstd: cast(a.invstd), relu: a.relu });
            let chunk = std::slice::from_raw_parts_mut(chunk.as_mut_ptr() as *mut f32, chunk.len());
            return avx512::pack_rows(cast(x), g, normf.as_ref(), channels, span, chunk);
        }
    }
    super::simd::vectorized(|| pack_rows_with(x, g, norm, channels, span, chunk))
}

#[inline(always)]
fn pack_rows_with<T: Float>(x: &[T], g: &ConvGeom, norm: Option<&BnArgs<&[T]>>, channels: std::ops::Range<usize>, span: usize, chunk: &mut [T]) {
    match norm {
        Some(a) => pack_channels::<T, true>(x, g, Some(a), channels, 0, g.out_plane(), span, chunk),
        None => pack_channels::<T, false>(x, g, None, channels, 0, g.out_plane(), span, chunk),
    }
}

/// One (strip, tile) unit of [`forward_shared`]: output rows of strip `s`, positions
/// [start, start + len).
///
/// # Safety
/// As the caller's: the unit's output is in `out` and written by no one else, and every row
/// offs[r] + start + NR lies inside `buf`.
#[allow(clippy::too_many_arguments)]
unsafe fn run_unit<T: Float>(wstrip: &[T], buf: &[T], offs: &[usize], g: &ConvGeom, s: usize, start: usize, len: usize, out: SharedOut<T>, accumulate: bool) {
    let pout = g.out_plane();
    let rows = (g.cout - s * MR).min(MR);
    let seg = [Seg { j0: 0, pos: start, len }];
    let mut acc = [[T::ZERO; NR]; MR];
    #[cfg(target_arch = "x86_64")]
    if TypeId::of::<T>() == TypeId::of::<f32>() && has_avx512() {
        // SAFETY: T is f32 (checked); the reads are in `buf` and the strip, the direct store (a
        // whole tile) in this unit's output (the caller's contract); the CPU has AVX-512F and FMA.
        unsafe {
            let direct = (len == NR).then(|| Direct { ptr: (out.0 as *mut f32).add(s * MR * pout + start), stride: pout, rows, accumulate });
            let accf = &mut *(&mut acc as *mut [[T; NR]; MR] as *mut [[f32; NR]; MR]);
            if avx512::micro(wstrip.as_ptr() as *const f32, (buf.as_ptr() as *const f32).add(start), offs, accf, direct, rows) {
                return;
            }
        }
        write_strip(&acc, s, g.cout, pout, &seg, out, accumulate);
        return;
    }
    super::simd::vectorized(|| micro_portable(wstrip, buf, offs, start, &mut acc, None, rows));
    write_strip(&acc, s, g.cout, pout, &seg, out, accumulate);
}

/// How a convolution's work is cut into items, each packing one buffer that its tiles read.
#[derive(Clone, Copy)]
pub(crate) enum Layout {
    /// 1×1, stride 1: item i packs positions [i·span, (i+1)·span) of every channel, rows of `span`.
    Pointwise { span: usize },
    /// Stride 1: item (sample, band of output rows) packs the band's input rows zero-padded to
    /// width W + 2·pad, so that tap (ky, kx) of output (oy, ox) is the packed value at a constant
    /// offset ky·Wp + kx from it: every tap of a tile is one contiguous run.
    Padded { band: usize, bands: usize },
    /// Anything else (strided stems): item i packs the im2col panel of positions
    /// [i·span, (i+1)·span), rows of `span`.
    Gather { span: usize },
}

/// Elements an item's packed buffer aims at (fits the L2 cache beside the weights).
pub(crate) const ITEM_BUDGET: usize = 96 * 1024;

impl Layout {
    pub(crate) fn of(g: &ConvGeom) -> Self {
        if g.is_pointwise() {
            let span = (ITEM_BUDGET / g.cin.max(1) / NR * NR).clamp(NR, 64 * NR);
            Layout::Pointwise { span }
        } else if g.stride == 1 && g.pad < g.kernel {
            let wp = g.w + 2 * g.pad;
            let rows_in = (ITEM_BUDGET / (g.cin.max(1) * wp)).max(g.kernel);
            let band = (rows_in + 1 - g.kernel).clamp(1, g.ho);
            Layout::Padded { band, bands: g.ho.div_ceil(band) }
        } else {
            Layout::Gather { span: (ITEM_BUDGET / g.k().max(1) / NR * NR).clamp(NR, 64 * NR) }
        }
    }

    /// The same layout with items cut smaller where that lets `threads` workers finish sooner:
    /// at batch 1, a 14² 3×3 conv is one band and a 7² 1×1 conv one span, which one worker would
    /// run alone. Picks the cut with the fewest tiles on the busiest worker (each worker taking
    /// every `threads`-th item), plus a quarter tile per item for its packing; ties keep the
    /// larger items. Items only shrink, so the buffers stay within [`Layout::buffer_len`] of
    /// [`Layout::of`]; and the output's bits do not depend on the cut (each element is one sum
    /// over the packed rows in order).
    pub(crate) fn balanced(self, g: &ConvGeom, threads: usize) -> Self {
        let threads = threads.max(1);
        // Quarter tiles on the busiest worker for `items` items of `tiles_per_item` tiles.
        let cost = |items: usize, tiles_per_item: usize| items.div_ceil(threads) * (4 * tiles_per_item + 1);
        match self {
            Layout::Pointwise { span } | Layout::Gather { span } => {
                let tiles = g.out_plane().div_ceil(NR);
                let most = (span / NR).max(1);
                let best = (1..=most.min(tiles.max(1))).rev().min_by_key(|&per| cost(tiles.div_ceil(per), per)).unwrap_or(most) * NR;
                match self {
                    Layout::Pointwise { .. } => Layout::Pointwise { span: best },
                    _ => Layout::Gather { span: best },
                }
            }
            Layout::Padded { band, .. } => {
                let best = (1..=band).rev().min_by_key(|&rows| cost(g.n * g.ho.div_ceil(rows), band_positions(g, rows).div_ceil(NR))).unwrap_or(band);
                Layout::Padded { band: best, bands: g.ho.div_ceil(best) }
            }
        }
    }

    /// Into how many parts each band's tiles are cut: more than one only where there are fewer
    /// bands than workers (a batch-1 7² 3×3 conv is one band of 2 tiles, which one worker would
    /// run alone). Each part packs the whole band (a worker running two parts packs it once) and
    /// runs its share of the tiles; the output's bits do not depend on the cut.
    pub(crate) fn band_parts(&self, g: &ConvGeom, threads: usize) -> usize {
        match *self {
            Layout::Padded { band, bands } if g.n * bands < threads => threads.div_ceil(g.n * bands).min(band_positions(g, band).div_ceil(NR)).max(1),
            _ => 1,
        }
    }

    pub(crate) fn items(&self, g: &ConvGeom) -> usize {
        match *self {
            Layout::Pointwise { span } => g.out_plane().div_ceil(span),
            Layout::Padded { bands, .. } => g.n * bands,
            Layout::Gather { span } => g.out_plane().div_ceil(span),
        }
    }

    pub(crate) fn buffer_len(&self, g: &ConvGeom) -> usize {
        match *self {
            Layout::Pointwise { span } => g.cin * span,
            // + slack: the last tile of a band reads up to NR positions and k rows past it.
            Layout::Padded { band, .. } => {
                let wp = g.w + 2 * g.pad;
                g.cin * (band + g.kernel - 1) * wp + g.kernel * wp + NR
            }
            Layout::Gather { span } => g.k() * span,
        }
    }
}

/// Packed positions a band of `rows` output rows computes: (rows − 1)·Wp + Wo (the padding
/// columns between its rows are computed and discarded).
fn band_positions(g: &ConvGeom, rows: usize) -> usize {
    (rows - 1) * (g.w + 2 * g.pad) + g.wo
}

/// One call's operands, shared by its workers.
#[derive(Clone, Copy)]
struct Job<'a, T> {
    x: &'a [T],
    /// Packed weights (see [`pack_weights`]).
    wp: &'a [T],
    g: &'a ConvGeom,
    norm: Option<&'a BnArgs<&'a [T]>>,
    layout: Layout,
    /// Item i runs part i % parts of the layout's item i / parts (see [`Layout::band_parts`]).
    parts: usize,
    out: SharedOut<T>,
    accumulate: bool,
}

/// A worker's reused buffers: the packed item, its row offsets and a tile's output segments.
struct Work<'s, T> {
    buf: PanelGuard<'s, T>,
    offs: Vec<usize>,
    segs: Vec<Seg>,
    /// The layout item whose packing `buf` and `offs` hold.
    packed: Option<usize>,
}

/// Packs one item and runs its tiles.
///
/// # Safety
/// `job.out` must point at a [Cout, N·Ho·Wo] output whose positions of this item no other
/// worker writes.
unsafe fn run_item<T: Float>(job: &Job<T>, item: usize, work: &mut Work<T>) {
    #[cfg(target_arch = "x86_64")]
    if TypeId::of::<T>() == TypeId::of::<f32>() && has_avx512() {
        // SAFETY: T is f32 (checked), so the casts are identities; the CPU has AVX-512F and FMA.
        unsafe {
            let cast = |s: &[T]| std::slice::from_raw_parts(s.as_ptr() as *const f32, s.len());
            let normf = job.norm.map(|a| BnArgs { gamma: cast(a.gamma), beta: cast(a.beta), mean: cast(a.mean), invstd: cast(a.invstd), relu: a.relu });
            let jobf = Job {
                x: cast(job.x),
                wp: cast(job.wp),
                g: job.g,
                norm: normf.as_ref(),
                layout: job.layout,
                parts: job.parts,
                out: SharedOut(job.out.0 as *mut f32),
                accumulate: job.accumulate,
            };
            let buf = std::slice::from_raw_parts_mut(work.buf.0.as_mut_ptr() as *mut f32, work.buf.0.len());
            return avx512::run_item(&jobf, item, buf, &mut work.offs, &mut work.segs, &mut work.packed);
        }
    }
    super::simd::vectorized(|| item_with(job, item, &mut work.buf.0, &mut work.offs, &mut work.segs, &mut work.packed, micro_portable::<T>))
}

/// acc[m][j] = Σ_r wstrip[r·MR + m] · buf[offs[r] + start + j]: one tile of the micro-kernel,
/// for kernels that post-process the tile themselves. Every row read (offs[r] + start + NR)
/// must lie inside `buf`.
pub(crate) fn tile_product<T: Float>(wstrip: &[T], buf: &[T], offs: &[usize], start: usize, acc: &mut [[T; NR]; MR]) {
    assert!(offs.iter().all(|&off| off + start + NR <= buf.len()) && wstrip.len() >= offs.len() * MR, "tile operands too small");
    #[cfg(target_arch = "x86_64")]
    if TypeId::of::<T>() == TypeId::of::<f32>() && has_avx512() {
        // SAFETY: T is f32 (checked), the reads lie inside `buf` and `wstrip` (asserted), the CPU
        // has AVX-512F and FMA.
        unsafe {
            let acc = &mut *(acc as *mut [[T; NR]; MR] as *mut [[f32; NR]; MR]);
            avx512::micro(wstrip.as_ptr() as *const f32, (buf.as_ptr() as *const f32).add(start), offs, acc, None, MR);
        }
        return;
    }
    super::simd::vectorized(|| micro_portable(wstrip, buf, offs, start, acc, None, MR));
}

/// One item with the given micro-kernel (inlined into the caller's target features).
#[inline(always)]
fn item_with<T: Float>(
    job: &Job<T>,
    item: usize,
    buf: &mut [T],
    offs: &mut Vec<usize>,
    segs: &mut Vec<Seg>,
    packed: &mut Option<usize>,
    micro: impl Fn(&[T], &[T], &[usize], usize, &mut [[T; NR]; MR], Option<Direct<T>>, usize) -> bool,
) {
    let Job { x, wp, g, norm, layout, parts, out, accumulate } = *job;
    let (item, part) = (item / parts, item % parts);
    let repack = *packed != Some(item);
    *packed = Some(item);
    let kdim = g.k();
    let strips = g.cout.div_ceil(MR);
    let mut acc = [[T::ZERO; NR]; MR];
    let pout = g.out_plane();
    // Runs one tile (buffer columns from `start`) into its output segments.
    let mut tile = |buf: &[T], offs: &[usize], start: usize, segs: &[Seg]| {
        // A tile that is one whole run of output positions can be stored by the micro-kernel.
        let whole = segs.len() == 1 && segs[0].j0 == 0 && segs[0].len == NR;
        for s in 0..strips {
            let rows = (g.cout - s * MR).min(MR);
            // SAFETY (of the offset): strip s starts at output row s·MR < Cout, and the segment
            // lies inside [0, pout).
            let direct = whole.then(|| Direct { ptr: unsafe { out.0.add(s * MR * pout + segs[0].pos) }, stride: pout, rows, accumulate });
            if !micro(&wp[s * kdim * MR..][..kdim * MR], buf, offs, start, &mut acc, direct, rows) {
                write_strip(&acc, s, g.cout, pout, segs, out, accumulate);
            }
        }
    };
    match layout {
        Layout::Pointwise { span } => {
            let p0 = item * span;
            let p1 = (p0 + span).min(pout);
            match norm {
                Some(a) => pack_pointwise::<T, true>(x, g, Some(a), p0, p1, span, buf),
                None => pack_pointwise::<T, false>(x, g, None, p0, p1, span, buf),
            }
            offs.clear();
            offs.extend((0..g.cin).map(|r| r * span));
            for j0 in (0..p1 - p0).step_by(NR) {
                let len = NR.min(p1 - p0 - j0);
                segs.clear();
                segs.push(Seg { j0: 0, pos: p0 + j0, len });
                tile(buf, offs, j0, segs);
            }
        }
        Layout::Padded { band, bands } => {
            let this = Band::of(g, band, bands, item);
            let Band { n, oy0, oy1, wp, .. } = if repack { pack_band(x, g, norm, this, buf, offs) } else { this };
            // Output (oy0 + q / wp, q % wp) for q < (rows − 1)·wp + Wo; columns ≥ Wo are discarded.
            let qn = band_positions(g, oy1 - oy0);
            let plane0 = n * g.ho * g.wo;
            // This part's tiles.
            let tiles = qn.div_ceil(NR);
            let (t0, t1) = (tiles * part / parts, tiles * (part + 1) / parts);
            for q0 in (t0 * NR..t1 * NR).step_by(NR) {
                let q1 = (q0 + NR).min(qn);
                segs.clear();
                let mut q = q0;
                while q < q1 {
                    let (r, ox) = (q / wp, q % wp);
                    let row_end = (r * wp + wp).min(q1);
                    if ox < g.wo {
                        let len = (g.wo - ox).min(row_end - q);
                        segs.push(Seg { j0: q - q0, pos: plane0 + (oy0 + r) * g.wo + ox, len });
                    }
                    q = row_end;
                }
                tile(buf, offs, q0, segs);
            }
        }
        Layout::Gather { span } => {
            let p0 = item * span;
            let p1 = (p0 + span).min(pout);
            match norm {
                Some(a) => pack_gather::<T, true>(x, g, Some(a), p0, p1, span, buf),
                None => pack_gather::<T, false>(x, g, None, p0, p1, span, buf),
            }
            offs.clear();
            offs.extend((0..kdim).map(|r| r * span));
            for j0 in (0..p1 - p0).step_by(NR) {
                let len = NR.min(p1 - p0 - j0);
                segs.clear();
                segs.push(Seg { j0: 0, pos: p0 + j0, len });
                tile(buf, offs, j0, segs);
            }
        }
    }
}

#[derive(Clone, Copy)]
struct SharedOut<T>(*mut T);
// SAFETY: workers write disjoint positions (see `forward`).
unsafe impl<T> Send for SharedOut<T> {}
unsafe impl<T> Sync for SharedOut<T> {}

/// Where the micro-kernel may store a strip itself: `rows` (≤ MR) output rows from `ptr`,
/// `stride` apart, NR positions each, owned by the calling worker.
#[derive(Clone, Copy)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // only the AVX-512 kernel stores directly
struct Direct<T> {
    ptr: *mut T,
    stride: usize,
    rows: usize,
    accumulate: bool,
}

/// Tile columns [j0, j0 + len) are output positions [pos, pos + len) of every output row.
#[derive(Clone, Copy)]
struct Seg {
    j0: usize,
    pos: usize,
    len: usize,
}

/// wp[strip][r][m] = W[strip·MR + m, r], zero rows past Cout. Strips are filled in parallel
/// when there are enough weights to pay for it: at batch 1 the packing is a sixth of a
/// densenet121 forward when one worker does it.
pub(crate) fn pack_weights<T: Float>(w: MatRef<T>, cout: usize, kdim: usize, wp: &mut Vec<T>) {
    let _p = super::profile::scope("packed.pack_weights");
    let strips = cout.div_ceil(MR);
    if wp.len() < strips * kdim * MR {
        wp.resize(strips * kdim * MR, T::ZERO);
    }
    let w = SharedWeights(w);
    // In column blocks of RB: one block of the strip (RB·MR values) stays in L1 while each of
    // its MR weight rows is read along the block. (Straight down the whole strip, a 1,024-wide
    // layer's strip is 48 KiB, and each of the MR passes missed L1 on every write.)
    const RB: usize = 256;
    let fill = |s: usize, strip: &mut [T]| {
        let rows = (cout - s * MR).min(MR);
        assert_eq!(strip.len(), kdim * MR);
        let dst = strip.as_mut_ptr();
        for r0 in (0..kdim).step_by(RB) {
            let r1 = (r0 + RB).min(kdim);
            for m in 0..MR {
                // SAFETY: the strip holds kdim·MR values (asserted); the caller's view covers
                // [cout, kdim] and s·MR + m < cout.
                unsafe {
                    if m >= rows {
                        (r0..r1).for_each(|r| *dst.add(r * MR + m) = T::ZERO);
                    } else if w.0.cs == 1 {
                        let src = w.row(s * MR + m);
                        (r0..r1).for_each(|r| *dst.add(r * MR + m) = *src.add(r));
                    } else {
                        (r0..r1).for_each(|r| *dst.add(r * MR + m) = w.at(s * MR + m, r));
                    }
                }
            }
        }
    };
    let wp = &mut wp[..strips * kdim * MR];
    if strips > 1 && wp.len() >= PARALLEL_PACK {
        wp.par_chunks_mut(kdim * MR).enumerate().for_each(|(s, strip)| fill(s, strip));
    } else {
        wp.chunks_mut(kdim * MR).enumerate().for_each(|(s, strip)| fill(s, strip));
    }
}

/// Weights from which [`pack_weights`] fills strips on several workers.
const PARALLEL_PACK: usize = 16 * 1024;

/// A weight view shared by the workers that pack it (they only read it).
#[derive(Clone, Copy)]
struct SharedWeights<T>(MatRef<T>);
impl<T: Copy> SharedWeights<T> {
    /// Where row `row` starts.
    ///
    /// # Safety
    /// The row lies inside the view.
    ///
    /// # Safety
    /// (row, col) lies inside the view.
    unsafe fn row(&self, row: usize) -> *const T {
        unsafe { self.0.ptr.offset(row as isize * self.0.rs) }
    }

    /// W[row, col].
    ///
    /// # Safety
    /// (row, col) lies inside the view.
    unsafe fn at(&self, row: usize, col: usize) -> T {
        unsafe { *self.0.ptr.offset(row as isize * self.0.rs + col as isize * self.0.cs) }
    }
}

// SAFETY: the view is only read while the packing runs.
unsafe impl<T: Sync> Send for SharedWeights<T> {}
unsafe impl<T: Sync> Sync for SharedWeights<T> {}

/// One input channel's BN(+ReLU), the formula and order of `batchnorm::forward`.
#[derive(Clone, Copy)]
pub(crate) struct ChannelNorm<T> {
    mean: T,
    invstd: T,
    gamma: T,
    beta: T,
    relu: bool,
}

impl<T: Float> ChannelNorm<T> {
    #[inline(always)]
    pub(crate) fn of(norm: Option<&BnArgs<&[T]>>, ci: usize) -> Self {
        match norm {
            Some(a) => ChannelNorm { mean: a.mean[ci], invstd: a.invstd[ci], gamma: a.gamma[ci], beta: a.beta[ci], relu: a.relu },
            None => ChannelNorm { mean: T::ZERO, invstd: T::ONE, gamma: T::ONE, beta: T::ZERO, relu: false },
        }
    }

    #[inline(always)]
    pub(crate) fn apply<const NORM: bool>(&self, v: T) -> T {
        if !NORM {
            return v;
        }
        let t = (v - self.mean) * self.invstd * self.gamma + self.beta;
        let non_positive = t <= T::ZERO;
        t.zero_unless(!self.relu | !non_positive)
    }

    #[inline(always)]
    fn copy<const NORM: bool>(&self, dst: &mut [T], src: &[T]) {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = self.apply::<NORM>(*s);
        }
    }
}

/// Item `item` of a [`Layout::Padded`]: output rows [oy0, oy1) of sample n, whose input rows
/// are packed `rows_in` high and `wp` wide.
#[derive(Clone, Copy)]
pub(crate) struct Band {
    pub n: usize,
    pub oy0: usize,
    pub oy1: usize,
    pub wp: usize,
    pub rows_in: usize,
}

impl Band {
    pub(crate) fn of(g: &ConvGeom, band: usize, bands: usize, item: usize) -> Self {
        let (n, b) = (item / bands, item % bands);
        let oy0 = b * band;
        let oy1 = (oy0 + band).min(g.ho);
        Band { n, oy0, oy1, wp: g.w + 2 * g.pad, rows_in: oy1 - oy0 + g.kernel - 1 }
    }
}

/// Packs a band (see [`pack_padded`]) and sets `offs[r]` to where weight row r's tap of the
/// band's first position sits.
#[inline(always)]
pub(crate) fn pack_band<T: Float>(x: &[T], g: &ConvGeom, norm: Option<&BnArgs<&[T]>>, band: Band, buf: &mut [T], offs: &mut Vec<usize>) -> Band {
    let Band { n, oy0, wp, rows_in, .. } = band;
    match norm {
        Some(a) => pack_padded::<T, true>(x, g, Some(a), n, oy0, rows_in, buf),
        None => pack_padded::<T, false>(x, g, None, n, oy0, rows_in, buf),
    }
    offs.clear();
    for ci in 0..g.cin {
        for ky in 0..g.kernel {
            for kx in 0..g.kernel {
                offs.push(ci * rows_in * wp + ky * wp + kx);
            }
        }
    }
    band
}

/// buf[ci·span + j] = norm(x[ci, p0 + j]) for j < p1 − p0.
#[inline(always)]
pub(crate) fn pack_pointwise<T: Float, const NORM: bool>(x: &[T], g: &ConvGeom, norm: Option<&BnArgs<&[T]>>, p0: usize, p1: usize, span: usize, buf: &mut [T]) {
    pack_channels::<T, NORM>(x, g, norm, 0..g.cin, p0, p1, span, buf)
}

/// buf[(ci − c0)·span + j] = norm(x[ci, p0 + j]) for ci in `channels` and j < p1 − p0.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn pack_channels<T: Float, const NORM: bool>(
    x: &[T],
    g: &ConvGeom,
    norm: Option<&BnArgs<&[T]>>,
    channels: std::ops::Range<usize>,
    p0: usize,
    p1: usize,
    span: usize,
    buf: &mut [T],
) {
    let plane = g.in_plane();
    let c0 = channels.start;
    for ci in channels {
        let row = (ci - c0) * span;
        ChannelNorm::of(norm, ci).copy::<NORM>(&mut buf[row..row + (p1 - p0)], &x[ci * plane + p0..ci * plane + p1]);
    }
}

/// buf[ci][rr][c] = norm(x[ci, n, oy0 + rr − pad, c − pad]), zero outside the image.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pack_padded<T: Float, const NORM: bool>(x: &[T], g: &ConvGeom, norm: Option<&BnArgs<&[T]>>, n: usize, oy0: usize, rows_in: usize, buf: &mut [T]) {
    let wp = g.w + 2 * g.pad;
    let hw = g.h * g.w;
    for ci in 0..g.cin {
        let cn = ChannelNorm::of(norm, ci);
        let sample = &x[(ci * g.n + n) * hw..][..hw];
        let dst = &mut buf[ci * rows_in * wp..][..rows_in * wp];
        for (rr, drow) in dst.chunks_exact_mut(wp).enumerate() {
            let iy = (oy0 + rr) as isize - g.pad as isize;
            if iy < 0 || iy >= g.h as isize {
                drow.fill(T::ZERO);
                continue;
            }
            drow[..g.pad].fill(T::ZERO);
            drow[g.pad + g.w..].fill(T::ZERO);
            cn.copy::<NORM>(&mut drow[g.pad..g.pad + g.w], &sample[iy as usize * g.w..][..g.w]);
        }
    }
    let tail = g.cin * rows_in * wp;
    let end = buf.len();
    buf[tail..end].fill(T::ZERO);
}

/// Packs the im2col panel of output positions [p0, p1) (at most `span`): row (ci, ky, kx) of
/// `span` columns, column j = the input value that tap reads for position p0 + j (zero in the
/// padding and up to the next multiple of NR past p1). The item is cut into runs within one
/// output row first, so each panel row is a few strided copies (stride 2 for the ImageNet stem:
/// a constant-stride loop the compiler vectorizes).
#[inline(always)]
fn pack_gather<T: Float, const NORM: bool>(x: &[T], g: &ConvGeom, norm: Option<&BnArgs<&[T]>>, p0: usize, p1: usize, span: usize, buf: &mut [T]) {
    let (k, kk) = (g.kernel, g.kernel * g.kernel);
    let plane = g.n * g.h * g.w;
    let howo = g.ho * g.wo;
    // (first column, sample, output row, first output column, length) of each run.
    let mut runs = Vec::with_capacity((p1 - p0).div_ceil(g.wo.max(1)) + 1);
    let mut p = p0;
    while p < p1 {
        let (n, rem) = (p / howo, p % howo);
        let (oy, ox) = (rem / g.wo, rem % g.wo);
        let len = (g.wo - ox).min(p1 - p);
        runs.push((p - p0, n, oy, ox, len));
        p += len;
    }
    let (used, width) = (p1 - p0, (p1 - p0).div_ceil(NR) * NR);
    for ci in 0..g.cin {
        let cn = ChannelNorm::of(norm, ci);
        let xc = &x[ci * plane..(ci + 1) * plane];
        for ky in 0..k {
            for kx in 0..k {
                let row = &mut buf[(ci * kk + ky * k + kx) * span..][..width];
                row[used..].fill(T::ZERO);
                for &(j0, n, oy, ox0, len) in &runs {
                    let dst = &mut row[j0..j0 + len];
                    let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                    if iy < 0 || iy >= g.h as isize {
                        dst.fill(T::ZERO);
                        continue;
                    }
                    let src = &xc[(n * g.h + iy as usize) * g.w..][..g.w];
                    let inside = super::conv::tap_columns(g, kx);
                    let lo = inside.start.clamp(ox0, ox0 + len);
                    let hi = inside.end.clamp(lo, ox0 + len);
                    dst[..lo - ox0].fill(T::ZERO);
                    dst[hi - ox0..].fill(T::ZERO);
                    let ix0 = lo * g.stride + kx - g.pad;
                    let out = &mut dst[lo - ox0..hi - ox0];
                    match g.stride {
                        1 => copy_strided::<T, NORM, 1>(src, ix0, cn, out),
                        2 => copy_strided::<T, NORM, 2>(src, ix0, cn, out),
                        s => {
                            for (i, d) in out.iter_mut().enumerate() {
                                *d = cn.apply::<NORM>(src[ix0 + i * s]);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// out[i] = norm(src[ix0 + S·i]).
#[inline(always)]
fn copy_strided<T: Float, const NORM: bool, const S: usize>(src: &[T], ix0: usize, cn: ChannelNorm<T>, out: &mut [T]) {
    if out.is_empty() {
        return;
    }
    let rest = &src[ix0..];
    let src = &rest[..S * (out.len() - 1) + 1];
    #[cfg(target_arch = "x86_64")]
    if S == 2 && !NORM && TypeId::of::<T>() == TypeId::of::<f32>() && has_avx512() {
        // SAFETY: T is f32 (checked), the CPU has AVX-512F; `rest` holds at least 2·len − 1 values.
        unsafe { avx512::evens(rest.as_ptr() as *const f32, rest.len(), out.as_mut_ptr() as *mut f32, out.len()) };
        return;
    }
    for (i, d) in out.iter_mut().enumerate() {
        *d = cn.apply::<NORM>(src[S * i]);
    }
}

/// acc[m][j] = Σ_r wstrip[r·MR + m] · buf[offs[r] + start + j], in blocks of 4 × 8 that stay in
/// registers.
#[inline(always)]
fn micro_portable<T: Float>(wstrip: &[T], buf: &[T], offs: &[usize], start: usize, acc: &mut [[T; NR]; MR], _direct: Option<Direct<T>>, rows: usize) -> bool {
    const MB: usize = 4;
    const NB: usize = 8;
    const _: () = assert!(MR.is_multiple_of(MB));
    for m0 in (0..rows.min(MR)).step_by(MB) {
        for j0 in (0..NR).step_by(NB) {
            let mut c = [[T::ZERO; NB]; MB];
            for (r, &off) in offs.iter().enumerate() {
                let b: &[T; NB] = buf[off + start + j0..][..NB].try_into().unwrap();
                let a: &[T; MB] = wstrip[r * MR + m0..][..MB].try_into().unwrap();
                for i in 0..MB {
                    for j in 0..NB {
                        c[i][j] += a[i] * b[j];
                    }
                }
            }
            for i in 0..MB {
                acc[m0 + i][j0..j0 + NB].copy_from_slice(&c[i]);
            }
        }
    }
    false
}

/// Stores (or adds) strip `s` of a tile's result into output rows s·MR.., at each segment.
#[inline(always)]
fn write_strip<T: Float>(acc: &[[T; NR]; MR], s: usize, cout: usize, pout: usize, segs: &[Seg], out: SharedOut<T>, accumulate: bool) {
    for (m, row) in acc.iter().enumerate().take(cout.saturating_sub(s * MR).min(MR)) {
        let co = s * MR + m;
        for seg in segs {
            // SAFETY: co < Cout and the segment lies inside [0, pout), owned by this item.
            let dst = unsafe { std::slice::from_raw_parts_mut(out.0.add(co * pout + seg.pos), seg.len) };
            let src = &row[seg.j0..seg.j0 + seg.len];
            if accumulate {
                for (d, v) in dst.iter_mut().zip(src) {
                    *d += *v;
                }
            } else {
                dst.copy_from_slice(src);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    use super::*;
    use std::arch::x86_64::*;

    /// [`super::run_item`] for f32, compiled for AVX-512 (the packing loops vectorize at 16 lanes).
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) unsafe fn run_item(job: &Job<f32>, item: usize, buf: &mut [f32], offs: &mut Vec<usize>, segs: &mut Vec<Seg>, packed: &mut Option<usize>) {
        item_with(job, item, buf, offs, segs, packed, |w, b, o, st, acc, direct, rows| {
            debug_assert!(o.iter().all(|&off| off + st + NR <= b.len()) && w.len() >= o.len() * MR);
            // SAFETY: every row's NR values lie inside `buf` (the layouts size it with slack), the
            // strip holds offs.len() rows of MR weights, and `direct` names output this worker owns.
            unsafe { micro(w.as_ptr(), b.as_ptr().add(st), o, acc, direct, rows) }
        })
    }

    /// [`super::pack_rows`] for f32, compiled for AVX-512 (the packing loop vectorizes at 16 lanes).
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) unsafe fn pack_rows(x: &[f32], g: &ConvGeom, norm: Option<&BnArgs<&[f32]>>, channels: std::ops::Range<usize>, span: usize, chunk: &mut [f32]) {
        pack_rows_with(x, g, norm, channels, span, chunk)
    }

    /// dst[i] = src[2i] for i < len (`src` holds at least 2·len − 1 values): two loads and one
    /// permute per 16 values.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `src` and `dst` are valid for `src_len` ≥ 2·len − 1 and `len` values.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn evens(src: *const f32, src_len: usize, dst: *mut f32, len: usize) {
        debug_assert!(len == 0 || src_len + 1 >= 2 * len);
        unsafe {
            let idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            let mut i = 0;
            // A vector reads src[2i .. 2i + 32): one past the values needed, so it runs only
            // where `src` has that one more.
            while i + 16 <= len && 2 * i + 32 <= src_len {
                let lo = _mm512_loadu_ps(src.add(2 * i));
                let hi = _mm512_loadu_ps(src.add(2 * i + 16));
                _mm512_storeu_ps(dst.add(i), _mm512_permutex2var_ps(lo, idx, hi));
                i += 16;
            }
            while i < len {
                *dst.add(i) = *src.add(2 * i);
                i += 1;
            }
        }
    }

    /// The tile's product in registers: (positions 0..16, positions 16..32) of each of the MR
    /// output rows; 24 zmm accumulators, one FMA per weight and vector, rows in order.
    ///
    /// # Safety
    /// Rows offs[r] .. offs[r] + NR from `base` and offs.len() · MR weights are readable; the CPU
    /// has AVX-512F and FMA.
    #[target_feature(enable = "avx512f,fma")]
    #[inline]
    pub(crate) unsafe fn micro_regs(wstrip: *const f32, base: *const f32, offs: &[usize]) -> ([__m512; MR], [__m512; MR]) {
        unsafe { micro_rows::<MR>(wstrip, base, offs) }
    }

    /// [`micro_regs`] for the first `R` rows of the strip only: a strip past the last output
    /// channel (cout = 32: 12 + 12 + 8) runs no FMAs on its zero rows. Each row's sum is the
    /// same chain as in the full kernel.
    #[target_feature(enable = "avx512f,fma")]
    #[inline]
    unsafe fn micro_rows<const R: usize>(wstrip: *const f32, base: *const f32, offs: &[usize]) -> ([__m512; R], [__m512; R]) {
        unsafe {
            let mut lo = [_mm512_setzero_ps(); R];
            let mut hi = [_mm512_setzero_ps(); R];
            for (r, &off) in offs.iter().enumerate() {
                let b0 = _mm512_loadu_ps(base.add(off));
                let b1 = _mm512_loadu_ps(base.add(off + 16));
                let a = wstrip.add(r * MR);
                for m in 0..R {
                    let av = _mm512_set1_ps(*a.add(m));
                    lo[m] = _mm512_fmadd_ps(av, b0, lo[m]);
                    hi[m] = _mm512_fmadd_ps(av, b1, hi[m]);
                }
            }
            (lo, hi)
        }
    }

    /// acc = wstripᵀ × rows (see [`micro_regs`]) for the strip's first `rows` output rows (the
    /// rest of `acc` is left as it was).
    /// With `direct`, the result goes (or is added) straight to the output instead; returns
    /// whether it did.
    #[target_feature(enable = "avx512f,fma")]
    #[inline]
    pub(super) unsafe fn micro(wstrip: *const f32, base: *const f32, offs: &[usize], acc: &mut [[f32; NR]; MR], direct: Option<Direct<f32>>, rows: usize) -> bool {
        unsafe {
            match rows {
                0..=4 => micro_store::<4>(wstrip, base, offs, acc, direct),
                5..=8 => micro_store::<8>(wstrip, base, offs, acc, direct),
                _ => micro_store::<MR>(wstrip, base, offs, acc, direct),
            }
        }
    }

    #[target_feature(enable = "avx512f,fma")]
    #[inline]
    unsafe fn micro_store<const R: usize>(wstrip: *const f32, base: *const f32, offs: &[usize], acc: &mut [[f32; NR]; MR], direct: Option<Direct<f32>>) -> bool {
        unsafe {
            let (lo, hi) = micro_rows::<R>(wstrip, base, offs);
            if let Some(d) = direct {
                for m in 0..R {
                    if m < d.rows {
                        let p = d.ptr.add(m * d.stride);
                        let (mut l, mut h) = (lo[m], hi[m]);
                        if d.accumulate {
                            // The order of write_strip's `*d += v`: old value + new.
                            l = _mm512_add_ps(_mm512_loadu_ps(p), l);
                            h = _mm512_add_ps(_mm512_loadu_ps(p.add(16)), h);
                        }
                        _mm512_storeu_ps(p, l);
                        _mm512_storeu_ps(p.add(16), h);
                    }
                }
                return true;
            }
            for m in 0..R {
                _mm512_storeu_ps(acc[m].as_mut_ptr(), lo[m]);
                _mm512_storeu_ps(acc[m].as_mut_ptr().add(16), hi[m]);
            }
            false
        }
    }
}
