//! Device failures on the CUDA backend's code path (host-emulated kernels): an injected failure
//! of any launch, GEMM or allocation of a training step is a typed error naming the op that
//! failed, the model (parameters, running statistics, momentum, step) is unchanged, and the next
//! step runs as if the failed one had never been tried.

use densenet_core::{DenseNet, DenseNetConfig, Error, Result, SgdConfig};
use densenet_cuda::{Addr, Device, Elem, Gemm, Gpu, Word};
use densenet_cuda_kernels_host::Emu;
use std::sync::Mutex;

/// Which call fails: the `nth` (0-based, counted from when it is armed) of its kind.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    Launch(usize),
    Gemm(usize),
    Alloc(usize),
}

/// Counts of the calls seen since arming, and the kernel names launched.
#[derive(Default)]
struct Counts {
    launches: Vec<String>,
    gemms: usize,
    allocs: usize,
}

/// The emulated device, with at most one failure injected.
#[derive(Default)]
struct Faulty {
    armed: Mutex<Option<Fault>>,
    seen: Mutex<Counts>,
}

impl Faulty {
    fn arm(&self, fault: Option<Fault>) {
        *self.armed.lock().unwrap() = fault;
        *self.seen.lock().unwrap() = Counts::default();
    }
    /// Whether this call is the armed one (then disarmed: one failure only).
    fn strikes(&self, call: Fault) -> bool {
        let mut armed = self.armed.lock().unwrap();
        let hit = *armed == Some(call);
        if hit {
            *armed = None;
        }
        hit
    }
}

impl Device for Faulty {
    type Mem<E: Elem> = <Emu as Device>::Mem<E>;

    fn name(&self) -> &'static str {
        "cuda-emu-faulty"
    }
    fn alloc<E: Elem>(&self, len: usize) -> Result<Self::Mem<E>> {
        let n = {
            let mut seen = self.seen.lock().unwrap();
            seen.allocs += 1;
            seen.allocs - 1
        };
        if self.strikes(Fault::Alloc(n)) {
            return Err(Error::Memory(format!("injected: cannot allocate {} bytes", len * std::mem::size_of::<E>())));
        }
        Emu.alloc::<E>(len)
    }
    /// An upload allocates (and may fail like any allocation: the SGD table is the last one of a step).
    fn upload<E: Elem>(&self, data: &[E]) -> Result<Self::Mem<E>> {
        drop(self.alloc::<E>(data.len())?);
        Emu.upload(data)
    }
    fn addr<E: Elem>(mem: &Self::Mem<E>) -> Addr {
        Emu::addr::<E>(mem)
    }
    fn download<E: Elem>(&self, src: Addr, len: usize) -> Result<Vec<E>> {
        Emu.download(src, len)
    }
    fn memset_zero(&self, dst: Addr, bytes: usize) -> Result<()> {
        Emu.memset_zero(dst, bytes)
    }
    fn memcpy(&self, dst: Addr, src: Addr, bytes: usize) -> Result<()> {
        Emu.memcpy(dst, src, bytes)
    }
    fn launch(&self, name: &str, grid: u32, block: u32, params: &[Word]) -> Result<()> {
        let n = {
            let mut seen = self.seen.lock().unwrap();
            seen.launches.push(name.to_string());
            seen.launches.len() - 1
        };
        if self.strikes(Fault::Launch(n)) {
            return Err(Error::Device(format!("launch of {name}: injected CUDA_ERROR_LAUNCH_FAILED")));
        }
        Emu.launch(name, grid, block, params)
    }
    fn gemm(&self, g: &Gemm, double: bool) -> Result<()> {
        let n = {
            let mut seen = self.seen.lock().unwrap();
            seen.gemms += 1;
            seen.gemms - 1
        };
        if self.strikes(Fault::Gemm(n)) {
            return Err(Error::Device(format!("cuBLAS GEMM {}×{}×{}: injected CUBLAS_STATUS_EXECUTION_FAILED", g.m, g.n, g.k)));
        }
        Emu.gemm(g, double)
    }
}

type Net = DenseNet<f64, Gpu<f64, Faulty>>;

