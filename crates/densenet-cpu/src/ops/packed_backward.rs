//! Backward of a 1×1 convolution that reads BN(+ReLU)(x), a dense layer's bottleneck conv or a
//! transition's conv, in one pass over x. The items are the weight gradient's (see
//! `packed_wgrad`): a span of positions whose channels are packed, normalized, a chunk at a
//! time. Each packed chunk gives
//!
//! - its columns of the weight gradient, dW[:, chunk] += d(y) · BN-ReLU(x)[chunk]ᵀ, and
//! - its rows of the input gradient, g = ReLU mask ⊙ (Wᵀ d(y))[chunk], tile by tile with the
//!   forward's micro-kernel (Wᵀ packed as its weights, the packed d(y) as its rows). While a
//!   tile is in cache, g is stored and summed per channel into BN backward's Σg and Σg·x̂.
//!
//! What is left of BN backward is its per-element d(x) pass (`batchnorm::backward_with_sums`):
//! no separate GEMM for the input gradient and no sums pass re-reading x and g from memory.
//! Partial weight gradients and sums are kept per fixed group of items and added in group order:
//! the same bits for any thread count.

use super::gemm::MatRef;
use super::packed_conv::{pack_channels, pack_weights, tile_product, PackScratch, PanelGuard, ITEM_BUDGET, MR, NR};
use super::packed_wgrad::{pointwise_span, reduce, row_pitch, WgradScratch, GROUPS, LANES, MW};
use densenet_core::geometry::ConvGeom;
use densenet_core::{BnArgs, Float};
use rayon::prelude::*;

/// Whether [`bn_conv1x1_backward`] takes this conv: a 1×1 conv with a fast kernel for T.
pub fn supports<T: Float>(g: &ConvGeom) -> bool {
    g.is_pointwise() && super::packed_wgrad::supports::<T>(g)
}

/// For y = conv1×1(BN-ReLU(x), W): dweight += d(y) · BN-ReLU(x)ᵀ, g = d(BN output) with the
/// ReLU mask applied ([Cin, P]) goes to `g_out` (or, with `scale`, g_out[c] += scale[c]·g), and
/// returns per input channel (Σ g, Σ g·x̂), the sums `batchnorm::backward_with_sums` takes.
/// `weight` is [Cout, Cin].
#[allow(clippy::too_many_arguments)]
pub fn bn_conv1x1_backward<T: Float>(
    x: &[T],
    dy: &[T],
    weight: &[T],
    g: &ConvGeom,
    norm: &BnArgs<&[T]>,
    dweight: &mut [T],
    g_out: &mut [T],
    scale: Option<&[T]>,
    pack: &PackScratch<T>,
    ws: &WgradScratch<T>,
) -> Vec<(f64, f64)> {
    let _p = super::profile::scope("packed.bn_conv1x1_backward");
    assert!(g.is_pointwise(), "bn_conv1x1_backward takes 1×1 stride-1 convs");
    let (cin, cout, p) = (g.cin, g.cout, g.out_plane());
    assert!(x.len() >= cin * p && dy.len() >= cout * p && g_out.len() >= cin * p, "backward operands too small");
    assert!(weight.len() >= cout * cin && dweight.len() >= cout * cin, "weights too small");
    assert!(norm.mean.len() >= cin && norm.invstd.len() >= cin && norm.gamma.len() >= cin && norm.beta.len() >= cin, "BN arguments shorter than the input channels");
    if cin == 0 || p == 0 {
        return vec![(0.0, 0.0); cin];
    }
    assert!(scale.is_none_or(|s| s.len() >= cin), "one scale per input channel");
    if cout == 0 {
        if scale.is_none() {
            g_out[..cin * p].fill(T::ZERO);
        }
        return vec![(0.0, 0.0); cin];
    }
    let span = pointwise_span(g);
    let pitch = row_pitch(span);
    // A multiple of MR (the input gradient's strips) and so of RW (the weight gradient's rows).
    let chunk = (ITEM_BUDGET / pitch / MR * MR).clamp(MR, cin.div_ceil(MR) * MR);
    let items = p.div_ceil(span);
    let groups = items.min(GROUPS);
    // Wᵀ as the micro-kernel's weights: strips of MR input channels, Cout rows each.
    let mut wt = pack.shared();
    pack_weights(MatRef::rows_t(weight, cin), cin, cout, &mut wt);
    let wt = &wt[..cin.div_ceil(MR) * cout * MR];
    let part_len = cout * cin;
    let mut parts = ws.shared();
    if parts.len() < groups * part_len {
        parts.resize(groups * part_len, T::ZERO);
    }
    let mut sums = vec![(0f64, 0f64); groups * cin];
    let job = Job { x, dy, wt, g, norm, span, pitch, chunk, out: SharedMut(g_out.as_mut_ptr()), scale };
    let dy_len = cout.div_ceil(MW) * MW * pitch;
    parts[..groups * part_len].par_chunks_mut(part_len).zip(sums.par_chunks_mut(cin)).enumerate().for_each_init(
        || Work { buf: PanelGuard::take(pack.per_worker(), chunk * pitch), dyp: PanelGuard::take(ws.per_worker(), dy_len), offs: Vec::new(), dy_offs: Vec::new() },
        |work, (gi, (part, sum))| {
            part.fill(T::ZERO);
            for item in gi * items / groups..(gi + 1) * items / groups {
                // SAFETY: items write g_out at disjoint positions of every channel, and g_out
                // holds Cin rows of P (asserted above).
                super::simd::vectorized(|| unsafe { run_item(&job, item, work, part, sum) });
            }
        },
    );
    for part in parts[..groups * part_len].chunks(part_len) {
        for (d, v) in dweight[..part_len].iter_mut().zip(part) {
            *d += *v;
        }
    }
    (0..cin).map(|c| (0..groups).fold((0.0, 0.0), |(a, b), gi| (a + sums[gi * cin + c].0, b + sums[gi * cin + c].1))).collect()
}

