//! People, roles and API tokens, on SQLite and on PostgreSQL; and the
//! `mops user` and `mops token` commands.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Output};

use common::TestDb;
use mops_core::domain::{CallId, Email, Language, OrganisationId, PersonId, PersonName, SectorGroupId, Title};
use mops_core::people::{Organisation, SectorGroup};
use mops_core::reference::{Round2010, round_2010};
use mops_core::timers::TimerConfig;
use mops_core::{ActorRef, Role};
use mops_service::Db;
use mops_service::people::{
    ChangedBy, DEMO_PASSWORD, NewUser, Password, PeopleError, PeopleStore, RoleKind, seed_reference, token_hash,
};
use mops_service::replay::replay_round;
use sqlx::Row;
use uuid::Uuid;

on_both_backends!(
    users_are_added_listed_and_found,
    an_email_address_is_taken_whatever_its_case,
    passwords_are_argon2id_and_verified,
    roles_are_granted_and_revoked,
    a_role_needs_its_scope_and_the_scope_must_exist,
    a_token_authenticates_until_it_is_revoked,
    a_disabled_user_cannot_sign_in,
    every_change_is_logged_and_the_log_is_append_only,
    seeding_the_2010_people_is_idempotent,
    an_own_new_password_ends_the_other_sessions,
    a_reset_link_sets_a_password_once,
    a_password_set_by_the_command_ends_the_sessions,
    disabling_a_user_ends_their_sessions,
);

const PASSWORD: &str = "en lång lösenfras";

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

fn new_user(address: &str, name: &str, password: Option<&str>) -> NewUser {
    NewUser {
        id: PersonId::from_uuid(Uuid::new_v4()),
        email: email(address),
        name: PersonName::parse(name).unwrap(),
        organisation: None,
        language: Language::Sv,
        password: password.map(|p| Password::new(p).unwrap()),
    }
}

async fn add(db: &TestDb, address: &str, password: Option<&str>) -> mops_service::people::User {
    db.db.add_user(new_user(address, "Anna Andersson", password), ChangedBy::CommandLine).await.unwrap()
}

/// Runs a statement directly against the database.
async fn raw(db: &TestDb, sql: &str) -> Result<u64, sqlx::Error> {
    match &db.db {
        Db::Sqlite(s) => sqlx::query(sql).execute(s.pool()).await.map(|r| r.rows_affected()),
        Db::Postgres(s) => sqlx::query(sql).execute(s.pool()).await.map(|r| r.rows_affected()),
    }
}

/// A UUID as an SQL literal of the backend.
fn uuid_literal(db: &TestDb, id: Uuid) -> String {
    match &db.db {
        Db::Sqlite(_) => format!("X'{}'", id.simple()),
        Db::Postgres(_) => format!("'{id}'"),
    }
}

/// An instant as an SQL literal both backends read.
const NOW: &str = "'2026-01-01T00:00:00Z'";

/// The stored token hashes.
async fn stored_token_hashes(db: &TestDb) -> Vec<Vec<u8>> {
    let sql = "SELECT token_hash FROM api_tokens ORDER BY created_at";
    match &db.db {
        Db::Sqlite(s) => sqlx::query(sql).fetch_all(s.pool()).await.unwrap().iter().map(|r| r.get(0)).collect(),
        Db::Postgres(s) => sqlx::query(sql).fetch_all(s.pool()).await.unwrap().iter().map(|r| r.get(0)).collect(),
    }
}

/// Every text column of every people table, to look for secrets.
async fn stored_text(db: &TestDb) -> String {
    let sql = "SELECT email || ' ' || COALESCE(password_hash, '') FROM users \
               UNION ALL SELECT name FROM api_tokens UNION ALL SELECT details FROM people_log";
    let rows: Vec<String> = match &db.db {
        Db::Sqlite(s) => sqlx::query(sql).fetch_all(s.pool()).await.unwrap().iter().map(|r| r.get(0)).collect(),
        Db::Postgres(s) => sqlx::query(sql).fetch_all(s.pool()).await.unwrap().iter().map(|r| r.get(0)).collect(),
    };
    rows.join("\n")
}

async fn password_hash_of(db: &TestDb, id: PersonId) -> Option<String> {
    let sql = "SELECT password_hash FROM users WHERE id = $1";
    match &db.db {
        Db::Sqlite(s) => sqlx::query(sql).bind(*id.as_uuid()).fetch_one(s.pool()).await.unwrap().get(0),
        Db::Postgres(s) => sqlx::query(sql).bind(*id.as_uuid()).fetch_one(s.pool()).await.unwrap().get(0),
    }
}

async fn log_len(db: &TestDb) -> usize {
    db.db.people_log(None).await.unwrap().len()
}

/// The 2010 round's call, stored (the first step of the round), so a panel
/// role can name it.
async fn with_the_2010_call(db: &TestDb) -> Round2010 {
    let round = round_2010();
    let mut first = round.clone();
    first.steps.truncate(1);
    replay_round(&db.db, &first, &TimerConfig::default(), |_, _, _| {})
        .await
        .unwrap_or_else(|(n, e)| panic!("{n}: {e}"));
    round
}

async fn a_sector_group(db: &TestDb) -> SectorGroupId {
    let group = SectorGroup {
        id: SectorGroupId::from_uuid(Uuid::new_v4()),
        name: Title::parse("Äldreomsorg och socialt arbete").unwrap(),
    };
    db.db.add_sector_group(&group, ChangedBy::CommandLine).await.unwrap();
    group.id
}

