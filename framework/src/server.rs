//! The server behind `manage runserver`: HTTP/1.1 with keep-alive on hyper, one front door to
//! [`Site::handle`], with timeouts and a connection cap so hostile or slow clients cannot take
//! it over.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Either, Full, Limited, StreamBody};
use hyper::body::{Body as _, Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::http::{BodyTooLarge, ClientAddr, StreamingBody};
use crate::site::Site;

/// Binds `addr`, turning "address in use" into the one-line message runserver prints.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr).await.map_err(|e| bind_error(addr, &e))
}

/// The one-line message for a failed bind of `addr`, as Django's runserver words it.
pub(crate) fn bind_error(addr: SocketAddr, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::AddrInUse => format!("Error: That port is already in use ({addr})."),
        io::ErrorKind::PermissionDenied => format!("Error: You don't have permission to access that port ({addr})."),
        io::ErrorKind::AddrNotAvailable => format!("Error: That IP address can't be assigned to ({addr})."),
        _ => format!("Error: could not listen on {addr}: {e}"),
    }
}

/// Serves `site` on `listener` until `shutdown` completes, with the `SERVER_*` settings: a
/// client slow to send its headers or its body, or idle between requests, loses its
/// connection; at most SERVER_MAX_CONNECTIONS are served at once. On shutdown no new
/// connection is taken and the requests in flight get SERVER_GRACEFUL_TIMEOUT to finish.
pub async fn serve(site: Site, listener: TcpListener, shutdown: impl Future<Output = ()>) -> io::Result<()> {
    let limits = site.settings().server.clone();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stopping, stop) = watch::channel(false);
    let mut builder = http1::Builder::new();
    builder.keep_alive(true).timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        // A place first, then the connection: past the cap, clients wait in the listen queue
        // rather than each taking a file descriptor.
        let slot = tokio::select! {
            _ = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                // Running out of file descriptors and the like is passing: keep serving.
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let site = site.clone();
        let builder = builder.clone();
        let mut stop = stop.clone();
        let body_timeout = limits.body_timeout;
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let site = site.clone();
                async move { Ok::<_, Infallible>(answer(&site, req, peer, body_timeout).await) }
            });
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            // Clients that hang up mid-request are routine; nothing to report.
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(slot);
        });
    }
    let _ = stopping.send(true);
    let everyone = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.graceful_timeout, slots.acquire_many(everyone)).await.is_err() {
        eprintln!(
            "shutting down with requests still in flight after SERVER_GRACEFUL_TIMEOUT ({:?})",
            limits.graceful_timeout
        );
    }
    Ok(())
}

async fn answer(
    site: &Site,
    req: http::Request<Incoming>,
    peer: SocketAddr,
    body_timeout: Duration,
) -> http::Response<Body> {
    let (mut parts, body) = req.into_parts();
    let content_type = parts.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let limit = site.settings().max_body_size(content_type);
    parts.extensions.insert(ClientAddr(peer));
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let bytes = if body.is_end_stream() {
        Bytes::new()
    } else if declared.is_some_and(|n| n > limit as u64) {
        parts.extensions.insert(BodyTooLarge);
        Bytes::new()
    } else {
        match tokio::time::timeout(body_timeout, Limited::new(body, limit).collect()).await {
            Err(_) => {
                // A body that trickles in holds a connection: past the timeout it is refused.
                let mut late =
                    http::Response::new(Either::Left(Full::new(Bytes::from_static(b"Request Timeout (408)\n"))));
                *late.status_mut() = http::StatusCode::REQUEST_TIMEOUT;
                late.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
                return late;
            }
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(_)) => {
                // Over the limit (or the client went away): the body-size middleware answers.
                parts.extensions.insert(BodyTooLarge);
                Bytes::new()
            }
        }
    };
    let path = parts.uri.path().to_owned();
    let old_client = parts.version < http::Version::HTTP_11;
    let mut resp = site.handle(http::Request::from_parts(parts, bytes)).await;
    if old_client && resp.extensions().get::<StreamingBody>().is_some() {
        // HTTP/1.0 has no chunks: a body of unknown length ends when the connection closes,
        // so a failed stream would look complete. Such a client gets the body whole, or a 500.
        return match crate::http::read_whole(resp, HTTP10_STREAM_LIMIT).await {
            Ok(whole) => whole.map(|b| Either::Left(Full::new(b))),
            Err(e) => {
                eprintln!("Internal Server Error: {path}\n  {e}");
                let mut failed =
                    http::Response::new(Either::Left(Full::new(Bytes::from_static(b"Server Error (500)\n"))));
                *failed.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                failed
            }
        };
    }
    match resp.extensions_mut().remove::<StreamingBody>().and_then(|s| s.take()) {
        None => resp.map(|b| Either::Left(Full::new(b))),
        // Sent as it comes, chunked. A failing chunk is logged and ends the connection, so the
        // client sees the body cut off instead of a complete-looking one.
        Some(stream) => {
            let frames = stream.map(move |chunk| {
                chunk.map(Frame::data).map_err(|e| {
                    eprintln!("Internal Server Error: {path}\n  the streamed body failed: {e}");
                    io::Error::other(e.to_string())
                })
            });
            resp.map(|_| Either::Right(StreamBody::new(Box::pin(frames) as FrameStream)))
        }
    }
}

/// The most of a streamed body read into memory for an HTTP/1.0 client: what the Lambda door
/// delivers whole (6 MB), so the two doors agree and a thousand such clients cannot take the
/// memory that streaming saves.
const HTTP10_STREAM_LIMIT: usize = 6 * 1024 * 1024;

/// A streamed body's chunks as hyper's frames.
type FrameStream = std::pin::Pin<Box<dyn futures_util::Stream<Item = io::Result<Frame<Bytes>>> + Send>>;

/// What runserver sends: a whole body, or a streamed one.
type Body = Either<Full<Bytes>, StreamBody<FrameStream>>;
