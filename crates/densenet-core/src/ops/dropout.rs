//! Dropout whose mask is a pure function of (seed, layer, element): it is regenerated in the
//! backward pass instead of stored, and is the same whatever the thread count.

use crate::float::Float;
use rayon::prelude::*;

#[inline]
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Where a layer's keep-mask comes from.
pub enum MaskSource<'a, T> {
    /// Derived from the step's seed and the layer id.
    Hashed { seed: u64, layer: usize },
    /// Given explicitly (1 = keep, 0 = drop), e.g. replayed from a reference run.
    Given(&'a [T]),
}

/// Multiplies y in place by mask / (1 - p): forward and backward are the same operation.
pub fn apply<T: Float>(y: &mut [T], p: f64, source: &MaskSource<T>) {
    let scale = T::from_f64(1.0 / (1.0 - p));
    match source {
        MaskSource::Given(mask) => {
            y.par_iter_mut().zip(mask.par_iter()).for_each(|(v, m)| *v = *v * *m * scale);
        }
        MaskSource::Hashed { seed, layer } => {
            let base = splitmix64(seed ^ (*layer as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
            let threshold = (p * (1u64 << 53) as f64) as u64;
            y.par_iter_mut().enumerate().for_each(|(i, v)| {
                let keep = splitmix64(base.wrapping_add(i as u64)) >> 11 >= threshold;
                *v = if keep { *v * scale } else { T::ZERO };
            });
        }
    }
}
