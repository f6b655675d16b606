//! Where mail goes: an SMTP server (lettre's pooled async transport) or a
//! folder of `.eml` files.

use std::path::PathBuf;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::message::Mailbox;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Retries of transient failures: the first after `first`, doubling up to
/// `max`, until `give_up` after the mail was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Defaults to 5 minutes (`MOPS_MAIL_RETRY_FIRST_SECS`).
    pub first: Duration,
    /// Defaults to 1 hour (`MOPS_MAIL_RETRY_MAX_SECS`).
    pub max: Duration,
    /// Defaults to 5 days (`MOPS_MAIL_GIVE_UP_SECS`).
    pub give_up: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(5 * 60),
            max: Duration::from_secs(60 * 60),
            give_up: Duration::from_secs(5 * 24 * 3600),
        }
    }
}

impl RetryPolicy {
    /// The wait before the next try, after `attempts` tries so far (1 or more).
    pub fn delay(&self, attempts: i64) -> Duration {
        let doublings = attempts.clamp(1, 32) as u32 - 1;
        self.first.saturating_mul(2u32.saturating_pow(doublings)).min(self.max)
    }
}

/// Which transport the configuration names.
#[derive(Clone, PartialEq, Eq)]
pub enum TransportSettings {
    /// `MOPS_SMTP_URL`, e.g. `smtp://127.0.0.1:2525`,
    /// `smtps://user:pass@host:465`, `smtp://host:587?tls=starttls`.
    Smtp { url: String },
    /// `.eml` files in `MOPS_MAIL_DIR` (default `./mail/`), when no SMTP URL is set.
    Files { dir: PathBuf },
}

impl std::fmt::Debug for TransportSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp { url } => f.debug_struct("Smtp").field("url", &crate::config::redact(url)).finish(),
            Self::Files { dir } => f.debug_struct("Files").field("dir", dir).finish(),
        }
    }
}

/// Everything the mail worker needs to know.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub transport: TransportSettings,
    /// `MOPS_MAIL_FROM`; defaults to `Samhällskontraktet <mops@localhost.localdomain>`.
    pub from: Mailbox,
    pub retry: RetryPolicy,
    /// Rows claimed per pass. Defaults to 50.
    pub batch: i64,
    /// How long a claimed row is reserved for its worker. Defaults to 5 minutes.
    pub lease: Duration,
    /// Mails sent at once. Defaults to 8 (also the SMTP pool size).
    pub concurrency: usize,
    /// `MOPS_MAIL_REPLY_TO`: the address every mail names for questions
    /// ("Har du frågor? Kontakta processledaren på …") and sets as its
    /// `Reply-To`. `None` (the default): the From address.
    pub reply_to: Option<Mailbox>,
    /// `MOPS_SMTP_CA_FILE`: a PEM file of certificates that the SMTP
    /// server's TLS certificate may chain to, trusted in addition to the
    /// built-in Mozilla roots. For servers with a private CA or a
    /// self-signed certificate. Unset by default.
    pub ca_file: Option<PathBuf>,
}

impl MailSettings {
    /// From the environment; every setting has a default.
    pub fn from_env() -> Result<Self, String> {
        use crate::config::{env_secs, env_var as var};
        let secs = |name: &str, default: Duration| env_secs(name, default, 0);
        let transport = match var("MOPS_SMTP_URL") {
            Some(url) => TransportSettings::Smtp { url },
            None => TransportSettings::Files { dir: var("MOPS_MAIL_DIR").unwrap_or_else(|| "mail".into()).into() },
        };
        let from = var("MOPS_MAIL_FROM").unwrap_or_else(|| "Samhällskontraktet <mops@localhost.localdomain>".into());
        let from =
            from.parse::<Mailbox>().map_err(|e| format!("MOPS_MAIL_FROM {from:?} is not a mail address: {e}"))?;
        let defaults = RetryPolicy::default();
        Ok(Self {
            transport,
            from,
            retry: RetryPolicy {
                first: secs("MOPS_MAIL_RETRY_FIRST_SECS", defaults.first)?,
                max: secs("MOPS_MAIL_RETRY_MAX_SECS", defaults.max)?,
                give_up: secs("MOPS_MAIL_GIVE_UP_SECS", defaults.give_up)?,
            },
            batch: 50,
            lease: Duration::from_secs(300),
            concurrency: 8,
            reply_to: match var("MOPS_MAIL_REPLY_TO") {
                None => None,
                Some(v) => Some(
                    v.parse::<Mailbox>().map_err(|e| format!("MOPS_MAIL_REPLY_TO {v:?} is not a mail address: {e}"))?,
                ),
            },
            ca_file: var("MOPS_SMTP_CA_FILE").map(PathBuf::from),
        })
    }

    /// Whom every mail names for questions, and its `Reply-To`: the
    /// configured reply-to address, or else the sender.
    pub fn contact(&self) -> &Mailbox {
        self.reply_to.as_ref().unwrap_or(&self.from)
    }
}

/// The TLS parameters for `host` that also trust the certificates in `ca_file`.
fn tls_trusting(host: &str, ca_file: &std::path::Path) -> Result<TlsParameters, String> {
    let pem =
        std::fs::read(ca_file).map_err(|e| format!("cannot read MOPS_SMTP_CA_FILE {}: {e}", ca_file.display()))?;
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(format!("MOPS_SMTP_CA_FILE {} holds no PEM certificate", ca_file.display()));
    }
    let certificate = Certificate::from_pem(&pem)
        .map_err(|e| format!("MOPS_SMTP_CA_FILE {} is not a usable PEM file: {e}", ca_file.display()))?;
    TlsParameters::builder(host.to_owned())
        .add_root_certificate(certificate)
        .build()
        .map_err(|e| format!("cannot set up TLS for {host}: {e}"))
}

