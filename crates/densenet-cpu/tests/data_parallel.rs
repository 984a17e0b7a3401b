//! Data-parallel training over an in-process group of threads (the same `Collective` seam MPI
//! implements): synchronized BN over 2 ranks × 32 reproduces 1 rank × 64, and without it every
//! rank holds bit-identical weights after every step.

mod common;
use common::*;
use densenet_core::{Collective, DataParallel, DenseNetConfig, MemoryMode, Result, SgdConfig, ViaHost};
use std::sync::{Arc, Barrier, Mutex};

/// Ranks as threads: each all-reduce deposits its buffer in its slot, and every rank sums the
/// slots in rank order (the same bits everywhere).
struct Group {
    slots: Mutex<Vec<Vec<f64>>>,
    barrier: Barrier,
}

struct Member {
    group: Arc<Group>,
    rank: usize,
    size: usize,
}

impl Member {
    fn reduce(&self, buf: &[f64]) -> Vec<Vec<f64>> {
        self.group.slots.lock().unwrap()[self.rank] = buf.to_vec();
        self.group.barrier.wait();
        let all = self.group.slots.lock().unwrap().clone();
        self.group.barrier.wait();
        all
    }
}

impl Collective for Member {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world_size(&self) -> usize {
        self.size
    }
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<()> {
        let all = self.reduce(buf);
        for (i, v) in buf.iter_mut().enumerate() {
            *v = all.iter().fold(0.0, |a, s| a + s[i]);
        }
        Ok(())
    }
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()> {
        let all = self.reduce(&buf.iter().map(|&v| v as f64).collect::<Vec<_>>());
        for (i, v) in buf.iter_mut().enumerate() {
            *v = all.iter().fold(0f32, |a, s| a + s[i] as f32);
        }
        Ok(())
    }
}

fn group(size: usize) -> Vec<Member> {
    let g = Arc::new(Group { slots: Mutex::new(vec![Vec::new(); size]), barrier: Barrier::new(size) });
    (0..size).map(|rank| Member { group: g.clone(), rank, size }).collect()
}

fn config(small: bool) -> DenseNetConfig {
    let json = if small {
        r#"{"growthRate":4,"blockConfig":[2,2],"numInitFeatures":8,"numClasses":5,"smallInputs":true}"#
    } else {
        r#"{"growthRate":4,"blockConfig":[2,2],"numInitFeatures":8,"numClasses":5,"smallInputs":false}"#
    };
    DenseNetConfig::from_json(json).unwrap()
}

/// Step `s`'s global batch: n samples of side×side.
fn batch(s: usize, n: usize, side: usize) -> (Vec<f64>, Vec<i64>) {
    let x = uniform("dp.x", s as u64, n * 3 * side * side).iter().map(|&u| 2.0 * u - 1.0).collect();
    let y = uniform("dp.y", s as u64, n).iter().map(|&u| (u * 5.0) as i64).collect();
    (x, y)
}

fn sgd() -> SgdConfig {
    SgdConfig { lr: 0.1, momentum: 0.9, weight_decay: 1e-4, nesterov: true }
}

/// Trains `steps` steps of a global batch of `global` on `ranks` threads; returns every rank's
/// tensors (weights and running statistics) after every step.
fn train(cfg: &DenseNetConfig, mode: MemoryMode, ranks: usize, global: usize, side: usize, steps: usize, sync_bn: bool) -> Vec<Vec<Vec<Vec<f64>>>> {
    let per = global / ranks;
    let members = group(ranks);
    std::thread::scope(|scope| {
        let handles: Vec<_> = members
            .iter()
            .map(|m| {
                let cfg = cfg.clone();
                scope.spawn(move || {
                    let mut model = new_model::<f64>(cfg, 7);
                    model.set_memory_mode(mode);
                    model.set_optimizer(sgd()).unwrap();
                    let via = ViaHost(m);
                    let dp = DataParallel { comm: &via, sync_bn };
                    let plane = 3 * side * side;
                    let mut history = Vec::new();
                    for s in 0..steps {
                        let (x, y) = batch(s, global, side);
                        let (lo, hi) = (m.rank * per, (m.rank + 1) * per);
                        model.train_step_distributed(&x[lo * plane..hi * plane], &[per, 3, side, side], &y[lo..hi], &dp).unwrap();
                        history.push(model.params_host());
                    }
                    history
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn max_diff(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    a.iter().zip(b).flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs())).fold(0.0, f64::max)
}

fn sync_bn_matches_one_big_batch(small: bool, mode: MemoryMode, side: usize) {
    let cfg = config(small);
    let one = train(&cfg, mode, 1, 64, side, 3, true);
    let two = train(&cfg, mode, 2, 64, side, 3, true);
    let reference = &one[0][2];
    for rank in &two {
        let d = max_diff(&rank[2], reference);
        assert!(d <= 1e-10, "2 ranks × 32 with sync BN differ from 1 rank × 64 by {d:e} ({mode:?}, smallInputs {small})");
    }
    // And the single rank through the collective is the plain train_step.
    let mut plain = new_model::<f64>(cfg, 7);
    plain.set_memory_mode(mode);
    plain.set_optimizer(sgd()).unwrap();
    for s in 0..3 {
        let (x, y) = batch(s, 64, side);
        plain.train_step(&x, &[64, 3, side, side], &y).unwrap();
    }
    let d = max_diff(&plain.params_host(), reference);
    assert!(d <= 1e-12, "one rank through the collective differs from train_step by {d:e}");
}

#[test]
fn sync_bn_two_ranks_of_32_equal_one_rank_of_64_cifar_stem() {
    sync_bn_matches_one_big_batch(true, MemoryMode::Efficient, 8);
}

#[test]
fn sync_bn_two_ranks_of_32_equal_one_rank_of_64_imagenet_stem_naive() {
    sync_bn_matches_one_big_batch(false, MemoryMode::Naive, 16);
    sync_bn_matches_one_big_batch(false, MemoryMode::Efficient, 16);
}

#[test]
fn per_replica_bn_keeps_every_rank_bit_identical() {
    let cfg = config(true);
    let ranks = train(&cfg, MemoryMode::Efficient, 3, 48, 8, 3, false);
    for (step, weights) in ranks[0].iter().enumerate() {
        assert_eq!(*weights, ranks[1][step], "rank 1 differs at step {step}");
        assert_eq!(*weights, ranks[2][step], "rank 2 differs at step {step}");
    }
    // Per-replica BN is not the big batch: the figures differ from a sync-BN run.
    let synced = train(&cfg, MemoryMode::Efficient, 3, 48, 8, 3, true);
    assert!(max_diff(&ranks[0][2], &synced[0][2]) > 1e-6);
}
