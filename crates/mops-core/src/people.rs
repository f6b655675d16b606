//! People, the parties they belong to, and the roles that decide what they may do.

use serde::{Deserialize, Serialize};

use crate::domain::{CallId, Email, Language, OrganisationId, PersonId, PersonName, SectorGroupId, Title};

/// One of the parties of the collaboration (Mälardalens högskola, Eskilstuna
/// kommun, Västerås stad); more can be added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    pub id: OrganisationId,
    pub name: Title,
}

/// A sector group (sektorsgrupp): owns calls, selects ideas, prepares decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectorGroup {
    pub id: SectorGroupId,
    pub name: Title,
}

/// A person who uses the system. Every person belongs to one organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: PersonId,
    pub name: PersonName,
    pub email: Email,
    pub organisation: OrganisationId,
    pub language: Language,
}

/// A role a person holds. Applicants are not a role here: being the lead or a
/// co-applicant of an idea is a fact of that idea, checked against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Role {
    /// Runs the machinery: calls, schedules, registry, templates, users.
    ProcessLeader,
    /// Member of a sector group: selects ideas and prepares decisions for its calls.
    SectorGroupMember { group: SectorGroupId },
    /// Member of one call's pitch panel (Draknästet).
    PanelMember { call: CallId },
    /// Member of the board (styrelse): takes the funding decisions.
    BoardMember,
}

/// Who did something, as recorded in events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorRef {
    /// The system itself: timers (lapse at the deadline, reminders).
    System,
    Person(PersonId),
}

impl ActorRef {
    pub fn person(self) -> Option<PersonId> {
        match self {
            Self::Person(p) => Some(p),
            Self::System => None,
        }
    }
}

/// The one doing a command, with the roles they hold right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: ActorRef,
    pub roles: Vec<Role>,
}

impl Actor {
    pub fn person(id: PersonId, roles: impl IntoIterator<Item = Role>) -> Self {
        Self { id: ActorRef::Person(id), roles: roles.into_iter().collect() }
    }

    pub fn system() -> Self {
        Self { id: ActorRef::System, roles: Vec::new() }
    }

    pub fn is_system(&self) -> bool {
        self.id == ActorRef::System
    }

    pub fn is(&self, person: PersonId) -> bool {
        self.id == ActorRef::Person(person)
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_process_leader(&self) -> bool {
        self.has(Role::ProcessLeader)
    }

    pub fn is_board_member(&self) -> bool {
        self.has(Role::BoardMember)
    }

    pub fn is_sector_member(&self, group: SectorGroupId) -> bool {
        self.has(Role::SectorGroupMember { group })
    }

    pub fn is_panel_member(&self, call: CallId) -> bool {
        self.has(Role::PanelMember { call })
    }
}
