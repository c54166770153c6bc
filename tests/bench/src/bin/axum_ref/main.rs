//! A hand-written axum + Tera server rendering the example site's dashboard (`/`) and contact
//! pages (`/contacts/{id}/`) from the same templates, with no djambda: the reference djambda's
//! runserver throughput is measured against (`tests/bench/run.sh`).
//!
//! It does what a competent user would do by hand: parse the templates once at start, hash the
//! static files once at start, give Tera its own `url()` and `static()` functions, and read the
//! display-preference cookies per request.
//!
//! The example CRM requires login, and djambda's pages are measured logged in as the demo user.
//! This server does no authentication: it renders the logged-in layout (navigation, the user's
//! name, the log-out form) for the demo user, whose name it reads once at start, with a fixed
//! CSRF token in the log-out form. So the bodies match byte for byte except the token (djambda
//! masks it afresh per request), and the throughput gap includes what djambda does per request
//! for the logged-in page: the session check, the user and permission queries, the CSRF token.
//!
//! `axum_ref [ADDR:PORT]` (default `127.0.0.1:0`); prints `listening on http://ADDR:PORT/`.

mod data;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use tera::{Context, Kwargs, Tera, TeraResult};

/// A file of the repository, by its path from the workspace root.
macro_rules! repo_file {
    ($include:ident, $path:literal) => {
        $include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../", $path))
    };
}

/// The example site's templates, under the names they are rendered by.
const TEMPLATES: [(&str, &str); 4] = [
    ("base.html", repo_file!(include_str, "templates/base.html")),
    ("crm/dashboard.html", repo_file!(include_str, "templates/crm/dashboard.html")),
    ("crm/contact_detail.html", repo_file!(include_str, "templates/crm/contact_detail.html")),
    ("crm/notes.html", repo_file!(include_str, "templates/crm/notes.html")),
];

/// The static files the templates link to, under their STATIC_URL names.
const STATIC_FILES: [(&str, &[u8]); 3] = [
    ("img/logo.png", repo_file!(include_bytes, "example_site/static/img/logo.png")),
    ("site.css", repo_file!(include_bytes, "example_site/static/site.css")),
    ("crm/crm.css", repo_file!(include_bytes, "example_site/src/crm/static/crm/crm.css")),
];

/// `site.css` → `/static/site.0123456789ab.css`: the first 12 hex digits of the content's SHA-256
/// before the extension, so the URL changes whenever the file does.
fn hashed_url(name: &str, content: &[u8]) -> String {
    let digest = Sha256::digest(content);
    let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    let (dir, file) = name.rsplit_once('/').map_or(("", name), |(d, f)| (d, f));
    let hashed = match file.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}.{hash}.{ext}"),
        _ => format!("{file}.{hash}"),
    };
    if dir.is_empty() { format!("/static/{hashed}") } else { format!("/static/{dir}/{hashed}") }
}

/// The app's URLs, for the templates' `url(name=…, slug=… | pk=…)`.
fn url(kwargs: Kwargs, _: &tera::State) -> TeraResult<String> {
    let name: &str = kwargs.must_get("name")?;
    Ok(match name {
        "crm:dashboard" => "/".into(),
        "crm:company-list" => "/companies/".into(),
        "crm:company-detail" => format!("/companies/{}/", kwargs.must_get::<&str>("slug")?),
        "crm:contact-list" => "/contacts/".into(),
        "crm:contact-detail" => format!("/contacts/{}/", kwargs.must_get::<i64>("pk")?),
        "crm:contact-update" => format!("/contacts/{}/edit/", kwargs.must_get::<i64>("pk")?),
        "crm:contact-delete" => format!("/contacts/{}/delete/", kwargs.must_get::<i64>("pk")?),
        "crm:api-contact" => format!("/api/contacts/{}/", kwargs.must_get::<i64>("pk")?),
        "crm:deal-list" => "/deals/".into(),
        "crm:deal-detail" => format!("/deals/{}/", kwargs.must_get::<i64>("pk")?),
        "crm:note-create" => "/notes/new/".into(),
        "crm:note-update" => format!("/notes/{}/edit/", kwargs.must_get::<i64>("pk")?),
        "crm:note-delete" => format!("/notes/{}/delete/", kwargs.must_get::<i64>("pk")?),
        "crm:forecast" => "/forecast/".into(),
        "crm:preferences" => "/preferences/".into(),
        "logout" => "/accounts/logout/".into(),
        other => return Err(tera::Error::message(format!("no URL named `{other}`"))),
    })
}

/// The CSRF token the log-out form carries: djambda's are 64 letters and digits, masked afresh
/// per request; this server checks no POST, so one fixed token of that shape stands in.
const CSRF_TOKEN: &str = "BenchOnlyFixedCsrfTokenBenchOnlyFixedCsrfTokenBenchOnlyFixedCsrf";

/// The logged-in user as the layout shows it (`user.is_authenticated`, `user.full_name`).
#[derive(serde::Serialize)]
struct ShownUser {
    is_authenticated: bool,
    full_name: String,
}