async fn users_are_added_listed_and_found(db: &TestDb) {
    let mdh = Organisation {
        id: OrganisationId::from_uuid(Uuid::new_v4()),
        name: Title::parse("Mälardalens högskola").unwrap(),
    };
    db.db.add_organisation(&mdh, ChangedBy::CommandLine).await.unwrap();
    assert_eq!(db.db.organisations().await.unwrap(), vec![mdh.clone()]);

    let mut staff = new_user("Anna.Andersson@MDH.se", "Anna Andersson", Some(PASSWORD));
    staff.organisation = Some(mdh.id);
    let anna = db.db.add_user(staff.clone(), ChangedBy::CommandLine).await.unwrap();
    assert_eq!(anna.id, staff.id);
    assert_eq!(anna.email.as_str(), "anna.andersson@mdh.se", "stored lower-cased");
    assert_eq!(anna.name.as_str(), "Anna Andersson");
    assert_eq!(anna.organisation, Some(mdh.id));
    assert_eq!(anna.language, Language::Sv);
    assert!(anna.roles.is_empty() && anna.has_password && !anna.disabled);

    let mut applicant = new_user("per@eskilstuna.se", "Per Persson", None);
    applicant.language = Language::En;
    let per = db.db.add_user(applicant, ChangedBy::CommandLine).await.unwrap();
    assert!(!per.has_password);
    assert_eq!(per.language, Language::En);

    assert_eq!(db.db.user(anna.id).await.unwrap().as_ref(), Some(&anna));
    assert_eq!(db.db.user_by_email(&email("ANNA.andersson@mdh.SE")).await.unwrap().as_ref(), Some(&anna));
    assert_eq!(db.db.user_by_email(&email("nobody@mdh.se")).await.unwrap(), None);
    assert_eq!(db.db.user(PersonId::from_uuid(Uuid::new_v4())).await.unwrap(), None);
    assert_eq!(db.db.users().await.unwrap(), vec![anna.clone(), per], "every user, by email address");

    let actor = anna.actor();
    assert_eq!(actor.id, ActorRef::Person(anna.id));
    assert!(actor.roles.is_empty());

    // An organisation that does not exist is refused, as is a taken name.
    let mut stray = new_user("eva@mdh.se", "Eva", None);
    stray.organisation = Some(OrganisationId::from_uuid(Uuid::new_v4()));
    let err = db.db.add_user(stray, ChangedBy::CommandLine).await.unwrap_err();
    assert!(matches!(err, PeopleError::UnknownOrganisation { .. }), "{err}");
    let twin = Organisation { id: OrganisationId::from_uuid(Uuid::new_v4()), name: mdh.name.clone() };
    let err = db.db.add_organisation(&twin, ChangedBy::CommandLine).await.unwrap_err();
    assert!(matches!(err, PeopleError::Duplicate { .. }) && err.is_user_error(), "{err}");
}

async fn an_email_address_is_taken_whatever_its_case(db: &TestDb) {
    add(db, "Anna@Mdh.se", None).await;
    let before = log_len(db).await;
    for taken in ["anna@mdh.se", "ANNA@MDH.SE", " anna@mdh.se "] {
        let err = db.db.add_user(new_user(taken, "Anna Två", None), ChangedBy::CommandLine).await.unwrap_err();
        assert!(matches!(&err, PeopleError::DuplicateEmail { email } if email == "anna@mdh.se"), "{taken}: {err}");
        assert_eq!(err.exit_code(), 2);
    }
    assert_eq!(db.db.users().await.unwrap().len(), 1);
    assert_eq!(log_len(db).await, before, "a refused change writes nothing");
    // The database refuses a mixed-case address whatever the code does.
    let insert = |address: &str| {
        format!(
            "INSERT INTO users (id, email, name, language, created_at) VALUES ({}, '{address}', 'Eva', 'sv', {NOW})",
            uuid_literal(db, Uuid::new_v4())
        )
    };
    assert!(raw(db, &insert("Eva@mdh.se")).await.is_err(), "the CHECK keeps addresses lower-cased");
    assert_eq!(raw(db, &insert("eva@mdh.se")).await.unwrap(), 1);
}

async fn passwords_are_argon2id_and_verified(db: &TestDb) {
    let anna = add(db, "anna@mdh.se", Some(PASSWORD)).await;
    let hash = password_hash_of(db, anna.id).await.expect("a hash is stored");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(PASSWORD));

    let signed_in = db.db.authenticate_password("Anna@MDH.se", PASSWORD).await.unwrap();
    assert_eq!(signed_in.map(|u| u.id), Some(anna.id));
    assert_eq!(db.db.authenticate_password("anna@mdh.se", "en lång lösenfraz").await.unwrap(), None);
    assert_eq!(db.db.authenticate_password("anna@mdh.se", "").await.unwrap(), None);
    assert_eq!(db.db.authenticate_password("nobody@mdh.se", PASSWORD).await.unwrap(), None);
    assert_eq!(db.db.authenticate_password("not an address", PASSWORD).await.unwrap(), None);

    // At least 12 characters, with the message in Swedish and English.
    let err = Password::new("elva tecken").unwrap_err();
    assert!(matches!(err, PeopleError::WeakPassword { chars: 11 }), "{err}");
    assert!(err.to_string().contains("minst 12") && err.to_string().contains("at least 12"), "{err}");
    assert!(Password::new("tolv tecken!").is_ok());

    // A new password replaces the old one; an applicant has none to sign in with.
    db.db
        .set_password(anna.id, &Password::new("ett helt annat lösenord").unwrap(), ChangedBy::CommandLine)
        .await
        .unwrap();
    assert_eq!(db.db.authenticate_password("anna@mdh.se", PASSWORD).await.unwrap(), None);
    assert!(db.db.authenticate_password("anna@mdh.se", "ett helt annat lösenord").await.unwrap().is_some());
    assert_ne!(password_hash_of(db, anna.id).await.unwrap(), hash);
    let per = add(db, "per@mdh.se", None).await;
    assert_eq!(password_hash_of(db, per.id).await, None);
    assert_eq!(db.db.authenticate_password("per@mdh.se", "").await.unwrap(), None);
    let err = db
        .db
        .set_password(PersonId::from_uuid(Uuid::new_v4()), &Password::new(PASSWORD).unwrap(), ChangedBy::CommandLine)
        .await
        .unwrap_err();
    assert!(matches!(err, PeopleError::UnknownUser { .. }), "{err}");
}

