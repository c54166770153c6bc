//! `smtp`: messages sent through an SMTP server (EMAIL_HOST) with lettre, in plain text,
//! upgraded with STARTTLS (EMAIL_USE_TLS) or over implicit TLS (EMAIL_USE_SSL), logging in
//! when EMAIL_HOST_USER is set. Amazon SES works through its SMTP endpoint
//! (`email-smtp.<region>.amazonaws.com`, port 587 with EMAIL_USE_TLS, the SMTP credentials
//! made in the SES console).
//!
//! A connection per message, closed after it: nothing is held open between requests, which is what
//! a Lambda instance, frozen between invocations, needs.

use futures_util::future::BoxFuture;
use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::backends::{EmailBackend, Outgoing};
use crate::conf::Email;
use crate::error::{Error, ErrorKind, Result};

/// The SMTP backend.
pub struct SmtpBackend {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// EMAIL_TIMEOUT, for a whole message: lettre times only the connection.
    timeout: std::time::Duration,
    /// `host:port (STARTTLS)`, for messages.
    server: String,
}

impl SmtpBackend {
    /// A backend for the EMAIL_* settings. Reads EMAIL_SSL_CAFILE; opens no connection.
    pub fn new(settings: &Email) -> std::result::Result<Self, String> {
        let mode = if settings.use_ssl {
            "implicit TLS"
        } else if settings.use_tls {
            "STARTTLS"
        } else {
            "no TLS"
        };
        let server = format!("{}:{} ({mode})", settings.host, settings.port);
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone())
            .port(settings.port)
            .timeout(Some(settings.timeout));
        if settings.use_tls || settings.use_ssl {
            let mut tls = TlsParameters::builder(settings.host.clone());
            if let Some(file) = &settings.ssl_cafile {
                let pem = std::fs::read(file)
                    .map_err(|e| format!("EMAIL_SSL_CAFILE {} could not be read: {e}", file.display()))?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| format!("EMAIL_SSL_CAFILE {} holds no PEM certificate: {e}", file.display()))?;
                tls = tls.add_root_certificate(cert);
            }
            let tls = tls.build().map_err(|e| format!("TLS for EMAIL_HOST {server} could not be set up: {e}"))?;
            builder = builder.tls(if settings.use_ssl { Tls::Wrapper(tls) } else { Tls::Required(tls) });
        } else {
            builder = builder.tls(Tls::None);
        }
        if !settings.host_user.is_empty() {
            builder = builder.credentials(Credentials::new(settings.host_user.clone(), settings.host_password.clone()));
        }
        Ok(SmtpBackend { transport: builder.build(), timeout: settings.timeout, server })
    }
}

fn address(text: &str) -> Result<Address> {
    text.parse::<Address>()
        .map_err(|e| Error::with_source(ErrorKind::BadRequest, format!("{text:?} is not an address SMTP takes"), e))
}

impl EmailBackend for SmtpBackend {
    fn send_messages<'a>(&'a self, messages: &'a [Outgoing]) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async move {
            for (i, m) in messages.iter().enumerate() {
                let recipients = m.prepared.recipients.iter().map(|r| address(r)).collect::<Result<Vec<_>>>()?;
                let envelope = Envelope::new(Some(address(&m.prepared.from)?), recipients)
                    .map_err(|e| Error::with_source(ErrorKind::Internal, "the message has no envelope", e))?;
                let sent = tokio::time::timeout(self.timeout, self.transport.send_raw(&envelope, &m.prepared.bytes));
                let before = if i > 0 { format!(" ({i} sent before it)") } else { String::new() };
                let failed = |what: String| {
                    format!(
                        "sending the message {:?} to {} through SMTP at {} failed{before}: {what}",
                        m.message.subject,
                        m.prepared.recipients.join(", "),
                        self.server
                    )
                };
                match sent.await {
                    Ok(Ok(_)) => {}
                    // A server that is down or busy may answer later; a refused login, sender or
                    // recipient will not.
                    Ok(Err(e)) => {
                        let kind = if e.is_permanent() || e.is_tls() {
                            ErrorKind::Internal
                        } else {
                            ErrorKind::ServiceUnavailable
                        };
                        return Err(Error::with_source(kind, failed(e.to_string()), e));
                    }
                    Err(_) => {
                        let waited = format!("no answer within EMAIL_TIMEOUT ({} s)", self.timeout.as_secs_f64());
                        return Err(Error::new(ErrorKind::ServiceUnavailable, failed(waited)));
                    }
                }
            }
            Ok(messages.len())
        })
    }
}
