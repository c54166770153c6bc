//! An email message (Django's `EmailMessage` and `EmailMultiAlternatives` in one) and how it
//! is written out as RFC 5322 bytes, refusing anything that could smuggle in a header.

use std::borrow::Cow;

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::text::Text;
use mail_builder::mime::MimePart;

use crate::error::{Error, Result};
use crate::site::Site;
use crate::templates::Context;

/// A file sent along with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The name the recipient sees.
    pub filename: String,
    /// The file's bytes.
    pub content: Vec<u8>,
    /// Its MIME type (`text/csv`, `application/pdf`).
    pub mimetype: String,
}

/// An email: subject, a text body and any alternatives (an HTML version), sender, recipients,
/// reply-to, extra headers and attachments. Build it, then [`send`](Self::send) it through the
/// site's backend (EMAIL_BACKEND).
///
/// ```
/// use djambda::mail::EmailMessage;
///
/// let message = EmailMessage::new("Your invoice", "Please find it attached.")
///     .from("Billing <billing@example.com>")
///     .to(["ada@example.com"])
///     .cc(["accounts@example.com"])
///     .bcc(["archive@example.com"])
///     .reply_to(["help@example.com"])
///     .header("X-Invoice", "2026-0042")
///     .html("<p>Please find it <b>attached</b>.</p>")
///     .attach("invoice.csv", b"item,amount\nwidgets,12.50\n".to_vec(), "text/csv");
/// assert_eq!(message.recipients(), ["ada@example.com", "accounts@example.com", "archive@example.com"]);
/// let bytes = message.message("webmaster@localhost").unwrap();
/// let text = String::from_utf8_lossy(&bytes);
/// assert!(text.contains("Subject: Your invoice"));
/// assert!(!text.contains("archive@example.com"), "Bcc is in the envelope only");
///
/// // A newline in a header is an attempt to add headers of one's own: refused.
/// let forged = EmailMessage::new("Hi\r\nBcc: victim@example.com", "").to(["ada@example.com"]);
/// assert!(forged.message("webmaster@localhost").is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmailMessage {
    /// The subject line.
    pub subject: String,
    /// The plain text body.
    pub body: String,
    /// The sender (`Name <address>` or an address); DEFAULT_FROM_EMAIL when `None`.
    pub from_email: Option<String>,
    /// The `To` recipients.
    pub to: Vec<String>,
    /// The `Cc` recipients.
    pub cc: Vec<String>,
    /// Recipients no one else sees: they are in the envelope, not in the headers.
    pub bcc: Vec<String>,
    /// Where replies go (`Reply-To`).
    pub reply_to: Vec<String>,
    /// Extra headers, in order.
    pub headers: Vec<(String, String)>,
    /// Other versions of the body, with their MIME types (`text/html`).
    pub alternatives: Vec<(String, String)>,
    /// Files sent along.
    pub attachments: Vec<Attachment>,
}

fn strings<I, S>(items: I) -> impl Iterator<Item = String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    items.into_iter().map(Into::into)
}

impl EmailMessage {
    /// A message with a subject and a text body; add recipients with [`to`](Self::to).
    pub fn new(subject: impl Into<String>, body: impl Into<String>) -> Self {
        EmailMessage { subject: subject.into(), body: body.into(), ..Default::default() }
    }

