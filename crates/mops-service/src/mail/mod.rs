//! Status mails: the outbox rows written with each transition are claimed by
//! a worker, rendered from templates in the recipient's language, and sent
//! over SMTP with lettre (or written as `.eml` files when no SMTP server is
//! configured).

mod header;
pub mod ics;
pub mod preview;
mod qp;
pub mod render;
mod transport;
mod worker;

pub use render::{CallText, Envelope, RenderError, Rendered, render, render_mail, render_with};
pub use transport::{MailSettings, Outgoing, RetryPolicy, SendFailure, Transport, TransportSettings};
pub use worker::{
    Letterhead, MailWorker, WorkerReport, boundaries, build_message, build_message_with, render_row, write_message,
};

/// The contact every mail names and sets as its `Reply-To`, as the worker
/// uses it: `MOPS_MAIL_REPLY_TO`, or else the sender (`MOPS_MAIL_FROM`).
/// Previews use it so that they show what is sent.
pub fn configured_contact() -> Result<lettre::message::Mailbox, String> {
    Ok(MailSettings::from_env()?.contact().clone())
}
