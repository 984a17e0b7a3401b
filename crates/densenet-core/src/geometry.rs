//! Spatial sizes through the network for one input shape, with the input checks.

use crate::config::DenseNetConfig;
use crate::error::{Error, Result};

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

/// Output side of the 3×3, stride-2, pad-1 max pool.
pub fn max3s2_out(side: usize) -> usize {
    (side + 2 - 3) / 2 + 1
}

/// One convolution applied to one input size.
#[derive(Debug, Clone, Copy)]
pub struct ConvGeom {
    pub cin: usize,
    pub cout: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub ho: usize,
    pub wo: usize,
}

impl ConvGeom {
    #[allow(clippy::too_many_arguments)]
    pub fn new(cin: usize, cout: usize, kernel: usize, stride: usize, pad: usize, n: usize, h: usize, w: usize) -> Self {
        let ho = (h + 2 * pad - kernel) / stride + 1;
        let wo = (w + 2 * pad - kernel) / stride + 1;
        ConvGeom { cin, cout, kernel, stride, pad, n, h, w, ho, wo }
    }
    pub fn of(c: &crate::plan::ConvRef, n: usize, h: usize, w: usize) -> Self {
        Self::new(c.cin, c.cout, c.kernel, c.stride, c.pad, n, h, w)
    }
    pub fn is_pointwise(&self) -> bool {
        self.kernel == 1 && self.stride == 1 && self.pad == 0
    }
    /// Rows of the lowered matrix: Cin · k².
    pub fn k(&self) -> usize {
        self.cin * self.kernel * self.kernel
    }
    pub fn in_plane(&self) -> usize {
        self.n * self.h * self.w
    }
    pub fn out_plane(&self) -> usize {
        self.n * self.ho * self.wo
    }
}
