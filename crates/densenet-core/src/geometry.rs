//! Spatial sizes through the network for one input shape, with the input checks.

use crate::config::DenseNetConfig;
use crate::error::{Error, Result};
use crate::ops::pool::max3s2_out;

#[derive(Debug, Clone)]
pub struct Geometry {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    /// Output of the ImageNet stem's 7×7/2 conv (before the max pool).
    pub stem_conv: (usize, usize),
    /// Spatial size inside each dense block.
    pub blocks: Vec<(usize, usize)>,
}

impl Geometry {
    /// Checks an NCHW shape against the config and derives every stage's size.
    pub fn new(cfg: &DenseNetConfig, shape: &[usize]) -> Result<Self> {
        if shape.len() != 4 {
            return Err(Error::Shape(format!("input shape must be [N, C, H, W], got {shape:?}")));
        }
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3]);
        if n == 0 {
            return Err(Error::Shape("batch size N must be > 0".into()));
        }
        if c != cfg.in_channels {
            return Err(Error::Shape(format!("input has {c} channels, the model expects inChannels = {}", cfg.in_channels)));
        }
        let min = cfg.min_input_size();
        if h < min || w < min {
            return Err(Error::Shape(format!("input {h}x{w} is too small for this network: height and width must be >= {min}")));
        }
        let (stem_conv, mut hw) = if cfg.small_inputs {
            ((h, w), (h, w))
        } else {
            let conv = ((h - 1) / 2 + 1, (w - 1) / 2 + 1);
            (conv, (max3s2_out(conv.0), max3s2_out(conv.1)))
        };
        let mut blocks = Vec::new();
        for i in 0..cfg.block_config.len() {
            blocks.push(hw);
            if i + 1 < cfg.block_config.len() {
                hw = (hw.0 / 2, hw.1 / 2);
            }
        }
        Ok(Geometry { n, h, w, stem_conv, blocks })
    }

    /// Elements per channel in block `b`: N·H·W.
    pub fn plane(&self, b: usize) -> usize {
        self.n * self.blocks[b].0 * self.blocks[b].1
    }
}
