//! Fuzz targets for the parsers of client input. Each takes arbitrary bytes, feeds them to one
//! parser and asserts what must hold for every input: no panic, values that survive a round
//! trip, and nothing forged accepted. `cargo test` runs each as a short seeded property test
//! (`DJAMBDA_FUZZ_SEED` replays a run, `DJAMBDA_FUZZ_RUNS` lengthens it); `fuzz/` in the
//! repository runs the same functions under cargo-fuzz on a nightly toolchain.
//!
//! Not a stable API: it exists for those two harnesses (cargo feature `fuzzing`).

use std::sync::OnceLock;

use bytes::Bytes;

use crate::forms::{Choices, Form};
use crate::http::{FormData, QueryDict, parse_body};
use crate::routing::{Flattened, UrlConf};
use crate::signing::Signer;
use crate::urls::{Converters, Resolver, UrlArg};

/// Text of the input: what a client can put in a path, a header or a field once it is decoded.
fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// Form and query-string bodies: parsing never fails, and what is parsed encodes back to
/// itself (`parse(urlencode(q)) == q`).
pub fn querydict(data: &[u8]) {
    let parsed = QueryDict::from_bytes(data);
    let encoded = parsed.urlencode();
    assert_eq!(QueryDict::parse(&encoded), parsed, "{encoded:?} does not parse back");
    for (key, value) in parsed.iter() {
        assert_eq!(parsed.get_list(key).last(), Some(&parsed.get(key).unwrap_or_default()), "{key}={value}");
    }
}

async fn nothing(_req: crate::Request) -> crate::Result<crate::Response> {
    Ok(crate::Response::text(""))
}

fn resolver() -> &'static Resolver {
    static RESOLVER: OnceLock<Resolver> = OnceLock::new();
    RESOLVER.get_or_init(|| {
        let v = nothing;
        let app = UrlConf::app("notes").path("<int:pk>/", v, "detail").path("<int:pk>/<slug:tab>/", v, "tab");
        let conf = UrlConf::new()
            .path("", v, "home")
            .path("items/<int:id>/", v, "item")
            .path("items/<slug:s>/", v, "item-slug")
            .path("posts/new/", v, "post-new")
            .path("posts/<str:slug>/", v, "post")
            .path("u/<uuid:id>/", v, "user")
            .path("files/<path:rest>", v, "file")
            .path("a/<str:x>/<int:y>/<path:z>", v, "mixed")
            .include("notes/", app);
        let mut flat = Flattened { routes: Vec::new(), views: Vec::new() };
        conf.flatten_into("/", None, &mut flat);
        Resolver::build(flat.routes, &Converters::default()).unwrap_or_else(|e| panic!("the fuzz URL conf: {e:?}"))
    })
}

/// The URL resolver and its converters: any decoded path resolves or not without panicking,
/// and a match reverses, with its own parameters, to a URL that, decoded as the handler
/// decodes a request's path, resolves to the same route with the same parameters.
pub fn resolve(data: &[u8]) {
    let path = format!("/{}", text(data));
    let resolver = resolver();
    let Some(found) = resolver.resolve(&path) else { return };
    let name = found.route().name().expect("every fuzz route is named").to_owned();
    let args: Vec<(&str, &dyn UrlArg)> = found.params().iter().map(|(k, v)| (k.as_str(), v as &dyn UrlArg)).collect();
    let back = resolver
        .reverse_kwargs(&name, &args)
        .unwrap_or_else(|e| panic!("{path:?} matched {name} with {:?}, which does not reverse: {e}", found.params()));
    // reverse gives a URL (percent-encoded, as Django's does); the handler decodes a request's
    // path before resolving it.
    let decoded = percent_encoding::percent_decode_str(&back).decode_utf8_lossy();
    let again =
        resolver.resolve(&decoded).unwrap_or_else(|| panic!("{path:?} reversed to {back:?}, which does not resolve"));
    assert_eq!(again.route().name(), Some(name.as_str()), "{path:?} → {back:?}");
    assert_eq!(again.params(), found.params(), "{path:?} → {back:?}");
}

