//! `POST /api/v1/ideas/{id}/commands`: one pipeline command on an idea.
//!
//! The body names the command (`{"command": "select", "motivation": "…"}`).
//! It is the API's own format, converted here into a `mops_core::IdeaCommand`,
//! so the stored command format can change without breaking integrations.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use mops_core::IdeaCommand;
use mops_core::call::SeminarId;
use mops_core::domain::{
    CriterionKey, FreeText, MeetingId, Motivation, PersonId, RegistryNumber, Score, SectionKey, Sek,
};
use mops_core::idea::Recommendation;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::body::{Body, idempotency_key, if_match, invalid, language};
use super::{ApiError, Authenticated, OutcomeBody, visible_idea, written};
use crate::store::{Db, IdeaRequest, Store};

/// A pipeline command on an idea. Who may give which command, and in which
/// stage and phase, is in docs/pipeline.md; a command the rules refuse
/// answers 409 (403 when the caller's role may not give it at all).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum CommandBody {
    /// The sector group selects a submitted idea for the seminar series.
    Select {
        /// Why, if the group wants to say so.
        #[serde(default)]
        motivation: Option<String>,
    },
    /// The sector group does not select a submitted idea; a "no" always
    /// carries its motivation (not empty).
    NotSelect { motivation: String },
    /// The process leader or sector group records whether the idea attended
    /// a seminar of the call.
    RecordAttendance {
        /// The seminar's number in the call's timeline.
        seminar: u16,
        attended: bool,
    },
    /// The process leader schedules the idea's pitch at the panel.
    SchedulePitch {
        /// RFC 3339.
        at: DateTime<Utc>,
    },
    /// A panel member (or the process leader for them) declares a conflict
    /// of interest; the panel member then no longer sees the idea.
    DeclareConflict {
        /// The panel member; defaults to the caller.
        #[serde(default)]
        #[schema(value_type = Option<String>, format = Uuid)]
        panel_member: Option<Uuid>,
        /// Why (not empty).
        reason: String,
    },
    /// An applicant saves (or, with `text: null`, clears) a section of the
    /// project plan.
    SavePlanSection {
        /// The template section's key, e.g. `syfte`.
        section: String,
        text: Option<String>,
    },
    /// The process leader records that the idea was pitched.
    RecordPitch,
    /// A panel member gives feedback with a score per criterion of the call.
    GiveFeedback {
        text: String,
        /// Criterion key → score on the call's scale.
        scores: BTreeMap<String, u8>,
    },
    /// The lead applicant submits the project plan.
    SubmitPlan {
        /// The amount the plan asks for, in integer öre (1 kr = 100 öre):
        /// 350 000 kr is `35000000`. Not negative.
        #[schema(minimum = 0, example = 35_000_000)]
        requested_ore: i64,
    },
    /// The sector group prepares the idea for the board's decision.
    Prepare { recommendation: RecommendationBody },
    /// A board member records the board's grant.
    Grant {
        /// The amount granted, in integer öre (1 kr = 100 öre); more than
        /// zero, at most what the plan asked for, within the call's ceiling
        /// and what remains of its budget.
        #[schema(minimum = 1, example = 35_000_000)]
        amount_ore: i64,
        #[serde(default)]
        conditions: Option<String>,
        #[serde(default)]
        motivation: Option<String>,
        /// The registry number, e.g. `SK 2010/31`.
        registry: String,
        /// The board meeting the decision was taken at: decisions with the
        /// same id are one meeting's.
        #[schema(value_type = String, format = Uuid)]
        meeting: Uuid,
    },
    /// A board member records the board's refusal; it carries a motivation.
    Decline {
        motivation: String,
        registry: String,
        #[schema(value_type = String, format = Uuid)]
        meeting: Uuid,
    },
    /// The lead applicant (or the process leader) withdraws the idea.
    Withdraw {
        #[serde(default)]
        reason: Option<String>,
    },
}

/// What the sector group recommends to the board.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RecommendationBody {
    /// Fund the project with this amount.
    Fund {
        /// In integer öre (1 kr = 100 öre). Not negative.
        #[schema(minimum = 0)]
        amount_ore: i64,
        #[serde(default)]
        motivation: Option<String>,
    },
    /// Do not fund it; the motivation is required.
    NoFunding { motivation: String },
}

fn motivation(field: &str, value: &str) -> Result<Motivation, ApiError> {
    Motivation::parse(value).map_err(|e| invalid(field, e))
}

fn text(field: &str, value: &str) -> Result<FreeText, ApiError> {
    FreeText::parse(value).map_err(|e| invalid(field, e))
}

fn amount(field: &str, ore: i64) -> Result<Sek, ApiError> {
    Sek::from_ore(ore).map_err(|e| invalid(field, e))
}

fn registry(value: &str) -> Result<RegistryNumber, ApiError> {
    RegistryNumber::parse(value).map_err(|e| invalid("registry", e))
}

