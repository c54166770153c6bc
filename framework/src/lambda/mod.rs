//! The Lambda door: serves the site through lambda_http, so the binary a developer runs with
//! `manage runserver` is also the function's `bootstrap`.
//!
//! Every HTTP payload shape (API Gateway REST and HTTP APIs, ALB, Function URLs) becomes one
//! `http::Request<Bytes>` for [`Site::handle`]. A REST API stage (`/Prod`) is stripped from the
//! path here, once, and kept as the request's script prefix that `reverse()`, `url()` and
//! redirects put back. lambda_http base64-encodes response bodies by content type. Under
//! [`InvokeMode::ResponseStream`] an HTTP response is streamed instead: the runtime's metadata
//! prelude, then the body as the site produces it.
//!
//! HTTP events are read as lambda_http reads them, with one correction (see [`Event`]); one it
//! could not convert without panicking (a client's bad base64, Host or query) is a 400. The
//! other invocations a site's one function receives (schedules, SQS, S3, SNS, remote `manage`)
//! are recognised by their shape first and go to what the site registered (see [`events`]).

pub mod events;
pub(crate) mod refuse;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::HeaderName;
use http_body_util::Full;
use lambda_http::lambda_runtime::{FunctionResponse, MetadataPrelude, StreamResponse};
use lambda_http::request::{LambdaRequest, RequestContext};
use lambda_http::{Adapter, LambdaEvent, RequestExt, Service, service_fn};
use serde_json::Value;

use crate::conf::InvokeMode;
use crate::http::{ClientAddr, LambdaInvocation, ScriptName, StreamingBody};
use crate::site::Site;
pub use crate::site::events::EventHandlers;
use crate::site::events::with_deadline;
use events::{EventError, Kind};

/// The variables the Lambda runtime sets; lambda_http panics without them, so they are checked
/// first for a clear message instead.
const RUNTIME_VARS: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

/// Serves Lambda invocations until the runtime stops the process. Must run inside a Tokio
/// runtime. One invocation at a time, as a classic Lambda instance receives them; as many at
/// once as AWS_LAMBDA_MAX_CONCURRENCY says where the runtime sets it (Lambda Managed
/// Instances), each on a poll loop of its own, so a slow request holds only itself. HTTP
/// responses go back whole, or streamed where LAMBDA_INVOKE_MODE says the Function URL streams.
pub async fn run(site: Site) -> Result<(), lambda_http::Error> {
    let missing: Vec<&str> = RUNTIME_VARS.iter().copied().filter(|v| std::env::var_os(v).is_none()).collect();
    if !missing.is_empty() {
        return Err(format!(
            "not running under the Lambda runtime: {} not set (run `manage runserver` to serve locally)",
            missing.join(", ")
        )
        .into());
    }
    let http_site = site.clone();
    let http = service_fn(move |event: lambda_http::Request| {
        let site = http_site.clone();
        async move { Ok::<_, Infallible>(handle_event(&site, event).await) }
    });
    let adapter = Adapter::from(http);
    let streaming = site.settings().lambda_invoke_mode == InvokeMode::ResponseStream;
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let site = site.clone();
        let adapter = adapter.clone();
        async move { dispatch(&site, adapter, event, streaming).await }
    });
    // Without AWS_LAMBDA_MAX_CONCURRENCY (or at 1) this is the sequential loop of `run`.
    lambda_http::lambda_runtime::run_concurrent(handler).await
}

/// A streamed HTTP response's body as the Lambda runtime sends it.
type Chunks = Pin<Box<dyn Stream<Item = Result<Bytes, lambda_http::Error>> + Send>>;

/// What an invocation answers: one payload, or (an HTTP request under
/// [`InvokeMode::ResponseStream`]) a stream.
type Answer<H> = FunctionResponse<Reply<H>, Chunks>;

/// What an invocation answers: an HTTP response in the shape its event came in, or the JSON
/// a non-HTTP event's handler gives back.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Reply<H> {
    Http(H),
    Json(Value),
}

