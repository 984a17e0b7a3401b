//! The statistics each BN call normalizes with: batch statistics in training (global over the
//! group with synchronized BN, the running-statistics update queued on the context), running
//! statistics in eval; a block's channel statistics computed once and reused by later layers.

use super::context::{clone_buf, Ctx, FeatureStats};
use super::sync_bn::global_stats;
use crate::backend::{Backend, BatchStats};
use crate::error::Result;
use crate::float::Float;
use crate::plan::BnRef;

impl<'a, T: Float, B: Backend<T>> Ctx<'a, T, B> {
    /// Statistics for a BN call: batch statistics in training (the running-stat update is
    /// queued), running statistics in eval.
    pub fn stats(&mut self, bn: &BnRef, x: B::Src<'_>, p: usize) -> Result<BatchStats<B::Buf>> {
        if self.train && !self.bn_frozen_eval(bn) {
            let mut s = self.be.bn_stats(x, bn.channels, p)?;
            if let Some(comm) = self.sync {
                s = global_stats(self.be, comm, s, p)?;
            }
            let var = s.var_unbiased.take().expect("batch statistics carry the unbiased variance");
            let mean = clone_buf(self.be, &s.mean)?;
            self.bn_updates.push((*bn, mean, var));
            Ok(s)
        } else {
            self.be.bn_running_stats(B::src(&self.params[bn.mean]), B::src(&self.params[bn.var]))
        }
    }

    /// [`Ctx::stats`] for a BN over the block buffer's first `bn.channels` channels.
    ///
    /// A channel's batch statistics are the same for every layer that reads it (its values do
    /// not change once written), so in training they are computed once, by the first BN that
    /// reads the channel, and copied for the later ones: a block makes O(L) statistics passes
    /// instead of O(L²). Per-channel reductions, so the same bits as computing all of them.
    pub fn block_stats(&mut self, bn: &BnRef, x: B::Src<'_>, p: usize) -> Result<BatchStats<B::Buf>> {
        if !self.train || self.bn_frozen_eval(bn) {
            return self.stats(bn, x, p);
        }
        let be = self.be;
        let c = bn.channels;
        let known = self.feature_stats.as_ref().map_or(0, |s| B::len(&s.mean)).min(c);
        let mut fresh = be.bn_stats(B::slice(x, known * p..c * p), c - known, p)?;
        if let Some(comm) = self.sync {
            fresh = global_stats(be, comm, fresh, p)?;
        }
        let fresh_var = fresh.var_unbiased.take().expect("batch statistics carry the unbiased variance");
        let joined = match self.feature_stats.take() {
            Some(old) if known > 0 => FeatureStats {
                mean: join(be, &old.mean, &fresh.mean, known, c)?,
                invstd: join(be, &old.invstd, &fresh.invstd, known, c)?,
                var_unbiased: join(be, &old.var_unbiased, &fresh_var, known, c)?,
            },
            _ => FeatureStats { mean: fresh.mean, invstd: fresh.invstd, var_unbiased: fresh_var },
        };
        self.bn_updates.push((*bn, clone_buf(be, &joined.mean)?, clone_buf(be, &joined.var_unbiased)?));
        let out = BatchStats { mean: clone_buf(be, &joined.mean)?, invstd: clone_buf(be, &joined.invstd)?, var_unbiased: None };
        self.feature_stats = Some(joined);
        Ok(out)
    }
}

/// [head[0, known) | tail] as one buffer of `len` elements.
fn join<T: Float, B: Backend<T>>(be: &B, head_buf: &B::Buf, tail: &B::Buf, known: usize, len: usize) -> Result<B::Buf> {
    let mut out = be.alloc(len)?;
    let (a, b) = B::split_mut(B::dst(&mut out), known);
    be.copy(B::slice(B::src(head_buf), 0..known), a);
    be.copy(B::slice(B::src(tail), 0..len - known), b);
    Ok(out)
}