/// One call's operands, shared by its workers.
struct Job<'a, T> {
    x: &'a [T],
    dy: &'a [T],
    /// Wᵀ packed in strips of MR input channels.
    wt: &'a [T],
    g: &'a ConvGeom,
    norm: &'a BnArgs<&'a [T]>,
    span: usize,
    pitch: usize,
    chunk: usize,
    out: SharedMut<T>,
    /// Accumulate scale·g into `out` instead of storing g.
    scale: Option<&'a [T]>,
}

/// A worker's reused buffers: a packed chunk of x, the packed d(y), their row offsets.
struct Work<'s, T> {
    buf: PanelGuard<'s, T>,
    dyp: PanelGuard<'s, T>,
    offs: Vec<usize>,
    dy_offs: Vec<usize>,
}

struct SharedMut<T>(*mut T);
// SAFETY: workers write disjoint positions (see `bn_conv1x1_backward`).
unsafe impl<T> Send for SharedMut<T> {}
unsafe impl<T> Sync for SharedMut<T> {}

/// Adds item `item`'s weight-gradient products into `part` ([Cout, Cin]) and its channel sums
/// into `sum`, and stores its positions of g.
///
/// # Safety
/// No other worker writes this item's positions of `job.out` ([Cin, P]).
#[inline(always)]
unsafe fn run_item<T: Float>(job: &Job<T>, item: usize, work: &mut Work<T>, part: &mut [T], sum: &mut [(f64, f64)]) {
    let Job { x, dy, wt, g, norm, span, pitch, chunk, .. } = *job;
    let (cin, cout, p) = (g.cin, g.cout, g.out_plane());
    let p0 = item * span;
    let p1 = (p0 + span).min(p);
    let len = p1 - p0;
    let qp = len.div_ceil(LANES) * LANES;
    let (buf, dyp) = (&mut work.buf.0, &mut work.dyp.0);
    for co in 0..cout.div_ceil(MW) * MW {
        let d = &mut dyp[co * pitch..co * pitch + qp];
        if co < cout {
            d[..len].copy_from_slice(&dy[co * p + p0..co * p + p1]);
            d[len..].fill(T::ZERO);
        } else {
            d.fill(T::ZERO);
        }
    }
    work.dy_offs.clear();
    work.dy_offs.extend((0..cout).map(|co| co * pitch));
    let mut acc = [[T::ZERO; NR]; MR];
    for c0 in (0..cin).step_by(chunk) {
        let c1 = (c0 + chunk).min(cin);
        pack_channels::<T, true>(x, g, Some(norm), c0..c1, p0, p1, pitch, buf);
        work.offs.clear();
        for r in 0..c1 - c0 {
            // Past the last position: zeros (dy is zero there, and 0 · stale data must not be NaN).
            buf[r * pitch + len..r * pitch + qp].fill(T::ZERO);
            work.offs.push(r * pitch);
        }
        reduce(dyp, qp, pitch, buf, &work.offs, &mut part[c0..], cout, cin);
        // The input gradient of channels c0..c1, MR at a time (c0 is a multiple of MR).
        for s in 0..(c1 - c0).div_ceil(MR) {
            let ci0 = c0 + s * MR;
            let rows = (c1 - ci0).min(MR);
            let wstrip = &wt[(ci0 / MR) * cout * MR..][..cout * MR];
            let mut lane_g = [[T::ZERO; LANES]; MR];
            let mut lane_gx = [[T::ZERO; LANES]; MR];
            #[cfg(target_arch = "x86_64")]
            if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() && super::packed_conv::has_avx512() {
                assert!(work.dy_offs.iter().all(|&o| o + len.div_ceil(NR) * NR <= dyp.len()), "packed d(y) too small");
                // SAFETY: T is f32 (checked), so the casts are identities; the d(y) rows hold
                // every tile's NR positions (asserted), x and the output hold channels
                // ci0..ci0 + rows at positions p0..p1 (the caller's sizes), which only this item
                // writes; the CPU has AVX-512F and FMA.
                unsafe {
                    let f = |s: &[T]| s.as_ptr() as *const f32;
                    let bn: [[f32; 5]; MR] = std::array::from_fn(|m| {
                        let ci = (ci0 + m).min(cin - 1);
                        let c = ChannelBn::of(norm, ci);
                        let scale = job.scale.map_or(T::ONE, |s| s[ci]);
                        [c.mean, c.invstd, c.gamma, c.beta, scale].map(|v| v.to_f64() as f32)
                    });
                    let lanes = |l: &mut [[T; LANES]; MR]| &mut *(l as *mut [[T; LANES]; MR] as *mut [[f32; LANES]; MR]);
                    let at = ci0 * p + p0;
                    avx512::strip(
                        f(wstrip),
                        f(dyp),
                        &work.dy_offs,
                        rows,
                        len,
                        f(x).add(at),
                        (job.out.0 as *mut f32).add(at),
                        p,
                        &bn,
                        norm.relu,
                        job.scale.is_some(),
                        lanes(&mut lane_g),
                        lanes(&mut lane_gx),
                    );
                }
                for m in 0..rows {
                    let s = &mut sum[ci0 + m];
                    s.0 += lane_g[m].iter().map(|v| v.to_f64()).sum::<f64>();
                    s.1 += lane_gx[m].iter().map(|v| v.to_f64()).sum::<f64>();
                }
                continue;
            }
            for j0 in (0..len).step_by(NR) {
                let tl = NR.min(len - j0);
                tile_product(wstrip, dyp, &work.dy_offs, j0, &mut acc);
                for m in 0..rows {
                    let ci = ci0 + m;
                    let at = ci * p + p0 + j0;
                    // SAFETY: [at, at + tl) is this item's positions of channel ci < Cin.
                    let out = unsafe { std::slice::from_raw_parts_mut(job.out.0.add(at), tl) };
                    mask_and_sum(&acc[m][..tl], &x[at..at + tl], out, job.scale.map(|s| s[ci]), ChannelBn::of(norm, ci), &mut lane_g[m], &mut lane_gx[m]);
                }
            }
            for m in 0..rows {
                let s = &mut sum[ci0 + m];
                s.0 += lane_g[m].iter().map(|v| v.to_f64()).sum::<f64>();
                s.1 += lane_gx[m].iter().map(|v| v.to_f64()).sum::<f64>();
            }
        }
    }
}

