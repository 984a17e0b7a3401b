//! Buffer reuse across steps: `Cpu<T>`'s buffers go back to a pool when they are dropped and
//! the next allocation of a similar size takes one from it instead of asking the allocator.
//!
//! Why: a training step allocates its block feature and gradient buffers, scratch and the
//! uploaded batch, and frees them at its end. Buffers over glibc's mmap threshold (32 MiB at
//! most) are mapped fresh by every step and first-touched page by page: millions of minor
//! faults over a training run, and a step time that depends on what the kernel does with
//! them. With the pool, the second and later steps of the same shape take every large buffer
//! from it (best fit, at most twice the size asked for) and only zero it.
//!
//! Memory: between steps the pool holds what the step freed, about the step's working set
//! (the buffers of the efficient pass are all alive together at its peak but for the last
//! blocks' gradient buffers, so the held bytes are within a few percent of the step's peak).
//! `trim` frees it; dropping the backend and every buffer frees it too. Buffers smaller than
//! [`MIN_POOLED_BYTES`] are not pooled (the allocator's own free lists serve them well).

use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};

/// Buffers below this size go straight to the allocator.
pub const MIN_POOLED_BYTES: usize = 64 << 10;

/// Free buffers by capacity (elements).
pub struct Pool<X> {
    free: Mutex<BTreeMap<usize, Vec<Vec<X>>>>,
}

impl<X> Default for Pool<X> {
    fn default() -> Self {
        Pool { free: Mutex::new(BTreeMap::new()) }
    }
}

impl<X: Copy + Default> Pool<X> {
    fn pooled(len: usize) -> bool {
        len.saturating_mul(std::mem::size_of::<X>()) >= MIN_POOLED_BYTES
    }

    /// A free vector with room for `len` elements (at most 2×), holding whatever it held when
    /// it was given back; None when none fits.
    fn take(&self, len: usize) -> Option<Vec<X>> {
        if !Self::pooled(len) {
            return None;
        }
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        let cap = *free.range(len..=len.saturating_mul(2)).next()?.0;
        let list = free.get_mut(&cap).expect("a listed capacity");
        let v = list.pop().expect("non-empty lists only");
        if list.is_empty() {
            free.remove(&cap);
        }
        Some(v)
    }

    fn give(&self, v: Vec<X>) {
        if !Self::pooled(v.capacity()) {
            return;
        }
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        free.entry(v.capacity()).or_default().push(v);
    }

    /// Bytes held by free buffers.
    pub fn held_bytes(&self) -> usize {
        let free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        free.iter().map(|(cap, list)| cap * list.len() * std::mem::size_of::<X>()).sum()
    }

    /// Frees every pooled buffer.
    pub fn trim(&self) {
        let old = std::mem::take(&mut *self.free.lock().unwrap_or_else(|p| p.into_inner()));
        drop(old);
    }
}

/// A host buffer that returns to its pool when dropped.
pub struct PoolBuf<X: Copy + Default> {
    vec: Vec<X>,
    pool: Option<Arc<Pool<X>>>,
}

impl<X: Copy + Default> PoolBuf<X> {
    /// A buffer that is not returned to any pool (small per-channel results).
    pub fn detached(vec: Vec<X>) -> Self {
        PoolBuf { vec, pool: None }
    }

    /// `len` zeros, from the pool when it has a fit, else from `fresh`.
    pub fn zeroed(pool: &Arc<Pool<X>>, len: usize, fresh: impl Fn(usize) -> Option<Vec<X>>) -> Option<Self> {
        let mut vec = Self::vec_for(pool, len, fresh)?;
        vec.clear();
        vec.resize(len, X::default());
        Some(PoolBuf { vec, pool: Some(Arc::clone(pool)) })
    }

    /// `len` elements for a caller that writes every one before reading it: a pooled buffer
    /// keeps the values its last user left (only a part it never had is zeroed), so no pass
    /// over memory is spent on zeros that would be overwritten.
    pub fn for_overwrite(pool: &Arc<Pool<X>>, len: usize, fresh: impl Fn(usize) -> Option<Vec<X>>) -> Option<Self> {
        let mut vec = Self::vec_for(pool, len, fresh)?;
        vec.resize(len, X::default());
        Some(PoolBuf { vec, pool: Some(Arc::clone(pool)) })
    }

