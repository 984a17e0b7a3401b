//! Where a computation runs in the threads build: on rayon's pool (once threads.rs has started
//! it), with its other workers kept awake; on the caller otherwise.

#[cfg(target_feature = "atomics")]
use std::sync::atomic::{AtomicBool, Ordering};

/// rayon's global pool runs on the JS workers.
#[cfg(target_feature = "atomics")]
static STARTED: AtomicBool = AtomicBool::new(false);

/// Called by threads.rs once the pool runs.
#[cfg(target_feature = "atomics")]
pub(crate) fn pool_started() {
    STARTED.store(true, Ordering::Release);
}

/// Runs one computation (a forward or training pass) on the pool with its other workers kept
/// awake (`densenet_cpu::keep_workers_awake`): the caller blocks while one worker runs `f` and the
/// others take each op's work as soon as it is pushed, instead of falling asleep in the serial
/// moments between ops. Without a pool (one thread, or the build without threads) just `f()`.
/// Bits cannot change: which worker runs an item never changes it.
pub(crate) fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    #[cfg(target_feature = "atomics")]
    if STARTED.load(Ordering::Acquire) {
        return rayon::scope(|_| densenet_cpu::keep_workers_awake(f));
    }
    f()
}
