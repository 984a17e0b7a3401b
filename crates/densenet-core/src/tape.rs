//! What the training forward keeps for the backward pass.
//!
//! Efficient mode keeps only the block feature buffers (each layer wrote its k channels in
//! place), the ImageNet stem's conv output, and per-channel BN statistics. Naive mode also
//! keeps, per layer, its concatenated input copy and every intermediate — the quadratic
//! memory of a straightforward implementation, kept as a reference and for comparison.

use crate::layers::head::HeadOut;
use crate::layers::stem::StemTape;
use crate::ops::batchnorm::BatchStats;

/// Intermediates a naive-mode layer stores instead of recomputing.
pub struct NaiveLayer<T> {
    /// Copy of the concatenated input [Cin, P].
    pub cat: Vec<T>,
    /// BN1-ReLU1 output.
    pub z: Vec<T>,
    /// Bottleneck conv output and its BN2-ReLU2 output (BC only).
    pub b: Vec<T>,
    pub z2: Vec<T>,
}

pub struct LayerTape<T> {
    pub s1: BatchStats<T>,
    pub s2: Option<BatchStats<T>>,
    pub naive: Option<NaiveLayer<T>>,
}

pub struct Tape<T> {
    /// The input in CNHW.
    pub input: Vec<T>,
    pub stem: StemTape<T>,
    /// One shared feature buffer per block, [width, N, H, W].
    pub blocks: Vec<Vec<T>>,
    pub layers: Vec<Vec<LayerTape<T>>>,
    pub transitions: Vec<BatchStats<T>>,
    pub head: HeadOut<T>,
}
