//! Dropout whose mask is a pure function of (seed, layer, element) (densenet_core's
//! `dropout_keep`): it is regenerated in the backward pass instead of stored, and is the same
//! whatever the thread count.

use densenet_core::backend::dropout_keep;
use densenet_core::{Float, MaskSource};
use rayon::prelude::*;

/// Multiplies y in place by mask / (1 - p): forward and backward are the same operation.
pub fn apply<T: Float>(y: &mut [T], p: f64, source: &MaskSource<&[T]>) {
    let scale = T::from_f64(1.0 / (1.0 - p));
    match source {
        MaskSource::Given(mask) => {
            y.par_iter_mut().zip(mask.par_iter()).for_each(|(v, m)| *v = *v * *m * scale);
        }
        MaskSource::Hashed { seed, layer } => {
            let keep = dropout_keep(*seed, *layer, p);
            y.par_iter_mut().enumerate().for_each(|(i, v)| {
                *v = if keep(i) { *v * scale } else { T::ZERO };
            });
        }
    }
}
