use serde::{Deserialize, Serialize};

use super::ParseError;

/// The language a person reads their mail and screens in. Swedish first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Svenska; the default.
    #[default]
    Sv,
    /// English.
    En,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::Sv, Language::En];

    /// The BCP 47 tag, as used in `lang` attributes and `Content-Language`.
    pub fn tag(self) -> &'static str {
        match self {
            Self::Sv => "sv",
            Self::En => "en",
        }
    }

    pub fn parse(value: &str) -> Result<Self, ParseError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "sv" | "sv-se" | "svenska" | "swedish" => Ok(Self::Sv),
            "en" | "en-gb" | "en-us" | "english" | "engelska" => Ok(Self::En),
            _ => Err(ParseError::Language { value: value.to_owned() }),
        }
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.tag())
    }
}
