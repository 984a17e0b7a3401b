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

use super::packed_conv::{pack_band, pack_pointwise, Band, KernelScratch, Layout, PackScratch, PanelGuard};
use densenet_core::geometry::ConvGeom;
use densenet_core::{BnArgs, Float};
use rayon::prelude::*;

/// Output channels per tile.
const MW: usize = 6;
/// Weight rows per tile.
const RW: usize = 4;
/// Positions per vector (and the padding of a packed dy row).
const LANES: usize = 16;
/// Most partial sums a call keeps (groups of items reduced in parallel).
const GROUPS: usize = 16;

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
    let layout = Layout::of(g);
    assert!(!matches!(layout, Layout::Gather), "packed weight gradient of a strided conv");
    let (kdim, pout) = (g.k(), g.out_plane());
    if g.cout == 0 || kdim == 0 || pout == 0 {
        return;
    }
    assert!(x.len() >= g.cin * g.in_plane() && dy.len() >= g.cout * pout && dweight.len() >= g.cout * kdim, "weight-gradient operands too small");
    let items = layout.items(g);
    let groups = items.min(GROUPS);
    let part_len = g.cout * kdim;
    let dy_len = g.cout.div_ceil(MW) * MW * max_positions(&layout, g);
    let mut parts = ws.shared();
    if parts.len() < groups * part_len {
        parts.resize(groups * part_len, T::ZERO);
    }
    parts[..groups * part_len].par_chunks_mut(part_len).enumerate().for_each_init(
        || (PanelGuard::take(pack.per_worker(), layout.buffer_len(g)), PanelGuard::take(ws.per_worker(), dy_len), Vec::new()),
        |(buf, dyp, offs), (gi, part)| {
            part.fill(T::ZERO);
            for item in gi * items / groups..(gi + 1) * items / groups {
                let qp = pack_item(x, dy, g, norm, &layout, item, &mut buf.0, offs, &mut dyp.0);
                reduce(&dyp.0, qp, &buf.0, offs, part, g.cout, kdim);
            }
        },
    );
    for part in parts[..groups * part_len].chunks(part_len) {
        for (d, v) in dweight[..part_len].iter_mut().zip(part) {
            *d += *v;
        }
    }
}

/// Positions (rounded up to whole vectors) of the largest item.
fn max_positions(layout: &Layout, g: &ConvGeom) -> usize {
    match *layout {
        Layout::Pointwise { span } => span,
        Layout::Padded { band, .. } => (band * (g.w + 2 * g.pad)).div_ceil(LANES) * LANES,
        Layout::Gather => unreachable!("strided convs take the im2col path"),
    }
}

/// Packs item `item`'s input (into `buf`, rows at `offs`) and its dy ([Cout rounded to MW][qp],
/// zero at padding columns and past the end); returns qp, the row length, a multiple of LANES.
#[allow(clippy::too_many_arguments)]
fn pack_item<T: Float>(x: &[T], dy: &[T], g: &ConvGeom, norm: Option<&BnArgs<&[T]>>, layout: &Layout, item: usize, buf: &mut [T], offs: &mut Vec<usize>, dyp: &mut [T]) -> usize {
    let pout = g.out_plane();
    offs.clear();
    let rows = g.cout.div_ceil(MW) * MW;
    match *layout {
        Layout::Pointwise { span } => {
            let p0 = item * span;
            let p1 = (p0 + span).min(pout);
            let len = p1 - p0;
            let qp = len.div_ceil(LANES) * LANES;
            super::simd::vectorized(|| match norm {
                Some(a) => pack_pointwise::<T, true>(x, g, Some(a), p0, p1, span, buf),
                None => pack_pointwise::<T, false>(x, g, None, p0, p1, span, buf),
            });
            for ci in 0..g.cin {
                // Past the last position: zeros (dy is zero there, and 0 · stale data must not be NaN).
                buf[ci * span + len..ci * span + qp].fill(T::ZERO);
                offs.push(ci * span);
            }
            for co in 0..rows {
                let d = &mut dyp[co * qp..(co + 1) * qp];
                if co < g.cout {
                    d[..len].copy_from_slice(&dy[co * pout + p0..co * pout + p1]);
                    d[len..].fill(T::ZERO);
                } else {
                    d.fill(T::ZERO);
                }
            }
            qp
        }
        Layout::Padded { band, bands } => {
            let Band { n, oy0, oy1, wp, .. } = super::simd::vectorized(|| pack_band(x, g, norm, Band::of(g, band, bands, item), buf, offs));
            // Position q of the band is output (oy0 + q / wp, q % wp); columns ≥ Wo are padding.
            let qn = (oy1 - oy0 - 1) * wp + g.wo;
            let qp = qn.div_ceil(LANES) * LANES;
            let plane0 = n * g.ho * g.wo;
            for co in 0..rows {
                let d = &mut dyp[co * qp..(co + 1) * qp];
                d.fill(T::ZERO);
                if co >= g.cout {
                    continue;
                }
                for r in 0..oy1 - oy0 {
                    let src = &dy[co * pout + plane0 + (oy0 + r) * g.wo..][..g.wo];
                    d[r * wp..r * wp + g.wo].copy_from_slice(src);
                }
            }
            qp
        }
        Layout::Gather => unreachable!("strided convs take the im2col path"),
    }
}

