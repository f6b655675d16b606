//! Newtypes at the edges: every value that enters the core is parsed once into
//! a type that cannot hold an invalid value ("parse, don't validate").

mod email;
mod ids;
mod language;
mod money;
mod registry;
mod score;
mod text;

pub use email::Email;
pub use ids::{CallId, IdeaId, MeetingId, OrganisationId, PersonId, SectorGroupId};
pub use language::Language;
pub use money::Sek;
pub use registry::RegistryNumber;
pub use score::{Score, ScoreScale};
pub use text::{CriterionKey, FreeText, LocalizedText, Motivation, PersonName, SectionKey, Theme, Title};

/// Why a value from outside could not become a domain value.
///
/// The message says what is wrong and what would be accepted, so an HTTP or
/// CLI edge can show it to the person who typed the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is {len} characters long; at most {max} are allowed")]
    TooLong { field: &'static str, len: usize, max: usize },
    #[error("{field} contains a control character; use plain text")]
    ControlCharacter { field: &'static str },
    #[error("{value:?} is not an email address; write it as name@example.se")]
    Email { value: String },
    #[error("{value:?} is not an amount in kronor; write it as 350000, \"350 000 kr\" or \"350 000,50\"")]
    Amount { value: String },
    #[error("an amount cannot be negative (got {ore} öre)")]
    NegativeAmount { ore: i64 },
    #[error("{value:?} is not a registry number; write it as \"SK 2010/14\"")]
    RegistryNumber { value: String },
    #[error("{value:?} is not a key; use lower-case letters, digits and '-' or '_' (for example \"relevance\")")]
    Key { value: String },
    #[error("{value:?} is not a language; use \"sv\" or \"en\"")]
    Language { value: String },
    #[error("a score scale needs min < max and max <= 100 (got {min}..={max})")]
    Scale { min: u8, max: u8 },
}

impl ParseError {
    /// The same message in Swedish, for people who work in Swedish first.
    pub fn message_sv(&self) -> String {
        match self {
            Self::Empty { field } => format!("{field} får inte vara tomt"),
            Self::TooLong { field, len, max } => {
                format!("{field} är {len} tecken långt; högst {max} tecken är tillåtna")
            }
            Self::ControlCharacter { field } => {
                format!("{field} innehåller ett styrtecken; använd vanlig text")
            }
            Self::Email { value } => {
                format!("{value:?} är ingen e-postadress; skriv den som namn@exempel.se")
            }
            Self::Amount { value } => format!(
                "{value:?} är inget belopp i kronor; skriv till exempel 350000, \"350 000 kr\" eller \"350 000,50\""
            ),
            Self::NegativeAmount { ore } => {
                format!("ett belopp kan inte vara negativt (fick {ore} öre)")
            }
            Self::RegistryNumber { value } => {
                format!("{value:?} är inget diarienummer; skriv det som \"SK 2010/14\"")
            }
            Self::Key { value } => format!(
                "{value:?} är ingen giltig nyckel; använd små bokstäver, siffror och '-' eller '_' (till exempel \"relevans\")"
            ),
            Self::Language { value } => {
                format!("{value:?} är inget språk; använd \"sv\" eller \"en\"")
            }
            Self::Scale { min, max } => {
                format!("en poängskala kräver att min < max och max <= 100 (fick {min}..={max})")
            }
        }
    }
}
