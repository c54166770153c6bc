//! Measures Lambda cold starts: runs each given `bootstrap` binary under the `tests` crate's
//! Runtime API emulator, a fresh process and a fresh emulator per run, and reports
//!
//! - init: from spawning the process to its first `GET /2018-06-01/runtime/invocation/next`;
//! - first invocation: from queueing an API Gateway v2 (HTTP API) GET event to the function's
//!   posted response;
//! - peak RSS: the process's `VmHWM` (from `/proc/<pid>/status`) once it has answered the first
//!   invocation and polled for the next one;
//! - the binary's size;
//! - with `--warm N`, the latency of N more invocations on the same instance (median and p99
//!   over every run's), Lambda's warm path.
//!
//! ```text
//! coldstart [--runs N] [--warmup N] [--warm N] [--path /] [--cookie 'a=1; b=2']
//!           [--expect NAME=TEXT]... [--env KEY=VALUE]... NAME=BINARY...
//! ```
//!
//! `--cookie` sends a `Cookie` header's value with every invocation, as API Gateway delivers it
//! (the payload's `cookies` list, one entry per cookie): a session cookie obtained by logging in
//! once measures a logged-in page. Every invocation must answer 200, and with `--expect
//! NAME=TEXT` the first invocation of target NAME must have TEXT in its body (checked after the
//! timing), so a redirect to the login page or an error page is never what gets measured.
//!
//! Runs of the binaries are interleaved (run 1 of each, then run 2 of each, …) so drift on a
//! shared machine hits them alike. Every binary gets the same `--env` values, on top of the
//! variables the Lambda service sets. With two or more binaries, each is compared with the
//! last one named (the baseline). The last lines, `SUMMARY name=… key=value…`, are for scripts.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tests::emulator::{Outcome, RuntimeApi};
use tests::process::spawn_lambda;

/// How long a function may take to initialise or to answer before the run counts as failed.
const TIMEOUT: Duration = Duration::from_secs(20);

struct Options {
    runs: usize,
    warmup: usize,
    warm: usize,
    path: String,
    cookie: Option<String>,
    expect: Vec<(String, String)>,
    env: Vec<(String, String)>,
    targets: Vec<(String, PathBuf)>,
}

const USAGE: &str = "usage: coldstart [--runs N] [--warmup N] [--warm N] [--path /] [--cookie 'a=1; b=2'] \
     [--expect NAME=TEXT]... [--env KEY=VALUE]... NAME=BINARY...";

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        runs: 10,
        warmup: 1,
        warm: 0,
        path: "/".into(),
        cookie: None,
        expect: Vec::new(),
        env: Vec::new(),
        targets: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--runs" => o.runs = value("--runs")?.parse().map_err(|_| "--runs takes a number".to_string())?,
            "--warmup" => o.warmup = value("--warmup")?.parse().map_err(|_| "--warmup takes a number".to_string())?,
            "--warm" => o.warm = value("--warm")?.parse().map_err(|_| "--warm takes a number".to_string())?,
            "--path" => o.path = value("--path")?,
            "--cookie" => {
                let cookie = value("--cookie")?;
                if cookie.trim().is_empty() || !cookie.contains('=') {
                    return Err(format!("--cookie takes a Cookie header's value (name=value; …), got `{cookie}`"));
                }
                o.cookie = Some(cookie);
            }
            "--expect" => {
                let kv = value("--expect")?;
                let (name, text) = kv.split_once('=').ok_or_else(|| format!("--expect takes NAME=TEXT, got `{kv}`"))?;
                o.expect.push((name.to_owned(), text.to_owned()));
            }
            "--env" => {
                let kv = value("--env")?;
                let (k, v) = kv.split_once('=').ok_or_else(|| format!("--env takes KEY=VALUE, got `{kv}`"))?;
                o.env.push((k.to_owned(), v.to_owned()));
            }
            "-h" | "--help" => return Err(USAGE.into()),
            target => {
                let (name, bin) =
                    target.split_once('=').ok_or_else(|| format!("expected NAME=BINARY, got `{target}`\n{USAGE}"))?;
                let bin = PathBuf::from(bin);
                if !bin.is_file() {
                    return Err(format!("{name}: no such binary {}", bin.display()));
                }
                o.targets.push((name.to_owned(), bin));
            }
        }
    }
    if o.targets.is_empty() || o.runs == 0 || !o.path.starts_with('/') {
        return Err(USAGE.into());
    }
    if let Some((name, _)) = o.expect.iter().find(|(name, _)| !o.targets.iter().any(|(t, _)| t == name)) {
        return Err(format!("--expect names `{name}`, which is not one of the targets"));
    }
    Ok(o)
}

