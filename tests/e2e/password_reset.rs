//! "Forgot your password?" and invitations, end to end: in-process with the link read from the
//! site's outbox (EMAIL_BACKEND = "locmem"); through the built binary as runserver and as a
//! Lambda function behind a REST stage, with the link read from the `.eml` file the `file`
//! backend wrote; and (with DJAMBDA_SMTP_PYTHON) through runserver sending over real SMTP.
//! Plus the links that must not work: expired, used, spent by a login, tampered with, for
//! another user, and an unknown address answered exactly as a known one.

use djambda::db::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use djambda::test::Client;

use crate::auth::{browser, crm_site, escaped, log_in, submit};

const RESET: &str = "/accounts/password_reset/";

/// The first link to this site's reset page in a message body.
pub(crate) fn reset_link(body: &str) -> String {
    let at = body.find("http").unwrap_or_else(|| panic!("no link in the email:\n{body}"));
    let link: String = body[at..].chars().take_while(|c| !c.is_whitespace()).collect();
    assert!(link.contains("/accounts/reset/"), "{link}");
    link
}

/// The path of a link on http://localhost.
fn path_of(link: &str) -> &str {
    link.strip_prefix("http://localhost").unwrap_or_else(|| panic!("{link} is not on http://localhost"))
}

fn locmem_site(tag: &str, extra: &[(&str, &str)]) -> djambda::Site {
    let mut env = vec![("EMAIL_BACKEND", "locmem"), ("DEFAULT_FROM_EMAIL", "Northwind CRM <crm@northwind.example>")];
    env.extend_from_slice(extra);
    crm_site(tag, &env)
}

/// Asks for a reset of `email` through the form, as an anonymous browser.
async fn ask(site: &djambda::Site, email: &str) -> (u16, Option<String>, String) {
    let mut c = browser(site);
    let asked = submit(&mut c, RESET, &[("email", email)]).await;
    let location = asked.location().map(str::to_owned);
    let done = match &location {
        Some(to) => c.get(to).await.text(),
        None => asked.text(),
    };
    (asked.status().as_u16(), location, done)
}

#[tokio::test]
async fn a_forgotten_password_is_reset_through_the_emailed_link() {
    let site = locmem_site("reset-flow", &[]);
    let mut anonymous = browser(&site);
    let login = anonymous.get("/accounts/login/").await.text();
    assert!(login.contains("href=\"/accounts/password_reset/\""), "the login page links to the reset: {login}");
    let mut elsewhere = browser(&site);
    assert_eq!(log_in(&mut elsewhere, "demo", "demo", "/").await.status(), 302);
    let mut viewer = browser(&site);
    assert_eq!(log_in(&mut viewer, "viewer", "viewer", "/").await.status(), 302);

    // An unknown address and a known one (written in other case) get the same answer.
    let unknown = ask(&site, "nobody@northwind.example").await;
    assert!(Client::new(site.clone()).outbox().is_empty(), "no email for an unknown address");
    let known = ask(&site, "DANA@Northwind.example").await;
    assert_eq!(unknown, known, "nothing tells a visitor whether the address has an account");
    assert_eq!(known.0, 302);
    assert_eq!(known.1.as_deref(), Some("/accounts/password_reset/done/"));
    assert!(known.2.contains("if an account exists with the email you entered"), "{}", known.2);

    let outbox = djambda::test::outbox(&site);
    assert_eq!(outbox.len(), 1, "{outbox:#?}");
    let email = &outbox[0];
    assert_eq!(email.to, ["dana@northwind.example"]);
    assert_eq!(email.from_email.as_deref(), Some("Northwind CRM <crm@northwind.example>"));
    assert_eq!(email.subject, "Password reset on Northwind CRM");
    assert!(email.body.contains("Your username, in case you've forgotten: demo"), "{}", email.body);
    assert!(!email.body.contains("argon2"), "no password hash in the email");
    let link = reset_link(&email.body);
    assert!(link.starts_with("http://localhost/accounts/reset/MQ/"), "{link}");

    // The link puts the token in the session and leads to the form, whose URL has no token.
    let mut c = browser(&site);
    let opened = c.get(path_of(&link)).await;
    assert_eq!(opened.status(), 302, "{}", opened.text());
    assert_eq!(opened.location(), Some("/accounts/reset/MQ/set-password/"));
    let form = "/accounts/reset/MQ/set-password/";
    let page = c.get(form).await.text();
    assert!(page.contains("Enter new password") && page.contains("name=\"new_password1\""), "{page}");
    for (fields, says) in [
        (
            [("new_password1", "Harbour-Lights-9"), ("new_password2", "Harbour-Lights-8")],
            "The two password fields didn’t match.",
        ),
        ([("new_password1", "4815162342"), ("new_password2", "4815162342")], "This password is entirely numeric."),
    ] {
        let answer = submit(&mut c, form, &fields).await;
        assert_eq!(answer.status(), 200, "{says}");
        assert!(answer.text().contains(&escaped(says)), "{says}: {}", answer.text());
    }
    let set =
        submit(&mut c, form, &[("new_password1", "Harbour-Lights-9"), ("new_password2", "Harbour-Lights-9")]).await;
    assert_eq!(set.status(), 302, "{}", set.text());
    assert_eq!(set.location(), Some("/accounts/reset/done/"));
    assert!(c.get("/accounts/reset/done/").await.text().contains("Your password has been set."));

    // Used: the same link no longer works, nor does the form.
    let mut again = browser(&site);
    let reused = again.get(path_of(&link)).await;
    assert_eq!(reused.status(), 200);
    assert!(reused.text().contains("Password reset unsuccessful"), "{}", reused.text());
    assert!(c.get(form).await.text().contains("Password reset unsuccessful"), "the session's token is spent too");

    // The new password logs in, the old one does not, and the sessions of before are over.
    let mut fresh = browser(&site);
    assert_eq!(log_in(&mut fresh, "demo", "demo", "/").await.status(), 200);
    assert_eq!(log_in(&mut fresh, "demo", "Harbour-Lights-9", "/").await.status(), 302);
    assert_eq!(elsewhere.get("/").await.status(), 302, "a session from before the reset ended");
    assert_eq!(viewer.get("/").await.status(), 200, "another user's session goes on");
}

