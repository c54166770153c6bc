//! Sending email (Django's `django.core.mail`): [`EmailMessage`] with text and HTML versions,
//! attachments, cc, bcc, reply-to and extra headers, rendered from templates or built in code,
//! sent with [`send`] (or `message.send(&site)`), and [`send_mail`] for the plain case.
//! Install the app (`.app(djambda::mail::app())`) and choose where messages go with
//! EMAIL_BACKEND:
//!
//! | EMAIL_BACKEND | sends |
//! |---|---|
//! | `smtp` (the default with DEBUG off) | through EMAIL_HOST:EMAIL_PORT, with EMAIL_USE_TLS (STARTTLS) or EMAIL_USE_SSL, logging in as EMAIL_HOST_USER; needs djambda's `smtp` feature. Amazon SES works through its SMTP endpoint. |
//! | `console` (the default with DEBUG on) | to standard output |
//! | `file` | one `.eml` file per message in EMAIL_FILE_PATH |
//! | `locmem` | into the site's outbox, which tests read ([`djambda::test::outbox`](crate::test::outbox)) |
//! | `dummy` | nowhere |
//!
//! A message that cannot be sent is an error saying why, never a success: a newline in a
//! subject, an address or a header is refused (header injection), and so is an address that is
//! not one.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use djambda::mail::{EmailMessage, send_mail};
//! use djambda::prelude::*;
//!
//! let settings = "DEBUG = true\nEMAIL_BACKEND = \"locmem\"\nDEFAULT_FROM_EMAIL = \"CRM <crm@example.com>\"";
//! let site = Site::builder()
//!     .settings(Settings::from_sources(Some(settings), |_| None).unwrap())
//!     .app(djambda::mail::app())
//!     .build()
//!     .unwrap();
//! send_mail(&site, "Deal won", "Acme signed.", None, &["sales@example.com"]).await.unwrap();
//! EmailMessage::new("Report", "Attached.")
//!     .to(["boss@example.com"])
//!     .html("<p>Attached.</p>")
//!     .attach("report.csv", b"a,b\n1,2\n".to_vec(), "text/csv")
//!     .send(&site)
//!     .await
//!     .unwrap();
//! let outbox = djambda::test::outbox(&site);
//! assert_eq!(outbox.len(), 2);
//! assert_eq!(outbox[0].from_email.as_deref(), Some("CRM <crm@example.com>"));
//! assert_eq!(outbox[1].attachments[0].filename, "report.csv");
//! # });
//! ```

mod backends;
mod message;
#[cfg(feature = "smtp")]
mod smtp;

use std::sync::Arc;

pub use backends::{ConsoleBackend, DummyBackend, EmailBackend, FileBackend, LocmemBackend, Outbox, Outgoing};
pub use message::{Attachment, EmailMessage, Prepared};
#[cfg(feature = "smtp")]
pub use smtp::SmtpBackend;

use crate::conf::{EmailBackendName, Settings};
use crate::error::{Error, Result};
use crate::site::Site;
use crate::site::app::App;
use crate::site::commands::SiteCommand;

/// The site's way of sending mail, kept in its state by the mail app: the backend, the
/// default sender, and the outbox when the backend is `locmem`.
pub struct Mailer {
    backend: Arc<dyn EmailBackend>,
    default_from: String,
    outbox: Option<Outbox>,
}

impl Mailer {
    /// The backend EMAIL_BACKEND names. Opens nothing: an SMTP connection is made per message.
    pub fn from_settings(settings: &Settings) -> std::result::Result<Mailer, String> {
        let email = &settings.email;
        let mut outbox = None;
        let backend: Arc<dyn EmailBackend> = match email.backend_or_default(settings.debug) {
            EmailBackendName::Console => Arc::new(ConsoleBackend),
            EmailBackendName::File => {
                let dir = email.file_path.clone().ok_or("EMAIL_BACKEND = \"file\" needs EMAIL_FILE_PATH")?;
                Arc::new(FileBackend::new(dir))
            }
            EmailBackendName::Locmem => {
                let kept = Outbox::default();
                outbox = Some(kept.clone());
                Arc::new(LocmemBackend { outbox: kept })
            }
            EmailBackendName::Dummy => Arc::new(DummyBackend),
            #[cfg(feature = "smtp")]
            EmailBackendName::Smtp => Arc::new(smtp::SmtpBackend::new(email)?),
            #[cfg(not(feature = "smtp"))]
            EmailBackendName::Smtp => {
                // Asked for by name: say so now. Only defaulted to: say so when a message is sent.
                if email.backend.is_some() {
                    return Err(backends::NOT_BUILT.replace(" (the default with DEBUG off)", ""));
                }
                Arc::new(backends::SmtpNotBuilt)
            }
        };
        Ok(Mailer { backend, default_from: email.default_from_email.clone(), outbox })
    }

