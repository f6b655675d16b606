//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! attributes and the DTOs' schemas. `tests/openapi.rs` fails when the
//! committed docs/openapi.json differs from it.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::calls::{CallDetailBody, CoApplicantBody, DecisionBody, MeetingBody, NewIdeaBody, PhaseBody};
use super::commands::{CommandBody, RecommendationBody};
use super::definition::{
    CallDefinitionBody, CriterionBody, LocalizedBody, ScaleBody, SectionBody, SeminarDefinitionBody,
    TimelineDefinitionBody,
};
use super::outbox::{OutboxRowBody, PreviewBody};
use super::{CallBody, EventBody, FunnelBody, IdeaBody, OutcomeBody, Problem, SeminarBody, TimelineBody};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "MOPS API",
        description = "The idea pipeline of Samhällskontraktet: calls, ideas, pipeline commands, board \
decisions and status mails.\n\n\
Authenticate with `Authorization: Bearer mops_…` (an API token from `mops token create`). \
An object the caller may not see answers 404, exactly as one that does not exist. \
Amounts are integer öre (1 kr = 100 öre) in fields named `…_ore`. \
Writes to an existing call or idea need `If-Match` with its ETag (428 without, 412 when stale) \
and may carry an `Idempotency-Key` to make retries safe. \
Errors are `application/problem+json` (RFC 9457) with a stable `type` URN.",
        version = "1"
    ),
    paths(
        super::calls,
        super::calls::create_call,
        super::calls::get_call,
        super::calls::edit_call,
        super::calls::advance_phase,
        super::funnel,
        super::calls::submit_idea,
        super::calls::list_ideas,
        super::calls::decisions,
        super::calls::meetings,
        super::idea,
        super::idea_events,
        super::commands::command,
        super::outbox::list,
        super::outbox::get_row,
        super::outbox::preview,
        super::outbox::retry,
    ),
    components(schemas(
        Problem,
        CallBody,
        CallDetailBody,
        TimelineBody,
        SeminarBody,
        CallDefinitionBody,
        LocalizedBody,
        TimelineDefinitionBody,
        SeminarDefinitionBody,
        CriterionBody,
        ScaleBody,
        SectionBody,
        PhaseBody,
        FunnelBody,
        IdeaBody,
        NewIdeaBody,
        CoApplicantBody,
        EventBody,
        CommandBody,
        RecommendationBody,
        OutcomeBody,
        DecisionBody,
        MeetingBody,
        OutboxRowBody,
        PreviewBody,
    )),
    modifiers(&BearerToken),
    tags(
        (name = "calls", description = "Calls for ideas and their phases"),
        (name = "ideas", description = "Ideas, their timelines, and the pipeline commands"),
        (name = "decisions", description = "The board's decisions and meetings"),
        (name = "outbox", description = "The status mails (process leader only)"),
    )
)]
struct ApiDoc;

/// The `bearer` security scheme the paths refer to.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("mops_<64 hex digits>")
                    .description(Some("An API token from `mops token create`, shown once when it is made"))
                    .build(),
            ),
        );
    }
}

/// The API's OpenAPI 3.1 document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
