//! The development server behind `manage runserver`: HTTP/1.1 with keep-alive on hyper, one
//! front door to [`Site::handle`].

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::http::{BodyTooLarge, ClientAddr};
use crate::site::Site;

/// Binds `addr`, turning "address in use" into the one-line message runserver prints.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr).await.map_err(|e| match e.kind() {
        io::ErrorKind::AddrInUse => format!("Error: That port is already in use ({addr})."),
        io::ErrorKind::PermissionDenied => format!("Error: You don't have permission to access that port ({addr})."),
        io::ErrorKind::AddrNotAvailable => format!("Error: That IP address can't be assigned to ({addr})."),
        _ => format!("Error: could not listen on {addr}: {e}"),
    })
}

/// Serves `site` on `listener` until `shutdown` completes; connections in flight are dropped
/// then, as Django's runserver does on Ctrl-C.
pub async fn serve(site: Site, listener: TcpListener, shutdown: impl Future<Output = ()>) -> io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
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
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let site = site.clone();
                async move { Ok::<_, Infallible>(answer(&site, req, peer).await) }
            });
            // Clients that hang up mid-request are routine for a dev server; nothing to report.
            let _ = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn answer(site: &Site, req: http::Request<Incoming>, peer: SocketAddr) -> http::Response<Full<Bytes>> {
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
        match Limited::new(body, limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                // Over the limit (or the client went away): the body-size middleware answers.
                parts.extensions.insert(BodyTooLarge);
                Bytes::new()
            }
        }
    };
    let resp = site.handle(http::Request::from_parts(parts, bytes)).await;
    resp.map(Full::new)
}