    /// A message whose subject and bodies are rendered from templates (as Django's password
    /// reset email is): the subject template's lines are joined into one, the body template
    /// is the text body, and `html_template`, if given, the HTML alternative. Templates whose
    /// names end in `.html` are HTML-escaped as pages are; give text bodies a `.txt` name.
    ///
    /// ```
    /// use djambda::mail::EmailMessage;
    /// use djambda::prelude::*;
    ///
    /// let site = Site::builder()
    ///     .settings(Settings::from_sources(Some("DEBUG = true"), |_| None).unwrap())
    ///     .templates(djambda::assets!("src/mail/test_templates"))
    ///     .build()
    ///     .unwrap();
    /// let message = EmailMessage::from_templates(
    ///     &site, "welcome_subject.txt", "welcome.txt", Some("welcome.html"),
    ///     &djambda::context! { name: "Ada <3" },
    /// ).unwrap().to(["ada@example.com"]);
    /// assert_eq!(message.subject, "Welcome, Ada <3");
    /// assert_eq!(message.body, "Hello Ada <3, your account is ready.\n");
    /// assert_eq!(message.alternatives[0].0, "<p>Hello Ada &lt;3</p>\n");
    /// ```
    pub fn from_templates(
        site: &Site,
        subject_template: &str,
        body_template: &str,
        html_template: Option<&str>,
        context: &Context,
    ) -> Result<EmailMessage> {
        let templates = site.templates();
        let subject = templates.render_plain(subject_template, context)?;
        // A subject is one line: a template's line breaks would be a header injection.
        let subject = subject.lines().map(str::trim).collect::<Vec<_>>().join(" ").trim().to_owned();
        let mut message = EmailMessage::new(subject, templates.render_plain(body_template, context)?);
        if let Some(html) = html_template {
            message = message.html(templates.render_plain(html, context)?);
        }
        Ok(message)
    }

    /// The sender (`Name <address>` or an address).
    pub fn from(mut self, address: impl Into<String>) -> Self {
        self.from_email = Some(address.into());
        self
    }

    /// Adds `To` recipients.
    pub fn to<I: IntoIterator<Item = S>, S: Into<String>>(mut self, addresses: I) -> Self {
        self.to.extend(strings(addresses));
        self
    }

    /// Adds `Cc` recipients.
    pub fn cc<I: IntoIterator<Item = S>, S: Into<String>>(mut self, addresses: I) -> Self {
        self.cc.extend(strings(addresses));
        self
    }

    /// Adds hidden recipients.
    pub fn bcc<I: IntoIterator<Item = S>, S: Into<String>>(mut self, addresses: I) -> Self {
        self.bcc.extend(strings(addresses));
        self
    }

    /// Adds `Reply-To` addresses.
    pub fn reply_to<I: IntoIterator<Item = S>, S: Into<String>>(mut self, addresses: I) -> Self {
        self.reply_to.extend(strings(addresses));
        self
    }

    /// Adds a header (`List-Unsubscribe`, `X-Campaign`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Adds an HTML version of the body (Django's `attach_alternative(html, "text/html")`).
    pub fn html(self, html: impl Into<String>) -> Self {
        self.alternative(html, "text/html")
    }

    /// Adds another version of the body with its MIME type.
    pub fn alternative(mut self, content: impl Into<String>, mimetype: impl Into<String>) -> Self {
        self.alternatives.push((content.into(), mimetype.into()));
        self
    }

    /// Attaches a file.
    pub fn attach(mut self, filename: impl Into<String>, content: Vec<u8>, mimetype: impl Into<String>) -> Self {
        self.attachments.push(Attachment { filename: filename.into(), content, mimetype: mimetype.into() });
        self
    }

    /// Everyone the message goes to: `to`, `cc` and `bcc`, in that order.
    pub fn recipients(&self) -> Vec<&str> {
        self.to.iter().chain(&self.cc).chain(&self.bcc).map(String::as_str).collect()
    }

    /// The message as it is sent (RFC 5322, MIME), with `default_from` as the sender when it
    /// names none. Refuses line breaks in the subject, an address or a header, and addresses
    /// that are not addresses.
    pub fn message(&self, default_from: &str) -> Result<Vec<u8>> {
        Ok(self.prepare(default_from)?.bytes)
    }

