//! Model configuration, validation and the named presets.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The architecture of one DenseNet (see design.md). JSON field names are camelCase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DenseNetConfig {
    /// k: channels each dense layer adds.
    pub growth_rate: usize,
    /// Number of dense layers in each block.
    pub block_config: Vec<usize>,
    /// Channels produced by the stem convolution.
    pub num_init_features: usize,
    /// BC variant: a 1x1 bottleneck (bn_size * k channels) before each 3x3 conv.
    #[serde(default = "default_true")]
    pub bottleneck: bool,
    /// Bottleneck width multiplier (channels = bn_size * k).
    #[serde(default = "default_bn_size")]
    pub bn_size: usize,
    /// Compression θ of the transitions, in (0, 1].
    #[serde(default = "default_compression")]
    pub compression: f64,
    /// Dropout probability after each 3x3 conv, in [0, 1).
    #[serde(default)]
    pub drop_rate: f64,
    #[serde(default = "default_classes")]
    pub num_classes: usize,
    #[serde(default = "default_in_channels")]
    pub in_channels: usize,
    /// CIFAR stem (3x3 conv, stride 1) instead of the ImageNet stem (7x7/2, BN, ReLU, 3x3/2 max pool).
    #[serde(default)]
    pub small_inputs: bool,
}

fn default_true() -> bool {
    true
}
fn default_bn_size() -> usize {
    4
}
fn default_compression() -> f64 {
    0.5
}
fn default_classes() -> usize {
    1000
}
fn default_in_channels() -> usize {
    3
}

/// Upper bounds of a config's fields (far above any published DenseNet).
pub struct Limits {
    pub growth_rate: usize,
    pub channels: usize,
    pub bn_size: usize,
    pub classes: usize,
    pub blocks: usize,
    pub layers_per_block: usize,
    /// Trainable parameters in all (2³¹: 8 GiB of float32 weights).
    pub parameters: usize,
}

pub const LIMITS: Limits = Limits { growth_rate: 4096, channels: 65_536, bn_size: 64, classes: 1_000_000, blocks: 16, layers_per_block: 10_000, parameters: 1 << 31 };

/// Every preset name, in the order of design.md's table.
pub const PRESET_NAMES: [&str; 11] = [
    "densenet-40",
    "densenet-100",
    "densenet-100-k24",
    "densenet-bc-100",
    "densenet-bc-250",
    "densenet-bc-190",
    "densenet121",
    "densenet161",
    "densenet169",
    "densenet201",
    "densenet264",
];

