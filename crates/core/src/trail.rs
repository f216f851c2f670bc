//! Every decision carries its reasons: each check run, in order, with its outcome and detail.
//! A refusal's trail goes into its audit event; its request id finds it again.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub check: String,
    pub outcome: Outcome,
    pub detail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Trail {
    pub steps: Vec<Step>,
}

impl Trail {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn pass(&mut self, check: &str, detail: impl Into<String>) {
        self.push(check, Outcome::Pass, detail.into());
    }
    pub fn skip(&mut self, check: &str, detail: impl Into<String>) {
        self.push(check, Outcome::Skip, detail.into());
    }
    pub fn fail(&mut self, check: &str, detail: impl Into<String>) {
        self.push(check, Outcome::Fail, detail.into());
    }
    fn push(&mut self, check: &str, outcome: Outcome, detail: String) {
        self.steps.push(Step { check: check.to_string(), outcome, detail });
    }
    pub fn first_failure(&self) -> Option<&Step> {
        self.steps.iter().find(|s| s.outcome == Outcome::Fail)
    }
}
