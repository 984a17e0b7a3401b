//! Parameter groups: per-group learning rate and weight decay (torch.optim's param groups), and
//! the learning-rate factor that a schedule applies to every group at once.
//!
//! Optimizer JSON is `SgdConfig`'s fields plus an optional `groups` list:
//! `{"lr":0.1,...,"groups":[{"name":"backbone","prefixes":["features"],"lr":0.01,"weightDecay":1e-4}]}`.
//! A parameter in no group takes the top-level lr and weight decay. A schedule sets one factor
//! f = schedule(epoch) / schedule(0), and every group's lr (the top level's too) is its own
//! lr · f, as PyTorch's schedulers scale each group's initial lr.

use crate::error::{Error, Result};
use crate::freeze;
use crate::optim::SgdConfig;
use crate::plan::Plan;
use serde::{Deserialize, Serialize};

/// One group: the parameters under `prefixes` (names or stage aliases, see `freeze.rs`), and
/// its own lr and weight decay (absent: the top-level value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParamGroup {
    pub name: String,
    pub prefixes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
}

/// The top-level SGD settings and the groups.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OptimizerSettings {
    pub sgd: SgdConfig,
    pub groups: Vec<ParamGroup>,
}

impl OptimizerSettings {
    /// Parses optimizer JSON (SgdConfig's fields, defaults for missing ones, and `groups`) and
    /// validates the numbers (the group prefixes are checked against a model by [`assign`]).
    pub fn from_json(json: &str) -> Result<Self> {
        let mut value: serde_json::Value = serde_json::from_str(json).map_err(|e| Error::InvalidArg(format!("invalid optimizer JSON: {e}")))?;
        let groups = match value.as_object_mut().and_then(|o| o.remove("groups")) {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(g) => serde_json::from_value(g).map_err(|e| Error::InvalidArg(format!("invalid optimizer groups: {e}")))?,
        };
        let sgd = SgdConfig::from_json(&value.to_string())?;
        let settings = OptimizerSettings { sgd, groups };
        settings.validate()?;
        Ok(settings)
    }

    pub fn to_json(&self) -> String {
        let mut value = serde_json::to_value(self.sgd).expect("plain numbers serialize");
        if !self.groups.is_empty() {
            value["groups"] = serde_json::to_value(&self.groups).expect("groups serialize");
        }
        value.to_string()
    }

    pub fn validate(&self) -> Result<()> {
        self.sgd.validate()?;
        for (i, g) in self.groups.iter().enumerate() {
            let what = format!("optimizer group '{}'", g.name);
            if g.name.is_empty() {
                return Err(Error::InvalidArg(format!("optimizer group {i} needs a non-empty name")));
            }
            if self.groups[..i].iter().any(|o| o.name == g.name) {
                return Err(Error::InvalidArg(format!("{what} is named twice")));
            }
            if g.prefixes.is_empty() {
                return Err(Error::InvalidArg(format!("{what} needs at least one prefix")));
            }
            if let Some(lr) = g.lr.filter(|lr| !(lr.is_finite() && *lr >= 0.0)) {
                return Err(Error::InvalidArg(format!("{what}: lr must be a finite number >= 0, got {lr}")));
            }
            if let Some(wd) = g.weight_decay.filter(|wd| !(wd.is_finite() && *wd >= 0.0)) {
                return Err(Error::InvalidArg(format!("{what}: weightDecay must be a finite number >= 0, got {wd}")));
            }
        }
        Ok(())
    }

    /// The SGD settings tensor `param` is updated with: its group's lr and weight decay (or the
    /// top level's), the lr times `lr_factor`.
    pub fn for_param(&self, group: Option<usize>, lr_factor: f64) -> SgdConfig {
        let mut cfg = self.sgd;
        if let Some(g) = group.map(|g| &self.groups[g]) {
            cfg.lr = g.lr.unwrap_or(cfg.lr);
            cfg.weight_decay = g.weight_decay.unwrap_or(cfg.weight_decay);
        }
        cfg.lr *= lr_factor;
        cfg
    }
}

/// The group of every plan tensor (None: the top level). A prefix naming no parameter, or a
/// parameter in two groups, is an error naming it.
pub fn assign(plan: &Plan, groups: &[ParamGroup]) -> Result<Vec<Option<usize>>> {
    let mut of: Vec<Option<usize>> = vec![None; plan.specs.len()];
    for (gi, g) in groups.iter().enumerate() {
        for prefix in &g.prefixes {
            for i in freeze::resolve(plan, prefix).map_err(|e| Error::InvalidArg(format!("optimizer group '{}': {}", g.name, e.message())))? {
                match of[i] {
                    Some(other) if other != gi => {
                        return Err(Error::InvalidArg(format!("parameter '{}' is in two optimizer groups: '{}' and '{}'", plan.specs[i].name, groups[other].name, g.name)));
                    }
                    _ => of[i] = Some(gi),
                }
            }
        }
    }
    Ok(of)
}

/// A learning-rate factor must be a finite number >= 0.
pub fn check_lr_factor(f: f64) -> Result<()> {
    if f.is_finite() && f >= 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidArg(format!("lr factor must be a finite number >= 0, got {f}")))
    }
}