    /// A pooled vector with room for `len` when one fits, else `fresh(len)` (an empty vector
    /// with room for `len`, or None when the allocator says no: then the pool is trimmed and
    /// `fresh` tried once more).
    fn vec_for(pool: &Arc<Pool<X>>, len: usize, fresh: impl Fn(usize) -> Option<Vec<X>>) -> Option<Vec<X>> {
        match pool.take(len) {
            Some(v) => Some(v),
            None => match fresh(len) {
                Some(v) => Some(v),
                None => {
                    pool.trim();
                    fresh(len)
                }
            },
        }
    }

    /// A copy of `data`, in a pooled buffer when one fits.
    pub fn copied(pool: &Arc<Pool<X>>, data: &[X], fresh: impl Fn(usize) -> Option<Vec<X>>) -> Option<Self> {
        let mut vec = Self::vec_for(pool, data.len(), fresh)?;
        vec.clear();
        vec.extend_from_slice(data);
        Some(PoolBuf { vec, pool: Some(Arc::clone(pool)) })
    }

    pub fn as_vec(&self) -> &Vec<X> {
        &self.vec
    }
}

impl<X: Copy + Default> Drop for PoolBuf<X> {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.give(std::mem::take(&mut self.vec));
        }
    }
}

impl<X: Copy + Default> Deref for PoolBuf<X> {
    type Target = [X];
    fn deref(&self) -> &[X] {
        &self.vec
    }
}

impl<X: Copy + Default> DerefMut for PoolBuf<X> {
    fn deref_mut(&mut self) -> &mut [X] {
        &mut self.vec
    }
}

impl<X: Copy + Default + std::fmt::Debug> std::fmt::Debug for PoolBuf<X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.vec.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_best_fit_and_zeroes() {
        let pool = Arc::new(Pool::<f32>::default());
        let fresh = |n: usize| Some(Vec::with_capacity(n));
        let n = 1 << 16;
        let mut a = PoolBuf::zeroed(&pool, n, fresh).unwrap();
        a.fill(3.0);
        let ptr = a.as_ptr();
        drop(a);
        assert_eq!(pool.held_bytes(), n * 4);
        // A smaller request within 2× takes it, zeroed.
        let b = PoolBuf::zeroed(&pool, n - 100, fresh).unwrap();
        assert_eq!(b.as_ptr(), ptr);
        assert!(b.iter().all(|&v| v == 0.0));
        assert_eq!(b.len(), n - 100);
        // Less than half: a fresh buffer.
        drop(b);
        let c = PoolBuf::zeroed(&pool, n / 3, fresh).unwrap();
        assert_ne!(c.as_ptr(), ptr);
        drop(c);
        pool.trim();
        assert_eq!(pool.held_bytes(), 0);
        // For overwrite: the values the last user left, what it did not use zero-extended.
        let mut d = PoolBuf::zeroed(&pool, n, fresh).unwrap();
        d.fill(5.0);
        let ptr = d.as_ptr();
        drop(d);
        let e = PoolBuf::for_overwrite(&pool, n - 10, fresh).unwrap();
        assert_eq!((e.as_ptr(), e.len()), (ptr, n - 10));
        assert!(e.iter().all(|&v| v == 5.0));
        drop(e);
        let f = PoolBuf::for_overwrite(&pool, n, fresh).unwrap();
        assert_eq!(f.as_ptr(), ptr);
        assert!(f[..n - 10].iter().all(|&v| v == 5.0) && f[n - 10..].iter().all(|&v| v == 0.0));
        drop(f);
        assert!(PoolBuf::zeroed(&pool, n, fresh).unwrap().iter().all(|&v| v == 0.0), "zeroed clears what for_overwrite kept");
        pool.trim();
        // Small buffers are not pooled.
        drop(PoolBuf::zeroed(&pool, 16, fresh).unwrap());
        assert_eq!(pool.held_bytes(), 0);
    }
}