async fn roles_are_granted_and_revoked(db: &TestDb) {
    let round = with_the_2010_call(db).await;
    let group = a_sector_group(db).await;
    let anna = add(db, "anna@mdh.se", Some(PASSWORD)).await;
    let by = ChangedBy::CommandLine;
    let roles = [
        Role::ProcessLeader,
        Role::BoardMember,
        Role::SectorGroupMember { group },
        Role::PanelMember { call: round.call_id },
    ];
    for role in roles {
        assert!(db.db.grant_role(anna.id, role, by).await.unwrap(), "{role:?} is new");
    }
    // Granting a role already held changes nothing.
    let logged = log_len(db).await;
    assert!(!db.db.grant_role(anna.id, Role::BoardMember, by).await.unwrap());
    assert!(!db.db.grant_role(anna.id, Role::PanelMember { call: round.call_id }, by).await.unwrap());
    assert_eq!(log_len(db).await, logged);

    let user = db.db.user(anna.id).await.unwrap().unwrap();
    let expected: BTreeSet<Role> = roles.into_iter().collect();
    assert_eq!(user.roles.iter().copied().collect::<BTreeSet<_>>(), expected);
    assert_eq!(user.roles.len(), 4, "each role once");
    let actor = user.actor();
    assert!(actor.is_process_leader() && actor.is_board_member());
    assert!(actor.is_sector_member(group) && actor.is_panel_member(round.call_id));
    assert!(!actor.is_sector_member(SectorGroupId::from_uuid(Uuid::new_v4())));

    db.db.revoke_role(anna.id, Role::BoardMember, by).await.unwrap();
    db.db.revoke_role(anna.id, Role::SectorGroupMember { group }, by).await.unwrap();
    let actor = db.db.user(anna.id).await.unwrap().unwrap().actor();
    let left: BTreeSet<Role> = [Role::ProcessLeader, Role::PanelMember { call: round.call_id }].into();
    assert_eq!(actor.roles.iter().copied().collect::<BTreeSet<_>>(), left);

    let err = db.db.revoke_role(anna.id, Role::BoardMember, by).await.unwrap_err();
    assert!(matches!(err, PeopleError::RoleNotHeld { .. }) && err.to_string().contains("process-leader"), "{err}");
    let nobody = PersonId::from_uuid(Uuid::new_v4());
    let err = db.db.grant_role(nobody, Role::BoardMember, by).await.unwrap_err();
    assert!(matches!(err, PeopleError::UnknownUser { .. }), "{err}");
}

async fn a_role_needs_its_scope_and_the_scope_must_exist(db: &TestDb) {
    let anna = add(db, "anna@mdh.se", None).await;
    let by = ChangedBy::CommandLine;
    let some = Some(Uuid::new_v4());
    assert!(matches!(RoleKind::SectorGroup.with_scope(None), Err(PeopleError::ScopeRequired { .. })));
    assert!(matches!(RoleKind::Panel.with_scope(None), Err(PeopleError::ScopeRequired { .. })));
    assert!(matches!(RoleKind::ProcessLeader.with_scope(some), Err(PeopleError::ScopeNotAllowed { .. })));
    assert!(matches!(RoleKind::Board.with_scope(some), Err(PeopleError::ScopeNotAllowed { .. })));
    assert!(matches!(RoleKind::parse("admin"), Err(PeopleError::UnknownRole { .. })));

    let unknown_group = SectorGroupId::from_uuid(Uuid::new_v4());
    let err = db.db.grant_role(anna.id, Role::SectorGroupMember { group: unknown_group }, by).await.unwrap_err();
    assert!(matches!(err, PeopleError::UnknownSectorGroup { .. }), "{err}");
    let unknown_call = CallId::from_uuid(Uuid::new_v4());
    let err = db.db.grant_role(anna.id, Role::PanelMember { call: unknown_call }, by).await.unwrap_err();
    assert!(matches!(err, PeopleError::UnknownCall { .. }), "{err}");
    // A sector group is not a call.
    let group = a_sector_group(db).await;
    let err = db.db.grant_role(anna.id, Role::PanelMember { call: CallId::from_uuid(*group.as_uuid()) }, by).await;
    assert!(matches!(err, Err(PeopleError::UnknownCall { .. })));
    assert!(db.db.grant_role(anna.id, Role::SectorGroupMember { group }, by).await.unwrap());

    // The database itself refuses a role with the wrong scope, and a
    // scopeless role twice (NULLs are otherwise distinct in a unique index).
    let id = uuid_literal(db, *anna.id.as_uuid());
    let now = NOW;
    let scope = uuid_literal(db, Uuid::new_v4());
    let with_scope = format!(
        "INSERT INTO user_roles (user_id, role, scope, granted_at) VALUES ({id}, 'board_member', {scope}, {now})"
    );
    assert!(raw(db, &with_scope).await.is_err(), "board_member with a scope");
    let without =
        format!("INSERT INTO user_roles (user_id, role, scope, granted_at) VALUES ({id}, 'panel_member', NULL, {now})");
    assert!(raw(db, &without).await.is_err(), "panel_member without a scope");
    let board = format!("INSERT INTO user_roles (user_id, role, granted_at) VALUES ({id}, 'board_member', {now})");
    assert_eq!(raw(db, &board).await.unwrap(), 1);
    let err = raw(db, &board).await.expect_err("a scopeless role is held once");
    assert!(err.as_database_error().is_some_and(|e| e.is_unique_violation()), "{err}");
}