/// part[co·kdim + r] += Σ_{q < qp} dyp[co·qp + q] · buf[offs[r] + q].
fn reduce<T: Float>(dyp: &[T], qp: usize, buf: &[T], offs: &[usize], part: &mut [T], cout: usize, kdim: usize) {
    debug_assert!(offs.iter().all(|&o| o + qp <= buf.len()) && dyp.len() >= cout.div_ceil(MW) * MW * qp);
    #[cfg(target_arch = "x86_64")]
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() && super::packed_conv::has_avx512() {
        // SAFETY: T is f32 (checked); every row read lies inside `buf` and `dyp` (asserted by
        // the packing sizes); the CPU has AVX-512F.
        unsafe {
            let f = |s: &[T]| s.as_ptr() as *const f32;
            let partf = std::slice::from_raw_parts_mut(part.as_mut_ptr() as *mut f32, part.len());
            return avx512::reduce(f(dyp), qp, f(buf), offs, partf, cout, kdim);
        }
    }
    super::simd::vectorized(|| reduce_portable(dyp, qp, buf, offs, part, cout, kdim))
}

#[inline(always)]
fn reduce_portable<T: Float>(dyp: &[T], qp: usize, buf: &[T], offs: &[usize], part: &mut [T], cout: usize, kdim: usize) {
    const L: usize = 8;
    for s in 0..cout.div_ceil(MW) {
        for r0 in (0..kdim).step_by(RW) {
            let mut acc = [[[T::ZERO; L]; RW]; MW];
            for q in (0..qp).step_by(L) {
                for (m, accm) in acc.iter_mut().enumerate() {
                    let a: &[T; L] = dyp[(s * MW + m) * qp + q..][..L].try_into().unwrap();
                    for (j, accj) in accm.iter_mut().enumerate() {
                        let b: &[T; L] = buf[offs[(r0 + j).min(kdim - 1)] + q..][..L].try_into().unwrap();
                        for l in 0..L {
                            accj[l] += a[l] * b[l];
                        }
                    }
                }
            }
            for (m, accm) in acc.iter().enumerate() {
                let co = s * MW + m;
                for (j, accj) in accm.iter().enumerate() {
                    if co < cout && r0 + j < kdim {
                        part[co * kdim + r0 + j] += accj.iter().copied().sum::<T>();
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

    /// [`super::reduce`] in f32: 6 × 4 zmm accumulators over 16 positions at a time.
    #[target_feature(enable = "avx512f,fma")]
    pub unsafe fn reduce(dyp: *const f32, qp: usize, buf: *const f32, offs: &[usize], part: &mut [f32], cout: usize, kdim: usize) {
        unsafe {
            for s in 0..cout.div_ceil(MW) {
                let arow = dyp.add(s * MW * qp);
                for r0 in (0..kdim).step_by(RW) {
                    let b: [*const f32; RW] = std::array::from_fn(|j| buf.add(offs[(r0 + j).min(kdim - 1)]));
                    let mut acc = [[_mm512_setzero_ps(); RW]; MW];
                    for q in (0..qp).step_by(16) {
                        let bv: [__m512; RW] = std::array::from_fn(|j| _mm512_loadu_ps(b[j].add(q)));
                        for (m, accm) in acc.iter_mut().enumerate() {
                            let a = _mm512_loadu_ps(arow.add(m * qp + q));
                            for j in 0..RW {
                                accm[j] = _mm512_fmadd_ps(a, bv[j], accm[j]);
                            }
                        }
                    }
                    for (m, accm) in acc.iter().enumerate() {
                        let co = s * MW + m;
                        for (j, v) in accm.iter().enumerate() {
                            if co < cout && r0 + j < kdim {
                                part[co * kdim + r0 + j] += _mm512_reduce_add_ps(*v);
                            }
                        }
                    }
                }
            }
        }
    }
}
