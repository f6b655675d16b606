//! Status mails: the outbox rows written with each transition are claimed by
//! a worker, rendered from templates in the recipient's language, and sent
//! over SMTP with lettre (or written as `.eml` files when no SMTP server is
//! configured).

pub mod ics;
pub mod preview;
pub mod render;
mod transport;
mod worker;

pub use render::{Envelope, RenderError, Rendered, render, render_mail};
pub use transport::{MailOptions, MailSettings, RetryPolicy, SendFailure, Transport, TransportSettings};
pub use worker::{MailWorker, WorkerReport, build_message, render_row};
