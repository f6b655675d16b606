//! The mail worker: claims due outbox rows, renders them, sends them, and
//! records the outcome of each.
//!
//! Delivery is at least once. The window: a mail the server accepted but
//! whose row was not yet marked sent (the worker died in between) is sent
//! again when its lease lapses. On SQLite, the worker's records are not
//! flushed to the disk one by one (`store::SQLITE_BEGIN_OUTBOX`), so a power
//! cut can also undo the last few records of sent mail, and those mails go
//! again. Its Message-ID is derived from the outbox row, so a re-sent copy is
//! recognisable as the same message.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::{self, ContentTransferEncoding, ContentType, Headers};
use lettre::message::{Attachment, Body, Mailbox, Mailboxes, MessageBuilder, MultiPart, MultiPartBuilder, SinglePart};
use mops_core::IdeaState;
use mops_core::call::Call;
use mops_core::domain::{CallId, IdeaId, Language};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::render::{CallText, Envelope, Rendered, render_mail, render_with};
use super::transport::{MailSettings, Outgoing, SendFailure, Transport};
use crate::store::{OutboxRow, OutboxUpdate, Store, StoreError};

/// What a pass (or a drain) of the worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerReport {
    pub sent: usize,
    /// Transient failures, to be tried again later.
    pub retried: usize,
    /// Permanent failures (or given up): a person must look at these.
    pub failed: usize,
}

impl std::ops::AddAssign for WorkerReport {
    fn add_assign(&mut self, o: Self) {
        self.sent += o.sent;
        self.retried += o.retried;
        self.failed += o.failed;
    }
}

impl WorkerReport {
    pub fn handled(&self) -> usize {
        self.sent + self.retried + self.failed
    }

    fn count(&mut self, update: &OutboxUpdate) {
        match update {
            OutboxUpdate::Sent { .. } => self.sent += 1,
            OutboxUpdate::Retry { .. } => self.retried += 1,
            OutboxUpdate::Failed { .. } => self.failed += 1,
        }
    }
}

/// A claimed row with its message built, or with its outcome already
/// decided (its idea could not be read, or its mail cannot be built).
struct Job {
    row: OutboxRow,
    message: Result<Outgoing, OutboxUpdate>,
}

/// How long finished sends wait to be recorded together: a drain records
/// up to a batch of outcomes per transaction, or what it has after this.
const RECORD_WITHIN: std::time::Duration = std::time::Duration::from_millis(25);

/// What the mails of each call say alike, by call and language.
type CallTexts = HashMap<(CallId, Language), Arc<CallText>>;

/// A row's call and idea, shared by the rows of a batch.
type Context = (Arc<Call>, Arc<IdeaState>);

/// What the rows of a batch share: each call and idea read once, each
/// call's text worked out once.
struct BatchContext {
    calls: HashMap<CallId, Arc<Call>>,
    texts: CallTexts,
    ideas: HashMap<IdeaId, Arc<IdeaState>>,
}

/// Sends the outbox of one store through one transport.
#[derive(Debug, Clone)]
pub struct MailWorker<S> {
    store: S,
    transport: Transport,
    settings: Arc<MailSettings>,
    /// The `From` and `Reply-To` of every mail (whom it names for
    /// questions), encoded once.
    letterhead: Arc<Letterhead>,
    /// Parsed calls, kept across batches. Safe because a call's definition
    /// (all the renderer reads of it) cannot change once it has ideas, and
    /// mail exists only for ideas.
    calls: Arc<std::sync::Mutex<HashMap<CallId, Arc<Call>>>>,
    /// What the mails of a call say alike, per language, kept likewise.
    texts: Arc<std::sync::Mutex<CallTexts>>,
}

/// The Message-ID of an outbox row: stable across re-sends.
pub fn message_id(row: uuid::Uuid, from: &Mailbox) -> String {
    let mut id = Vec::with_capacity(64);
    push_message_id(&mut id, row, from);
    String::from_utf8(id).expect("a UUID and a domain are UTF-8")
}

/// Appends [`message_id`] to `out`, without a `String` between (the
/// worker writes it into every message).
fn push_message_id(out: &mut Vec<u8>, row: uuid::Uuid, from: &Mailbox) {
    out.push(b'<');
    out.extend_from_slice(row.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()).as_bytes());
    out.push(b'@');
    out.extend_from_slice(from.email.domain().as_bytes());
    out.push(b'>');
}