    /// Checks the message and writes it out, with its envelope.
    pub(crate) fn prepare(&self, default_from: &str) -> Result<Prepared> {
        let from = self.from_email.as_deref().unwrap_or(default_from);
        let sender = parse_address("from", from)?;
        no_line_break("subject", &self.subject)?;
        let parse_all = |field: &'static str, list: &[String]| -> Result<Vec<Parsed>> {
            list.iter().map(|a| parse_address(field, a)).collect()
        };
        let (to, cc, bcc, reply_to) = (
            parse_all("to", &self.to)?,
            parse_all("cc", &self.cc)?,
            parse_all("bcc", &self.bcc)?,
            parse_all("reply_to", &self.reply_to)?,
        );
        let mut recipients: Vec<String> = Vec::new();
        for address in to.iter().chain(&cc).chain(&bcc) {
            if !recipients.iter().any(|r| r.eq_ignore_ascii_case(&address.email)) {
                recipients.push(address.email.clone());
            }
        }
        if recipients.is_empty() {
            return Err(Error::internal(format!(
                "the message {:?} has no recipients: give it `to`, `cc` or `bcc` addresses",
                self.subject
            )));
        }
        for (name, value) in &self.headers {
            let well_formed = !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
            if !well_formed {
                return Err(Error::bad_request(format!(
                    "{name:?} is not a header name (letters, digits and dashes, like X-Campaign)"
                )));
            }
            no_line_break(name, value)?;
            const OWN: [&str; 9] =
                ["from", "to", "cc", "bcc", "reply-to", "subject", "mime-version", "content-type", "sender"];
            if OWN.iter().any(|own| name.eq_ignore_ascii_case(own)) {
                return Err(Error::internal(format!(
                    "the header {name} is set from the message's own fields, not with .header()"
                )));
            }
        }

        let domain = sender.email.rsplit_once('@').map_or("localhost", |(_, d)| d).to_owned();
        let mut id = [0u8; 12];
        crate::signing::fill_random(&mut id);
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let list =
            |parsed: &[Parsed]| -> Address<'static> { Address::new_list(parsed.iter().map(Parsed::address).collect()) };
        let mut builder = MessageBuilder::new()
            .from(sender.address())
            .subject(Text::new(self.subject.clone()))
            .message_id(format!("{id}@{domain}"));
        if !to.is_empty() {
            builder = builder.to(list(&to));
        }
        if !cc.is_empty() {
            builder = builder.cc(list(&cc));
        }
        if !reply_to.is_empty() {
            builder = builder.reply_to(list(&reply_to));
        }
        for (name, value) in &self.headers {
            builder = builder.header(name.clone(), Text::new(value.clone()));
        }
        let text = MimePart::new("text/plain", self.body.clone());
        let body = if self.alternatives.is_empty() {
            text
        } else {
            let mut versions = vec![text];
            for (content, mimetype) in &self.alternatives {
                versions.push(MimePart::new(mime_type(mimetype)?, content.clone()));
            }
            MimePart::new("multipart/alternative", versions)
        };
        let body = if self.attachments.is_empty() {
            body
        } else {
            let mut parts = vec![body];
            for file in &self.attachments {
                no_line_break("attachment filename", &file.filename)?;
                parts.push(
                    MimePart::new(mime_type(&file.mimetype)?, file.content.clone()).attachment(file.filename.clone()),
                );
            }
            MimePart::new("multipart/mixed", parts)
        };
        let bytes = builder
            .body(body)
            .write_to_vec()
            .map_err(|e| Error::with_source(crate::ErrorKind::Internal, "the message could not be written out", e))?;
        Ok(Prepared { from: sender.email, recipients, bytes })
    }
}

/// A message checked and written out, with its envelope: what a backend sends.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The envelope sender (the bare address).
    pub from: String,
    /// The envelope recipients (bare addresses, `to`, `cc` and `bcc`, each once).
    pub recipients: Vec<String>,
    /// The message, as sent.
    pub bytes: Vec<u8>,
}

struct Parsed {
    name: Option<String>,
    email: String,
}

impl Parsed {
    fn address(&self) -> Address<'static> {
        Address::new_address(self.name.clone().map(Cow::Owned), Cow::Owned(self.email.clone()))
    }
}

fn no_line_break(field: &str, value: &str) -> Result<()> {
    if value.contains(['\r', '\n']) {
        return Err(Error::bad_request(format!(
            "header injection refused: the {field} {value:?} contains a line break"
        )));
    }
    Ok(())
}