async fn dispatch<S>(
    site: &Site,
    mut adapter: S,
    event: LambdaEvent<Value>,
    streaming: bool,
) -> Result<Answer<S::Response>, EventError>
where
    S: Service<LambdaEvent<LambdaRequest>, Error = Infallible>,
    S::Response: serde::Serialize,
{
    let LambdaEvent { payload, context } = event;
    // What an event handler reads as `invocation_deadline()`: the invocation's own deadline.
    let deadline = invocation_deadline(context.deadline);
    let reply = match events::classify(&payload) {
        Kind::Manage => events::run_manage(payload).await?,
        Kind::Task(name) => with_deadline(deadline, events::run_task(site, &name, payload)).await?,
        Kind::Sqs => with_deadline(deadline, events::run_sqs(site, payload)).await?,
        Kind::S3 => with_deadline(deadline, events::run_s3(site, payload)).await?,
        Kind::Sns => with_deadline(deadline, events::run_sns(site, payload)).await?,
        Kind::Http => {
            let Event(request) = serde_json::from_value(payload).map_err(|e| {
                format!(
                    "this invocation is not an HTTP request (API Gateway, ALB or Function URL), a schedule, an \
                     SQS, S3 or SNS event, or a {{\"manage\": …}} command: {e}"
                )
            })?;
            // Only a Function URL reads a streamed answer: API Gateway and ALB events are answered
            // whole whatever the setting says.
            let streaming = streaming && from_function_url(&request);
            if let Some(reason) = refuse::unreadable(&request) {
                eprintln!("Bad Request (Lambda event): {reason}");
                if streaming {
                    let page = Bytes::from_static(refuse::BAD_REQUEST_PAGE.as_bytes());
                    let mut resp = http::Response::new(page);
                    *resp.status_mut() = http::StatusCode::BAD_REQUEST;
                    resp.headers_mut()
                        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/html; charset=utf-8"));
                    return Ok(FunctionResponse::StreamingResponse(streamed(resp, "")));
                }
                return Ok(FunctionResponse::BufferedResponse(Reply::Json(refuse::bad_request(&request))));
            }
            if streaming {
                let mut event = lambda_http::Request::from(request);
                // As lambda_http's own adapters do, for X-Ray's sake.
                if let Some(trace) = context.xray_trace_id.as_deref().and_then(|t| http::HeaderValue::from_str(t).ok())
                {
                    event.headers_mut().insert(HeaderName::from_static("x-amzn-trace-id"), trace);
                }
                let event = event.with_lambda_context(context);
                return Ok(FunctionResponse::StreamingResponse(stream_event(site, event).await));
            }
            let response = match adapter.call(LambdaEvent::new(request, context)).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            return Ok(FunctionResponse::BufferedResponse(Reply::Http(response)));
        }
    };
    Ok(FunctionResponse::BufferedResponse(Reply::Json(reply)))
}

/// The invocation's deadline (milliseconds since the epoch, as the Runtime API gives it) as an
/// instant of this process's clock.
fn invocation_deadline(deadline_ms: u64) -> std::time::Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    std::time::Instant::now() + std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

/// An HTTP event as lambda_http reads it, corrected so a REST API's repeated headers all reach
/// the site. A REST API event lists every header in `multiValueHeaders` and repeats each one's
/// last value in `headers`; lambda_http merges the two with `HeaderMap::extend`, which
/// *replaces* a name's values, so a header sent twice (each cookie in its own `cookie` field, as
/// HTTP/2 clients may send them; two `Accept` lines) would arrive with its last value only, and
/// the site would see what runserver never shows it. Leaving out of `headers` the names
/// `multiValueHeaders` already has keeps every value.
struct Event(LambdaRequest);

impl<'de> serde::Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut request = LambdaRequest::deserialize(deserializer)?;
        if let LambdaRequest::ApiGatewayV1(event) = &mut request {
            let covered: Vec<HeaderName> =
                event.multi_value_headers.keys().filter(|name| event.headers.contains_key(*name)).cloned().collect();
            for name in covered {
                event.headers.remove(name);
            }
        }
        Ok(Event(request))
    }
}

