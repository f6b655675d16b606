//! People, their roles and their API tokens, persisted: the foundation of
//! sign-in and access control.
//!
//! - A [`User`] is a person who may sign in. Their id is the
//!   [`PersonId`] the pipeline's events and ideas carry, so a user is the
//!   same person the 2010 round's events name. Email addresses are stored
//!   lower-cased: `Anna@MDH.se` and `anna@mdh.se` are one person.
//! - Staff sign in with a [`Password`] (argon2id, at least 12 characters);
//!   applicants have none and will sign in by a one-time link.
//! - Roles ([`mops_core::Role`]) are granted and revoked one by one; a
//!   sector group member's role names the group, a panel member's the call.
//! - API tokens are `mops_` and 64 hex digits (32 random bytes). Only their
//!   SHA-256 is stored: a token is shown once, when it is created.
//! - Every change is one transaction together with its row in `people_log`,
//!   which the database keeps append-only.
//!
//! [`PeopleStore`] is implemented for [`SqliteStore`], [`PgStore`] and
//! [`Db`] by one macro, as the pipeline's [`crate::Store`] is.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHasher, PasswordVerifier, try_generate_salt};
use argon2::{Argon2, PasswordHash};
use chrono::{DateTime, SubsecRound, Utc};
use mops_core::domain::{CallId, Email, Language, OrganisationId, ParseError, PersonId, PersonName, SectorGroupId};
use mops_core::people::{Organisation, SectorGroup};
use mops_core::reference::Round2010;
use mops_core::{Actor, Role};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::Row;
use uuid::Uuid;

use crate::store::{Db, PgStore, SqliteStore, Store};

/// The demo accounts' password, set by [`seed_reference`] for the 2010
/// round's staff in `mops demo` and `mops serve --demo`. For the demo only:
/// it is printed on the screen and written in the documentation.
pub const DEMO_PASSWORD: &str = "draknastet-2010";

/// The prefix of every API token's secret, so a leaked token is recognisable.
pub const TOKEN_PREFIX: &str = "mops_";

// ---------------------------------------------------------------------------
// Types

/// A person who may sign in, with the roles they hold now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: PersonId,
    /// Lower-cased.
    pub email: Email,
    pub name: PersonName,
    pub organisation: Option<OrganisationId>,
    pub language: Language,
    /// Sorted, each role once.
    pub roles: Vec<Role>,
    /// Whether the user can sign in with a password (staff); applicants have none.
    pub has_password: bool,
    /// A disabled user cannot sign in and their tokens do not authenticate.
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl User {
    /// The actor for the core's rules: this person with their roles. A
    /// disabled user's actor holds no roles.
    pub fn actor(&self) -> Actor {
        Actor::person(self.id, if self.disabled { Vec::new() } else { self.roles.clone() })
    }
}

/// A user to add.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The person's id (new ones: `PersonId::from_uuid(Uuid::new_v4())`).
    pub id: PersonId,
    /// Stored lower-cased.
    pub email: Email,
    pub name: PersonName,
    pub organisation: Option<OrganisationId>,
    pub language: Language,
    /// Staff get one; applicants none (they will sign in by link).
    pub password: Option<Password>,
}

/// Who made a change, as `people_log` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangedBy {
    /// The `mops` command: somebody with access to the server and the database.
    CommandLine,
    /// The demo data ([`seed_reference`]).
    Seed,
    /// A signed-in user.
    User(PersonId),
}

impl ChangedBy {
    fn key(self) -> &'static str {
        match self {
            Self::CommandLine => "command_line",
            Self::Seed => "seed",
            Self::User(_) => "user",
        }
    }

    fn person(self) -> Option<Uuid> {
        match self {
            Self::User(p) => Some(*p.as_uuid()),
            _ => None,
        }
    }
}

/// The kinds of [`Role`], without their scope: what `--role` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleKind {
    /// Processledare: runs calls, schedules, registry and users. No scope.
    #[value(alias = "process_leader")]
    ProcessLeader,
    /// Sektorsgrupp: selects ideas and prepares decisions. Scope: the sector group.
    #[value(alias = "sector-group-member", alias = "sector_group_member")]
    SectorGroup,
    /// Draknästet's panel: gives feedback on pitches. Scope: the call.
    #[value(alias = "panel-member", alias = "panel_member")]
    Panel,
    /// Styrelsen: takes the funding decisions. No scope.
    #[value(alias = "board-member", alias = "board_member")]
    Board,
}

impl RoleKind {
    pub const ALL: [RoleKind; 4] = [Self::ProcessLeader, Self::SectorGroup, Self::Panel, Self::Board];

    /// The key stored in `user_roles.role`.
    pub fn key(self) -> &'static str {
        match self {
            Self::ProcessLeader => "process_leader",
            Self::SectorGroup => "sector_group_member",
            Self::Panel => "panel_member",
            Self::Board => "board_member",
        }
    }

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::ProcessLeader => "process-leader",
            Self::SectorGroup => "sector-group",
            Self::Panel => "panel",
            Self::Board => "board",
        }
    }

    pub fn label(self, lang: Language) -> &'static str {
        match (self, lang) {
            (Self::ProcessLeader, Language::Sv) => "processledare",
            (Self::ProcessLeader, Language::En) => "process leader",
            (Self::SectorGroup, Language::Sv) => "ledamot i sektorsgrupp",
            (Self::SectorGroup, Language::En) => "sector group member",
            (Self::Panel, Language::Sv) => "ledamot i Draknästets panel",
            (Self::Panel, Language::En) => "panel member",
            (Self::Board, Language::Sv) => "styrelseledamot",
            (Self::Board, Language::En) => "board member",
        }
    }

    /// What the scope is, for messages; `None` for roles without one.
    pub fn scope_kind(self) -> Option<&'static str> {
        match self {
            Self::SectorGroup => Some("the sector group's id"),
            Self::Panel => Some("the call's id"),
            Self::ProcessLeader | Self::Board => None,
        }
    }

    pub fn of(role: &Role) -> Self {
        match role {
            Role::ProcessLeader => Self::ProcessLeader,
            Role::SectorGroupMember { .. } => Self::SectorGroup,
            Role::PanelMember { .. } => Self::Panel,
            Role::BoardMember => Self::Board,
        }
    }

    /// Parses a command-line name (`process-leader`, `sector-group`, `panel`,
    /// `board`) or a stored key (`sector_group_member`, …).
    pub fn parse(value: &str) -> Result<Self, PeopleError> {
        let v = value.trim().to_ascii_lowercase().replace('_', "-");
        let found = Self::ALL
            .into_iter()
            .find(|k| k.name() == v || k.key().replace('_', "-") == v || format!("{}-member", k.name()) == v);
        found.ok_or_else(|| PeopleError::UnknownRole { value: value.to_owned() })
    }

    /// The role with its scope: required for a sector group member (the
    /// group) and a panel member (the call), refused for the others.
    pub fn with_scope(self, scope: Option<Uuid>) -> Result<Role, PeopleError> {
        match (self, scope) {
            (Self::ProcessLeader, None) => Ok(Role::ProcessLeader),
            (Self::Board, None) => Ok(Role::BoardMember),
            (Self::SectorGroup, Some(s)) => Ok(Role::SectorGroupMember { group: SectorGroupId::from_uuid(s) }),
            (Self::Panel, Some(s)) => Ok(Role::PanelMember { call: CallId::from_uuid(s) }),
            (Self::SectorGroup | Self::Panel, None) => Err(PeopleError::ScopeRequired { role: self }),
            (Self::ProcessLeader | Self::Board, Some(_)) => Err(PeopleError::ScopeNotAllowed { role: self }),
        }
    }
}

impl std::fmt::Display for RoleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A role as the command line writes it: `board`, `sector-group:<id>`, `panel:<id>`.
pub fn role_name(role: &Role) -> String {
    match role_parts(role) {
        (_, None) => RoleKind::of(role).name().to_owned(),
        (_, Some(scope)) => format!("{}:{scope}", RoleKind::of(role).name()),
    }
}

/// The stored form of a role: its key and its scope.
fn role_parts(role: &Role) -> (&'static str, Option<Uuid>) {
    let scope = match role {
        Role::ProcessLeader | Role::BoardMember => None,
        Role::SectorGroupMember { group } => Some(*group.as_uuid()),
        Role::PanelMember { call } => Some(*call.as_uuid()),
    };
    (RoleKind::of(role).key(), scope)
}

