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

/// `count` inputs for the encoders' tests, each fewer than `max_pieces` of
/// `pieces` joined at random, from a fixed xorshift sequence seeded with
/// `seed`: the same inputs on every run.
#[cfg(test)]
fn random_inputs<'a>(
    seed: u64,
    count: usize,
    max_pieces: u64,
    pieces: &'a [&'a [u8]],
) -> impl Iterator<Item = Vec<u8>> + 'a {
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count).map(move |_| {
        let mut input = Vec::new();
        for _ in 0..next() % max_pieces {
            input.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]);
        }
        input
    })
}
