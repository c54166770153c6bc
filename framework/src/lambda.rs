//! The Lambda door: serves the site through lambda_http, so the binary a developer runs with
//! `manage runserver` is also the function's `bootstrap`.
//!
//! Every HTTP payload shape (API Gateway REST and HTTP APIs, ALB, Function URLs) becomes one
//! `http::Request<Bytes>` for [`Site::handle`]. A REST API stage (`/Prod`) is stripped from the
//! path here, once, and kept as the request's script prefix that `reverse()`, `url()` and
//! redirects put back. lambda_http base64-encodes response bodies by content type.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http_body_util::Full;
use lambda_http::request::RequestContext;
use lambda_http::{RequestExt, service_fn};

use crate::http::{ClientAddr, ScriptName};
use crate::site::Site;

/// The variables the Lambda runtime sets; lambda_http panics without them, so they are checked
/// first for a clear message instead.
const RUNTIME_VARS: [&str; 4] = ["AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION"];

/// Serves Lambda invocations until the runtime stops the process. Must run inside a Tokio
/// runtime; one invocation at a time, as a Lambda instance receives them.
pub async fn run(site: Site) -> Result<(), lambda_http::Error> {
    let missing: Vec<&str> = RUNTIME_VARS.iter().copied().filter(|v| std::env::var_os(v).is_none()).collect();
    if !missing.is_empty() {
        return Err(format!(
            "not running under the Lambda runtime: {} not set (run `manage runserver` to serve locally)",
            missing.join(", ")
        )
        .into());
    }
    lambda_http::run(service_fn(move |event: lambda_http::Request| {
        let site = site.clone();
        async move { Ok::<_, Infallible>(handle_event(&site, event).await) }
    }))
    .await
}

/// Converts one lambda_http request into the site's request and answers it.
pub async fn handle_event(site: &Site, event: lambda_http::Request) -> http::Response<Full<Bytes>> {
    let stage = match event.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.stage.clone(),
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.stage.clone(),
        _ => None,
    };
    let client_ip: Option<IpAddr> = match event.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.identity.source_ip.as_deref().and_then(|ip| ip.parse().ok()),
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.as_deref().and_then(|ip| ip.parse().ok()),
        _ => event
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|ip| ip.trim().parse().ok()),
    };

    let (mut parts, body) = event.into_parts();
    let bytes = match body {
        lambda_http::Body::Text(s) => Bytes::from(s),
        lambda_http::Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };

    if let Some(stage) = stage.filter(|s| !s.is_empty() && s != "$default") {
        let prefix = format!("/{stage}");
        let path = parts.uri.path();
        if let Some(rest) = path.strip_prefix(prefix.as_str())
            && (rest.is_empty() || rest.starts_with('/'))
        {
            let rest = if rest.is_empty() { "/" } else { rest };
            let path_and_query = match parts.uri.query() {
                Some(q) => format!("{rest}?{q}"),
                None => rest.to_owned(),
            };
            let mut uri_parts = parts.uri.clone().into_parts();
            if let Ok(pq) = path_and_query.parse() {
                uri_parts.path_and_query = Some(pq);
                if let Ok(uri) = http::Uri::from_parts(uri_parts) {
                    parts.uri = uri;
                }
            }
            parts.extensions.insert(ScriptName(prefix));
        }
    }
    if let Some(ip) = client_ip {
        parts.extensions.insert(ClientAddr(SocketAddr::new(ip, 0)));
    }

    site.handle(http::Request::from_parts(parts, bytes)).await.map(Full::new)
}
