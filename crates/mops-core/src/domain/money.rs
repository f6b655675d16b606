use serde::{Deserialize, Serialize};

use super::ParseError;

/// An amount in Swedish kronor, held as whole öre in an `i64`.
///
/// Never negative: budgets, requests and grants are all amounts of money
/// someone may receive. Printed the Swedish way: `1 300 000 kr`, or
/// `350 000,50 kr` when there are öre.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Sek(i64);

impl Sek {
    pub const ZERO: Sek = Sek(0);

    /// An amount from whole öre (1 kr = 100 öre).
    pub fn from_ore(ore: i64) -> Result<Self, ParseError> {
        if ore < 0 {
            return Err(ParseError::NegativeAmount { ore });
        }
        Ok(Self(ore))
    }

    /// An amount from whole kronor.
    pub fn from_kronor(kronor: i64) -> Result<Self, ParseError> {
        let ore = kronor.checked_mul(100).ok_or_else(|| ParseError::Amount { value: kronor.to_string() })?;
        Self::from_ore(ore)
    }

    pub const fn ore(self) -> i64 {
        self.0
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + other`, or `None` if it would overflow.
    pub fn checked_add(self, other: Sek) -> Option<Sek> {
        self.0.checked_add(other.0).map(Sek)
    }

    /// `self - other`, or zero if `other` is larger.
    pub fn saturating_sub(self, other: Sek) -> Sek {
        Sek((self.0 - other.0).max(0))
    }

    /// Parses what a person types: `350000`, `350 000 kr`, `350 000,50`,
    /// `1 300 000 SEK`. Spaces (also non-breaking and thin) group digits;
    /// `,` or `.` separates at most two öre digits.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::Amount { value: input.to_owned() };
        let mut s = input.trim();
        for suffix in ["kronor", "kr", "SEK", "sek", ":-"] {
            if let Some(rest) = s.strip_suffix(suffix) {
                s = rest.trim_end();
                break;
            }
        }
        let s = s.strip_suffix(",-").unwrap_or(s);
        let digits: String = s.chars().filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '\u{2009}')).collect();
        let (whole, frac) = match digits.split_once([',', '.']) {
            Some((w, f)) => (w, f),
            None => (digits.as_str(), ""),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            if whole.starts_with('-') {
                return Err(ParseError::NegativeAmount { ore: 0 });
            }
            return Err(bad());
        }
        if frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let kronor: i64 = whole.parse().map_err(|_| bad())?;
        let ore_part: i64 = match frac.len() {
            0 => 0,
            1 => frac.parse::<i64>().map_err(|_| bad())? * 10,
            _ => frac.parse().map_err(|_| bad())?,
        };
        kronor.checked_mul(100).and_then(|o| o.checked_add(ore_part)).map(Sek).ok_or_else(bad)
    }

    /// The amount without the unit, Swedish grouping: `1 300 000` or `350 000,50`.
    pub fn number(self, group_separator: char) -> String {
        let kronor = self.0 / 100;
        let ore = self.0 % 100;
        let raw = kronor.to_string();
        let mut grouped = String::with_capacity(raw.len() + raw.len() / 3);
        for (i, c) in raw.chars().enumerate() {
            if i > 0 && (raw.len() - i).is_multiple_of(3) {
                grouped.push(group_separator);
            }
            grouped.push(c);
        }
        if ore != 0 {
            grouped.push_str(&format!(",{ore:02}"));
        }
        grouped
    }

    /// For HTML and mail: a non-breaking space keeps `1 300 000 kr` on one line.
    pub fn to_string_nbsp(self) -> String {
        format!("{}\u{a0}kr", self.number('\u{a0}'))
    }
}

impl std::fmt::Display for Sek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} kr", self.number(' '))
    }
}

impl TryFrom<i64> for Sek {
    type Error = ParseError;
    fn try_from(ore: i64) -> Result<Self, Self::Error> {
        Self::from_ore(ore)
    }
}

impl From<Sek> for i64 {
    fn from(value: Sek) -> Self {
        value.0
    }
}

impl std::iter::Sum for Sek {
    fn sum<I: Iterator<Item = Sek>>(iter: I) -> Self {
        Sek(iter.map(|s| s.0).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_the_swedish_way() {
        assert_eq!(Sek::from_kronor(1_300_000).unwrap().to_string(), "1 300 000 kr");
        assert_eq!(Sek::from_kronor(350_000).unwrap().to_string(), "350 000 kr");
        assert_eq!(Sek::from_kronor(999).unwrap().to_string(), "999 kr");
        assert_eq!(Sek::from_kronor(1000).unwrap().to_string(), "1 000 kr");
        assert_eq!(Sek::from_ore(35_000_050).unwrap().to_string(), "350 000,50 kr");
        assert_eq!(Sek::from_ore(5).unwrap().to_string(), "0,05 kr");
        assert_eq!(Sek::ZERO.to_string(), "0 kr");
        assert_eq!(Sek::from_kronor(1_300_000).unwrap().to_string_nbsp(), "1\u{a0}300\u{a0}000\u{a0}kr");
    }

    #[test]
    fn parses_what_people_type() {
        let k = |n| Sek::from_kronor(n).unwrap();
        assert_eq!(Sek::parse("350000").unwrap(), k(350_000));
        assert_eq!(Sek::parse("350 000 kr").unwrap(), k(350_000));
        assert_eq!(Sek::parse("1\u{a0}300\u{a0}000 SEK").unwrap(), k(1_300_000));
        assert_eq!(Sek::parse("350 000:-").unwrap(), k(350_000));
        assert_eq!(Sek::parse("350 000,50").unwrap().ore(), 35_000_050);
        assert_eq!(Sek::parse("12.5").unwrap().ore(), 1250);
        for bad in ["", "kr", "12,345", "1 3a0", "-5", "1,2,3", "99999999999999999999"] {
            assert!(Sek::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn never_negative() {
        assert!(Sek::from_ore(-1).is_err());
        assert!(serde_json::from_str::<Sek>("-100").is_err());
        assert_eq!(serde_json::from_str::<Sek>("100").unwrap().ore(), 100);
        assert_eq!(Sek::from_kronor(5).unwrap().saturating_sub(Sek::from_kronor(9).unwrap()), Sek::ZERO);
    }
}
