//! A per-stage table of the network (the paper's Table 1): output size and parameters.

use crate::config::DenseNetConfig;
use crate::error::Result;
use crate::geometry::Geometry;
use crate::plan::Plan;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    pub name: String,
    /// What the stage does, e.g. "[1x1 conv, 3x3 conv] x 16".
    pub layers: String,
    /// [C, H, W] of the stage's output.
    pub output_shape: [usize; 3],
    pub params: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub input_shape: [usize; 3],
    pub stages: Vec<Stage>,
    pub total: usize,
}

/// Parameters of every trainable tensor whose name starts with one of `prefixes`.
fn params_under(plan: &Plan, prefixes: &[String]) -> usize {
    plan.specs.iter().filter(|s| s.kind.trainable() && prefixes.iter().any(|p| s.name.starts_with(p.as_str()))).map(|s| s.numel()).sum()
}

pub fn summary(cfg: &DenseNetConfig, height: usize, width: usize) -> Result<Summary> {
    cfg.validate()?;
    let plan = Plan::new(cfg);
    let geo = Geometry::new(cfg, &[1, cfg.in_channels, height, width])?;
    let mut stages = Vec::new();
    let c0 = cfg.num_init_features;
    let (h0, w0) = geo.blocks[0];
    let stem_params = params_under(&plan, &["features.conv0.".into(), "features.norm0.".into()]);
    if cfg.small_inputs {
        stages.push(Stage { name: "convolution".into(), layers: "3x3 conv".into(), output_shape: [c0, h0, w0], params: stem_params });
    } else {
        let (hc, wc) = geo.stem_conv;
        stages.push(Stage { name: "convolution".into(), layers: "7x7 conv, stride 2".into(), output_shape: [c0, hc, wc], params: stem_params });
        stages.push(Stage { name: "pooling".into(), layers: "3x3 max pool, stride 2".into(), output_shape: [c0, h0, w0], params: 0 });
    }
    for (i, block) in plan.blocks.iter().enumerate() {
        let (h, w) = geo.blocks[i];
        let layer = if cfg.bottleneck { "[1x1 conv, 3x3 conv]" } else { "[3x3 conv]" };
        stages.push(Stage {
            name: format!("denseblock{}", i + 1),
            layers: format!("{layer} x {}", block.layers.len()),
            output_shape: [block.width(), h, w],
            params: params_under(&plan, &[format!("features.denseblock{}.", i + 1)]),
        });
        if let Some(t) = plan.transitions.get(i) {
            let (h2, w2) = geo.blocks[i + 1];
            stages.push(Stage {
                name: format!("transition{}", i + 1),
                layers: "1x1 conv; 2x2 average pool, stride 2".into(),
                output_shape: [t.conv.cout, h2, w2],
                params: params_under(&plan, &[format!("features.transition{}.", i + 1)]),
            });
        }
    }
    stages.push(Stage {
        name: "classification".into(),
        layers: format!("global average pool; {}-way fully connected", cfg.num_classes),
        output_shape: [cfg.num_classes, 1, 1],
        params: params_under(&plan, &["features.norm5.".into(), "classifier.".into()]),
    });
    let total = plan.parameter_count();
    debug_assert_eq!(stages.iter().map(|s| s.params).sum::<usize>(), total);
    Ok(Summary { input_shape: [cfg.in_channels, height, width], stages, total })
}
