//! Forms as a site of one's own uses them, in-process: `#[derive(Form)]` fields of every kind
//! rendered by the framework's templates and validated with Django's messages, file uploads
//! (written under the temporary folder, size-limited, 413 past FILE_UPLOAD_MAX_SIZE), and the
//! view decorators (`login_required`, `permission_required`, `csrf_exempt`).

use djambda::auth::{login_required, permission_required};
use djambda::csrf::csrf_exempt;
use djambda::forms::{Choices, Form, FormErrors, UploadedFile};
use djambda::prelude::*;
use djambda::routing::get;
use djambda::test::Client;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Choices)]
enum Plan {
    Free,
    #[choice(label = "Team (per seat)")]
    Team,
    #[choice(value = "ent")]
    Enterprise,
}

fn no_spaces(s: &str) -> std::result::Result<(), String> {
    if s.contains(' ') { Err("No spaces, please.".into()) } else { Ok(()) }
}

fn dates_in_order(form: &Signup, errors: &mut FormErrors) {
    if let Some(end) = form.trial_ends
        && end < form.starts
    {
        errors.add(Some("trial_ends"), "The trial cannot end before it starts.");
    }
    if form.plan == Plan::Free && form.seats > 1 {
        errors.add(None, "The free plan has one seat.");
    }
}

/// Every kind of field, with constraints.
#[derive(Debug, Form)]
#[form(clean = dates_in_order)]
struct Signup {
    #[form(min_length = 3, max_length = 20, validate = no_spaces, help_text = "Letters and digits.")]
    handle: String,
    #[form(email, label = "Work email")]
    email: String,
    #[form(url, required = false)]
    website: String,
    #[form(min = 1, max = 500)]
    seats: u32,
    #[form(min = "0.00", decimal_places = 2)]
    budget: djambda::db::sea_orm::prelude::Decimal,
    plan: Plan,
    starts: djambda::db::sea_orm::prelude::ChronoDate,
    trial_ends: Option<djambda::db::sea_orm::prelude::ChronoDate>,
    newsletter: bool,
    #[form(required, label = "I accept the terms")]
    terms: bool,
    #[form(widget = "textarea", required = false, max_length = 200)]
    about: String,
    #[form(widget = "password", min_length = 8)]
    password: String,
    #[form(max_size = 64)]
    avatar: Option<UploadedFile>,
}

async fn signup(req: Request) -> Result<Response> {
    if req.method() == http::Method::GET {
        return render(&req, "signup.html", context! { form: Signup::unbound() });
    }
    let form = Signup::bind(&req)?;
    match form.cleaned_data() {
        Some(s) => {
            let avatar = match &s.avatar {
                Some(f) => format!("{} {} bytes {:?} at {}", f.name(), f.size(), f.read()?, f.path().display()),
                None => "no avatar".into(),
            };
            Ok(Response::text(format!("ok {} {:?} {} {} {avatar}", s.handle, s.plan, s.seats, s.budget)))
        }
        None => Ok(render(&req, "signup.html", context! { form })?.with_status(http::StatusCode::UNPROCESSABLE_ENTITY)),
    }
}

async fn hook(req: Request) -> Result<Response> {
    Ok(Response::text(format!("hook got {} bytes", req.body().len())))
}

async fn secret(req: Request) -> Result<Response> {
    Ok(Response::text(format!("secret for {}", req.user().map(|u| u.username.clone()).unwrap_or_default())))
}

fn site(env: &[(&str, &str)]) -> Site {
    site_with_templates(env, djambda::assets!("../tests/e2e/fixtures/forms"))
}

fn site_with_templates(env: &[(&str, &str)], templates: djambda::assets::AssetDir) -> Site {
    static SITES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let db = crate::fresh_demo_db(&format!("forms-{n}"));
    let mut all = vec![("DATABASE_URL", db.as_str())];
    all.extend_from_slice(env);
    Site::builder()
        .settings(crate::example_settings_with(&all))
        .app(djambda::auth::app())
        .app(djambda::sessions::app())
        .app(djambda::csrf::app())
        .app(djambda::messages::app())
        .urls(
            UrlConf::new()
                .path("signup/", get(signup).post(signup), "signup")
                .path("hooks/payment/", csrf_exempt(djambda::routing::post(hook)), "hook")
                .path("secret/", login_required(secret), "secret")
                .path("vault/", permission_required("crm.delete_company", secret), "vault"),
        )
        .templates(templates)
        .build()
        .expect("the forms test site")
}