impl CommandBody {
    /// The core's command, given by `caller`; a value that does not parse
    /// answers 422 naming its field.
    pub fn parse(&self, caller: PersonId) -> Result<IdeaCommand, ApiError> {
        Ok(match self {
            Self::Select { motivation: m } => {
                IdeaCommand::Select { motivation: m.as_deref().map(|m| motivation("motivation", m)).transpose()? }
            }
            Self::NotSelect { motivation: m } => IdeaCommand::NotSelect { motivation: motivation("motivation", m)? },
            Self::RecordAttendance { seminar, attended } => {
                IdeaCommand::RecordAttendance { seminar: SeminarId(*seminar), attended: *attended }
            }
            Self::SchedulePitch { at } => IdeaCommand::SchedulePitch { at: *at },
            Self::DeclareConflict { panel_member, reason } => IdeaCommand::DeclareConflict {
                panel_member: panel_member.map(PersonId::from_uuid).unwrap_or(caller),
                reason: motivation("reason", reason)?,
            },
            Self::SavePlanSection { section, text: t } => IdeaCommand::SavePlanSection {
                section: SectionKey::parse(section).map_err(|e| invalid("section", e))?,
                text: t.as_deref().map(|t| text("text", t)).transpose()?,
            },
            Self::RecordPitch => IdeaCommand::RecordPitch,
            Self::GiveFeedback { text: t, scores } => IdeaCommand::GiveFeedback {
                text: text("text", t)?,
                scores: scores
                    .iter()
                    .map(|(k, v)| {
                        let key = CriterionKey::parse(k).map_err(|e| invalid(&format!("scores.{k}"), e))?;
                        let score: Score = serde_json::from_value((*v).into())
                            .map_err(|e| ApiError::unprocessable(format!("`scores.{k}`: {e}")))?;
                        Ok((key, score))
                    })
                    .collect::<Result<_, ApiError>>()?,
            },
            Self::SubmitPlan { requested_ore } => {
                IdeaCommand::SubmitPlan { requested: amount("requested_ore", *requested_ore)? }
            }
            Self::Prepare { recommendation } => IdeaCommand::Prepare {
                recommendation: match recommendation {
                    RecommendationBody::Fund { amount_ore, motivation: m } => Recommendation::Fund {
                        amount: amount("recommendation.amount_ore", *amount_ore)?,
                        motivation: m.as_deref().map(|m| motivation("recommendation.motivation", m)).transpose()?,
                    },
                    RecommendationBody::NoFunding { motivation: m } => {
                        Recommendation::NoFunding { motivation: motivation("recommendation.motivation", m)? }
                    }
                },
            },
            Self::Grant { amount_ore, conditions, motivation: m, registry: r, meeting } => IdeaCommand::Grant {
                amount: amount("amount_ore", *amount_ore)?,
                conditions: conditions.as_deref().map(|c| text("conditions", c)).transpose()?,
                motivation: m.as_deref().map(|m| motivation("motivation", m)).transpose()?,
                registry: registry(r)?,
                meeting: MeetingId::from_uuid(*meeting),
            },
            Self::Decline { motivation: m, registry: r, meeting } => IdeaCommand::Decline {
                motivation: motivation("motivation", m)?,
                registry: registry(r)?,
                meeting: MeetingId::from_uuid(*meeting),
            },
            Self::Withdraw { reason } => {
                IdeaCommand::Withdraw { reason: reason.as_deref().map(|r| text("reason", r)).transpose()? }
            }
        })
    }
}

/// Gives one command on an idea.
#[utoipa::path(
    post,
    path = "/api/v1/ideas/{id}/commands",
    tag = "ideas",
    params(
        ("id" = String, Path, format = Uuid, description = "The idea's id"),
        ("If-Match" = String, Header, description = "The idea's ETag as last read, e.g. `\"7\"` (required)"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key with the same body returns the first outcome (`replayed: true`, header `Idempotency-Replayed: true`) and writes nothing; with another body it answers 422"),
        ("Accept-Language" = Option<String>, Header, description = "`sv` or `en` (default) for the detail of a refused command"),
    ),
    request_body(content = CommandBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Done; `ETag` is the idea's new version", body = OutcomeBody,
            headers(("ETag" = String, description = "The new version"), ("Idempotency-Replayed" = Option<String>, description = "`true` when this is a stored outcome"))),
        (status = 400, description = "Malformed JSON or header", body = super::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid API token", body = super::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's role may not give this command", body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such idea, or one the caller may not see", body = super::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The rules refuse the command now (stage, phase, deadline, budget …); `code` names the rule", body = super::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale; `current_version` is the idea's version", body = super::Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not application/json", body = super::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value is not acceptable (unknown field or command, negative amount, empty motivation), or the Idempotency-Key was used for another request", body = super::Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = super::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is busy; retry", body = super::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn command(
    State(db): State<Db>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body<CommandBody>,
) -> Result<Response, ApiError> {
    let (idea_id, stored) = visible_idea(&db, &user, &id).await?;
    let expected = if_match(&headers, "idea")?;
    let key = idempotency_key(&headers)?;
    let command = body.parse(user.id)?;
    let call = stored.state.idea().map(|i| i.call).ok_or_else(|| ApiError::not_found("no such idea"))?;
    let actor = user.actor();
    let outcome = db
        .execute_idea(IdeaRequest {
            call,
            idea: idea_id,
            command: &command,
            actor: &actor,
            now: Utc::now(),
            expected_version: expected,
            idempotency_key: key.as_deref(),
        })
        .await
        .map_err(|e| ApiError::from_store(e, language(&headers)))?;
    Ok(written(StatusCode::OK, outcome, None))
}
