//! `manage dbshell`: the database's own command-line client, connected with the settings'
//! DATABASE_URL (sqlite3, psql, or mysql).

use std::process::{Command, ExitCode};

use crate::site::Site;

/// The client program, its arguments, and environment variables (passwords go there, never on
/// the command line where other users could read them).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ShellCommand {
    pub(crate) program: &'static str,
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<(&'static str, String)>,
}

/// Works out the client for a database URL.
pub(crate) fn shell_command(database_url: &str) -> Result<ShellCommand, String> {
    let url = url::Url::parse(database_url).map_err(|e| format!("DATABASE_URL is not a URL ({e})"))?;
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    match url.scheme() {
        "sqlite" => {
            // sqlite://relative/path or sqlite:///absolute/path; `sqlite::memory:` has no file.
            let path = format!("{}{}", url.host_str().unwrap_or(""), url.path());
            if path.is_empty() || path.contains(":memory:") {
                return Err("an in-memory SQLite database has no shell to open".into());
            }
            Ok(ShellCommand { program: "sqlite3", args: vec![decode(&path)], env: Vec::new() })
        }
        "postgres" | "postgresql" => {
            let mut args = Vec::new();
            if let Some(host) = url.host_str() {
                args.extend(["-h".to_owned(), host.to_owned()]);
            }
            if let Some(port) = url.port() {
                args.extend(["-p".to_owned(), port.to_string()]);
            }
            if !url.username().is_empty() {
                args.extend(["-U".to_owned(), decode(url.username())]);
            }
            args.push(decode(url.path().trim_start_matches('/')));
            let env = url.password().map(|p| vec![("PGPASSWORD", decode(p))]).unwrap_or_default();
            Ok(ShellCommand { program: "psql", args, env })
        }
        "mysql" | "mariadb" => {
            let mut args = Vec::new();
            if let Some(host) = url.host_str() {
                args.push(format!("--host={host}"));
            }
            if let Some(port) = url.port() {
                args.push(format!("--port={port}"));
            }
            if !url.username().is_empty() {
                args.push(format!("--user={}", decode(url.username())));
            }
            args.push(decode(url.path().trim_start_matches('/')));
            let env = url.password().map(|p| vec![("MYSQL_PWD", decode(p))]).unwrap_or_default();
            Ok(ShellCommand { program: "mysql", args, env })
        }
        other => Err(format!("no shell known for `{other}` databases (sqlite, postgres and mysql are)")),
    }
}

/// Runs the client in the foreground and returns its exit code.
pub(crate) fn dbshell(site: &Site) -> ExitCode {
    let cmd = match shell_command(site.database().url()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("CommandError: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut command = Command::new(cmd.program);
    command.args(&cmd.args);
    for (k, v) in &cmd.env {
        command.env(k, v);
    }
    match command.status() {
        Ok(status) => ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("CommandError: You appear not to have the '{}' program installed or on your path.", cmd.program);
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("CommandError: could not start {}: {e}", cmd.program);
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_and_their_arguments_per_backend() {
        let sqlite = shell_command("sqlite:///srv/crm/db.sqlite3?mode=rwc").unwrap();
        assert_eq!((sqlite.program, sqlite.args), ("sqlite3", vec!["/srv/crm/db.sqlite3".to_owned()]));
        let pg = shell_command("postgres://app:p%40ss@db.internal:6543/crm").unwrap();
        assert_eq!(pg.program, "psql");
        assert_eq!(pg.args, ["-h", "db.internal", "-p", "6543", "-U", "app", "crm"]);
        assert_eq!(pg.env, vec![("PGPASSWORD", "p@ss".to_owned())], "the password stays off the command line");
        let my = shell_command("mysql://root@127.0.0.1:3306/test").unwrap();
        assert_eq!(my.args, ["--host=127.0.0.1", "--port=3306", "--user=root", "test"]);
        assert!(my.env.is_empty());
        assert!(shell_command("sqlite::memory:").is_err());
        assert!(shell_command("oracle://x/y").unwrap_err().contains("no shell known"));
    }
}
