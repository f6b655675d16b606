#![doc = include_str!("../README.md")]

pub mod call;
pub mod domain;
mod error;
mod event;
pub mod funnel;
pub mod idea;
pub mod memory;
pub mod notify;
pub mod people;
pub mod reference;
mod stage;
pub mod table;
pub mod time;
pub mod timers;

pub use call::{Call, CallCommand, CallContext, CallDecision, CallEvent, CallState, decide_call};
pub use domain::{Language, Sek};
pub use error::{DefinitionProblem, TransitionError};
pub use event::{EVENT_SCHEMA_VERSION, Recorded};
pub use funnel::Funnel;
pub use idea::{CallTotals, Context, Decision, IdeaCommand, IdeaEvent, IdeaState, authorize, decide};
pub use notify::{Notice, NotificationIntent, Recipient};
pub use people::{Actor, ActorRef, Role};
pub use stage::{Action, CallPhase, Stage, Who};
