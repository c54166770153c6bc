//! The TechEmpower "fortunes" test written by hand with axum, sea-orm and Tera: the reference
//! the djambda fortunes site is measured against. `fortunes_axum ADDR`, DATABASE_URL set.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use bench::fortune;
use tera::{Context, Tera};

#[derive(Clone)]
struct App {
    tera: Arc<Tera>,
    db: sea_orm::DatabaseConnection,
}

async fn fortunes(State(app): State<App>) -> Response {
    let rows = match fortune::rows(&app.db).await {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("could not read the fortunes: {e}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut ctx = Context::new();
    ctx.insert("fortunes", &rows);
    match app.tera.render("fortunes.html", &ctx) {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            eprintln!("could not render the fortunes: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL to the fortunes database")?;
    let pool_size = std::env::var("DATABASE_POOL_SIZE").ok().and_then(|n| n.parse().ok()).unwrap_or(1);
    let mut options = sea_orm::ConnectOptions::new(url);
    options.max_connections(pool_size).sqlx_logging(false);
    let db = sea_orm::Database::connect(options).await?;
    let mut tera = Tera::new();
    tera.add_raw_template("fortunes.html", fortune::TEMPLATE)?;
    let app = App { tera: Arc::new(tera), db };
    let router = Router::new().route("/fortunes", get(fortunes)).with_state(app);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}/", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}
