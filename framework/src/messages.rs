//! One-time messages (Django's `django.contrib.messages`): "Saved.", shown once on the next
//! page a user sees, typically after a redirect.
//!
//! Messages travel in a signed cookie (`messages`), so there is no server state: the Lambda
//! instance that shows a message need not be the one that added it. A tampered cookie is
//! ignored. Templates get `messages`, a list of `{message, level, level_tag, tags}`; the base
//! template shows them, and once a page has been rendered with them they are gone.
//!
//! ```
//! use djambda::prelude::*;
//! use djambda::messages;
//!
//! async fn save(req: Request) -> Result<Response> {
//!     messages::success(&req, "Contact saved.");
//!     redirect(&req, "contact-list")
//! }
//! # let _ = UrlConf::new().path("save/", save, "save");
//! ```

use std::sync::{Arc, Mutex};

use cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::http::Response;
use crate::middleware::{Middleware, Next};
use crate::request::Request;
use crate::routing::BoxFuture;
use crate::signing::Signer;
use crate::site::app::App;
use crate::templates::Context;

/// The messages app (Django's `django.contrib.messages`): [`MessageMiddleware`] in the
/// middleware list, the signer of its cookie, and `messages` in every page's context.
pub fn app() -> App {
    App::new("messages")
        .middleware(MessageMiddleware)
        .context_processor(|req: &Request, ctx: &mut Context| {
            ctx.insert("messages", &context_value(req));
        })
        .on_ready(|setup| {
            setup.insert_state(MessageSigner(Signer::new(&setup.settings().secret_key, "djambda.contrib.messages")));
            Ok(())
        })
}

/// The signer of the messages cookie, made once per site.
struct MessageSigner(Signer);

/// The cookie the messages travel in.
pub const COOKIE_NAME: &str = "messages";

/// How important a message is (Django's levels and numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum Level {
    /// 10: for developers; not shown unless asked for.
    Debug = 10,
    /// 20: for information.
    Info = 20,
    /// 25: an action worked.
    Success = 25,
    /// 30: something to look at.
    Warning = 30,
    /// 40: an action failed.
    Error = 40,
}

impl From<Level> for u8 {
    fn from(l: Level) -> u8 {
        l as u8
    }
}

impl TryFrom<u8> for Level {
    type Error = String;
    fn try_from(n: u8) -> std::result::Result<Self, String> {
        Ok(match n {
            10 => Level::Debug,
            20 => Level::Info,
            25 => Level::Success,
            30 => Level::Warning,
            40 => Level::Error,
            _ => return Err(format!("no message level {n}")),
        })
    }
}

impl Level {
    /// The CSS-friendly name (`success`, `error`…).
    pub fn tag(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Success => "success",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Its level.
    #[serde(rename = "l")]
    pub level: Level,
    /// The text (escaped when shown, like any template value).
    #[serde(rename = "m")]
    pub message: String,
    /// Extra CSS classes.
    #[serde(rename = "t", default, skip_serializing_if = "String::is_empty")]
    pub extra_tags: String,
}

/// A message as templates see it.
#[derive(Serialize)]
pub(crate) struct Shown<'a> {
    message: &'a str,
    level: u8,
    level_tag: &'static str,
    tags: String,
}

#[derive(Default)]
struct Store {
    /// Messages not yet shown: from the cookie, then added during this request.
    queue: Vec<Message>,
    /// Whether the request brought a messages cookie.
    had_cookie: bool,
    /// Whether the queue changed (so the cookie must be rewritten or removed).
    changed: bool,
}

/// The messages of one request (in the request's extensions, put there by the middleware).
#[derive(Clone, Default)]
pub(crate) struct Messages(Arc<Mutex<Store>>);

