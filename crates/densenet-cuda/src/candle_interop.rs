//! DenseNets for candle users (feature `cuda`): a model on the caller's [`candle_core::Device`]
//! (its CUDA device: context, stream, cuBLAS handle and memory pool shared), images in and
//! logits out as candle tensors, and the model's tensors as candle tensors under torchvision's names.
//!
//! The model's own storage is the memory-efficient layout (channel ranges of one shared block
//! buffer), which a candle tensor cannot view, so tensors cross at the edges: the images are
//! read into the model's channel-major input and the logits and parameters are copied into new
//! tensors. Those copies go through host memory today (the images of a batch and a few KiB of
//! logits; the model's tensors only when asked for).

use crate::cuda::{cuda_on, Cuda};
use crate::device::Elem;
use candle_core::{DType, Device, Tensor, WithDType};
use densenet_core::{Backend, DenseNet, DenseNetConfig, Error, Float, Result};

fn candle_err(what: &str) -> impl Fn(candle_core::Error) -> Error + '_ {
    move |e| Error::Device(format!("{what}: {e}"))
}

/// The CUDA device inside a candle device, or `ERR_INVALID_ARG` for a CPU or Metal one.
pub fn cuda_device(device: &Device) -> Result<&candle_core::CudaDevice> {
    match device {
        Device::Cuda(d) => Ok(d),
        other => Err(Error::InvalidArg(format!("a DenseNet through candle runs on a CUDA device, got {:?}", other.location()))),
    }
}

/// A new DenseNet of element type `T` (f32 or f64) on `device` (a candle CUDA device), weights
/// from `seed` as [`DenseNet::new`].
pub fn new_model_on<T: Float + Elem>(config: DenseNetConfig, seed: u64, device: &Device) -> Result<DenseNet<T, Cuda<T>>> {
    DenseNet::new(cuda_on::<T>(cuda_device(device)?)?, config, seed)
}

/// Eval-mode logits [N, classes] of `images` ([N, C, H, W], f32 or f64, on any candle device)
/// as a tensor of `T` on the model's device.
pub fn predict_tensor<T: Float + Elem + WithDType>(model: &DenseNet<T, Cuda<T>>, images: &Tensor) -> Result<Tensor> {
    let dims = images.dims().to_vec();
    if dims.len() != 4 {
        return Err(Error::Shape(format!("images must be a [N, C, H, W] tensor, got shape {dims:?}")));
    }
    let flat = images.flatten_all().map_err(candle_err("images"))?;
    let logits = match images.dtype() {
        DType::F32 => model.predict(&flat.to_vec1::<f32>().map_err(candle_err("reading the images"))?, &dims)?,
        DType::F64 => model.predict(&flat.to_vec1::<f64>().map_err(candle_err("reading the images"))?, &dims)?,
        other => return Err(Error::InvalidArg(format!("images must be f32 or f64, got {other:?}"))),
    };
    let device = Device::Cuda(model.backend().device().candle().clone());
    Tensor::from_vec(logits, (dims[0], model.config().num_classes), &device).map_err(candle_err("the logits tensor"))
}

/// Every tensor of the model (parameters and BN running statistics, as its safetensors file
/// holds them) on the model's device, by its torchvision name, in plan order.
pub fn tensors<T: Float + Elem + WithDType>(model: &DenseNet<T, Cuda<T>>) -> Result<Vec<(String, Tensor)>> {
    let device = Device::Cuda(model.backend().device().candle().clone());
    let host = model.params_host();
    model.backend().take_error()?;
    model
        .plan()
        .specs
        .iter()
        .zip(host)
        .map(|(spec, values)| Ok((spec.name.clone(), Tensor::from_vec(values, spec.shape.clone(), &device).map_err(candle_err(&spec.name))?)))
        .collect()
}
