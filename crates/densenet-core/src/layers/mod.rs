//! The network's stages, each with its forward and backward side by side, over a shared
//! context of parameters, gradients and scratch buffers, generic over the backend.

pub mod bn_stats;
pub mod context;
pub mod dense_layer;
pub mod dense_layer_naive;
pub mod head;
pub mod partial_backward;
pub mod stem;
pub mod sync_bn;
pub mod transition;
