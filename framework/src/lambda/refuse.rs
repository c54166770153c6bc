//! HTTP events the site cannot take as a request, found before lambda_http converts them.
//!
//! lambda_http turns an event into an `http::Request` with `unwrap` and `expect`: a body marked
//! `isBase64Encoded` that is not base64, a Host that makes no URL (`{host}`, as the API Gateway
//! console's test event sends), or a raw query string with a space or a `"` would panic the
//! invocation. Those come from the client, so they are the client's error: the same checks run
//! here first, and a failure is answered 400 in the shape the event came in.

use base64::Engine;
use http::HeaderMap;
use lambda_http::request::LambdaRequest;
use serde_json::{Value, json};

/// Why `request` cannot become an `http::Request`, if it cannot.
pub(crate) fn unreadable(request: &LambdaRequest) -> Option<String> {
    // Every Host the site would see, from either header field: one that is no URL authority
    // (`{host}`) cannot be a request's, whichever field lambda_http builds the URI from.
    let multi = match request {
        LambdaRequest::ApiGatewayV1(e) => Some(&e.multi_value_headers),
        LambdaRequest::Alb(e) => Some(&e.multi_value_headers),
        _ => None,
    };
    let single = match request {
        LambdaRequest::ApiGatewayV1(e) => Some(&e.headers),
        LambdaRequest::ApiGatewayV2(e) => Some(&e.headers),
        LambdaRequest::Alb(e) => Some(&e.headers),
        _ => None,
    };
    for value in multi.into_iter().chain(single).flat_map(|h| h.get_all(http::header::HOST)) {
        let readable = value.to_str().ok().is_some_and(|v| v.parse::<http::uri::Authority>().is_ok());
        if !readable {
            return Some(format!("the Host header {value:?} is not a host name"));
        }
    }
    let (headers, domain, path, raw_query, base64, body) = match request {
        LambdaRequest::ApiGatewayV1(e) => (
            &e.headers,
            e.request_context.domain_name.as_deref(),
            Some(with_stage(e.request_context.stage.as_deref(), e.path.as_deref().unwrap_or_default())),
            None,
            e.is_base64_encoded,
            e.body.as_deref(),
        ),
        LambdaRequest::ApiGatewayV2(e) => (
            &e.headers,
            e.request_context.domain_name.as_deref(),
            Some(with_stage(e.request_context.stage.as_deref(), e.raw_path.as_deref().unwrap_or_default())),
            e.raw_query_string.as_deref(),
            e.is_base64_encoded,
            e.body.as_deref(),
        ),
        LambdaRequest::Alb(e) => (&e.headers, None, e.path.clone(), None, e.is_base64_encoded, e.body.as_deref()),
        _ => return None,
    };
    if base64
        && let Some(body) = body
        && base64::engine::general_purpose::STANDARD.decode(body).is_err()
    {
        return Some("the body is marked isBase64Encoded but is not base64".into());
    }
    let host = host(headers).or(domain);
    let path = path.unwrap_or_default();
    let path = path.as_str();
    // As lambda_http builds the URI: the path on a placeholder host, or scheme, host and path
    // (REST and ALB queries it re-encodes itself; an HTTP API's raw query is appended as sent).
    let mut uri = match host {
        None => match url::Url::parse(&format!("http://localhost{path}")) {
            Ok(u) => u.path().to_owned(),
            Err(e) => return Some(format!("the path {path:?} is not a URL path: {e}")),
        },
        Some(host) => {
            let scheme = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).unwrap_or("https");
            match url::Url::parse(&format!("{scheme}://{host}{path}")) {
                Ok(u) => u.to_string(),
                Err(e) => {
                    return Some(format!("the scheme {scheme:?}, host {host:?} and path {path:?} make no URL: {e}"));
                }
            }
        }
    };
    if let Some(query) = raw_query.filter(|q| !q.is_empty()) {
        uri.push('?');
        uri.push_str(query);
    }
    match http::Uri::try_from(uri.as_str()) {
        Ok(_) => None,
        Err(e) => Some(format!("the request target {uri:?} is not a valid URI ({e})")),
    }
}

/// The path as lambda_http builds an API Gateway request's: the stage in front, unless the
/// path starts with it or AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH is set.
fn with_stage(stage: Option<&str>, path: &str) -> String {
    match stage {
        Some(stage) if stage != "$default" && std::env::var_os("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH").is_none() => {
            if path.starts_with(&format!("/{stage}/")) {
                path.to_owned()
            } else {
                format!("/{stage}{path}")
            }
        }
        _ => path.to_owned(),
    }
}

fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get(http::header::HOST).and_then(|v| v.to_str().ok())
}

/// The page of a 400 for an event the door cannot read.
pub(super) const BAD_REQUEST_PAGE: &str =
    "<!doctype html>\n<title>Bad Request (400)</title>\n<h1>Bad Request (400)</h1>\n";

/// A 400 for `request` in its origin's response shape: REST APIs read `headers` and
/// `multiValueHeaders`, HTTP APIs and Function URLs `headers` and `cookies`, an ALB
/// `statusDescription` and whichever header field its target group uses.
pub(crate) fn bad_request(request: &LambdaRequest) -> Value {
    const TYPE: &str = "text/html; charset=utf-8";
    let body = BAD_REQUEST_PAGE;
    match request {
        LambdaRequest::ApiGatewayV1(_) => json!({
            "statusCode": 400,
            "headers": { "content-type": TYPE },
            "multiValueHeaders": { "content-type": [TYPE] },
            "body": body,
            "isBase64Encoded": false,
        }),
        LambdaRequest::Alb(e) if !e.multi_value_headers.is_empty() => json!({
            "statusCode": 400,
            "statusDescription": "400 Bad Request",
            "multiValueHeaders": { "content-type": [TYPE] },
            "body": body,
            "isBase64Encoded": false,
        }),
        LambdaRequest::Alb(_) => json!({
            "statusCode": 400,
            "statusDescription": "400 Bad Request",
            "headers": { "content-type": TYPE },
            "body": body,
            "isBase64Encoded": false,
        }),
        _ => json!({
            "statusCode": 400,
            "headers": { "content-type": TYPE },
            "cookies": [],
            "body": body,
            "isBase64Encoded": false,
        }),
    }
}

/// The most a synchronous invocation may answer: the whole response event, 6 MB.
pub(super) const RESPONSE_LIMIT: usize = 6 * 1024 * 1024;

/// What an ALB takes from a Lambda target: 1 MB.
pub(super) const ALB_RESPONSE_LIMIT: usize = 1024 * 1024;

/// Room kept for the status, the headers and the event's own fields.
const ENVELOPE: usize = 64 * 1024;

/// Why `resp` cannot be delivered through a buffered Lambda integration, if it cannot: the
/// body as the response event will carry it (JSON-escaped text, or base64 for everything
/// lambda_http sends as binary) past [`RESPONSE_LIMIT`]. The service would refuse it after the
/// fact and the client would see a bare 502; a 500 that says why is better. `limit` is the
/// integration's: [`RESPONSE_LIMIT`], or [`ALB_RESPONSE_LIMIT`] behind a load balancer.
pub(super) fn undeliverable(resp: &http::Response<bytes::Bytes>, limit: usize) -> Option<String> {
    let body = resp.body();
    // Escaping makes a byte six at most (`\u0000`): a body that fits even so needs no count.
    if body.len() * 6 + ENVELOPE <= limit {
        return None;
    }
    let headers: usize = resp.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 8).sum();
    let content_type = resp.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let text = resp.headers().get(http::header::CONTENT_ENCODING).is_none()
        && (["text", "application/json", "application/javascript", "application/xml", "application/yaml"]
            .iter()
            .any(|p| content_type.starts_with(p))
            || ["+xml", "+yaml", "+json"].iter().any(|s| content_type.split(';').next().unwrap_or("").ends_with(s)));
    let carried = match std::str::from_utf8(body) {
        Ok(s) if text => s
            .bytes()
            .map(|b| match b {
                b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
                0..0x20 => 6,
                _ => 1,
            })
            .sum(),
        // Text that is not UTF-8 is decoded lossily on the way: a bad byte becomes U+FFFD.
        Err(_) if text => body.len() * 3,
        _ => body.len().div_ceil(3) * 4,
    };
    let total = carried + headers + 256;
    (total > limit).then(|| {
        format!(
            "the response is {total} bytes as a Lambda response event, past the {limit}-byte payload limit: \
             paginate the view, or stream it"
        )
    })
}

#[cfg(test)]
mod tests {
    //! A seeded property test of the door: events mutated with the characters that break URLs
    //! and encodings either are refused here or convert without a panic.

    use super::*;
    use crate::fuzzing::{Rng, seed_and_runs};

