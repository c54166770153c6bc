//! How `manage runserver` treats its clients (gunicorn's `timeout`, `keepalive`,
//! `worker_connections` and `graceful_timeout`, under names of djambda's own): a client that
//! is slow or idle gives its place up, and no client can hold every connection.

use std::time::Duration;

use super::Group;

/// The server settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// SERVER_HEADER_TIMEOUT in seconds (10): how long a connection may take to send a
    /// request's headers, counted from when the server starts waiting for them; so it is also
    /// how long an idle keep-alive connection stays open between requests.
    pub header_timeout: Duration,
    /// SERVER_BODY_TIMEOUT in seconds (30): how long a request's body may take to arrive
    /// (408 Request Timeout past it).
    pub body_timeout: Duration,
    /// SERVER_MAX_CONNECTIONS (1000): connections served at once; further clients wait in the
    /// listen queue until one closes, instead of running the process out of file descriptors.
    pub max_connections: usize,
    /// SERVER_GRACEFUL_TIMEOUT in seconds (10): on shutdown, how long requests in flight get
    /// to finish before their connections are dropped.
    pub graceful_timeout: Duration,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 1000,
            graceful_timeout: Duration::from_secs(10),
        }
    }
}

fn seconds(key: &str, raw: &str) -> Result<Duration, String> {
    raw.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0 && *s < 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{key} must be a number of seconds above 0 (got {raw:?})"))
}

impl Group for Server {
    const KEYS: &'static [&'static str] =
        &["SERVER_HEADER_TIMEOUT", "SERVER_BODY_TIMEOUT", "SERVER_MAX_CONNECTIONS", "SERVER_GRACEFUL_TIMEOUT"];

    fn apply(&mut self, key: &str, raw: &str) -> Result<(), String> {
        match key {
            "SERVER_HEADER_TIMEOUT" => self.header_timeout = seconds(key, raw)?,
            "SERVER_BODY_TIMEOUT" => self.body_timeout = seconds(key, raw)?,
            "SERVER_GRACEFUL_TIMEOUT" => self.graceful_timeout = seconds(key, raw)?,
            "SERVER_MAX_CONNECTIONS" => {
                self.max_connections = raw
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("{key} must be a number of connections, at least 1 (got {raw:?})"))?
            }
            _ => return Err(format!("{key} is not a server setting")),
        }
        Ok(())
    }
}