/// `text` with each CSP nonce (fresh for every response) written as `NONCE`.
fn without_nonce(text: &str) -> String {
    let mut parts = text.split("'nonce-");
    let mut out = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        out.push_str("'nonce-NONCE");
        out.push_str(&part[part.find('\'').unwrap_or(part.len())..]);
    }
    out
}

/// Everything an anonymous visitor sees of asking for a reset of `email`: the answer to the
/// form and the page it leads to, each with its status and every header but `Date`, and the
/// cookies the browser holds after.
async fn everything_seen(site: &djambda::Site, email: &str) -> Vec<String> {
    let mut c = browser(site);
    let page = c.get(RESET).await;
    let token = page.csrf_token().unwrap();
    let mut seen = Vec::new();
    let mut record = |what: &str, r: &djambda::test::TestResponse| {
        let mut headers: Vec<String> = r
            .headers()
            .iter()
            .filter(|(k, _)| *k != "date")
            .map(|(k, v)| format!("{k}: {}", without_nonce(v.to_str().unwrap_or("?"))))
            .collect();
        headers.sort();
        seen.push(format!("{what} {} {headers:?}\n{}", r.status(), without_nonce(&r.text())));
    };
    let asked = c.post_form(RESET, &[("csrfmiddlewaretoken", &token), ("email", email)]).await;
    record("answer", &asked);
    if let Some(to) = asked.location().map(str::to_owned) {
        let done = c.get(&to).await;
        record("next page", &done);
    }
    // What the session holds afterwards (messages, say) shows on the next page too.
    let after = c.get(RESET).await;
    let form: String = after.text().replace(after.csrf_token().unwrap().as_str(), "TOKEN");
    seen.push(format!("form again {} {form}", after.status()));
    seen
}

#[tokio::test]
async fn nothing_seen_tells_whether_an_address_has_an_account() {
    // Mail that goes, and mail that cannot go (the file backend's directory is under a file):
    // in both, a known address and an unknown one are answered alike, byte for byte.
    let not_a_dir = std::env::temp_dir().join(format!("djambda-not-a-dir-{}", std::process::id()));
    std::fs::write(&not_a_dir, b"a file").unwrap();
    let under_a_file = not_a_dir.join("mail").display().to_string();
    let working = locmem_site("reset-same-answer", &[]);
    let failing =
        crm_site("reset-same-answer-failing", &[("EMAIL_BACKEND", "file"), ("EMAIL_FILE_PATH", &under_a_file)]);
    for (site, what) in [(&working, "mail that goes"), (&failing, "mail that cannot go")] {
        let known = everything_seen(site, "dana@northwind.example").await;
        let unknown = everything_seen(site, "nobody@northwind.example").await;
        assert_eq!(known, unknown, "{what}: a visitor tells a known address from an unknown one");
        assert!(known[0].starts_with("answer 302"), "{what}: {known:?}");
    }
    assert_eq!(djambda::test::outbox(&working).len(), 1, "the known address was sent its link");
    let _ = std::fs::remove_file(&not_a_dir);
}

