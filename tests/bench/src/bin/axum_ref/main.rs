//! A hand-written axum + Tera server rendering the example site's dashboard (`/`) and contact
//! pages (`/contacts/{id}/`) from the same templates, with no djambda: the reference djambda's
//! runserver throughput is measured against (`tests/bench/run.sh`).
//!
//! It does what a competent user would do by hand: parse the templates once at start, hash the
//! static files once at start, give Tera its own `url()` and `static()` functions, and read the
//! display-preference cookies per request.
//!
//! The example CRM requires login, and djambda's pages are measured logged in as the demo user.
//! This server authenticates every request the way djambda does, as a hand-written axum app
//! would: it takes the `sessionid` cookie (the signed session djambda's login set; sessions are
//! signed cookies, valid in any process with the same SECRET_KEY), percent-decodes it, checks its
//! signature and age with djambda's signing module (a library for signed values, used here as a
//! hand-written app would use the `cookie` crate's signed jar), reads `_auth_user_id`, loads that
//! row of `auth_user` (one query, `SELECT … FROM auth_user WHERE id = ?`), refuses an inactive
//! user or one whose password hash no longer matches `_auth_user_hash`, and renders the page with
//! that user's name. No cookie, a bad one or an unknown user → 302 to the login page, as djambda's
//! `login_required` answers. Like djambda for a superuser, it reads no permissions: the demo
//! user is a superuser, who has them all (for anyone else this server shows no permissions, where
//! djambda would run one more query). So the comparison is like for like: both servers check the
//! session and load the user per request. What remains different: the log-out form's CSRF token
//! is fixed here (djambda masks it afresh per request), so the bodies match byte for byte except
//! the token.
//!
//! `axum_ref [ADDR:PORT]` (default `127.0.0.1:0`); prints `listening on http://ADDR:PORT/`.
//! Environment: DATABASE_URL, DATABASE_POOL_SIZE (1), SECRET_KEY (the one djambda signs with).

mod data;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use djambda::auth::models::user;
use djambda::signing::{Signer, constant_time_eq, salted_hmac};
use sha2::{Digest, Sha256};
use tera::{Context, Kwargs, Tera, TeraResult};

/// A file of the repository, by its path from the workspace root.
macro_rules! repo_file {
    ($include:ident, $path:literal) => {
        $include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../", $path))
    };
}

/// The example site's templates, under the names they are rendered by.
const TEMPLATES: [(&str, &str); 5] = [
    ("base.html", repo_file!(include_str, "templates/base.html")),
    ("crm/dashboard.html", repo_file!(include_str, "templates/crm/dashboard.html")),
    ("crm/contact_detail.html", repo_file!(include_str, "templates/crm/contact_detail.html")),
    ("crm/notes.html", repo_file!(include_str, "templates/crm/notes.html")),
    // Included by notes.html: without it Tera refuses the set at start.
    ("crm/pager.html", repo_file!(include_str, "templates/crm/pager.html")),
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
        "password_change" => "/accounts/password_change/".into(),
        "invite_user" => "/accounts/invite/".into(),
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

impl ShownUser {
    /// The user as djambda shows them: first and last name, or the username.
    fn of(model: &user::Model) -> Self {
        let full = format!("{} {}", model.first_name, model.last_name).trim().to_owned();
        ShownUser { is_authenticated: true, full_name: if full.is_empty() { model.username.clone() } else { full } }
    }
}

/// What djambda's signed-cookie sessions are signed with (its SignedCookieStore's salt).
const SESSION_SALT: &str = "djambda.contrib.sessions.backends.signed_cookies";
/// SESSION_COOKIE_AGE, djambda's default: two weeks.
const SESSION_AGE: Duration = Duration::from_secs(60 * 60 * 24 * 7 * 2);
/// The salt of the password digest djambda keeps in the session (`_auth_user_hash`).
const AUTH_HASH_SALT: &str = "djambda.contrib.auth.session_auth_hash";

/// `%3A` → `:`: a cookie value as djambda reads it (invalid escapes are kept as they are).
fn percent_decode(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains('%') {
        return value.into();
    }
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) =
                (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex))
        {
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned().into()
}