async fn a_token_authenticates_until_it_is_revoked(db: &TestDb) {
    let anna = add(db, "anna@mdh.se", Some(PASSWORD)).await;
    db.db.grant_role(anna.id, Role::ProcessLeader, ChangedBy::CommandLine).await.unwrap();
    let by = ChangedBy::User(anna.id);
    let (id, secret) = db.db.create_token(anna.id, "diariet", by).await.unwrap();
    assert!(secret.starts_with("mops_") && secret.len() == 69, "{secret}");

    // Only the SHA-256 of the secret is stored, nowhere the secret.
    assert_eq!(stored_token_hashes(db).await, vec![token_hash(&secret).to_vec()]);
    assert!(!stored_text(db).await.contains(&secret[5..]), "the secret is stored somewhere");

    let tokens = db.db.tokens(Some(anna.id)).await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!((tokens[0].id, tokens[0].name.as_str(), tokens[0].last_used_at), (id, "diariet", None));

    let user = db.db.authenticate_token(&secret).await.unwrap().expect("the secret authenticates");
    assert_eq!(user.id, anna.id);
    assert!(user.actor().is_process_leader());
    let first_use = db.db.tokens(None).await.unwrap()[0].last_used_at;
    assert!(first_use.is_some(), "last use is recorded");
    // Used again within the minute: no second write.
    db.db.authenticate_token(&secret).await.unwrap().expect("the secret still authenticates");
    assert_eq!(db.db.tokens(None).await.unwrap()[0].last_used_at, first_use);
    for wrong in ["", "mops_", "mops_00", &secret[..secret.len() - 1], &secret.replace("mops_", "")] {
        assert_eq!(db.db.authenticate_token(wrong).await.unwrap(), None, "{wrong:?}");
    }

    // One live token per name; a second one needs another name.
    let err = db.db.create_token(anna.id, "diariet", by).await.unwrap_err();
    assert!(matches!(err, PeopleError::Duplicate { .. }), "{err}");
    let (_, other_secret) = db.db.create_token(anna.id, "rapporter", by).await.unwrap();
    assert_ne!(other_secret, secret);

    assert!(db.db.revoke_token(id, by).await.unwrap());
    assert!(!db.db.revoke_token(id, by).await.unwrap(), "revoking twice changes nothing");
    assert_eq!(db.db.authenticate_token(&secret).await.unwrap(), None, "a revoked token does not authenticate");
    assert!(db.db.authenticate_token(&other_secret).await.unwrap().is_some(), "the other token still works");
    assert!(db.db.tokens(None).await.unwrap().iter().any(|t| t.id == id && t.revoked_at.is_some()));
    // The name is free again once its token is revoked.
    db.db.create_token(anna.id, "diariet", by).await.unwrap();
    let err = db.db.revoke_token(mops_service::people::TokenId::from_uuid(Uuid::new_v4()), by).await.unwrap_err();
    assert!(matches!(err, PeopleError::UnknownToken { .. }), "{err}");
}

async fn a_disabled_user_cannot_sign_in(db: &TestDb) {
    let anna = add(db, "anna@mdh.se", Some(PASSWORD)).await;
    db.db.grant_role(anna.id, Role::BoardMember, ChangedBy::CommandLine).await.unwrap();
    let (_, secret) = db.db.create_token(anna.id, "skript", ChangedBy::CommandLine).await.unwrap();
    assert!(db.db.authenticate_token(&secret).await.unwrap().is_some());

    assert!(db.db.disable_user(anna.id, ChangedBy::CommandLine).await.unwrap());
    assert!(!db.db.disable_user(anna.id, ChangedBy::CommandLine).await.unwrap(), "already disabled");
    assert_eq!(db.db.authenticate_password("anna@mdh.se", PASSWORD).await.unwrap(), None);
    assert_eq!(db.db.authenticate_token(&secret).await.unwrap(), None);
    let err = db.db.create_token(anna.id, "ett till", ChangedBy::CommandLine).await.unwrap_err();
    assert!(matches!(err, PeopleError::UserDisabled { .. }), "{err}");
    let user = db.db.user(anna.id).await.unwrap().unwrap();
    assert!(user.disabled);
    assert_eq!(user.roles, vec![Role::BoardMember], "the roles are kept");
    assert!(user.actor().roles.is_empty(), "but a disabled user acts with none");

    // Enabled again: the password, the roles and the token work again.
    assert!(db.db.enable_user(anna.id, ChangedBy::CommandLine).await.unwrap());
    assert!(!db.db.enable_user(anna.id, ChangedBy::CommandLine).await.unwrap(), "already enabled");
    assert!(db.db.authenticate_password("anna@mdh.se", PASSWORD).await.unwrap().is_some());
    assert!(db.db.authenticate_token(&secret).await.unwrap().is_some());
    assert_eq!(db.db.user(anna.id).await.unwrap().unwrap().actor().roles, vec![Role::BoardMember]);
    let log = db.db.people_log(None).await.unwrap();
    assert_eq!(log.iter().filter(|e| e.action == "user_enabled").count(), 1, "enabling is logged once");
}

