//! The envelope every event is recorded in: who, when, what. The "why" is a
//! field of the events that need one (every "no" carries a motivation).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::people::ActorRef;

/// The schema version written into every recorded event. Bump it when an
/// event's shape changes, and teach [`Recorded`]'s readers the old shape.
pub const EVENT_SCHEMA_VERSION: u16 = 1;

/// An event as it is recorded: the event itself, when it happened and who did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded<E> {
    /// Schema version of `event`; see [`EVENT_SCHEMA_VERSION`].
    pub v: u16,
    pub at: DateTime<Utc>,
    pub actor: ActorRef,
    pub event: E,
}

impl<E> Recorded<E> {
    pub fn new(at: DateTime<Utc>, actor: ActorRef, event: E) -> Self {
        Self { v: EVENT_SCHEMA_VERSION, at, actor, event }
    }
}
