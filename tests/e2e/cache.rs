//! The cache on each backend: the same contract (get, set with timeouts, add, delete, incr
//! and decr, get_many, set_many, get_or_set, clear of this cache's keys only, versions) in
//! local memory, in the `djambda_cache` table on SQLite (both by default), on PostgreSQL and
//! MariaDB (scratch databases) and in Redis (a key prefix of the test's own), the last three
//! with the URLs .ci/run sets. Then `cache_page` through the real middleware chain: what it
//! keeps, per `Vary`, and what it must never keep; and the fragment cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use djambda::cache::{Cache, Timeout, cache_page, fragment};
use djambda::prelude::*;

fn settings(pairs: &[(&str, &str)]) -> Settings {
    let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Settings::from_sources(Some("DEBUG = true"), move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
        .expect("cache settings")
}

/// A site with the cache app on `pairs`, its migrations applied.
async fn cache_site(pairs: &[(&str, &str)]) -> Site {
    let site = Site::builder().settings(settings(pairs)).app(djambda::cache::app()).build().expect("the site");
    site.apply_migrations().await.expect("migrate the cache table");
    site
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
struct Pipeline {
    stage: String,
    deals: Vec<u32>,
}

/// Everything the low-level API promises, on `cache` (whose keys nothing else touches), with
/// `neighbour` a cache on the same backend under another prefix and `next_version` this one's
/// keys under CACHE_VERSION 2.
async fn contract(cache: &Cache, neighbour: &Cache, next_version: &Cache, what: &str) {
    cache.clear().await.unwrap();
    assert_eq!(cache.get::<String>("missing").await.unwrap(), None, "{what}");

    let pipeline = Pipeline { stage: "proposal ‘é’ <b>".into(), deals: vec![3, 1, 4] };
    cache.set("pipeline", &pipeline, Timeout::Default).await.unwrap();
    assert_eq!(cache.get::<Pipeline>("pipeline").await.unwrap(), Some(pipeline.clone()), "{what}");
    assert!(cache.get::<u32>("pipeline").await.is_err(), "{what}: another type is an error, not a miss");

    // add keeps what is there.
    assert!(!cache.add("pipeline", &"other", Timeout::Default).await.unwrap(), "{what}");
    assert_eq!(cache.get::<Pipeline>("pipeline").await.unwrap(), Some(pipeline.clone()), "{what}");
    assert!(cache.add("fresh", &"first", Timeout::Default).await.unwrap(), "{what}");
    adds_at_once(cache, what).await;

    // Keys are compared exactly: case, accents and characters outside the BMP make other keys
    // (MySQL's default collation took `Key` and `key` for one row).
    let keys = ["Key", "key", "KEY", "clé", "cle", "CLÉ", "ключ🙂", "ключ🙃"];
    for (i, key) in keys.iter().enumerate() {
        cache.set(key, &i, Timeout::Default).await.unwrap();
    }
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(cache.get::<usize>(key).await.unwrap(), Some(i), "{what}: {key}");
    }
    assert!(!cache.add("KEY", &99, Timeout::Default).await.unwrap(), "{what}");
    assert!(cache.add("kEy", &99, Timeout::Default).await.unwrap(), "{what}: kEy is a key of its own");
    assert!(cache.delete("key").await.unwrap(), "{what}");
    assert_eq!(cache.get::<usize>("Key").await.unwrap(), Some(0), "{what}: deleting key left Key");
    let many = cache.get_many::<usize>(&keys).await.unwrap();
    assert_eq!(many.len(), keys.len() - 1, "{what}: {many:?}");
    cache.delete_many(&keys).await.unwrap();
    cache.delete("kEy").await.unwrap();

    // Timeouts: zero deletes, a short one expires, Never stays.
    cache.set("zero", &1, Duration::ZERO).await.unwrap();
    assert_eq!(cache.get::<i32>("zero").await.unwrap(), None, "{what}: timeout 0 keeps nothing");
    cache.set("fresh", &"x", Duration::ZERO).await.unwrap();
    assert_eq!(cache.get::<String>("fresh").await.unwrap(), None, "{what}: and deletes what was there");
    cache.set("brief", &"soon gone", Duration::from_millis(400)).await.unwrap();
    cache.set("counter-brief", &5, Duration::from_millis(400)).await.unwrap();
    assert_eq!(cache.incr("counter-brief", 1).await.unwrap(), 6, "{what}");
    cache.set("forever", &"stays", Timeout::Never).await.unwrap();
    assert_eq!(cache.get::<String>("brief").await.unwrap().as_deref(), Some("soon gone"), "{what}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(cache.get::<String>("brief").await.unwrap(), None, "{what}: expired");
    assert_eq!(cache.get::<i32>("counter-brief").await.unwrap(), None, "{what}: incr kept the expiry");
    assert!(cache.add("brief", &"again", Timeout::Default).await.unwrap(), "{what}: an expired key can be added");
    assert_eq!(cache.get::<String>("forever").await.unwrap().as_deref(), Some("stays"), "{what}");

    // incr and decr.
    cache.set("visits", &10, Timeout::Default).await.unwrap();
    assert_eq!(cache.incr("visits", 5).await.unwrap(), 15, "{what}");
    assert_eq!(cache.decr("visits", 20).await.unwrap(), -5, "{what}");
    assert_eq!(cache.get::<i64>("visits").await.unwrap(), Some(-5), "{what}");
    let missing = cache.incr("no-such-counter", 1).await.unwrap_err();
    assert_eq!(missing.status(), 400, "{what}: {missing}");
    assert!(cache.incr("forever", 1).await.is_err(), "{what}: not an integer");

    // Many at once.
    cache.set_many(&[("a", 1), ("b", 2)], Timeout::Default).await.unwrap();
    let found = cache.get_many::<i32>(&["a", "b", "c"]).await.unwrap();
    assert_eq!(found.len(), 2, "{what}: {found:?}");
    assert_eq!((found["a"], found["b"]), (1, 2), "{what}");
    assert!(cache.delete("a").await.unwrap(), "{what}");
    assert!(!cache.delete("a").await.unwrap(), "{what}: gone already");
    cache.delete_many(&["b", "visits"]).await.unwrap();
    assert!(cache.get_many::<i32>(&["a", "b", "visits"]).await.unwrap().is_empty(), "{what}");

    // get_or_set makes the value once.
    let made = AtomicUsize::new(0);
    for _ in 0..3 {
        let v: String = cache
            .get_or_set("report", Timeout::Default, || async {
                made.fetch_add(1, Ordering::SeqCst);
                Ok("expensive".to_owned())
            })
            .await
            .unwrap();
        assert_eq!(v, "expensive");
    }
    assert_eq!(made.load(Ordering::SeqCst), 1, "{what}");

    // Keys with a space, and keys too long, are refused.
    assert!(cache.set("with space", &1, Timeout::Default).await.is_err(), "{what}");
    assert!(cache.set(&"k".repeat(300), &1, Timeout::Default).await.is_err(), "{what}");

    // Versions and prefixes keep apart; clear takes this cache's keys only.
    neighbour.set("pipeline", &"the neighbour's", Timeout::Default).await.unwrap();
    assert_eq!(next_version.get::<Pipeline>("pipeline").await.unwrap(), None, "{what}: version 2 sees nothing");
    cache.clear().await.unwrap();
    assert_eq!(cache.get::<Pipeline>("pipeline").await.unwrap(), None, "{what}: cleared");
    assert_eq!(cache.get::<String>("forever").await.unwrap(), None, "{what}: cleared");
    assert_eq!(
        neighbour.get::<String>("pipeline").await.unwrap().as_deref(),
        Some("the neighbour's"),
        "{what}: another prefix's keys stay"
    );
    neighbour.clear().await.unwrap();
}

/// Many adds of one key at once, on a key that is missing and on one whose row expired: one of
/// them, and only one, stores its value (a check then a write lets several through).
async fn adds_at_once(cache: &Cache, what: &str) {
    for round in 0..6 {
        let key = format!("race-{round}");
        if round % 2 == 1 {
            cache.set(&key, &-1, Duration::from_millis(5)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut adds = tokio::task::JoinSet::new();
        for i in 0..8 {
            let (cache, key) = (cache.clone(), key.clone());
            adds.spawn(async move { (i, cache.add(&key, &i, Timeout::Default).await) });
        }
        let mut won = Vec::new();
        while let Some(done) = adds.join_next().await {
            let (i, added) = done.unwrap();
            if added.unwrap_or_else(|e| panic!("{what}: add {i} of {key} failed: {e}")) {
                won.push(i);
            }
        }
        assert_eq!(won.len(), 1, "{what}: {key} was added by {won:?}");
        assert_eq!(cache.get::<i32>(&key).await.unwrap(), Some(won[0]), "{what}: the winner's value is kept");
    }
}

/// The three caches of [`contract`] over one backend's settings.
async fn caches_on(base: &[(&str, &str)], prefix: &str) -> (Site, Site, Site) {
    let with = |extra: Vec<(&'static str, String)>| {
        let mut all: Vec<(String, String)> = base.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        all.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
        all
    };
    let mine = with(vec![("CACHE_KEY_PREFIX", prefix.to_owned())]);
    let other = with(vec![("CACHE_KEY_PREFIX", format!("{prefix}-neighbour"))]);
    let v2 = with(vec![("CACHE_KEY_PREFIX", prefix.to_owned()), ("CACHE_VERSION", "2".to_owned())]);
    let site = |pairs: Vec<(String, String)>| async move {
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        cache_site(&refs).await
    };
    (site(mine).await, site(other).await, site(v2).await)
}

async fn run_contract(base: &[(&str, &str)], what: &str) {
    let prefix = format!("djambda-test-{}-{what}", std::process::id());
    let (mine, other, v2) = caches_on(base, &prefix).await;
    let c = |s: &Site| djambda::cache::cache(s).unwrap().clone();
    contract(&c(&mine), &c(&other), &c(&v2), what).await;
    // The readiness probe asks the backend.
    let ready = mine.readiness().await;
    assert!(ready.is_ready(), "{what}: {ready:?}");
}

#[tokio::test]
async fn the_cache_api_in_local_memory() {
    // Local memory is per site (per process in production): the three caches share nothing,
    // so the neighbour and version checks run on one site's memory under its prefixes.
    let site = cache_site(&[("CACHE_BACKEND", "locmem")]).await;
    let cache = djambda::cache::cache(&site).unwrap().clone();
    let backend: Arc<dyn djambda::cache::CacheBackend> = Arc::new(djambda::cache::LocMemCache::new(1000));
    let on = |prefix: &str, version: &str| {
        Cache::with_backend(backend.clone(), &settings(&[("CACHE_KEY_PREFIX", prefix), ("CACHE_VERSION", version)]))
    };
    contract(&on("mine", "1"), &on("neighbour", "1"), &on("mine", "2"), "locmem").await;
    // And the site's own cache, as the app made it.
    cache.set("k", &1, Timeout::Default).await.unwrap();
    assert_eq!(cache.get::<i32>("k").await.unwrap(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cache_api_in_an_sqlite_table() {
    let dir = std::env::temp_dir().join(format!("djambda-cache-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("cache.sqlite3").display());
    // A pool of several connections: adds at once really are at once.
    run_contract(&[("CACHE_BACKEND", "db"), ("DATABASE_URL", &url), ("DATABASE_POOL_SIZE", "8")], "sqlite").await;
    // Expired rows are deleted by `clearcache --expired` (and the hourly schedule).
    let site = cache_site(&[("CACHE_BACKEND", "db"), ("DATABASE_URL", &url)]).await;
    let cache = djambda::cache::cache(&site).unwrap();
    cache.set("old", &1, Duration::from_millis(10)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(cache.delete_expired().await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs DJAMBDA_TEST_POSTGRES_URL and DJAMBDA_TEST_MYSQL_URL (.ci/run sets them)"]
async fn the_cache_api_in_postgres_and_mysql_tables() {
    for (var, tag) in [("DJAMBDA_TEST_POSTGRES_URL", "postgres"), ("DJAMBDA_TEST_MYSQL_URL", "mysql")] {
        let base = std::env::var(var).expect(var);
        let url = crate::auth::scratch_database(&base, &format!("djambda_cache_{tag}_{}", std::process::id())).await;
        run_contract(&[("CACHE_BACKEND", "db"), ("DATABASE_URL", &url), ("DATABASE_POOL_SIZE", "8")], tag).await;
        // A page bigger than MySQL's BLOB (64 KiB) fits.
        let site = cache_site(&[("CACHE_BACKEND", "db"), ("DATABASE_URL", &url)]).await;
        let cache = djambda::cache::cache(&site).unwrap();
        let big = "x".repeat(300_000);
        cache.set("big", &big, Timeout::Default).await.unwrap();
        assert_eq!(cache.get::<String>("big").await.unwrap().map(|s| s.len()), Some(300_000), "{tag}");
    }
}

#[tokio::test]
#[ignore = "needs DJAMBDA_TEST_REDIS_URL (.ci/run sets it)"]
async fn the_cache_api_in_redis() {
    let url = std::env::var("DJAMBDA_TEST_REDIS_URL").expect("DJAMBDA_TEST_REDIS_URL");
    run_contract(
        &[("CACHE_BACKEND", "django.core.cache.backends.redis.RedisCache"), ("CACHE_LOCATION", &url)],
        "redis",
    )
    .await;
    // A Redis that is not there: a 503-kind error for the caller, and the probe says so.
    let down = cache_site(&[("CACHE_BACKEND", "redis"), ("CACHE_LOCATION", "redis://127.0.0.1:1/0")]).await;
    let err = djambda::cache::cache(&down).unwrap().get::<i32>("k").await.unwrap_err();
    assert_eq!(err.status(), 503, "{err}");
    assert!(!down.readiness().await.is_ready());
}

/// One command to the Redis server at `addr` (host:port), as RESP; its answer's first line.
fn redis_command(addr: &str, args: &[&str]) -> String {
    use std::io::{BufRead, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to Redis at {addr}: {e}"));
    let mut out = format!("*{}\r\n", args.len());
    for a in args {
        out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    stream.write_all(out.as_bytes()).unwrap();
    let mut line = String::new();
    std::io::BufReader::new(stream).read_line(&mut line).unwrap();
    line.trim_end().to_owned()
}

#[tokio::test]
#[ignore = "needs DJAMBDA_TEST_REDIS_URL (.ci/run sets it)"]
async fn the_redis_cache_reconnects_after_its_connection_is_killed() {
    let url = std::env::var("DJAMBDA_TEST_REDIS_URL").expect("DJAMBDA_TEST_REDIS_URL");
    let rest = url.strip_prefix("redis://").expect("a redis:// URL");
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let (addr, db) = rest.split_once('/').unwrap_or((rest, "0"));
    // A user of the test's own, so that CLIENT KILL USER ends this cache's connection only.
    let user = format!("djambda-cache-test-{}", std::process::id());
    assert_eq!(redis_command(addr, &["ACL", "SETUSER", &user, "reset", "on", ">pw", "~*", "&*", "+@all"]), "+OK");
    let location = format!("redis://{user}:pw@{addr}/{db}");
    let site =
        cache_site(&[("CACHE_BACKEND", "redis"), ("CACHE_LOCATION", &location), ("CACHE_KEY_PREFIX", &user)]).await;
    let cache = djambda::cache::cache(&site).unwrap().clone();
    cache.set("kept", &7, Timeout::Default).await.unwrap();
    let kill = || assert_eq!(redis_command(addr, &["CLIENT", "KILL", "USER", &user]), ":1", "one connection to end");
    for round in 0..3 {
        // Reads, writes and deletes are tried again on a new connection: no error at all.
        kill();
        assert_eq!(cache.get::<i32>("kept").await.unwrap(), Some(7), "round {round}");
        kill();
        cache.set("written", &round, Timeout::Default).await.unwrap();
        assert_eq!(cache.get::<i32>("written").await.unwrap(), Some(round));
        // add and incr are not repeated (twice could count twice): a 503 at most once, then
        // the next call works on a new connection.
        kill();
        let key = format!("added-{round}");
        match cache.add(&key, &1, Timeout::Default).await {
            Ok(added) => assert!(added),
            Err(e) => {
                assert_eq!(e.status(), 503, "{e}");
                assert!(cache.add(&key, &1, Timeout::Default).await.unwrap());
            }
        }
        kill();
        if let Err(e) = cache.incr("written", 1).await {
            assert_eq!(e.status(), 503, "{e}");
        }
        assert!(cache.incr("written", 1).await.unwrap() > i64::from(round));
    }
    assert!(site.readiness().await.is_ready());
    cache.clear().await.unwrap();
    redis_command(addr, &["ACL", "DELUSER", &user]);
}

static RENDERS: AtomicUsize = AtomicUsize::new(0);

fn count() -> usize {
    RENDERS.fetch_add(1, Ordering::SeqCst) + 1
}

async fn plain(req: Request) -> Result<Response> {
    Ok(Response::html(format!("page {} for {}", count(), req.full_path())))
}

async fn sets_cookie(_req: Request) -> Result<Response> {
    Ok(Response::html(format!("cookie page {}", count())).with_header("set-cookie", "seen=1; Path=/"))
}

async fn private(_req: Request) -> Result<Response> {
    Ok(Response::html(format!("private page {}", count())).with_header("cache-control", "private, max-age=600"))
}

async fn missing(_req: Request) -> Result<Response> {
    Err(Error::not_found(format!("missing {}", count())))
}

async fn by_language(req: Request) -> Result<Response> {
    let lang = req.header("accept-language").unwrap_or("en").to_owned();
    Ok(Response::html(format!("{lang} page {}", count())).with_header("vary", "Accept-Language"))
}

/// A page that shows who is logged in: reading the user reads the session (`Vary: Cookie`).
async fn whoami(req: Request) -> Result<Response> {
    let name = req.user().map(|u| u.username.clone()).unwrap_or_else(|| "anonymous".into());
    Ok(Response::html(format!("hello {name} {}", count())))
}

async fn form_page(req: Request) -> Result<Response> {
    let token = djambda::csrf::get_token(&req);
    Ok(Response::html(format!("<form><input name=csrfmiddlewaretoken value={token}></form> {}", count())))
}

async fn sidebar(req: Request) -> Result<Response> {
    let who = req.query().get("user").unwrap_or("0").to_owned();
    let html = fragment(&req, "sidebar", &[&who], Timeout::Default, || async {
        Ok(format!("<aside>sidebar {} for {who}</aside>", count()))
    })
    .await?;
    Ok(Response::html(html))
}

fn page_site(cache_first: bool) -> Site {
    let minute = Duration::from_secs(60);
    let pages = App::new("pages").urls(
        "",
        UrlConf::new()
            .path("plain/", cache_page(minute, plain), "plain")
            .path("cookie/", cache_page(minute, sets_cookie), "cookie")
            .path("private/", cache_page(minute, private), "private")
            .path("missing/", cache_page(minute, missing), "missing")
            .path("language/", cache_page(minute, by_language), "language")
            .path("whoami/", cache_page(minute, whoami), "whoami")
            .path("form/", cache_page(minute, form_page), "form")
            .path("post/", cache_page(minute, djambda::routing::post(plain)), "post")
            .path("short/", cache_page(Duration::from_secs(1), plain), "short")
            .path("sidebar/", sidebar, "sidebar"),
    );
    let db = crate::fresh_demo_db(if cache_first { "cache-pages" } else { "cache-pages-misordered" });
    let mut builder = Site::builder().settings(settings(&[
        ("DATABASE_URL", db.as_str()),
        ("SECRET_KEY", crate::SECRET_KEY),
        ("ALLOWED_HOSTS", "localhost"),
    ]));
    if cache_first {
        builder = builder.app(djambda::cache::app());
    }
    builder = builder
        .app(djambda::auth::app())
        .app(djambda::sessions::app())
        .app(djambda::csrf::app())
        .app(djambda::messages::app());
    if !cache_first {
        builder = builder.app(djambda::cache::app());
    }
    builder.app(pages).build().unwrap()
}

async fn lang(c: &mut djambda::test::Client, l: &str) -> String {
    let req = http::Request::get("/language/").header("host", "localhost").header("accept-language", l);
    c.request(req.body(bytes::Bytes::new()).unwrap()).await.text()
}

fn number(text: &str) -> usize {
    text.split_whitespace()
        .filter_map(|w| w.parse().ok())
        .next_back()
        .unwrap_or_else(|| panic!("no number in {text:?}"))
}

#[tokio::test]
async fn cache_page_keeps_what_it_may_and_never_what_it_must_not() {
    let site = page_site(true);
    let mut c = djambda::test::Client::new(site.clone());

    // A plain page: kept per URL, query string included, with Cache-Control for browsers.
    let first = c.get("/plain/").await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.header("cache-control"), Some("max-age=60"));
    let again = c.get("/plain/").await;
    assert_eq!(again.text(), first.text(), "served from the cache");
    assert_ne!(number(&c.get("/plain/?page=2").await.text()), number(&first.text()), "another URL");
    let head = c.head("/plain/").await;
    assert_eq!(head.status(), 200, "HEAD is answered from the GET page");

    // Never kept: a page that sets a cookie, a private one, a 404, a POST: each request runs
    // the view.
    // (Each answer carries the render's number: the counter is shared with the other tests, so
    // what counts is that the second answer is not the first one again.)
    for path in ["/cookie/", "/private/", "/missing/"] {
        let one = c.get(path).await.text();
        let two = c.get(path).await.text();
        assert!(one.contains(path.trim_matches('/')), "{path}: {one}");
        assert_ne!(one, two, "{path} was served from the cache");
    }
    let one = c.post_form("/post/", &[]).await;
    assert_eq!(one.status(), 200);
    let two = c.post_form("/post/", &[]).await.text();
    assert_ne!(number(&one.text()), number(&two), "a POST was served from the cache");

    // Vary: one page per Accept-Language.
    let fr = lang(&mut c, "fr").await;
    let de = lang(&mut c, "de").await;
    assert!(fr.starts_with("fr page") && de.starts_with("de page"), "{fr} / {de}");
    assert_eq!(lang(&mut c, "fr").await, fr, "the French page, kept");
    assert_eq!(lang(&mut c, "de").await, de, "the German page, kept");

    // A page that read the session varies by Cookie: one visitor never sees another's.
    let mut ada = djambda::test::Client::new(site.clone());
    assert!(ada.login("demo", "demo").await);
    let mut vic = djambda::test::Client::new(site.clone());
    assert!(vic.login("viewer", "viewer").await);
    let ada_page = ada.get("/whoami/").await.text();
    let vic_page = vic.get("/whoami/").await.text();
    assert!(ada_page.starts_with("hello demo") && vic_page.starts_with("hello viewer"), "{ada_page} / {vic_page}");
    assert_eq!(ada.get("/whoami/").await.text(), ada_page, "kept for this visitor");
    assert!(djambda::test::Client::new(site.clone()).get("/whoami/").await.text().starts_with("hello anonymous"));

    // A page with a CSRF token sets the CSRF cookie the first time: not kept then.
    let mut fresh = djambda::test::Client::new(site.clone());
    let a = fresh.get("/form/").await;
    assert!(a.header("set-cookie").is_some_and(|c| c.starts_with("csrftoken=")), "{:?}", a.headers());
    let mut other = djambda::test::Client::new(site.clone());
    let b = other.get("/form/").await;
    assert_ne!(number(&a.text()), number(&b.text()), "a page that set a cookie was served to another visitor");

    // It expires.
    let s1 = number(&c.get("/short/").await.text());
    assert_eq!(number(&c.get("/short/").await.text()), s1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_ne!(number(&c.get("/short/").await.text()), s1, "expired");

    // The fragment cache: one per vary value.
    let f1 = c.get("/sidebar/?user=1").await.text();
    assert_eq!(c.get("/sidebar/?user=1").await.text(), f1);
    assert_ne!(c.get("/sidebar/?user=2").await.text(), f1);
}

async fn with_nonce(req: Request) -> Result<Response> {
    let nonce = req.local::<djambda::csp::CspNonce>().map(|n| n.0).unwrap_or_default();
    Ok(Response::html(format!("<script nonce=\"{nonce}\">go()</script><style nonce=\"{nonce}\"></style> {}", count())))
}

/// The nonce a response's Content-Security-Policy allows, and every nonce its body uses.
fn nonces(resp: &djambda::test::TestResponse) -> (String, Vec<String>) {
    let policy = resp.header("content-security-policy").expect("a policy");
    let allowed = policy.split("'nonce-").nth(1).and_then(|n| n.split('\'').next()).expect("a nonce").to_owned();
    let used = resp.text().split("nonce=\"").skip(1).map(|n| n.split('"').next().unwrap().to_owned()).collect();
    (allowed, used)
}

#[tokio::test]
async fn a_cached_page_never_serves_a_nonce_other_than_its_policys() {
    let minute = Duration::from_secs(60);
    let pages = App::new("pages").urls(
        "",
        UrlConf::new().path("nonce/", cache_page(minute, with_nonce), "nonce").path(
            "plain/",
            cache_page(minute, plain),
            "plain",
        ),
    );
    let site = Site::builder()
        .settings(settings(&[(
            "SECURE_CSP",
            "default-src 'self'; script-src 'self' 'nonce'; style-src 'self' 'nonce'",
        )]))
        .app(djambda::cache::app())
        .app(djambda::csp::app())
        .app(pages)
        .build()
        .unwrap();
    let mut c = djambda::test::Client::new(site);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let resp = c.get("/nonce/").await;
        assert_eq!(resp.status(), 200);
        let (allowed, used) = nonces(&resp);
        assert_eq!(used.len(), 2, "{}", resp.text());
        assert!(used.iter().all(|n| *n == allowed), "the policy allows {allowed}, the page uses {used:?}");
        seen.push(allowed);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 3, "a nonce is for one response only, not replayed from the cache: {seen:?}");
    // A page that uses no nonce is still kept under that policy.
    let first = c.get("/plain/").await.text();
    assert_eq!(c.get("/plain/").await.text(), first, "served from the cache");
}

#[tokio::test]
async fn cache_page_refuses_to_run_inside_the_other_apps_middleware() {
    let mut c = djambda::test::Client::new(page_site(false));
    let resp = c.get("/plain/").await;
    assert_eq!(resp.status(), 500);
    assert!(resp.text().contains("install djambda::cache::app() before the other apps"), "{}", resp.text());
    // Without the cache app at all, a cache_page route says so rather than never caching.
    let bare = Site::builder()
        .settings(settings(&[]))
        .urls(UrlConf::new().path("plain/", cache_page(Duration::from_secs(60), plain), "plain"))
        .build()
        .unwrap();
    let resp = djambda::test::Client::new(bare).get("/plain/").await;
    assert_eq!(resp.status(), 500);
    assert!(resp.text().contains("cache_page needs the cache app"), "{}", resp.text());
}
