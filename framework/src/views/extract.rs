//! Typed extractors: the arguments a view can take after the request.

use std::net::SocketAddr;
use std::str::FromStr;

use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind, Result};
use crate::http::QueryDict;
use crate::request::Request;
use crate::routing::FromRequest;

/// The route's path parameters, parsed: `Path<i32>` for one, a tuple for several, in pattern
/// order. A value that does not parse (an `<int:…>` too big for `i32`, say) is a 404, as a URL
/// naming no object.
///
/// ```
/// use djambda::prelude::*;
///
/// async fn deal(_req: Request, Path((company, deal)): Path<(String, u64)>) -> Result<Response> {
///     Ok(Response::text(format!("{company}/{deal}")))
/// }
/// # let _ = UrlConf::new().path("<slug:company>/deals/<int:deal>/", deal, "deal");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path<T>(pub T);

/// Types a [`Path`] can hold: single values and tuples of them.
pub trait FromPathParams: Sized {
    /// Builds the value from the parameters in pattern order.
    fn from_params(params: &[(String, String)]) -> Result<Self>;
}

fn parse_param<T: FromStr>(params: &[(String, String)], i: usize, want: usize) -> Result<T> {
    if params.len() != want {
        return Err(Error::internal(format!(
            "the view asks for {want} path parameter(s) but its route has {}",
            params.len()
        )));
    }
    let (name, raw) = &params[i];
    raw.parse().map_err(|_| Error::not_found(format!("`{raw}` is not a valid value for `{name}`")))
}

macro_rules! scalar_params {
    ($($t:ty),*) => {$(
        impl FromPathParams for $t {
            fn from_params(params: &[(String, String)]) -> Result<Self> {
                parse_param(params, 0, 1)
            }
        }
    )*};
}
scalar_params!(i8, i16, i32, i64, u8, u16, u32, u64, usize, String);

macro_rules! tuple_params {
    ($n:expr; $($t:ident $i:tt),*) => {
        impl<$($t: FromStr),*> FromPathParams for ($($t,)*) {
            fn from_params(params: &[(String, String)]) -> Result<Self> {
                Ok(($(parse_param::<$t>(params, $i, $n)?,)*))
            }
        }
    };
}
tuple_params!(1; A 0);
tuple_params!(2; A 0, B 1);
tuple_params!(3; A 0, B 1, C 2);
tuple_params!(4; A 0, B 1, C 2, D 3);

impl<T: FromPathParams> FromRequest for Path<T> {
    fn from_request(req: &Request) -> Result<Self> {
        T::from_params(req.params()).map(Path)
    }
}

/// The query string deserialised into `T` with serde (`?page=2&q=acme`); a value that does not
/// fit is a 400. For repeated keys use [`Request::query`], a [`QueryDict`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Query<T> {
    fn from_request(req: &Request) -> Result<Self> {
        serde_urlencoded::from_str(req.query_string())
            .map(Query)
            .map_err(|e| Error::with_source(ErrorKind::BadRequest, "the query string does not fit this view", e))
    }
}

/// A urlencoded form body deserialised into `T`; the wrong content type is 415, fields that do
/// not fit are 400. (Validated forms with per-field errors come with `djambda::forms`.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Form<T> {
    fn from_request(req: &Request) -> Result<Self> {
        if req.content_type().as_deref() != Some("application/x-www-form-urlencoded") {
            return Err(Error::new(
                ErrorKind::UnsupportedMediaType,
                "expected a form body (Content-Type: application/x-www-form-urlencoded)",
            ));
        }
        serde_urlencoded::from_bytes(req.body())
            .map(Form)
            .map_err(|e| Error::with_source(ErrorKind::BadRequest, "the form data does not fit this view", e))
    }
}

/// A JSON body deserialised into `T` (see [`Request::json`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Json<T> {
    fn from_request(req: &Request) -> Result<Self> {
        req.json().map(Json)
    }
}

impl FromRequest for QueryDict {
    /// A view argument of type `QueryDict` is the query string (Django's `request.GET`).
    fn from_request(req: &Request) -> Result<Self> {
        Ok(req.query().clone())
    }
}

/// The client's address, when the front door knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<SocketAddr>);

impl FromRequest for ClientIp {
    fn from_request(req: &Request) -> Result<Self> {
        Ok(ClientIp(req.client_addr()))
    }
}

impl FromRequest for http::HeaderMap {
    fn from_request(req: &Request) -> Result<Self> {
        Ok(req.headers().clone())
    }
}

impl<T: FromRequest> FromRequest for Option<T> {
    fn from_request(req: &Request) -> Result<Self> {
        Ok(T::from_request(req).ok())
    }
}
