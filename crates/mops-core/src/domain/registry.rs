use serde::{Deserialize, Serialize};

use super::ParseError;

/// A registry number (diarienummer) such as `SK 2010/14`: a series of capital
/// letters, a space, the year, a slash and a running number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegistryNumber(String);

impl RegistryNumber {
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::RegistryNumber { value: value.to_owned() };
        let v = value.trim();
        let (series, rest) = v.split_once(' ').ok_or_else(bad)?;
        let (year, number) = rest.trim_start().split_once('/').ok_or_else(bad)?;
        let series_ok =
            (1..=10).contains(&series.chars().count()) && series.chars().all(|c| c.is_uppercase() && c.is_alphabetic());
        let year_ok = year.len() == 4 && year.bytes().all(|b| b.is_ascii_digit());
        let number_ok = (1..=6).contains(&number.len())
            && number.bytes().all(|b| b.is_ascii_digit())
            && !number.trim_start_matches('0').is_empty();
        if !(series_ok && year_ok && number_ok) {
            return Err(bad());
        }
        Ok(Self(format!("{series} {year}/{number}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RegistryNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RegistryNumber {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<RegistryNumber> for String {
    fn from(value: RegistryNumber) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_registry_numbers() {
        assert_eq!(RegistryNumber::parse("SK 2010/14").unwrap().as_str(), "SK 2010/14");
        assert_eq!(RegistryNumber::parse("  SK  2010/7 ").unwrap().as_str(), "SK 2010/7");
        assert!(RegistryNumber::parse("MDHÅ 2011/123").is_ok());
        for bad in ["", "SK2010/14", "sk 2010/14", "SK 10/14", "SK 2010/", "SK 2010/0", "SK 2010-14"] {
            assert!(RegistryNumber::parse(bad).is_err(), "{bad:?}");
        }
    }
}