fn role_from_parts(key: &str, scope: Option<Uuid>) -> Result<Role, PeopleError> {
    let kind = RoleKind::ALL
        .into_iter()
        .find(|k| k.key() == key)
        .ok_or_else(|| PeopleError::Internal(format!("stored data is corrupt: unknown role {key:?}")))?;
    kind.with_scope(scope)
        .map_err(|e| PeopleError::Internal(format!("stored data is corrupt: role {key:?} with scope {scope:?}: {e}")))
}

/// The id of an API token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenId(Uuid);

impl TokenId {
    pub const fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl std::fmt::Display for TokenId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for TokenId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// An API token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub id: TokenId,
    pub user: PersonId,
    pub email: Email,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One row of `people_log`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeopleLogEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `command_line`, `seed` or `user`.
    pub actor: String,
    /// The signed-in user who made the change, when `actor` is `user`.
    pub actor_id: Option<PersonId>,
    /// `organisation_added`, `sector_group_added`, `user_added`,
    /// `password_set` (details `{}` when set by someone else, `{"how":
    /// "changed"|"reset", "sessions_ended": n}` when the user set their own),
    /// `role_granted`, `role_revoked`, `user_disabled`, `user_enabled`,
    /// `token_created` or `token_revoked`.
    pub action: String,
    /// Whom the change is about, if a person.
    pub user: Option<PersonId>,
    pub details: serde_json::Value,
}

/// One demo account per role, as [`seed_reference`] returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSignIn {
    /// `None` for the applicant.
    pub role: Option<RoleKind>,
    pub email: Email,
    /// Whether the account signs in with the demo password (staff) or not
    /// (applicants: by link, once that exists).
    pub password: bool,
}

impl DemoSignIn {
    pub fn label(&self, lang: Language) -> &'static str {
        match (self.role, lang) {
            (Some(kind), _) => kind.label(lang),
            (None, Language::Sv) => "sökande",
            (None, Language::En) => "applicant",
        }
    }
}

// ---------------------------------------------------------------------------
// Errors

/// Why a change to people, roles or tokens did not go through.
#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    /// A value that is not what it should be (an email address, a name, …).
    #[error("{0}")]
    Invalid(#[from] ParseError),
    #[error("there is already a user with the email address {email} (addresses are compared without regard to case)")]
    DuplicateEmail { email: String },
    /// Another id, name or token name that must be unique.
    #[error("there is already {what} {key}")]
    Duplicate { what: &'static str, key: String },
    #[error("there is no user {who}; `mops user list` shows them")]
    UnknownUser { who: String },
    #[error("there is no organisation {who}; `mops organisation list` shows them")]
    UnknownOrganisation { who: String },
    #[error("there is no sector group {id}; `mops sector-group list` shows them")]
    UnknownSectorGroup { id: SectorGroupId },
    #[error("there is no call {id}; `mops call list` shows them")]
    UnknownCall { id: CallId },
    #[error("{value:?} is not a role; use process-leader, sector-group, panel or board")]
    UnknownRole { value: String },
    #[error("the role {role} needs a scope: {}", role.scope_kind().unwrap_or("its scope"))]
    ScopeRequired { role: RoleKind },
    #[error("the role {role} has no scope; leave the scope out")]
    ScopeNotAllowed { role: RoleKind },
    #[error("{email} does not hold the role {role}; their roles: {held}")]
    RoleNotHeld { email: String, role: String, held: String },
    /// Swedish first, then English: people read it where they set a password.
    #[error(
        "lösenordet är för kort: {chars} tecken, minst {min} krävs / the password is too short: {chars} characters, \
         at least {min} are required",
        min = Password::MIN_CHARS
    )]
    WeakPassword { chars: usize },
    #[error(
        "lösenordet är för långt: {chars} tecken, högst {max} tillåts / the password is too long: {chars} characters, \
         at most {max} are allowed",
        max = Password::MAX_CHARS
    )]
    PasswordTooLong { chars: usize },
    #[error("the user {email} is disabled")]
    UserDisabled { email: String },
    #[error("the password for {email} is wrong")]
    WrongPassword { email: String },
    #[error("{email} has no password, so they cannot prove who they are; `mops user set-password` sets one")]
    NoPassword { email: String },
    #[error("there is no API token {id}; `mops token list` shows them")]
    UnknownToken { id: TokenId },
    /// The database was busy for longer than the busy timeout. Try again.
    #[error("the database is busy; try again in a moment")]
    Busy,
    /// Never the user's fault: hashing failed, stored data is corrupt, …
    #[error("internal error: {0}")]
    Internal(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl PeopleError {
    /// Whether the person who asked can fix it (a usage error), rather than
    /// the system failing.
    pub fn is_user_error(&self) -> bool {
        !matches!(self, Self::Busy | Self::Internal(_) | Self::Database(_))
    }

    /// The `mops` exit status: 2 for a user error, 3 when the command could not run.
    pub fn exit_code(&self) -> u8 {
        if self.is_user_error() { 2 } else { 3 }
    }

    /// The message in Swedish or English.
    pub fn message(&self, lang: Language) -> String {
        if lang == Language::En {
            return self.to_string();
        }
        match self {
            Self::Invalid(e) => e.message_sv(),
            Self::DuplicateEmail { email } => {
                format!("det finns redan en användare med e-postadressen {email} (stora och små bokstäver räknas lika)")
            }
            // The details are in English; the message is built from them.
            Self::Duplicate { .. } => self.to_string(),
            Self::UnknownUser { who } => format!("det finns ingen användare {who}"),
            Self::UnknownOrganisation { who } => format!("det finns ingen organisation {who}"),
            Self::UnknownSectorGroup { id } => format!("det finns ingen sektorsgrupp {id}"),
            Self::UnknownCall { id } => format!("det finns ingen utlysning {id}"),
            Self::UnknownRole { value } => {
                format!("{value:?} är ingen roll; använd process-leader, sector-group, panel eller board")
            }
            Self::ScopeRequired { role } => format!(
                "rollen {} gäller en {}: ange dess id",
                role.label(Language::Sv),
                if *role == RoleKind::Panel { "utlysning" } else { "sektorsgrupp" }
            ),
            Self::ScopeNotAllowed { role } => {
                format!("rollen {} gäller inte något särskilt; ange inget id", role.label(Language::Sv))
            }
            Self::RoleNotHeld { email, role, held } => format!("{email} har inte rollen {role}; hens roller: {held}"),
            Self::WeakPassword { .. } | Self::PasswordTooLong { .. } => self.to_string(),
            Self::UserDisabled { email } => format!("användaren {email} är avstängd"),
            Self::WrongPassword { email } => format!("lösenordet för {email} är fel"),
            Self::NoPassword { email } => {
                format!("{email} har inget lösenord och kan inte visa vem hen är; `mops user set-password` sätter ett")
            }
            Self::UnknownToken { id } => format!("det finns ingen API-nyckel {id}"),
            Self::Busy => "databasen är upptagen; försök igen om en stund".into(),
            Self::Internal(e) => format!("internt fel: {e}"),
            Self::Database(e) => format!("databasfel: {e}"),
        }
    }
}

impl From<sqlx::Error> for PeopleError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            // SQLITE_BUSY (5), SQLITE_LOCKED (6), PostgreSQL's
            // serialization_failure and deadlock_detected.
            if let Some("5" | "6" | "517" | "40001" | "40P01") = db.code().as_deref() {
                return Self::Busy;
            }
        }
        Self::Database(e)
    }
}

fn corrupt(what: impl std::fmt::Display) -> PeopleError {
    PeopleError::Internal(format!("stored data is corrupt: {what}"))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

// ---------------------------------------------------------------------------
// Passwords and secrets

/// A password someone chose: at least [`Password::MIN_CHARS`] characters.
/// Kept as typed (not trimmed); its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(…)")
    }
}

impl Password {
    /// Long enough to resist guessing when it is a phrase of a few words.
    pub const MIN_CHARS: usize = 12;
    /// Hashing is deliberately slow; an enormous "password" is refused.
    pub const MAX_CHARS: usize = 1024;

