//! `mops call export` and `mops call import`: a call's definition as a TOML
//! or JSON file, so that a new round starts from last year's.
//!
//! The file holds exactly a [`CallDefinition`]. Amounts (`budget`,
//! `ceiling`) are in öre, instants are UTC in RFC 3339; the TOML export says
//! so in a comment at the top.

use std::path::Path;

use mops_core::call::CallDefinition;
use mops_core::domain::CallId;
use mops_core::{Actor, CallCommand};
use uuid::Uuid;

use super::{ReportError, list_calls};
use crate::store::{CallRequest, Store, StoreError};

/// The formats of a call file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CallFileFormat {
    /// TOML, to read and edit by hand.
    #[default]
    Toml,
    /// JSON, for programs.
    Json,
}

/// The definition of `call` as a file.
pub async fn export<S: Store>(store: &S, call: CallId, format: CallFileFormat) -> Result<String, ReportError> {
    let Some(found) = store.call(call).await?.and_then(|v| v.state.call().cloned()) else {
        let calls: Vec<_> = store.calls().await?.into_iter().filter_map(|v| v.state.call().cloned()).collect();
        return Err(ReportError::Usage(format!(
            "there is no call {call}.{}",
            list_calls(&calls, "The calls there are")
        )));
    };
    to_string(&found.definition, format, Some((call, found.definition.title.as_str())))
}

/// A definition as TOML (with a header that explains the units) or JSON.
pub fn to_string(
    definition: &CallDefinition,
    format: CallFileFormat,
    source: Option<(CallId, &str)>,
) -> Result<String, ReportError> {
    let failed = |e: &dyn std::fmt::Display| ReportError::CannotRun(format!("cannot write the definition: {e}"));
    match format {
        CallFileFormat::Json => serde_json::to_string_pretty(definition).map(|s| s + "\n").map_err(|e| failed(&e)),
        CallFileFormat::Toml => {
            let body = toml::to_string_pretty(definition).map_err(|e| failed(&e))?;
            let mut out = String::new();
            if let Some((id, title)) = source {
                out.push_str(&format!("# The definition of the call \"{title}\" ({id}), exported by mops.\n"));
            }
            out.push_str(
                "# Edit the title and the dates, then create a new call from it with\n\
                 #   mops call import FILE --as YOUR-EMAIL\n\
                 # Amounts (budget, ceiling) are in öre: 1 kr = 100 öre, so 130000000 is 1 300 000 kr.\n\
                 # Instants are UTC (RFC 3339): 2010-08-31T21:59:00Z is 23:59 in Stockholm (summer time).\n\n",
            );
            out.push_str(&body);
            Ok(out)
        }
    }
}

/// Reads a definition from `text`: JSON if the file name ends in `.json` or
/// the text starts with `{`, TOML otherwise.
pub fn parse(text: &str, path: Option<&Path>) -> Result<CallDefinition, ReportError> {
    let ext = path.and_then(|p| p.extension()).and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let json = match ext.as_deref() {
        Some("json") => true,
        Some("toml") => false,
        _ => text.trim_start().starts_with('{'),
    };
    let name = path.map_or_else(|| "the definition".to_owned(), |p| p.display().to_string());
    if json {
        serde_json::from_str(text)
            .map_err(|e| ReportError::Usage(format!("{name} is not a call definition in JSON: {e}")))
    } else {
        toml::from_str(text).map_err(|e| ReportError::Usage(format!("{name} is not a call definition in TOML: {e}")))
    }
}

/// Creates a new call (a draft) from `definition`, with `id` or a new random
/// id, recorded as created by `actor` (the process leader who ran
/// `mops call import --as`; the core refuses anyone else). Returns the id.
pub async fn import<S: Store>(
    store: &S,
    definition: CallDefinition,
    id: Option<Uuid>,
    actor: &Actor,
) -> Result<CallId, ReportError> {
    let id = CallId::from_uuid(id.unwrap_or_else(Uuid::new_v4));
    let command = CallCommand::Create { id, definition: Box::new(definition) };
    let request = CallRequest {
        call: id,
        command: &command,
        actor,
        now: chrono::Utc::now(),
        expected_version: None,
        idempotency_key: None,
    };
    match store.execute_call(request).await {
        Ok(_) => Ok(id),
        Err(StoreError::Rejected(mops_core::TransitionError::AlreadyExists)) | Err(StoreError::Conflict { .. }) => Err(
            ReportError::Usage(format!("a call with id {id} already exists; give another --id, or none for a new one")),
        ),
        Err(StoreError::Rejected(e)) => Err(ReportError::Usage(format!("the call cannot be created: {e}"))),
        Err(e) => Err(e.into()),
    }
}