/// One channel's BN(+ReLU) parameters.
#[derive(Clone, Copy)]
struct ChannelBn<T> {
    mean: T,
    invstd: T,
    gamma: T,
    beta: T,
    relu: bool,
}

impl<T: Float> ChannelBn<T> {
    #[inline(always)]
    fn of(a: &BnArgs<&[T]>, c: usize) -> Self {
        ChannelBn { mean: a.mean[c], invstd: a.invstd[c], gamma: a.gamma[c], beta: a.beta[c], relu: a.relu }
    }
}

/// g = d masked by the ReLU recomputed from x (the test of `batchnorm::backward`) goes to out
/// (out += scale·g with a scale), and the lane sums of g and g·x̂ are accumulated.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn mask_and_sum<T: Float>(d: &[T], x: &[T], out: &mut [T], scale: Option<T>, c: ChannelBn<T>, lane_g: &mut [T; LANES], lane_gx: &mut [T; LANES]) {
    let put = |o: &mut T, gv: T| match scale {
        Some(s) => *o += s * gv,
        None => *o = gv,
    };
    let mut ds = d.chunks_exact(LANES);
    let mut xs = x.chunks_exact(LANES);
    let mut os = out.chunks_exact_mut(LANES);
    for ((dv, xv), ov) in (&mut ds).zip(&mut xs).zip(&mut os) {
        for j in 0..LANES {
            let xhat = (xv[j] - c.mean) * c.invstd;
            let gv = dv[j].zero_unless(!c.relu | (xhat * c.gamma + c.beta > T::ZERO));
            put(&mut ov[j], gv);
            lane_g[j] += gv;
            lane_gx[j] += gv * xhat;
        }
    }
    for (j, ((dv, xv), ov)) in ds.remainder().iter().zip(xs.remainder()).zip(os.into_remainder()).enumerate() {
        let xhat = (*xv - c.mean) * c.invstd;
        let gv = dv.zero_unless(!c.relu | (xhat * c.gamma + c.beta > T::ZERO));
        put(ov, gv);
        lane_g[j] += gv;
        lane_gx[j] += gv * xhat;
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::super::packed_conv::avx512::micro_regs;
    use super::{LANES, MR, NR};
    use std::arch::x86_64::*;

    /// The input gradient of one strip of MR input channels over an item's `len` positions:
    /// per tile, the micro-kernel's product in registers is masked by the ReLU recomputed from
    /// x (the formula of `mask_and_sum`), stored to `out` (or added, scaled, with `accumulate`) and
    /// added into the lane sums.
    ///
    /// # Safety
    /// `dyp` rows (at `offs`) hold len rounded up to NR positions; `x` and `out` hold `rows`
    /// channel rows `p` apart with `len` positions each, `out` owned by the caller; the CPU has
    /// AVX-512F and FMA.
    #[target_feature(enable = "avx512f,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn strip(
        wstrip: *const f32,
        dyp: *const f32,
        offs: &[usize],
        rows: usize,
        len: usize,
        x: *const f32,
        out: *mut f32,
        p: usize,
        bn: &[[f32; 5]; MR],
        relu: bool,
        accumulate: bool,
        lane_g: &mut [[f32; LANES]; MR],
        lane_gx: &mut [[f32; LANES]; MR],
    ) {
        unsafe {
            let zero = _mm512_setzero_ps();
            for j0 in (0..len).step_by(NR) {
                let tl = NR.min(len - j0);
                let (lo, hi) = micro_regs(wstrip, dyp.add(j0), offs);
                // Lanes of the two vectors inside the tile.
                let kl: __mmask16 = if tl >= 16 { 0xFFFF } else { (1u32 << tl) as u16 - 1 };
                let kh: __mmask16 = if tl >= NR {
                    0xFFFF
                } else if tl > 16 {
                    (1u32 << (tl - 16)) as u16 - 1
                } else {
                    0
                };
                for m in 0..MR {
                    if m >= rows {
                        break;
                    }
                    let [mean, invstd, gamma, beta, scale] = bn[m].map(|v| _mm512_set1_ps(v));
                    let (xr, or) = (x.add(m * p + j0), out.add(m * p + j0));
                    let mut sg = _mm512_loadu_ps(lane_g[m].as_ptr());
                    let mut sgx = _mm512_loadu_ps(lane_gx[m].as_ptr());
                    for (h, (v, k)) in [(lo[m], kl), (hi[m], kh)].into_iter().enumerate() {
                        let xv = _mm512_maskz_loadu_ps(k, xr.add(16 * h));
                        let xhat = _mm512_mul_ps(_mm512_sub_ps(xv, mean), invstd);
                        let t = _mm512_add_ps(_mm512_mul_ps(xhat, gamma), beta);
                        let keep = if relu { _mm512_mask_cmp_ps_mask::<_CMP_GT_OQ>(k, t, zero) } else { k };
                        let gv = _mm512_maskz_mov_ps(keep, v);
                        // With `accumulate`: out += scale·g (the order of `mask_and_sum`).
                        let st = if accumulate { _mm512_add_ps(_mm512_maskz_loadu_ps(k, or.add(16 * h)), _mm512_mul_ps(scale, gv)) } else { gv };
                        _mm512_mask_storeu_ps(or.add(16 * h), k, st);
                        sg = _mm512_add_ps(sg, gv);
                        sgx = _mm512_add_ps(sgx, _mm512_mul_ps(gv, xhat));
                    }
                    _mm512_storeu_ps(lane_g[m].as_mut_ptr(), sg);
                    _mm512_storeu_ps(lane_gx[m].as_mut_ptr(), sgx);
                }
            }
        }
    }
}