fn mime_type(value: &str) -> Result<String> {
    let valid = value.split_once('/').is_some_and(|(top, sub)| {
        let token =
            |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b));
        token(top) && token(sub)
    });
    if valid { Ok(value.to_ascii_lowercase()) } else { Err(Error::internal(format!("{value:?} is not a MIME type"))) }
}

/// `Name <address>` or `address`, checked: one `@`, something on each side, and nothing that
/// could end the header or start another address.
fn parse_address(field: &str, raw: &str) -> Result<Parsed> {
    no_line_break(field, raw)?;
    let raw = raw.trim();
    let (name, email) = match raw.strip_suffix('>').and_then(|r| r.rsplit_once('<')) {
        Some((name, email)) => {
            let name = name.trim().trim_matches('"').trim();
            (Some(name.to_owned()).filter(|n| !n.is_empty()), email.trim())
        }
        None => (None, raw),
    };
    let valid = email.rsplit_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.is_empty()
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && email.chars().all(|c| !c.is_whitespace() && !c.is_control() && !"<>()[],;:\"\\".contains(c))
    });
    if !valid {
        return Err(Error::bad_request(format!("the {field} address {raw:?} is not an email address")));
    }
    Ok(Parsed { name, email: email.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(message: &EmailMessage) -> String {
        String::from_utf8(message.message("Site <site@example.com>").unwrap()).unwrap()
    }

    #[test]
    fn headers_and_envelope() {
        let message = EmailMessage::new("Zoë's invoice", "Hello\nThere")
            .to(["Zoë Ångström <zoe@example.com>", "bo@example.com"])
            .cc(["cc@example.com"])
            .bcc(["hidden@example.com", "ZOE@example.com"])
            .reply_to(["help@example.com"])
            .header("X-Campaign", "spring");
        let prepared = message.prepare("Site <site@example.com>").unwrap();
        assert_eq!(prepared.from, "site@example.com");
        assert_eq!(
            prepared.recipients,
            ["zoe@example.com", "bo@example.com", "cc@example.com", "hidden@example.com"],
            "each recipient once, bcc in the envelope"
        );
        let text = text(&message);
        assert!(text.contains("From: \"Site\" <site@example.com>") || text.contains("From: Site <site@example.com>"));
        assert!(text.contains("X-Campaign: spring"), "{text}");
        assert!(text.contains("Reply-To: <help@example.com>") || text.contains("Reply-To: help@example.com"), "{text}");
        assert!(!text.contains("hidden@example.com") && !text.contains("Bcc"), "{text}");
        assert!(text.contains("Subject: =?utf-8?"), "a non-ASCII subject is encoded: {text}");
        assert!(text.contains("Message-ID: <") && text.contains("@example.com>") && text.contains("Date: "));
    }

    #[test]
    fn header_injection_and_bad_addresses_are_refused() {
        let base = || EmailMessage::new("Hi", "body").to(["ada@example.com"]);
        let cases = [
            base().to(["x@example.com\nBcc: v@example.com"]),
            EmailMessage::new("Hi\nBcc: v@example.com", "").to(["ada@example.com"]),
            base().header("X-A", "1\r\nBcc: v@example.com"),
            base().header("X-A\nB", "1"),
            base().header("Bad Name", "1"),
            base().from("Evil <e@example.com>\r\nX: y"),
            base().reply_to(["r@example.com\r\n"]),
            base().cc(["not an address"]),
            base().to(["a@b@c, d@example.com"]),
            base().to(["@example.com"]),
            base().attach("a\r\nb.txt", vec![], "text/plain"),
        ];
        for case in cases {
            assert!(case.message("site@example.com").is_err(), "{case:?}");
        }
        assert!(EmailMessage::new("Hi", "").message("site@example.com").is_err(), "no recipients");
        let err = EmailMessage::new("Hi\nX", "").to(["a@example.com"]).message("s@example.com").unwrap_err();
        assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
        assert!(err.to_string().contains("header injection"), "{err}");
    }
}
