//! Memory a model and a pass need, from the plan alone, before anything is allocated: the
//! buffers the passes in `passes.rs` create, summed the way they are alive at the same time,
//! plus the scratch a backend keeps of its own where it is large (`Backend::workspace_bytes`:
//! on a GPU the conv column buffer and the cuBLAS workspace; the CPU's few MiB of im2col
//! columns are not counted).

use crate::config::DenseNetConfig;
use crate::error::{Error, Result};
use crate::geometry::{ConvGeom, Geometry};
use crate::layers::context::MemoryMode;
use crate::plan::Plan;
use serde::Serialize;

/// Bytes, by what holds them. Activations are the peak of one pass at the given input shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryEstimate {
    /// Parameters and BN running statistics.
    pub parameters: u64,
    /// Gradients (allocated by the first training step).
    pub gradients: u64,
    /// Momentum buffers of SGD.
    pub optimizer: u64,
    /// Peak memory of one `predict` besides the parameters: activations (no tape), and on a
    /// backend that fuses BN-ReLU into its convolutions the copy of their weights it keeps
    /// packed between calls (strips of [`PACKED_STRIP`] output channels). This and the two
    /// training figures include the backend's own workspace (see the module's note).
    pub inference: u64,
    /// Peak activation memory of one training step, efficient mode.
    pub training_efficient: u64,
    /// Peak activation memory of one training step, naive mode.
    pub training_naive: u64,
}

impl MemoryEstimate {
    /// Everything a training step in `mode` needs at its peak, the model included.
    pub fn training_total(&self, mode: MemoryMode) -> u64 {
        let act = match mode {
            MemoryMode::Efficient => self.training_efficient,
            MemoryMode::Naive => self.training_naive,
        };
        self.parameters.saturating_add(self.gradients).saturating_add(self.optimizer).saturating_add(act)
    }

    /// Everything a `predict` needs at its peak, the parameters included.
    pub fn inference_total(&self) -> u64 {
        self.parameters.saturating_add(self.inference)
    }
}

/// Output channels per strip of a fusing backend's packed conv weights (the CPU micro-kernel's
/// rows): Cout is padded to a multiple of it.
pub const PACKED_STRIP: usize = 12;

/// The estimate for `config` on an NCHW input `shape` with elements of `elem_bytes` bytes.
pub fn estimate(config: &DenseNetConfig, shape: &[usize], elem_bytes: usize) -> Result<MemoryEstimate> {
    estimate_fused(config, shape, elem_bytes, false)
}

/// [`estimate`] for a backend that does (`fuses_bn_conv = true`) or does not fuse BN-ReLU into
/// its convolutions (see `Backend::fuses_bn_conv`): a fusing backend's predict needs no
/// BN-ReLU scratch. [`estimate`] assumes it does not (the larger figure).
pub fn estimate_fused(config: &DenseNetConfig, shape: &[usize], elem_bytes: usize, fuses_bn_conv: bool) -> Result<MemoryEstimate> {
    estimate_with_workspace(config, shape, elem_bytes, fuses_bn_conv, |_| 0)
}

/// [`estimate_fused`] plus a backend's own workspace for the pass, computed from the pass's
/// convolutions by `workspace` (see `Backend::workspace_bytes`).
pub fn estimate_with_workspace(
    config: &DenseNetConfig,
    shape: &[usize],
    elem_bytes: usize,
    fuses_bn_conv: bool,
    workspace: impl FnOnce(&[ConvGeom]) -> u64,
) -> Result<MemoryEstimate> {
    config.validate()?;
    let geo = Geometry::new(config, shape)?;
    let plan = Plan::new(config);
    let ws = workspace(&conv_geometries(&plan, &geo));
    Ok(estimate_for(&plan, &geo, elem_bytes, fuses_bn_conv, ws))
}

/// Every convolution a pass on `geo` runs, at its input geometry: the stem's, each dense
/// layer's one or two, each transition's (backward runs the same ones).
pub fn conv_geometries(plan: &Plan, geo: &Geometry) -> Vec<ConvGeom> {
    let mut out = vec![ConvGeom::of(&plan.stem.conv0, geo.n, geo.h, geo.w)];
    for (bi, block) in plan.blocks.iter().enumerate() {
        let (h, w) = geo.blocks[bi];
        for l in &block.layers {
            out.push(ConvGeom::of(&l.conv1, geo.n, h, w));
            if let Some((_, conv2)) = &l.bottleneck {
                out.push(ConvGeom::of(conv2, geo.n, h, w));
            }
        }
        if let Some(t) = plan.transitions.get(bi) {
            out.push(ConvGeom::of(&t.conv, geo.n, h, w));
        }
    }
    out
}

