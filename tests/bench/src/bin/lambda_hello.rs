//! A bare lambda_http "hello" function, written as lambda_http's README shows: the reference
//! the cold start of djambda's `manage` binary is compared against.

use lambda_http::{Body, Error, Request, Response, run, service_fn};

async fn hello(_event: Request) -> Result<Response<Body>, Error> {
    let resp = Response::builder()
        .status(200)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::from("hello"))?;
    Ok(resp)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(hello)).await
}