#[tokio::test]
async fn expired_used_tampered_and_foreign_links_are_refused() {
    let site = locmem_site("reset-refused", &[("PASSWORD_RESET_TIMEOUT", "1")]);
    ask(&site, "dana@northwind.example").await;
    ask(&site, "victor@northwind.example").await;
    let outbox = djambda::test::outbox(&site);
    assert_eq!(outbox.len(), 2);
    let dana = reset_link(&outbox[0].body);
    let victor = reset_link(&outbox[1].body);
    let refused = |text: String| text.contains("Password reset unsuccessful");

    let mut c = browser(&site);
    // Tampered with: a changed digit, another user's id under Dana's token, garbage.
    let token = dana.trim_end_matches('/').rsplit('/').next().unwrap().to_owned();
    let last = token.chars().last().unwrap();
    let changed = format!("{}{}", &token[..token.len() - 1], if last == '0' { '1' } else { '0' });
    let victor_uid = victor.split("/reset/").nth(1).unwrap().split('/').next().unwrap().to_owned();
    for bad in [
        format!("/accounts/reset/MQ/{changed}/"),
        format!("/accounts/reset/{victor_uid}/{token}/"),
        format!("/accounts/reset/!!/{token}/"),
        "/accounts/reset/MQ/zzzzzzzzzzzzzzzzzzzz-0/".to_owned(),
        format!("/accounts/reset/{}/{token}/", "A".repeat(200)),
    ] {
        let answer = c.get(&bad).await;
        assert_eq!(answer.status(), 200, "{bad}");
        assert!(refused(answer.text()), "{bad}: {}", answer.text());
    }
    // The form without a token from a link: refused, and a POST to it changes nothing.
    assert!(refused(c.get("/accounts/reset/MQ/set-password/").await.text()));
    let page = c.get("/accounts/login/").await;
    let token_field = page.csrf_token().unwrap();
    let forged = c
        .post_form(
            "/accounts/reset/MQ/set-password/",
            &[
                ("csrfmiddlewaretoken", &token_field),
                ("new_password1", "Forged-Pass-1"),
                ("new_password2", "Forged-Pass-1"),
            ],
        )
        .await;
    assert!(refused(forged.text()), "{}", forged.text());
    assert_eq!(log_in(&mut browser(&site), "demo", "Forged-Pass-1", "/").await.status(), 200);

    // Spent by a login: Victor logs in after asking, and his link is dead.
    assert_eq!(log_in(&mut browser(&site), "viewer", "viewer", "/").await.status(), 302);
    assert!(refused(c.get(path_of(&victor)).await.text()), "a login spends the link");

    // Expired: PASSWORD_RESET_TIMEOUT is one second.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert!(refused(c.get(path_of(&dana)).await.text()), "an expired link");
    // The same link within its time works (so the refusals above were not for another reason).
    let fresh = locmem_site("reset-refused-control", &[]);
    ask(&fresh, "dana@northwind.example").await;
    let link = reset_link(&djambda::test::outbox(&fresh)[0].body);
    assert_eq!(browser(&fresh).get(path_of(&link)).await.status(), 302);
}

#[tokio::test]
async fn nobody_without_a_usable_password_or_inactive_gets_a_reset_email() {
    let site = locmem_site("reset-unusable", &[]);
    let db = site.database().connection().await.unwrap();
    use djambda::auth::models::user;
    use djambda::db::sea_orm::{ActiveModelTrait, ActiveValue, IntoActiveModel};
    let victor = user::Entity::find_by_id(2).one(&db).await.unwrap().unwrap();
    let mut inactive = victor.into_active_model();
    inactive.is_active = ActiveValue::Set(false);
    inactive.update(&db).await.unwrap();
    let dana = user::Entity::find_by_id(1).one(&db).await.unwrap().unwrap();
    let mut unusable = dana.into_active_model();
    unusable.password = ActiveValue::Set("!no-password-here".into());
    unusable.update(&db).await.unwrap();
    let a = ask(&site, "victor@northwind.example").await;
    let b = ask(&site, "dana@northwind.example").await;
    let c = ask(&site, "nobody@northwind.example").await;
    assert!(a == c && b == c, "the same answer for each");
    assert!(djambda::test::outbox(&site).is_empty());
}

