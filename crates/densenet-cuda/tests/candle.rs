//! A DenseNet through candle (feature `cuda`): a model on a candle CUDA device takes candle
//! images and gives candle logits and tensors. The GPU test is `#[ignore]`d (reported as
//! ignored, never as passed, on a machine without one): `cargo test --features cuda -- --ignored`.
#![cfg(feature = "cuda")]

use densenet_core::{DenseNet, DenseNetConfig};
use densenet_cpu::Cpu;
use densenet_cuda::candle_core::{DType, Device, Tensor};
use densenet_cuda::candle_interop::{cuda_device, new_model_on, predict_tensor, tensors};

fn tiny() -> DenseNetConfig {
    DenseNetConfig::from_json(r#"{"growthRate":6,"blockConfig":[2,2],"numInitFeatures":12,"numClasses":5,"smallInputs":true}"#).unwrap()
}

#[test]
fn a_cpu_candle_device_is_an_argument_error() {
    let Err(e) = cuda_device(&Device::Cpu) else { panic!("the CPU is not a CUDA device") };
    assert_eq!(e.code(), "ERR_INVALID_ARG", "{e}");
    let Err(e) = new_model_on::<f32>(tiny(), 1, &Device::Cpu) else { panic!("no model on the CPU through candle") };
    assert_eq!(e.code(), "ERR_INVALID_ARG", "{e}");
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn candle_images_in_candle_logits_out_on_the_gpu() {
    let device = Device::new_cuda(0).expect("a CUDA device");
    let model = new_model_on::<f64>(tiny(), 7, &device).unwrap();
    let cpu = DenseNet::new(Cpu::<f64>::new(), tiny(), 7).unwrap();
    let host: Vec<f64> = (0..3 * 3 * 12 * 12).map(|i| ((i * 7919 % 1000) as f64) / 500.0 - 1.0).collect();
    let images = Tensor::from_vec(host.clone(), (3, 3, 12, 12), &device).unwrap();
    let logits = predict_tensor(&model, &images).unwrap();
    assert_eq!(logits.dims(), &[3, 5]);
    assert_eq!(logits.dtype(), DType::F64);
    assert!(logits.device().same_device(&device), "the logits are on the model's device");
    let want = cpu.predict(&host, &[3, 3, 12, 12]).unwrap();
    let got = logits.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let e = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(e < 1e-10, "GPU logits through candle differ from the CPU's by {e}");
    // candle ops on the logits run on the same stream as the model.
    let p = densenet_cuda::candle_core::Tensor::exp(&logits).unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap();
    assert!(p.is_finite() && p > 0.0);
    let all = tensors(&model).unwrap();
    assert_eq!(all.len(), model.plan().specs.len());
    for ((name, t), spec) in all.iter().zip(&model.plan().specs) {
        assert_eq!(name, &spec.name);
        assert_eq!(t.dims(), &spec.shape[..], "{name}");
    }
}