async fn every_change_is_logged_and_the_log_is_append_only(db: &TestDb) {
    let group = a_sector_group(db).await;
    let anna = add(db, "anna@mdh.se", None).await;
    let eva = add(db, "eva@mdh.se", None).await;
    let by = ChangedBy::User(eva.id);
    db.db.set_password(anna.id, &Password::new(PASSWORD).unwrap(), by).await.unwrap();
    db.db.grant_role(anna.id, Role::SectorGroupMember { group }, by).await.unwrap();
    db.db.revoke_role(anna.id, Role::SectorGroupMember { group }, by).await.unwrap();
    let (token, _) = db.db.create_token(anna.id, "skript", by).await.unwrap();
    db.db.revoke_token(token, by).await.unwrap();
    db.db.disable_user(anna.id, by).await.unwrap();

    let log = db.db.people_log(None).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "sector_group_added",
            "user_added",
            "user_added",
            "password_set",
            "role_granted",
            "role_revoked",
            "token_created",
            "token_revoked",
            "user_disabled"
        ]
    );
    assert!(log[..3].iter().all(|e| e.actor == "command_line" && e.actor_id.is_none()));
    assert!(log[3..].iter().all(|e| e.actor == "user" && e.actor_id == Some(eva.id)));
    assert!(log[3..].iter().all(|e| e.user == Some(anna.id)), "each names whom it is about");
    assert_eq!(log[4].details["role"], "sector_group_member");
    assert_eq!(log[4].details["scope"], group.to_string());
    assert_eq!(log[6].details["token"], token.to_string());
    assert!(log.windows(2).all(|w| w[0].id < w[1].id && w[0].at <= w[1].at));
    assert_eq!(db.db.people_log(Some(eva.id)).await.unwrap().len(), 1, "Eva's own: being added");
    assert!(!log[3].details.to_string().contains("argon2"), "the password hash is not logged");

    for sql in ["UPDATE people_log SET action = 'x'", "DELETE FROM people_log"] {
        let err = raw(db, sql).await.expect_err("the database refuses to change the log");
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    if matches!(db.db, Db::Postgres(_)) {
        let err = raw(db, "TRUNCATE people_log").await.expect_err("no TRUNCATE either");
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    assert_eq!(db.db.people_log(None).await.unwrap(), log);
}

async fn seeding_the_2010_people_is_idempotent(db: &TestDb) {
    let round = round_2010();
    // The round's call must be there first: panel roles name it.
    let err = seed_reference(&db.db, &round, DEMO_PASSWORD).await.unwrap_err();
    assert!(matches!(err, PeopleError::UnknownCall { .. }), "{err}");
    let round = with_the_2010_call(db).await;
    let err = seed_reference(&db.db, &round, "kort").await.unwrap_err();
    assert!(matches!(err, PeopleError::WeakPassword { .. }), "{err}");

    let sign_ins = seed_reference(&db.db, &round, DEMO_PASSWORD).await.unwrap();
    let users = db.db.users().await.unwrap();
    let log = db.db.people_log(None).await.unwrap();
    assert_eq!(users.len(), round.people.len());
    assert!(log.iter().all(|e| e.actor == "seed"));

    // Every person with their id, address and exactly the round's roles;
    // the staff have a password, the applicants none.
    for person in &round.people {
        let user = users.iter().find(|u| u.id == person.id).expect("the person is a user");
        assert_eq!(user.email, person.email);
        assert_eq!(user.name, person.name);
        assert_eq!(user.organisation, Some(person.organisation));
        assert_eq!(user.language, person.language);
        let mut expected = round.roles.get(&person.id).cloned().unwrap_or_default();
        expected.sort();
        assert_eq!(user.roles, expected, "{}", person.email);
        assert_eq!(user.actor(), sorted(round.actor(person.id)), "the actor the round's events were decided with");
        assert_eq!(user.has_password, !expected.is_empty(), "{}", person.email);
    }
    let organisations = db.db.organisations().await.unwrap();
    assert_eq!(organisations.len(), 3);
    assert!(round.organisations.iter().all(|o| organisations.contains(o)));
    assert_eq!(db.db.sector_groups().await.unwrap(), vec![round.sector_group.clone()]);

    // One demo sign-in per role; the staff sign in with the demo password.
    let kinds: Vec<Option<RoleKind>> = sign_ins.iter().map(|s| s.role).collect();
    assert_eq!(
        kinds,
        [
            Some(RoleKind::ProcessLeader),
            Some(RoleKind::SectorGroup),
            Some(RoleKind::Panel),
            Some(RoleKind::Board),
            None
        ]
    );
    for s in &sign_ins {
        let user = db.db.authenticate_password(s.email.as_str(), DEMO_PASSWORD).await.unwrap();
        assert_eq!(user.is_some(), s.password, "{}", s.email);
        if let (Some(kind), Some(user)) = (s.role, user) {
            assert!(user.roles.iter().all(|r| RoleKind::of(r) == kind), "{}: {:?}", s.email, user.roles);
        }
    }

    // A second time changes nothing.
    let again = seed_reference(&db.db, &round, DEMO_PASSWORD).await.unwrap();
    assert_eq!(again, sign_ins);
    assert_eq!(db.db.users().await.unwrap(), users);
    assert_eq!(db.db.people_log(None).await.unwrap(), log, "nothing new was written");
}

/// An actor with its roles sorted, as users carry them.
fn sorted(mut actor: mops_core::Actor) -> mops_core::Actor {
    actor.roles.sort();
    actor
}

// ---------------------------------------------------------------------------
// The command line, on an SQLite file

fn mops(db: &str, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mops"))
        .args(args)
        .env("MOPS_DATABASE_URL", db)
        .env("MOPS_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run mops");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "mops failed ({:?}):\n{stdout}\n{stderr}", out.status.code());
    stdout.into_owned()
}

fn refused(out: &Output, code: i32, says: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.starts_with("mops: ") && stderr.contains(says), "{stderr}");
}