impl Messages {
    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Adds a message for the next page (Django's `messages.add_message`). Debug messages are
/// dropped, as Django's default MESSAGE_LEVEL does. Without the middleware (a request built
/// by hand) the message goes nowhere.
pub fn add_message(req: &Request, level: Level, message: impl Into<String>) {
    add_message_with_tags(req, level, message, "")
}

/// [`add_message`] with extra CSS classes.
pub fn add_message_with_tags(req: &Request, level: Level, message: impl Into<String>, extra_tags: &str) {
    if level < Level::Info {
        return;
    }
    if let Some(m) = req.local::<Messages>() {
        let mut store = m.lock();
        store.queue.push(Message { level, message: message.into(), extra_tags: extra_tags.to_owned() });
        store.changed = true;
    }
}

/// A debug message (dropped unless the level is lowered, as in Django).
pub fn debug(req: &Request, message: impl Into<String>) {
    add_message(req, Level::Debug, message)
}

/// An information message.
pub fn info(req: &Request, message: impl Into<String>) {
    add_message(req, Level::Info, message)
}

/// A success message.
pub fn success(req: &Request, message: impl Into<String>) {
    add_message(req, Level::Success, message)
}

/// A warning.
pub fn warning(req: &Request, message: impl Into<String>) {
    add_message(req, Level::Warning, message)
}

/// An error message.
pub fn error(req: &Request, message: impl Into<String>) {
    add_message(req, Level::Error, message)
}

/// Takes the messages waiting for this request: they will not be shown again (Django's
/// iterating over `get_messages`). Rendering a template does this for `messages`.
pub fn get_messages(req: &Request) -> Vec<Message> {
    match req.local::<Messages>() {
        Some(m) => {
            let mut store = m.lock();
            if !store.queue.is_empty() {
                store.changed = true;
            }
            std::mem::take(&mut store.queue)
        }
        None => Vec::new(),
    }
}

/// The template value `messages`: the waiting messages, now marked shown.
fn context_value(req: &Request) -> Vec<serde_json::Value> {
    get_messages(req)
        .iter()
        .map(|m| {
            let tags = if m.extra_tags.is_empty() {
                m.level.tag().to_owned()
            } else {
                format!("{} {}", m.extra_tags, m.level.tag())
            };
            serde_json::to_value(Shown { message: &m.message, level: m.level as u8, level_tag: m.level.tag(), tags })
                .unwrap_or_default()
        })
        .collect()
}

/// Django's `MessageMiddleware` with cookie storage: reads the messages cookie (a tampered or
/// unreadable one is ignored), and after the view writes back what is still unshown, or
/// removes the cookie once everything was shown.
pub struct MessageMiddleware;

impl Middleware for MessageMiddleware {
    fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>> {
        Box::pin(async move {
            let site = req.site().clone();
            let signer = site.state::<MessageSigner>().map(|s| &s.0).ok_or_else(|| {
                crate::Error::internal(
                    "MessageMiddleware is in the middleware list but the messages app is not installed",
                )
            })?;
            let incoming = req.cookie(COOKIE_NAME);
            let had_cookie = incoming.is_some();
            let queue: Vec<Message> =
                incoming.and_then(|value| signer.unsign_object::<Vec<Message>>(&value, None).ok()).unwrap_or_default();
            let messages = Messages(Arc::new(Mutex::new(Store { queue, had_cookie, changed: false })));
            let secure = req.settings().sessions.cookie_secure || req.is_secure();
            req.set_local(messages.clone());
            let mut resp = next.run(req).await;
            let store = messages.lock();
            if !store.changed {
                return Ok(resp);
            }
            if store.queue.is_empty() {
                if store.had_cookie {
                    resp.delete_cookie(COOKIE_NAME);
                }
            } else {
                let mut kept: &[Message] = &store.queue;
                let mut value = signer.sign_object(kept);
                // Browsers drop cookies past 4 KB: keep the newest messages that fit.
                while value.len() > 3800 && kept.len() > 1 {
                    kept = &kept[1..];
                    value = signer.sign_object(kept);
                }
                let c = Cookie::build((COOKIE_NAME, value))
                    .path("/")
                    .http_only(true)
                    .secure(secure)
                    .same_site(SameSite::Lax)
                    .build();
                resp.set_cookie(c);
            }
            Ok(resp)
        })
    }
}
