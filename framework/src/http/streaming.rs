//! Streamed bodies (Django's `StreamingHttpResponse`): a response whose body is produced chunk
//! by chunk while it is sent, so a large export never sits whole in memory.
//!
//! The stream rides in the response's extensions as a [`StreamingBody`], and the buffered body
//! stays empty, so middleware, tower layers and the `http::Response<Bytes>` the site hands its
//! doors keep one type. Each door takes the stream out: runserver sends it as it comes
//! (chunked), and so does the Lambda door behind a Function URL in streaming mode; a buffered
//! Lambda integration and the test client read it whole, up to the door's limit.

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use crate::error::{Error, Result};

/// The chunks of a streamed body; an `Err` ends it, and is logged. runserver's client sees a
/// cut-off response, never a complete-looking one; a Function URL's client sees a line saying
/// the response failed (the Lambda runtime cannot abort a stream).
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// A streamed body in a response's extensions, for the door to take out once.
#[derive(Clone)]
pub struct StreamingBody(Arc<Mutex<Option<BodyStream>>>);

impl std::fmt::Debug for StreamingBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamingBody")
    }
}

impl StreamingBody {
    pub(crate) fn new(stream: BodyStream) -> Self {
        StreamingBody(Arc::new(Mutex::new(Some(stream))))
    }

    /// A body whose panics become an `Err` chunk: the stream is polled after the view has
    /// returned, out of reach of the handler's own catch.
    pub(crate) fn guarded(stream: BodyStream) -> Self {
        Self::new(Box::pin(Guarded { inner: stream, done: false }))
    }

    /// The stream, the first time it is asked for.
    pub fn take(&self) -> Option<BodyStream> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take()
    }
}

struct Guarded {
    inner: BodyStream,
    done: bool,
}

impl Stream for Guarded {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        if self.done {
            return std::task::Poll::Ready(None);
        }
        let this = &mut *self;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| this.inner.as_mut().poll_next(cx))) {
            Ok(poll) => poll,
            Err(panic) => {
                this.done = true;
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                std::task::Poll::Ready(Some(Err(Error::internal(format!("the streamed body panicked: {what}")))))
            }
        }
    }
}

/// `resp` with a streamed body read into its buffered body, for doors that send one payload
/// (the Lambda door, the test client). Past `limit` bytes, or when a chunk fails, it is an
/// error saying which.
pub async fn read_whole(mut resp: http::Response<Bytes>, limit: usize) -> Result<http::Response<Bytes>> {
    let Some(mut stream) = resp.extensions_mut().remove::<StreamingBody>().and_then(|s| s.take()) else {
        return Ok(resp);
    };
    let mut body = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| Error::internal(format!("the streamed body failed after {} bytes: {e}", body.len())))?;
        if body.len() + chunk.len() > limit {
            return Err(Error::internal(format!(
                "the streamed body passed {limit} bytes, the payload limit of a response this door sends whole: \
                 paginate the view (or a client that accepts gzip gets it compressed)"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let len = body.len();
    *resp.body_mut() = body.freeze();
    resp.headers_mut().insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Response;

    fn chunks(parts: Vec<Result<&'static str>>) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
        futures_util::stream::iter(parts.into_iter().map(|p| p.map(|s| Bytes::from_static(s.as_bytes()))))
    }

    #[tokio::test]
    async fn a_stream_is_read_whole_up_to_the_limit() {
        let resp = Response::streaming("text/csv", chunks(vec![Ok("a,"), Ok("b\r\n")]));
        assert!(resp.is_streaming() && resp.body().is_empty());
        let whole = read_whole(resp.into_http(), 100).await.unwrap();
        assert_eq!(whole.body(), "a,b\r\n");
        assert_eq!(whole.headers()["content-length"], "5");
        assert!(whole.extensions().get::<StreamingBody>().is_none());

        let big = Response::streaming("text/csv", chunks(vec![Ok("0123456789"), Ok("0123456789")]));
        let err = read_whole(big.into_http(), 15).await.unwrap_err();
        assert!(err.to_string().contains("passed 15 bytes"), "{err}");

        let broken = Response::streaming("text/csv", chunks(vec![Ok("row\r\n"), Err(Error::internal("disk gone"))]));
        let err = read_whole(broken.into_http(), 100).await.unwrap_err();
        assert!(err.to_string().contains("failed after 5 bytes: disk gone"), "{err}");

        let panics = futures_util::stream::iter(0..3).map(|i| {
            assert!(i < 2, "row {i} is broken");
            Ok(Bytes::from_static(b"ok\r\n"))
        });
        let err = read_whole(Response::streaming("text/csv", panics).into_http(), 100).await.unwrap_err();
        assert!(err.to_string().contains("panicked: row 2 is broken"), "{err}");
    }
}
