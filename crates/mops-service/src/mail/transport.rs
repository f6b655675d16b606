//! Where mail goes: an SMTP server (lettre's pooled async transport) or a
//! folder of `.eml` files.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::PoolConfig;
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
        })
    }
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
    pub fn from_settings(settings: &TransportSettings, pool_size: u32) -> Result<Self, String> {
        match settings {
            TransportSettings::Files { dir } => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create the mail folder {}: {e}", dir.display()))?;
                Ok(Self::Files(dir.clone()))
            }
            TransportSettings::Smtp { url } => {
                // lettre names STARTTLS "required"; people write "starttls".
                let url = url.replace("tls=starttls", "tls=required");
                let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url).map_err(|e| {
                    format!("MOPS_SMTP_URL {} is not a usable SMTP URL: {e}", crate::config::redact(&url))
                })?;
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
        match self {
            Self::Smtp(smtp) => match smtp.send(message).await {
                Ok(response) => Ok(format!("{} {}", response.code(), response.message().collect::<Vec<_>>().join(" "))),
                Err(e) => Err(SendFailure {
                    // 5xx is permanent; 4xx, refused connections and
                    // timeouts are worth another try.
                    transient: !e.is_permanent(),
                    message: e.to_string(),
                }),
            },
            Self::Files(dir) => {
                // Named by the outbox row, so a re-send overwrites rather
                // than duplicates.
                let path = dir.join(format!("{id}.eml"));
                tokio::fs::write(&path, message.formatted())
                    .await
                    .map(|()| format!("written to {}", path.display()))
                    .map_err(|e| SendFailure {
                        transient: true,
                        message: format!("cannot write {}: {e}", path.display()),
                    })
            }
        }
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