/// The demo user's name as djambda shows it: first and last name, or the username.
async fn demo_user(db: &sea_orm::DatabaseConnection) -> Result<ShownUser, Box<dyn std::error::Error>> {
    use sea_orm::{ConnectionTrait, Statement};
    let sql = "SELECT username, first_name, last_name FROM auth_user WHERE username = 'demo'";
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .ok_or("no user `demo` in the database: run `manage loaddata demo` first")?;
    let (username, first, last): (String, String, String) =
        (row.try_get("", "username")?, row.try_get("", "first_name")?, row.try_get("", "last_name")?);
    let full = format!("{first} {last}").trim().to_owned();
    Ok(ShownUser { is_authenticated: true, full_name: if full.is_empty() { username } else { full } })
}

fn engine(user: &ShownUser) -> Result<Tera, tera::Error> {
    let mut tera = Tera::new();
    let statics: HashMap<&'static str, String> =
        STATIC_FILES.iter().map(|(name, data)| (*name, hashed_url(name, data))).collect();
    tera.register_function("static", move |kwargs: Kwargs, _: &tera::State| -> TeraResult<String> {
        let path: &str = kwargs.must_get("path")?;
        statics.get(path).cloned().ok_or_else(|| tera::Error::message(format!("no static file `{path}`")))
    });
    tera.register_function("url", url);
    tera.register_function("csrf_input", |_: Kwargs, _: &tera::State| -> TeraResult<tera::Value> {
        Ok(tera::Value::safe_string(&format!(
            "<input type=\"hidden\" name=\"csrfmiddlewaretoken\" value=\"{CSRF_TOKEN}\">"
        )))
    });
    tera.add_raw_templates(TEMPLATES)?;
    let globals = tera.global_context();
    globals.insert("site_name", "Northwind CRM");
    globals.insert("debug", &false);
    globals.insert("user", user);
    // `perms.crm.change_contact` and the like: the demo user is a superuser, who has them all.
    let perms: HashMap<String, bool> = ["company", "contact", "deal", "note"]
        .iter()
        .flat_map(|model| ["add", "change", "delete", "view"].map(|action| (format!("{action}_{model}"), true)))
        .collect();
    globals.insert("perms", &HashMap::from([("crm", perms)]));
    Ok(tera)
}

/// The value of cookie `name`, if the request has it.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// The values every page's layout needs: the route (for the active tab) and the display
/// preferences kept in cookies.
fn page_context(headers: &HeaderMap, route_name: &'static str) -> Context {
    let mut ctx = Context::new();
    let theme = if cookie(headers, "theme") == Some("dark") { "dark" } else { "light" };
    let density = if cookie(headers, "density") == Some("compact") { "compact" } else { "comfortable" };
    ctx.insert("theme", theme);
    ctx.insert("density", density);
    ctx.insert("request", &HashMap::from([("route_name", route_name)]));
    ctx
}

fn render(tera: &Tera, template: &str, ctx: &Context) -> Response {
    match tera.render(template, ctx) {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            eprintln!("could not render {template}: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Clone)]
struct App {
    tera: Arc<Tera>,
    db: sea_orm::DatabaseConnection,
}

fn server_error(what: &str, e: impl std::fmt::Display) -> Response {
    eprintln!("{what}: {e}");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

async fn dashboard(State(app): State<App>, headers: HeaderMap) -> Response {
    let mut ctx = page_context(&headers, "crm:dashboard");
    let page = match data::dashboard(&app.db).await {
        Ok(page) => page,
        Err(e) => return server_error("could not query the dashboard", e),
    };
    match Context::from_serialize(&page) {
        Ok(page) => ctx.extend(page),
        Err(e) => return server_error("could not build the dashboard's context", e),
    }
    render(&app.tera, "crm/dashboard.html", &ctx)
}

async fn contact_detail(State(app): State<App>, Path(pk): Path<i32>, headers: HeaderMap) -> Response {
    use example_site::crm::models::{company, contact, note};
    use sea_orm::{ColumnTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder};
    let contact = match contact::Entity::find_by_id(pk).one(&app.db).await {
        Ok(Some(c)) => c,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such contact").into_response(),
        Err(e) => return server_error("could not query the contact", e),
    };
    let company = match contact.find_related(company::Entity).one(&app.db).await {
        Ok(c) => c,
        Err(e) => return server_error("could not query the company", e),
    };
    let notes = match note::Entity::find()
        .filter(note::Column::ContactId.eq(pk))
        .order_by_desc(note::Column::CreatedAt)
        .all(&app.db)
        .await
    {
        Ok(n) => n,
        Err(e) => return server_error("could not query the notes", e),
    };
    let mut ctx = page_context(&headers, "crm:contact-detail");
    ctx.insert("contact", &contact);
    ctx.insert("company", &company);
    ctx.insert("notes", &notes);
    render(&app.tera, "crm/contact_detail.html", &ctx)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL to the benchmark's database")?;
    let pool_size = std::env::var("DATABASE_POOL_SIZE").ok().and_then(|n| n.parse().ok()).unwrap_or(1);
    let mut options = sea_orm::ConnectOptions::new(url);
    options.max_connections(pool_size).sqlx_logging(false);
    let db = sea_orm::Database::connect(options).await?;
    let user = demo_user(&db).await?;
    let app = App { tera: Arc::new(engine(&user)?), db };
    let router = Router::new().route("/", get(dashboard)).route("/contacts/{pk}/", get(contact_detail)).with_state(app);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}/", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}
