//! What an error page needs of a request that a view or middleware consumed, and panics as
//! errors.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};

use super::Site;
use crate::error::Error;
use crate::http::{ClientAddr, Request, ScriptName};

pub(super) fn panic_error(panic: Box<dyn std::any::Any + Send>) -> Error {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    Error::internal(format!("the view panicked: {msg}"))
}

/// What the middleware attached to a request that its pages show: the session, the CSRF
/// token, the user and the messages (a few `Arc`s).
#[derive(Clone, Default)]
pub(crate) struct PageState {
    session: Option<crate::sessions::Session>,
    csrf: Option<crate::middleware::csrf::Csrf>,
    user: Option<crate::auth::CurrentUser>,
    messages: Option<crate::messages::Messages>,
}

impl PageState {
    pub(super) fn of(req: &Request) -> Self {
        let ext = req.extensions();
        PageState {
            session: ext.get().cloned(),
            csrf: ext.get().cloned(),
            user: ext.get().cloned(),
            messages: ext.get().cloned(),
        }
    }
}

/// What an error page needs to know of a request that a view or middleware consumed.
#[derive(Clone)]
pub(crate) struct ErrorSnapshot {
    method: Method,
    uri: Uri,
    script_name: String,
    client: Option<SocketAddr>,
    /// Only kept with DEBUG on, for the developer page.
    headers: Option<HeaderMap>,
    route_name: Option<String>,
    params: Vec<(String, String)>,
    state: PageState,
}

impl ErrorSnapshot {
    pub(crate) fn of(req: &Request) -> Self {
        let debug = req.settings().debug;
        ErrorSnapshot {
            method: req.method().clone(),
            uri: req.uri().clone(),
            script_name: req.script_name().to_owned(),
            client: req.client_addr(),
            headers: debug.then(|| req.headers().clone()),
            route_name: if debug { req.route_name().map(str::to_owned) } else { None },
            params: if debug { req.params().to_vec() } else { Vec::new() },
            state: PageState::default(),
        }
    }

    /// The snapshot with the page state of the request it was taken from.
    pub(super) fn with_state(&self, state: PageState) -> Self {
        ErrorSnapshot { state, ..self.clone() }
    }

    pub(super) fn to_request(&self, site: Site) -> Request {
        let mut builder = http::Request::builder().method(self.method.clone()).uri(self.uri.clone());
        if let Some(h) = self.headers.clone()
            && let Some(map) = builder.headers_mut()
        {
            *map = h;
        }
        let mut req = builder.body(Bytes::new()).unwrap_or_default();
        req.extensions_mut().insert(ScriptName(self.script_name.clone()));
        if let Some(addr) = self.client {
            req.extensions_mut().insert(ClientAddr(addr));
        }
        let ext = req.extensions_mut();
        if let Some(s) = &self.state.session {
            ext.insert(s.clone());
        }
        if let Some(c) = &self.state.csrf {
            ext.insert(c.clone());
        }
        if let Some(u) = &self.state.user {
            ext.insert(u.clone());
        }
        if let Some(m) = &self.state.messages {
            ext.insert(m.clone());
        }
        let mut out = Request::new(req, site);
        out.set_route(self.route_name.clone(), self.params.clone());
        out
    }
}