/// One part of a multipart body: a field's name, the file (name, bytes) if it is one, the value.
type Part<'a> = (&'a str, Option<(&'a str, &'a [u8])>, &'a str);

fn multipart(parts: &[Part<'_>]) -> (String, Vec<u8>) {
    let boundary = "----djambdaBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, file, value) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some((filename, bytes)) => {
                body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                    )
                    .as_bytes(),
                );
                body.extend_from_slice(bytes);
            }
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}").as_bytes(),
            ),
        }
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

const GOOD: [(&str, &str); 9] = [
    ("handle", "ada99"),
    ("email", "ada@example.com"),
    ("seats", "12"),
    ("budget", "1,200.50"),
    ("plan", "team"),
    ("starts", "2026-12-01"),
    ("trial_ends", "2026-12-15"),
    ("terms", "on"),
    ("password", "  spaces kept  "),
];

#[tokio::test]
async fn fields_render_as_labelled_inputs_of_the_right_type() {
    let mut c = Client::new(site(&[]));
    let html = c.get("/signup/").await.text();
    for needle in [
        "<label for=\"id_handle\">Handle <span class=\"required\"",
        "<input type=\"text\" name=\"handle\" id=\"id_handle\" required maxlength=\"20\" minlength=\"3\">",
        "<small class=\"helptext\">Letters and digits.</small>",
        "<label for=\"id_email\">Work email",
        "<input type=\"email\" name=\"email\" id=\"id_email\" required>",
        "<input type=\"url\" name=\"website\" id=\"id_website\">",
        "<input type=\"number\" name=\"seats\" id=\"id_seats\" required min=\"1\" max=\"500\" step=\"1\">",
        "<input type=\"number\" name=\"budget\" id=\"id_budget\" required min=\"0.00\" step=\"0.01\">",
        "<select name=\"plan\" id=\"id_plan\" required>",
        "<option value=\"team\">Team (per seat)</option>",
        "<option value=\"ent\">Enterprise</option>",
        "<input type=\"date\" name=\"starts\" id=\"id_starts\" required>",
        "<input type=\"date\" name=\"trial_ends\" id=\"id_trial_ends\">",
        "<input type=\"checkbox\" name=\"newsletter\" id=\"id_newsletter\"> Newsletter</label>",
        "<input type=\"checkbox\" name=\"terms\" id=\"id_terms\" required> I accept the terms</label>",
        "<textarea name=\"about\" id=\"id_about\" rows=\"5\" maxlength=\"200\"></textarea>",
        "<input type=\"password\" name=\"password\" id=\"id_password\" required minlength=\"8\">",
        "<input type=\"file\" name=\"avatar\" id=\"id_avatar\">",
        "enctype=\"multipart/form-data\"",
        "name=\"csrfmiddlewaretoken\"",
    ] {
        assert!(html.contains(needle), "missing {needle:?} in:\n{html}");
    }
}

#[tokio::test]
async fn a_site_restyles_every_field_by_overriding_the_field_template() {
    let mut c = Client::new(site_with_templates(&[], djambda::assets!("../tests/e2e/fixtures/forms_override")));
    let html = c.get("/signup/").await.text();
    assert!(
        html.contains("<p class=\"my-field\" data-name=\"handle\">Handle: <input name=\"handle\" value=\"\"></p>"),
        "{html}"
    );
    assert!(!html.contains("class=\"field"), "the framework's field template is not used: {html}");
    let html = c.post_form("/signup/", &[("handle", "x")]).await.text();
    assert!(html.contains("<em>Ensure this value has at least 3 characters (it has 1).</em>"), "{html}");
}