/// What went wrong with a send, for the outbox row and the log. A TLS
/// certificate the worker does not trust says so and what to do about it.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        let inner =
            err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).map(|i| i as &dyn std::error::Error);
        for candidate in [Some(err), inner].into_iter().flatten() {
            if let Some(rustls::Error::InvalidCertificate(_)) = candidate.downcast_ref::<rustls::Error>() {
                return format!(
                    "the SMTP server's TLS certificate is not trusted; if a private CA signed it, name that CA's \
                     certificate in MOPS_SMTP_CA_FILE ({e})"
                );
            }
        }
        source = err.source();
    }
    e.to_string()
}

/// A send that did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    /// Worth trying again later (4xx, refused connection, timeout).
    pub transient: bool,
    pub message: String,
}

/// A configured transport.
#[derive(Clone)]
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp(_) => f.write_str("Transport::Smtp"),
            Self::Files(dir) => f.debug_tuple("Transport::Files").field(dir).finish(),
        }
    }
}

impl Transport {
    /// The transport `settings` name, with up to `pool_size` SMTP
    /// connections, also trusting the certificates of `settings.ca_file`.
    pub fn new(settings: &MailSettings, pool_size: u32) -> Result<Self, String> {
        match &settings.transport {
            TransportSettings::Files { dir } => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create the mail folder {}: {e}", dir.display()))?;
                Ok(Self::Files(dir.clone()))
            }
            TransportSettings::Smtp { url } => {
                // lettre names STARTTLS "required"; people write "starttls".
                let url = url.replace("tls=starttls", "tls=required");
                let unusable = |e: &dyn std::fmt::Display| {
                    format!("MOPS_SMTP_URL {} is not a usable SMTP URL: {e}", crate::config::redact(&url))
                };
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url).map_err(|e| unusable(&e))?;
                if let Some(ca_file) = &settings.ca_file {
                    // lettre's URL parsing set the TLS mode with the default
                    // roots; the same mode again, with the extra roots.
                    let parsed = url::Url::parse(&url).map_err(|e| unusable(&e))?;
                    let host = parsed.host_str().ok_or_else(|| unusable(&"no host"))?;
                    let mode = parsed.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned());
                    builder = match (parsed.scheme(), mode.as_deref()) {
                        ("smtps", _) => builder.tls(Tls::Wrapper(tls_trusting(host, ca_file)?)),
                        ("smtp", Some("required")) => builder.tls(Tls::Required(tls_trusting(host, ca_file)?)),
                        ("smtp", Some("opportunistic")) => {
                            builder.tls(Tls::Opportunistic(tls_trusting(host, ca_file)?))
                        }
                        // Plain SMTP: no certificate to check.
                        _ => builder,
                    };
                }
                Ok(Self::Smtp(
                    builder
                        .timeout(Some(Duration::from_secs(30)))
                        .pool_config(PoolConfig::new().max_size(pool_size))
                        .build(),
                ))
            }
        }
    }

    /// Sends one message. On success, the server's reply (or where the file went).
    pub async fn send(&self, id: &str, message: Message) -> Result<String, SendFailure> {
        self.send_outgoing(id, &Outgoing::from(&message)).await
    }

    /// Sends one mail already written out. On success, the server's reply
    /// (or where the file went).
    /// `id` names the file; it is formatted only for the files transport.
    pub async fn send_outgoing(&self, id: impl std::fmt::Display, mail: &Outgoing) -> Result<String, SendFailure> {
        match self {
            Self::Smtp(smtp) => match smtp.send_raw(&mail.envelope, &mail.bytes).await {
                Ok(response) => Ok(format!("{} {}", response.code(), response.message().collect::<Vec<_>>().join(" "))),
                Err(e) => Err(SendFailure {
                    // 5xx is permanent; 4xx, refused connections, timeouts
                    // and failed TLS handshakes (an untrusted certificate
                    // included) are worth another try. A certificate problem
                    // is the server's or the configuration's, not the
                    // mail's: like Postfix, which defers mail when it cannot
                    // verify a server, the row waits and goes out once it is
                    // fixed, instead of every mail needing a person's retry.
                    // It still fails for good after `give_up`.
                    transient: !e.is_permanent(),
                    message: describe(&e),
                }),
            },
            Self::Files(dir) => {
                // Named by the outbox row, so a re-send overwrites rather
                // than duplicates.
                // Written beside it and renamed, so whoever reads the folder
                // never sees half a mail.
                let path = dir.join(format!("{id}.eml"));
                let partial = dir.join(format!(".{id}.eml.partial"));
                let failed = |e: std::io::Error| SendFailure {
                    transient: true,
                    message: format!("cannot write {}: {e}", path.display()),
                };
                tokio::fs::write(&partial, &mail.bytes).await.map_err(failed)?;
                tokio::fs::rename(&partial, &path).await.map_err(failed)?;
                Ok(format!("written to {}", path.display()))
            }
        }
    }
}

/// A mail as it goes out: its envelope, and the message as the bytes the
/// SMTP `DATA` command (or an `.eml` file) carries.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub envelope: Envelope,
    pub bytes: Vec<u8>,
}

impl From<&Message> for Outgoing {
    fn from(message: &Message) -> Self {
        Self { envelope: message.envelope().clone(), bytes: message.formatted() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1), Duration::from_secs(300));
        assert_eq!(p.delay(2), Duration::from_secs(600));
        assert_eq!(p.delay(4), Duration::from_secs(2400));
        assert_eq!(p.delay(5), Duration::from_secs(3600));
        assert_eq!(p.delay(40), Duration::from_secs(3600));
    }
}
