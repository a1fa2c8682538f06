//! `[intake]`: how envelopes and bare events are taken in: where bare events go, how their ids are made, what
//! their shape is, what a second copy does, and how strictly IntelMQ values are checked.

use serde::Deserialize;

use crate::envelope::{IntakeRules, Minting, Shape};
use crate::store::DuplicatePolicy;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeSettings {
    pub collection: String,
    pub mint: MintMode,
    pub instance: String,
    pub bare_shape: Shape,
    pub duplicate_policy: DuplicatePolicy,
    pub intelmq_values: IntelmqValues,
}

/// How the values of IntelMQ payloads are held to IntelMQ's harmonization at intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IntelmqValues {
    /// Stored as received; sanitised as IntelMQ would when delivered to it, and left out where it would refuse.
    Lenient,
    /// A value IntelMQ would refuse, or would store differently, refuses the record, with the field named.
    Strict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MintMode {
    Uuid4,
    Cycat,
    Hash,
}

impl IntakeSettings {
    /// The rules that envelopes are read by: how ids of bare events are minted, and their shape.
    pub fn rules(&self) -> IntakeRules {
        let minting = match self.mint {
            MintMode::Uuid4 => Minting::Uuid4,
            MintMode::Cycat => Minting::Cycat {
                instance: self.instance.clone(),
            },
            MintMode::Hash => Minting::Hash,
        };
        IntakeRules {
            minting,
            bare_shape: self.bare_shape,
        }
    }
}
