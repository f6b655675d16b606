use serde::{Deserialize, Serialize};

use super::ParseError;

fn clean(field: &'static str, value: &str, max: usize, allow_newlines: bool) -> Result<String, ParseError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ParseError::Empty { field });
    }
    let len = trimmed.chars().count();
    if len > max {
        return Err(ParseError::TooLong { field, len, max });
    }
    if trimmed.chars().any(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\r' | '\t'))) {
        return Err(ParseError::ControlCharacter { field });
    }
    Ok(trimmed.to_owned())
}

macro_rules! text {
    ($(#[$meta:meta])* $name:ident, field = $field:literal, max = $max:literal, newlines = $nl:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;

            /// Trims the value and refuses it when empty, longer than
            #[doc = concat!(stringify!($max), " characters, or holding control characters.")]
            pub fn parse(value: &str) -> Result<Self, ParseError> {
                clean($field, value, $max, $nl).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}

text!(
    /// A title of an idea or a call: one line, at most 200 characters.
    Title, field = "title", max = 200, newlines = false
);
text!(
    /// A person's name as they want it written.
    PersonName, field = "name", max = 200, newlines = false
);
text!(
    /// A theme of a call, e.g. "äldreomsorg".
    Theme, field = "theme", max = 100, newlines = false
);
text!(
    /// Free text of some length: an idea's summary, a plan section, feedback.
    FreeText, field = "text", max = 20000, newlines = true
);
text!(
    /// The reason for a decision. Every "no" carries one, so a "no" cannot be
    /// recorded without it: the type has no empty value.
    Motivation, field = "motivation", max = 5000, newlines = true
);

fn key(value: &str) -> Result<String, ParseError> {
    let v = value.trim();
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok { Ok(v.to_owned()) } else { Err(ParseError::Key { value: value.to_owned() }) }
}

macro_rules! key {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: &str) -> Result<Self, ParseError> {
                key(value).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}

key!(
    /// The stable key of a plan-template section, e.g. "syfte".
    SectionKey
);
key!(
    /// The stable key of a panel criterion, e.g. "relevans".
    CriterionKey
);

/// Text in Swedish, optionally also in English. Swedish is what the
/// organisation writes first; English falls back to Swedish when missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalizedText {
    pub sv: FreeText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub en: Option<FreeText>,
}

impl LocalizedText {
    pub fn sv(sv: &str) -> Result<Self, ParseError> {
        Ok(Self { sv: FreeText::parse(sv)?, en: None })
    }

    pub fn sv_en(sv: &str, en: &str) -> Result<Self, ParseError> {
        Ok(Self { sv: FreeText::parse(sv)?, en: Some(FreeText::parse(en)?) })
    }

    /// The text in `lang`, or the Swedish text when there is no English.
    pub fn get(&self, lang: super::Language) -> &str {
        match (lang, &self.en) {
            (super::Language::En, Some(en)) => en.as_str(),
            _ => self.sv.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_single_lines() {
        assert_eq!(Title::parse("  Grön omsorg ").unwrap().as_str(), "Grön omsorg");
        assert_eq!(Title::parse("   "), Err(ParseError::Empty { field: "title" }));
        assert!(matches!(Title::parse("a\nb"), Err(ParseError::ControlCharacter { .. })));
        assert!(matches!(Title::parse(&"x".repeat(201)), Err(ParseError::TooLong { len: 201, .. })));
        assert!(FreeText::parse("rad ett\nrad två").is_ok());
    }

    #[test]
    fn motivations_cannot_be_empty_even_from_json() {
        assert!(serde_json::from_str::<Motivation>("\"  \"").is_err());
        assert!(serde_json::from_str::<Motivation>("\"Idén ligger utanför utlysningens teman.\"").is_ok());
    }

    #[test]
    fn keys_are_slugs() {
        assert!(SectionKey::parse("syfte_och_mal").is_ok());
        assert!(SectionKey::parse("Syfte").is_err());
        assert!(CriterionKey::parse("").is_err());
    }
}