/// Signed values and cookies: a value signs and unsigns to itself, and any other string is
/// accepted only if it is exactly what signing its value gives (no second spelling, no
/// forgery); timestamped and object payloads never panic.
pub fn signing(data: &[u8]) {
    let signer = Signer::new("fuzzing-secret-key", "djambda.fuzzing");
    let value = text(data);
    let signed = signer.sign(&value);
    assert_eq!(signer.unsign(&signed), Ok(value.as_str()));
    if let Ok(inner) = signer.unsign(&value) {
        assert_eq!(signer.sign(inner), value, "{value:?} was accepted but is not what signing gives");
    }
    let _ = signer.unsign_timestamped(&value, Some(std::time::Duration::from_secs(60)));
    let _ = signer.unsign_object::<serde_json::Value>(&value, None);
    let object = serde_json::json!({ "v": value, "n": data.len() });
    assert_eq!(signer.unsign_object::<serde_json::Value>(&signer.sign_object(&object), None).ok(), Some(object));
    // The text as a Cookie header line, parsed as requests parse it.
    for (name, _) in crate::request::cookie_pairs(&value) {
        assert!(!name.is_empty() && !name.contains([';', '=']), "cookie name {name:?} from {value:?}");
    }
}

const BOUNDARY: &str = "fuzzBoundary7MA4YWxk";

/// Multipart bodies. The first byte picks the shape: raw bytes under a known boundary (any
/// answer but a panic, and a malformed body is the client's error), or fields and files built
/// from the input, which must come back as they were sent.
pub fn multipart(data: &[u8]) {
    let dir = std::env::temp_dir().join("djambda-fuzzing-uploads");
    let _ = std::fs::create_dir_all(&dir);
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        if let Err((kind, message)) = parse_body(Some(&content_type), &Bytes::copy_from_slice(rest), &dir) {
            assert_eq!(kind, crate::ErrorKind::BadRequest, "{message}");
        }
        return;
    }
    // Well-formed: parts separated at each 0xff byte, alternately fields and files.
    let mut body = Vec::new();
    let mut sent = Vec::new();
    for (i, part) in rest.split(|b| *b == 0xff).enumerate().take(8) {
        let name = format!("f{i}");
        // A part holding the boundary would end early: that is a different body.
        if part.windows(BOUNDARY.len()).any(|w| w == BOUNDARY.as_bytes()) {
            continue;
        }
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        if i % 2 == 0 {
            let value = text(part);
            body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes());
            body.extend_from_slice(value.as_bytes());
            sent.push((name, Some(value), None));
        } else {
            let bytes: Vec<u8> = part.to_vec();
            body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"up{i}.bin\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(&bytes);
            sent.push((name, None, Some(bytes)));
        }
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    let form = parse_body(Some(&content_type), &Bytes::from(body), &dir)
        .unwrap_or_else(|(_, e)| panic!("a well-formed body was refused: {e}"));
    for (name, value, bytes) in sent {
        match (value, bytes) {
            (Some(value), _) => assert_eq!(form.get(&name), Some(value.as_str()), "field {name}"),
            (_, Some(bytes)) => {
                let file = form.file(&name).unwrap_or_else(|| panic!("file {name} is missing"));
                assert_eq!(file.read().expect("the upload is readable"), bytes, "file {name}");
            }
            _ => {}
        }
    }
}

/// A pipeline stage, for the form target's select field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Choices)]
pub enum FuzzStage {
    /// First contact.
    Lead,
    /// Signed.
    Won,
}

/// A form with a field of every kind the derive supports, for the form target.
#[derive(Debug, Clone, PartialEq, Form)]
pub struct FuzzForm {
    /// Short text.
    #[form(max_length = 20)]
    pub name: String,
    /// An email address.
    #[form(email = true)]
    pub email: String,
    /// A bounded integer.
    #[form(min = "-5", max = "500")]
    pub count: i32,
    /// Money.
    #[form(decimal_places = 2)]
    pub amount: rust_decimal::Decimal,
    /// A checkbox.
    pub active: bool,
    /// A date.
    pub due: chrono::NaiveDate,
    /// Optional text.
    pub note: Option<String>,
    /// A choice.
    pub stage: FuzzStage,
}

/// Form binding: any submitted data binds without panicking, and a valid form's values, shown
/// again as its inputs show them, bind to the same values.
pub fn form(data: &[u8]) {
    let fields = QueryDict::from_bytes(data);
    let bound = FuzzForm::bind_data(FormData { fields, files: Vec::new() });
    let Some(value) = bound.cleaned_data() else { return };
    let again = FuzzForm::bind_data(value.initial_data());
    assert_eq!(again.cleaned_data(), Some(value), "{:?} does not bind back", value.initial_data().fields);
}

