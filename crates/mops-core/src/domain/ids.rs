use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an id made by the caller (the core never makes ids itself).
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id!(
    /// A call for ideas (idéefterlysning).
    CallId
);
id!(
    /// An idea submitted to a call.
    IdeaId
);
id!(
    /// A person: staff member, panel member, board member or applicant.
    PersonId
);
id!(
    /// One of the parties (parter), e.g. Mälardalens högskola.
    OrganisationId
);
id!(
    /// A sector group (sektorsgrupp), which owns calls.
    SectorGroupId
);
id!(
    /// A board meeting (styrelsemöte) at which decisions are taken.
    MeetingId
);
