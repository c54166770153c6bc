//! `manage runserver [ADDR:PORT]`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use crate::site::Site;
use crate::site::builder::ConfigError;

const DEFAULT_PORT: u16 = 8000;

/// The banner's last line; a reloading parent waits for it to know a new server is serving.
pub(crate) const READY_LINE: &str = "Quit the server with CONTROL-C.";

/// Parses `8000`, `0.0.0.0:8000`, `[::1]:8000` or `localhost:8000` as Django's runserver does.
pub(crate) fn parse_addrport(raw: Option<&str>) -> Result<SocketAddr, String> {
    let Some(raw) = raw.map(str::trim) else {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT));
    };
    let invalid = || format!("\"{raw}\" is not a valid port number or address:port pair.");
    if let Ok(port) = raw.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Ok(addr) = raw.parse::<SocketAddr>() {
        return Ok(addr);
    }
    match raw.rsplit_once(':') {
        Some(("localhost", port)) => {
            port.parse().map(|p| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p)).map_err(|_| invalid())
        }
        _ => Err(invalid()),
    }
}

pub(crate) fn run(site: &Result<Site, ConfigError>, addrport: Option<&str>, noreload: bool) -> ExitCode {
    let addr = match parse_addrport(addrport) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("CommandError: {e}");
            return ExitCode::FAILURE;
        }
    };
    #[cfg(unix)]
    let inherited = match super::autoreload::inherited_listener() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("CommandError: {e}");
            return ExitCode::FAILURE;
        }
    };
    #[cfg(not(unix))]
    let inherited: Option<std::net::TcpListener> = None;
    // Django's autoreloader: a debug build, not asked otherwise, and not itself the server a
    // reloading parent started, watches and restarts a server process instead of serving.
    #[cfg(unix)]
    if cfg!(debug_assertions)
        && !noreload
        && inherited.is_none()
        && let Ok(site) = site
    {
        let args: Vec<String> = addrport.into_iter().chain(["--noreload"]).map(str::to_owned).collect();
        if let Some(code) = super::autoreload::run(site, addr, &args, READY_LINE) {
            return code;
        }
    }
    #[cfg(not(unix))]
    let _ = noreload;
    println!("Performing system checks...\n");
    let site = match site {
        Ok(s) => s.clone(),
        Err(e) => {
            eprintln!("CommandError: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("System check identified no issues (0 silenced).");
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        if let Err(e) = create_default_database(&site).await {
            eprintln!("CommandError: {e}");
            return ExitCode::FAILURE;
        }
        let listener = match inherited {
            Some(l) => match l.set_nonblocking(true).and_then(|()| tokio::net::TcpListener::from_std(l)) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("Error: could not serve on the socket the reloader passed: {e}");
                    return ExitCode::FAILURE;
                }
            },
            None => match crate::server::bind(addr).await {
                Ok(l) => l,
                Err(msg) => {
                    eprintln!("{msg}");
                    return ExitCode::FAILURE;
                }
            },
        };
        let bound = listener.local_addr().unwrap_or(addr);
        let host = match bound.ip() {
            IpAddr::V6(ip) => format!("[{ip}]"),
            IpAddr::V4(ip) => ip.to_string(),
        };
        println!(
            "{}\ndjambda version {}, DEBUG = {}\nStarting development server at http://{host}:{}/\n{}",
            httpdate::fmt_http_date(std::time::SystemTime::now()),
            env!("CARGO_PKG_VERSION"),
            site.settings().debug,
            bound.port(),
            READY_LINE,
        );
        match crate::server::serve(site, listener, crate::site::commands::shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: the server stopped: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// On a first run with no DATABASE_URL, creates the default SQLite file: migrations, then the
/// site's initial data, saying so.
async fn create_default_database(site: &Site) -> Result<(), String> {
    let Some(file) = site.database().default_file() else { return Ok(()) };
    if file.exists() || site.migrations().is_empty() {
        return Ok(());
    }
    println!("No database yet: creating {} (set DATABASE_URL to use another database).", file.display());
    let (applied, _) = site.apply_migrations().await?;
    println!("  Applied {} migration(s): {}", applied.len(), applied.join(", "));
    if let Some(fixture) = site.initial_data() {
        let loaded = super::fixtures::load(site, &[fixture.to_owned()]).await?;
        println!("  Installed {} object(s) from the '{fixture}' fixture (manage loaddata {fixture}).", loaded.objects);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addrport_forms_django_accepts() {
        assert_eq!(parse_addrport(None).unwrap(), "127.0.0.1:8000".parse().unwrap());
        assert_eq!(parse_addrport(Some("9000")).unwrap(), "127.0.0.1:9000".parse().unwrap());
        assert_eq!(parse_addrport(Some("0.0.0.0:80")).unwrap(), "0.0.0.0:80".parse().unwrap());
        assert_eq!(parse_addrport(Some("[::1]:8001")).unwrap(), "[::1]:8001".parse().unwrap());
        assert_eq!(parse_addrport(Some("localhost:8002")).unwrap(), "127.0.0.1:8002".parse().unwrap());
        assert!(parse_addrport(Some("abc")).unwrap_err().contains("not a valid port"));
        assert!(parse_addrport(Some("1.2.3.4:99999")).is_err());
    }
}
