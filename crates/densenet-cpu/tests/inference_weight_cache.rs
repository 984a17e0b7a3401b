//! The packed weights the CPU backend keeps between predict calls (`ops::weight_cache`): they
//! follow every change of the parameters (a training step, loaded weights), never serve another
//! model's, and change no bit of the logits.

mod common;
use common::*;
use densenet_core::{DenseNet, DenseNetConfig};
use densenet_cpu::Cpu;

fn config() -> DenseNetConfig {
    DenseNetConfig::from_json(r#"{"growthRate":6,"blockConfig":[2,2],"numInitFeatures":12,"numClasses":5,"smallInputs":true}"#).unwrap()
}

fn input(seed: u64, n: usize) -> (Vec<f32>, Vec<usize>) {
    let x = uniform(&format!("x{seed}"), seed, n * 3 * 8 * 8).iter().map(|&u| (2.0 * u - 1.0) as f32).collect();
    (x, vec![n, 3, 8, 8])
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The logits of a fresh model (nothing kept yet) holding `params`.
fn fresh_logits(params: &[Vec<f32>], x: &[f32], shape: &[usize]) -> Vec<u32> {
    let mut m = DenseNet::new(Cpu::<f32>::new(), config(), 99).unwrap();
    m.set_params_host(params).unwrap();
    bits(&m.predict(x, shape).unwrap())
}

#[test]
fn kept_weights_follow_training_steps_and_loaded_weights() {
    let (x, shape) = input(1, 2);
    let mut m = DenseNet::new(Cpu::<f32>::new(), config(), 1).unwrap();
    let first = bits(&m.predict(&x, &shape).unwrap());
    assert_eq!(bits(&m.predict(&x, &shape).unwrap()), first, "a second predict (kept weights) differs");
    assert_eq!(fresh_logits(&m.params_host(), &x, &shape), first);
    if densenet_cpu::ops::packed_conv::available::<f32>() {
        assert!(m.cached_bytes() > 0, "nothing was kept: the test would not test the cache");
    }

    // A training step changes the weights: predict must see the new ones.
    let labels = [0i64, 3];
    m.train_step(&x, &shape, &labels).unwrap();
    let after_step = bits(&m.predict(&x, &shape).unwrap());
    assert_ne!(after_step, first, "the step changed nothing visible");
    assert_eq!(fresh_logits(&m.params_host(), &x, &shape), after_step, "predict after a step used weights kept from before it");

    // Loaded weights (another model's) replace them.
    let other = DenseNet::new(Cpu::<f32>::new(), config(), 2).unwrap();
    m.set_params_host(&other.params_host()).unwrap();
    let loaded = bits(&m.predict(&x, &shape).unwrap());
    assert_eq!(loaded, bits(&other.predict(&x, &shape).unwrap()), "predict after loading used weights kept from before");

    // Eval steps (the training loop's validation) read the same kept weights.
    let out = m.eval_step(&x, &shape, &labels).unwrap();
    let logits: Vec<u32> = out.logits.iter().map(|&v| (v as f32).to_bits()).collect();
    assert_eq!(logits, loaded);
}

#[test]
fn trim_drops_the_kept_weights_and_predict_packs_them_again() {
    let (x, shape) = input(3, 1);
    let m = DenseNet::new(Cpu::<f32>::new(), config(), 4).unwrap();
    let first = bits(&m.predict(&x, &shape).unwrap());
    let held = m.cached_bytes();
    m.release_cached();
    assert!(m.cached_bytes() < held || !densenet_cpu::ops::packed_conv::available::<f32>());
    assert_eq!(bits(&m.predict(&x, &shape).unwrap()), first);
}