/// `fused`: the backend applies BN-ReLU inside its convolutions (`Backend::fuses_bn_conv`), so
/// a forward pass needs no BN-ReLU scratch (backward still does). `workspace`: bytes of the
/// backend's own scratch, alive through every pass.
pub(crate) fn estimate_for(plan: &Plan, geo: &Geometry, elem_bytes: usize, fused: bool, workspace: u64) -> MemoryEstimate {
    let e = elem_bytes as u128;
    let bytes = |elements: u128| -> u64 { u64::try_from(elements.saturating_mul(e)).unwrap_or(u64::MAX) };
    let n = geo.n as u128;
    let input = n * plan.stem.conv0.cin as u128 * (geo.h * geo.w) as u128;
    let plane = |b: usize| geo.plane(b) as u128;
    let buffer = |b: usize| plan.blocks[b].width() as u128 * plane(b);
    let blocks = plan.blocks.len();

    // The ImageNet stem's conv output and BN-ReLU output (and the pool's argmax, u32, in training).
    let stem_conv = match plan.stem.norm0 {
        Some(_) => plan.stem.conv0.cout as u128 * n * (geo.stem_conv.0 * geo.stem_conv.1) as u128,
        None => 0,
    };
    let argmax_elems = if plan.stem.norm0.is_some() { (plan.blocks[0].c0 as u128 * plane(0) * 4).div_ceil(e.max(1)) } else { 0 };

    let ScratchSizes { z, bz, d, t } = scratch_sizes(plan, geo);
    let (z, bz, d, t) = (z as u128, bz as u128, d as u128, t as u128);
    let scratch = z + 2 * bz + d + t;
    // Naive: per layer the concatenated input copy, its BN-ReLU, the bottleneck output and its BN-ReLU.
    let mut naive_layers = 0u128;
    for (bi, block) in plan.blocks.iter().enumerate() {
        for l in &block.layers {
            let bw = if l.bottleneck.is_some() { l.conv1.cout as u128 } else { 0 };
            naive_layers += (2 * l.cin as u128 + 2 * bw) * plane(bi);
        }
    }
    let head = (plan.head.features as u128 + plan.head.classes as u128) * n * 2;

    // Inference: first the input, the stem's intermediates and the first block buffer; the
    // input and the stem's buffers are freed before the blocks allocate their scratch, and then
    // at most two block buffers are alive at once.
    let pair = (0..blocks).map(|b| buffer(b) + if b + 1 < blocks { buffer(b + 1) } else { 0 }).max().unwrap_or(0);
    let forward_scratch = if fused { bz + t } else { scratch };
    // The fused convs (every dense layer's and transition's) keep packed weights between calls.
    let packed = |c: &crate::plan::ConvRef| (c.cout.div_ceil(PACKED_STRIP) * PACKED_STRIP * c.cin * c.kernel * c.kernel) as u128;
    let packed_weights: u128 = if fused {
        let layers = plan.blocks.iter().flat_map(|b| &b.layers).map(|l| packed(&l.conv1) + l.bottleneck.as_ref().map_or(0, |(_, c)| packed(c)));
        layers.sum::<u128>() + plan.transitions.iter().map(|t| packed(&t.conv)).sum::<u128>()
    } else {
        0
    };
    let inference = (input + 2 * stem_conv + buffer(0)).max(pair + forward_scratch) + head + packed_weights;

    // Training: every block buffer kept, the stem's tape, one gradient buffer per block (two at
    // a transition), scratch, the head.
    let kept: u128 = (0..blocks).map(buffer).sum();
    let grads_pair = (0..blocks).map(|b| buffer(b) + if b > 0 { buffer(b - 1) } else { 0 }).max().unwrap_or(0);
    let stem_tape = 2 * stem_conv + argmax_elems;
    let efficient = input + kept + stem_tape + grads_pair + scratch + head;
    // Naive adds the stored per-layer intermediates and the transient gradients of one layer.
    let naive = efficient + naive_layers + z + bz;

    let params: u128 = plan.specs.iter().map(|s| s.numel() as u128).sum();
    let trainable = plan.parameter_count() as u128;
    MemoryEstimate {
        parameters: bytes(params),
        gradients: bytes(params),
        optimizer: bytes(trainable),
        inference: bytes(inference).saturating_add(workspace),
        training_efficient: bytes(efficient).saturating_add(workspace),
        training_naive: bytes(naive).saturating_add(workspace),
    }
}

/// Elements of the scratch buffers every layer of a pass shares: z (BN-ReLU of the widest
/// input), b and z2 (bottleneck, `bz` each), d (a layer's output gradient), t (a transition's
/// conv output, or its pooled input). A pass allocates them once, at these sizes.
pub(crate) struct ScratchSizes {
    pub z: usize,
    pub bz: usize,
    pub d: usize,
    pub t: usize,
}

pub(crate) fn scratch_sizes(plan: &Plan, geo: &Geometry) -> ScratchSizes {
    let last = plan.blocks.len() - 1;
    let mut s = ScratchSizes { z: plan.head.features * geo.plane(last), bz: 0, d: 0, t: 0 };
    for (bi, block) in plan.blocks.iter().enumerate() {
        let p = geo.plane(bi);
        for l in &block.layers {
            s.z = s.z.max(l.cin * p);
            if l.bottleneck.is_some() {
                s.bz = s.bz.max(l.conv1.cout * p);
            }
            s.d = s.d.max(l.out_conv().cout * p);
        }
        if let Some(tr) = plan.transitions.get(bi) {
            s.z = s.z.max(tr.conv.cin * p);
            // The conv's output in training, its pooled input in inference (transition::infer).
            s.t = s.t.max(tr.conv.cout * p).max(tr.conv.cin * geo.plane(bi + 1));
        }
    }
    s
}

/// An error naming what needs `needed` bytes against a `budget`.
pub(crate) fn over_budget(what: &str, needed: u64, budget: u64) -> Error {
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    Error::Memory(format!(
        "{what} needs about {needed} bytes ({:.1} MiB), over the memory budget of {budget} bytes ({:.1} MiB); use a smaller batch or input, the efficient memory mode, or raise the budget",
        mib(needed),
        mib(budget)
    ))
}
