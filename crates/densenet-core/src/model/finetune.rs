//! Fine-tuning a model: freezing parameters, parameter groups and the lr factor, and a new
//! classifier for another number of classes.

use super::DenseNet;
use crate::backend::{Backend, WeightKey};
use crate::config::LIMITS;
use crate::error::{Error, Result};
use crate::float::Float;
use crate::freeze::{self, FrozenBatchNorm};
use crate::param_groups::{self, OptimizerSettings};
use crate::params::Params;
use crate::plan::Plan;
use serde::Serialize;

/// One parameter tensor as `parametersJson` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParameterInfo {
    pub name: String,
    pub shape: Vec<usize>,
    /// False when frozen.
    pub trainable: bool,
    /// Its optimizer group, or None for the top-level settings.
    pub group: Option<String>,
}

impl<T: Float, B: Backend<T>> DenseNet<T, B> {
    /// Freezes every parameter the specs name (names prefixes or stage aliases, see `freeze.rs`);
    /// all or nothing: a spec naming nothing is `ERR_INVALID_ARG` naming it.
    pub fn freeze(&mut self, specs: &[String]) -> Result<()> {
        self.set_trains(specs, false)
    }

    /// Makes the parameters the specs name trainable again (their momentum, if any, resumes).
    pub fn unfreeze(&mut self, specs: &[String]) -> Result<()> {
        self.set_trains(specs, true)
    }

    fn set_trains(&mut self, specs: &[String], trains: bool) -> Result<()> {
        if specs.is_empty() {
            return Err(Error::InvalidArg(format!("{} needs at least one parameter name or stage", if trains { "unfreeze" } else { "freeze" })));
        }
        for i in freeze::resolve_all(&self.plan, specs)? {
            self.trainability.trains[i] = trains;
        }
        Ok(())
    }

    pub fn frozen_batch_norm(&self) -> FrozenBatchNorm {
        self.trainability.frozen_bn
    }

    /// How BNs with frozen affine parameters normalize in training (see [`FrozenBatchNorm`]).
    pub fn set_frozen_batch_norm(&mut self, mode: FrozenBatchNorm) {
        self.trainability.frozen_bn = mode;
    }

    /// Every parameter tensor (running statistics excluded), plan order.
    pub fn parameters(&self) -> Vec<ParameterInfo> {
        self.plan
            .specs
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind.trainable())
            .map(|(i, s)| ParameterInfo {
                name: s.name.clone(),
                shape: s.shape.clone(),
                trainable: self.trainability.trains(i),
                group: self.group_of[i].map(|g| self.optimizer.groups[g].name.clone()),
            })
            .collect()
    }

    /// Parameters (elements) that train.
    pub fn trainable_parameter_count(&self) -> usize {
        self.plan.specs.iter().enumerate().filter(|(i, s)| s.kind.trainable() && self.trainability.trains(*i)).map(|(_, s)| s.numel()).sum()
    }

    /// The top-level SGD settings and the groups.
    pub fn optimizer_settings(&self) -> OptimizerSettings {
        self.optimizer.clone()
    }

    /// Sets the SGD settings and the parameter groups together; a group prefix naming nothing or
    /// a parameter in two groups is `ERR_INVALID_ARG`, and nothing changes. Momentum state stays.
    pub fn set_optimizer_settings(&mut self, settings: OptimizerSettings) -> Result<()> {
        settings.validate()?;
        let group_of = param_groups::assign(&self.plan, &settings.groups)?;
        self.optimizer = settings;
        self.group_of = group_of;
        Ok(())
    }

    pub fn lr_factor(&self) -> f64 {
        self.lr_factor
    }

    /// Every group's lr (the top level's too) is multiplied by `factor` from the next step on: a
    /// schedule sets schedule(epoch) / schedule(0), as PyTorch's schedulers scale each group.
    pub fn set_lr_factor(&mut self, factor: f64) -> Result<()> {
        param_groups::check_lr_factor(factor)?;
        self.lr_factor = factor;
        Ok(())
    }

    /// A new classifier for `num_classes` classes, initialized as a new model's (from `seed`);
    /// every feature weight and BN statistic stays, the config's numClasses changes and the
    /// classifier's momentum is dropped.
    pub fn reset_classifier(&mut self, num_classes: usize, seed: u64) -> Result<()> {
        if !(1..=LIMITS.classes).contains(&num_classes) {
            return Err(Error::InvalidArg(format!("numClasses must be an integer in 1..={}, got {num_classes}", LIMITS.classes)));
        }
        let mut config = self.config.clone();
        config.num_classes = num_classes;
        config.validate()?;
        let plan = Plan::new(&config);
        let (w, b) = (plan.head.weight, plan.head.bias);
        debug_assert_eq!((w, b), (self.plan.head.weight, self.plan.head.bias), "the classifier's tensors keep their places");
        let weight = self.backend.upload(&Params::<T>::init_tensor(&plan.specs[w], w, seed))?;
        let bias = self.backend.upload(&Params::<T>::init_tensor(&plan.specs[b], b, seed))?;
        self.params[w] = weight;
        self.params[b] = bias;
        self.momentum[w] = None;
        self.momentum[b] = None;
        // Gradient buffers are reallocated at the new size by the next step.
        self.grads = None;
        self.config = config;
        self.plan = plan;
        self.params_version = WeightKey::next_version();
        Ok(())
    }
}