    /// A mailer sending through `backend` (a site's own, say to an HTTP API), from
    /// `default_from` when a message names no sender.
    pub fn with_backend(backend: impl EmailBackend, default_from: &str) -> Mailer {
        Mailer { backend: Arc::new(backend), default_from: default_from.to_owned(), outbox: None }
    }

    /// The outbox, when the backend is `locmem`.
    pub fn outbox(&self) -> Option<&Outbox> {
        self.outbox.as_ref()
    }

    /// Checks, writes out and sends `messages` (in one batch: one SMTP connection); how many
    /// were sent. Nothing is sent when any of them is refused.
    pub async fn send_messages(&self, messages: &[EmailMessage]) -> Result<usize> {
        let mut outgoing = Vec::with_capacity(messages.len());
        for message in messages {
            let prepared = message.prepare(&self.default_from)?;
            let mut message = message.clone();
            message.from_email.get_or_insert_with(|| self.default_from.clone());
            outgoing.push(Outgoing { message, prepared });
        }
        self.backend.send_messages(&outgoing).await
    }
}

/// The mail app: reads EMAIL_BACKEND and the other email settings when the site is assembled
/// (a bad combination stops the site with a message), keeps the [`Mailer`] on the site, and
/// brings `manage sendtestemail`.
pub fn app() -> App {
    App::new("mail").command(sendtestemail()).on_ready(|setup| {
        let mailer = Mailer::from_settings(setup.settings())?;
        setup.insert_state(mailer);
        Ok(())
    })
}

/// The site's mailer, or an error saying to install the mail app.
pub fn mailer(site: &Site) -> Result<&Mailer> {
    site.state::<Mailer>()
        .ok_or_else(|| Error::internal("sending email needs the mail app: install it with .app(djambda::mail::app())"))
}

/// The site's outbox, when EMAIL_BACKEND is `locmem` (what tests read).
pub fn outbox(site: &Site) -> Option<&Outbox> {
    site.state::<Mailer>().and_then(Mailer::outbox)
}

impl EmailMessage {
    /// Sends the message through the site's backend; 1 when it went.
    pub async fn send(&self, site: &Site) -> Result<usize> {
        mailer(site)?.send_messages(std::slice::from_ref(self)).await
    }
}

/// Sends a plain text message to `recipient_list` (Django's `send_mail`), from `from_email`
/// or DEFAULT_FROM_EMAIL. For an HTML version, attachments or cc, build an [`EmailMessage`].
pub async fn send_mail(
    site: &Site,
    subject: &str,
    message: &str,
    from_email: Option<&str>,
    recipient_list: &[&str],
) -> Result<usize> {
    let mut email = EmailMessage::new(subject, message).to(recipient_list.iter().copied());
    email.from_email = from_email.map(str::to_owned);
    email.send(site).await
}

/// Sends `message` through the site's backend (the same as `message.send(&site)`); 1 when it
/// went.
pub async fn send(site: &Site, message: &EmailMessage) -> Result<usize> {
    message.send(site).await
}

/// Sends several messages in one batch (Django's `send_mass_mail`, or a connection's
/// `send_messages`): one SMTP connection for all of them.
pub async fn send_messages(site: &Site, messages: &[EmailMessage]) -> Result<usize> {
    mailer(site)?.send_messages(messages).await
}

/// `manage sendtestemail ADDRESS…` (Django's): sends a short message to each address through
/// the configured backend, to check the settings.
fn sendtestemail() -> SiteCommand {
    let cli = clap::Command::new("sendtestemail")
        .about("Sends a test email to the addresses given, through EMAIL_BACKEND, to check the email settings.")
        .arg(clap::Arg::new("email").num_args(1..).required(true).help("The addresses to send to"));
    SiteCommand::new(cli, |site, args| {
        Box::pin(async move {
            let to: Vec<String> = args.get_many::<String>("email").into_iter().flatten().cloned().collect();
            let when = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC");
            let message = EmailMessage::new(
                format!("Test email from djambda on {when}"),
                "If you're reading this, it was successful.",
            )
            .to(to.iter().cloned());
            message.send(&site).await?;
            println!("Sent a test email to {}.", to.join(", "));
            Ok(())
        })
    })
}
