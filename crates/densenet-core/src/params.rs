//! The network's tensors (parameters and BN running statistics), their initialization, and
//! safetensors I/O with torchvision's names.

use crate::backend::splitmix64;
use crate::error::{Error, Result};
use crate::float::Float;
use crate::plan::{Plan, TensorKind, TensorSpec};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::HashMap;

/// What a safetensors file decodes to: the plan's tensors, the extra tensors by name, the metadata.
pub type Decoded<T> = (Params<T>, HashMap<String, Vec<T>>, HashMap<String, String>);

/// One Vec per tensor of the plan, in plan order.
#[derive(Debug, Clone)]
pub struct Params<T> {
    pub tensors: Vec<Vec<T>>,
}

/// Names of the reference CIFAR code that load as ours.
const ALIASES: [(&str, &str); 1] = [("features.norm_final.", "features.norm5.")];

/// Tensors a checkpoint may carry that we ignore.
fn ignored(name: &str) -> bool {
    name.ends_with(".num_batches_tracked")
}

/// A tiny deterministic normal generator (splitmix64 + Box-Muller).
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(1);
        ((splitmix64(self.0) >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

impl<T: Float> Params<T> {
    pub fn zeros(plan: &Plan) -> Self {
        Params { tensors: plan.specs.iter().map(|s| vec![T::ZERO; s.numel()]).collect() }
    }

    /// The reference code's init: conv ~ N(0, 2/(out·kh·kw)), BN weight 1 and bias 0, running
    /// stats 0 and 1, linear weight U(±1/√in) (PyTorch's default), linear bias 0.
    pub fn init(plan: &Plan, seed: u64) -> Self {
        Params { tensors: plan.specs.iter().enumerate().map(|(i, spec)| Self::init_tensor(spec, i, seed)).collect() }
    }

    /// [`Params::init`] of one tensor, the `index`-th of its plan.
    pub fn init_tensor(spec: &TensorSpec, index: usize, seed: u64) -> Vec<T> {
        let mut rng = Rng(splitmix64(seed ^ splitmix64(index as u64 + 1)));
        let mut t = vec![T::ZERO; spec.numel()];
        match spec.kind {
            TensorKind::ConvWeight => {
                let std = (2.0 / (spec.shape[0] * spec.shape[2] * spec.shape[3]) as f64).sqrt();
                t.iter_mut().for_each(|v| *v = T::from_f64(rng.normal() * std));
            }
            TensorKind::BnWeight | TensorKind::BnRunningVar => t.fill(T::ONE),
            TensorKind::BnBias | TensorKind::BnRunningMean | TensorKind::LinearBias => {}
            TensorKind::LinearWeight => {
                let bound = 1.0 / (spec.shape[1] as f64).sqrt();
                t.iter_mut().for_each(|v| *v = T::from_f64((2.0 * rng.uniform() - 1.0) * bound));
            }
        }
        t
    }

    /// Safetensors bytes with torchvision's names, in the element type `T`, plus metadata.
    pub fn to_safetensors(&self, plan: &Plan, extra: &[(String, &[T], Vec<usize>)], metadata: Option<HashMap<String, String>>) -> Result<Vec<u8>> {
        let dtype = if T::NAME == "f32" { Dtype::F32 } else { Dtype::F64 };
        let mut views = Vec::new();
        for (spec, data) in plan.specs.iter().zip(&self.tensors) {
            let view = TensorView::new(dtype, spec.shape.clone(), T::bytes_of(data)).map_err(|e| Error::Weights(e.to_string()))?;
            views.push((spec.name.clone(), view));
        }
        for (name, data, shape) in extra {
            let view = TensorView::new(dtype, shape.clone(), T::bytes_of(data)).map_err(|e| Error::Weights(e.to_string()))?;
            views.push((name.clone(), view));
        }
        let bytes = safetensors::serialize(views, metadata).map_err(|e| Error::Weights(e.to_string()))?;
        Ok(canonical_header(bytes))
    }

    /// Loads every tensor of the plan from safetensors bytes (any float dtype), checking names
    /// and shapes. `extra_prefix` names tensors (e.g. optimizer state) returned separately.
    pub fn from_safetensors(plan: &Plan, bytes: &[u8], path: &str, extra_prefix: Option<&str>) -> Result<Decoded<T>> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| Error::Weights(format!("{path}: not a valid safetensors file: {e}")))?;
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| Error::Weights(format!("{path}: {e}")))?;
        let metadata = meta.metadata().clone().unwrap_or_default();
        let mut found: HashMap<String, TensorView> = HashMap::new();
        let mut extra = HashMap::new();
        for (name, view) in st.tensors() {
            if ignored(&name) {
                continue;
            }
            if let Some(prefix) = extra_prefix {
                if name.starts_with(prefix) {
                    let values = view_to_vec::<T>(&view, &name, path)?;
                    check_values(&values, TensorKind::ConvWeight, &name, path)?;
                    extra.insert(name.clone(), values);
                    continue;
                }
            }
            let mut canonical = name.clone();
            for (alias, ours) in ALIASES {
                if let Some(rest) = name.strip_prefix(alias) {
                    canonical = format!("{ours}{rest}");
                }
            }
            found.insert(canonical, view);
        }
        let mut params = Self::zeros(plan);
        for (i, spec) in plan.specs.iter().enumerate() {
            let view = found.remove(&spec.name).ok_or_else(|| Error::Weights(format!("{path}: tensor '{}' is missing (expected shape {:?})", spec.name, spec.shape)))?;
            if view.shape() != spec.shape.as_slice() {
                return Err(Error::Weights(format!("{path}: tensor '{}' has shape {:?}, expected {:?} for this config", spec.name, view.shape(), spec.shape)));
            }
            let values = view_to_vec::<T>(&view, &spec.name, path)?;
            check_values(&values, spec.kind, &spec.name, path)?;
            params.tensors[i] = values;
        }
        if let Some(name) = found.keys().min() {
            return Err(Error::Weights(format!("{path}: unexpected tensor '{name}' ({} unexpected in all): the file was saved for a different config", found.len())));
        }
        Ok((params, extra, metadata))
    }
}