impl DenseNetConfig {
    /// A CIFAR-style config from its depth: basic L = 3n+4, BC L = 6n+4.
    pub fn cifar(depth: usize, growth_rate: usize, bc: bool, num_classes: usize) -> Result<Self> {
        let (per_layer, form) = if bc { (6, "6n+4") } else { (3, "3n+4") };
        if depth < 4 + per_layer || !(depth - 4).is_multiple_of(per_layer) {
            return Err(Error::Config(format!("depth must have the form {form} (n >= 1) for a {} DenseNet, got {depth}", if bc { "BC" } else { "basic" })));
        }
        let n = (depth - 4) / per_layer;
        let cfg = DenseNetConfig {
            growth_rate,
            block_config: vec![n; 3],
            num_init_features: if bc { 2 * growth_rate } else { 16 },
            bottleneck: bc,
            bn_size: 4,
            compression: if bc { 0.5 } else { 1.0 },
            drop_rate: 0.0,
            num_classes,
            in_channels: 3,
            small_inputs: true,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    fn imagenet(growth_rate: usize, blocks: &[usize], init: usize) -> Self {
        DenseNetConfig {
            growth_rate,
            block_config: blocks.to_vec(),
            num_init_features: init,
            bottleneck: true,
            bn_size: 4,
            compression: 0.5,
            drop_rate: 0.0,
            num_classes: 1000,
            in_channels: 3,
            small_inputs: false,
        }
    }

    /// The preset of this name, or an error listing the known names.
    pub fn preset(name: &str) -> Result<Self> {
        let cifar = |d, k, bc| Self::cifar(d, k, bc, 10);
        match name {
            "densenet-40" => cifar(40, 12, false),
            "densenet-100" => cifar(100, 12, false),
            "densenet-100-k24" => cifar(100, 24, false),
            "densenet-bc-100" => cifar(100, 12, true),
            "densenet-bc-250" => cifar(250, 24, true),
            "densenet-bc-190" => cifar(190, 40, true),
            "densenet121" => Ok(Self::imagenet(32, &[6, 12, 24, 16], 64)),
            "densenet161" => Ok(Self::imagenet(48, &[6, 12, 36, 24], 96)),
            "densenet169" => Ok(Self::imagenet(32, &[6, 12, 32, 32], 64)),
            "densenet201" => Ok(Self::imagenet(32, &[6, 12, 48, 32], 64)),
            "densenet264" => Ok(Self::imagenet(32, &[6, 12, 64, 48], 64)),
            _ => Err(Error::Config(format!("unknown preset '{name}'; known presets: {}", PRESET_NAMES.join(", ")))),
        }
    }

    /// Parses and validates a JSON config; missing optional fields take their defaults.
    pub fn from_json(json: &str) -> Result<Self> {
        let cfg: DenseNetConfig = serde_json::from_str(json).map_err(|e| Error::Config(format!("invalid config JSON: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("config serializes")
    }

    /// Checks every field; the error names the field and the allowed values.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, allowed: &str, got: String| Err(Error::Config(format!("{field} must be {allowed}, got {got}")));
        if self.growth_rate == 0 {
            return bad("growthRate", "> 0", "0".into());
        }
        // Sane bounds first: a typo must be an error, never an allocation the machine cannot make.
        for (field, value, max) in [
            ("growthRate", self.growth_rate, LIMITS.growth_rate),
            ("numInitFeatures", self.num_init_features, LIMITS.channels),
            ("bnSize", self.bn_size, LIMITS.bn_size),
            ("numClasses", self.num_classes, LIMITS.classes),
            ("inChannels", self.in_channels, LIMITS.channels),
            ("blockConfig length", self.block_config.len(), LIMITS.blocks),
        ] {
            if value > max {
                return bad(field, &format!("<= {max}"), value.to_string());
            }
        }
        if let Some(&n) = self.block_config.iter().find(|&&n| n > LIMITS.layers_per_block) {
            return bad("blockConfig", &format!("layer counts <= {}", LIMITS.layers_per_block), n.to_string());
        }
        if self.block_config.is_empty() || self.block_config.contains(&0) {
            return bad("blockConfig", "a non-empty list of positive layer counts", format!("{:?}", self.block_config));
        }
        if self.num_init_features == 0 {
            return bad("numInitFeatures", "> 0", "0".into());
        }
        if self.bottleneck && self.bn_size == 0 {
            return bad("bnSize", "> 0 when bottleneck is true", "0".into());
        }
        if !(self.compression > 0.0 && self.compression <= 1.0) {
            return bad("compression", "in (0, 1]", self.compression.to_string());
        }
        if !(self.drop_rate >= 0.0 && self.drop_rate < 1.0) {
            return bad("dropRate", "in [0, 1)", self.drop_rate.to_string());
        }
        if self.num_classes == 0 {
            return bad("numClasses", "> 0", "0".into());
        }
        if self.in_channels == 0 {
            return bad("inChannels", "> 0", "0".into());
        }
        let mut c = self.num_init_features;
        for (i, &n) in self.block_config.iter().enumerate() {
            c += n * self.growth_rate;
            if i + 1 < self.block_config.len() {
                let out = (self.compression * c as f64).floor() as usize;
                if out == 0 {
                    return bad("compression", "large enough that every transition keeps at least one channel", self.compression.to_string());
                }
                c = out;
            }
        }
        let params = self.parameter_count_estimate();
        if params > LIMITS.parameters as u128 {
            return Err(Error::Config(format!("this config has {params} parameters ({} GiB in float32); the limit is {} parameters", (params * 4) >> 30, LIMITS.parameters)));
        }
        Ok(())
    }

    /// Trainable parameters, computed in u128 before anything is allocated (the same count as
    /// the plan's; the plan is exact, this only guards the bounds).
    pub fn parameter_count_estimate(&self) -> u128 {
        let (k, bw) = (self.growth_rate as u128, self.bottleneck_width() as u128);
        let mut c = self.num_init_features as u128;
        let stem_k = if self.small_inputs { 9 } else { 49 };
        let mut total = self.in_channels as u128 * c * stem_k + if self.small_inputs { 0 } else { 2 * c };
        for (i, &n) in self.block_config.iter().enumerate() {
            for l in 0..n as u128 {
                let cin = c + l * k;
                total += 2 * cin + if self.bottleneck { cin * bw + 2 * bw + bw * k * 9 } else { cin * k * 9 };
            }
            c += n as u128 * k;
            if i + 1 < self.block_config.len() {
                let out = (self.compression * c as f64).floor() as u128;
                total += 2 * c + c * out;
                c = out;
            }
        }
        total + 2 * c + c * self.num_classes as u128 + self.num_classes as u128
    }

    /// Channels of the 1x1 bottleneck conv of a BC layer.
    pub fn bottleneck_width(&self) -> usize {
        self.bn_size * self.growth_rate
    }

    /// Minimum input side length that survives the stem and every transition.
    pub fn min_input_size(&self) -> usize {
        let transitions = self.block_config.len() - 1;
        let base = 1usize << transitions;
        if self.small_inputs {
            base
        } else {
            base * 4
        }
    }
}
