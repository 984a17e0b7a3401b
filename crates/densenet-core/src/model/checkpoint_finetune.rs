//! The fine-tuning state a checkpoint carries next to the weights and the momentum, so that a
//! resumed run is bit-exact: the frozen parameters, the frozen-BN mode, the parameter groups and
//! the learning-rate factor. Checkpoints written before fine-tuning existed have none of these
//! keys and restore as "nothing frozen, no groups, factor 1".

use super::DenseNet;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::float::Float;
use crate::freeze::{FrozenBatchNorm, Trainability};
use crate::param_groups::{self, ParamGroup};
use std::collections::HashMap;

const FROZEN: &str = "densenet.frozen";
const FROZEN_BN: &str = "densenet.frozenBatchNorm";
const GROUPS: &str = "densenet.groups";
const LR_FACTOR: &str = "densenet.lrFactor";

/// What [`DenseNet::parse_finetune_metadata`] read, checked against the model, not applied yet.
pub(super) struct FinetuneState {
    trainability: Trainability,
    groups: Vec<ParamGroup>,
    group_of: Vec<Option<usize>>,
    lr_factor: f64,
}

impl<T: Float, B: Backend<T>> DenseNet<T, B> {
    pub(super) fn finetune_metadata(&self, meta: &mut HashMap<String, String>) {
        let frozen = self.trainability.frozen_names(&self.plan);
        meta.insert(FROZEN.into(), serde_json::to_string(&frozen).expect("names serialize"));
        meta.insert(FROZEN_BN.into(), self.trainability.frozen_bn.as_str().into());
        meta.insert(GROUPS.into(), serde_json::to_string(&self.optimizer.groups).expect("groups serialize"));
        meta.insert(LR_FACTOR.into(), serde_json::to_string(&self.lr_factor).expect("a finite number serializes"));
    }

    pub(super) fn parse_finetune_metadata(&self, meta: &HashMap<String, String>, source: &str) -> Result<FinetuneState> {
        let bad = |key: &str, e: String| Error::Weights(format!("{source}: bad metadata '{key}': {e}"));
        let mut trainability = Trainability::all(&self.plan);
        if let Some(json) = meta.get(FROZEN) {
            let names: Vec<String> = serde_json::from_str(json).map_err(|e| bad(FROZEN, e.to_string()))?;
            trainability.set_frozen_names(&self.plan, &names).map_err(|e| bad(FROZEN, e.message().to_string()))?;
        }
        if let Some(mode) = meta.get(FROZEN_BN) {
            trainability.frozen_bn = FrozenBatchNorm::parse(mode).map_err(|e| bad(FROZEN_BN, e.message().to_string()))?;
        }
        let groups: Vec<ParamGroup> = match meta.get(GROUPS) {
            Some(json) => serde_json::from_str(json).map_err(|e| bad(GROUPS, e.to_string()))?,
            None => Vec::new(),
        };
        let settings = crate::param_groups::OptimizerSettings { sgd: self.optimizer.sgd, groups };
        settings.validate().map_err(|e| bad(GROUPS, e.message().to_string()))?;
        let group_of = param_groups::assign(&self.plan, &settings.groups).map_err(|e| bad(GROUPS, e.message().to_string()))?;
        let lr_factor = match meta.get(LR_FACTOR) {
            Some(v) => v.parse::<f64>().map_err(|e| bad(LR_FACTOR, e.to_string()))?,
            None => 1.0,
        };
        param_groups::check_lr_factor(lr_factor).map_err(|e| bad(LR_FACTOR, e.message().to_string()))?;
        Ok(FinetuneState { trainability, groups: settings.groups, group_of, lr_factor })
    }

    pub(super) fn apply_finetune_metadata(&mut self, state: FinetuneState) {
        self.trainability = state.trainability;
        self.optimizer.groups = state.groups;
        self.group_of = state.group_of;
        self.lr_factor = state.lr_factor;
    }
}
