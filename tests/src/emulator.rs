//! A Lambda Runtime API emulator: a loopback HTTP server speaking the runtime protocol
//! (`/2018-06-01/runtime/invocation/next`, `…/{id}/response`, `…/{id}/error`, `…/init/error`),
//! so the real built binary can be run as AWS runs a `bootstrap`. A response posted in the
//! streaming mode (`Lambda-Runtime-Function-Response-Mode: streaming`, chunked, a JSON metadata
//! prelude and eight NUL bytes before the body, as a Function URL in `RESPONSE_STREAM` mode
//! reads it) is read as it arrives and kept apart from its prelude.
//!
//! Every answer goes out in one TCP segment with Nagle off: a reply split over two writes makes
//! the function's client wait for a delayed ACK (~40 ms), which would hide real latencies.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc, oneshot, watch};

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The function posted a response (the JSON it returned).
    Response(serde_json::Value),
    /// The function posted an invocation error.
    Error(serde_json::Value),
    /// The function streamed its response.
    Streamed(Streamed),
}

/// A response the function streamed.
#[derive(Debug, Clone, PartialEq)]
pub struct Streamed {
    /// The metadata prelude: `statusCode`, `headers`, `cookies`.
    pub prelude: serde_json::Value,
    /// The body after the prelude and its eight NUL bytes.
    pub body: Vec<u8>,
    /// How many pieces the request's body arrived in, prelude included.
    pub pieces: usize,
    /// The body bytes that had arrived when the first piece of body arrived: less than the
    /// whole when it came in parts.
    pub first_piece: usize,
}

impl Outcome {
    /// The response, or a panic naming the error the function reported.
    pub fn response(self) -> serde_json::Value {
        match self {
            Outcome::Response(v) => v,
            Outcome::Error(e) => panic!("the function reported an invocation error: {e}"),
            Outcome::Streamed(s) => panic!("the function streamed its response: {}", s.prelude),
        }
    }
}

struct Pending {
    id: String,
    event: Bytes,
}

struct State {
    queue_tx: mpsc::UnboundedSender<Pending>,
    queue_rx: Mutex<mpsc::UnboundedReceiver<Pending>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    next_polls: watch::Sender<u64>,
    /// Invocations handed to the function so far.
    taken: watch::Sender<u64>,
    first_poll: std::sync::Mutex<Option<Instant>>,
    init_error: std::sync::Mutex<Option<serde_json::Value>>,
    counter: AtomicU64,
}

