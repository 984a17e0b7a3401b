//! The collective seam of data-parallel training: what the training step needs from a group
//! of processes (sums over all ranks), and nothing about how they talk.
//!
//! Two levels, so that each engine slots in where it is natural:
//! - [`Collective`]: host buffers (MPI over CPU memory, or the in-process test group). Object
//!   safe: a binding hands `&dyn Collective` to [`crate::Model::train_step_distributed`].
//! - [`DeviceCollective`]: backend buffers, which is what the step actually reduces. A GPU
//!   engine (NCCL's in-place all-reduce on device pointers) implements it directly for its
//!   backend; any host [`Collective`] gets it through [`ViaHost`] (download, reduce, upload).
//!
//! Contract: every rank calls the same collectives in the same order with the same lengths,
//! and every rank receives the same bits (so that weights stay bit-identical on every rank).

use crate::backend::Backend;
use crate::error::Result;
use crate::float::Float;

/// Element-wise sums over all ranks of a group, on host memory.
pub trait Collective: Send + Sync {
    /// This process's rank, 0..world_size.
    fn rank(&self) -> usize;
    fn world_size(&self) -> usize;
    /// buf ← Σ over ranks of buf (the same bits on every rank).
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<()>;
    /// buf ← Σ over ranks of buf (the same bits on every rank).
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()>;
}

/// Element-wise sums over all ranks of a group, on backend buffers (the NCCL slot).
pub trait DeviceCollective<T: Float, B: Backend<T>> {
    fn rank(&self) -> usize;
    fn world_size(&self) -> usize;
    /// buf ← Σ over ranks of buf, in place on the device.
    fn all_reduce_sum(&self, be: &B, buf: &mut B::Buf) -> Result<()>;
    /// Small host values (loss, counts, BN statistics): buf ← Σ over ranks of buf.
    fn all_reduce_sum_host(&self, buf: &mut [f64]) -> Result<()>;
}

/// A host collective used on any backend: buffers go through host memory.
pub struct ViaHost<'a>(pub &'a dyn Collective);

impl<T: Float, B: Backend<T>> DeviceCollective<T, B> for ViaHost<'_> {
    fn rank(&self) -> usize {
        self.0.rank()
    }
    fn world_size(&self) -> usize {
        self.0.world_size()
    }
    fn all_reduce_sum(&self, be: &B, buf: &mut B::Buf) -> Result<()> {
        let mut host = be.download(B::src(buf));
        T::all_reduce_sum(self.0, &mut host)?;
        *buf = be.upload(&host)?;
        Ok(())
    }
    fn all_reduce_sum_host(&self, buf: &mut [f64]) -> Result<()> {
        self.0.all_reduce_sum_f64(buf)
    }
}

/// How one training step runs across a group.
pub struct DataParallel<'a, T: Float, B: Backend<T>> {
    pub comm: &'a dyn DeviceCollective<T, B>,
    /// Synchronized BN: batch statistics (and the BN backward's two sums) over the global
    /// batch. Off: each replica normalizes with its own batch (DDP's default).
    pub sync_bn: bool,
}

/// Combines per-rank BN statistics into the global batch's: `local` holds this rank's count
/// and, per channel, mean and M2 = Σ(x − mean)². Each rank writes its values into its own
/// slot of a zeroed [world × (1 + 2C)] buffer, the sum gathers them exactly (x + 0 = x), and
/// every rank combines the slots in rank order (Chan et al.'s pairwise formula), so every rank
/// gets the same bits. Returns (N, mean, M2) of the global batch.
pub fn combine_stats<T: Float, B: Backend<T>>(comm: &dyn DeviceCollective<T, B>, count: usize, mean: &[f64], m2: &[f64]) -> Result<(f64, Vec<f64>, Vec<f64>)> {
    let c = mean.len();
    let width = 1 + 2 * c;
    let mut all = vec![0.0; width * comm.world_size()];
    let mine = &mut all[comm.rank() * width..(comm.rank() + 1) * width];
    mine[0] = count as f64;
    mine[1..1 + c].copy_from_slice(mean);
    mine[1 + c..].copy_from_slice(m2);
    comm.all_reduce_sum_host(&mut all)?;
    let (mut n, mut gmean, mut gm2) = (0.0, vec![0.0; c], vec![0.0; c]);
    for slot in all.chunks_exact(width) {
        let nr = slot[0];
        if nr == 0.0 {
            continue;
        }
        let total = n + nr;
        for ch in 0..c {
            let delta = slot[1 + ch] - gmean[ch];
            gmean[ch] += delta * nr / total;
            gm2[ch] += slot[1 + c + ch] + delta * delta * n * nr / total;
        }
        n = total;
    }
    Ok((n, gmean, gm2))
}
