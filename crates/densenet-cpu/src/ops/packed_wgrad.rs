//! Weight gradient of a convolution without im2col: dW[Cout, Cin·k²] += Σ_pos dy[co, pos] ·
//! cols[r, pos], where cols is read from the same packed items as the forward (see
//! `packed_conv`): a 1×1 conv's span of positions, or a stride-1 k×k conv's zero-padded band of
//! input rows, in which tap r of every position sits at a constant offset. dy is packed into
//! the item's coordinates (zero at the padding columns), and every (co, r) is a dot product
//! over the item's positions: MW × RW vector accumulators of 16 (f32) positions, summed across
//! lanes once per item.
//!
//! Items are grouped into at most [`GROUPS`] contiguous ranges fixed by the shape; a group adds
//! its items in order into its own partial sums and the partials are added in group order: the
//! same bits for any thread count.

use super::packed_conv::{pack_band, pack_channels, Band, KernelScratch, Layout, PackScratch, PanelGuard, ITEM_BUDGET};
use densenet_core::geometry::ConvGeom;
use densenet_core::{BnArgs, Float};
use rayon::prelude::*;

/// Output channels per tile.
pub(crate) const MW: usize = 6;
/// Weight rows per tile.
pub(crate) const RW: usize = 4;
/// Positions per vector (and the padding of a packed dy row).
pub(crate) const LANES: usize = 16;
/// Most partial sums a call keeps (groups of items reduced in parallel).
pub(crate) const GROUPS: usize = 16;

/// The weight gradient's scratch: the groups' partial sums and each worker's packed d(y).
pub type WgradScratch<T> = KernelScratch<T>;

/// Whether [`backward_weight`] takes this conv (1×1 and stride-1 k×k, with a fast kernel for T).
pub fn supports<T: Float>(g: &ConvGeom) -> bool {
    super::packed_conv::preferred::<T>(g)
}

/// dweight[Cout, Cin·k²] += d(y) × cols(norm(x))ᵀ. Only for convs [`supports`] accepts.
#[allow(clippy::too_many_arguments)]
pub fn backward_weight<T: Float>(x: &[T], dy: &[T], g: &ConvGeom, norm: Option<&BnArgs<&[T]>>, dweight: &mut [T], pack: &PackScratch<T>, ws: &WgradScratch<T>) {
    let _p = super::profile::scope(if g.is_pointwise() { "packed.wgrad1x1" } else { "packed.wgradkxk" });
    let items = Items::of(g);
    let (kdim, pout) = (g.k(), g.out_plane());
    if g.cout == 0 || kdim == 0 || pout == 0 {
        return;
    }
    assert!(x.len() >= g.cin * g.in_plane() && dy.len() >= g.cout * pout && dweight.len() >= g.cout * kdim, "weight-gradient operands too small");
    let count = items.count(g);
    let groups = count.min(GROUPS);
    let part_len = g.cout * kdim;
    let dy_len = g.cout.div_ceil(MW) * MW * row_pitch(items.max_positions(g));
    let mut parts = ws.shared();
    if parts.len() < groups * part_len {
        parts.resize(groups * part_len, T::ZERO);
    }
    parts[..groups * part_len].par_chunks_mut(part_len).enumerate().for_each_init(
        || (PanelGuard::take(pack.per_worker(), items.buffer_len(g)), PanelGuard::take(ws.per_worker(), dy_len), Vec::new()),
        |(buf, dyp, offs), (gi, part)| {
            part.fill(T::ZERO);
            for item in gi * count / groups..(gi + 1) * count / groups {
                items.run(x, dy, g, norm, item, &mut buf.0, offs, &mut dyp.0, part);
            }
        },
    );
    for part in parts[..groups * part_len].chunks(part_len) {
        for (d, v) in dweight[..part_len].iter_mut().zip(part) {
            *d += *v;
        }
    }
}

