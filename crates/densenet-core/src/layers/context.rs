//! State shared by the stages during one pass.

use crate::float::Float;
use crate::ops::batchnorm::{self, BatchStats, BnArgs};
use crate::plan::BnRef;
use std::collections::HashMap;

/// How the training pass trades memory for recomputation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryMode {
    /// Shared block buffers, BN-ReLU and bottleneck recomputed in backward: memory linear in depth.
    Efficient,
    /// Every concatenation and intermediate stored: memory quadratic in depth.
    Naive,
}

/// Scratch buffers shared by every layer of a pass (sized for the widest use).
#[derive(Default)]
pub struct Scratch<T> {
    /// BN-ReLU output of a layer's concatenated input (and its gradient in backward).
    pub z: Vec<T>,
    /// Bottleneck conv output.
    pub b: Vec<T>,
    /// BN2-ReLU2 output (and its gradient in backward).
    pub z2: Vec<T>,
    /// Dropout-masked output gradient.
    pub d: Vec<T>,
    /// Transition conv output before pooling (and its gradient).
    pub t: Vec<T>,
    /// im2col columns.
    pub cols: Vec<T>,
}

/// Replayed dropout masks by layer name, CNHW, 1 = keep (tests against a reference).
pub type MaskOverrides<T> = HashMap<String, Vec<T>>;

pub struct Ctx<'a, T> {
    pub params: &'a [Vec<T>],
    pub grads: Option<&'a mut [Vec<T>]>,
    pub train: bool,
    pub mode: MemoryMode,
    pub drop_rate: f64,
    pub dropout_seed: u64,
    pub masks: Option<&'a MaskOverrides<T>>,
    pub scratch: Scratch<T>,
    pub bn_updates: Vec<(BnRef, BatchStats<T>)>,
}

impl<'a, T: Float> Ctx<'a, T> {
    /// Statistics for a BN call: batch statistics in training (queued for the running-stat
    /// update), running statistics in eval.
    pub fn stats(&mut self, bn: &BnRef, x: &[T], p: usize) -> BatchStats<T> {
        if self.train {
            let s = batchnorm::batch_stats(x, bn.channels, p);
            self.bn_updates.push((*bn, s.clone()));
            s
        } else {
            let (mean, invstd) = batchnorm::running_stats(&self.params[bn.mean], &self.params[bn.var]);
            BatchStats { mean, invstd, var_unbiased: Vec::new() }
        }
    }

    pub fn grads(&mut self) -> &mut [Vec<T>] {
        self.grads.as_deref_mut().expect("backward needs gradient storage")
    }
}

/// The arguments of one BN(-ReLU) call.
pub fn bn_args<'s, T>(params: &'s [Vec<T>], bn: &BnRef, s: &'s BatchStats<T>, relu: bool) -> BnArgs<'s, T> {
    BnArgs { gamma: &params[bn.weight], beta: &params[bn.bias], mean: &s.mean, invstd: &s.invstd, relu }
}

/// Two distinct mutable tensors of a list (e.g. a BN's dgamma and dbeta).
pub fn two_mut<T>(v: &mut [Vec<T>], i: usize, j: usize) -> (&mut [T], &mut [T]) {
    assert!(i < j);
    let (a, b) = v.split_at_mut(j);
    (&mut a[i], &mut b[0])
}

pub fn ensure<T: Float>(buf: &mut Vec<T>, len: usize) {
    if buf.len() < len {
        buf.resize(len, T::ZERO);
    }
}