/// An API Gateway HTTP API (payload 2.0) GET of `path`, as AWS sends it: with `cookie` (a
/// `Cookie` header's value), the cookies go in the payload's `cookies` list, one per entry, and
/// not among the headers, as API Gateway does it.
fn http_api_event(path: &str, cookie: Option<&str>, request_id: usize) -> String {
    let (raw_path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut event = serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": {
            "accept": "text/html",
            "host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "user-agent": "coldstart",
            "x-forwarded-for": "192.0.2.10",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "domainName": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abcdef1234",
            "http": { "method": "GET", "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.10", "userAgent": "coldstart" },
            "requestId": format!("coldstart-{request_id}"),
            "routeKey": "$default",
            "stage": "$default",
            "time": "23/Nov/2026:03:50:00 +0000",
            "timeEpoch": 1_795_405_800_000_u64
        },
        "isBase64Encoded": false
    });
    if let Some(cookie) = cookie {
        let cookies: Vec<&str> = cookie.split(';').map(str::trim).filter(|c| !c.is_empty()).collect();
        event["cookies"] = serde_json::json!(cookies);
    }
    event.to_string()
}

struct Sample {
    init: Duration,
    first: Duration,
    hwm_kib: u64,
    warm: Vec<Duration>,
}

/// `VmHWM` of process `pid`, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Sends `event` and checks the function answered 200; returns its response.
async fn invoke_ok(api: &RuntimeApi, event: String) -> Result<serde_json::Value, String> {
    let response = match api.invoke_with_timeout(event, TIMEOUT).await? {
        Outcome::Response(v) => v,
        Outcome::Error(e) => return Err(format!("the invocation failed: {e}")),
        Outcome::Streamed(s) => return Err(format!("the function streamed its answer: {}", s.prelude)),
    };
    let status = response.get("statusCode").and_then(|s| s.as_u64());
    if status != Some(200) {
        return Err(format!("the invocation answered status {status:?}, not 200: {response}"));
    }
    Ok(response)
}

/// Checks the body of a function's `response` contains `text`.
fn check_body(response: &serde_json::Value, text: &str) -> Result<(), String> {
    if response.get("isBase64Encoded").and_then(|b| b.as_bool()) == Some(true) {
        return Err(format!("expected a text body containing `{text}`, got a base64-encoded one"));
    }
    let body = response.get("body").and_then(|b| b.as_str()).unwrap_or("");
    if !body.contains(text) {
        let start: String = body.chars().take(600).collect();
        return Err(format!("the first invocation's body does not contain `{text}`; it begins:\n  {start}"));
    }
    Ok(())
}