/// How the positions are cut into items.
#[derive(Clone, Copy)]
enum Items {
    /// 1×1: item i is positions [i·span, (i+1)·span) of every channel, packed `chunk` channels
    /// at a time, so that each dot product runs over the whole span (the lane sums are taken
    /// once per item and chunk) and every packed row is a long contiguous read.
    Pointwise { span: usize, chunk: usize },
    /// Stride-1 k×k: the forward's bands (see `packed_conv::Layout::Padded`).
    Padded { band: usize, bands: usize },
}

/// Most positions of a 1×1 item.
const POINTWISE_SPAN: usize = 1024;

/// Positions per 1×1 item: at least 8 items where there are enough positions (both threads
/// busy, and balanced), each a whole number of vectors, at most [`POINTWISE_SPAN`].
pub(crate) fn pointwise_span(g: &ConvGeom) -> usize {
    g.out_plane().div_ceil(8).div_ceil(LANES).clamp(1, POINTWISE_SPAN / LANES) * LANES
}

impl Items {
    fn of(g: &ConvGeom) -> Self {
        match Layout::of(g) {
            Layout::Pointwise { .. } => {
                let span = pointwise_span(g);
                let chunk = (ITEM_BUDGET / span / RW * RW).clamp(RW, g.cin.div_ceil(RW) * RW);
                Items::Pointwise { span, chunk }
            }
            Layout::Padded { band, bands } => Items::Padded { band, bands },
            Layout::Gather { .. } => panic!("packed weight gradient of a strided conv"),
        }
    }

    fn count(&self, g: &ConvGeom) -> usize {
        match *self {
            Items::Pointwise { span, .. } => g.out_plane().div_ceil(span),
            Items::Padded { band, bands } => Layout::Padded { band, bands }.items(g),
        }
    }

    fn buffer_len(&self, g: &ConvGeom) -> usize {
        match *self {
            Items::Pointwise { span, chunk } => chunk * row_pitch(span),
            Items::Padded { band, bands } => Layout::Padded { band, bands }.buffer_len(g),
        }
    }

    /// Positions (rounded up to whole vectors) of the largest item.
    fn max_positions(&self, g: &ConvGeom) -> usize {
        match *self {
            Items::Pointwise { span, .. } => span,
            Items::Padded { band, .. } => (band * (g.w + 2 * g.pad)).div_ceil(LANES) * LANES,
        }
    }

    /// Adds item `item`'s products into `part` ([Cout, Cin·k²]).
    #[allow(clippy::too_many_arguments)]
    fn run<T: Float>(&self, x: &[T], dy: &[T], g: &ConvGeom, norm: Option<&BnArgs<&[T]>>, item: usize, buf: &mut [T], offs: &mut Vec<usize>, dyp: &mut [T], part: &mut [T]) {
        let pout = g.out_plane();
        let kdim = g.k();
        let rows = g.cout.div_ceil(MW) * MW;
        match *self {
            Items::Pointwise { span, chunk } => {
                let p0 = item * span;
                let p1 = (p0 + span).min(pout);
                let len = p1 - p0;
                let qp = len.div_ceil(LANES) * LANES;
                let pitch = row_pitch(qp);
                for co in 0..rows {
                    let d = &mut dyp[co * pitch..co * pitch + qp];
                    if co < g.cout {
                        d[..len].copy_from_slice(&dy[co * pout + p0..co * pout + p1]);
                        d[len..].fill(T::ZERO);
                    } else {
                        d.fill(T::ZERO);
                    }
                }
                for c0 in (0..g.cin).step_by(chunk) {
                    let c1 = (c0 + chunk).min(g.cin);
                    super::simd::vectorized(|| match norm {
                        Some(a) => pack_channels::<T, true>(x, g, Some(a), c0..c1, p0, p1, pitch, buf),
                        None => pack_channels::<T, false>(x, g, None, c0..c1, p0, p1, pitch, buf),
                    });
                    offs.clear();
                    for r in 0..c1 - c0 {
                        // Past the last position: zeros (dy is zero there, and 0 · stale data must not be NaN).
                        buf[r * pitch + len..r * pitch + qp].fill(T::ZERO);
                        offs.push(r * pitch);
                    }
                    reduce(dyp, qp, pitch, buf, offs, &mut part[c0..], g.cout, kdim);
                }
            }
            Items::Padded { band, bands } => {
                let Band { n, oy0, oy1, wp, .. } = super::simd::vectorized(|| pack_band(x, g, norm, Band::of(g, band, bands, item), buf, offs));
                // Position q of the band is output (oy0 + q / wp, q % wp); columns ≥ Wo are padding.
                let qn = (oy1 - oy0 - 1) * wp + g.wo;
                let qp = qn.div_ceil(LANES) * LANES;
                let pitch = row_pitch(qp);
                let plane0 = n * g.ho * g.wo;
                for co in 0..rows {
                    let d = &mut dyp[co * pitch..co * pitch + qp];
                    d.fill(T::ZERO);
                    if co >= g.cout {
                        continue;
                    }
                    for r in 0..oy1 - oy0 {
                        let src = &dy[co * pout + plane0 + (oy0 + r) * g.wo..][..g.wo];
                        d[r * wp..r * wp + g.wo].copy_from_slice(src);
                    }
                }
                reduce(dyp, qp, pitch, buf, offs, part, g.cout, kdim);
            }
        }
    }
}

