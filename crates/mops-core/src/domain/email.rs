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
        if plain_address(trimmed) {
            return Ok(Self(trimmed.to_owned()));
        }
        Self::parse_in_full(value, trimmed)
    }

    /// The check of every address [`plain_address`] does not vouch for.
    fn parse_in_full(value: &str, trimmed: &str) -> Result<Self, ParseError> {
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

/// The longest local part and domain the full check allows, in bytes.
const LOCAL_PART_MAX: usize = 64;
const DOMAIN_MAX: usize = 254;
const LABEL_MAX: usize = 63;

/// Whether `address` has the plainest form an address takes: dot-separated
/// atoms of ASCII letters, digits and RFC 5322's other atom characters, one
/// `@`, and a domain of two or more labels of ASCII letters, digits and
/// inner hyphens, within the full check's lengths. The full check accepts
/// every such address (a test holds them to that); this one is a single
/// pass over the bytes where the full check costs thousands of
/// instructions, and it runs for every recipient of every mail read back
/// from the outbox. Anything else goes to the full check.
fn plain_address(address: &str) -> bool {
    fn atom_byte(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
    }
    fn label(label: &[u8]) -> bool {
        matches!(label, [first, .., last] | [first @ last]
            if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric())
            && label.len() <= LABEL_MAX
            && label.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
    }
    let Some((local, domain)) = address.split_once('@') else { return false };
    (1..=LOCAL_PART_MAX).contains(&local.len())
        && local.split('.').all(|atom| !atom.is_empty() && atom.bytes().all(atom_byte))
        && domain.len() <= DOMAIN_MAX
        && domain.contains('.')
        && domain.split('.').all(|l| label(l.as_bytes()))
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

    /// The full check alone, as `Email::parse` was before its quick path.
    fn in_full(value: &str) -> bool {
        Email::parse_in_full(value, value.trim()).is_ok()
    }

    #[test]
    fn the_quick_path_accepts_only_what_the_full_check_accepts() {
        let label = |n: usize| "a".repeat(n);
        let cases = [
            "anna.andersson@mdh.se".to_owned(),
            "a+b_c-d'e=f?g^h`i{j|k}l~m!n#o$p%q&r*s/t@a-b.c0.se".to_owned(),
            "a@b.c".to_owned(),
            "a@1.2".to_owned(),
            format!("{}@mdh.se", label(64)),
            format!("{}@mdh.se", label(65)),
            format!("a@{}.se", label(63)),
            format!("a@{}.se", label(64)),
            // A domain of 254 bytes and of 255.
            format!("a@{}.{}.{}.{}", label(63), label(63), label(63), label(62)),
            format!("a@{}.{}.{}.{}", label(63), label(63), label(63), label(63)),
            "a..b@mdh.se".to_owned(),
            ".a@mdh.se".to_owned(),
            "a.@mdh.se".to_owned(),
            "a@-mdh.se".to_owned(),
            "a@mdh-.se".to_owned(),
            "_@0.a-".to_owned(),
            "a@mdh..se".to_owned(),
            "a@mdh.se.".to_owned(),
            "a@localhost".to_owned(),
            "a@b@mdh.se".to_owned(),
            "\"a b\"@mdh.se".to_owned(),
            "Anna <anna@mdh.se>".to_owned(),
            "å@mdh.se".to_owned(),
            "a@måsen.se".to_owned(),
            "a@[127.0.0.1]".to_owned(),
            "a@mdh_x.se".to_owned(),
            "a b@mdh.se".to_owned(),
            "@mdh.se".to_owned(),
            "a@".to_owned(),
        ];
        for case in &cases {
            if super::plain_address(case) {
                assert!(in_full(case), "{case:?} taken by the quick path but not by the full check");
            }
            assert_eq!(Email::parse(case).is_ok(), in_full(case), "{case:?}");
        }
        // The quick path does take the common forms.
        for plain in ["anna.andersson@mdh.se", "per@eskilstuna.se", "a@b.c", &format!("{}@mdh.se", label(64))] {
            assert!(super::plain_address(plain), "{plain:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_quick_path_agrees_with_the_full_check(address in "[a-c0-9.+@_<> \"å\\[\\]-]{0,12}") {
            proptest::prop_assert_eq!(Email::parse(&address).is_ok(), in_full(&address), "{:?}", address);
        }

        #[test]
        fn the_quick_path_agrees_on_address_shaped_text(
            local in "[a-c0-9.+_-]{0,5}",
            domain in "[a-c0-9.-]{0,7}",
        ) {
            let address = format!("{local}@{domain}");
            proptest::prop_assert_eq!(Email::parse(&address).is_ok(), in_full(&address), "{:?}", address);
        }
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in ["", "anna", "anna@", "@mdh.se", "anna@localhost", "Anna <anna@mdh.se>", "a b@mdh.se"] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }
}
