//! State shared by the stages during one pass, and small helpers over backend views.

use crate::backend::{Backend, BatchStats, BnArgs, WeightKey};
use crate::collective::DeviceCollective;
use crate::error::Result;
use crate::float::Float;
use crate::freeze::Trainability;
use crate::geometry::ConvGeom;
use crate::plan::BnRef;
use std::collections::HashMap;

/// How the training pass trades memory for recomputation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryMode {
    /// Shared block buffers, BN-ReLU and bottleneck recomputed in backward: memory linear in depth.
    Efficient,
    /// Every concatenation and intermediate stored: memory quadratic in depth (the reference).
    Naive,
}

/// One scratch buffer of a pass: allocated on first use at the largest size the pass will need
/// (`planned`, from the plan), so that no layer grows it again, and not before it is needed (the
/// stem's own intermediates are gone by then).
pub struct Slot<Buf> {
    buf: Option<Buf>,
    planned: usize,
}

impl<Buf> Slot<Buf> {
    pub fn planned(planned: usize) -> Self {
        Slot { buf: None, planned }
    }

    /// The buffer, at least `len` elements long. Its values are whatever it last held (the
    /// previous layer's, or a pooled buffer's when it is new: `alloc_for_overwrite`): every user
    /// writes what it then reads.
    pub fn take<T: Float, B: Backend<T, Buf = Buf>>(&mut self, be: &B, len: usize) -> Result<Buf> {
        match self.buf.take() {
            Some(buf) if B::len(&buf) >= len => Ok(buf),
            other => {
                drop(other);
                be.alloc_for_overwrite(len.max(self.planned))
            }
        }
    }

    /// Gives the buffer back for the next layer.
    pub fn put(&mut self, buf: Buf) {
        self.buf = Some(buf);
    }
}

/// Scratch buffers shared by every layer of a pass.
pub struct Scratch<Buf> {
    /// BN-ReLU output of a layer's concatenated input (and its gradient in backward).
    pub z: Slot<Buf>,
    /// Bottleneck conv output.
    pub b: Slot<Buf>,
    /// BN2-ReLU2 output (and its gradient in backward).
    pub z2: Slot<Buf>,
    /// Dropout-masked output gradient.
    pub d: Slot<Buf>,
    /// Transition conv output before pooling (and its gradient).
    pub t: Slot<Buf>,
}

/// A running-statistics update waiting for the step to commit: (BN, batch mean, unbiased variance).
pub type PendingUpdate<Buf> = (BnRef, Buf, Buf);

pub struct Ctx<'a, T: Float, B: Backend<T>> {
    pub be: &'a B,
    pub params: &'a [B::Buf],
    pub grads: Option<&'a mut [B::Buf]>,
    pub train: bool,
    pub drop_rate: f64,
    pub dropout_seed: u64,
    /// Replayed dropout masks by layer name (tests against a reference run).
    pub masks: Option<&'a HashMap<String, B::Buf>>,
    pub scratch: Scratch<B::Buf>,
    pub bn_updates: Vec<PendingUpdate<B::Buf>>,
    /// Synchronized BN: the group whose global batch the BN statistics are taken over.
    pub sync: Option<&'a dyn DeviceCollective<T, B>>,
    /// Batch statistics of the current block buffer's leading channels (training; reset per block).
    pub feature_stats: Option<FeatureStats<B::Buf>>,
    /// BN backward terms the current block's layers deferred (backward; reset per block).
    pub deferred_bn: Option<DeferredBn<B::Buf>>,
    /// The version of `params` when the backend may keep weights between calls (inference);
    /// None in training, where each step changes them.
    pub weights_version: Option<u64>,
    /// Which parameters train (fine-tuning); None: all of them.
    pub trainability: Option<&'a Trainability>,
}

/// Per block channel c, the part of d(x)[c] that dense layers' BN backward left out
/// (`Backend::bn_conv_backward_deferred`): a[c] + b[c]·(x[c] − mean[c])·invstd[c], with the
/// block's statistics.
pub struct DeferredBn<Buf> {
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    pub mean: Buf,
    pub invstd: Buf,
}

impl<'a, T: Float, B: Backend<T>> Ctx<'a, T, B> {
    /// Whether parameter `param` gets a gradient in this pass.
    pub fn trains(&self, param: usize) -> bool {
        self.trainability.is_none_or(|t| t.trains(param))
    }

    /// Whether every parameter of `params` trains.
    pub fn trains_all(&self, params: &[usize]) -> bool {
        params.iter().all(|&p| self.trains(p))
    }