/// Distance between packed rows of `qp` positions: one vector more, so that rows a power of two
/// apart in memory (1 024 positions = 4 KiB) do not all fall into the same L1 cache sets.
pub(crate) fn row_pitch(qp: usize) -> usize {
    qp + LANES
}

/// part[co·stride + r] += Σ_{q < qp} dyp[co·pitch + q] · buf[offs[r] + q] for r < offs.len().
#[allow(clippy::too_many_arguments)]
pub(crate) fn reduce<T: Float>(dyp: &[T], qp: usize, pitch: usize, buf: &[T], offs: &[usize], part: &mut [T], cout: usize, stride: usize) {
    let rows = offs.len();
    if rows == 0 {
        return;
    }
    assert!(offs.iter().all(|&o| o + qp <= buf.len()) && qp <= pitch && dyp.len() >= cout.div_ceil(MW) * MW * pitch, "packed operands too small");
    assert!(rows <= stride && part.len() >= (cout - 1) * stride + rows, "partial sums too small");
    #[cfg(target_arch = "x86_64")]
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() && super::packed_conv::has_avx512() {
        // SAFETY: T is f32 (checked); every row read lies inside `buf` and `dyp` and every sum
        // written inside `part` (asserted above); the CPU has AVX-512F.
        unsafe {
            let f = |s: &[T]| s.as_ptr() as *const f32;
            return avx512::reduce(f(dyp), qp, pitch, f(buf), offs, part.as_mut_ptr() as *mut f32, cout, stride);
        }
    }
    super::simd::vectorized(|| reduce_portable(dyp, qp, pitch, buf, offs, part, cout, stride))
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn reduce_portable<T: Float>(dyp: &[T], qp: usize, pitch: usize, buf: &[T], offs: &[usize], part: &mut [T], cout: usize, stride: usize) {
    const L: usize = 8;
    let rows = offs.len();
    for s in 0..cout.div_ceil(MW) {
        for r0 in (0..rows).step_by(RW) {
            let mut acc = [[[T::ZERO; L]; RW]; MW];
            for q in (0..qp).step_by(L) {
                for (m, accm) in acc.iter_mut().enumerate() {
                    let a: &[T; L] = dyp[(s * MW + m) * pitch + q..][..L].try_into().unwrap();
                    for (j, accj) in accm.iter_mut().enumerate() {
                        let b: &[T; L] = buf[offs[(r0 + j).min(rows - 1)] + q..][..L].try_into().unwrap();
                        for l in 0..L {
                            accj[l] += a[l] * b[l];
                        }
                    }
                }
            }
            for (m, accm) in acc.iter().enumerate() {
                let co = s * MW + m;
                for (j, accj) in accm.iter().enumerate() {
                    if co < cout && r0 + j < rows {
                        part[co * stride + r0 + j] += accj.iter().copied().sum::<T>();
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{MW, RW};
    use std::arch::x86_64::*;

    /// Positions per block of the dot products (2 KiB of each row).
    const QB: usize = 512;

    /// [`super::reduce`] in f32: 6 × 4 zmm accumulators over 16 positions at a time; each
    /// row of four is summed across lanes together (a transpose-and-add, not four reductions).
    ///
    /// # Safety
    /// Every row of `offs` holds `qp` values in `buf`, `dyp` holds Cout (rounded up to MW) rows
    /// `pitch` apart, `part` holds (Cout − 1)·stride + offs.len() values; the CPU has AVX-512F.
    #[target_feature(enable = "avx512f,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn reduce(dyp: *const f32, qp: usize, pitch: usize, buf: *const f32, offs: &[usize], part: *mut f32, cout: usize, stride: usize) {
        let rows = offs.len();
        unsafe {
            // Blocks of positions small enough that a strip's MW rows of d(y) stay in L1 while
            // every weight row's block streams past them.
            for q0 in (0..qp).step_by(QB) {
                let q1 = (q0 + QB).min(qp);
                for s in 0..cout.div_ceil(MW) {
                    let arow = dyp.add(s * MW * pitch);
                    for r0 in (0..rows).step_by(RW) {
                        let b: [*const f32; RW] = std::array::from_fn(|j| buf.add(offs[(r0 + j).min(rows - 1)]));
                        let mut acc = [[_mm512_setzero_ps(); RW]; MW];
                        for q in (q0..q1).step_by(16) {
                            let bv: [__m512; RW] = std::array::from_fn(|j| _mm512_loadu_ps(b[j].add(q)));
                            for (m, accm) in acc.iter_mut().enumerate() {
                                let a = _mm512_loadu_ps(arow.add(m * pitch + q));
                                for j in 0..RW {
                                    accm[j] = _mm512_fmadd_ps(a, bv[j], accm[j]);
                                }
                            }
                        }
                        for (m, accm) in acc.iter().enumerate() {
                            let co = s * MW + m;
                            if co >= cout {
                                break;
                            }
                            let sums = lane_sums(accm);
                            let dst = part.add(co * stride + r0);
                            if r0 + RW <= rows {
                                _mm_storeu_ps(dst, _mm_add_ps(_mm_loadu_ps(dst), sums));
                            } else {
                                let mut v = [0f32; RW];
                                _mm_storeu_ps(v.as_mut_ptr(), sums);
                                for (j, x) in v.iter().enumerate().take(rows - r0) {
                                    *dst.add(j) += x;
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// [Σ lanes of v[0], …, Σ lanes of v[3]].
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn lane_sums(v: &[__m512; RW]) -> __m128 {
        // Per 128-bit block: [a0+a2, b0+b2, a1+a3, b1+b3] and the same for c, d.
        let ab = _mm512_add_ps(_mm512_unpacklo_ps(v[0], v[1]), _mm512_unpackhi_ps(v[0], v[1]));
        let cd = _mm512_add_ps(_mm512_unpacklo_ps(v[2], v[3]), _mm512_unpackhi_ps(v[2], v[3]));
        // Per block: [a, b, c, d] summed over the block's four lanes.
        let s = _mm512_add_ps(_mm512_shuffle_ps::<0x44>(ab, cd), _mm512_shuffle_ps::<0xEE>(ab, cd));
        // Add the four blocks.
        let t = _mm512_add_ps(s, _mm512_shuffle_f32x4::<0x4E>(s, s));
        let t = _mm512_add_ps(t, _mm512_shuffle_f32x4::<0xB1>(t, t));
        _mm512_castps512_ps128(t)
    }
}