#[tokio::test]
async fn a_bound_form_shows_what_was_typed_and_every_error() {
    let mut c = Client::new(site(&[]));
    let resp = c
        .post_form(
            "/signup/",
            &[
                ("handle", "ab"),
                ("email", "ada@"),
                ("website", "not a url"),
                ("seats", "9999"),
                ("budget", "-1.999"),
                ("plan", "gold"),
                ("starts", "2026-13-01"),
                ("trial_ends", "yesterday"),
                ("about", "<script>alert('x')</script>"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text();
    for error in [
        "Ensure this value has at least 3 characters (it has 2).",
        "Enter a valid email address.",
        "Enter a valid URL.",
        "Ensure this value is less than or equal to 500.",
        "Ensure that there are no more than 2 decimal places.",
        "Select a valid choice. gold is not one of the available choices.",
        "Enter a valid date.",
        "This field is required.",
        "Ensure this value has at least 8 characters (it has 5).",
    ] {
        assert!(html.contains(error), "missing {error:?} in:\n{html}");
    }
    assert!(html.contains("value=\"ada@\"") && html.contains("value=\"9999\""), "typed values come back");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;") && !html.contains("<script>alert"), "escaped");
    assert!(!html.contains("value=\"short\""), "a password is never sent back");
    assert!(html.contains("aria-invalid=\"true\""));

    // Per-field validators run on valid values; the whole-form check once every field is valid.
    let mut fields = GOOD.to_vec();
    fields[0] = ("handle", "with space");
    let html = c.post_form("/signup/", &fields).await.text();
    assert!(html.contains("No spaces, please."), "{html}");
    let mut fields = GOOD.to_vec();
    fields[6] = ("trial_ends", "2026-11-01");
    fields[4] = ("plan", "free");
    let html = c.post_form("/signup/", &fields).await.text();
    assert!(html.contains("The trial cannot end before it starts.") && html.contains("The free plan has one seat."));
    assert!(html.contains("<ul class=\"errorlist nonfield\"><li>The free plan has one seat.</li></ul>"), "{html}");
}

#[tokio::test]
async fn valid_data_becomes_typed_values() {
    let mut c = Client::new(site(&[]));
    let resp = c.post_form("/signup/", &GOOD).await;
    assert_eq!(resp.status(), 200, "{}", resp.text());
    assert_eq!(resp.text(), "ok ada99 Team 12 1200.50 no avatar");
}

#[tokio::test]
async fn uploads_are_written_to_a_temporary_file_checked_and_removed() {
    let dir = std::env::temp_dir().join(format!("djambda-uploads-{}", std::process::id()));
    let dir_text = dir.display().to_string();
    let mut c = Client::new(site(&[("FILE_UPLOAD_TEMP_DIR", &dir_text), ("FILE_UPLOAD_MAX_SIZE", "4096")]));
    let mut parts: Vec<Part<'_>> = GOOD.iter().map(|(k, v)| (*k, None, *v)).collect();
    let avatar: &[u8] = b"\x89PNG\r\n\x1a\n\x00binary";
    parts.push(("avatar", Some(("C:\\Users\\ada\\me.png", avatar)), ""));
    let (ct, body) = multipart(&parts);
    let resp = c.send(http::Method::POST, "/signup/", Some(&ct), body.into()).await;
    assert_eq!(resp.status(), 200, "{}", resp.text());
    let text = resp.text();
    assert!(text.starts_with("ok ada99 Team 12 1200.50 me.png 15 bytes"), "{text}");
    assert!(text.contains("[137, 80, 78, 71, 13, 10, 26, 10, 0, 98"), "the bytes arrive intact: {text}");
    let path = text.rsplit(" at ").next().unwrap();
    assert!(path.starts_with(&dir_text), "written under FILE_UPLOAD_TEMP_DIR: {path}");
    assert!(!std::path::Path::new(path).exists(), "and removed after the request");

    // Bigger than the field allows: a form error.
    let big = vec![7u8; 100];
    let mut parts: Vec<Part<'_>> = GOOD.iter().map(|(k, v)| (*k, None, *v)).collect();
    parts.push(("avatar", Some(("big.bin", &big)), ""));
    let (ct, body) = multipart(&parts);
    let resp = c.send(http::Method::POST, "/signup/", Some(&ct), body.into()).await;
    assert_eq!(resp.status(), 422);
    assert!(resp.text().contains("Ensure this file is no larger than 64 bytes (it is 100 bytes)."), "{}", resp.text());

    // Bigger than FILE_UPLOAD_MAX_SIZE: refused before any view, 413.
    let huge = vec![7u8; 5000];
    let (ct, body) = multipart(&[("avatar", Some(("huge.bin", &huge)), "")]);
    let resp = c.send(http::Method::POST, "/signup/", Some(&ct), body.into()).await;
    assert_eq!(resp.status(), 413);

    // A body that is not the multipart it claims: 400, not a panic.
    let resp =
        c.send(http::Method::POST, "/signup/", Some("multipart/form-data; boundary=zzz"), "garbage".into()).await;
    assert_eq!(resp.status(), 400, "{}", resp.text());
    let resp = c.send(http::Method::POST, "/signup/", Some("multipart/form-data"), "garbage".into()).await;
    assert_eq!(resp.status(), 400, "no boundary");
    let resp = c.send(http::Method::POST, "/signup/", Some("application/json"), "{}".into()).await;
    assert_eq!(resp.status(), 415, "a JSON body where a form is expected");
    let leftovers = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "no upload is left behind");
}

#[tokio::test]
async fn decorators_guard_views_and_csrf_exempt_opens_one() {
    let site = site(&[]);
    let mut anonymous = Client::new(site.clone()).enforce_csrf_checks();
    let resp = anonymous.get("/secret/?x=1").await;
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.location(), Some("/accounts/login/?next=%2Fsecret%2F%3Fx%3D1"));
    assert_eq!(anonymous.get("/vault/").await.status(), 302, "anonymous visitors are sent to log in");
    let hook =
        anonymous.send(http::Method::POST, "/hooks/payment/", Some("application/json"), "{\"paid\":1}".into()).await;
    assert_eq!(hook.text(), "hook got 10 bytes", "an exempt view takes a POST without a token");
    let signup = anonymous.post_form("/signup/", &GOOD).await;
    assert_eq!(signup.status(), 403, "the others do not");

    let mut viewer = Client::new(site.clone());
    assert!(viewer.login("viewer", "viewer").await);
    assert_eq!(viewer.get("/secret/").await.text(), "secret for viewer");
    assert_eq!(viewer.get("/vault/").await.status(), 403, "logged in without the permission");
    let mut demo = Client::new(site);
    assert!(demo.login("demo", "demo").await);
    assert_eq!(demo.get("/vault/").await.text(), "secret for demo", "a superuser has every permission");
    assert!(!demo.login("demo", "not-the-password").await);
}

#[tokio::test]
async fn a_change_the_database_refuses_is_a_form_error() {
    use djambda::auth::models::permission;
    use djambda::forms::ModelForm;
    // auth_permission is unique on (app_label, codename) in the database only: the form cannot
    // see it coming, so the database's refusal must come back as an error on the form.
    async fn add_permission(req: Request) -> Result<Response> {
        use permission::Column as C;
        let form = ModelForm::<permission::Entity>::new([C::AppLabel, C::Codename, C::Name]);
        let mut bound = form.bind(&req, None).await?;
        if bound.is_valid() && bound.save(&req.db().await?).await?.is_some() {
            return Ok(Response::text("saved"));
        }
        Ok(Response::text(format!("errors: {}", bound.errors())).with_status(http::StatusCode::UNPROCESSABLE_ENTITY))
    }
    let db = crate::fresh_demo_db("forms-refused");
    let site = Site::builder()
        .settings(crate::example_settings_with(&[("DATABASE_URL", db.as_str())]))
        .app(djambda::auth::app())
        .app(djambda::sessions::app())
        .app(djambda::csrf::app())
        .urls(UrlConf::new().path("perm/", djambda::routing::post(add_permission), "perm"))
        .build()
        .unwrap();
    let mut c = Client::new(site);
    let fields = [("app_label", "crm"), ("codename", "export_company"), ("name", "Can export company")];
    assert_eq!(c.post_form("/perm/", &fields).await.text(), "saved");
    let again = c.post_form("/perm/", &fields).await;
    assert_eq!(again.status(), 422, "{}", again.text());
    assert_eq!(again.text(), "errors: A permission with these values already exists.");
}