    pub fn new(password: &str) -> Result<Self, PeopleError> {
        let chars = password.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(PeopleError::WeakPassword { chars });
        }
        if chars > Self::MAX_CHARS {
            return Err(PeopleError::PasswordTooLong { chars });
        }
        Ok(Self(password.to_owned()))
    }

    /// The argon2id hash (default parameters: 19 MiB, 2 passes) with a fresh
    /// random salt, as a PHC string `$argon2id$v=19$m=19456,t=2,p=1$…`.
    /// Slow on purpose; async code should call [`Password::hash_blocking`].
    pub fn hash(&self) -> Result<String, PeopleError> {
        let hash: PasswordHash = Argon2::default()
            .hash_password(self.0.as_bytes())
            .map_err(|e| PeopleError::Internal(format!("cannot hash a password: {e}")))?;
        Ok(hash.to_string())
    }

    /// [`Password::hash`] on tokio's blocking pool.
    pub async fn hash_blocking(&self) -> Result<String, PeopleError> {
        let password = self.clone();
        tokio::task::spawn_blocking(move || password.hash())
            .await
            .map_err(|e| PeopleError::Internal(format!("hashing a password failed: {e}")))?
    }

    /// Whether this password matches a stored PHC hash.
    pub fn verify(&self, phc: &str) -> bool {
        verify_password(&self.0, phc)
    }
}

/// Whether `password` matches the stored PHC hash `phc`. Any password may be
/// checked (the length rule is for setting one); a malformed hash matches nothing.
pub fn verify_password(password: &str, phc: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), phc).is_ok()
}

async fn verify_blocking(password: &str, phc: String) -> Result<bool, PeopleError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .map_err(|e| PeopleError::Internal(format!("checking a password failed: {e}")))
}

/// A hash to check against when there is no user, so that an unknown
/// address takes as long to refuse as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| Password("no such user, no such password".into()).hash().unwrap_or_default())
}

/// A new token secret: `mops_` and 32 random bytes from the operating
/// system's generator, in hex.
fn new_secret() -> Result<String, PeopleError> {
    let mut secret = String::from(TOKEN_PREFIX);
    // password-hash's salt generator is getrandom (the OS's CSPRNG), 16
    // bytes a call.
    for _ in 0..2 {
        let bytes = try_generate_salt().map_err(|e| PeopleError::Internal(format!("no randomness: {e}")))?;
        for b in bytes {
            secret.push_str(&format!("{b:02x}"));
        }
    }
    Ok(secret)
}

/// The SHA-256 of a token's secret: what `api_tokens.token_hash` holds.
pub fn token_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The email address as stored: lower-cased.
pub fn normalise_email(email: &Email) -> Result<Email, PeopleError> {
    Ok(Email::parse(&email.as_str().to_lowercase())?)
}

fn token_name(name: &str) -> Result<String, PeopleError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 {
        return Err(ParseError::Empty { field: "token name" }.into());
    }
    if chars > 100 {
        return Err(ParseError::TooLong { field: "token name", len: chars, max: 100 }.into());
    }
    if name.chars().any(char::is_control) {
        return Err(ParseError::ControlCharacter { field: "token name" }.into());
    }
    Ok(name.to_owned())
}

/// Now, to the microsecond PostgreSQL keeps, so what is written is what is read.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

// ---------------------------------------------------------------------------
// The store

/// People, roles and tokens in storage. One implementation per backend
/// (one macro writes both); `tests/people.rs` runs against both.
///
/// Every change is one transaction with its `people_log` row. A change
/// that changes nothing (granting a role already held, disabling a
/// disabled user, revoking a revoked token) writes nothing and returns `false`.
pub trait PeopleStore: Send + Sync {
    /// Adds an organisation; its id and name must be new.
    fn add_organisation(
        &self,
        organisation: &Organisation,
        by: ChangedBy,
    ) -> impl Future<Output = Result<(), PeopleError>> + Send;

    /// The organisations, by name.
    fn organisations(&self) -> impl Future<Output = Result<Vec<Organisation>, PeopleError>> + Send;

    /// Adds a sector group; its id and name must be new.
    fn add_sector_group(
        &self,
        group: &SectorGroup,
        by: ChangedBy,
    ) -> impl Future<Output = Result<(), PeopleError>> + Send;

    /// The sector groups, by name.
    fn sector_groups(&self) -> impl Future<Output = Result<Vec<SectorGroup>, PeopleError>> + Send;

    /// Adds a user without roles. The email address (lower-cased) and the
    /// id must be new; the organisation, if given, must exist.
    fn add_user(&self, user: NewUser, by: ChangedBy) -> impl Future<Output = Result<User, PeopleError>> + Send;

    fn user(&self, id: PersonId) -> impl Future<Output = Result<Option<User>, PeopleError>> + Send;

    /// The user with this address, whatever its case.
    fn user_by_email(&self, email: &Email) -> impl Future<Output = Result<Option<User>, PeopleError>> + Send;

    /// Every user, by email address.
    fn users(&self) -> impl Future<Output = Result<Vec<User>, PeopleError>> + Send;

    /// Sets (or replaces) a user's password (`mops user set-password`, the
    /// demo's staff). In one transaction: the new hash, every web session of
    /// the user ended, their unused password-reset links made void, and a
    /// `password_set` row in `people_log` by `by`, `{"how": "set",
    /// "sessions_ended": n}`. Returns how many sessions were ended.
    fn set_password(
        &self,
        user: PersonId,
        password: &Password,
        by: ChangedBy,
    ) -> impl Future<Output = Result<u64, PeopleError>> + Send;

    /// A user changes their own password while signed in (they have shown
    /// the current one). In one transaction: the new hash, every web session
    /// of theirs ended but `keep_session` (the one they changed it in), their
    /// unused password-reset links made void, and a `password_set` row in
    /// `people_log` by the user themself, `{"how": "changed",
    /// "sessions_ended": n}`. Returns how many sessions were ended.
    fn change_own_password(
        &self,
        user: PersonId,
        password: &Password,
        keep_session: Option<&str>,
    ) -> impl Future<Output = Result<u64, PeopleError>> + Send;

