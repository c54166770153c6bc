//! Sessions (Django's `django.contrib.sessions`): per-visitor data kept across requests.
//!
//! The default engine keeps the data itself in a cookie, signed with SECRET_KEY
//! (`signed_cookies`): no server state, which suits Lambda instances that come and go. A
//! session can also live in the database (`SESSION_ENGINE = "db"`, the `djambda_session`
//! table) or in Redis (`"cache"`, with REDIS_URL and djambda's `redis` feature). A tampered,
//! unknown or expired cookie is an empty session, never an error.
//!
//! ```
//! use djambda::prelude::*;
//!
//! async fn visits(req: Request) -> Result<Response> {
//!     let session = req.session();
//!     let n: u32 = session.get("visits").unwrap_or(0) + 1;
//!     session.insert("visits", &n);
//!     Ok(Response::text(format!("visit {n}")))
//! }
//! # let _ = UrlConf::new().path("", visits, "visits");
//! ```

mod backends;
mod clear;
pub mod migrations;
pub mod models;

use std::sync::{Arc, Mutex, MutexGuard};

use cookie::Cookie;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub use backends::{CacheStore, DatabaseStore, SessionStore, SignedCookieStore, store_for};

use crate::error::{Error, Result};
use crate::http::Response;
use crate::middleware::{Middleware, Next};
use crate::request::Request;
use crate::routing::{BoxFuture, FromRequest};
use crate::site::app::App;
use crate::templates::Context;

/// The sessions app (Django's `django.contrib.sessions`): the `djambda_session` table's
/// migration (used by SESSION_ENGINE = "db"), [`SessionMiddleware`] in the middleware list,
/// the store SESSION_ENGINE names, and `manage clearsessions`.
pub fn app() -> App {
    App::new("sessions")
        .migrations::<migrations::Migrator>()
        .middleware(SessionMiddleware)
        // A page shows who is logged in, so it depends on the session cookie (Vary: Cookie).
        .context_processor(|req: &Request, _ctx: &mut Context| {
            if let Some(session) = req.local::<Session>() {
                session.mark_accessed();
            }
        })
        .on_ready(|setup| {
            let store = store_for(setup.settings(), setup.database())?;
            setup.insert_state(SessionStoreState(store));
            Ok(())
        })
        .command(clear::command())
        // SESSION_ENGINE = "cache": a page needs Redis as much as the database.
        .readiness_check("sessions", |site| async move {
            match session_store(&site) {
                Some(store) => store.ping().await.map_err(|e| e.to_string()),
                None => Ok(()),
            }
        })
}

/// Where sessions are kept (SESSION_ENGINE), on the site.
struct SessionStoreState(Arc<dyn SessionStore>);

/// The site's session store (SESSION_ENGINE); `None` without the sessions app.
pub fn session_store(site: &crate::Site) -> Option<&Arc<dyn SessionStore>> {
    site.state::<SessionStoreState>().map(|s| &s.0)
}

/// The session of one request: a map of JSON values by key. Cheap to clone (all clones are the
/// same session); changes are saved when the response goes out.
#[derive(Clone, Default)]
pub struct Session {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    data: Map<String, Value>,
    /// The key a server-side store knows the session by (none for signed cookies).
    key: Option<String>,
    /// A key given up by `cycle_key` or `flush`, to delete from the store.
    retired: Option<String>,
    modified: bool,
    accessed: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("keys", &self.keys()).finish()
    }
}

impl Session {
    /// A session holding `data`, known to its store as `key`.
    pub(crate) fn loaded(data: Map<String, Value>, key: Option<String>) -> Session {
        Session { state: Arc::new(Mutex::new(State { data, key, ..State::default() })) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A view that panicked mid-change leaves whatever it had set; the data is still a map.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> MutexGuard<'_, State> {
        let mut state = self.lock();
        state.accessed = true;
        state
    }

    fn write(&self) -> MutexGuard<'_, State> {
        let mut state = self.read();
        state.modified = true;
        state
    }

