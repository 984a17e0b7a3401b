// Shared helpers of the benchmark examples (included with `#[path]`, not an example itself).
#![allow(dead_code)]

use std::time::Instant;

/// `--name value` or `--name=value` from the command line.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let flag = format!("--{name}");
    for (i, a) in args.iter().enumerate() {
        if *a == flag {
            return args.get(i + 1).cloned();
        }
        if let Some(v) = a.strip_prefix(&format!("{flag}=")) {
            return Some(v.to_string());
        }
    }
    None
}

pub fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == format!("--{name}"))
}

pub fn arg_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match arg(name) {
        Some(v) => v.parse().unwrap_or_else(|_| panic!("bad value for --{name}: {v}")),
        None => default,
    }
}

/// A field of /proc/self/status in KiB (VmHWM: peak RSS, VmRSS: current RSS).
pub fn proc_status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Minor page faults of this process so far (/proc/self/stat field 10, as getrusage's
/// ru_minflt); 0 where /proc is absent.
pub fn minor_faults() -> u64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    s.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(7)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Deterministic pseudo-random values in [-1, 1).
pub fn random_f32(len: usize, seed: u64) -> Vec<f32> {
    (0..len).map(|i| ((splitmix64(seed ^ (i as u64)) >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0).collect()
}

pub fn random_labels(n: usize, classes: usize, seed: u64) -> Vec<i64> {
    (0..n).map(|i| (splitmix64(seed.wrapping_add(i as u64)) % classes as u64) as i64).collect()
}

pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if s.is_empty() {
        return f64::NAN;
    }
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        0.5 * (s[m - 1] + s[m])
    }
}

/// Milliseconds `f` takes.
pub fn time_ms<R>(f: impl FnOnce() -> R) -> (f64, R) {
    let t = Instant::now();
    let r = f();
    (t.elapsed().as_secs_f64() * 1e3, r)
}
