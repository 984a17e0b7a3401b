//! Packed convolution weights kept between inference calls.
//!
//! Packing a conv's weights into the micro-kernel's strips (`packed_conv::pack`) reads them from
//! memory in a transposing order; at batch 1 that was a sixth of a densenet121 forward. Weights
//! do not change between predict calls, so the packed copy is kept by parameter, for one version
//! of the model's parameters (`WeightKey`): a new version (a training step, loaded weights)
//! packs again. The copy costs the size of the fused convs' weights, which the memory estimate
//! counts in a fusing backend's inference figure.

use super::gemm::MatRef;
use super::packed_conv;
use densenet_core::geometry::ConvGeom;
use densenet_core::{Float, WeightKey};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Packed weights by parameter index, each with the parameter version it was packed at.
type Entries<T> = HashMap<usize, (u64, Arc<Vec<T>>)>;

/// The kept packed weights of one backend.
pub struct WeightCache<T> {
    entries: Mutex<Entries<T>>,
}

impl<T> Default for WeightCache<T> {
    fn default() -> Self {
        WeightCache { entries: Mutex::new(HashMap::new()) }
    }
}

impl<T: Float> WeightCache<T> {
    /// The packed weights of `key`, packed from `weight` (a [Cout, Cin·k²] view of conv `g`'s
    /// weights) unless this version of them is kept already.
    pub fn get(&self, key: WeightKey, weight: MatRef<T>, g: &ConvGeom) -> Arc<Vec<T>> {
        let len = packed_conv::packed_len(g);
        if let Some((version, wp)) = self.lock().get(&key.param) {
            if *version == key.version && wp.len() == len {
                return Arc::clone(wp);
            }
        }
        let wp = Arc::new(packed_conv::pack(weight, g));
        self.lock().insert(key.param, (key.version, Arc::clone(&wp)));
        wp
    }

    /// Drops every kept copy (the next call packs again).
    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn held_bytes(&self) -> usize {
        self.lock().values().map(|(_, wp)| wp.len() * std::mem::size_of::<T>()).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<T>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}