/// Converts one lambda_http request into the site's request and answers it, whole (a buffered
/// integration takes one payload).
pub async fn handle_event(site: &Site, event: lambda_http::Request) -> http::Response<Full<Bytes>> {
    let limit = match event.request_context_ref() {
        Some(RequestContext::Alb(_)) => refuse::ALB_RESPONSE_LIMIT,
        _ => refuse::RESPONSE_LIMIT,
    };
    let request = site_request(event);
    let path = request.uri().path().to_owned();
    let resp = site.handle(request).await;
    // A streamed body is read whole, up to the limit.
    let reason = match crate::http::read_whole(resp, limit).await {
        Ok(resp) => match refuse::undeliverable(&resp, limit) {
            None => return resp.map(Full::new),
            Some(reason) => reason,
        },
        Err(e) => e.to_string(),
    };
    eprintln!("Internal Server Error: {path}\n  caused by: {reason}");
    let page = "<!doctype html>\n<title>Server Error (500)</title>\n<h1>Server Error (500)</h1>\n";
    let mut too_big = http::Response::new(Full::new(Bytes::from_static(page.as_bytes())));
    *too_big.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    too_big
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/html; charset=utf-8"));
    too_big
}

/// Answers one request through a Function URL in streaming mode: the status and headers first
/// (the runtime's metadata prelude, cookies apart as a Function URL wants them), then the body
/// as the site produces it. A buffered body goes as one chunk; nothing is read whole.
async fn stream_event(site: &Site, event: lambda_http::Request) -> StreamResponse<Chunks> {
    let request = site_request(event);
    let path = request.uri().path().to_owned();
    streamed(site.handle(request).await, &path)
}

/// What the client of a Function URL reads when a streamed body fails part-way: the reason goes
/// to the log only, as a 500 page's does.
const STREAM_FAILED: &str = "the response failed part-way; the reason is in the function's log";

/// A response of the site (for `path`) as the runtime streams it.
fn streamed(mut resp: http::Response<Bytes>, path: &str) -> StreamResponse<Chunks> {
    let streamed = resp.extensions_mut().remove::<StreamingBody>().and_then(|s| s.take());
    let (parts, body) = resp.into_parts();
    let chunks: Chunks = match streamed {
        Some(stream) => {
            let path = path.to_owned();
            // lambda_runtime 1.5 cannot abort the transfer: it writes an error chunk's text
            // (its error "trailer") into the body and goes on reading. So the first failure is
            // logged, the client gets a generic line, and nothing is sent after it.
            Box::pin(stream.scan(false, move |failed, chunk| {
                let item = match chunk {
                    _ if *failed => None,
                    Ok(bytes) => Some(Ok(bytes)),
                    Err(e) => {
                        *failed = true;
                        eprintln!("Internal Server Error: {path}\n  caused by: the streamed body failed: {e}");
                        Some(Err(lambda_http::Error::from(STREAM_FAILED)))
                    }
                };
                std::future::ready(item)
            }))
        }
        None if body.is_empty() => Box::pin(futures_util::stream::empty()),
        None => Box::pin(futures_util::stream::once(std::future::ready(Ok(body)))),
    };
    let cookies = parts
        .headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    // A Function URL takes one value per header (the prelude would carry an array): repeated
    // ones are joined as HTTP allows, as the buffered answer joins them.
    let mut headers = http::HeaderMap::with_capacity(parts.headers.keys_len());
    for name in parts.headers.keys().filter(|name| *name != http::header::SET_COOKIE) {
        let values: Vec<&[u8]> = parts.headers.get_all(name).iter().map(http::HeaderValue::as_bytes).collect();
        if let Ok(value) = http::HeaderValue::from_bytes(&values.join(&b", "[..])) {
            headers.insert(name.clone(), value);
        }
    }
    StreamResponse { metadata_prelude: MetadataPrelude { status_code: parts.status, headers, cookies }, stream: chunks }
}

/// Whether `request` came through a Function URL (`<url-id>.lambda-url.<region>.on.aws`, also
/// behind CloudFront).
fn from_function_url(request: &LambdaRequest) -> bool {
    match request {
        LambdaRequest::ApiGatewayV2(event) => {
            event.request_context.domain_name.as_deref().is_some_and(|d| d.contains(".lambda-url."))
        }
        _ => false,
    }
}