/// A running emulator. Dropping it stops the server.
pub struct RuntimeApi {
    addr: SocketAddr,
    state: Arc<State>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApi {
    /// Starts an emulator on a free loopback port.
    pub async fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the runtime API emulator");
        let addr = listener.local_addr().expect("emulator address");
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            queue_tx,
            queue_rx: Mutex::new(queue_rx),
            waiting: Mutex::new(HashMap::new()),
            next_polls: watch::channel(0).0,
            taken: watch::channel(0).0,
            first_poll: std::sync::Mutex::new(None),
            init_error: std::sync::Mutex::new(None),
            counter: AtomicU64::new(0),
        });
        let st = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let _ = stream.set_nodelay(true);
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let st = st.clone();
                        async move { Ok::<_, Infallible>(route(&st, req).await) }
                    });
                    // writev off: hyper flattens head and body into one buffer, one write.
                    let _ = http1::Builder::new().writev(false).serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        });
        RuntimeApi { addr, state, server }
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Queues an event and waits (up to `timeout`) for the function's answer.
    pub async fn invoke_with_timeout(&self, event: impl Into<Bytes>, timeout: Duration) -> Result<Outcome, String> {
        let n = self.state.counter.fetch_add(1, Ordering::SeqCst);
        let id = format!("00000000-0000-4000-8000-{n:012}");
        let (tx, rx) = oneshot::channel();
        self.state.waiting.lock().await.insert(id.clone(), tx);
        self.state
            .queue_tx
            .send(Pending { id: id.clone(), event: event.into() })
            .map_err(|_| "the emulator stopped".to_string())?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(_)) => Err(format!("invocation {id} was dropped")),
            Err(_) => Err(format!("no answer to invocation {id} within {timeout:?}")),
        }
    }

    /// Queues an event and waits up to 30 s for the answer; panics if none comes.
    pub async fn invoke(&self, event: impl Into<Bytes>) -> Outcome {
        self.invoke_with_timeout(event, Duration::from_secs(30)).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits until the function has polled `/invocation/next` at least `n` times in total.
    pub async fn wait_for_polls(&self, n: u64, timeout: Duration) -> bool {
        let mut rx = self.state.next_polls.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c >= n)).await.is_ok_and(|r| r.is_ok())
    }

    /// Waits until the function has been handed at least `n` invocations in total.
    pub async fn wait_for_taken(&self, n: u64, timeout: Duration) -> bool {
        let mut rx = self.state.taken.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c >= n)).await.is_ok_and(|r| r.is_ok())
    }

    /// When the function first polled `/invocation/next` (its init finished).
    pub fn first_poll(&self) -> Option<Instant> {
        *self.state.first_poll.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the function reported to `/runtime/init/error`, if anything.
    pub fn init_error(&self) -> Option<serde_json::Value> {
        self.state.init_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn reply(status: u16, body: impl Into<Bytes>) -> http::Response<Full<Bytes>> {
    let mut r = http::Response::new(Full::new(body.into()));
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    r
}

/// Hands invocation `id`'s outcome to whoever waits for it.
async fn finish(st: &State, id: &str, outcome: Outcome) -> http::Response<Full<Bytes>> {
    match st.waiting.lock().await.remove(id) {
        Some(tx) => {
            let _ = tx.send(outcome);
            reply(202, r#"{"status":"OK"}"#)
        }
        None => reply(400, r#"{"errorMessage":"unknown request id"}"#),
    }
}

/// Reads a streamed response's body frame by frame.
async fn read_streamed(mut body: Incoming) -> Result<Streamed, String> {
    const DELIMITER: &[u8] = &[0; 8];
    let mut all = Vec::new();
    let mut pieces = 0;
    let mut prelude_end = None;
    let mut first_piece = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("the streamed body broke off after {} bytes: {e}", all.len()))?;
        let Ok(data) = frame.into_data() else { continue };
        pieces += 1;
        all.extend_from_slice(&data);
        if prelude_end.is_none() {
            prelude_end = all.windows(DELIMITER.len()).position(|w| w == DELIMITER);
            if let Some(end) = prelude_end {
                first_piece = all.len() - end - DELIMITER.len();
            }
        } else if first_piece == 0 {
            first_piece = all.len() - prelude_end.unwrap_or(0) - DELIMITER.len();
        }
    }
    let end = prelude_end.ok_or("no metadata prelude ending in eight NUL bytes")?;
    let prelude = serde_json::from_slice(&all[..end]).map_err(|e| format!("the metadata prelude is not JSON: {e}"))?;
    Ok(Streamed { prelude, body: all[end + DELIMITER.len()..].to_vec(), pieces, first_piece })
}

async fn route(st: &State, req: http::Request<Incoming>) -> http::Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let streaming = req
        .headers()
        .get("lambda-runtime-function-response-mode")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"streaming"));
    if streaming
        && let Some(id) = path.strip_prefix("/2018-06-01/runtime/invocation/").and_then(|p| p.strip_suffix("/response"))
    {
        let outcome = match read_streamed(req.into_body()).await {
            Ok(streamed) => Outcome::Streamed(streamed),
            Err(e) => Outcome::Error(serde_json::json!({ "errorMessage": e })),
        };
        return finish(st, id, outcome).await;
    }
    let body = req.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let accepted = || reply(202, r#"{"status":"OK"}"#);
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["2018-06-01", "runtime", "invocation", "next"]) => {
            {
                let mut first = st.first_poll.lock().unwrap_or_else(|e| e.into_inner());
                first.get_or_insert_with(Instant::now);
            }
            st.next_polls.send_modify(|c| *c += 1);
            let Some(next) = st.queue_rx.lock().await.recv().await else {
                return reply(500, r#"{"errorMessage":"emulator stopping"}"#);
            };
            st.taken.send_modify(|c| *c += 1);
            let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + Duration::from_secs(30);
            let mut r = reply(200, next.event);
            let h = r.headers_mut();
            let set = |h: &mut http::HeaderMap, k: &'static str, v: String| {
                if let Ok(v) = http::HeaderValue::from_str(&v) {
                    h.insert(k, v);
                }
            };
            set(h, "lambda-runtime-aws-request-id", next.id);
            set(h, "lambda-runtime-deadline-ms", deadline.as_millis().to_string());
            set(
                h,
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:djambda-test".into(),
            );
            set(
                h,
                "lambda-runtime-trace-id",
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into(),
            );
            r
        }
        ("POST", ["2018-06-01", "runtime", "invocation", id, kind @ ("response" | "error")]) => {
            let value: serde_json::Value = serde_json::from_slice(&body)
                .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into_owned()));
            let outcome = if *kind == "response" { Outcome::Response(value) } else { Outcome::Error(value) };
            finish(st, id, outcome).await
        }
        ("POST", ["2018-06-01", "runtime", "init", "error"]) => {
            let value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            *st.init_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
            accepted()
        }
        _ => reply(404, r#"{"errorMessage":"not a runtime API path"}"#),
    }
}
