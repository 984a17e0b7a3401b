//! Optional per-op wall-clock accounting (DENSENET_PROFILE=1), to see where a step's time goes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

static ENABLED: AtomicBool = AtomicBool::new(false);
static INIT: OnceLock<()> = OnceLock::new();
static TOTALS: Mutex<BTreeMap<&'static str, (f64, u64)>> = Mutex::new(BTreeMap::new());

fn enabled() -> bool {
    INIT.get_or_init(|| {
        if std::env::var("DENSENET_PROFILE").map(|v| v == "1").unwrap_or(false) {
            ENABLED.store(true, Ordering::Relaxed);
        }
    });
    ENABLED.load(Ordering::Relaxed)
}

pub struct Scope {
    name: &'static str,
    start: Option<Instant>,
}

/// Times the enclosing block under `name` when profiling is on.
pub fn scope(name: &'static str) -> Scope {
    Scope { name, start: if enabled() { Some(Instant::now()) } else { None } }
}

impl Drop for Scope {
    fn drop(&mut self) {
        if let Some(s) = self.start {
            let mut t = TOTALS.lock().unwrap();
            let e = t.entry(self.name).or_insert((0.0, 0));
            e.0 += s.elapsed().as_secs_f64();
            e.1 += 1;
        }
    }
}

/// Accumulated (seconds, calls) per name, and resets the totals.
pub fn take() -> BTreeMap<&'static str, (f64, u64)> {
    std::mem::take(&mut *TOTALS.lock().unwrap())
}