#[test]
fn the_user_and_token_commands_work_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("mops.db").display());
    let db = url.as_str();

    let group = ok(&mops(db, &["sector-group", "add", "--name", "Äldreomsorg"], None)).trim().to_owned();
    ok(&mops(db, &["organisation", "add", "--name", "Mälardalens högskola"], None));
    let out = mops(
        db,
        &[
            "user",
            "add",
            "--email",
            "Anna.Andersson@MDH.se",
            "--name",
            "Anna Andersson",
            "--organisation",
            "Mälardalens högskola",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(ok(&out).contains("Added Anna Andersson <anna.andersson@mdh.se>"));
    ok(&mops(db, &["user", "add", "--email", "per@mdh.se", "--name", "Per Persson", "--language", "en"], None));

    // Refusals: a taken address, a short password, a missing or needless scope.
    refused(&mops(db, &["user", "add", "--email", "ANNA.andersson@mdh.se", "--name", "A"], None), 2, "already");
    let short =
        mops(db, &["user", "add", "--email", "eva@mdh.se", "--name", "Eva", "--password-stdin"], Some("kort\n"));
    refused(&short, 2, "minst 12");
    refused(&mops(db, &["user", "grant", "--email", "per@mdh.se", "--role", "sector-group"], None), 2, "scope");
    let needless = mops(db, &["user", "grant", "--email", "per@mdh.se", "--role", "board", "--scope", &group], None);
    refused(&needless, 2, "no scope");
    refused(&mops(db, &["user", "grant", "--email", "nobody@mdh.se", "--role", "board"], None), 2, "no user");
    let bad_role = mops(db, &["user", "grant", "--email", "per@mdh.se", "--role", "admin"], None);
    assert_eq!(bad_role.status.code(), Some(2));

    let grant =
        |args: &[&str]| ok(&mops(db, &[&["user", "grant", "--email", "anna.andersson@mdh.se"], args].concat(), None));
    assert!(grant(&["--role", "process-leader"]).contains("Granted process-leader"));
    assert!(grant(&["--role", "sector-group", "--scope", &group]).contains("Granted sector-group:"));
    assert!(grant(&["--role", "board"]).contains("Granted board"));
    assert!(grant(&["--role", "board"]).contains("nothing changed"));
    ok(&mops(db, &["user", "revoke", "--email", "anna.andersson@mdh.se", "--role", "board"], None));

    let json = ok(&mops(db, &["user", "list", "--json"], None));
    let users: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["email"], "anna.andersson@mdh.se");
    assert_eq!(users[0]["has_password"], true);
    assert_eq!(
        users[0]["roles"],
        serde_json::json!([{ "role": "process_leader" }, { "role": "sector_group_member", "group": group }])
    );
    assert_eq!((users[1]["email"].as_str(), users[1]["has_password"].as_bool()), (Some("per@mdh.se"), Some(false)));
    assert!(ok(&mops(db, &["user", "list"], None)).contains("2 users."));

    // The secret is printed once, alone on standard output; the warning goes to standard error.
    let out = mops(db, &["token", "create", "--email", "anna.andersson@mdh.se", "--name", "diariet"], None);
    let secret = ok(&out).trim().to_owned();
    assert!(secret.starts_with("mops_") && secret.len() == 69, "{secret}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be shown again"));
    let list = ok(&mops(db, &["token", "list", "--email", "anna.andersson@mdh.se"], None));
    assert!(list.contains("diariet") && !list.contains(&secret[5..]), "{list}");

    // The library, on the same file, agrees.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = mops_service::store::connect(db).await.unwrap();
        let user = store.authenticate_token(&secret).await.unwrap().expect("the printed secret works");
        assert_eq!(user.email.as_str(), "anna.andersson@mdh.se");
        assert!(store.authenticate_password("anna.andersson@mdh.se", PASSWORD).await.unwrap().is_some());
        let log = store.people_log(None).await.unwrap();
        assert!(log.iter().all(|e| e.actor == "command_line"));
        assert_eq!(log.iter().filter(|e| e.action == "role_granted").count(), 3);
        let token = store.tokens(None).await.unwrap()[0].id;
        ok(&mops(db, &["token", "revoke", "--id", &token.to_string()], None));
        assert_eq!(store.authenticate_token(&secret).await.unwrap(), None);
    });

    assert!(ok(&mops(db, &["user", "disable", "--email", "per@mdh.se"], None)).contains("Disabled per@mdh.se"));
    refused(&mops(db, &["token", "create", "--email", "per@mdh.se", "--name", "x"], None), 2, "disabled");
    assert!(ok(&mops(db, &["user", "enable", "--email", "per@mdh.se"], None)).contains("Enabled per@mdh.se"));
    let secret = ok(&mops(db, &["token", "create", "--email", "per@mdh.se", "--name", "x"], None));
    assert!(secret.trim().len() >= 32, "a token for the enabled user: {secret}");
}

/// `mops demo` adds the round's people and prints one sign-in per role;
/// a second run adds nothing.
#[test]
fn the_demo_prints_one_sign_in_per_role() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_mops"))
            .arg("demo")
            .current_dir(dir.path())
            .env_remove("MOPS_DATABASE_URL")
            .env_remove("MOPS_SMTP_URL")
            .env_remove("MOPS_MAIL_DIR")
            .output()
            .expect("mops runs")
    };
    let first = ok(&run());
    let round = round_2010();
    let sign_ins = first.split("Demo sign-ins").nth(1).unwrap_or_else(|| panic!("no sign-ins:\n{first}"));
    assert!(sign_ins.contains(DEMO_PASSWORD) && sign_ins.contains("demo only"), "{sign_ins}");
    let lines: Vec<&str> = sign_ins.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(lines.len(), 5, "{sign_ins}");
    for (line, label) in lines.iter().zip(["process leader", "sector group member", "panel member", "board member"]) {
        assert!(line.trim_start().starts_with(label) && line.ends_with(DEMO_PASSWORD), "{line}");
    }
    assert!(lines[4].contains("applicant") && lines[4].contains("link"), "{}", lines[4]);
    let pl = round.person(round.process_leader).unwrap();
    assert!(lines[0].contains(pl.email.as_str()), "{}", lines[0]);

    let db = format!("sqlite://{}", dir.path().join("mops.db").display());
    let users = ok(&mops(&db, &["user", "list", "--json"], None));
    let again = ok(&run());
    assert!(again.contains("Demo sign-ins"));
    assert_eq!(ok(&mops(&db, &["user", "list", "--json"], None)), users, "a second demo changes nobody");
}

// ---------------------------------------------------------------------------
// Own passwords: changed while signed in, reset by a link

/// A session of `user` (or nobody) stored as the web application stores it.
async fn a_session(db: &TestDb, user: Option<PersonId>) -> tower_sessions::session::Id {
    use tower_sessions::SessionStore;
    let mut data = std::collections::HashMap::new();
    if let Some(user) = user {
        data.insert("user".to_owned(), serde_json::to_value(user).unwrap());
    }
    let mut record = tower_sessions::session::Record {
        id: tower_sessions::session::Id::default(),
        data,
        expiry_date: tower_sessions::cookie::time::OffsetDateTime::now_utc()
            + tower_sessions::cookie::time::Duration::hours(1),
    };
    mops_service::web::DbSessionStore::new(db.db.clone()).create(&mut record).await.unwrap();
    record.id
}

