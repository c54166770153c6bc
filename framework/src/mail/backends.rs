//! Where sent messages go (Django's `django.core.mail.backends`): standard output, files, the
//! in-memory outbox of tests, nowhere, or an SMTP server (`smtp.rs`).

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;

use super::message::{EmailMessage, Prepared};
use crate::error::{Error, ErrorKind, Result};

/// A message on its way: as the caller built it, and as it is sent.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The message, its sender filled in (DEFAULT_FROM_EMAIL when it named none).
    pub message: EmailMessage,
    /// The envelope and the bytes.
    pub prepared: Prepared,
}

/// An email backend (Django's `BaseEmailBackend`): sends messages already checked and written
/// out, and says how many went. A failure is an error naming what failed, never a lower count
/// reported as success.
pub trait EmailBackend: Send + Sync + 'static {
    /// Sends `messages`, in order; returns how many were sent.
    fn send_messages<'a>(&'a self, messages: &'a [Outgoing]) -> BoxFuture<'a, Result<usize>>;
}

/// `console`: each message written to standard output, followed by a line of dashes (the
/// default when DEBUG is on, so a developer sees the password reset link in the terminal).
pub struct ConsoleBackend;

impl EmailBackend for ConsoleBackend {
    fn send_messages<'a>(&'a self, messages: &'a [Outgoing]) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async move {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            for m in messages {
                out.write_all(&m.prepared.bytes)
                    .and_then(|()| out.write_all(format!("\n{}\n", "-".repeat(79)).as_bytes()))
                    .map_err(|e| Error::with_source(ErrorKind::Internal, "writing a message to standard output", e))?;
            }
            out.flush().map_err(|e| Error::with_source(ErrorKind::Internal, "writing to standard output", e))?;
            Ok(messages.len())
        })
    }
}

/// `file`: one `.eml` file per message in EMAIL_FILE_PATH (made if missing), named by the
/// time it was sent. A file appears whole: it is written under another name, then renamed.
pub struct FileBackend {
    dir: PathBuf,
}

impl FileBackend {
    /// A backend writing into `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileBackend { dir: dir.into() }
    }
}

impl EmailBackend for FileBackend {
    fn send_messages<'a>(&'a self, messages: &'a [Outgoing]) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async move {
            let failed = |what: String, e: std::io::Error| Error::with_source(ErrorKind::Internal, what, e);
            tokio::fs::create_dir_all(&self.dir)
                .await
                .map_err(|e| failed(format!("EMAIL_FILE_PATH {} could not be made", self.dir.display()), e))?;
            for m in messages {
                let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S%.6f");
                let name = format!("{stamp}-{}", crate::signing::random_string(8, crate::signing::ALPHANUMERIC));
                let partial = self.dir.join(format!(".{name}.part"));
                let done = self.dir.join(format!("{name}.eml"));
                tokio::fs::write(&partial, &m.prepared.bytes)
                    .await
                    .map_err(|e| failed(format!("writing the message to {}", partial.display()), e))?;
                tokio::fs::rename(&partial, &done)
                    .await
                    .map_err(|e| failed(format!("moving the message to {}", done.display()), e))?;
            }
            Ok(messages.len())
        })
    }
}

/// The messages the `locmem` backend has sent, oldest first (Django's `mail.outbox`); read
/// it in tests with [`djambda::test::outbox`](crate::test::outbox).
#[derive(Clone, Default)]
pub struct Outbox(Arc<Mutex<Vec<EmailMessage>>>);

impl Outbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<EmailMessage>> {
        // A push is whole: a panic elsewhere cannot leave the list half-changed.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every message sent so far.
    pub fn messages(&self) -> Vec<EmailMessage> {
        self.lock().clone()
    }

    /// How many messages were sent.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none was sent.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Forgets the messages sent so far.
    pub fn clear(&self) {
        self.lock().clear();
    }
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Outbox").field(&self.len()).finish()
    }
}

/// `locmem`: messages kept in the site's [`Outbox`], for tests.
pub struct LocmemBackend {
    pub(crate) outbox: Outbox,
}

impl EmailBackend for LocmemBackend {
    fn send_messages<'a>(&'a self, messages: &'a [Outgoing]) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async move {
            self.outbox.lock().extend(messages.iter().map(|m| m.message.clone()));
            Ok(messages.len())
        })
    }
}

/// `dummy`: messages are dropped (and counted as sent), for sites that must not send any.
pub struct DummyBackend;

impl EmailBackend for DummyBackend {
    fn send_messages<'a>(&'a self, messages: &'a [Outgoing]) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async move { Ok(messages.len()) })
    }
}

/// `smtp` without djambda's `smtp` feature: every send fails, saying how to build it in. Used
/// when SMTP is the default (DEBUG off) rather than asked for, so a site that sends no mail
/// still starts.
#[cfg(not(feature = "smtp"))]
pub(crate) struct SmtpNotBuilt;

#[cfg(not(feature = "smtp"))]
impl EmailBackend for SmtpNotBuilt {
    fn send_messages<'a>(&'a self, _messages: &'a [Outgoing]) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async move { Err(Error::internal(NOT_BUILT)) })
    }
}

#[cfg(not(feature = "smtp"))]
pub(crate) const NOT_BUILT: &str = "EMAIL_BACKEND is smtp (the default with DEBUG off), but djambda was built \
    without its `smtp` feature: add features = [\"smtp\"] to djambda in Cargo.toml, or choose another \
    EMAIL_BACKEND (console, file, locmem, dummy)";