/// A tensor's values as `T`, from any float dtype (f16, bf16, f32, f64; little-endian).
/// Integer and boolean tensors are refused, not cast.
fn view_to_vec<T: Float>(view: &TensorView, name: &str, path: &str) -> Result<Vec<T>> {
    let data = view.data();
    let values: Vec<f64> = match view.dtype() {
        Dtype::F64 => data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect(),
        Dtype::F32 => data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        Dtype::F16 => data.chunks_exact(2).map(|c| f16_to_f64(u16::from_le_bytes([c[0], c[1]]))).collect(),
        Dtype::BF16 => data.chunks_exact(2).map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16) as f64).collect(),
        other => return Err(Error::Weights(format!("{path}: tensor '{name}' has dtype {other:?}; expected a float type (F16, BF16, F32, F64)"))),
    };
    Ok(values.into_iter().map(T::from_f64).collect())
}

/// Refuses NaN/Inf anywhere and a negative running variance, naming the tensor and the index
/// (also when the value only overflows in the model's element type).
fn check_values<T: Float>(values: &[T], kind: TensorKind, name: &str, path: &str) -> Result<()> {
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(Error::Weights(format!("{path}: tensor '{name}' holds {:?} at index {i}; weights must be finite", values[i])));
    }
    // In f32 a finite weight at or past √f32::MAX (1.8e19) overflows as soon as it is multiplied
    // by a value of its own size (a conv's sum, BN's variance): refuse it here, not at the first
    // predict, and point at f64, where such weights compute.
    if T::NAME == "f32" {
        let limit = (f32::MAX as f64).sqrt();
        if let Some(i) = values.iter().position(|v| v.to_f64().abs() >= limit) {
            return Err(Error::Weights(format!(
                "{path}: tensor '{name}' holds {:e} at index {i}: products of values that large overflow f32 (|x| must be < {limit:.2e}); load the model with dtype 'f64'",
                values[i].to_f64()
            )));
        }
    }
    if kind == TensorKind::BnRunningVar {
        if let Some(i) = values.iter().position(|v| v.to_f64() < 0.0) {
            return Err(Error::Weights(format!("{path}: tensor '{name}' holds the negative variance {:?} at index {i}", values[i])));
        }
    }
    Ok(())
}

/// IEEE half precision to f64 (subnormals, infinities and NaN included).
fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f64;
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        e => sign * (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

/// The reference init of every tensor of a plan (see [`Params::init`]).
pub fn init_params<T: Float>(plan: &Plan, seed: u64) -> Vec<Vec<T>> {
    Params::init(plan, seed).tensors
}

/// The string metadata of a safetensors header (e.g. `densenet.config`).
pub fn decode_safetensors_metadata(bytes: &[u8], source: &str) -> Result<HashMap<String, String>> {
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| Error::Weights(format!("{source}: not a valid safetensors file: {e}")))?;
    Ok(meta.metadata().clone().unwrap_or_default())
}

/// Rewrites a safetensors header with its keys sorted (the metadata comes from a HashMap), so
/// that the same model always gives the same bytes. Offsets are relative to the data section,
/// which is unchanged; the header stays padded to 8 bytes with spaces, as the format asks.
fn canonical_header(bytes: Vec<u8>) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("safetensors starts with its header length")) as usize;
    let value: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).expect("safetensors wrote valid JSON");
    let mut header = serde_json::to_vec(&sorted(value)).expect("a JSON value serializes");
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

/// The same JSON value with every object's keys inserted in sorted order.
fn sorted(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<(String, serde_json::Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        other => other,
    }
}