#[tokio::test]
async fn staff_invite_a_user_who_sets_a_first_password() {
    const INVITE: &str = "/accounts/invite/";
    let site = locmem_site("invite", &[]);
    assert_eq!(browser(&site).get(INVITE).await.location(), Some("/accounts/login/?next=%2Faccounts%2Finvite%2F"));
    let mut viewer = browser(&site);
    log_in(&mut viewer, "viewer", "viewer", "/").await;
    assert_eq!(viewer.get(INVITE).await.status(), 403, "inviting needs auth.add_user");
    assert!(!viewer.get("/").await.text().contains("Invite a user"), "and the header shows no link to it");

    let mut staff = browser(&site);
    log_in(&mut staff, "demo", "demo", "/").await;
    assert!(staff.get("/").await.text().contains("href=\"/accounts/invite/\""), "the header links to it");
    let bad = submit(&mut staff, INVITE, &[("email", "not-an-address")]).await;
    assert!(bad.text().contains("Enter a valid email address."), "{}", bad.text());
    let sent = submit(&mut staff, INVITE, &[("email", "nia.okafor@northwind.example"), ("first_name", "Nia")]).await;
    assert_eq!(sent.status(), 302, "{}", sent.text());
    assert_eq!(sent.location(), Some("/accounts/invite/done/?to=nia.okafor%40northwind.example"));
    assert!(
        staff
            .get(sent.location().unwrap())
            .await
            .text()
            .contains("An invitation is on its way to nia.okafor@northwind.example.")
    );

    let outbox = djambda::test::outbox(&site);
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].to, ["nia.okafor@northwind.example"]);
    assert_eq!(outbox[0].subject, "You are invited to Northwind CRM");
    assert!(
        outbox[0].body.starts_with("Hello Nia,\n\nDana Morgan has invited you to Northwind CRM."),
        "{}",
        outbox[0].body
    );
    assert!(outbox[0].body.contains("Your username: nia.okafor@northwind.example"));
    let db = site.database().connection().await.unwrap();
    use djambda::auth::models::user;
    let nia =
        user::Entity::find().filter(user::Column::Email.eq("nia.okafor@northwind.example")).one(&db).await.unwrap();
    let nia = nia.expect("the account was made");
    assert!(nia.password.starts_with('!') && nia.is_active && !nia.is_staff, "{nia:?}");
    assert_eq!(log_in(&mut browser(&site), "nia.okafor@northwind.example", "", "/").await.status(), 200);

    // Asked again before she set a password: a new link to the same account.
    assert_eq!(submit(&mut staff, INVITE, &[("email", "nia.okafor@northwind.example")]).await.status(), 302);
    let outbox = djambda::test::outbox(&site);
    assert_eq!(outbox.len(), 2);
    // "Forgot password" sends her nothing: she has no password yet.
    ask(&site, "nia.okafor@northwind.example").await;
    assert_eq!(djambda::test::outbox(&site).len(), 2);

    // She follows the link and chooses her password, then logs in with it.
    let link = reset_link(&outbox[1].body);
    let mut nia_browser = browser(&site);
    let opened = nia_browser.get(path_of(&link)).await;
    assert_eq!(opened.status(), 302, "{}", opened.text());
    let form = opened.location().unwrap().to_owned();
    let set = submit(
        &mut nia_browser,
        &form,
        &[("new_password1", "Brass-Lantern-51"), ("new_password2", "Brass-Lantern-51")],
    )
    .await;
    assert_eq!(set.location(), Some("/accounts/reset/done/"), "{}", set.text());
    assert_eq!(log_in(&mut nia_browser, "nia.okafor@northwind.example", "Brass-Lantern-51", "/").await.status(), 302);
    // The first invitation's link is spent too, and inviting her again is refused on the form.
    assert!(
        browser(&site).get(path_of(&reset_link(&outbox[0].body))).await.text().contains("Password reset unsuccessful")
    );
    let again = submit(&mut staff, INVITE, &[("email", "nia.okafor@northwind.example")]).await;
    assert_eq!(again.status(), 200);
    assert!(again.text().contains("already has an account with a password"), "{}", again.text());
    // Nor may an address that has an account already (Dana's, written in other case), or a
    // username another account has, be invited.
    let taken = submit(&mut staff, INVITE, &[("email", "Dana@Northwind.example")]).await;
    assert!(taken.text().contains("already has an account with a password"), "{}", taken.text());
    let clash = submit(&mut staff, INVITE, &[("email", "someone.new@northwind.example"), ("username", "viewer")]).await;
    assert!(clash.text().contains("belongs to another account"), "{}", clash.text());
    assert_eq!(djambda::test::outbox(&site).len(), 2, "no email for a refused invitation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_address_invited_twice_at_once_gets_one_account() {
    const INVITE: &str = "/accounts/invite/";
    let site = locmem_site("invite-race", &[]);
    let db = site.database().connection().await.unwrap();
    use djambda::auth::models::user;
    for round in 0..6 {
        let email = format!("race{round}@northwind.example");
        // The address as the username (the form's default), then a username each.
        let names =
            if round % 2 == 0 { [String::new(), String::new()] } else { [format!("r{round}a"), format!("r{round}b")] };
        let mut staff = Vec::new();
        for _ in 0..2 {
            let mut c = browser(&site);
            assert_eq!(log_in(&mut c, "demo", "demo", "/").await.status(), 302);
            staff.push(c);
        }
        let mut invites = tokio::task::JoinSet::new();
        for (mut c, name) in staff.into_iter().zip(names) {
            let email = email.clone();
            invites.spawn(async move {
                let answer = submit(&mut c, INVITE, &[("email", &email), ("username", &name)]).await;
                (answer.status().as_u16(), answer.text())
            });
        }
        while let Some(done) = invites.join_next().await {
            let (status, text) = done.unwrap();
            assert_eq!(status, 302, "round {round}: {text}");
        }
        let accounts = user::Entity::find().filter(user::Column::Email.eq(email.as_str())).all(&db).await.unwrap();
        assert_eq!(accounts.len(), 1, "round {round}: {accounts:#?}");
    }
}

