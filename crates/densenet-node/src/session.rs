//! A model as the binding holds it: one boxed `Model` (any dtype, any backend) with the thread
//! pool its work runs on. The core owns no threads; this is where they live.

use densenet_core::{Error, Model, Result};
use std::sync::{Arc, Mutex, MutexGuard};

/// Most threads a model may use (a larger request is a typo, not a machine).
pub const MAX_THREADS: usize = 1024;

pub struct Session {
    model: Box<dyn Model>,
    pool: rayon::ThreadPool,
    /// The user's memory budget in bytes; None: what the machine has available at each call.
    budget: Option<u64>,
}

/// MemAvailable of /proc/meminfo in bytes (None where there is no such file).
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// A session shared with its async tasks; `None` once disposed.
pub type Shared = Arc<Mutex<Option<Session>>>;

pub fn thread_pool(threads: usize) -> Result<rayon::ThreadPool> {
    if threads == 0 || threads > MAX_THREADS {
        return Err(Error::InvalidArg(format!("threads must be in 1..={MAX_THREADS}, got {threads}")));
    }
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(|e| Error::InvalidArg(format!("cannot start {threads} threads: {e}")))
}

/// Threads used when none is given: the machine's available parallelism.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

impl Session {
    pub fn new(model: Box<dyn Model>, threads: usize) -> Result<Self> {
        Ok(Session { model, pool: thread_pool(threads)?, budget: None })
    }

    pub fn model(&self) -> &dyn Model {
        &*self.model
    }

    /// Runs `f` on the model inside this session's thread pool, with the memory budget in force:
    /// the user's, or else the memory available now plus what the model already holds, its
    /// parameters and the buffers its backend keeps for the next step (pooled: they count as
    /// used in MemAvailable but the step reuses them).
    pub fn run<R: Send>(&mut self, f: impl FnOnce(&mut dyn Model) -> R + Send) -> R {
        let budget = self.budget.or_else(|| {
            let held = self.model.memory_estimate_held().saturating_add(self.model.memory_cached());
            // A GPU model: the GPU's memory, not the host's.
            self.model.device_memory_available().or_else(available_memory).map(|a| a.saturating_add(held))
        });
        self.model.set_memory_budget(budget);
        let model = &mut *self.model;
        // The pool's other workers spin through the call instead of falling asleep between its
        // many short parallel ops (see densenet_cpu::awake: at batch 1 they missed most ops).
        self.pool.install(|| densenet_cpu::keep_workers_awake(|| f(model)))
    }

    pub fn set_budget(&mut self, bytes: Option<u64>) {
        self.budget = bytes;
    }

    pub fn budget(&self) -> Option<u64> {
        self.budget
    }

    pub fn set_threads(&mut self, threads: usize) -> Result<()> {
        self.pool = thread_pool(threads)?;
        Ok(())
    }
}

/// Runs `f` on the session; a panic in an earlier call does not make it unusable.
pub fn with<R>(s: &Shared, f: impl FnOnce(&mut Session) -> Result<R>) -> Result<R> {
    let mut guard: MutexGuard<'_, Option<Session>> = s.lock().unwrap_or_else(|p| p.into_inner());
    match guard.as_mut() {
        Some(session) => f(session),
        None => Err(Error::InvalidArg("the model was disposed".into())),
    }
}
