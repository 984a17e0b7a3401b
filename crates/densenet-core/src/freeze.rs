//! Fine-tuning: which parameters train, and how far down a training step has to go.
//!
//! Parameters are named by torchvision's names: a spec is a name prefix at a dot boundary
//! (`features.denseblock1` matches `features.denseblock1.denselayer1.conv1.weight`, not
//! `features.denseblock10...`) or a stage alias (see [`alias_prefixes`]).
//!
//! A frozen parameter gets no weight gradient, no weight decay and no momentum update. Backward
//! only has to reach the lowest trainable parameter of the network (in forward order): every
//! stage before it runs forward without a tape, and no gradient flows into it (see
//! [`StageOrder::frontier`]).

use crate::error::{Error, Result};
use crate::plan::{BnRef, Plan};
use serde::{Deserialize, Serialize};

/// How a BN whose affine parameters are both frozen normalizes during training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FrozenBatchNorm {
    /// Running statistics, never updated (PyTorch's `eval()` on the frozen BN modules).
    #[default]
    Eval,
    /// Batch statistics, running statistics updated (the BN modules left in `train()`).
    Train,
}

impl FrozenBatchNorm {
    pub fn parse(mode: &str) -> Result<Self> {
        match mode {
            "eval" => Ok(FrozenBatchNorm::Eval),
            "train" => Ok(FrozenBatchNorm::Train),
            other => Err(Error::InvalidArg(format!("frozenBatchNorm must be 'eval' or 'train', got '{other}'"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FrozenBatchNorm::Eval => "eval",
            FrozenBatchNorm::Train => "train",
        }
    }
}

/// The stage aliases: `stem` (conv0 and, with the ImageNet stem, norm0), `block1`..`blockN`,
/// `transition1`..`transition(N-1)`, `norm5` (alias `head`: the head's BN), `features`
/// (everything but the classifier) and `classifier`. None for a spec that is not an alias.
pub fn alias_prefixes(plan: &Plan, spec: &str) -> Option<Vec<String>> {
    let numbered = |word: &str, count: usize| -> Option<usize> { spec.strip_prefix(word).and_then(|n| n.parse::<usize>().ok()).filter(|&i| (1..=count).contains(&i)) };
    match spec {
        "stem" => Some(match plan.stem.norm0 {
            Some(_) => vec!["features.conv0".into(), "features.norm0".into()],
            None => vec!["features.conv0".into()],
        }),
        "norm5" | "head" => Some(vec!["features.norm5".into()]),
        "features" => Some(vec!["features".into()]),
        "classifier" => Some(vec!["classifier".into()]),
        _ => {
            if let Some(i) = numbered("block", plan.blocks.len()) {
                Some(vec![format!("features.denseblock{i}")])
            } else {
                numbered("transition", plan.transitions.len()).map(|i| vec![format!("features.transition{i}")])
            }
        }
    }
}

/// Whether parameter `name` lies under `prefix` (equal, or followed by a dot).
fn under(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// The indices (plan order) of the trainable-kind tensors one spec names; an error naming the
/// spec when it names none.
pub fn resolve(plan: &Plan, spec: &str) -> Result<Vec<usize>> {
    let prefixes = alias_prefixes(plan, spec).unwrap_or_else(|| vec![spec.to_string()]);
    let found: Vec<usize> = plan.specs.iter().enumerate().filter(|(_, s)| s.kind.trainable() && prefixes.iter().any(|p| under(&s.name, p))).map(|(i, _)| i).collect();
    if found.is_empty() {
        let blocks = plan.blocks.len();
        return Err(Error::InvalidArg(format!(
            "'{spec}' matches no parameter: give a parameter name prefix (e.g. 'features.denseblock1', 'classifier.weight') or a stage: \
             stem, block1..block{blocks}, {}norm5 (head), features, classifier",
            if blocks > 1 { format!("transition1..transition{}, ", blocks - 1) } else { String::new() }
        )));
    }
    Ok(found)
}

/// The union of several specs' indices (sorted, each once); the first spec naming nothing is an error.
pub fn resolve_all(plan: &Plan, specs: &[String]) -> Result<Vec<usize>> {
    let mut all = Vec::new();
    for spec in specs {
        all.extend(resolve(plan, spec)?);
    }
    all.sort_unstable();
    all.dedup();
    Ok(all)
}

/// Which tensors train (one flag per plan tensor; running statistics never do) and how frozen
/// BNs normalize. Read by the passes through [`Trainability::trains`] and [`Trainability::bn_uses_running_stats`].
#[derive(Debug, Clone)]
pub struct Trainability {
    pub trains: Vec<bool>,
    pub frozen_bn: FrozenBatchNorm,
}

impl Trainability {
    /// Everything trainable trains.
    pub fn all(plan: &Plan) -> Self {
        Trainability { trains: plan.specs.iter().map(|s| s.kind.trainable()).collect(), frozen_bn: FrozenBatchNorm::Eval }
    }

    pub fn trains(&self, param: usize) -> bool {
        self.trains[param]
    }

    /// Whether every trainable tensor trains (the plain training step).
    pub fn nothing_frozen(&self, plan: &Plan) -> bool {
        plan.specs.iter().zip(&self.trains).all(|(s, &t)| t == s.kind.trainable())
    }

    /// Both affine parameters frozen.
    pub fn bn_frozen(&self, bn: &BnRef) -> bool {
        !self.trains[bn.weight] && !self.trains[bn.bias]
    }

    /// A frozen BN in eval mode: running statistics in the training forward, none updated.
    pub fn bn_uses_running_stats(&self, bn: &BnRef) -> bool {
        self.frozen_bn == FrozenBatchNorm::Eval && self.bn_frozen(bn)
    }

    /// Names of the frozen trainable-kind tensors, in plan order.
    pub fn frozen_names(&self, plan: &Plan) -> Vec<String> {
        plan.specs.iter().zip(&self.trains).filter(|(s, &t)| s.kind.trainable() && !t).map(|(s, _)| s.name.clone()).collect()
    }

    /// Freezes the named tensors (exact names, e.g. from a checkpoint); unknown names are an error.
    pub fn set_frozen_names(&mut self, plan: &Plan, names: &[String]) -> Result<()> {
        let mut trains: Vec<bool> = plan.specs.iter().map(|s| s.kind.trainable()).collect();
        for name in names {
            match plan.index_of(name) {
                Some(i) if plan.specs[i].kind.trainable() => trains[i] = false,
                _ => return Err(Error::Weights(format!("frozen parameter '{name}' is not a parameter of this model"))),
            }
        }
        self.trains = trains;
        Ok(())
    }
}

/// The network's stages in forward order, numbered: the stem 0, then each block's layers and
/// the transition after it, the head last. A training step's backward stops at the
/// [`StageOrder::frontier`]: the first stage holding a trainable parameter.
pub struct StageOrder {
    /// Position of each block's first layer.
    layer_start: Vec<usize>,
    /// Position of each transition.
    transition: Vec<usize>,
    head: usize,
}

/// Where nothing trains at all: past every stage.
pub const NOTHING_TRAINS: usize = usize::MAX;

impl StageOrder {
    pub fn new(plan: &Plan) -> Self {
        let mut pos = 1;
        let (mut layer_start, mut transition) = (Vec::new(), Vec::new());
        for (b, block) in plan.blocks.iter().enumerate() {
            layer_start.push(pos);
            pos += block.layers.len();
            if b < plan.transitions.len() {
                transition.push(pos);
                pos += 1;
            }
        }
        StageOrder { layer_start, transition, head: pos }
    }

    pub const STEM: usize = 0;

    pub fn layer(&self, block: usize, layer: usize) -> usize {
        self.layer_start[block] + layer
    }
    pub fn transition(&self, i: usize) -> usize {
        self.transition[i]
    }
    pub fn head(&self) -> usize {
        self.head
    }

    /// The first stage (forward order) with a trainable parameter, or [`NOTHING_TRAINS`].
    pub fn frontier(&self, plan: &Plan, t: &Trainability) -> usize {
        let any = |idx: &[usize]| idx.iter().any(|&i| t.trains(i));
        let bn = |b: &BnRef| [b.weight, b.bias];
        let mut stem = vec![plan.stem.conv0.weight];
        if let Some(n) = &plan.stem.norm0 {
            stem.extend(bn(n));
        }
        if any(&stem) {
            return Self::STEM;
        }
        for (b, block) in plan.blocks.iter().enumerate() {
            for (l, layer) in block.layers.iter().enumerate() {
                let mut idx = vec![layer.conv1.weight];
                idx.extend(bn(&layer.norm1));
                if let Some((norm2, conv2)) = &layer.bottleneck {
                    idx.extend(bn(norm2));
                    idx.push(conv2.weight);
                }
                if any(&idx) {
                    return self.layer(b, l);
                }
            }
            if let Some(tr) = plan.transitions.get(b) {
                if any(&[tr.conv.weight, tr.norm.weight, tr.norm.bias]) {
                    return self.transition(b);
                }
            }
        }
        let h = &plan.head;
        if any(&[h.norm.weight, h.norm.bias, h.weight, h.bias]) {
            return self.head;
        }
        NOTHING_TRAINS
    }
}