async fn one_run(
    bin: &std::path::Path,
    env: &[(&str, &str)],
    event: impl Fn() -> String,
    warm: usize,
    expect: Option<&str>,
) -> Result<Sample, String> {
    let api = RuntimeApi::start().await;
    let started = Instant::now();
    let mut running = spawn_lambda(bin, &api.address(), env);
    let stderr = |running: &tests::process::Running| running.stderr.try_iter().collect::<Vec<_>>().join("\n  ");
    // Wait for the first poll, noticing a process that exits instead.
    let deadline = started + TIMEOUT;
    while !api.wait_for_polls(1, Duration::from_millis(20)).await {
        if let Ok(Some(status)) = running.child.try_wait() {
            return Err(format!("exited ({status}) before polling for an invocation:\n  {}", stderr(&running)));
        }
        if Instant::now() > deadline {
            return Err(format!("no /invocation/next within {TIMEOUT:?}:\n  {}", stderr(&running)));
        }
    }
    let init = api.first_poll().ok_or("the emulator recorded no poll")? - started;

    let sent = Instant::now();
    let response = invoke_ok(&api, event()).await?;
    let first = sent.elapsed();
    if let Some(text) = expect {
        check_body(&response, text)?;
    }
    // Back at /invocation/next: the first invocation is fully done.
    if !api.wait_for_polls(2, TIMEOUT).await {
        return Err("no second /invocation/next after the first invocation".into());
    }
    let mut warm_latencies = Vec::with_capacity(warm);
    for _ in 0..warm {
        let sent = Instant::now();
        invoke_ok(&api, event()).await?;
        warm_latencies.push(sent.elapsed());
    }
    let hwm_kib = peak_rss_kib(running.child.id()).ok_or("could not read VmHWM from /proc")?;
    drop(running);
    Ok(Sample { init, first, hwm_kib, warm: warm_latencies })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Summary {
    name: String,
    init_ms: f64,
    first_ms: f64,
    total_ms: f64,
    hwm_kib: f64,
    size: u64,
    warm_ms: f64,
    warm_p99_ms: f64,
}

fn percentile(mut values: Vec<f64>, p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

fn summarise(name: &str, bin: &std::path::Path, samples: &[Sample]) -> Summary {
    let inits: Vec<f64> = samples.iter().map(|s| ms(s.init)).collect();
    let firsts: Vec<f64> = samples.iter().map(|s| ms(s.first)).collect();
    let totals: Vec<f64> = samples.iter().map(|s| ms(s.init + s.first)).collect();
    let hwms: Vec<f64> = samples.iter().map(|s| s.hwm_kib as f64).collect();
    let range = |v: &[f64]| {
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(0.0, f64::max);
        format!("min {min:.2}, max {max:.2}")
    };
    let size = std::fs::metadata(bin).map(|m| m.len()).unwrap_or(0);
    let s = Summary {
        name: name.to_owned(),
        init_ms: median(inits.clone()),
        first_ms: median(firsts.clone()),
        total_ms: median(totals.clone()),
        hwm_kib: median(hwms.clone()),
        size,
        warm_ms: 0.0,
        warm_p99_ms: 0.0,
    };
    let warm: Vec<f64> = samples.iter().flat_map(|s| s.warm.iter().map(|d| ms(*d))).collect();
    let s = Summary { warm_ms: percentile(warm.clone(), 50.0), warm_p99_ms: percentile(warm.clone(), 99.0), ..s };
    println!("{name}: {} ({size} bytes, {:.2} MiB)", bin.display(), size as f64 / 1048576.0);
    println!("  init (spawn → first /invocation/next): median {:.2} ms ({})", s.init_ms, range(&inits));
    println!("  first invocation latency:              median {:.2} ms ({})", s.first_ms, range(&firsts));
    println!("  init + first invocation:               median {:.2} ms ({})", s.total_ms, range(&totals));
    println!(
        "  peak RSS (VmHWM):                      median {:.0} KiB ({:.1} MiB; {})",
        s.hwm_kib,
        s.hwm_kib / 1024.0,
        range(&hwms)
    );
    if !warm.is_empty() {
        println!(
            "  warm invocations ({} on warm instances):   median {:.3} ms, p99 {:.3} ms",
            warm.len(),
            s.warm_ms,
            s.warm_p99_ms
        );
    }
    s
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let env: Vec<(&str, &str)> = o.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    println!(
        "cold start: {} measured run(s) per binary after {} warm-up run(s), interleaved; first invocation: API Gateway v2 GET {}{}",
        o.runs,
        o.warmup,
        o.path,
        if o.cookie.is_some() { " with cookies" } else { "" }
    );
    let mut samples: Vec<Vec<Sample>> = o.targets.iter().map(|_| Vec::new()).collect();
    let mut request_id = 0;
    for round in 0..o.warmup + o.runs {
        for (i, (name, bin)) in o.targets.iter().enumerate() {
            request_id += 1;
            let id = std::cell::Cell::new(request_id * 100_000);
            let event = || {
                id.set(id.get() + 1);
                http_api_event(&o.path, o.cookie.as_deref(), id.get())
            };
            let expect = o.expect.iter().find(|(n, _)| n == name).map(|(_, text)| text.as_str());
            match one_run(bin, &env, event, o.warm, expect).await {
                Ok(s) if round >= o.warmup => {
                    println!(
                        "  run {:2} {name:<14} init {:7.2} ms   first invocation {:7.2} ms   peak RSS {:6} KiB",
                        round - o.warmup + 1,
                        ms(s.init),
                        ms(s.first),
                        s.hwm_kib
                    );
                    samples[i].push(s);
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("{name}: run {} failed: {e}", round + 1);
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    let summaries: Vec<Summary> =
        o.targets.iter().zip(&samples).map(|((name, bin), s)| summarise(name, bin, s)).collect();
    if let Some(base) = summaries.last().filter(|_| summaries.len() > 1) {
        for s in &summaries[..summaries.len() - 1] {
            println!(
                "{} / {}: init {:.2}×, first invocation {:.2}×, init + first invocation {:.2}×, peak RSS {:.2}×, size {:.2}×, warm median {:.2}×, warm p99 {:.2}×",
                s.name,
                base.name,
                s.init_ms / base.init_ms,
                s.first_ms / base.first_ms,
                s.total_ms / base.total_ms,
                s.hwm_kib / base.hwm_kib,
                s.size as f64 / base.size as f64,
                s.warm_ms / base.warm_ms,
                s.warm_p99_ms / base.warm_p99_ms
            );
        }
    }
    for s in &summaries {
        println!(
            "SUMMARY name={} init_ms={:.3} first_ms={:.3} total_ms={:.3} hwm_kib={:.0} size_bytes={} warm_ms={:.3} warm_p99_ms={:.3}",
            s.name, s.init_ms, s.first_ms, s.total_ms, s.hwm_kib, s.size, s.warm_ms, s.warm_p99_ms
        );
    }
    ExitCode::SUCCESS
}
