//! What the training forward keeps for the backward pass.
//!
//! Efficient mode keeps only the block feature buffers (each layer wrote its k channels in
//! place), the ImageNet stem's conv output and argmax, and per-channel BN statistics. Naive
//! mode also keeps, per layer, its concatenated input copy and every intermediate. When the
//! lowest stages are frozen (fine-tuning), the stages before the backward's frontier keep
//! nothing (their entries are None), as in inference.

use crate::backend::BatchStats;
use crate::layers::{dense_layer, dense_layer_naive, head::HeadOut, stem};

pub enum LayerTape<Buf> {
    Efficient(dense_layer::Tape<Buf>),
    Naive(dense_layer_naive::Tape<Buf>),
}

pub struct Tape<Buf, Idx> {
    /// The input in CNHW (kept when the stem trains).
    pub input: Option<Buf>,
    pub stem: stem::Tape<Buf, Idx>,
    /// One shared feature buffer per block, [width, N, H, W] (kept where backward reads it).
    pub blocks: Vec<Option<Buf>>,
    pub layers: Vec<Vec<Option<LayerTape<Buf>>>>,
    pub transitions: Vec<Option<BatchStats<Buf>>>,
    pub head: HeadOut<Buf>,
}
