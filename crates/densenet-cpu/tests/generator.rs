//! The Rust fixture generator reproduces the Python one bit for bit.

mod common;
use common::*;
use densenet_core::plan::Plan;

#[test]
fn generator_matches_python() {
    let fx = Fixture::load("generator.safetensors");
    let vectors: serde_json::Value = serde_json::from_str(&fx.metadata["vectors"]).unwrap();
    for v in vectors.as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let seed: u64 = v["seed"].as_str().unwrap().parse().unwrap();
        let n = v["n"].as_u64().unwrap() as usize;
        assert_eq!(format!("{:016x}", fnv1a64(name.as_bytes())), v["fnv1a64"].as_str().unwrap());
        assert_eq!(uniform(name, seed, n), fx.get(v["tensor"].as_str().unwrap()), "{name}");
    }
    let plan = Plan::new(&fx.config());
    let state = fixture_state(&plan, fx.meta_f64("seed") as u64);
    for (spec, t) in plan.specs.iter().zip(&state) {
        assert_eq!(t.as_slice(), fx.get(&format!("state.{}", spec.name)), "{}", spec.name);
        let key = format!("fp.state.{}", spec.name);
        if fx.has(&key) {
            let fp = fingerprint(&spec.name, t);
            assert!(fingerprint_error(&fp, fx.get(&key), t.len()) < 1e-12, "{key}");
        }
    }
}