    /// Uses a password-reset link (`link_hash`: the SHA-256 of its secret,
    /// [`crate::web::session::link_hash`]) to set a new password. The link
    /// must be a live `password_reset` link of an enabled user who has a
    /// password; otherwise nothing is written and the answer is `None`. In
    /// one transaction: the link used, the new hash, every web session of
    /// the user ended, their other reset links made void, and a
    /// `password_set` row in `people_log` by the user themself, `{"how":
    /// "reset", "sessions_ended": n}`. Two requests racing for one link:
    /// one wins, the other gets `None`.
    fn reset_password(
        &self,
        link_hash: [u8; 32],
        password: &Password,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<PersonId>, PeopleError>> + Send;

    /// Grants a role; its scope must exist (the sector group, the call).
    /// `false` when the user already held it.
    fn grant_role(
        &self,
        user: PersonId,
        role: Role,
        by: ChangedBy,
    ) -> impl Future<Output = Result<bool, PeopleError>> + Send;

    /// Revokes a role the user holds ([`PeopleError::RoleNotHeld`] otherwise).
    fn revoke_role(
        &self,
        user: PersonId,
        role: Role,
        by: ChangedBy,
    ) -> impl Future<Output = Result<(), PeopleError>> + Send;

    /// Disables a user: no sign-in, no token, and every web session of
    /// theirs ended, in the transaction that logs `user_disabled`
    /// (`{"sessions_ended": n}`). `false` if already disabled (nothing
    /// written).
    fn disable_user(&self, user: PersonId, by: ChangedBy) -> impl Future<Output = Result<bool, PeopleError>> + Send;

    /// Enables a disabled user again: they can sign in, and their roles and
    /// the API tokens not revoked meanwhile work again. `false` if not
    /// disabled.
    fn enable_user(&self, user: PersonId, by: ChangedBy) -> impl Future<Output = Result<bool, PeopleError>> + Send;

    /// Creates an API token for an enabled user and returns its id and its
    /// secret. The secret is not stored (only its SHA-256) and cannot be
    /// shown again. A user's live tokens have different names.
    fn create_token(
        &self,
        user: PersonId,
        name: &str,
        by: ChangedBy,
    ) -> impl Future<Output = Result<(TokenId, String), PeopleError>> + Send;

    /// The tokens (of one user, or everyone's), revoked ones too.
    fn tokens(&self, user: Option<PersonId>) -> impl Future<Output = Result<Vec<ApiToken>, PeopleError>> + Send;

    /// Revokes a token. `false` if it was already revoked.
    fn revoke_token(&self, id: TokenId, by: ChangedBy) -> impl Future<Output = Result<bool, PeopleError>> + Send;

    /// The user a token's secret belongs to, if the token is live and the
    /// user enabled; records when the token was last used.
    fn authenticate_token(&self, secret: &str) -> impl Future<Output = Result<Option<User>, PeopleError>> + Send;

    /// The user, if the address and password match and the user is enabled.
    fn authenticate_password(
        &self,
        email: &str,
        password: &str,
    ) -> impl Future<Output = Result<Option<User>, PeopleError>> + Send;

    /// The audit log of changes to people (about one user, or all), oldest first.
    fn people_log(
        &self,
        user: Option<PersonId>,
    ) -> impl Future<Output = Result<Vec<PeopleLogEntry>, PeopleError>> + Send;
}

/// Which users to read.
#[derive(Debug, Clone)]
enum Which {
    Id(Uuid),
    Email(String),
    All,
}

/// How a password is replaced, which says who is logged and which session
/// stays.
#[derive(Debug, Clone, Copy)]
enum Replaced<'a> {
    /// By `mops user set-password` (also for a disabled user).
    Set { by: ChangedBy },
    /// By the user, who keeps the session they changed it in.
    Changed { keep: Option<&'a str> },
    /// By the user, through a reset link.
    Reset,
}

macro_rules! impl_people {
    ($module:ident, $store:ty, $db:ty, begin = $begin:expr) => {
        pub(crate) mod $module {
            use super::*;

            pub(crate) type Tx = sqlx::Transaction<'static, $db>;
            type Conn = <$db as sqlx::Database>::Connection;

            async fn begin(store: &$store) -> Result<Tx, PeopleError> {
                Ok(store.writer().begin_with($begin).await?)
            }

            async fn log(
                tx: &mut Tx,
                by: ChangedBy,
                action: &str,
                user: Option<Uuid>,
                details: serde_json::Value,
            ) -> Result<(), PeopleError> {
                sqlx::query(
                    "INSERT INTO people_log (at, actor, actor_id, action, user_id, details) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(now())
                .bind(by.key())
                .bind(by.person())
                .bind(action)
                .bind(user)
                .bind(details.to_string())
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// A new password: the hash, the user's sessions ended (but the
            /// one a change keeps), their unused reset links void, the log
            /// row. Returns how many sessions were ended.
            async fn replace_password(
                tx: &mut Tx,
                user: Uuid,
                hash: &str,
                how: Replaced<'_>,
            ) -> Result<u64, PeopleError> {
                // A disabled user's password is set only by `mops user set-password`.
                let even_disabled = matches!(how, Replaced::Set { .. });
                let done = sqlx::query(
                    "UPDATE users SET password_hash = $2 WHERE id = $1 AND ($3 OR disabled_at IS NULL)",
                )
                .bind(user)
                .bind(hash)
                .bind(even_disabled)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                if done == 0 {
                    return Err(PeopleError::UnknownUser { who: user.to_string() });
                }
                // Whoever knew the old password is signed out, and a reset
                // link asked for before cannot replace this one.
                let (by, keep, name) = match how {
                    Replaced::Set { by } => (by, None, "set"),
                    Replaced::Changed { keep } => (ChangedBy::User(PersonId::from_uuid(user)), keep, "changed"),
                    Replaced::Reset => (ChangedBy::User(PersonId::from_uuid(user)), None, "reset"),
                };
                let ended = end_sessions(tx, user, keep).await?;
                void_reset_links(tx, user).await?;
                // Never the hash: it would help nobody and only leak.
                log(tx, by, "password_set", Some(user), json!({ "how": name, "sessions_ended": ended })).await?;
                Ok(ended)
            }

            /// Ends the user's web sessions but `keep`; returns how many.
            async fn end_sessions(tx: &mut Tx, user: Uuid, keep: Option<&str>) -> Result<u64, PeopleError> {
                // No session id is empty, so "" keeps none.
                Ok(sqlx::query("DELETE FROM web_sessions WHERE user_id = $1 AND id <> $2")
                    .bind(user)
                    .bind(keep.unwrap_or(""))
                    .execute(&mut **tx)
                    .await?
                    .rows_affected())
            }

            /// Makes the user's unused password-reset links void.
            async fn void_reset_links(tx: &mut Tx, user: Uuid) -> Result<(), PeopleError> {
                sqlx::query(
                    "UPDATE sign_in_links SET used_at = $2 \
                     WHERE user_id = $1 AND purpose = 'password_reset' AND used_at IS NULL",
                )
                .bind(user)
                .bind(now())
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// Users with their roles and password hashes.
            async fn fetch_users(conn: &mut Conn, which: Which) -> Result<Vec<(User, Option<String>)>, PeopleError> {
                const USERS: &str = "SELECT id, email, name, organisation_id, language, password_hash, created_at, \
                                     disabled_at FROM users";
                const ROLES: &str = "SELECT user_id, role, scope FROM user_roles";
                let (users, roles) = match &which {
                    Which::Id(id) => (
                        sqlx::query(&format!("{USERS} WHERE id = $1")).bind(*id).fetch_all(&mut *conn).await?,
                        sqlx::query(&format!("{ROLES} WHERE user_id = $1")).bind(*id).fetch_all(&mut *conn).await?,
                    ),
                    Which::Email(email) => (
                        sqlx::query(&format!("{USERS} WHERE email = $1"))
                            .bind(email)
                            .fetch_all(&mut *conn)
                            .await?,
                        sqlx::query(&format!(
                            "{ROLES} WHERE user_id IN (SELECT id FROM users WHERE email = $1)"
                        ))
                        .bind(email)
                        .fetch_all(&mut *conn)
                        .await?,
                    ),
                    Which::All => (
                        sqlx::query(&format!("{USERS} ORDER BY email")).fetch_all(&mut *conn).await?,
                        sqlx::query(ROLES).fetch_all(&mut *conn).await?,
                    ),
                };
                let mut held: BTreeMap<Uuid, Vec<Role>> = BTreeMap::new();
                for r in roles {
                    let role = role_from_parts(&r.try_get::<String, _>("role")?, r.try_get("scope")?)?;
                    held.entry(r.try_get("user_id")?).or_default().push(role);
                }
                users
                    .into_iter()
                    .map(|r| {
                        let id: Uuid = r.try_get("id")?;
                        let email: String = r.try_get("email")?;
                        let name: String = r.try_get("name")?;
                        let language: String = r.try_get("language")?;
                        let hash: Option<String> = r.try_get("password_hash")?;
                        let disabled_at: Option<DateTime<Utc>> = r.try_get("disabled_at")?;
                        let mut roles = held.remove(&id).unwrap_or_default();
                        roles.sort();
                        roles.dedup();
                        let user = User {
                            id: PersonId::from_uuid(id),
                            email: Email::parse(&email).map_err(|e| corrupt(format!("user {id}: {e}")))?,
                            name: PersonName::parse(&name).map_err(|e| corrupt(format!("user {id}: {e}")))?,
                            organisation: r.try_get::<Option<Uuid>, _>("organisation_id")?.map(OrganisationId::from_uuid),
                            language: Language::parse(&language).map_err(|e| corrupt(format!("user {id}: {e}")))?,
                            roles,
                            has_password: hash.is_some(),
                            disabled: disabled_at.is_some(),
                            created_at: r.try_get("created_at")?,
                        };
                        Ok((user, hash))
                    })
                    .collect()
            }

            async fn one_user(conn: &mut Conn, which: Which) -> Result<Option<(User, Option<String>)>, PeopleError> {
                Ok(fetch_users(conn, which).await?.pop())
            }

            /// The user, or `UnknownUser`.
            async fn existing(conn: &mut Conn, id: PersonId) -> Result<User, PeopleError> {
                one_user(conn, Which::Id(*id.as_uuid()))
                    .await?
                    .map(|(u, _)| u)
                    .ok_or_else(|| PeopleError::UnknownUser { who: id.to_string() })
            }

            async fn exists(conn: &mut Conn, sql: &str, id: Uuid) -> Result<bool, PeopleError> {
                Ok(sqlx::query(sql).bind(id).fetch_optional(&mut *conn).await?.is_some())
            }

            async fn named_exists(conn: &mut Conn, table: &str, name: &str) -> Result<bool, PeopleError> {
                Ok(sqlx::query(&format!("SELECT 1 FROM {table} WHERE name = $1"))
                    .bind(name)
                    .fetch_optional(&mut *conn)
                    .await?
                    .is_some())
            }

            /// Inserts an organisation or a sector group.
            async fn add_named(
                store: &$store,
                table: &'static str,
                what: &'static str,
                id: Uuid,
                name: &str,
                by: ChangedBy,
            ) -> Result<(), PeopleError> {
                let mut tx = begin(store).await?;
                if exists(&mut tx, &format!("SELECT 1 FROM {table} WHERE id = $1"), id).await? {
                    return Err(PeopleError::Duplicate { what, key: format!("with the id {id}") });
                }
                if named_exists(&mut tx, table, name).await? {
                    return Err(PeopleError::Duplicate { what, key: format!("named {name:?}") });
                }
                sqlx::query(&format!("INSERT INTO {table} (id, name, created_at) VALUES ($1, $2, $3)"))
                    .bind(id)
                    .bind(name)
                    .bind(now())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            PeopleError::Duplicate { what, key: format!("named {name:?}") }
                        } else {
                            e.into()
                        }
                    })?;
                let action = if table == "organisations" { "organisation_added" } else { "sector_group_added" };
                log(&mut tx, by, action, None, json!({ "id": id, "name": name })).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_named(store: &$store, table: &str) -> Result<Vec<(Uuid, String)>, PeopleError> {
                let rows = sqlx::query(&format!("SELECT id, name FROM {table} ORDER BY name"))
                    .fetch_all(store.pool())
                    .await?;
                rows.into_iter().map(|r| Ok((r.try_get("id")?, r.try_get("name")?))).collect()
            }

            fn title(name: &str) -> Result<mops_core::domain::Title, PeopleError> {
                mops_core::domain::Title::parse(name).map_err(|e| corrupt(format!("name {name:?}: {e}")))
            }

            /// Adds `new` inside `tx`, which the caller commits: the user's
            /// row and its `user_added` row in `people_log`. `hash` is the
            /// password's hash ([`Password::hash_blocking`]), if they have
            /// one. The address (lower-cased) and the id must be new
            /// ([`PeopleError::DuplicateEmail`] also when a concurrent
            /// transaction added the address first), the organisation, if
            /// given, must exist. Used by [`PeopleStore::add_user`] and by a
            /// submission that registers the people it names
            /// ([`crate::Store::execute_idea_registering`]).
            pub(crate) async fn insert_user(
                tx: &mut Tx,
                new: &NewUser,
                hash: Option<&str>,
                by: ChangedBy,
            ) -> Result<(), PeopleError> {
                let email = normalise_email(&new.email)?;
                let id = *new.id.as_uuid();
                let duplicate = || PeopleError::DuplicateEmail { email: email.to_string() };
                if sqlx::query("SELECT 1 FROM users WHERE email = $1")
                    .bind(email.as_str())
                    .fetch_optional(&mut **tx)
                    .await?
                    .is_some()
                {
                    return Err(duplicate());
                }
                if exists(tx, "SELECT 1 FROM users WHERE id = $1", id).await? {
                    return Err(PeopleError::Duplicate { what: "a user", key: format!("with the id {id}") });
                }
                if let Some(o) = new.organisation
                    && !exists(tx, "SELECT 1 FROM organisations WHERE id = $1", *o.as_uuid()).await?
                {
                    return Err(PeopleError::UnknownOrganisation { who: o.to_string() });
                }
                sqlx::query(
                    "INSERT INTO users (id, email, name, organisation_id, language, password_hash, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(id)
                .bind(email.as_str())
                .bind(new.name.as_str())
                .bind(new.organisation.map(|o| *o.as_uuid()))
                .bind(new.language.tag())
                .bind(hash)
                .bind(now())
                .execute(&mut **tx)
                .await
                .map_err(|e| if is_unique_violation(&e) { duplicate() } else { e.into() })?;
                log(
                    tx,
                    by,
                    "user_added",
                    Some(id),
                    json!({
                        "email": email,
                        "name": new.name,
                        "organisation": new.organisation,
                        "language": new.language,
                        "password": hash.is_some(),
                    }),
                )
                .await
            }

            /// Disables or enables `user`, logged as `user_disabled` or
            /// `user_enabled`; `false` (nothing written) if already so.
            async fn set_disabled(store: &$store, user: PersonId, disable: bool, by: ChangedBy) -> Result<bool, PeopleError> {
                let mut tx = begin(store).await?;
                existing(&mut tx, user).await?;
                let done = sqlx::query(
                    "UPDATE users SET disabled_at = CASE WHEN $2 THEN $3 ELSE NULL END \
                     WHERE id = $1 AND (disabled_at IS NULL) = $2",
                )
                .bind(*user.as_uuid())
                .bind(disable)
                .bind(now())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if done == 0 {
                    return Ok(false);
                }
                let details = if disable {
                    // Signed out everywhere: enabled again, they sign in anew.
                    json!({ "sessions_ended": end_sessions(&mut tx, *user.as_uuid(), None).await? })
                } else {
                    json!({})
                };
                let action = if disable { "user_disabled" } else { "user_enabled" };
                log(&mut tx, by, action, Some(*user.as_uuid()), details).await?;
                tx.commit().await?;
                Ok(true)
            }

            impl PeopleStore for $store {
                async fn add_organisation(&self, o: &Organisation, by: ChangedBy) -> Result<(), PeopleError> {
                    add_named(self, "organisations", "an organisation", *o.id.as_uuid(), o.name.as_str(), by).await
                }

                async fn organisations(&self) -> Result<Vec<Organisation>, PeopleError> {
                    list_named(self, "organisations")
                        .await?
                        .into_iter()
                        .map(|(id, name)| Ok(Organisation { id: OrganisationId::from_uuid(id), name: title(&name)? }))
                        .collect()
                }

                async fn add_sector_group(&self, g: &SectorGroup, by: ChangedBy) -> Result<(), PeopleError> {
                    add_named(self, "sector_groups", "a sector group", *g.id.as_uuid(), g.name.as_str(), by).await
                }

                async fn sector_groups(&self) -> Result<Vec<SectorGroup>, PeopleError> {
                    list_named(self, "sector_groups")
                        .await?
                        .into_iter()
                        .map(|(id, name)| Ok(SectorGroup { id: SectorGroupId::from_uuid(id), name: title(&name)? }))
                        .collect()
                }

                async fn add_user(&self, new: NewUser, by: ChangedBy) -> Result<User, PeopleError> {
                    let hash = match &new.password {
                        Some(p) => Some(p.hash_blocking().await?),
                        None => None,
                    };
                    let mut tx = begin(self).await?;
                    insert_user(&mut tx, &new, hash.as_deref(), by).await?;
                    let user = existing(&mut tx, new.id).await?;
                    tx.commit().await?;
                    Ok(user)
                }

                async fn user(&self, id: PersonId) -> Result<Option<User>, PeopleError> {
                    let mut conn = self.pool().acquire().await?;
                    Ok(one_user(&mut conn, Which::Id(*id.as_uuid())).await?.map(|(u, _)| u))
                }

                async fn user_by_email(&self, email: &Email) -> Result<Option<User>, PeopleError> {
                    let email = normalise_email(email)?;
                    let mut conn = self.pool().acquire().await?;
                    Ok(one_user(&mut conn, Which::Email(email.to_string())).await?.map(|(u, _)| u))
                }

                async fn users(&self) -> Result<Vec<User>, PeopleError> {
                    let mut conn = self.pool().acquire().await?;
                    Ok(fetch_users(&mut conn, Which::All).await?.into_iter().map(|(u, _)| u).collect())
                }

                async fn set_password(&self, user: PersonId, password: &Password, by: ChangedBy) -> Result<u64, PeopleError> {
                    let hash = password.hash_blocking().await?;
                    let mut tx = begin(self).await?;
                    let ended = replace_password(&mut tx, *user.as_uuid(), &hash, Replaced::Set { by }).await?;
                    tx.commit().await?;
                    Ok(ended)
                }

                async fn change_own_password(
                    &self,
                    user: PersonId,
                    password: &Password,
                    keep_session: Option<&str>,
                ) -> Result<u64, PeopleError> {
                    let hash = password.hash_blocking().await?;
                    let mut tx = begin(self).await?;
                    let ended =
                        replace_password(&mut tx, *user.as_uuid(), &hash, Replaced::Changed { keep: keep_session }).await?;
                    tx.commit().await?;
                    Ok(ended)
                }

                async fn reset_password(
                    &self,
                    link_hash: [u8; 32],
                    password: &Password,
                    now: DateTime<Utc>,
                ) -> Result<Option<PersonId>, PeopleError> {
                    let hash = password.hash_blocking().await?;
                    let now = now.trunc_subsecs(6);
                    let mut tx = begin(self).await?;
                    let user: Option<Uuid> = sqlx::query_scalar(
                        "UPDATE sign_in_links SET used_at = $2 \
                         WHERE token_hash = $1 AND purpose = 'password_reset' AND used_at IS NULL \
                         AND expires_at > $2 \
                         AND user_id IN (SELECT id FROM users WHERE disabled_at IS NULL AND password_hash IS NOT NULL) \
                         RETURNING user_id",
                    )
                    .bind(link_hash.to_vec())
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(user) = user else { return Ok(None) };
                    replace_password(&mut tx, user, &hash, Replaced::Reset).await?;
                    tx.commit().await?;
                    Ok(Some(PersonId::from_uuid(user)))
                }

                async fn grant_role(&self, user: PersonId, role: Role, by: ChangedBy) -> Result<bool, PeopleError> {
                    let (key, scope) = role_parts(&role);
                    let mut tx = begin(self).await?;
                    existing(&mut tx, user).await?;
                    match role {
                        Role::SectorGroupMember { group } => {
                            if !exists(&mut tx, "SELECT 1 FROM sector_groups WHERE id = $1", *group.as_uuid()).await? {
                                return Err(PeopleError::UnknownSectorGroup { id: group });
                            }
                        }
                        Role::PanelMember { call } => {
                            if !exists(&mut tx, "SELECT 1 FROM calls WHERE id = $1", *call.as_uuid()).await? {
                                return Err(PeopleError::UnknownCall { id: call });
                            }
                        }
                        Role::ProcessLeader | Role::BoardMember => {}
                    }
                    let held = sqlx::query(
                        "SELECT 1 FROM user_roles WHERE user_id = $1 AND role = $2 AND scope IS NOT DISTINCT FROM $3",
                    )
                    .bind(*user.as_uuid())
                    .bind(key)
                    .bind(scope)
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
                    if held {
                        return Ok(false);
                    }
                    let inserted = sqlx::query(
                        "INSERT INTO user_roles (user_id, role, scope, granted_at, granted_by) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(*user.as_uuid())
                    .bind(key)
                    .bind(scope)
                    .bind(now())
                    .bind(by.person())
                    .execute(&mut *tx)
                    .await;
                    match inserted {
                        // A concurrent grant of the same role won (PostgreSQL).
                        Err(e) if is_unique_violation(&e) => return Ok(false),
                        other => other?,
                    };
                    log(&mut tx, by, "role_granted", Some(*user.as_uuid()), json!({ "role": key, "scope": scope }))
                        .await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn revoke_role(&self, user: PersonId, role: Role, by: ChangedBy) -> Result<(), PeopleError> {
                    let (key, scope) = role_parts(&role);
                    let mut tx = begin(self).await?;
                    let current = existing(&mut tx, user).await?;
                    let done = sqlx::query(
                        "DELETE FROM user_roles WHERE user_id = $1 AND role = $2 AND scope IS NOT DISTINCT FROM $3",
                    )
                    .bind(*user.as_uuid())
                    .bind(key)
                    .bind(scope)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if done == 0 {
                        let held: Vec<String> = current.roles.iter().map(role_name).collect();
                        return Err(PeopleError::RoleNotHeld {
                            email: current.email.to_string(),
                            role: role_name(&role),
                            held: if held.is_empty() { "none".into() } else { held.join(", ") },
                        });
                    }
                    log(&mut tx, by, "role_revoked", Some(*user.as_uuid()), json!({ "role": key, "scope": scope }))
                        .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn disable_user(&self, user: PersonId, by: ChangedBy) -> Result<bool, PeopleError> {
                    set_disabled(self, user, true, by).await
                }

                async fn enable_user(&self, user: PersonId, by: ChangedBy) -> Result<bool, PeopleError> {
                    set_disabled(self, user, false, by).await
                }

                async fn create_token(
                    &self,
                    user: PersonId,
                    name: &str,
                    by: ChangedBy,
                ) -> Result<(TokenId, String), PeopleError> {
                    let name = token_name(name)?;
                    let mut tx = begin(self).await?;
                    let owner = existing(&mut tx, user).await?;
                    if owner.disabled {
                        return Err(PeopleError::UserDisabled { email: owner.email.to_string() });
                    }
                    let duplicate = || PeopleError::Duplicate {
                        what: "a live API token",
                        key: format!("named {name:?} for {}; revoke it or choose another name", owner.email),
                    };
                    let taken = sqlx::query(
                        "SELECT 1 FROM api_tokens WHERE user_id = $1 AND name = $2 AND revoked_at IS NULL",
                    )
                    .bind(*user.as_uuid())
                    .bind(&name)
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
                    if taken {
                        return Err(duplicate());
                    }
                    let id = TokenId::from_uuid(Uuid::new_v4());
                    let secret = new_secret()?;
                    sqlx::query(
                        "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(*id.as_uuid())
                    .bind(*user.as_uuid())
                    .bind(&name)
                    .bind(token_hash(&secret).to_vec())
                    .bind(now())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| if is_unique_violation(&e) { duplicate() } else { e.into() })?;
                    log(&mut tx, by, "token_created", Some(*user.as_uuid()), json!({ "token": id, "name": name }))
                        .await?;
                    tx.commit().await?;
                    Ok((id, secret))
                }

                async fn tokens(&self, user: Option<PersonId>) -> Result<Vec<ApiToken>, PeopleError> {
                    const SELECT: &str = "SELECT t.id, t.user_id, u.email, t.name, t.created_at, t.last_used_at, \
                                          t.revoked_at FROM api_tokens t JOIN users u ON u.id = t.user_id";
                    let rows = match user {
                        Some(u) => sqlx::query(&format!("{SELECT} WHERE t.user_id = $1 ORDER BY t.created_at, t.id"))
                            .bind(*u.as_uuid())
                            .fetch_all(self.pool())
                            .await?,
                        None => sqlx::query(&format!("{SELECT} ORDER BY u.email, t.created_at, t.id"))
                            .fetch_all(self.pool())
                            .await?,
                    };
                    rows.into_iter()
                        .map(|r| {
                            let email: String = r.try_get("email")?;
                            Ok(ApiToken {
                                id: TokenId::from_uuid(r.try_get("id")?),
                                user: PersonId::from_uuid(r.try_get("user_id")?),
                                email: Email::parse(&email).map_err(corrupt)?,
                                name: r.try_get("name")?,
                                created_at: r.try_get("created_at")?,
                                last_used_at: r.try_get("last_used_at")?,
                                revoked_at: r.try_get("revoked_at")?,
                            })
                        })
                        .collect()
                }

                async fn revoke_token(&self, id: TokenId, by: ChangedBy) -> Result<bool, PeopleError> {
                    let mut tx = begin(self).await?;
                    let row = sqlx::query("SELECT user_id, name, revoked_at FROM api_tokens WHERE id = $1")
                        .bind(*id.as_uuid())
                        .fetch_optional(&mut *tx)
                        .await?
                        .ok_or(PeopleError::UnknownToken { id })?;
                    if row.try_get::<Option<DateTime<Utc>>, _>("revoked_at")?.is_some() {
                        return Ok(false);
                    }
                    let owner: Uuid = row.try_get("user_id")?;
                    let name: String = row.try_get("name")?;
                    sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1")
                        .bind(*id.as_uuid())
                        .bind(now())
                        .execute(&mut *tx)
                        .await?;
                    log(&mut tx, by, "token_revoked", Some(owner), json!({ "token": id, "name": name })).await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn authenticate_token(&self, secret: &str) -> Result<Option<User>, PeopleError> {
                    let secret = secret.trim();
                    if !secret.starts_with(TOKEN_PREFIX) {
                        return Ok(None);
                    }
                    // Looked up by its hash: nothing secret is compared.
                    let row = sqlx::query(
                        "SELECT t.id, t.user_id, t.last_used_at FROM api_tokens t JOIN users u ON u.id = t.user_id \
                         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.disabled_at IS NULL",
                    )
                    .bind(token_hash(secret).to_vec())
                    .fetch_optional(self.pool())
                    .await?;
                    let Some(row) = row else { return Ok(None) };
                    let (token, user): (Uuid, Uuid) = (row.try_get("id")?, row.try_get("user_id")?);
                    let last_used: Option<DateTime<Utc>> = row.try_get("last_used_at")?;
                    // At most one write a minute per token: a busy integration
                    // should not turn every read into a write, nor into a
                    // round trip to find out there is nothing to write.
                    let at = now();
                    let stale = at - chrono::Duration::minutes(1);
                    if last_used.is_none_or(|t| t < stale) {
                        sqlx::query(
                            "UPDATE api_tokens SET last_used_at = $2 \
                             WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
                        )
                        .bind(token)
                        .bind(at)
                        .bind(stale)
                        .execute(self.pool())
                        .await?;
                    }
                    let mut conn = self.pool().acquire().await?;
                    Ok(one_user(&mut conn, Which::Id(user)).await?.map(|(u, _)| u).filter(|u| !u.disabled))
                }

                async fn authenticate_password(&self, email: &str, password: &str) -> Result<Option<User>, PeopleError> {
                    let found = match Email::parse(email) {
                        Ok(email) => {
                            let email = normalise_email(&email)?;
                            let mut conn = self.pool().acquire().await?;
                            one_user(&mut conn, Which::Email(email.to_string())).await?
                        }
                        Err(_) => None,
                    };
                    match found {
                        Some((user, Some(hash))) if !user.disabled => {
                            Ok(verify_blocking(password, hash).await?.then_some(user))
                        }
                        _ => {
                            // As slow as a wrong password, so the time taken
                            // does not tell who has an account.
                            verify_blocking(password, decoy_hash().to_owned()).await?;
                            Ok(None)
                        }
                    }
                }

                async fn people_log(&self, user: Option<PersonId>) -> Result<Vec<PeopleLogEntry>, PeopleError> {
                    const SELECT: &str = "SELECT id, at, actor, actor_id, action, user_id, details FROM people_log";
                    let rows = match user {
                        Some(u) => sqlx::query(&format!("{SELECT} WHERE user_id = $1 ORDER BY id"))
                            .bind(*u.as_uuid())
                            .fetch_all(self.pool())
                            .await?,
                        None => sqlx::query(&format!("{SELECT} ORDER BY id")).fetch_all(self.pool()).await?,
                    };
                    rows.into_iter()
                        .map(|r| {
                            let details: String = r.try_get("details")?;
                            Ok(PeopleLogEntry {
                                id: r.try_get("id")?,
                                at: r.try_get("at")?,
                                actor: r.try_get("actor")?,
                                actor_id: r.try_get::<Option<Uuid>, _>("actor_id")?.map(PersonId::from_uuid),
                                action: r.try_get("action")?,
                                user: r.try_get::<Option<Uuid>, _>("user_id")?.map(PersonId::from_uuid),
                                details: serde_json::from_str(&details).map_err(corrupt)?,
                            })
                        })
                        .collect()
                }
            }
        }
    };
}

impl_people!(sqlite, SqliteStore, sqlx::Sqlite, begin = crate::store::SQLITE_BEGIN);
impl_people!(postgres, PgStore, sqlx::Postgres, begin = "BEGIN");

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Db::Sqlite($s) => $e,
            Db::Postgres($s) => $e,
        }
    };
}

impl PeopleStore for Db {
    async fn add_organisation(&self, organisation: &Organisation, by: ChangedBy) -> Result<(), PeopleError> {
        each!(self, s => s.add_organisation(organisation, by).await)
    }

    async fn organisations(&self) -> Result<Vec<Organisation>, PeopleError> {
        each!(self, s => s.organisations().await)
    }

    async fn add_sector_group(&self, group: &SectorGroup, by: ChangedBy) -> Result<(), PeopleError> {
        each!(self, s => s.add_sector_group(group, by).await)
    }

    async fn sector_groups(&self) -> Result<Vec<SectorGroup>, PeopleError> {
        each!(self, s => s.sector_groups().await)
    }

    async fn add_user(&self, user: NewUser, by: ChangedBy) -> Result<User, PeopleError> {
        each!(self, s => s.add_user(user, by).await)
    }

    async fn user(&self, id: PersonId) -> Result<Option<User>, PeopleError> {
        each!(self, s => s.user(id).await)
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, PeopleError> {
        each!(self, s => s.user_by_email(email).await)
    }

    async fn users(&self) -> Result<Vec<User>, PeopleError> {
        each!(self, s => s.users().await)
    }

    async fn set_password(&self, user: PersonId, password: &Password, by: ChangedBy) -> Result<u64, PeopleError> {
        each!(self, s => s.set_password(user, password, by).await)
    }

    async fn change_own_password(
        &self,
        user: PersonId,
        password: &Password,
        keep_session: Option<&str>,
    ) -> Result<u64, PeopleError> {
        each!(self, s => s.change_own_password(user, password, keep_session).await)
    }

    async fn reset_password(
        &self,
        link_hash: [u8; 32],
        password: &Password,
        now: DateTime<Utc>,
    ) -> Result<Option<PersonId>, PeopleError> {
        each!(self, s => s.reset_password(link_hash, password, now).await)
    }

    async fn grant_role(&self, user: PersonId, role: Role, by: ChangedBy) -> Result<bool, PeopleError> {
        each!(self, s => s.grant_role(user, role, by).await)
    }

    async fn revoke_role(&self, user: PersonId, role: Role, by: ChangedBy) -> Result<(), PeopleError> {
        each!(self, s => s.revoke_role(user, role, by).await)
    }

    async fn disable_user(&self, user: PersonId, by: ChangedBy) -> Result<bool, PeopleError> {
        each!(self, s => s.disable_user(user, by).await)
    }

    async fn enable_user(&self, user: PersonId, by: ChangedBy) -> Result<bool, PeopleError> {
        each!(self, s => s.enable_user(user, by).await)
    }

    async fn create_token(&self, user: PersonId, name: &str, by: ChangedBy) -> Result<(TokenId, String), PeopleError> {
        each!(self, s => s.create_token(user, name, by).await)
    }

    async fn tokens(&self, user: Option<PersonId>) -> Result<Vec<ApiToken>, PeopleError> {
        each!(self, s => s.tokens(user).await)
    }

    async fn revoke_token(&self, id: TokenId, by: ChangedBy) -> Result<bool, PeopleError> {
        each!(self, s => s.revoke_token(id, by).await)
    }

    async fn authenticate_token(&self, secret: &str) -> Result<Option<User>, PeopleError> {
        each!(self, s => s.authenticate_token(secret).await)
    }

    async fn authenticate_password(&self, email: &str, password: &str) -> Result<Option<User>, PeopleError> {
        each!(self, s => s.authenticate_password(email, password).await)
    }

    async fn people_log(&self, user: Option<PersonId>) -> Result<Vec<PeopleLogEntry>, PeopleError> {
        each!(self, s => s.people_log(user).await)
    }
}

// ---------------------------------------------------------------------------
// Conveniences for the edges (the `mops` command, later the web app)

/// The user with this address, or [`PeopleError::UnknownUser`].
pub async fn find_user(db: &impl PeopleStore, email: &str) -> Result<User, PeopleError> {
    let email = Email::parse(email)?;
    db.user_by_email(&email).await?.ok_or_else(|| PeopleError::UnknownUser { who: email.to_string() })
}

/// A person a submission names who is not a user yet: added in the
/// submission's own transaction ([`crate::Store::execute_idea_registering`]),
/// so they are registered if and only if the idea is.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Without a password: an applicant signs in by link.
    pub user: NewUser,
    /// Whoever registers them: the API caller; on the public form, the lead
    /// for the co-applicants they name, and a new lead themself.
    pub by: ChangedBy,
}

/// The applicants a submission names, looked up by address; registers
/// nobody. A known address is that user (with their own name, organisation
/// and language); an unknown one becomes a new user with a fresh id and the
/// given name, who signs in by link, returned as a [`Registration`] for the
/// store to add together with the idea. An address named twice is one
/// person (registered once). The applicants are in the order of `wanted`.
/// `registered_by` is whoever adds the new users; `None` when people
/// register themselves (the public form).
///
/// If the store answers [`crate::StoreError::EmailTaken`] (a concurrent
/// submission registered one of the addresses first), resolve again and
/// retry: the address is known now.
pub async fn resolve_applicants(
    db: &impl PeopleStore,
    wanted: &[(Email, PersonName)],
    organisation: OrganisationId,
    language: Language,
    registered_by: Option<PersonId>,
) -> Result<(Vec<mops_core::idea::Applicant>, Vec<Registration>), PeopleError> {
    let mut applicants: Vec<mops_core::idea::Applicant> = Vec::with_capacity(wanted.len());
    let mut registrations: Vec<Registration> = Vec::new();
    for (email, name) in wanted {
        let email = normalise_email(email)?;
        if let Some(earlier) = applicants.iter().find(|a| a.email == email) {
            applicants.push(earlier.clone());
            continue;
        }
        if let Some(user) = db.user_by_email(&email).await? {
            applicants.push(as_applicant(&user, organisation));
            continue;
        }
        let user = NewUser {
            id: PersonId::from_uuid(Uuid::new_v4()),
            email,
            name: name.clone(),
            organisation: Some(organisation),
            language,
            password: None,
        };
        applicants.push(mops_core::idea::Applicant {
            person: user.id,
            name: user.name.clone(),
            email: user.email.clone(),
            organisation,
            language,
        });
        let by = ChangedBy::User(registered_by.unwrap_or(user.id));
        registrations.push(Registration { user, by });
    }
    Ok((applicants, registrations))
}

fn as_applicant(user: &User, organisation: OrganisationId) -> mops_core::idea::Applicant {
    mops_core::idea::Applicant {
        person: user.id,
        name: user.name.clone(),
        email: user.email.clone(),
        organisation: user.organisation.unwrap_or(organisation),
        language: user.language,
    }
}

/// The person with this address, proving with `password` that they are a
/// process leader: they must exist, be enabled, have a password, give it
/// (checked as the web sign-in checks it, argon2id) and hold the
/// process-leader role. The `mops` command's `--as EMAIL`.
///
/// Each refusal says which of these failed: whoever runs `mops` can list the
/// users anyway, so naming the reason tells them nothing new.
pub async fn authenticate_process_leader(
    db: &impl PeopleStore,
    email: &str,
    password: &str,
) -> Result<User, PeopleError> {
    let user = find_user(db, email).await?;
    let email = user.email.to_string();
    if user.disabled {
        return Err(PeopleError::UserDisabled { email });
    }
    if !user.has_password {
        return Err(PeopleError::NoPassword { email });
    }
    let Some(user) = db.authenticate_password(&email, password).await? else {
        return Err(PeopleError::WrongPassword { email });
    };
    if !user.roles.contains(&Role::ProcessLeader) {
        let held: Vec<String> = user.roles.iter().map(role_name).collect();
        return Err(PeopleError::RoleNotHeld {
            email,
            role: role_name(&Role::ProcessLeader),
            held: if held.is_empty() { "none".to_owned() } else { held.join(", ") },
        });
    }
    Ok(user)
}

/// An organisation by id or by exact name.
pub async fn find_organisation(db: &impl PeopleStore, id_or_name: &str) -> Result<Organisation, PeopleError> {
    let wanted = id_or_name.trim();
    let id = Uuid::parse_str(wanted).ok();
    db.organisations()
        .await?
        .into_iter()
        .find(|o| Some(*o.id.as_uuid()) == id || o.name.as_str() == wanted)
        .ok_or_else(|| PeopleError::UnknownOrganisation { who: id_or_name.to_owned() })
}

// ---------------------------------------------------------------------------
// The 2010 round's people

/// Puts the round's organisations, sector group and people (with the ids the
/// round's events carry) and their roles into storage. The staff (everyone
/// with a role) get `demo_password` unless they already have a password;
/// the applicants get none. Idempotent: what is already there is left as it
/// is, so a second call changes nothing.
///
/// The round's call must be stored first (replay the round): a panel
/// member's role names it.
///
/// Returns one demo sign-in per role: process leader, sector group member,
/// panel member, board member, and an applicant.
pub async fn seed_reference<S: PeopleStore + Store>(
    db: &S,
    round: &Round2010,
    demo_password: &str,
) -> Result<Vec<DemoSignIn>, PeopleError> {
    let password = Password::new(demo_password)?;
    let by = ChangedBy::Seed;
    if db.call(round.call_id).await.map_err(|e| PeopleError::Internal(e.to_string()))?.is_none() {
        return Err(PeopleError::UnknownCall { id: round.call_id });
    }
    let organisations = db.organisations().await?;
    for o in &round.organisations {
        if !organisations.iter().any(|x| x.id == o.id) {
            db.add_organisation(o, by).await?;
        }
    }
    if !db.sector_groups().await?.iter().any(|g| g.id == round.sector_group.id) {
        db.add_sector_group(&round.sector_group, by).await?;
    }
    for person in &round.people {
        let roles = round.roles.get(&person.id).map(Vec::as_slice).unwrap_or_default();
        let user = match db.user(person.id).await? {
            Some(user) => user,
            None => {
                let new = NewUser {
                    id: person.id,
                    email: person.email.clone(),
                    name: person.name.clone(),
                    organisation: Some(person.organisation),
                    language: person.language,
                    password: None,
                };
                db.add_user(new, by).await?
            }
        };
        for role in roles {
            if !user.roles.contains(role) {
                db.grant_role(person.id, *role, by).await?;
            }
        }
        if !roles.is_empty() && !user.has_password {
            db.set_password(person.id, &password, by).await?;
        }
    }

    let only = |kind: Option<RoleKind>| {
        round.people.iter().find(|p| {
            let roles = round.roles.get(&p.id).map(Vec::as_slice).unwrap_or_default();
            match kind {
                None => roles.is_empty(),
                Some(kind) => roles.len() == 1 && RoleKind::of(&roles[0]) == kind,
            }
        })
    };
    let kinds = RoleKind::ALL.into_iter().map(Some).chain([None]);
    Ok(kinds
        .filter_map(|kind| {
            only(kind).map(|p| DemoSignIn { role: kind, email: p.email.clone(), password: kind.is_some() })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_needs_twelve_characters() {
        assert!(matches!(Password::new("elva tecken"), Err(PeopleError::WeakPassword { chars: 11 })));
        assert!(Password::new("tolv tecken!").is_ok());
        // Characters, not bytes: "åäö" is three.
        assert!(matches!(Password::new("åäöåäöåäöåä"), Err(PeopleError::WeakPassword { chars: 11 })));
        let message = Password::new("kort").unwrap_err().to_string();
        assert!(message.contains("minst 12") && message.contains("at least 12"), "{message}");
        assert!(Password::new(&"x".repeat(1025)).is_err());
    }

    #[test]
    fn a_password_hash_is_argon2id_and_verifies() {
        let password = Password::new("korrekt häst batteri").unwrap();
        let hash = password.hash().unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(password.verify(&hash));
        assert!(!verify_password("korrekt häst batteri!", &hash));
        assert!(!verify_password("korrekt häst batteri", "not a hash"));
        assert_ne!(hash, password.hash().unwrap(), "a fresh salt each time");
        assert_eq!(format!("{password:?}"), "Password(…)");
    }

    #[test]
    fn roles_need_the_right_scope() {
        let id = Uuid::from_u128(7);
        assert_eq!(RoleKind::ProcessLeader.with_scope(None).unwrap(), Role::ProcessLeader);
        assert_eq!(RoleKind::Panel.with_scope(Some(id)).unwrap(), Role::PanelMember { call: CallId::from_uuid(id) });
        assert!(matches!(RoleKind::SectorGroup.with_scope(None), Err(PeopleError::ScopeRequired { .. })));
        assert!(matches!(RoleKind::Board.with_scope(Some(id)), Err(PeopleError::ScopeNotAllowed { .. })));
        for kind in RoleKind::ALL {
            assert_eq!(RoleKind::parse(kind.name()).unwrap(), kind);
            assert_eq!(RoleKind::parse(kind.key()).unwrap(), kind);
        }
        assert!(matches!(RoleKind::parse("admin"), Err(PeopleError::UnknownRole { .. })));
    }

    #[test]
    fn a_token_secret_is_prefixed_random_hex() {
        let (a, b) = (new_secret().unwrap(), new_secret().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with("mops_") && a.len() == 5 + 64, "{a}");
        assert!(a[5..].bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(token_hash(&a).len(), 32);
    }
}
