use serde::{Deserialize, Serialize};

use super::ParseError;

/// The scale a call's panel scores on, inclusive at both ends.
/// Defaults to 1..=5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawScale")]
pub struct ScoreScale {
    min: u8,
    max: u8,
}

#[derive(Deserialize)]
struct RawScale {
    min: u8,
    max: u8,
}

impl TryFrom<RawScale> for ScoreScale {
    type Error = ParseError;
    fn try_from(raw: RawScale) -> Result<Self, Self::Error> {
        Self::new(raw.min, raw.max)
    }
}

impl Default for ScoreScale {
    fn default() -> Self {
        Self { min: 1, max: 5 }
    }
}

impl ScoreScale {
    pub fn new(min: u8, max: u8) -> Result<Self, ParseError> {
        if min >= max || max > 100 {
            return Err(ParseError::Scale { min, max });
        }
        Ok(Self { min, max })
    }

    pub fn min(self) -> u8 {
        self.min
    }

    pub fn max(self) -> u8 {
        self.max
    }

    pub fn contains(self, score: Score) -> bool {
        (self.min..=self.max).contains(&score.0)
    }
}

/// One panel member's score on one criterion. Whether it fits the call's
/// scale is a rule of the call, checked when feedback is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Score(u8);

impl Score {
    pub const fn new(value: u8) -> Self {
        Self(value)
    }

    pub const fn value(self) -> u8 {
        self.0
    }
}

impl std::fmt::Display for Score {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
