//! The TechEmpower "fortunes" test written by hand as a Lambda function with lambda_http,
//! sea-orm and Tera: the reference djambda's Lambda door is measured against. DATABASE_URL set.

use bench::fortune;
use lambda_http::{Body, Error, Request, Response, run, service_fn};
use tera::{Context, Tera};

async fn fortunes(tera: &Tera, db: &sea_orm::DatabaseConnection, _event: Request) -> Result<Response<Body>, Error> {
    let rows = fortune::rows(db).await?;
    let mut ctx = Context::new();
    ctx.insert("fortunes", &rows);
    let html = tera.render("fortunes.html", &ctx)?;
    Ok(Response::builder().status(200).header("content-type", "text/html; charset=utf-8").body(Body::from(html))?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL to the fortunes database")?;
    let mut options = sea_orm::ConnectOptions::new(url);
    // One invocation at a time per instance.
    options.max_connections(1).sqlx_logging(false);
    let db = sea_orm::Database::connect(options).await?;
    let mut tera = Tera::new();
    tera.add_raw_template("fortunes.html", fortune::TEMPLATE)?;
    let (tera, db) = (&tera, &db);
    run(service_fn(move |event| fortunes(tera, db, event))).await
}
