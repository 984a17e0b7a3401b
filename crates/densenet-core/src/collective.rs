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
use crate::float::{Float, FloatSliceMut};

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

impl dyn Collective + '_ {
    /// buf ← Σ over ranks of buf, for either element type (its f32 or f64 call).
    pub fn all_reduce_sum<T: Float>(&self, buf: &mut [T]) -> Result<()> {
        match T::as_typed_mut(buf) {
            FloatSliceMut::F32(buf) => self.all_reduce_sum_f32(buf),
            FloatSliceMut::F64(buf) => self.all_reduce_sum_f64(buf),
        }
    }
}

/// Rank 0's `bytes` on every rank (e.g. an NCCL unique id, which rank 0 makes and every rank
/// needs before the NCCL group exists), over the host collective's sum: rank 0 contributes its
/// bytes as f64 (0..=255, exact), every other rank zeros, so the sum is rank 0's bytes
/// bit-exactly. Every rank passes a buffer of the same length.
pub fn broadcast_bytes_from_rank0(comm: &dyn Collective, bytes: &mut [u8]) -> Result<()> {
    let mut wide: Vec<f64> = if comm.rank() == 0 { bytes.iter().map(|&b| b as f64).collect() } else { vec![0.0; bytes.len()] };
    comm.all_reduce_sum_f64(&mut wide)?;
    for (b, &v) in bytes.iter_mut().zip(&wide) {
        if !(0.0..=255.0).contains(&v) || v.fract() != 0.0 {
            return Err(crate::Error::Internal(format!("broadcast from rank 0: byte sum {v} is not a byte (did another rank contribute?)")));
        }
        *b = v as u8;
    }
    Ok(())
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
        // A failed op left garbage: report it rather than add it into the other ranks' sums.
        be.take_error()?;
        self.0.all_reduce_sum(&mut host)?;
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

#[cfg(test)]
mod tests {
    use super::{broadcast_bytes_from_rank0, Collective};
    use crate::Result;
    use std::sync::{Arc, Barrier, Mutex};

    /// Ranks as threads: each sum deposits its buffer, every rank sums the slots in rank order.
    struct Member {
        slots: Arc<(Mutex<Vec<Vec<f64>>>, Barrier)>,
        rank: usize,
        size: usize,
    }

    impl Collective for Member {
        fn rank(&self) -> usize {
            self.rank
        }
        fn world_size(&self) -> usize {
            self.size
        }
        fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<()> {
            let (slots, barrier) = &*self.slots;
            slots.lock().unwrap()[self.rank] = buf.to_vec();
            barrier.wait();
            let all = slots.lock().unwrap().clone();
            barrier.wait();
            for (i, v) in buf.iter_mut().enumerate() {
                *v = all.iter().fold(0.0, |a, s| a + s[i]);
            }
            Ok(())
        }
        fn all_reduce_sum_f32(&self, _: &mut [f32]) -> Result<()> {
            unimplemented!()
        }
    }

    /// A group of one whose sums say which ran: f32 adds 1, f64 adds 2.
    struct Marks;

    impl Collective for Marks {
        fn rank(&self) -> usize {
            0
        }
        fn world_size(&self) -> usize {
            1
        }
        fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<()> {
            buf.iter_mut().for_each(|v| *v += 2.0);
            Ok(())
        }
        fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()> {
            buf.iter_mut().for_each(|v| *v += 1.0);
            Ok(())
        }
    }

    #[test]
    fn the_generic_sum_calls_the_element_types_own() {
        let comm: &dyn Collective = &Marks;
        let mut single = [0.0f32; 3];
        comm.all_reduce_sum(&mut single).unwrap();
        assert_eq!(single, [1.0; 3]);
        let mut double = [0.0f64; 3];
        comm.all_reduce_sum(&mut double).unwrap();
        assert_eq!(double, [2.0; 3]);
    }

    #[test]
    fn every_rank_receives_rank_0s_bytes() {
        // 128 bytes, as an NCCL unique id, with every byte value's extremes.
        let id: Vec<u8> = (0..128u32).map(|i| (i * 97 + 255) as u8).collect();
        let size = 3;
        let slots = Arc::new((Mutex::new(vec![Vec::new(); size]), Barrier::new(size)));
        let got: Vec<Vec<u8>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..size)
                .map(|rank| {
                    let m = Member { slots: slots.clone(), rank, size };
                    let id = id.clone();
                    s.spawn(move || {
                        // Other ranks start from garbage: only rank 0's bytes count.
                        let mut buf = if rank == 0 { id } else { vec![0xAB; 128] };
                        broadcast_bytes_from_rank0(&m, &mut buf).unwrap();
                        buf
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (rank, g) in got.iter().enumerate() {
            assert_eq!(g, &id, "rank {rank}");
        }
    }
}