/// The text of the `n`th `.eml` file the `file` backend wrote into `dir` (waiting up to 10 s
/// for it), its quoted-printable undone.
pub(crate) fn eml_text(dir: &std::path::Path, n: usize) -> String {
    let start = std::time::Instant::now();
    loop {
        let mut files: Vec<_> =
            std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
        files.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|e| e == "eml"));
        files.sort();
        if files.len() > n {
            let raw = String::from_utf8(std::fs::read(&files[n]).unwrap()).unwrap();
            return if raw.contains("Content-Transfer-Encoding: quoted-printable") { unquote(&raw) } else { raw };
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "no email {n} in {}", dir.display());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn unquote(text: &str) -> String {
    let joined = text.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The reset through a door: the form for an unknown and a known address (the same answer),
/// the link from the email (`read` gets the `n`th), the new password, and a login with it.
async fn reset_through(
    browser: &mut crate::doors::Browser,
    prefix: &str,
    origin: &str,
    read: impl Fn(usize) -> String,
) {
    let form = format!("{prefix}/accounts/password_reset/");
    let unknown = browser.submit(&form, &[("email", "nobody@northwind.example")]).await;
    let known = browser.submit(&form, &[("email", "dana@northwind.example")]).await;
    assert_eq!((unknown.status, &unknown.location), (known.status, &known.location), "the same answer");
    assert_eq!(known.status, 302, "{}", known.body);
    assert_eq!(known.location.as_deref(), Some(format!("{prefix}/accounts/password_reset/done/").as_str()));
    let email = read(0);
    let link = reset_link(&email);
    assert!(link.starts_with(&format!("{origin}{prefix}/accounts/reset/MQ/")), "{link} in\n{email}");
    let opened = browser.get(&link).await;
    assert_eq!(opened.status, 302, "{}", opened.body);
    let set_form = opened.location.clone().unwrap();
    assert_eq!(set_form, format!("{prefix}/accounts/reset/MQ/set-password/"));
    let set =
        browser.submit(&set_form, &[("new_password1", "Door-Reset-77"), ("new_password2", "Door-Reset-77")]).await;
    assert_eq!(set.status, 302, "{}", set.body);
    assert_eq!(set.location.as_deref(), Some(format!("{prefix}/accounts/reset/done/").as_str()));
    let reused = browser.get(&link).await;
    assert!(reused.body.contains("Password reset unsuccessful"), "a used link: {}", reused.body);
    let login = format!("{prefix}/accounts/login/");
    let old = browser.submit(&login, &[("username", "demo"), ("password", "demo")]).await;
    assert_eq!(old.status, 200, "the old password is gone");
    let new = browser.submit(&login, &[("username", "demo"), ("password", "Door-Reset-77")]).await;
    assert_eq!(new.status, 302, "the new password logs in: {}", new.body);
}

fn mail_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("djambda-mail-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test]
async fn a_reset_through_runserver_with_the_file_backend() {
    let db = crate::fresh_demo_db("reset-runserver");
    let dir = mail_dir("runserver");
    let dir_text = dir.display().to_string();
    let env = [
        ("ALLOWED_HOSTS", "127.0.0.1"),
        ("DATABASE_URL", db.as_str()),
        ("SECRET_KEY", crate::SECRET_KEY),
        ("EMAIL_BACKEND", "file"),
        ("EMAIL_FILE_PATH", dir_text.as_str()),
    ];
    let (_server, addr) = tests::process::spawn_runserver(crate::manage_bin(), &env);
    let origin = format!("http://{addr}");
    let mut browser = crate::doors::Browser::new(crate::doors::Door::Tcp { addr, prefix: "" });
    reset_through(&mut browser, "", &origin, |n| eml_text(&dir, n)).await;
    let sent = eml_text(&dir, 0);
    assert!(sent.contains("To: <dana@northwind.example>") || sent.contains("To: dana@northwind.example"), "{sent}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_reset_through_lambda_behind_a_rest_stage_with_the_file_backend() {
    use crate::lambda::{Function, Req, Shape};
    let db = crate::fresh_demo_db("reset-lambda");
    let dir = mail_dir("lambda");
    let dir_text = dir.display().to_string();
    let env = [
        ("DEBUG", "false"),
        ("ALLOWED_HOSTS", "*"),
        ("DATABASE_URL", db.as_str()),
        ("SECRET_KEY", crate::SECRET_KEY),
        ("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https"),
        ("EMAIL_BACKEND", "file"),
        ("EMAIL_FILE_PATH", dir_text.as_str()),
    ];
    let function = Function::start_with(&env).await;
    let shape = Shape::Rest;
    let probe = shape.request(&Req::new("GET", "/", 0).anonymous());
    let host = probe.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("host")).unwrap().1.clone();
    let origin = format!("https://{host}");
    let mut browser =
        crate::doors::Browser::new(crate::doors::Door::Lambda { function, shape, host, prefix: "/testStage" });
    reset_through(&mut browser, "/testStage", &origin, |n| eml_text(&dir, n)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
#[ignore = "needs DJAMBDA_SMTP_PYTHON (a python with aiosmtpd) and the smtp feature (.ci/run sets both)"]
async fn a_reset_through_runserver_over_smtp() {
    let server = crate::mail::SmtpServer::start("reset-runserver", &["--starttls", "--auth", "crm:pw"]);
    let db = crate::fresh_demo_db("reset-smtp");
    let mut env: Vec<(String, String)> = server.settings();
    for (k, v) in [
        ("ALLOWED_HOSTS", "127.0.0.1"),
        ("DATABASE_URL", db.as_str()),
        ("SECRET_KEY", crate::SECRET_KEY),
        ("EMAIL_USE_TLS", "true"),
        ("EMAIL_HOST_USER", "crm"),
        ("EMAIL_HOST_PASSWORD", "pw"),
    ] {
        env.push((k.to_owned(), v.to_owned()));
    }
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (_running, addr) = tests::process::spawn_runserver(crate::manage_bin(), &pairs);
    let origin = format!("http://{addr}");
    let mut browser = crate::doors::Browser::new(crate::doors::Door::Tcp { addr, prefix: "" });
    reset_through(&mut browser, "", &origin, |n| {
        let got = server.wait_for(n + 1);
        assert_eq!(got[n]["rcpt_tos"], serde_json::json!(["dana@northwind.example"]));
        assert_eq!(got[n]["tls"], true);
        got[n]["parts"][0]["text"].as_str().unwrap().to_owned()
    })
    .await;
}
