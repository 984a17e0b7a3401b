//! SGD with momentum, Nesterov and weight decay (PyTorch's semantics), and learning-rate schedules.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Hyper-parameters of torch.optim.SGD (dampening 0). Defaults: the reference recipe.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SgdConfig {
    pub lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 1e-4 }
    }
}

impl SgdConfig {
    /// Parses optimizer JSON (camelCase; missing fields take the recipe's defaults) and validates it.
    pub fn from_json(json: &str) -> Result<Self> {
        let cfg: SgdConfig = serde_json::from_str(json).map_err(|e| Error::InvalidArg(format!("invalid optimizer JSON: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |f: &str, allowed: &str, v: f64| Err(Error::InvalidArg(format!("{f} must be {allowed}, got {v}")));
        if !(self.lr >= 0.0 && self.lr.is_finite()) {
            return bad("lr", "a finite number >= 0", self.lr);
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad("momentum", "in [0, 1)", self.momentum);
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad("weightDecay", "a finite number >= 0", self.weight_decay);
        }
        if self.nesterov && self.momentum == 0.0 {
            return Err(Error::InvalidArg("nesterov needs momentum > 0".into()));
        }
        Ok(())
    }
}

/// Learning rate as a function of (fractional) epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum LrSchedule {
    /// lr0 · gamma^(number of milestones ≤ epoch); the reference: milestones at 50% and 75%.
    MultiStep { lr: f64, milestones: Vec<f64>, gamma: f64 },
    /// lr0 · (1 + cos(π·epoch/epochs)) / 2 (CosineAnnealingLR with eta_min 0).
    Cosine { lr: f64, epochs: f64 },
}

impl LrSchedule {
    /// Parses and validates schedule JSON (`{"type":"multiStep",...}` or `{"type":"cosine",...}`).
    pub fn from_json(json: &str) -> Result<Self> {
        let s: LrSchedule = serde_json::from_str(json).map_err(|e| Error::InvalidArg(format!("invalid schedule JSON: {e}")))?;
        s.validate()?;
        Ok(s)
    }

    /// Every number finite; lr and epochs positive where they must be.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArg(m));
        match self {
            LrSchedule::MultiStep { lr, milestones, gamma } => {
                if !(lr.is_finite() && *lr >= 0.0) {
                    return bad(format!("schedule lr must be a finite number >= 0, got {lr}"));
                }
                if !(gamma.is_finite() && *gamma > 0.0) {
                    return bad(format!("schedule gamma must be a finite number > 0, got {gamma}"));
                }
                if let Some(m) = milestones.iter().find(|m| !(m.is_finite() && **m >= 0.0)) {
                    return bad(format!("schedule milestones must be finite epochs >= 0, got {m}"));
                }
                if milestones.windows(2).any(|w| w[1] <= w[0]) {
                    return bad(format!("schedule milestones must be strictly increasing epochs, got {milestones:?}"));
                }
            }
            LrSchedule::Cosine { lr, epochs } => {
                if !(lr.is_finite() && *lr >= 0.0) {
                    return bad(format!("schedule lr must be a finite number >= 0, got {lr}"));
                }
                if !(epochs.is_finite() && *epochs > 0.0) {
                    return bad(format!("schedule epochs must be a finite number > 0, got {epochs}"));
                }
            }
        }
        Ok(())
    }

    /// The reference recipe: lr ÷ 10 at 50% and 75% of the epochs.
    pub fn reference(lr: f64, epochs: usize) -> Self {
        LrSchedule::MultiStep { lr, milestones: vec![0.5 * epochs as f64, 0.75 * epochs as f64], gamma: 0.1 }
    }

    pub fn lr_at(&self, epoch: f64) -> f64 {
        match self {
            LrSchedule::MultiStep { lr, milestones, gamma } => lr * gamma.powi(milestones.iter().filter(|&&m| m <= epoch).count() as i32),
            LrSchedule::Cosine { lr, epochs } => lr * 0.5 * (1.0 + (std::f64::consts::PI * epoch / epochs).cos()),
        }
    }
}