/// The logged-in user the request's session names, as djambda's session and authentication
/// middleware find them: a good signature no older than SESSION_COOKIE_AGE, `_auth_user_id`
/// naming an active user, and `_auth_user_hash` matching that user's password hash. `None` for
/// anyone else; an error only when the database fails.
async fn logged_in_user(app: &App, headers: &HeaderMap) -> Result<Option<user::Model>, sea_orm::DbErr> {
    use sea_orm::EntityTrait;
    let Some(cookie) = cookie(headers, "sessionid") else { return Ok(None) };
    let Ok(session) = app
        .signer
        .unsign_object::<serde_json::Map<String, serde_json::Value>>(&percent_decode(cookie), Some(SESSION_AGE))
    else {
        return Ok(None);
    };
    let Some(id) = session.get("_auth_user_id").and_then(|v| v.as_str()).and_then(|id| id.parse::<i32>().ok()) else {
        return Ok(None);
    };
    let Some(model) = user::Entity::find_by_id(id).one(&app.db).await? else { return Ok(None) };
    if !model.is_active {
        return Ok(None);
    }
    let expected: String = salted_hmac(AUTH_HASH_SALT, model.password.as_bytes(), &app.secret_key)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let digest = session.get("_auth_user_hash").and_then(|v| v.as_str()).unwrap_or("");
    Ok(constant_time_eq(digest.as_bytes(), expected.as_bytes()).then_some(model))
}

/// Where an anonymous visitor is sent: the login page, coming back here after
/// (`/accounts/login/?next=%2F`, `next` encoded as djambda encodes it).
fn redirect_to_login(uri: &Uri) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut next = String::with_capacity(path.len() * 3);
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => next.push(b as char),
            b' ' => next.push('+'),
            _ => next.push_str(&format!("%{b:02X}")),
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, format!("/accounts/login/?next={next}"))]).into_response()
}

/// The logged-in user for the layout, or the response to send instead (a redirect to log in,
/// or a 500 when the database fails).
async fn require_login(app: &App, headers: &HeaderMap, uri: &Uri) -> Result<user::Model, Response> {
    match logged_in_user(app, headers).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(redirect_to_login(uri)),
        Err(e) => Err(server_error("could not load the user", e)),
    }
}

/// The request's user (and, for someone other than a superuser, no permissions) in `ctx`.
fn insert_user(ctx: &mut Context, user: &user::Model) {
    ctx.insert("user", &ShownUser::of(user));
    if !user.is_superuser {
        // The global `perms` are a superuser's; this server loads no one else's.
        ctx.insert("perms", &HashMap::<String, HashMap<String, bool>>::new());
    }
}

fn engine() -> Result<Tera, tera::Error> {
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
    // `perms.crm.change_contact` and the like, for a superuser (the demo user), who has them
    // all; the user is put in each request's context.
    let all = |models: &[&str]| -> HashMap<String, bool> {
        models
            .iter()
            .flat_map(|model| ["add", "change", "delete", "view"].map(|action| (format!("{action}_{model}"), true)))
            .collect()
    };
    let crm = all(&["company", "contact", "deal", "note"]);
    // The layout offers "Invite a user" to whoever may add users (auth.add_user).
    let auth = all(&["user", "group", "permission"]);
    globals.insert("perms", &HashMap::from([("crm", crm), ("auth", auth)]));
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
    /// Checks session cookies (made once: the key is derived from SECRET_KEY and the salt).
    signer: Arc<Signer>,
    secret_key: Arc<str>,
}

fn server_error(what: &str, e: impl std::fmt::Display) -> Response {
    eprintln!("{what}: {e}");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

async fn dashboard(State(app): State<App>, uri: Uri, headers: HeaderMap) -> Response {
    let user = match require_login(&app, &headers, &uri).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let mut ctx = page_context(&headers, "crm:dashboard");
    insert_user(&mut ctx, &user);
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

async fn contact_detail(State(app): State<App>, Path(pk): Path<i32>, uri: Uri, headers: HeaderMap) -> Response {
    use example_site::crm::models::{company, contact, note};
    use sea_orm::{ColumnTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder};
    let user = match require_login(&app, &headers, &uri).await {
        Ok(user) => user,
        Err(response) => return response,
    };
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
    insert_user(&mut ctx, &user);
    ctx.insert("contact", &contact);
    ctx.insert("company", &company);
    ctx.insert("notes", &notes);
    render(&app.tera, "crm/contact_detail.html", &ctx)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL to the benchmark's database")?;
    let secret_key =
        std::env::var("SECRET_KEY").map_err(|_| "set SECRET_KEY to the one djambda signs sessions with")?;
    let pool_size = std::env::var("DATABASE_POOL_SIZE").ok().and_then(|n| n.parse().ok()).unwrap_or(1);
    let mut options = sea_orm::ConnectOptions::new(url);
    options.max_connections(pool_size).sqlx_logging(false);
    let db = sea_orm::Database::connect(options).await?;
    let signer = Arc::new(Signer::new(&secret_key, SESSION_SALT));
    let app = App { tera: Arc::new(engine()?), db, signer, secret_key: secret_key.into() };
    let router = Router::new().route("/", get(dashboard)).route("/contacts/{pk}/", get(contact_detail)).with_state(app);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}/", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}