async fn session_lives(db: &TestDb, id: &tower_sessions::session::Id) -> bool {
    use tower_sessions::SessionStore;
    mops_service::web::DbSessionStore::new(db.db.clone()).load(id).await.unwrap().is_some()
}

async fn an_own_new_password_ends_the_other_sessions(db: &TestDb) {
    let anna = add(db, "anna@mdh.se", Some(PASSWORD)).await;
    let bert = add(db, "bert@mdh.se", Some(PASSWORD)).await;
    let (here, elsewhere, again) =
        (a_session(db, Some(anna.id)).await, a_session(db, Some(anna.id)).await, a_session(db, Some(anna.id)).await);
    let (berts, nobodys) = (a_session(db, Some(bert.id)).await, a_session(db, None).await);
    let before = password_hash_of(db, anna.id).await;

    let new = Password::new("ett helt nytt lösenord").unwrap();
    let here_id = here.to_string();
    assert_eq!(db.db.change_own_password(anna.id, &new, Some(&here_id)).await.unwrap(), 2);
    assert!(session_lives(db, &here).await, "the session it was changed in");
    assert!(!session_lives(db, &elsewhere).await && !session_lives(db, &again).await);
    assert!(session_lives(db, &berts).await && session_lives(db, &nobodys).await, "nobody else's");
    let after = password_hash_of(db, anna.id).await.unwrap();
    assert!(after.starts_with("$argon2id$") && Some(&after) != before.as_ref());
    assert_eq!(db.db.authenticate_password("anna@mdh.se", PASSWORD).await.unwrap(), None);
    assert!(db.db.authenticate_password("anna@mdh.se", "ett helt nytt lösenord").await.unwrap().is_some());
    let log = db.db.people_log(Some(anna.id)).await.unwrap();
    let last = log.last().unwrap();
    assert_eq!((last.action.as_str(), last.actor.as_str(), last.actor_id), ("password_set", "user", Some(anna.id)));
    assert_eq!(last.details, serde_json::json!({ "how": "changed", "sessions_ended": 2 }));

    // Without a session to keep, all of them end.
    assert_eq!(db.db.change_own_password(anna.id, &new, None).await.unwrap(), 1);
    assert!(!session_lives(db, &here).await);
    // A disabled user changes nothing.
    assert!(db.db.disable_user(bert.id, ChangedBy::CommandLine).await.unwrap());
    assert!(!session_lives(db, &berts).await, "disabling signed Bert out");
    let berts = a_session(db, Some(bert.id)).await;
    let n = log_len(db).await;
    let err = db.db.change_own_password(bert.id, &new, None).await.unwrap_err();
    assert!(matches!(err, PeopleError::UnknownUser { .. }), "{err}");
    assert!(session_lives(db, &berts).await);
    assert_eq!(log_len(db).await, n, "nothing written");
}

async fn a_reset_link_sets_a_password_once(db: &TestDb) {
    use mops_service::web::session::{LinkPurpose, create_link, link_hash, link_is_live};
    let anna = add(db, "anna@mdh.se", Some(PASSWORD)).await;
    let bert = add(db, "bert@mdh.se", None).await;
    let carl = add(db, "carl@mdh.se", Some(PASSWORD)).await;
    let now = chrono::Utc::now();
    let sessions = [a_session(db, Some(anna.id)).await, a_session(db, Some(anna.id)).await];
    let first = create_link(&db.db, anna.id, LinkPurpose::PasswordReset, now).await.unwrap();
    let second = create_link(&db.db, anna.id, LinkPurpose::PasswordReset, now).await.unwrap();
    let sign_in = create_link(&db.db, anna.id, LinkPurpose::SignIn, now).await.unwrap();
    let expired =
        create_link(&db.db, anna.id, LinkPurpose::PasswordReset, now - chrono::Duration::minutes(31)).await.unwrap();
    let berts = create_link(&db.db, bert.id, LinkPurpose::PasswordReset, now).await.unwrap();
    let carls = create_link(&db.db, carl.id, LinkPurpose::PasswordReset, now).await.unwrap();
    assert!(db.db.disable_user(carl.id, ChangedBy::CommandLine).await.unwrap());
    let new = Password::new("ett helt nytt lösenord").unwrap();

    // Refused, and nothing written: a sign-in link, an expired one, one
    // for a user without a password, one for a disabled user.
    let n = log_len(db).await;
    for (what, secret) in [("sign-in", &sign_in), ("expired", &expired), ("no password", &berts), ("disabled", &carls)]
    {
        assert!(!link_is_live(&db.db, secret, LinkPurpose::PasswordReset, now).await.unwrap(), "{what}");
        assert_eq!(db.db.reset_password(link_hash(secret), &new, now).await.unwrap(), None, "{what}");
    }
    assert!(!link_is_live(&db.db, &first, LinkPurpose::SignIn, now).await.unwrap(), "a reset link signs nobody in");
    assert_eq!(mops_service::web::session::consume_link(&db.db, &first, now).await.unwrap(), None);
    assert_eq!(log_len(db).await, n);
    assert_eq!(password_hash_of(db, bert.id).await, None);
    for s in &sessions {
        assert!(session_lives(db, s).await);
    }

    // The first link works, once; it ends every session and voids the other link.
    assert!(link_is_live(&db.db, &first, LinkPurpose::PasswordReset, now).await.unwrap());
    assert_eq!(db.db.reset_password(link_hash(&first), &new, now).await.unwrap(), Some(anna.id));
    for s in &sessions {
        assert!(!session_lives(db, s).await);
    }
    assert!(db.db.authenticate_password("anna@mdh.se", "ett helt nytt lösenord").await.unwrap().is_some());
    assert_eq!(db.db.authenticate_password("anna@mdh.se", PASSWORD).await.unwrap(), None);
    let other = Password::new("ännu ett nytt lösenord").unwrap();
    assert_eq!(db.db.reset_password(link_hash(&first), &other, now).await.unwrap(), None, "once");
    assert_eq!(db.db.reset_password(link_hash(&second), &other, now).await.unwrap(), None, "voided");
    assert!(db.db.authenticate_password("anna@mdh.se", "ett helt nytt lösenord").await.unwrap().is_some());
    let log = db.db.people_log(Some(anna.id)).await.unwrap();
    assert_eq!(log.len(), 2, "added, reset: {log:?}");
    assert_eq!(log[1].details, serde_json::json!({ "how": "reset", "sessions_ended": 2 }));
    assert_eq!(log[1].actor_id, Some(anna.id));
    // The sign-in link is still a sign-in link.
    assert_eq!(mops_service::web::session::consume_link(&db.db, &sign_in, now).await.unwrap(), Some(anna.id));
}