    /// Whether BN `bn` normalizes with its running statistics although the pass trains (a
    /// frozen BN in eval mode): its statistics are constants and its backward is
    /// `Backend::bn_backward_frozen`.
    pub fn bn_frozen_eval(&self, bn: &BnRef) -> bool {
        self.train && self.trainability.is_some_and(|t| t.bn_uses_running_stats(bn))
    }

    /// The key of parameter `param`'s weights where the backend may keep them (inference).
    pub fn weight_key(&self, param: usize) -> Option<WeightKey> {
        self.weights_version.map(|version| WeightKey { param, version })
    }

    /// Adds the deferred BN terms of block channels [c0, c0 + len) (block buffer `block`, P =
    /// `p` values per channel) into their gradient `g` (which starts at channel c0), and clears
    /// them.
    pub fn apply_deferred_bn(&mut self, block: B::Src<'_>, g: B::Dst<'_>, c0: usize, len: usize, p: usize) -> Result<()> {
        let Some(d) = self.deferred_bn.as_mut() else {
            return Ok(());
        };
        let end = (c0 + len).min(d.a.len());
        if c0 >= end {
            return Ok(());
        }
        let n = end - c0;
        let (mean, invstd) = (B::slice(B::src(&d.mean), c0..end), B::slice(B::src(&d.invstd), c0..end));
        self.be.bn_apply_deferred(B::slice(block, c0 * p..end * p), mean, invstd, &d.a[c0..end], &d.b[c0..end], n, p, B::slice_mut(g, 0..n * p))?;
        d.a[c0..end].fill(0.0);
        d.b[c0..end].fill(0.0);
        Ok(())
    }
}

/// Per-channel batch statistics of a block buffer's first `len(mean)` channels.
pub struct FeatureStats<Buf> {
    pub mean: Buf,
    pub invstd: Buf,
    pub var_unbiased: Buf,
}

/// The arguments of one BN(-ReLU) call.
pub fn bn_args<'s, T: Float, B: Backend<T>>(params: &'s [B::Buf], bn: &BnRef, s: &'s BatchStats<B::Buf>, relu: bool) -> BnArgs<B::Src<'s>> {
    BnArgs { gamma: B::src(&params[bn.weight]), beta: B::src(&params[bn.bias]), mean: B::src(&s.mean), invstd: B::src(&s.invstd), relu }
}

/// Two distinct mutable buffers of a list (e.g. a BN's dgamma and dbeta).
pub fn two_mut<X>(v: &mut [X], i: usize, j: usize) -> (&mut X, &mut X) {
    assert!(i < j);
    let (a, b) = v.split_at_mut(j);
    (&mut a[i], &mut b[0])
}

/// The first `len` elements of a buffer, read-only.
pub fn head<T: Float, B: Backend<T>>(buf: &B::Buf, len: usize) -> B::Src<'_> {
    B::slice(B::src(buf), 0..len)
}

/// The first `len` elements of a buffer, writable.
pub fn head_mut<T: Float, B: Backend<T>>(buf: &mut B::Buf, len: usize) -> B::Dst<'_> {
    B::slice_mut(B::dst(buf), 0..len)
}

/// A new buffer with the same contents.
pub fn clone_buf<T: Float, B: Backend<T>>(be: &B, buf: &B::Buf) -> Result<B::Buf> {
    let mut out = be.alloc(B::len(buf))?;
    be.copy(B::src(buf), B::dst(&mut out));
    Ok(out)
}

/// y = conv(BN-ReLU(x), weight): fused where the backend fuses (no normalized copy of x),
/// otherwise normalized into the scratch `slot` first.
/// `key`: the weights' key where the backend may keep them between calls (inference).
#[allow(clippy::too_many_arguments)]
pub fn bn_relu_conv<T: Float, B: Backend<T>>(
    be: &B,
    slot: &mut Slot<B::Buf>,
    x: B::Src<'_>,
    args: &BnArgs<B::Src<'_>>,
    weight: B::Src<'_>,
    key: Option<WeightKey>,
    g: &ConvGeom,
    y: B::Dst<'_>,
) -> Result<()> {
    if be.fuses_bn_conv(g) {
        return match key {
            Some(key) => be.bn_conv_forward_keyed(key, x, args, weight, g, y, false),
            None => be.bn_conv_forward(x, args, weight, g, y, false),
        };
    }
    let len = g.cin * g.in_plane();
    let mut z = slot.take(be, len)?;
    be.bn_forward(x, g.cin, g.in_plane(), args, head_mut::<T, B>(&mut z, len));
    be.conv_forward(head::<T, B>(&z, len), weight, g, y, false);
    slot.put(z);
    Ok(())
}
