//! The network's structure: which tensors exist, their torchvision names and shapes,
//! and how stages connect. Built once from a config; shared by every pass.

use crate::config::DenseNetConfig;

/// What a named tensor is; decides its init, whether it trains, and its optimizer treatment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorKind {
    ConvWeight,
    BnWeight,
    BnBias,
    BnRunningMean,
    BnRunningVar,
    LinearWeight,
    LinearBias,
}

impl TensorKind {
    pub fn trainable(self) -> bool {
        !matches!(self, TensorKind::BnRunningMean | TensorKind::BnRunningVar)
    }
}

#[derive(Debug, Clone)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub kind: TensorKind,
}

impl TensorSpec {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Indices of one BatchNorm's four tensors.
#[derive(Debug, Clone, Copy)]
pub struct BnRef {
    pub weight: usize,
    pub bias: usize,
    pub mean: usize,
    pub var: usize,
    pub channels: usize,
}

/// One convolution (no bias).
#[derive(Debug, Clone, Copy)]
pub struct ConvRef {
    pub weight: usize,
    pub cin: usize,
    pub cout: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
}

/// A dense layer: BN-ReLU-conv1x1-BN-ReLU-conv3x3 (BC) or BN-ReLU-conv3x3 (basic).
#[derive(Debug, Clone)]
pub struct LayerPlan {
    pub name: String,
    pub cin: usize,
    pub norm1: BnRef,
    pub conv1: ConvRef,
    /// Present for the bottleneck (BC) variant.
    pub bottleneck: Option<(BnRef, ConvRef)>,
    /// Global index of the layer, used to derive its dropout mask.
    pub id: usize,
}

impl LayerPlan {
    /// The conv that produces the layer's k output channels.
    pub fn out_conv(&self) -> &ConvRef {
        match &self.bottleneck {
            Some((_, c)) => c,
            None => &self.conv1,
        }
    }
}

#[derive(Debug, Clone)]
pub struct BlockPlan {
    pub c0: usize,
    pub growth: usize,
    pub layers: Vec<LayerPlan>,
}

impl BlockPlan {
    /// Channels of the block's output: its shared feature buffer's width.
    pub fn width(&self) -> usize {
        self.c0 + self.layers.len() * self.growth
    }
}

#[derive(Debug, Clone, Copy)]
pub struct TransitionPlan {
    pub norm: BnRef,
    pub conv: ConvRef,
}

#[derive(Debug, Clone, Copy)]
pub struct StemPlan {
    pub conv0: ConvRef,
    /// ImageNet stem: BN-ReLU and the 3x3/2 pad-1 max pool after conv0.
    pub norm0: Option<BnRef>,
}

#[derive(Debug, Clone, Copy)]
pub struct HeadPlan {
    pub norm: BnRef,
    pub weight: usize,
    pub bias: usize,
    pub features: usize,
    pub classes: usize,
}

/// Everything about the network that does not depend on the input size.
#[derive(Debug, Clone)]
pub struct Plan {
    pub specs: Vec<TensorSpec>,
    pub stem: StemPlan,
    pub blocks: Vec<BlockPlan>,
    pub transitions: Vec<TransitionPlan>,
    pub head: HeadPlan,
    pub drop_rate: f64,
}

struct Builder {
    specs: Vec<TensorSpec>,
}

impl Builder {
    fn add(&mut self, name: String, shape: Vec<usize>, kind: TensorKind) -> usize {
        self.specs.push(TensorSpec { name, shape, kind });
        self.specs.len() - 1
    }
    fn bn(&mut self, prefix: &str, c: usize) -> BnRef {
        BnRef {
            weight: self.add(format!("{prefix}.weight"), vec![c], TensorKind::BnWeight),
            bias: self.add(format!("{prefix}.bias"), vec![c], TensorKind::BnBias),
            mean: self.add(format!("{prefix}.running_mean"), vec![c], TensorKind::BnRunningMean),
            var: self.add(format!("{prefix}.running_var"), vec![c], TensorKind::BnRunningVar),
            channels: c,
        }
    }
    fn conv(&mut self, prefix: &str, cin: usize, cout: usize, kernel: usize, stride: usize, pad: usize) -> ConvRef {
        let weight = self.add(format!("{prefix}.weight"), vec![cout, cin, kernel, kernel], TensorKind::ConvWeight);
        ConvRef { weight, cin, cout, kernel, stride, pad }
    }
}

impl Plan {
    pub fn new(cfg: &DenseNetConfig) -> Plan {
        let mut b = Builder { specs: Vec::new() };
        let c0 = cfg.num_init_features;
        let stem = if cfg.small_inputs {
            StemPlan { conv0: b.conv("features.conv0", cfg.in_channels, c0, 3, 1, 1), norm0: None }
        } else {
            let conv0 = b.conv("features.conv0", cfg.in_channels, c0, 7, 2, 3);
            StemPlan { conv0, norm0: Some(b.bn("features.norm0", c0)) }
        };
        let k = cfg.growth_rate;
        let mut c = c0;
        let mut blocks = Vec::new();
        let mut transitions = Vec::new();
        let mut layer_id = 0;
        for (bi, &n) in cfg.block_config.iter().enumerate() {
            let mut layers = Vec::new();
            for li in 0..n {
                let name = format!("features.denseblock{}.denselayer{}", bi + 1, li + 1);
                let cin = c + li * k;
                let norm1 = b.bn(&format!("{name}.norm1"), cin);
                let (conv1, bottleneck) = if cfg.bottleneck {
                    let w = cfg.bottleneck_width();
                    let conv1 = b.conv(&format!("{name}.conv1"), cin, w, 1, 1, 0);
                    let norm2 = b.bn(&format!("{name}.norm2"), w);
                    let conv2 = b.conv(&format!("{name}.conv2"), w, k, 3, 1, 1);
                    (conv1, Some((norm2, conv2)))
                } else {
                    (b.conv(&format!("{name}.conv1"), cin, k, 3, 1, 1), None)
                };
                layers.push(LayerPlan { name, cin, norm1, conv1, bottleneck, id: layer_id });
                layer_id += 1;
            }
            blocks.push(BlockPlan { c0: c, growth: k, layers });
            c += n * k;
            if bi + 1 < cfg.block_config.len() {
                let out = (cfg.compression * c as f64).floor() as usize;
                let prefix = format!("features.transition{}", bi + 1);
                let norm = b.bn(&format!("{prefix}.norm"), c);
                let conv = b.conv(&format!("{prefix}.conv"), c, out, 1, 1, 0);
                transitions.push(TransitionPlan { norm, conv });
                c = out;
            }
        }
        let norm = b.bn("features.norm5", c);
        let weight = b.add("classifier.weight".into(), vec![cfg.num_classes, c], TensorKind::LinearWeight);
        let bias = b.add("classifier.bias".into(), vec![cfg.num_classes], TensorKind::LinearBias);
        Plan { specs: b.specs, stem, blocks, transitions, head: HeadPlan { norm, weight, bias, features: c, classes: cfg.num_classes }, drop_rate: cfg.drop_rate }
    }

    /// Number of trainable parameters (conv and linear weights, BN affine, linear bias).
    pub fn parameter_count(&self) -> usize {
        self.specs.iter().filter(|s| s.kind.trainable()).map(|s| s.numel()).sum()
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.specs.iter().position(|s| s.name == name)
    }
}
