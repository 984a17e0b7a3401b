//! Multi-tensor launches: the optimizer step and the finite check of every parameter in one
//! kernel each, instead of one launch per tensor (~1,000 tensors for densenet264, so ~1,000
//! launches saved per step for each). Each tensor is cut into chunks of at most [`CHUNK`]
//! elements; a table with one row per chunk (the layout of `SgdChunk` / `FiniteChunk` in
//! kernels/densenet.cuh, 64-bit words) is uploaded and one block walks each row.

use super::{named, w_f, w_i, Dst, Gpu, Src, BLOCK, MAX_GRID};
use crate::device::{Addr, Device, Elem, Word};
use densenet_core::{Float, SgdUpdate};

/// Elements of one chunk: one block of 256 threads, 256 elements per thread.
pub(super) const CHUNK: usize = 1 << 16;
/// Words per row of `SgdChunk<T>`: param, grad, buf, n, lr, weight_decay, momentum, initialized, nesterov.
pub(super) const SGD_CHUNK_WORDS: usize = 9;
/// Words per row of `FiniteChunk<T>`: x, n, base.
pub(super) const FINITE_CHUNK_WORDS: usize = 3;

/// The chunks of a tensor of `len` elements: (start, length), none when it is empty.
pub(super) fn chunks(len: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..len).step_by(CHUNK).map(move |start| (start, CHUNK.min(len - start)))
}

/// The `SgdChunk` rows of `updates` (element size `size` bytes).
pub(super) fn sgd_table<T>(updates: &[SgdUpdate<Dst<'_, T>, Src<'_, T>>], size: usize) -> Vec<Word> {
    let mut table = Vec::new();
    for u in updates {
        let (buf, initialized) = u.momentum.as_ref().map(|(b, i)| (b.addr, *i)).unwrap_or((0, false));
        let at = |base: Addr, start: usize| if base == 0 { 0 } else { base + (start * size) as u64 };
        for (start, n) in chunks(u.param.len) {
            table.extend_from_slice(&[
                at(u.param.addr, start),
                at(u.grad.addr, start),
                at(buf, start),
                w_i(n),
                w_f(u.cfg.lr),
                w_f(u.cfg.weight_decay),
                w_f(u.cfg.momentum),
                initialized as u64,
                u.cfg.nesterov as u64,
            ]);
        }
    }
    debug_assert_eq!(table.len() % SGD_CHUNK_WORDS, 0);
    table
}

/// The `FiniteChunk` rows of `xs`, with the view each row belongs to and the row's end in it.
pub(super) fn finite_table<T>(xs: &[Src<'_, T>], size: usize) -> (Vec<Word>, Vec<(usize, usize)>) {
    let (mut table, mut owner) = (Vec::new(), Vec::new());
    for (t, x) in xs.iter().enumerate() {
        for (start, n) in chunks(x.len) {
            table.extend_from_slice(&[x.addr + (start * size) as u64, w_i(n), w_i(start)]);
            owner.push((t, start + n));
        }
    }
    debug_assert_eq!(table.len(), owner.len() * FINITE_CHUNK_WORDS);
    (table, owner)
}

fn grid_of(rows: usize) -> u32 {
    rows.clamp(1, MAX_GRID) as u32
}

impl<T: Float + Elem, D: Device> Gpu<T, D> {
    /// A table of words on the device for one launch (freed after it: allocations are
    /// stream-ordered); None with the failure kept.
    fn upload_table(&self, table: &[Word], what: &str) -> Option<super::Buf<D, i64>> {
        if self.failed() {
            return None;
        }
        let words: Vec<i64> = table.iter().map(|&w| w as i64).collect();
        self.dev.upload(&words).map(|mem| super::Buf { mem, len: words.len() }).map_err(|e| self.fail(named(e, what))).ok()
    }

    pub(super) fn sgd_steps_chunked(&self, updates: &[SgdUpdate<Dst<'_, T>, Src<'_, T>>]) {
        let table = sgd_table(updates, self.size());
        let rows = table.len() / SGD_CHUNK_WORDS;
        if rows == 0 {
            return;
        }
        let Some(dev_table) = self.upload_table(&table, "optimizer step table") else { return };
        self.queue(|| self.dev.launch(&self.kernel("sgd_step_chunks"), grid_of(rows), BLOCK, &[dev_table.addr(), w_i(rows)]));
    }

    /// (view, element, value) of the first NaN/±Inf over `xs` in order: one launch, one
    /// download of one index per chunk.
    pub(super) fn first_non_finite_chunked(&self, xs: &[Src<'_, T>]) -> Option<(usize, usize, f64)> {
        let (table, owner) = finite_table(xs, self.size());
        if owner.is_empty() {
            return None;
        }
        let dev_table = self.upload_table(&table, "finite check table")?;
        let mins = self.scratch::<i64>(owner.len(), "finite check")?;
        self.queue(|| self.dev.launch(&self.kernel("first_non_finite_chunks"), grid_of(owner.len()), BLOCK, &[dev_table.addr(), w_i(owner.len()), mins.addr()]));
        let found = self.download_or_keep::<i64>(mins.addr(), owner.len());
        if self.failed() {
            return None;
        }
        // Chunks are in view order and, within a view, in element order: the first hit (an index
        // before its chunk's end) is the answer.
        let (&(t, _), i) = owner.iter().zip(found).find(|&(&(_, end), i)| (i as u64) < end as u64)?;
        let i = i as usize;
        Some((t, i, self.download_or_keep::<T>(xs[t].addr + (i * self.size()) as u64, 1)[0].to_f64()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_a_tensor_once_in_order() {
        assert_eq!(chunks(0).count(), 0);
        assert_eq!(chunks(5).collect::<Vec<_>>(), vec![(0, 5)]);
        assert_eq!(chunks(CHUNK).collect::<Vec<_>>(), vec![(0, CHUNK)]);
        assert_eq!(chunks(2 * CHUNK + 3).collect::<Vec<_>>(), vec![(0, CHUNK), (CHUNK, CHUNK), (2 * CHUNK, 3)]);
    }

    #[test]
    fn finite_rows_name_their_view_and_offset() {
        let (a, b, e) = (super::super::src::<f32>(1000, CHUNK + 1), super::super::src::<f32>(0, 0), super::super::src::<f32>(9000, 2));
        let (table, owner) = finite_table(&[a, b, e], 4);
        assert_eq!(owner, vec![(0, CHUNK), (0, CHUNK + 1), (2, 2)]);
        assert_eq!(table, vec![1000, CHUNK as u64, 0, 1000 + 4 * CHUNK as u64, 1, CHUNK as u64, 9000, 2, 0]);
    }
}
