//! keep_workers_awake: same results as without it, in every kind of pool, nested, after a panic.

use densenet_cpu::keep_workers_awake;
use rayon::prelude::*;

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
}

/// A parallel sum in fixed chunks (the same bits for any thread count).
fn work(n: usize) -> f64 {
    let v: Vec<f64> = (0..n).into_par_iter().map(|i| ((i as f64) * 0.37).sin()).collect();
    v.par_chunks(1000).map(|c| c.iter().sum::<f64>()).collect::<Vec<_>>().iter().sum()
}

#[test]
fn returns_the_same_as_without_in_any_pool() {
    let expect = work(200_000);
    for threads in [1, 2, 3, 4, 8] {
        let p = pool(threads);
        for _ in 0..20 {
            assert_eq!(p.install(|| keep_workers_awake(|| work(200_000))).to_bits(), expect.to_bits(), "{threads} threads");
        }
    }
    // Outside any pool: just the call.
    assert_eq!(keep_workers_awake(|| work(1000)).to_bits(), work(1000).to_bits());
}

#[test]
fn nests_and_runs_back_to_back_without_deadlock() {
    let p = pool(4);
    let total: f64 = p.install(|| (0..50).map(|_| keep_workers_awake(|| (0..4).into_par_iter().map(|_| keep_workers_awake(|| work(5000))).sum::<f64>())).sum());
    assert_eq!(total.to_bits(), (0..50).map(|_| (0..4).map(|_| work(5000)).sum::<f64>()).sum::<f64>().to_bits());
}

#[test]
fn a_long_serial_stretch_and_a_panic_end_the_spinners() {
    let p = pool(2);
    // Serial for several idle limits: the spinner gives up and the pass still completes.
    let r = p.install(|| {
        keep_workers_awake(|| {
            std::thread::sleep(densenet_cpu::awake::IDLE_LIMIT * 4);
            work(10_000)
        })
    });
    assert_eq!(r.to_bits(), work(10_000).to_bits());
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p.install(|| keep_workers_awake(|| -> f64 { panic!("inside the pass") }))));
    assert!(caught.is_err());
    // The pool still runs passes afterwards (a spinner left running would keep a worker busy forever).
    let t = std::time::Instant::now();
    for _ in 0..10 {
        assert_eq!(p.install(|| keep_workers_awake(|| work(10_000))).to_bits(), work(10_000).to_bits());
    }
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
}
