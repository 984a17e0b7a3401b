//! Shared test helpers: the fixture weight generator (the same arithmetic as
//! scripts/fixtures/make_fixtures.py), fixture loading and error measures.
#![allow(dead_code)]

use densenet_core::plan::{Plan, TensorKind};
use densenet_core::{DenseNet, DenseNetConfig, Float};
pub use densenet_cpu::Cpu;
use safetensors::tensor::Dtype;
use safetensors::SafeTensors;
use std::collections::HashMap;
use std::path::PathBuf;

pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

pub fn splitmix64(z: u64) -> u64 {
    densenet_core::backend::splitmix64(z)
}

/// uniform(name, seed, n) of the fixture generator: values in [0, 1).
pub fn uniform(name: &str, seed: u64, n: usize) -> Vec<f64> {
    let base = fnv1a64(name.as_bytes()) ^ seed;
    (0..n).map(|i| (splitmix64(base.wrapping_add(i as u64)) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)).collect()
}

/// The fixture weights of a plan (all tensors, including running statistics).
pub fn fixture_state(plan: &Plan, seed: u64) -> Vec<Vec<f64>> {
    plan.specs
        .iter()
        .map(|s| {
            let u = uniform(&s.name, seed, s.numel());
            let sym = |v: f64| 2.0 * v - 1.0;
            match s.kind {
                TensorKind::ConvWeight => {
                    let std = (2.0 / (s.shape[0] * s.shape[2] * s.shape[3]) as f64).sqrt();
                    u.iter().map(|&v| sym(v) * 3f64.sqrt() * std).collect()
                }
                TensorKind::BnWeight | TensorKind::BnRunningVar => u.iter().map(|&v| 0.5 + v).collect(),
                TensorKind::BnBias | TensorKind::BnRunningMean => u.iter().map(|&v| 0.2 * sym(v)).collect(),
                TensorKind::LinearWeight => {
                    let root = (s.shape[1] as f64).sqrt();
                    u.iter().map(|&v| sym(v) / root).collect()
                }
                TensorKind::LinearBias => u.iter().map(|&v| 0.1 * sym(v)).collect(),
            }
        })
        .collect()
}

/// [sum, sum of squares, dot with 4 pseudo-random ±1-range vectors].
pub fn fingerprint(name: &str, t: &[f64]) -> Vec<f64> {
    let mut fp = vec![t.iter().sum(), t.iter().map(|v| v * v).sum()];
    for j in 1..=4 {
        let p = uniform(&format!("proj{j}:{name}"), 0, t.len());
        fp.push(t.iter().zip(&p).map(|(a, b)| a * (2.0 * b - 1.0)).sum());
    }
    fp
}

/// Relative error of a fingerprint: each component measured against its Cauchy–Schwarz scale.
pub fn fingerprint_error(ours: &[f64], reference: &[f64], n: usize) -> f64 {
    let norm = reference[1].sqrt().max(1e-300);
    let mut err = (ours[1] - reference[1]).abs() / reference[1].max(1e-300);
    err = err.max((ours[0] - reference[0]).abs() / (norm * (n as f64).sqrt()));
    for j in 2..6 {
        err = err.max((ours[j] - reference[j]).abs() / (norm * (n as f64 / 3.0).sqrt()));
    }
    err
}

/// ‖ours − ref‖ / ‖ref‖.
pub fn rel_error(ours: &[f64], reference: &[f64]) -> f64 {
    assert_eq!(ours.len(), reference.len());
    let num: f64 = ours.iter().zip(reference).map(|(a, b)| (a - b).powi(2)).sum();
    let den: f64 = reference.iter().map(|b| b * b).sum();
    (num / den.max(1e-300)).sqrt()
}

pub struct Fixture {
    pub tensors: HashMap<String, (Vec<usize>, Vec<f64>)>,
    pub metadata: HashMap<String, String>,
}

pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

impl Fixture {
    pub fn load(name: &str) -> Fixture {
        let bytes = std::fs::read(fixture_path(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"));
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
        let mut tensors = HashMap::new();
        for (k, v) in st.tensors() {
            let data = v.data();
            let values: Vec<f64> = match v.dtype() {
                Dtype::F64 => data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect(),
                Dtype::F32 => data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
                Dtype::I64 => data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
                other => panic!("unexpected dtype {other:?} for {k}"),
            };
            tensors.insert(k.clone(), (v.shape().to_vec(), values));
        }
        Fixture { tensors, metadata: meta.metadata().clone().unwrap_or_default() }
    }
    pub fn get(&self, name: &str) -> &[f64] {
        &self.tensors.get(name).unwrap_or_else(|| panic!("fixture tensor {name} missing")).1
    }
    pub fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
    pub fn shape(&self, name: &str) -> &[usize] {
        &self.tensors[name].0
    }
    pub fn config(&self) -> DenseNetConfig {
        DenseNetConfig::from_json(&self.metadata["config"]).unwrap()
    }
    pub fn meta_f64(&self, key: &str) -> f64 {
        self.metadata[key].parse().unwrap()
    }
}

/// The backend under test. The test bodies use only `DenseNet<T, B>`'s API, so another
/// backend runs the same suite by providing its own `TestBackend` and `backend()`.
pub type TestBackend<T> = Cpu<T>;

pub fn backend<T: Float>() -> TestBackend<T> {
    Cpu::new()
}

/// A model on the backend under test.
pub type Net<T> = DenseNet<T, TestBackend<T>>;

/// A freshly initialized model on the backend under test.
pub fn new_model<T: Float>(config: DenseNetConfig, seed: u64) -> Net<T> {
    DenseNet::new(backend::<T>(), config, seed).unwrap()
}

/// A model of element type T holding the fixture weights of `seed`.
pub fn fixture_model<T: Float>(config: DenseNetConfig, seed: u64) -> Net<T> {
    let mut m = new_model::<T>(config, 0);
    let state = fixture_state(m.plan(), seed);
    let tensors: Vec<Vec<T>> = state.into_iter().map(|t| t.into_iter().map(T::from_f64).collect()).collect();
    m.set_params_host(&tensors).unwrap();
    m
}

/// Loads a weights file into a model (the bindings do this I/O in the product).
pub fn load_file<T: Float>(m: &mut Net<T>, path: &std::path::Path) -> densenet_core::Result<()> {
    let bytes = std::fs::read(path).map_err(|e| densenet_core::Error::Io(format!("cannot read '{}': {e}", path.display())))?;
    m.load_weights(&bytes, &path.display().to_string())
}

/// Runs `f` on a rayon pool of `threads` threads (the core owns none).
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

pub fn to_f64<T: Float>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}
