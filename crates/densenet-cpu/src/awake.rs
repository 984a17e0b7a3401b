//! Keeps the other workers of the current rayon pool awake while one pass runs.
//!
//! A rayon worker that finds no work goes to sleep within microseconds, and waking it again
//! takes far longer on a virtual machine (a sleeping vCPU is a halted host thread). A forward
//! pass is hundreds of short parallel ops with serial moments between them, so at batch 1 the
//! other workers were asleep at the start of almost every op, and a 14² convolution was over
//! before they joined (per-call times of one conv were bimodal: one thread's or two threads'). While `f` runs, every other worker
//! runs a spinner that takes pending work as soon as it is pushed (`rayon::yield_now`) and
//! otherwise yields its CPU (`std::thread::yield_now`, which returns at once when nothing else
//! wants that CPU). A spinner that finds no work for [`IDLE_LIMIT`] goes back to rayon's sleep,
//! so a long serial stretch (or a GPU model's pass) costs at most that much spinning.
//! Results cannot change: which worker runs an item never changes its bits.
//!
//! wasm32 has no clock in `std` (`Instant::now` panics there), so on wasm32 the idle limit is a
//! count of empty rounds ([`IDLE_ROUNDS`]) instead of a time.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a spinner waits for work before it lets its worker sleep.
pub const IDLE_LIMIT: Duration = Duration::from_millis(2);

/// On wasm32: how many rounds in a row without work a spinner makes before it lets its worker
/// sleep (a round there is one look for work, well under a microsecond: a few ms at most).
pub const IDLE_ROUNDS: u32 = 4096;

thread_local! {
    /// This thread runs a pass (the caller) or a spinner: a spinner arriving now returns at once.
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with the other workers of the current pool spinning until it returns. Outside a
/// pool, in a one-thread pool or nested inside another pass, it is just `f()`.
pub fn keep_workers_awake<R>(f: impl FnOnce() -> R) -> R {
    if rayon::current_num_threads() < 2 || rayon::current_thread_index().is_none() || BUSY.get() {
        return f();
    }
    let done = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&done);
    // One copy per worker; the caller's own copy (run whenever it waits inside `f`) sees BUSY.
    rayon::spawn_broadcast(move |_| spin(&flag));
    BUSY.set(true);
    // Ends the spinners even when `f` panics.
    struct End(Arc<AtomicBool>);
    impl Drop for End {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
            BUSY.set(false);
        }
    }
    let _end = End(done);
    f()
}

fn spin(done: &AtomicBool) {
    if BUSY.get() {
        return;
    }
    BUSY.set(true);
    let mut idle = IdleClock::start();
    while !done.load(Ordering::Acquire) {
        if rayon::yield_now() == Some(rayon::Yield::Executed) {
            idle = IdleClock::start();
        } else if idle.expired() {
            break;
        } else {
            std::thread::yield_now();
        }
    }
    BUSY.set(false);
}

/// Time since a spinner last ran work: a clock where `std` has one, a round count on wasm32.
#[cfg(not(target_arch = "wasm32"))]
struct IdleClock(std::time::Instant);
#[cfg(not(target_arch = "wasm32"))]
impl IdleClock {
    fn start() -> Self {
        IdleClock(std::time::Instant::now())
    }
    fn expired(&mut self) -> bool {
        self.0.elapsed() > IDLE_LIMIT
    }
}

#[cfg(target_arch = "wasm32")]
struct IdleClock(u32);
#[cfg(target_arch = "wasm32")]
impl IdleClock {
    fn start() -> Self {
        IdleClock(0)
    }
    fn expired(&mut self) -> bool {
        self.0 += 1;
        self.0 > IDLE_ROUNDS
    }
}
