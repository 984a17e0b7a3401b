//! Eval-mode logits equal PyTorch's (fixtures from scripts/fixtures/make_fixtures.py).

mod common;
use common::*;
use densenet_core::Float;

fn check_case<T: Float>(case: &str, tol: f64) {
    let fx = Fixture::load(&format!("infer_{case}.safetensors"));
    let model = fixture_model::<T>(fx.config(), fx.meta_f64("seed") as u64);
    let input = fx.get("input");
    let logits = model.predict(input, fx.shape("input")).unwrap();
    let reference = fx.get(if T::NAME == "f64" { "logits_f64" } else { "logits_f32" });
    let err = rel_error(&to_f64(&logits), reference);
    assert!(err <= tol, "{case} {}: relative error {err:e} > {tol:e}", T::NAME);
    eprintln!("{case} {}: relative error {err:.2e}", T::NAME);
}

macro_rules! cases {
    ($($name:ident => $case:expr),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check_case::<f64>($case, 1e-10);
                check_case::<f32>($case, 1e-4);
            }
        )*
    };
}

cases! {
    tiny_bc => "tiny_bc",
    tiny_basic => "tiny_basic",
    tiny_imagenet => "tiny_imagenet",
    densenet_bc_100 => "densenet-bc-100",
    densenet_40 => "densenet-40",
    densenet121 => "densenet121",
    densenet121_nonsquare_97x131 => "densenet121_nonsquare",
}

/// A torchvision state_dict saved unchanged loads and gives torchvision's logits.
#[test]
fn torchvision_state_dict_loads_unchanged() {
    let io = Fixture::load("torchvision_small_io.safetensors");
    let weights = Fixture::load("torchvision_small.safetensors");
    let mut model = new_model::<f32>(densenet_core::DenseNetConfig::from_json(&weights.metadata["config"]).unwrap(), 0);
    load_file(&mut model, &fixture_path("torchvision_small.safetensors")).unwrap();
    let logits = model.predict(io.get("input"), io.shape("input")).unwrap();
    let err = rel_error(&to_f64(&logits), io.get("logits"));
    assert!(err <= 1e-5, "relative error {err:e}");
}

/// The reference CIFAR code's `norm_final` name loads as `norm5`.
#[test]
fn norm_final_alias_loads() {
    let io = Fixture::load("cifar_normfinal_io.safetensors");
    let weights = Fixture::load("cifar_normfinal.safetensors");
    let mut model = new_model::<f32>(densenet_core::DenseNetConfig::from_json(&weights.metadata["config"]).unwrap(), 0);
    load_file(&mut model, &fixture_path("cifar_normfinal.safetensors")).unwrap();
    let logits = model.predict(io.get("input"), io.shape("input")).unwrap();
    let err = rel_error(&to_f64(&logits), io.get("logits"));
    assert!(err <= 1e-5, "relative error {err:e}");
}