/// A CIFAR-style BC net with dropout (bottlenecks, transitions, 3×3 convs in chunks).
fn net() -> Net {
    let cfg = DenseNetConfig::from_json(r#"{"growthRate":4,"blockConfig":[2,2],"numInitFeatures":8,"numClasses":5,"smallInputs":true,"dropRate":0.2}"#).unwrap();
    let mut m = DenseNet::new(Gpu::with_device(Faulty::default(), 4096), cfg, 3).unwrap();
    m.set_optimizer(SgdConfig { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 1e-4 }).unwrap();
    m
}

fn batch(seed: u64) -> (Vec<f32>, [usize; 4], Vec<i64>) {
    let u = |i: u64| (densenet_core::backend::splitmix64(seed * 7919 + i) >> 11) as f64 / (1u64 << 53) as f64;
    let x = (0..2 * 3 * 8 * 8).map(|i| (2.0 * u(i) - 1.0) as f32).collect();
    (x, [2, 3, 8, 8], vec![(u(999) * 5.0) as i64, (u(1000) * 5.0) as i64])
}

/// Everything a step may change.
#[derive(PartialEq, Debug)]
struct State {
    params: Vec<Vec<f64>>,
    momentum: Vec<Option<Vec<f64>>>,
    step: u64,
}

fn state(m: &Net) -> State {
    State { params: m.params_host(), momentum: m.momentum_host(), step: m.step() }
}

fn step(m: &mut Net, seed: u64) -> Result<()> {
    let (x, shape, y) = batch(seed);
    m.train_step(&x, &shape, &y).map(|_| ())
}

/// The calls of one training step up to its commit's first launch (the one multi-tensor SGD
/// kernel, before the running statistics): every place a failure must leave the model unchanged.
fn calls_of_a_step(first_step: bool) -> (Vec<String>, usize, usize) {
    let mut m = net();
    if !first_step {
        step(&mut m, 1).unwrap();
    }
    m.backend().device().arm(None);
    step(&mut m, 2).unwrap();
    let seen = m.backend().device().seen.lock().unwrap();
    let commit = seen.launches.iter().position(|k| k.starts_with("bn_update_running") || k.starts_with("sgd_step")).expect("a step commits");
    assert!(seen.launches[commit].starts_with("sgd_step_chunks"), "the update starts with the parameters: {}", seen.launches[commit]);
    (seen.launches[..=commit].to_vec(), seen.gemms, seen.allocs)
}

/// For every `fault`: the step fails with an error naming the op (`names`), the model is as
/// before, and retrying the step gives the same model as a run where nothing failed.
fn every_failure_leaves_the_model_unchanged(first_step: bool, faults: Vec<(Fault, String, &'static str)>) {
    let prepare = || {
        let mut m = net();
        if !first_step {
            step(&mut m, 1).unwrap();
        }
        m
    };
    let mut clean = prepare();
    step(&mut clean, 2).unwrap();
    let want_after = state(&clean);
    for (fault, names, code) in faults {
        let mut m = prepare();
        let before = state(&m);
        m.backend().device().arm(Some(fault));
        let e = step(&mut m, 2).expect_err("the injected failure is reported");
        assert_eq!(e.code(), code, "{fault:?}: {e}");
        assert!(e.message().contains(&names), "{fault:?}: the error should name {names}: {e}");
        assert!(state(&m) == before, "{fault:?}: the failed step changed the model");
        step(&mut m, 2).unwrap_or_else(|e| panic!("{fault:?}: the retried step: {e}"));
        assert!(state(&m) == want_after, "{fault:?}: the retried step differs from a step that never failed");
    }
}

/// About `count` of the calls 0..n, evenly spread, and the last `tail` (a step's last
/// allocations are the momentum buffers of the first step).
fn spread(n: usize, count: usize, tail: usize) -> Vec<usize> {
    let mut out: Vec<usize> = (0..n).step_by(n.div_ceil(count).max(1)).chain(n.saturating_sub(tail)..n).collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[test]
fn a_failed_launch_is_err_device_naming_the_kernel_and_changes_nothing() {
    for first_step in [true, false] {
        let (launches, _, _) = calls_of_a_step(first_step);
        assert!(launches.len() > 50, "{}", launches.len());
        // The first launch of every kernel the step uses, and launches spread over the step.
        let mut picks: Vec<usize> = launches.iter().enumerate().filter(|(i, k)| !launches[..*i].contains(k)).map(|(i, _)| i).collect();
        picks.extend(spread(launches.len(), 12, 1));
        picks.sort_unstable();
        picks.dedup();
        let faults = picks.into_iter().map(|i| (Fault::Launch(i), format!("launch of {}", launches[i]), "ERR_DEVICE")).collect();
        every_failure_leaves_the_model_unchanged(first_step, faults);
    }
}

#[test]
fn a_failed_gemm_is_err_device_naming_it_and_changes_nothing() {
    let (_, gemms, _) = calls_of_a_step(true);
    assert!(gemms > 10, "{gemms}");
    every_failure_leaves_the_model_unchanged(true, spread(gemms, 10, 1).into_iter().map(|i| (Fault::Gemm(i), "cuBLAS GEMM".to_string(), "ERR_DEVICE")).collect());
}

#[test]
fn a_failed_allocation_is_err_memory_and_changes_nothing() {
    // The first step allocates the gradients and, after the loss, the momentum buffers: any of
    // its allocations, the very last included, may fail without changing the model.
    for first_step in [true, false] {
        let (_, _, allocs) = calls_of_a_step(first_step);
        assert!(allocs > 10, "{allocs}");
        let faults = spread(allocs, 12, 3).into_iter().map(|i| (Fault::Alloc(i), "injected: cannot allocate".to_string(), "ERR_MEMORY")).collect();
        every_failure_leaves_the_model_unchanged(first_step, faults);
    }
}

#[test]
fn a_scratch_allocation_failure_names_the_scratch() {
    // The conv column buffer is allocated inside an op that cannot return an error: its failure
    // comes back from the next fallible call saying what it was for.
    let (_, _, allocs) = calls_of_a_step(true);
    // Every allocation of the step in turn until one is the columns' (the first step allocates
    // the gradients before any conv runs: the columns' allocation comes after dozens of them).
    let named = (0..allocs).any(|i| {
        let mut m = net();
        m.backend().device().arm(Some(Fault::Alloc(i)));
        step(&mut m, 2).is_err_and(|e| e.code() == "ERR_MEMORY" && e.message().starts_with("conv columns: "))
    });
    assert!(named, "no allocation failure was reported as the conv columns'");
}