/// The site's request for one lambda_http request: the REST stage taken off the path and kept
/// as the script prefix, the client's address and the invocation's id in its extensions.
fn site_request(event: lambda_http::Request) -> http::Request<Bytes> {
    let stage = match event.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.stage.clone(),
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.stage.clone(),
        _ => None,
    };
    let client_ip: Option<IpAddr> = match event.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.identity.source_ip.as_deref().and_then(|ip| ip.parse().ok()),
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.as_deref().and_then(|ip| ip.parse().ok()),
        // An ALB appends the address it saw to what the client sent: only the last entry is
        // not the client's to choose (the login throttle keys on it).
        _ => event
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|ip| ip.trim().parse().ok()),
    };

    let request_id = event.lambda_context_ref().map(|ctx| ctx.request_id.clone());
    let raw_path = event.raw_http_path().to_owned();
    let (mut parts, body) = event.into_parts();
    let bytes = match body {
        lambda_http::Body::Text(s) => Bytes::from(s),
        lambda_http::Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };

    if let Some(stage) = stage.filter(|s| !s.is_empty() && s != "$default") {
        let prefix = format!("/{stage}");
        // lambda_http puts the stage in front of any path that does not start with `/{stage}/`,
        // so the stage's root as an HTTP API sends it (`rawPath` `/{stage}`) would arrive as
        // `/{stage}/{stage}`: that one is the site's root, as an empty PATH_INFO is for Django.
        let path = if raw_path == prefix { prefix.as_str() } else { parts.uri.path() };
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
    if let Some(request_id) = request_id {
        parts.extensions.insert(LambdaInvocation { request_id });
    }

    http::Request::from_parts(parts, bytes)
}

/// Tells the Lambda service why the function could not start (the Runtime API's
/// `/runtime/init/error`), so the reason shows in the invoke error and the console instead of a
/// bare "Runtime exited". Best effort: the process exits non-zero either way.
pub fn report_init_error(error_type: &str, message: &str) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let Some(api) = std::env::var("AWS_LAMBDA_RUNTIME_API").ok().filter(|a| !a.is_empty()) else {
        return Ok(());
    };
    let body = serde_json::json!({ "errorMessage": message, "errorType": error_type, "stackTrace": [] }).to_string();
    let request = format!(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\n\
         Lambda-Runtime-Function-Error-Type: {error_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let addr = std::net::ToSocketAddrs::to_socket_addrs(api.as_str())?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("AWS_LAMBDA_RUNTIME_API {api:?} names no address")))?;
    let timeout = std::time::Duration::from_secs(2);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(request.as_bytes())?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    // "HTTP/1.1 202": the service accepted the report.
    if &head[9..12] == b"202" {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("the Runtime API answered {}", String::from_utf8_lossy(&head))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_streamed_answer_joins_repeated_headers_and_keeps_a_failure_to_the_log() {
        let chunks = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"id,name\r\n")),
            Err(crate::Error::internal("connection to db.internal:5432 refused")),
            Ok(Bytes::from_static(b"sent after the failure\r\n")),
        ]);
        let mut resp = crate::http::Response::streaming("text/csv", chunks).into_http();
        let headers = resp.headers_mut();
        headers.append("link", http::HeaderValue::from_static("</a.css>; rel=preload"));
        headers.append("link", http::HeaderValue::from_static("</b.js>; rel=preload"));
        headers.append(http::header::SET_COOKIE, http::HeaderValue::from_static("a=1; Path=/"));
        headers.append(http::header::SET_COOKIE, http::HeaderValue::from_static("b=2; Path=/"));
        let answer = streamed(resp, "/contacts/export.csv");
        let prelude = &answer.metadata_prelude;
        assert_eq!(prelude.headers.get_all("link").iter().count(), 1);
        assert_eq!(prelude.headers["link"], "</a.css>; rel=preload, </b.js>; rel=preload");
        assert!(!prelude.headers.contains_key(http::header::SET_COOKIE));
        assert_eq!(prelude.cookies, ["a=1; Path=/", "b=2; Path=/"]);
        assert_eq!(prelude.headers["content-type"], "text/csv");

        let items: Vec<_> = answer.stream.collect().await;
        assert_eq!(items.len(), 2, "nothing after the failure");
        assert_eq!(items[0].as_ref().unwrap().as_ref(), b"id,name\r\n");
        let said = items[1].as_ref().unwrap_err().to_string();
        assert_eq!(said, STREAM_FAILED, "the database's address stays in the log");

        let whole = streamed(http::Response::new(Bytes::from_static(b"<p>hi</p>")), "/");
        let items: Vec<_> = whole.stream.collect().await;
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].as_ref().unwrap().as_ref(), b"<p>hi</p>");
    }
}