/// `text` with CRLF line endings, as a mail body needs them. lettre would
/// insert each CR in place, moving the rest of the text every time; one
/// pass here is linear, and the message is the same.
fn crlf(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    let mut rest = text;
    while let Some(at) = rest.find('\n') {
        let line = &rest[..at];
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push_str("\r\n");
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
    out
}

/// A text part's body, with CRLF line endings: the encoding lettre's
/// `Body::new` would choose for the text with CRLF line endings, by lettre's
/// own rules, and the same bytes. Quoted-printable, which nearly every mail
/// gets, is encoded here by [`super::qp`], which writes what lettre's
/// encoder writes, faster, and makes the line endings CRLF as it goes.
fn text_body(text: &str) -> Body {
    unless_quoted_printable(text).unwrap_or_else(|| {
        Body::dangerous_pre_encoded(super::qp::encode(text.as_bytes()), ContentTransferEncoding::QuotedPrintable)
    })
}

/// [`text_body`], unless that is quoted-printable: then `None`, and the
/// caller encodes the text (as [`write_message`] does, straight into the
/// message).
fn unless_quoted_printable(text: &str) -> Option<Body> {
    if text.is_ascii() {
        // 7bit if every line is shorter than 76; lettre decides the rest.
        return Some(Body::new(crlf(text)));
    }
    // Quoted-printable, unless more than a third of the bytes (counted with
    // CRLF line endings) would need escaping: then base64.
    let bytes = text.as_bytes();
    let escaped = escaped_bytes(bytes);
    // Each lone LF is among the escaped bytes, so there are at most twice
    // as many to escape with CRLF line endings: few enough, for nearly every
    // text, to need no count of the lone LFs.
    if 2 * escaped <= text.len() / 3 {
        return None;
    }
    let lone_lf = usize::from(bytes.first() == Some(&b'\n'))
        + bytes[1..].iter().zip(bytes).filter(|&(&b, &previous)| b == b'\n' && previous != b'\r').count();
    (escaped + lone_lf > (text.len() + lone_lf) / 3).then(|| Body::new(crlf(text)))
}

/// How many of `bytes` quoted-printable escapes (or breaks the line at):
/// all but printable ASCII and tab. Counted in one-byte lanes, 255 bytes at
/// a time, which the compiler does sixteen or more bytes per step.
fn escaped_bytes(bytes: &[u8]) -> usize {
    bytes
        .chunks(255)
        .map(|chunk| {
            let n = chunk.iter().fold(0u8, |n, &b| n + u8::from(b != b'\t' && !(b' '..=b'~').contains(&b)));
            usize::from(n)
        })
        .sum()
}

/// The longest line a 7bit body may have, in octets (RFC 5322, 2.1.1).
const MAX_7BIT_LINE: usize = 998;

/// Writes `c` as a decimal character reference (`&#228;`). By hand: this
/// runs for every letter å, ä and ö of every mail, and `write!` costs
/// several times as much.
fn push_reference(out: &mut Vec<u8>, c: char) {
    let mut n = u32::from(c);
    if (100..1000).contains(&n) {
        // Most letters of Swedish and the other Latin scripts (`&#229;`),
        // written as one piece of known length.
        let digit = |d: u32| b'0' + (d % 10) as u8;
        out.extend_from_slice(&[b'&', b'#', digit(n / 100), digit(n / 10), digit(n), b';']);
        return;
    }
    let mut digits = [0u8; 7];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(b"&#");
    out.extend_from_slice(&digits[at..]);
    out.push(b';');
}

/// Whether `b` is copied into a 7bit HTML part as it is: ASCII other than
/// the line-ending and NUL bytes (and the controls below CR, looked at one
/// by one).
fn plain_ascii(b: u8) -> bool {
    (0x0E..0x80).contains(&b)
}

/// [`plain_ascii`] for eight bytes at once.
fn all_plain_ascii(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = w.wrapping_sub(ONES * 0x0E) & !w & HIGH;
    (below | w & HIGH) == 0
}

/// `html` in ASCII with CRLF line endings, in one pass: every character
/// outside ASCII written as a numeric character reference (`ä` as
/// `&#228;`), which any HTML reader shows as the character. Also says
/// whether the text may go as 7bit: no line longer than 7bit allows, and no
/// CR (but before a LF) or NUL.
fn ascii_html(html: &str) -> (String, bool) {
    let (out, seven_bit) = ascii_html_into(html, Vec::with_capacity(html.len() + html.len() / 8));
    (String::from_utf8(out).expect("ASCII"), seven_bit)
}

/// [`ascii_html`], appending to `out` (which ends at the start of a line,
/// or is empty) and returning it.
fn ascii_html_into(html: &str, mut out: Vec<u8>) -> (Vec<u8>, bool) {
    let bytes = html.as_bytes();
    out.reserve(html.len() + html.len() / 8);
    let (mut line_start, mut i, mut seven_bit) = (out.len(), 0, true);
    loop {
        // A run copied as it is, found eight bytes at a time.
        let start = i;
        while i + 8 <= bytes.len() && all_plain_ascii(u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes")))
        {
            i += 8;
        }
        while i < bytes.len() && plain_ascii(bytes[i]) {
            i += 1;
        }
        out.extend_from_slice(&bytes[start..i]);
        let Some(&b) = bytes.get(i) else { break };
        match b {
            b'\n' => {
                seven_bit &= out.len() - line_start <= MAX_7BIT_LINE;
                out.extend_from_slice(b"\r\n");
                line_start = out.len();
                i += 1;
            }
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => i += 1,
            _ if b.is_ascii() => {
                seven_bit &= !matches!(b, b'\r' | b'\0');
                out.push(b);
                i += 1;
            }
            _ => {
                let c = html[i..].chars().next().expect("a character at a char boundary");
                push_reference(&mut out, c);
                i += c.len_utf8();
            }
        }
    }
    seven_bit &= out.len() - line_start <= MAX_7BIT_LINE;
    (out, seven_bit)
}

/// The HTML part's body. Written as ASCII ([`ascii_html`]) with CRLF line
/// endings, it goes as 7bit: no transfer encoding for a mail client to undo,
/// and nothing for the worker to encode. If a line is longer than 7bit
/// allows (a long paragraph someone typed), or a CR or NUL stands in it, the
/// encoding is what lettre would choose (quoted-printable for a long line).
fn html_body(html: &str) -> Body {
    match ascii_html(html) {
        (ascii, true) => Body::dangerous_pre_encoded(ascii.into_bytes(), ContentTransferEncoding::SevenBit),
        (ascii, false) => text_body(&ascii),
    }
}

/// What every mail from one sender has alike: its `From` and `Reply-To`
/// headers, encoded once instead of for every mail.
#[derive(Debug, Clone)]
pub struct Letterhead {
    from: Mailbox,
    reply_to: Mailbox,
    headers: MessageBuilder,
    /// The same two headers, formatted as lettre formats them.
    head: String,
}

impl Letterhead {
    /// Mail from `from`; replies go to `reply_to`, the contact the mails name.
    pub fn new(from: &Mailbox, reply_to: &Mailbox) -> Self {
        let headers = Message::builder().from(from.clone()).reply_to(reply_to.clone());
        let mut head = Headers::new();
        head.set(header::From::from(Mailboxes::from(from.clone())));
        head.set(header::ReplyTo::from(Mailboxes::from(reply_to.clone())));
        Self { from: from.clone(), reply_to: reply_to.clone(), headers, head: head.to_string() }
    }

    /// The envelope of a mail to `to`. Given to lettre, it need not parse
    /// the addresses back out of the headers.
    fn envelope(&self, to: &Mailbox) -> Result<lettre::address::Envelope, String> {
        lettre::address::Envelope::new(Some(self.from.email.clone()), vec![to.email.clone()]).map_err(|e| e.to_string())
    }
}

/// The content type of the invitations' `.ics`, parsed once.
fn calendar_type() -> ContentType {
    static CALENDAR: OnceLock<ContentType> = OnceLock::new();
    CALENDAR
        .get_or_init(|| {
            ContentType::parse("text/calendar; charset=utf-8; method=PUBLISH").expect("a valid calendar content type")
        })
        .clone()
}

/// Builds the MIME message: multipart/alternative (text, HTML), inside
/// multipart/mixed with the `.ics` when there is an invitation. Boundaries
/// are random and the date is now.
pub fn build_message(
    row: uuid::Uuid,
    to: &Mailbox,
    letterhead: &Letterhead,
    rendered: Rendered,
) -> Result<Message, String> {
    assemble(row, to, letterhead, rendered, None)
}

/// [`build_message`] with these boundaries (multipart/alternative's, then
/// multipart/mixed's) and this date: the message [`write_message`] writes.
pub fn build_message_with(
    row: uuid::Uuid,
    to: &Mailbox,
    letterhead: &Letterhead,
    rendered: Rendered,
    boundaries: [&str; 2],
    date: SystemTime,
) -> Result<Message, String> {
    assemble(row, to, letterhead, rendered, Some((boundaries, date)))
}

fn assemble(
    row: uuid::Uuid,
    to: &Mailbox,
    letterhead: &Letterhead,
    rendered: Rendered,
    fixed: Option<([&str; 2], SystemTime)>,
) -> Result<Message, String> {
    let multipart = |kind: fn() -> MultiPartBuilder, boundary: Option<&str>| match boundary {
        Some(b) => kind().boundary(b),
        None => kind(),
    };
    let alternative = multipart(MultiPart::alternative, fixed.map(|f| f.0[0]))
        .singlepart(SinglePart::plain(text_body(&rendered.text)))
        .singlepart(SinglePart::html(html_body(&rendered.html)));
    let from = &letterhead.from;
    let envelope = letterhead.envelope(to)?;
    let mut builder = letterhead
        .headers
        .clone()
        .envelope(envelope)
        .to(to.clone())
        .subject(rendered.subject)
        .message_id(Some(message_id(row, from)));
    if let Some((_, date)) = fixed {
        // Where lettre puts them when it adds them itself.
        builder = builder.header(header::MIME_VERSION_1_0).date(date);
    }
    let message = match &rendered.ics {
        None => builder.multipart(alternative),
        Some(ics) => {
            let attachment: SinglePart =
                Attachment::new("inbjudan.ics".to_owned()).body(text_body(ics), calendar_type());
            builder.multipart(
                multipart(MultiPart::mixed, fixed.map(|f| f.0[1])).multipart(alternative).singlepart(attachment),
            )
        }
    };
    message.map_err(|e| e.to_string())
}

/// The boundaries [`write_message`] gives its multiparts: `=_` and a
/// letter, then the outbox row's id, 40 characters as lettre's random ones.
/// Quoted-printable and base64 bodies cannot hold `=_`; a 7bit body is
/// looked at.
pub fn boundaries(row: uuid::Uuid) -> [String; 2] {
    let id = row.simple();
    [format!("=_mops_a{id}"), format!("=_mops_m{id}")]
}

/// What [`write_message`] writes alike for every mail: the heads of the
/// parts and the multiparts' `Content-Type` headers, as lettre formats them,
/// worked out once by lettre itself.
struct PartHeads {
    /// By transfer encoding ([`encoding_index`]): the plain-text part's head,
    /// the HTML part's, and the invitation attachment's.
    plain: [String; 5],
    html: [String; 5],
    calendar: [String; 5],
    /// The `Content-Type` header of multipart/alternative and of
    /// multipart/mixed, before and after the boundary.
    alternative: (String, String),
    mixed: (String, String),
}

/// `encoding`'s place in [`PartHeads`]' arrays.
fn encoding_index(encoding: ContentTransferEncoding) -> usize {
    match encoding {
        ContentTransferEncoding::SevenBit => 0,
        ContentTransferEncoding::QuotedPrintable => 1,
        ContentTransferEncoding::Base64 => 2,
        ContentTransferEncoding::EightBit => 3,
        ContentTransferEncoding::Binary => 4,
    }
}

const ENCODINGS: [ContentTransferEncoding; 5] = [
    ContentTransferEncoding::SevenBit,
    ContentTransferEncoding::QuotedPrintable,
    ContentTransferEncoding::Base64,
    ContentTransferEncoding::EightBit,
    ContentTransferEncoding::Binary,
];

fn part_heads() -> &'static PartHeads {
    static HEADS: OnceLock<PartHeads> = OnceLock::new();
    HEADS.get_or_init(|| {
        // A part with an empty body formats as its head, a blank line, and
        // the CRLF that ends the body: the head is all but that CRLF.
        let head = |part: SinglePart| {
            let mut text = String::from_utf8(part.formatted()).expect("lettre writes part heads in ASCII");
            text.truncate(text.len() - 2);
            text
        };
        let empty = |encoding| Body::dangerous_pre_encoded(Vec::new(), encoding);
        let heads = |part: &dyn Fn(Body) -> SinglePart| ENCODINGS.map(|encoding| head(part(empty(encoding))));
        // A multipart's `Content-Type`, split around a stand-in boundary
        // as long as the real ones (folding depends on the length only).
        let content_type = |multipart: MultiPartBuilder| {
            let stand_in = "B".repeat(40);
            let text = multipart.boundary(stand_in.as_str()).singlepart(SinglePart::plain(String::new())).formatted();
            let text = String::from_utf8(text).expect("lettre writes multipart heads in ASCII");
            let end = text.find("\r\n\r\n").expect("a blank line after the head") + 2;
            let at = text.find(&stand_in).expect("the boundary in the head");
            (text[..at].to_owned(), text[at + stand_in.len()..end].to_owned())
        };
        PartHeads {
            plain: heads(&SinglePart::plain),
            html: heads(&SinglePart::html),
            calendar: heads(&|body| Attachment::new("inbjudan.ics".to_owned()).body(body, calendar_type())),
            alternative: content_type(MultiPart::alternative()),
            mixed: content_type(MultiPart::mixed()),
        }
    })
}

/// The `Date` header line for `date`, as lettre formats it, kept for the
/// second it names: a worker writes many mails a second.
fn date_header(date: SystemTime) -> String {
    thread_local! {
        static LAST: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    let format = |date| {
        let mut headers = Headers::new();
        headers.set(header::Date::new(date));
        headers.to_string()
    };
    let Ok(since_epoch) = date.duration_since(SystemTime::UNIX_EPOCH) else { return format(date) };
    LAST.with_borrow_mut(|(kept, line)| {
        if *kept != since_epoch.as_secs() {
            *line = format(date);
            *kept = since_epoch.as_secs();
        }
        line.clone()
    })
}

/// Writes the message [`build_message`] builds, byte for byte as lettre
/// would format it (with these boundaries and `date`), straight into one
/// buffer, the parts' bodies encoded into it as they are written. The
/// headers that need encoding are encoded as lettre encodes them: `Date` by
/// lettre, `To` and `Subject` by `mail/header.rs` (lettre's rules, faster);
/// the rest is what lettre writes for every mail, worked out once.
/// Building the message with lettre's builder and formatting it cost more
/// than rendering the templates.
///
/// Falls back to lettre's builder (random boundaries) in the one case the
/// row's boundaries might not be usable: when a part's text holds the
/// boundaries' marker `=_mops_`. Only a 7bit body could carry it into the
/// message as it is, but the text is simpler to look at than the body.
pub fn write_message(
    row: uuid::Uuid,
    to: &Mailbox,
    letterhead: &Letterhead,
    rendered: Rendered,
    date: SystemTime,
) -> Result<Outgoing, String> {
    const MARKER: &str = "=_mops_";
    let from = &letterhead.from;
    let envelope = letterhead.envelope(to)?;
    if rendered.text.contains(MARKER)
        || rendered.html.contains(MARKER)
        || rendered.ics.as_deref().is_some_and(|ics| ics.contains(MARKER))
    {
        return build_message(row, to, letterhead, rendered).map(|m| Outgoing::from(&m));
    }
    let [alternative, mixed] = boundaries(row);

    let heads = part_heads();
    // Room for the bodies at their largest (quoted-printable may take three
    // bytes for one, HTML's references six for two or three), so that the
    // buffer is never moved as it grows: a few KiB more than needed.
    let encoded = |text: &str| 3 * text.len() + 256;
    let size = letterhead.head.len()
        + 2048
        + encoded(&rendered.text)
        + encoded(&rendered.html)
        + rendered.ics.as_deref().map_or(0, |ics| encoded(ics) + 512);
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(letterhead.head.as_bytes());
    super::header::write_mailbox_header(&mut out, "To", to.name.as_deref(), to.email.as_ref());
    super::header::write_text_header(&mut out, "Subject", &rendered.subject);
    // ASCII without spaces: lettre's encoder writes these as they are.
    out.extend_from_slice(b"Message-ID: ");
    push_message_id(&mut out, row, from);
    out.extend_from_slice(b"\r\nMIME-Version: 1.0\r\n");
    out.extend_from_slice(date_header(date).as_bytes());
    let boundary_line = |out: &mut Vec<u8>, boundary: &str| {
        out.extend_from_slice(b"--");
        out.extend_from_slice(boundary.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    let closing_line = |out: &mut Vec<u8>, boundary: &str| {
        out.extend_from_slice(b"--");
        out.extend_from_slice(boundary.as_bytes());
        out.extend_from_slice(b"--\r\n");
    };
    let content_type = |out: &mut Vec<u8>, (before, after): &(String, String), boundary: &str| {
        out.extend_from_slice(before.as_bytes());
        out.extend_from_slice(boundary.as_bytes());
        out.extend_from_slice(after.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    if rendered.ics.is_some() {
        content_type(&mut out, &heads.mixed, &mixed);
        boundary_line(&mut out, &mixed);
    }
    content_type(&mut out, &heads.alternative, &alternative);
    boundary_line(&mut out, &alternative);
    out = text_part(out, &heads.plain, &rendered.text);
    boundary_line(&mut out, &alternative);
    out = html_part(out, &heads.html, &rendered.html);
    closing_line(&mut out, &alternative);
    if let Some(ics) = &rendered.ics {
        boundary_line(&mut out, &mixed);
        out = text_part(out, &heads.calendar, ics);
        closing_line(&mut out, &mixed);
    }
    Ok(Outgoing { envelope, bytes: out })
}

/// Appends a part with `heads` (by encoding) holding `text` as
/// [`text_body`] encodes it, quoted-printable straight into `out`.
fn text_part(mut out: Vec<u8>, heads: &[String; 5], text: &str) -> Vec<u8> {
    match unless_quoted_printable(text) {
        None => {
            out.extend_from_slice(heads[encoding_index(ContentTransferEncoding::QuotedPrintable)].as_bytes());
            out = super::qp::encode_into(text.as_bytes(), out);
        }
        Some(body) => {
            out.extend_from_slice(heads[encoding_index(body.encoding())].as_bytes());
            out.extend_from_slice(body.as_ref());
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Appends a part with `heads` (by encoding) holding `html` as
/// [`html_body`] encodes it, 7bit straight into `out`.
fn html_part(mut out: Vec<u8>, heads: &[String; 5], html: &str) -> Vec<u8> {
    let at = out.len();
    out.extend_from_slice(heads[encoding_index(ContentTransferEncoding::SevenBit)].as_bytes());
    let (mut out, seven_bit) = ascii_html_into(html, out);
    if !seven_bit {
        out.truncate(at);
        let body = html_body(html);
        out.extend_from_slice(heads[encoding_index(body.encoding())].as_bytes());
        out.extend_from_slice(body.as_ref());
    }
    out.extend_from_slice(b"\r\n");
    out
}

impl<S: Store + Clone + 'static> MailWorker<S> {
    /// A worker with the transport `settings` name.
    pub fn new(store: S, settings: MailSettings) -> Result<Self, String> {
        let transport = Transport::new(&settings, settings.concurrency as u32)?;
        Ok(Self::with_transport(store, transport, settings))
    }

    /// A worker sending through `transport`.
    pub fn with_transport(store: S, transport: Transport, settings: MailSettings) -> Self {
        let letterhead = Arc::new(Letterhead::new(&settings.from, settings.contact()));
        Self {
            store,
            transport,
            settings: Arc::new(settings),
            letterhead,
            calls: Arc::default(),
            texts: Arc::default(),
        }
    }

    /// Whom the mails name for questions, and their `Reply-To`.
    pub fn reply_to(&self) -> &Mailbox {
        &self.letterhead.reply_to
    }

    pub fn settings(&self) -> &MailSettings {
        &self.settings
    }

    /// Renders one row as it would be sent (the preview).
    pub async fn render_row(&self, row: &OutboxRow) -> Result<Rendered, String> {
        let (call, idea) = self.context(row.call_id, row.idea_id).await.map_err(|e| e.to_string())?;
        render_row(row, &idea, &call, self.reply_to()).map_err(|e| e.to_string())
    }

    async fn context(&self, call: CallId, idea: IdeaId) -> Result<(Call, IdeaState), StoreError> {
        Ok((self.load_call(call).await?, self.load_idea(idea).await?))
    }

    async fn load_call(&self, call: CallId) -> Result<Call, StoreError> {
        let call_state =
            self.store.call(call).await?.ok_or(StoreError::NotFound { what: "call", id: *call.as_uuid() })?;
        call_state.state.call().cloned().ok_or_else(|| StoreError::Corrupt("a call row without a call".into()))
    }

    async fn load_idea(&self, idea: IdeaId) -> Result<IdeaState, StoreError> {
        Ok(self.store.idea(idea).await?.ok_or(StoreError::NotFound { what: "idea", id: *idea.as_uuid() })?.state)
    }

    /// A row's call and idea, each read at most once per batch.
    async fn cached_context(
        &self,
        calls: &mut HashMap<CallId, Arc<Call>>,
        ideas: &mut HashMap<IdeaId, Arc<IdeaState>>,
        call: CallId,
        idea: Option<IdeaId>,
    ) -> Result<Context, StoreError> {
        let call = match calls.get(&call) {
            Some(c) => c.clone(),
            None => {
                let loaded = Arc::new(self.load_call(call).await?);
                calls.insert(call, loaded.clone());
                loaded
            }
        };
        let Some(idea) = idea else {
            // The intent carries every fact the mail states.
            return Ok((call, Arc::new(IdeaState::New)));
        };
        let idea = match ideas.get(&idea) {
            Some(i) => i.clone(),
            None => {
                let loaded = Arc::new(self.load_idea(idea).await?);
                ideas.insert(idea, loaded.clone());
                loaded
            }
        };
        Ok((call, idea))
    }

    /// One pass: claim a batch of due rows, send them concurrently, record
    /// the outcomes. Returns what happened to the batch.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<WorkerReport, StoreError> {
        match self.send_batch(now).await? {
            None => Ok(WorkerReport::default()),
            Some((report, updates)) => {
                self.store.record_outbox(&updates, Utc::now()).await?;
                Ok(report)
            }
        }
    }

    /// Claims a batch and sends it; returns what to record, or `None` when
    /// nothing was due.
    async fn send_batch(&self, now: DateTime<Utc>) -> Result<Option<(WorkerReport, Vec<OutboxUpdate>)>, StoreError> {
        let rows = self.store.claim_outbox(now, self.settings.lease, self.settings.batch).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        self.send_rows(rows, now).await.map(Some)
    }

    /// Reads what claimed rows need (each call and idea once) and builds
    /// their messages.
    async fn prepare(&self, rows: Vec<OutboxRow>, now: DateTime<Utc>) -> Vec<Job> {
        let mut jobs = Vec::with_capacity(rows.len());
        self.prepare_each(rows, now, |job| jobs.push(job)).await;
        jobs
    }

    /// Reads what `rows` need (each call once) and hands each built job to
    /// `each` as soon as it is built.
    async fn prepare_each(&self, rows: Vec<OutboxRow>, now: DateTime<Utc>, mut each: impl FnMut(Job)) {
        let mut batch = self.batch_context();
        for row in rows {
            each(self.prepare_one(&mut batch, row, now).await);
        }
        self.keep(batch);
    }

    /// Reads what `rows` need and builds their messages, sending nothing;
    /// returns how many were built. For the benchmark's measure of building
    /// alone. Each message is dropped once built, as a drain holds only the
    /// few in flight: holding all of them would measure the allocator
    /// finding fresh pages rather than the building.
    pub async fn build_all(&self, rows: Vec<OutboxRow>, now: DateTime<Utc>) -> usize {
        let mut built = 0;
        self.prepare_each(rows, now, |job| built += usize::from(job.message.is_ok())).await;
        built
    }

    /// A fresh batch's context, with the calls and texts kept so far.
    fn batch_context(&self) -> BatchContext {
        BatchContext {
            calls: self.calls.lock().map(|c| c.clone()).unwrap_or_default(),
            texts: self.texts.lock().map(|t| t.clone()).unwrap_or_default(),
            ideas: HashMap::new(),
        }
    }

    /// Keeps a batch's calls and texts for the batches to come.
    fn keep(&self, batch: BatchContext) {
        if let Ok(mut cache) = self.calls.lock() {
            cache.extend(batch.calls);
        }
        if let Ok(mut cache) = self.texts.lock() {
            cache.extend(batch.texts);
        }
    }

    /// Reads what `row` needs (through `batch`) and builds its message.
    async fn prepare_one(&self, batch: &mut BatchContext, row: OutboxRow, now: DateTime<Utc>) -> Job {
        // Rows written before intents carried the idea's title need the
        // idea itself; newer rows carry all they state.
        let idea = row.intent.idea_title.is_none().then_some(row.idea_id);
        let message = match self.cached_context(&mut batch.calls, &mut batch.ideas, row.call_id, idea).await {
            Ok((call, idea)) => match self.call_text(&mut batch.texts, row.call_id, &call, row.intent.to.language) {
                Ok(text) => build(&self.letterhead, &row, &idea, &text),
                Err(e) => {
                    tracing::error!(outbox.id = %row.id, error = %e, "cannot build a mail");
                    Err(OutboxUpdate::Failed { id: row.id, error: format!("cannot build the mail: {e}") })
                }
            },
            Err(e) => {
                tracing::error!(outbox.id = %row.id, error = %e, "cannot load the idea of a mail");
                Err(OutboxUpdate::Retry {
                    id: row.id,
                    at: now + chrono::Duration::from_std(self.settings.retry.delay(row.attempts)).unwrap_or_default(),
                    error: "the idea or call could not be read".into(),
                })
            }
        };
        Job { row, message }
    }

    /// The text of `call` in `lang` from `texts`, worked out (naming this
    /// worker's contact) and kept there if missing.
    fn call_text(
        &self,
        texts: &mut CallTexts,
        id: CallId,
        call: &Call,
        lang: Language,
    ) -> Result<Arc<CallText>, super::RenderError> {
        if let Some(text) = texts.get(&(id, lang)) {
            return Ok(text.clone());
        }
        let text = Arc::new(CallText::new(call, lang, Some(self.reply_to().email.as_ref()))?);
        texts.insert((id, lang), text.clone());
        Ok(text)
    }

    /// Sends claimed rows; returns what to record.
    async fn send_rows(
        &self,
        rows: Vec<OutboxRow>,
        now: DateTime<Utc>,
    ) -> Result<(WorkerReport, Vec<OutboxUpdate>), StoreError> {
        let mut set = JoinSet::new();
        let mut updates = Vec::new();
        let mut report = WorkerReport::default();
        let mut pending = self.prepare(rows, now).await.into_iter();
        loop {
            while set.len() < self.settings.concurrency.max(1) {
                let Some(job) = pending.next() else { break };
                if let Some(update) = self.start(&mut set, job, now) {
                    report.count(&update);
                    updates.push(update);
                }
            }
            let Some(done) = set.join_next().await else { break };
            let update = done.map_err(|e| StoreError::Corrupt(format!("a mail task panicked: {e}")))?;
            report.count(&update);
            updates.push(update);
        }
        Ok((report, updates))
    }

    /// Starts sending a job's message in `set`; a job whose outcome is
    /// already decided (nothing to send) returns it instead.
    fn start(&self, set: &mut JoinSet<OutboxUpdate>, job: Job, now: DateTime<Utc>) -> Option<OutboxUpdate> {
        match job.message {
            Ok(message) => {
                let (transport, settings) = (self.transport.clone(), self.settings.clone());
                set.spawn(async move { send(&transport, &settings, &job.row, message, now).await });
                None
            }
            Err(update) => Some(update),
        }
    }

    /// Passes until nothing is due at `now`: every mail that can go out now
    /// has gone out; what failed transiently waits for its next attempt.
    /// Each claim after the first searches from where the last one ended, so
    /// a row that becomes claimable behind it meanwhile (a lease of another
    /// worker lapsing, rows another worker gave back) waits for the next
    /// drain.
    ///
    /// Three stages run side by side, so that neither the database nor
    /// building the mails stalls the sends: a producer asks for batches (one
    /// ahead) and builds their messages; this task keeps `concurrency` sends
    /// going; a recorder (`keep_books`) writes the outcomes and makes the
    /// producer's claims, each claim with the outcomes that came since the
    /// last write, in one transaction.
    /// A row stays claimed (leased) until its outcome is recorded, so no
    /// claim picks up a row still in flight.
    ///
    /// If recording fails, the drain stops: the rows it claimed but did not
    /// send are given back at once, and the rows it sent but could not record
    /// stay leased, to be sent again when the lease lapses (the at-least-once
    /// window).
    pub async fn drain(&self, now: DateTime<Utc>) -> Result<WorkerReport, StoreError> {
        self.drain_with(now, &|_| {}).await
    }

    /// As [`drain`](Self::drain), telling `progress` what has been handled
    /// so far after each mail (for a progress bar).
    pub async fn drain_with(
        &self,
        now: DateTime<Utc>,
        progress: &(dyn Fn(WorkerReport) + Send + Sync),
    ) -> Result<WorkerReport, StoreError> {
        let batch = usize::try_from(self.settings.batch).unwrap_or(1).max(1);
        let concurrency = self.settings.concurrency.max(1);
        // Room for as many built messages as are being sent: enough that a
        // send never waits for a build, few enough to stay in the caches.
        let (jobs_tx, mut jobs) = mpsc::channel::<Job>(concurrency);
        let (outcomes, outcomes_rx) = mpsc::unbounded_channel::<OutboxUpdate>();
        let (claims, claims_rx) = mpsc::unbounded_channel::<ClaimRequest>();
        let producer = tokio::spawn(self.clone().produce(now, jobs_tx, claims));
        let books = Books { now, lease: self.settings.lease, limit: self.settings.batch, batch };
        let recorder = tokio::spawn(keep_books(self.store.clone(), outcomes_rx, claims_rx, books));
        let mut sending = JoinSet::new();
        let mut total = WorkerReport::default();
        let mut panicked = None;
        let mut more = true;
        // Counts an outcome, tells `progress`, and hands it to the recorder.
        let mut handled = |update: OutboxUpdate| {
            total.count(&update);
            progress(total);
            let _ = outcomes.send(update);
        };
        // The recorder only ends early on an error; then no new mail goes out.
        while !recorder.is_finished() {
            tokio::select! {
                Some(done) = sending.join_next(), if !sending.is_empty() => match done {
                    Ok(update) => handled(update),
                    Err(e) => panicked = Some(e),
                },
                job = jobs.recv(), if more && sending.len() < concurrency => match job {
                    Some(job) => {
                        if let Some(update) = self.start(&mut sending, job, now) {
                            handled(update);
                        }
                    }
                    None => more = false,
                },
                else => break,
            }
        }
        // Mails already handed to the server finish; their outcomes are
        // recorded if the recorder still can.
        while let Some(done) = sending.join_next().await {
            match done {
                Ok(update) => handled(update),
                Err(e) => panicked = Some(e),
            }
        }
        // What was built but not sent goes back, with what the producer
        // still holds.
        jobs.close();
        let mut unsent = Vec::new();
        while let Some(job) = jobs.recv().await {
            unsent.push(job.row.id);
        }
        let produced = producer.await;
        drop(outcomes);
        let recorded = recorder.await;
        if let Ok(Ok(held)) = &produced {
            unsent.extend(held);
        }
        if !unsent.is_empty() {
            match self.store.release_outbox(&unsent).await {
                Ok(n) => tracing::info!(released = n, "gave back mails claimed but not sent"),
                Err(e) => {
                    tracing::warn!(error = %e, rows = unsent.len(), "cannot give back claimed mails; they wait for their lease")
                }
            }
        }
        let panic = |what: &str, e: tokio::task::JoinError| StoreError::Corrupt(format!("{what} panicked: {e}"));
        recorded.map_err(|e| panic("recording mail outcomes", e))??;
        produced.map_err(|e| panic("claiming mail", e))??;
        if let Some(e) = panicked {
            return Err(panic("a mail task", e));
        }
        Ok(total)
    }

    /// The drain's producer: claims batch after batch (the next claimed while
    /// the current one is built), builds the messages and hands them on. Ends
    /// when nothing is due; returns the rows it claimed but could not hand on
    /// because the drain stopped taking them. The claims are made by the
    /// recorder ([`keep_books`]), which records what has been sent in the
    /// same transaction.
    async fn produce(
        self,
        now: DateTime<Utc>,
        jobs: mpsc::Sender<Job>,
        claims: mpsc::UnboundedSender<ClaimRequest>,
    ) -> Result<Vec<uuid::Uuid>, StoreError> {
        // Each claim searches from where the last one ended (the rows come
        // in due order): the rows before it are in flight or done.
        let claim = |from: Option<DateTime<Utc>>| {
            let (reply, claimed) = oneshot::channel();
            // If the recorder has stopped, the reply never comes: `claimed`
            // says so.
            let _ = claims.send(ClaimRequest { from, reply });
            claimed
        };
        let claimed = |claimed: oneshot::Receiver<Result<Vec<OutboxRow>, StoreError>>| async move {
            claimed.await.map_err(|_| StoreError::Corrupt("the mail worker's recorder stopped".into()))?
        };
        let mut claiming = claim(None);
        loop {
            let rows = claimed(claiming).await?;
            let Some(last) = rows.last() else { return Ok(Vec::new()) };
            claiming = claim(Some(last.next_attempt_at));
            // Each message is built when there is room for it, just before
            // it is sent: a few messages in flight rather than a batch, so
            // what is sent is still in the CPU's caches.
            let mut batch = self.batch_context();
            let mut rows = rows.into_iter();
            while let Some(row) = rows.next() {
                let job = self.prepare_one(&mut batch, row, now).await;
                if let Err(mpsc::error::SendError(job)) = jobs.send(job).await {
                    let mut held: Vec<uuid::Uuid> = std::iter::once(job.row.id).chain(rows.map(|r| r.id)).collect();
                    held.extend(claimed(claiming).await.unwrap_or_default().iter().map(|r| r.id));
                    return Ok(held);
                }
            }
            self.keep(batch);
        }
    }
}

/// A request of the drain's producer for its next batch: the rows due no
/// earlier than `from`.
struct ClaimRequest {
    from: Option<DateTime<Utc>>,
    reply: oneshot::Sender<Result<Vec<OutboxRow>, StoreError>>,
}

/// What the drain's recorder claims with, and how many outcomes it records
/// at once.
#[derive(Debug, Clone, Copy)]
struct Books {
    /// The drain's time: rows due by then are claimed.
    now: DateTime<Utc>,
    lease: std::time::Duration,
    /// Rows per claim.
    limit: i64,
    /// Outcomes per transaction once the producer has stopped claiming.
    batch: usize,
}

/// The drain's recorder: writes the outcomes of the sends, and makes the
/// producer's claims. Each claim records the outcomes that came since the
/// last write, in its transaction: one commit per batch rather than two.
/// Outcomes wait at most [`RECORD_WITHIN`] for a claim (and are then
/// written on their own), and no more than two batches of them wait; once
/// the producer has stopped claiming, they are written a batch at a time.
/// Stops at the first error; a claim then waiting is told so.
async fn keep_books<S: Store>(
    store: S,
    mut outcomes: mpsc::UnboundedReceiver<OutboxUpdate>,
    mut claims: mpsc::UnboundedReceiver<ClaimRequest>,
    books: Books,
) -> Result<(), StoreError> {
    let most = 2 * books.batch;
    let mut updates = Vec::with_capacity(most);
    // One timer, set when the first outcome of a write comes, and running
    // while outcomes wait: made anew on every pass, it was registered anew
    // for every outcome.
    let timer = tokio::time::sleep(std::time::Duration::ZERO);
    tokio::pin!(timer);
    let (mut claiming, mut sending) = (true, true);
    loop {
        let room = most.saturating_sub(updates.len());
        let mut due = false;
        tokio::select! {
            request = claims.recv(), if claiming => match request {
                Some(ClaimRequest { from, reply }) => {
                    let claimed = store
                        .record_and_claim_outbox(&updates, Utc::now(), books.now, from, books.lease, books.limit)
                        .await;
                    match claimed {
                        Ok(rows) => {
                            updates.clear();
                            let _ = reply.send(Ok(rows));
                        }
                        Err(e) => {
                            let _ = reply.send(Err(StoreError::Corrupt("recording sent mail and claiming more failed".into())));
                            return Err(e);
                        }
                    }
                }
                None => claiming = false,
            },
            received = outcomes.recv_many(&mut updates, room.max(1)), if sending && room > 0 => {
                if received == 0 {
                    sending = false;
                } else if updates.len() == received {
                    // The first outcome of a write.
                    timer.as_mut().reset(tokio::time::Instant::now() + RECORD_WITHIN);
                }
            },
            () = &mut timer, if !updates.is_empty() => due = true,
            else => break,
        }
        // Written on their own: when they have waited long enough, when
        // enough wait, or when no more will come.
        let full = if claiming { most } else { books.batch };
        if due || updates.len() >= full || (!sending && !updates.is_empty()) {
            store.record_outbox(&updates, Utc::now()).await?;
            updates.clear();
        }
    }
    Ok(())
}

/// Renders `row` as the worker sends it: its invitation stamped with the
/// time the row was queued, and `reply_to` named as the contact.
pub fn render_row(
    row: &OutboxRow,
    idea: &IdeaState,
    call: &Call,
    reply_to: &Mailbox,
) -> Result<Rendered, super::RenderError> {
    let uid = row.id.to_string();
    let contact = reply_to.email.to_string();
    render_mail(&row.intent, idea, call, &Envelope { uid: &uid, queued_at: row.created_at, contact: Some(&contact) })
}

/// Renders and builds one row's message, or says why it cannot be sent.
fn build(
    letterhead: &Letterhead,
    row: &OutboxRow,
    idea: &IdeaState,
    text: &CallText,
) -> Result<Outgoing, OutboxUpdate> {
    let to = match row.intent.to.email.as_str().parse::<lettre::Address>() {
        Ok(address) => Mailbox::new(Some(row.intent.to.name.to_string()), address),
        Err(e) => return Err(OutboxUpdate::Failed { id: row.id, error: format!("invalid recipient address: {e}") }),
    };
    render_with(&row.intent, idea, text, &row.id.to_string(), row.created_at)
        .map_err(|e| e.to_string())
        .and_then(|rendered| write_message(row.id, &to, letterhead, rendered, SystemTime::now()))
        .map_err(|e| {
            tracing::error!(outbox.id = %row.id, error = %e, "cannot build a mail");
            OutboxUpdate::Failed { id: row.id, error: format!("cannot build the mail: {e}") }
        })
}

/// Sends one row's message; says what to record.
async fn send(
    transport: &Transport,
    settings: &MailSettings,
    row: &OutboxRow,
    message: Outgoing,
    now: DateTime<Utc>,
) -> OutboxUpdate {
    match transport.send_outgoing(row.id, &message).await {
        Ok(reply) => OutboxUpdate::Sent { id: row.id, reply },
        Err(SendFailure { transient: true, message }) => {
            let waited = now - row.created_at;
            let give_up = chrono::Duration::from_std(settings.retry.give_up).unwrap_or(chrono::Duration::MAX);
            if waited >= give_up {
                tracing::warn!(outbox.id = %row.id, attempts = row.attempts, "giving up on a mail");
                OutboxUpdate::Failed {
                    id: row.id,
                    error: format!("gave up after {} attempts: {message}", row.attempts),
                }
            } else {
                let delay = chrono::Duration::from_std(settings.retry.delay(row.attempts)).unwrap_or_default();
                tracing::info!(outbox.id = %row.id, attempts = row.attempts, error = %message, "mail will be retried");
                OutboxUpdate::Retry { id: row.id, at: now + delay, error: message }
            }
        }
        Err(SendFailure { transient: false, message }) => {
            tracing::warn!(outbox.id = %row.id, error = %message, "mail refused for good");
            OutboxUpdate::Failed { id: row.id, error: message }
        }
    }
}

#[cfg(test)]
mod tests {
    use lettre::message::{Body, SinglePart};

    use super::{MAX_7BIT_LINE, all_plain_ascii, crlf, html_body, plain_ascii, text_body};

    /// The reference the one pass is checked against: every character
    /// outside ASCII as a numeric character reference, line endings as
    /// they were.
    fn ascii_html(html: &str) -> String {
        html.chars().map(|c| if c.is_ascii() { c.to_string() } else { format!("&#{};", u32::from(c)) }).collect()
    }

    /// The one pass's text if it may go as 7bit.
    fn seven_bit_html(html: &str) -> Option<String> {
        let (ascii, seven_bit) = super::ascii_html(html);
        seven_bit.then_some(ascii)
    }

    #[test]
    fn text_bodies_are_encoded_as_lettre_would_encode_them() {
        let long = "a".repeat(90);
        for text in [
            "Hej Anna,\n\nDin idé – välkommen.\nMvh\n",
            "Hej Anna,\n\nDin idé har kommit in och vi återkommer när urvalet är gjort.\nMed vänliga hälsningar\n",
            "åäö",
            "Plain ASCII,\nshort lines.\n",
            long.as_str(),
            "<p style=\"margin:0\">Ärendet är beviljat: 350 000 kr.</p>\n",
            "trailing space \nand tab\t\n",
            "",
            "lone CR\rand CRLF\r\nand lone LF\nåäö",
            "ÅÄÖ\nåäö\n€€€\n",
            "\n\n\n\nå\n\n\n\n\n\n",
            "short ASCII\nwith a line longer than seventy-six characters, which is not seven-bit then at all\n",
        ] {
            let ours = SinglePart::plain(text_body(text)).formatted();
            let lettres = SinglePart::plain(Body::new(crlf(text))).formatted();
            assert_eq!(String::from_utf8(ours).unwrap(), String::from_utf8(lettres).unwrap(), "{text:?}");
        }
    }

    #[test]
    fn the_choice_of_base64_is_lettres_around_its_threshold() {
        // Texts with ever more to escape (letters outside ASCII, lone LFs,
        // CRLFs, control bytes) beside plain ones, across the point where
        // lettre turns from quoted-printable to base64.
        for plain in [0, 1, 5, 20, 60, 300] {
            for (many, piece) in [(40, "å"), (40, "\n"), (40, "\r\n"), (40, "\u{1}"), (20, "ö\n"), (20, "\nx")] {
                for n in 0..many {
                    let text = format!("{}{}{}", "a".repeat(plain), piece.repeat(n), "b".repeat(plain / 2));
                    if text.is_ascii() && !text.contains(['\n', '\u{1}']) {
                        continue;
                    }
                    let ours = SinglePart::plain(text_body(&text)).formatted();
                    let lettres = SinglePart::plain(Body::new(crlf(&text))).formatted();
                    assert_eq!(ours, lettres, "{text:?}");
                }
            }
        }
    }

    #[test]
    fn escaped_bytes_are_counted_across_chunks() {
        let text = "å\t~ \u{7f}\n".repeat(200);
        let by_one = text.bytes().filter(|&b| !matches!(b, b'\t' | b' '..=b'~')).count();
        assert_eq!(super::escaped_bytes(text.as_bytes()), by_one);
        assert_eq!(by_one, 200 * 4);
    }

    #[test]
    fn the_html_part_is_ascii_7bit_unless_a_line_is_too_long() {
        let html = "<p title=\"Idé\">Ärendet är beviljat: 350 000 kr – välkommen!</p>\n<p>€ 😀</p>\n";
        assert_eq!(
            ascii_html(html),
            "<p title=\"Id&#233;\">&#196;rendet &#228;r beviljat: 350 000 kr &#8211; v&#228;lkommen!</p>\n<p>&#8364; &#128512;</p>\n"
        );
        let part = String::from_utf8(SinglePart::html(html_body(html)).formatted()).unwrap();
        assert!(part.contains("Content-Transfer-Encoding: 7bit\r\n"), "{part}");
        assert!(part.contains("\r\n<p>&#8364; &#128512;</p>\r\n"), "{part}");
        assert!(part.is_ascii());

        // A line over 998 octets cannot go as 7bit: quoted-printable, as
        // lettre would choose.
        let long = format!("<p>{}</p>\n", "lång ".repeat(300));
        let part = String::from_utf8(SinglePart::html(html_body(&long)).formatted()).unwrap();
        assert!(part.contains("Content-Transfer-Encoding: quoted-printable\r\n"), "{part}");
        assert!(part.lines().all(|l| l.len() <= 78), "{part}");
        // With a line too long or a lone CR, the encoding is lettre's choice.
        for html in [long.as_str(), "<p>a\rb</p>"] {
            let ours = SinglePart::html(html_body(html)).formatted();
            let lettres = SinglePart::html(Body::new(crlf(&ascii_html(html)))).formatted();
            assert_eq!(String::from_utf8(ours).unwrap(), String::from_utf8(lettres).unwrap());
        }
    }

    #[test]
    fn the_one_pass_7bit_html_is_ascii_html_with_crlf() {
        let long = format!("<p>{}</p>\n", "lång ".repeat(300));
        let just_fits = format!("{}\n{}", "a".repeat(MAX_7BIT_LINE), "b".repeat(MAX_7BIT_LINE));
        let too_long_by_a_reference = format!("{}é", "a".repeat(MAX_7BIT_LINE - 5));
        for (html, seven_bit) in [
            ("<p title=\"Idé\">Ärendet är beviljat – välkommen!</p>\n<p>€ 😀</p>\n", true),
            ("", true),
            ("no newline, åäö at the end: ÅÄÖ", true),
            ("CRLF\r\nstays\r\none\r\n", true),
            ("tab\tand other controls \u{1}\u{b}\u{c} pass\n", true),
            ("exactly eight bytes\nand 16 bytes ok\n", true),
            (just_fits.as_str(), true),
            (long.as_str(), false),
            (too_long_by_a_reference.as_str(), false),
            ("<p>a\rb</p>", false),
            ("a lone CR at the end\r", false),
            ("a NUL\0", false),
        ] {
            let one_pass = seven_bit_html(html);
            assert_eq!(one_pass.is_some(), seven_bit, "{html:?}");
            if let Some(ascii) = one_pass {
                assert_eq!(ascii, crlf(&ascii_html(html)), "{html:?}");
            }
        }
        // Every character outside ASCII, at every offset within a word.
        for c in [
            'é',
            'å',
            '\u{3e7}',
            '\u{3e8}',
            '–',
            '€',
            '😀',
            '\u{80}',
            '\u{7ff}',
            '\u{800}',
            '\u{ffff}',
            '\u{10000}',
            '\u{10ffff}',
        ] {
            for at in 0..10 {
                let html = format!("{}{c}{}\n", "x".repeat(at), "y".repeat(9 - at));
                assert_eq!(seven_bit_html(&html).as_deref(), Some(crlf(&ascii_html(&html)).as_str()));
                assert_eq!(ascii_html(&c.to_string()), format!("&#{};", u32::from(c)));
            }
        }
    }

    #[test]
    fn the_kept_date_line_is_lettres_for_its_second() {
        use std::time::{Duration, SystemTime};
        let lettres = |date| {
            let mut headers = lettre::message::header::Headers::new();
            headers.set(lettre::message::header::Date::new(date));
            headers.to_string()
        };
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_272_000_000);
        for offset_ms in [0, 400, 999, 1000, 1500, 61_000, 400, 0] {
            let date = start + Duration::from_millis(offset_ms);
            assert_eq!(super::date_header(date), lettres(date), "{offset_ms} ms");
        }
    }

    #[test]
    fn eight_bytes_are_plain_only_if_each_is() {
        for b in 0..=u8::MAX {
            for at in 0..8 {
                let mut word = *b"plain ok";
                word[at] = b;
                assert_eq!(all_plain_ascii(u64::from_le_bytes(word)), plain_ascii(b), "{b:#x} at {at}");
            }
        }
    }

    #[test]
    fn crlf_ends_every_line_with_cr_lf_once() {
        assert_eq!(
            crlf("Hej Anna,\n\nDin idé – välkommen.\r\nMvh\n"),
            "Hej Anna,\r\n\r\nDin idé – välkommen.\r\nMvh\r\n"
        );
        assert_eq!(crlf("no newline"), "no newline");
        assert_eq!(crlf("\n"), "\r\n");
        assert_eq!(crlf(""), "");
    }
}