// ---------------------------------------------------------------------------
// Passwords set and users disabled by somebody else

async fn a_password_set_by_the_command_ends_the_sessions(db: &TestDb) {
    use mops_service::web::session::{LinkPurpose, create_link, link_is_live};
    let anna = add(db, "anna@mdh.se", Some(PASSWORD)).await;
    let bert = add(db, "bert@mdh.se", Some(PASSWORD)).await;
    let now = chrono::Utc::now();
    let annas = [a_session(db, Some(anna.id)).await, a_session(db, Some(anna.id)).await];
    let (berts, nobodys) = (a_session(db, Some(bert.id)).await, a_session(db, None).await);
    let reset = create_link(&db.db, anna.id, LinkPurpose::PasswordReset, now).await.unwrap();
    let sign_in = create_link(&db.db, anna.id, LinkPurpose::SignIn, now).await.unwrap();

    // `mops user set-password`, as a process, on this database.
    let new = "ett lösenord från kommandot";
    let out = mops(&db.url(), &["user", "set-password", "--email", "anna@mdh.se"], Some(&format!("{new}\n")));
    assert!(ok(&out).contains("Set the password of anna@mdh.se"));
    for s in &annas {
        assert!(!session_lives(db, s).await, "whoever knew the old password is signed out");
    }
    assert!(session_lives(db, &berts).await && session_lives(db, &nobodys).await, "nobody else's");
    assert!(!link_is_live(&db.db, &reset, LinkPurpose::PasswordReset, now).await.unwrap(), "the reset link is void");
    assert!(link_is_live(&db.db, &sign_in, LinkPurpose::SignIn, now).await.unwrap(), "a sign-in link is not");
    assert!(db.db.authenticate_password("anna@mdh.se", new).await.unwrap().is_some());
    let log = db.db.people_log(Some(anna.id)).await.unwrap();
    let last = log.last().unwrap();
    assert_eq!((last.action.as_str(), last.actor.as_str(), last.actor_id), ("password_set", "command_line", None));
    assert_eq!(last.details, serde_json::json!({ "how": "set", "sessions_ended": 2 }));

    // The store's own call, with nothing to end.
    let other = Password::new("ännu ett nytt lösenord").unwrap();
    db.db.set_password(anna.id, &other, ChangedBy::User(bert.id)).await.unwrap();
    let last = db.db.people_log(Some(anna.id)).await.unwrap().pop().unwrap();
    assert_eq!(last.details, serde_json::json!({ "how": "set", "sessions_ended": 0 }));
    assert_eq!(last.actor_id, Some(bert.id));

    // An unknown user: nothing written, no session ended.
    let n = log_len(db).await;
    let err =
        db.db.set_password(PersonId::from_uuid(Uuid::new_v4()), &other, ChangedBy::CommandLine).await.unwrap_err();
    assert!(matches!(err, PeopleError::UnknownUser { .. }), "{err}");
    assert_eq!(log_len(db).await, n);
    assert!(session_lives(db, &berts).await);
}

async fn disabling_a_user_ends_their_sessions(db: &TestDb) {
    let anna = add(db, "anna@mdh.se", Some(PASSWORD)).await;
    let bert = add(db, "bert@mdh.se", Some(PASSWORD)).await;
    let annas = [a_session(db, Some(anna.id)).await, a_session(db, Some(anna.id)).await];
    let berts = a_session(db, Some(bert.id)).await;

    let out = mops(&db.url(), &["user", "disable", "--email", "anna@mdh.se"], None);
    assert!(ok(&out).contains("Disabled anna@mdh.se"));
    for s in &annas {
        assert!(!session_lives(db, s).await, "signed out everywhere");
    }
    assert!(session_lives(db, &berts).await, "nobody else's");
    let last = db.db.people_log(Some(anna.id)).await.unwrap().pop().unwrap();
    assert_eq!((last.action.as_str(), last.actor.as_str()), ("user_disabled", "command_line"));
    assert_eq!(last.details, serde_json::json!({ "sessions_ended": 2 }));

    // Already disabled: nothing written. Enabled again: no session comes back.
    let n = log_len(db).await;
    assert!(!db.db.disable_user(anna.id, ChangedBy::CommandLine).await.unwrap());
    assert_eq!(log_len(db).await, n);
    assert!(db.db.enable_user(anna.id, ChangedBy::CommandLine).await.unwrap());
    for s in &annas {
        assert!(!session_lives(db, s).await);
    }
    assert!(db.db.disable_user(bert.id, ChangedBy::User(anna.id)).await.unwrap());
    assert!(!session_lives(db, &berts).await);
    let last = db.db.people_log(Some(bert.id)).await.unwrap().pop().unwrap();
    assert_eq!(last.details, serde_json::json!({ "sessions_ended": 1 }));
}