    /// The value under `key`, if there is one of type `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.read().data.get(key).and_then(|v| T::deserialize(v).ok())
    }

    /// The value under `key`, without counting as a use of the session (no `Vary: Cookie`):
    /// for middleware that looks before the view decides.
    pub(crate) fn peek<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.lock().data.get(key).and_then(|v| T::deserialize(v).ok())
    }

    /// Counts as a use of the session: the response then varies by cookie.
    pub(crate) fn mark_accessed(&self) {
        self.lock().accessed = true;
    }

    /// The raw JSON value under `key`.
    pub fn get_value(&self, key: &str) -> Option<Value> {
        self.read().data.get(key).cloned()
    }

    /// Sets `key` to `value`. A value that cannot be JSON (a map with non-string keys) is
    /// stored as null.
    pub fn insert<T: Serialize + ?Sized>(&self, key: &str, value: &T) {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.write().data.insert(key.to_owned(), value);
    }

    /// Removes `key`, returning its value.
    pub fn remove(&self, key: &str) -> Option<Value> {
        let mut state = self.read();
        let old = state.data.remove(key);
        if old.is_some() {
            state.modified = true;
        }
        old
    }

    /// Whether `key` is set.
    pub fn contains_key(&self, key: &str) -> bool {
        self.read().data.contains_key(key)
    }

    /// The keys set.
    pub fn keys(&self) -> Vec<String> {
        self.lock().data.keys().cloned().collect()
    }

    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.read().data.is_empty()
    }

    /// Removes everything, keeping the session key.
    pub fn clear(&self) {
        let mut state = self.write();
        state.data.clear();
    }

    /// Removes everything and gives up the session key (Django's `flush()`, what logout does):
    /// the old key can never be used again.
    pub fn flush(&self) {
        let mut state = self.write();
        state.data.clear();
        if let Some(old) = state.key.take() {
            state.retired = Some(old);
        }
    }

    /// Keeps the data under a new session key (Django's `cycle_key()`, what login does), so a
    /// key an attacker planted before login is worthless after it.
    pub fn cycle_key(&self) {
        let mut state = self.write();
        if let Some(old) = state.key.take() {
            state.retired = Some(old);
        }
    }

    /// The key a server-side store knows this session by (none with signed cookies, or before
    /// the session is first saved).
    pub fn session_key(&self) -> Option<String> {
        self.lock().key.clone()
    }

    fn take_changes(&self) -> (bool, bool, Option<String>) {
        let mut state = self.lock();
        (state.accessed, state.modified, state.retired.take())
    }
}

impl Request {
    /// This request's session (Django's `request.session`). Without the sessions app it is an
    /// empty session whose changes are not saved.
    pub fn session(&self) -> Session {
        self.local::<Session>().unwrap_or_default()
    }
}

impl FromRequest for Session {
    fn from_request(req: &Request) -> Result<Self> {
        Ok(req.session())
    }
}

/// Django's `SessionMiddleware`: loads the session named by the cookie before the view, and
/// after it saves a changed session and sets the cookie (or deletes the cookie of a session
/// emptied by logout). Responses that used the session get `Vary: Cookie`.
pub struct SessionMiddleware;

impl Middleware for SessionMiddleware {
    fn call(&self, req: Request, next: Next) -> BoxFuture<Result<Response>> {
        Box::pin(async move {
            let site = req.site().clone();
            let settings = &site.settings().sessions;
            let store = session_store(&site).ok_or_else(|| {
                Error::internal("SessionMiddleware is in the middleware list but the sessions app is not installed")
            })?;
            let incoming = req.cookie(&settings.cookie_name);
            let session = match &incoming {
                Some(value) => match store.load(value).await? {
                    Some((data, key)) => Session::loaded(data, key),
                    None => Session::default(),
                },
                None => Session::default(),
            };
            let secure = settings.cookie_secure || req.is_secure();
            req.set_local(session.clone());
            let mut resp = next.run(req).await;

            let (accessed, modified, retired) = session.take_changes();
            if let Some(old) = retired {
                store.delete(&old).await?;
            }
            if accessed {
                resp.patch_vary("Cookie");
            }
            let (empty, key) = {
                let state = session.lock();
                (state.data.is_empty(), state.key.clone())
            };
            if empty {
                if incoming.is_some() {
                    // An emptied session (logout) loses its cookie and its stored row.
                    if let Some(key) = &key {
                        store.delete(key).await?;
                    }
                    let mut gone =
                        Cookie::build((settings.cookie_name.clone(), "")).path(settings.cookie_path.clone()).build();
                    if let Some(domain) = &settings.cookie_domain {
                        gone.set_domain(domain.clone());
                    }
                    gone.make_removal();
                    resp.set_cookie(gone);
                }
                return Ok(resp);
            }
            let must_save = modified || settings.save_every_request;
            // Django does not save the session of a failed request: the view may have stopped
            // half-way through its changes.
            if must_save && !resp.status().is_server_error() {
                let data = session.lock().data.clone();
                let (value, new_key) = store.save(key, &data, settings.cookie_age).await?;
                session.lock().key = new_key;
                if value.len() > 4093 {
                    tracing::warn!(
                        "the session cookie is {} bytes, more than browsers keep (4093): store less in the \
                         session or use SESSION_ENGINE = \"db\"",
                        value.len()
                    );
                }
                let mut c = Cookie::build((settings.cookie_name.clone(), value))
                    .path(settings.cookie_path.clone())
                    .http_only(settings.cookie_httponly)
                    .secure(secure)
                    .build();
                if let Some(same_site) = settings.cookie_samesite {
                    c.set_same_site(same_site);
                }
                if let Some(domain) = &settings.cookie_domain {
                    c.set_domain(domain.clone());
                }
                if !settings.expire_at_browser_close {
                    let age = settings.cookie_age.as_secs().min(i64::MAX as u64) as i64;
                    c.set_max_age(cookie::time::Duration::seconds(age));
                }
                resp.set_cookie(c);
            }
            Ok(resp)
        })
    }
}
