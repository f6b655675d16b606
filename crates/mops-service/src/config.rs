//! Settings from the environment. Everything has a default, so `mops` runs
//! with no configuration at all.

/// The default database: an SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://mops.db";

/// Where the service keeps its data.
#[derive(Clone)]
pub struct Settings {
    /// `MOPS_DATABASE_URL`; defaults to [`DEFAULT_DATABASE_URL`].
    pub database_url: String,
}

impl Settings {
    pub fn from_env() -> Self {
        Self { database_url: env_var("MOPS_DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()) }
    }
}

/// An environment variable, or `None` when it is unset or blank.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A number of seconds from the environment, at least `min`; `default`
/// when unset. A value that is not a whole number (or is below `min`) is an
/// error that names the variable.
pub fn env_secs(name: &str, default: std::time::Duration, min: u64) -> Result<std::time::Duration, String> {
    let Some(v) = env_var(name) else { return Ok(default) };
    v.trim().parse::<u64>().ok().filter(|n| *n >= min).map(std::time::Duration::from_secs).ok_or_else(|| match min {
        0 => format!("{name} must be a whole number of seconds, not {v:?}"),
        _ => format!("{name} must be a whole number of seconds, at least {min}, not {v:?}"),
    })
}

/// A database URL with its password hidden, for logs and `Debug`.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings").field("database_url", &redact(&self.database_url)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_logs() {
        assert_eq!(redact("postgres://mops:s3cret@db:5432/mops"), "postgres://mops:***@db:5432/mops");
        assert_eq!(redact("postgres://postgres@127.0.0.1/test"), "postgres://postgres@127.0.0.1/test");
        assert_eq!(redact("sqlite://mops.db"), "sqlite://mops.db");
        let s = Settings { database_url: "postgres://u:pw@h/db".into() };
        assert!(!format!("{s:?}").contains("pw"));
    }
}
