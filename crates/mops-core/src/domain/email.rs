use serde::{Deserialize, Serialize};

use super::ParseError;

/// An email address, checked against RFC 5322's addr-spec (via `email_address`)
/// and kept in the form it was given, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        let trimmed = value.trim();
        let bad = || ParseError::Email { value: value.to_owned() };
        let parsed = email_address::EmailAddress::parse_with_options(
            trimmed,
            email_address::Options::default().without_display_text(),
        )
        .map_err(|_| bad())?;
        // A mail server on the public internet needs a dotted domain; a
        // display name ("Anna <a@b.se>") belongs in a separate field.
        if !parsed.domain().contains('.') || parsed.domain().starts_with('[') {
            return Err(bad());
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Email {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in ["anna.andersson@mdh.se", " per@eskilstuna.se ", "å.ö@vasteras.se"] {
            assert!(Email::parse(ok).is_ok(), "{ok:?}");
        }
        assert_eq!(Email::parse(" per@eskilstuna.se ").unwrap().as_str(), "per@eskilstuna.se");
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in ["", "anna", "anna@", "@mdh.se", "anna@localhost", "Anna <anna@mdh.se>", "a b@mdh.se"] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }
}