/// The Lambda door: any JSON that reads as an API Gateway or ALB event is either refused with
/// a 400 answer in the event's own shape or converts to a request, never a panic. (The seeded
/// test for it mutates real events field by field, in `lambda::refuse`; random bytes are
/// rarely an event, so under cargo-fuzz this target starts from AWS's sample events.)
pub fn lambda_event(data: &[u8]) {
    let Ok(request) = serde_json::from_slice::<lambda_http::request::LambdaRequest>(data) else { return };
    if crate::lambda::refuse::unreadable(&request).is_some() {
        assert_eq!(crate::lambda::refuse::bad_request(&request)["statusCode"], 400);
        return;
    }
    let _ = http::Request::<lambda_http::Body>::from(request);
}

/// A fuzz target: bytes in, a panic when a property fails.
pub type Target = fn(&[u8]);

/// Every target by name, for the property tests and `fuzz/`'s runner.
pub const TARGETS: [(&str, Target); 6] = [
    ("querydict", querydict),
    ("resolve", resolve),
    ("signing", signing),
    ("multipart", multipart),
    ("form", form),
    ("lambda_event", lambda_event),
];

/// A small seeded generator (xorshift64*) for the property tests, so a failing run replays
/// from its seed.
#[cfg(test)]
pub(crate) struct Rng(pub(crate) u64);

#[cfg(test)]
impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A property test's seed and run count: `DJAMBDA_FUZZ_SEED` and `DJAMBDA_FUZZ_RUNS` when set,
/// else the test's own.
#[cfg(test)]
pub(crate) fn seed_and_runs(seed: u64, runs: usize) -> (u64, usize) {
    let var = |name| std::env::var(name).ok().and_then(|s| s.parse().ok());
    (var("DJAMBDA_FUZZ_SEED").unwrap_or(seed), var("DJAMBDA_FUZZ_RUNS").map_or(runs, |r| r as usize))
}

#[cfg(test)]
mod tests {
    use super::{Rng, seed_and_runs};
    use crate::forms::Form;

    /// Input bytes: tokens each parser gives meaning to, mixed with random bytes.
    fn input(rng: &mut Rng) -> Vec<u8> {
        const TOKENS: [&[u8]; 34] = [
            b"=",
            b"&",
            b"+",
            b"%",
            b"%2",
            b"%zz",
            b"%C3%A9",
            b"%00",
            b"/",
            b"//",
            b"..",
            b"./",
            b"items/",
            b"posts/",
            b"new",
            b"u/",
            b"files/",
            b"notes/",
            b"a/",
            b"12",
            b"-3",
            b"007",
            b"9999999999",
            b"a-b_c",
            b"550e8400-e29b-41d4-a716-446655440000",
            b":",
            b";",
            b"\"",
            b"\r\n",
            b"--fuzzBoundary7MA4YWxk",
            b"name=",
            b"amount=1.25&",
            "é\u{0}".as_bytes(),
            b"\xff",
        ];
        const KEYS: [&[u8]; 8] =
            [b"name=", b"email=", b"count=", b"amount=", b"active=", b"due=2026-02-29", b"note=", b"stage="];
        let mut out = Vec::new();
        for _ in 0..rng.below(12) {
            match rng.below(4) {
                0 => out.push(rng.next() as u8),
                1 => out.extend_from_slice(KEYS[rng.below(KEYS.len())]),
                _ => out.extend_from_slice(TOKENS[rng.below(TOKENS.len())]),
            }
        }
        out
    }

    #[test]
    fn every_fuzz_target_holds_for_seeded_inputs() {
        let (seed, runs) = seed_and_runs(0x5eed_f00d, 2000);
        for (name, target) in super::TARGETS {
            let mut rng = Rng(seed);
            for run in 0..runs {
                let input = input(&mut rng);
                let outcome = std::panic::catch_unwind(|| target(&input));
                assert!(outcome.is_ok(), "fuzz target {name} failed on run {run} (seed {seed}), input {input:?}");
            }
            eprintln!("fuzz target {name}: {runs} inputs, seed {seed}, no failure");
        }
    }

    #[test]
    fn the_form_target_finds_a_valid_form_and_the_resolver_target_a_match() {
        // The properties are only worth something if inputs reach their interesting side.
        let valid = b"name=Ada&email=ada@example.com&count=3&amount=1.25&due=2026-01-31&stage=won";
        assert!(
            super::FuzzForm::bind_data(crate::http::FormData {
                fields: crate::http::QueryDict::from_bytes(valid),
                files: Vec::new()
            })
            .cleaned_data()
            .is_some()
        );
        super::form(valid);
        for path in
            ["items/12/", "posts/new/", "a/x/3/deep/er", "notes/4/tab-1/", "u/550e8400-e29b-41d4-a716-446655440000/"]
        {
            assert!(super::resolver().resolve(&format!("/{path}")).is_some(), "{path}");
            super::resolve(path.as_bytes());
        }
    }
}