    /// Text made of what breaks URLs and encodings.
    fn hostile_text(rng: &mut Rng) -> String {
        const PIECES: &[&str] = &[
            "a",
            "Z",
            "0",
            "/",
            "//",
            "?",
            "#",
            "%",
            "%zz",
            "%2F",
            "{",
            "}",
            "<",
            ">",
            "\"",
            "'",
            " ",
            "\t",
            "\\",
            "@",
            ":",
            "[",
            "]",
            "[::1]",
            "..",
            "=",
            "&",
            ";",
            ",",
            "é",
            "☃",
            "\u{0}",
            "\u{7f}",
            "\r\n",
            "host",
            ":8080",
            "https",
            "http://",
            "=%",
            "+",
            "*",
            "1.2.3.999",
            "999",
            "prod",
        ];
        let len = rng.below(8);
        (0..len).map(|_| PIECES[rng.below(PIECES.len())]).collect()
    }

    const EVENTS: [&str; 3] = [
        r#"{"resource":"/{proxy+}","path":"/a","httpMethod":"GET","headers":{"Host":"example.com"},
            "multiValueHeaders":{"Host":["example.com"]},"queryStringParameters":{"q":"1"},
            "multiValueQueryStringParameters":{"q":["1"]},"requestContext":{"accountId":"1","resourceId":"r",
            "stage":"prod","requestId":"x","identity":{"sourceIp":"1.2.3.4"},"resourcePath":"/{proxy+}",
            "httpMethod":"GET","apiId":"a","domainName":"example.com"},"body":null,"isBase64Encoded":false}"#,
        r#"{"version":"2.0","routeKey":"$default","rawPath":"/a","rawQueryString":"q=1","headers":{"host":"example.com"},
            "requestContext":{"accountId":"1","apiId":"a","domainName":"example.com","domainPrefix":"example",
            "http":{"method":"GET","path":"/a","protocol":"HTTP/1.1","sourceIp":"1.2.3.4","userAgent":"t"},
            "requestId":"x","routeKey":"$default","stage":"$default","time":"01/Jan/2026:00:00:00 +0000",
            "timeEpoch":0},"body":null,"isBase64Encoded":false}"#,
        r#"{"requestContext":{"elb":{"targetGroupArn":"arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/t/1"}},
            "httpMethod":"GET","path":"/a","queryStringParameters":{"q":"1"},"headers":{"host":"example.com"},
            "body":"","isBase64Encoded":false}"#,
    ];

    fn mutate(rng: &mut Rng, event: &mut Value) {
        let text = Value::String(hostile_text(rng));
        match rng.below(12) {
            0 => event["path"] = text,
            1 => event["rawPath"] = text,
            2 => event["rawQueryString"] = text,
            3 => event["headers"]["host"] = text,
            4 => event["headers"]["x-forwarded-proto"] = text,
            5 => {
                event["body"] = text;
                event["isBase64Encoded"] = Value::Bool(rng.below(2) == 0);
            }
            6 => event["requestContext"]["domainName"] = text,
            7 => event["requestContext"]["stage"] = text,
            8 => event["queryStringParameters"] = json!({ hostile_text(rng): hostile_text(rng) }),
            9 => {
                event["multiValueQueryStringParameters"] =
                    json!({ hostile_text(rng): [hostile_text(rng), hostile_text(rng)] })
            }
            10 => event["multiValueHeaders"] = json!({ "host": [hostile_text(rng)] }),
            _ => event["headers"][hostile_text(rng)] = text,
        }
    }

    #[test]
    fn mutated_events_are_refused_or_convert_without_panicking() {
        let (seed, runs) = seed_and_runs(0x5eed_d00d, 3000);
        let mut rng = Rng(seed);
        let (mut refused, mut converted, mut not_events) = (0, 0, 0);
        for run in 0..runs {
            let mut event: Value = serde_json::from_str(EVENTS[run % EVENTS.len()]).unwrap();
            for _ in 0..1 + rng.below(3) {
                mutate(&mut rng, &mut event);
            }
            let Ok(request) = serde_json::from_value::<LambdaRequest>(event.clone()) else {
                not_events += 1;
                continue;
            };
            if unreadable(&request).is_some() {
                refused += 1;
                let answer = bad_request(&request);
                assert_eq!(answer["statusCode"], 400);
                continue;
            }
            let converted_ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                http::Request::<lambda_http::Body>::from(request)
            }));
            assert!(converted_ok.is_ok(), "run {run} (seed {seed}): lambda_http panicked on {event}");
            converted += 1;
        }
        println!("{runs} mutated events: {refused} refused with a 400, {converted} converted, {not_events} not events");
        assert!(refused > 0 && converted > 0, "the mutations reach both sides");
    }
}
