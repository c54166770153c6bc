//! The reloading `runserver` (Django's `django.utils.autoreload`): in a debug build, a parent
//! process watches the site's sources, rebuilds with cargo when one changes, and restarts the
//! server on the same address.
//!
//! The parent binds the address once and passes the listening socket to each server process it
//! starts, so the port never closes: the last good server answers while cargo builds, and it
//! stops (finishing its requests) only once the new one is ready. A build that fails, or a
//! server that does not start, leaves the last good one answering.
//!
//! Only `.rs` and `.toml` files count as changes, in the site's crate and every crate of its
//! workspace or on a path (the framework checkout a site depends on by path, too): templates
//! and static files are read from disk in debug builds, so they need no rebuild. Files are
//! polled, as Django's `StatReloader` does, rather than watched through the OS: no dependency,
//! and the same on every system.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use crate::site::Site;

/// The environment variable that hands a server process its listening socket: the number of
/// the file descriptor it inherited. Set only by the reloading parent.
pub(crate) const LISTEN_FD_ENV: &str = "DJAMBDA_RUNSERVER_LISTEN_FD";

/// How often the files are looked at.
const POLL: Duration = Duration::from_millis(300);

/// How long a rebuilt server may take to say it is serving before it is given up on (the old
/// one answers meanwhile).
const RESTART_TIMEOUT: Duration = Duration::from_secs(60);

/// Set by SIGTERM or SIGINT: the parent stops its server (which finishes its requests) and exits,
/// as the server itself would.
static STOPPING: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOPPING.store(true, Ordering::SeqCst);
}

/// The listening socket a reloading parent passed down, if this process is one of its servers.
pub(crate) fn inherited_listener() -> Result<Option<std::net::TcpListener>, String> {
    listener_from(std::env::var_os(LISTEN_FD_ENV).as_deref())
}

fn listener_from(raw: Option<&std::ffi::OsStr>) -> Result<Option<std::net::TcpListener>, String> {
    use std::os::fd::FromRawFd;
    let Some(raw) = raw else { return Ok(None) };
    let fd: RawFd = raw
        .to_str()
        .and_then(|s| s.parse().ok())
        .filter(|fd| *fd > 2)
        .ok_or_else(|| format!("{LISTEN_FD_ENV}={raw:?} is not the number of an inherited socket"))?;
    // SAFETY: the reloading parent cleared close-on-exec on exactly this descriptor, a bound
    // and listening TCP socket, and set the variable to its number; nothing else in this
    // process owns it. (Above 2, so it is never one of the standard streams.)
    let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
    listener.local_addr().map_err(|e| format!("{LISTEN_FD_ENV}={fd} is not a listening socket: {e}"))?;
    Ok(Some(listener))
}

/// Runs the reloading parent for `runserver ADDR` (`args` are the server's own arguments; it
/// prints `ready_line` once it is serving).
/// Returns `None` when the site cannot be rebuilt here (no cargo, or no workspace), after
/// saying why: the caller then serves in this process without reloading.
pub(crate) fn run(site: &Site, addr: SocketAddr, args: &[String], ready_line: &'static str) -> Option<ExitCode> {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            println!("Not reloading on changes: cannot tell where this program is ({e}).");
            return None;
        }
    };
    let manifest = site.base_dir().join("Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let watched = match local_crates(&cargo, &manifest) {
        Ok(dirs) => dirs,
        Err(e) => {
            println!("Not reloading on changes: {e}. (`runserver --noreload` says nothing of this.)");
            return None;
        }
    };
    let listener = match TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{}", crate::server::bind_error(addr, &e));
            return Some(ExitCode::FAILURE);
        }
    };
    println!("Watching for file changes: a saved .rs or .toml file rebuilds the site and restarts the server.");
    let bin = exe.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "manage".into());
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_stop_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_stop_signal as *const () as libc::sighandler_t);
    }
    let reloader =
        Reloader { exe, cargo, manifest, bin, args: args.to_vec(), ready_line, listener, watched, stop: &STOPPING };
    Some(reloader.watch())
}

struct Reloader {
    /// The binary as it was when this parent started: cargo replaces the file on a rebuild,
    /// and `current_exe` would then name the deleted one.
    exe: PathBuf,
    cargo: std::ffi::OsString,
    manifest: PathBuf,
    bin: String,
    args: Vec<String>,
    listener: TcpListener,
    watched: Vec<PathBuf>,
    ready_line: &'static str,
    /// Set when this parent is asked to stop ([`STOPPING`], but for the signals).
    stop: &'static AtomicBool,
}

/// A server process and the lines it printed, read by a thread of its own.
struct Server {
    child: Child,
    ready: mpsc::Receiver<()>,
}

impl Reloader {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn watch(self) -> ExitCode {
        // Before the server starts: a file saved while it starts (a test's edit once the
        // banner shows, an editor's save just after `runserver`) is a change to rebuild for.
        let mut seen = snapshot(&self.watched);
        // So is one saved after the binary was built (while cargo linked it, or while this
        // parent asked cargo for the crates): left out of the baseline, it shows as new.
        if let Some(built) = modified(&self.exe) {
            seen.retain(|_, (saved, _)| saved.is_none_or(|saved| saved <= built));
        }
        let mut server = match self.start() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("Error: {e}");
                return ExitCode::FAILURE;
            }
        };
        // The first start may create the database and load its data: no time limit.
        match wait_ready(&mut server, None, self.stop) {
            Started::Serving => {}
            Started::Stopping | Started::TimedOut => {
                stop(server.child);
                return ExitCode::SUCCESS;
            }
            Started::Exited => {
                // The first build does not start: nothing to fall back on, as without reloading.
                let status = server.child.wait().ok().and_then(|s| s.code()).unwrap_or(1);
                return ExitCode::from(status.clamp(1, 255) as u8);
            }
        }
        let mut live = Some(server);
        loop {
            std::thread::sleep(POLL);
            if self.stopping() {
                if let Some(s) = live {
                    stop(s.child);
                }
                return ExitCode::SUCCESS;
            }
            if let Some(s) = &mut live
                && let Ok(Some(status)) = s.child.try_wait()
            {
                println!("The server stopped ({status}); it starts again on the next change.");
                live = None;
            }
            let now = snapshot(&self.watched);
            let Some(changed) = first_change(&seen, &now) else { continue };
            println!("{} changed, rebuilding...", changed.display());
            seen = now;
            let built_before = modified(&self.exe);
            if !self.build() {
                match live {
                    Some(_) => println!(
                        "The build failed (above); the last good server keeps answering. Waiting for a change."
                    ),
                    None => println!("The build failed (above). Waiting for a change."),
                }
                continue;
            }
            if modified(&self.exe) == built_before && live.is_some() {
                // A test's or another binary's source: the binary cargo builds is the one serving.
                continue;
            }
            let mut next = match self.start() {
                Ok(s) => s,
                Err(e) => {
                    println!("Could not start the new build ({e}); the last good server keeps answering.");
                    continue;
                }
            };
            match wait_ready(&mut next, Some(RESTART_TIMEOUT), self.stop) {
                Started::Serving => {}
                Started::Stopping => {
                    stop(next.child);
                    continue;
                }
                Started::TimedOut => {
                    stop(next.child);
                    println!(
                        "The new build did not start serving within {} s, so it was stopped; the last good server \
                         keeps answering.",
                        RESTART_TIMEOUT.as_secs()
                    );
                    continue;
                }
                Started::Exited => {
                    let status = next.child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                    println!("The new build did not start ({status}); the last good server keeps answering.");
                    continue;
                }
            }
            if let Some(old) = live.replace(next) {
                stop(old.child);
            }
        }
    }

    /// Starts a server process on the shared socket.
    fn start(&self) -> Result<Server, String> {
        let fd = self.listener.as_raw_fd();
        let mut command = Command::new(&self.exe);
        command.arg("runserver").args(&self.args).env(LISTEN_FD_ENV, fd.to_string());
        inherit_socket_and_die_with_parent(&mut command, fd);
        spawn_server(command, self.ready_line).map_err(|e| format!("could not run {}: {e}", self.exe.display()))
    }
}

/// Runs `command` with its output passed on line by line, watching for `ready_line`, the
/// banner's last line, which says it is serving.
fn spawn_server(mut command: Command, ready_line: &'static str) -> std::io::Result<Server> {
    let mut child = command.stdout(Stdio::piped()).spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| std::io::Error::other("the server's output was not captured"))?;
    let (tx, ready) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = std::io::stdout();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
            if line == ready_line {
                let _ = tx.send(());
            }
        }
    });
    Ok(Server { child, ready })
}

/// How a server's start ended.
#[derive(Debug, PartialEq, Eq)]
enum Started {
    /// It said it is serving.
    Serving,
    /// It exited (or closed its output) first.
    Exited,
    /// It said nothing within the time given: stuck, say, on a database that does not answer.
    TimedOut,
    /// This parent was asked to stop meanwhile.
    Stopping,
}

/// Waits until the server says it is serving, exits, outlasts `timeout`, or `stop` is set.
fn wait_ready(server: &mut Server, timeout: Option<Duration>, stop: &AtomicBool) -> Started {
    let began = std::time::Instant::now();
    loop {
        if stop.load(Ordering::SeqCst) {
            return Started::Stopping;
        }
        match server.ready.recv_timeout(Duration::from_millis(50)) {
            Ok(()) => return Started::Serving,
            Err(mpsc::RecvTimeoutError::Disconnected) => return Started::Exited,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(_)) = server.child.try_wait() {
                    return Started::Exited;
                }
                if timeout.is_some_and(|t| began.elapsed() > t) {
                    return Started::TimedOut;
                }
            }
        }
    }
}

impl Reloader {
    /// `cargo build` of the site's binary, its messages and errors on the terminal. A stop
    /// signal ends the build too.
    fn build(&self) -> bool {
        let spawned = cargo_command(&self.cargo)
            .arg("build")
            .arg("--manifest-path")
            .arg(&self.manifest)
            .args(["--bin", &self.bin])
            .stdin(Stdio::null())
            .spawn();
        let mut cargo = match spawned {
            Ok(c) => c,
            Err(e) => {
                println!("Could not run cargo: {e}");
                return false;
            }
        };
        loop {
            match cargo.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) if self.stopping() => {
                    stop(cargo);
                    return false;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => {
                    println!("Could not wait for cargo: {e}");
                    return false;
                }
            }
        }
    }
}

/// A cargo command without the variables cargo sets for the program it runs (`CARGO_PKG_*`,
/// `CARGO_MANIFEST_*`, …, under `cargo manage runserver`). They describe this site's package,
/// and build scripts that watch them would see a change and rebuild shared dependencies (ring,
/// sqlx, …) on every reload, and again on the next plain `cargo build`.
fn cargo_command(cargo: &std::ffi::OsStr) -> Command {
    let mut command = Command::new(cargo);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let per_package = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_CRATE_", "CARGO_BIN_", "CARGO_PRIMARY_PACKAGE"]
            .iter()
            .any(|p| key.starts_with(p));
        if per_package || key == "CARGO_TARGET_TMPDIR" || key == "CARGO_RUSTC_CURRENT_DIR" {
            command.env_remove(key.as_ref());
        }
    }
    command
}

/// Asks a process to stop as Ctrl-C would (a server finishes the requests in flight), and
/// waits for it.
fn stop(mut child: Child) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: `kill` with a child's pid that has not been waited for yet, so the pid is still
    // this child's.
    if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// Lets the child keep the listening socket across `exec`, and stops it when this parent goes
/// (killed, or Ctrl-C), so no server outlives the reloader holding the port.
fn inherit_socket_and_die_with_parent(command: &mut Command, fd: RawFd) {
    use std::os::unix::process::CommandExt;
    // SAFETY: runs in the forked child before exec, and calls only `fcntl` and `prctl`, which
    // are async-signal-safe; nothing is allocated.
    unsafe {
        command.pre_exec(move || {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            #[cfg(target_os = "linux")]
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The folders of every crate cargo builds from local source for this site: its workspace's
/// members, and its path dependencies with theirs (a framework checkout, say). Asks cargo
/// without resolving the registry's crates, so it needs no network and downloads nothing.
fn local_crates(cargo: &std::ffi::OsStr, manifest: &Path) -> Result<Vec<PathBuf>, String> {
    if !manifest.is_file() {
        return Err(format!("{} does not exist, so there is nothing to rebuild from", manifest.display()));
    }
    let mut dirs = Vec::new();
    let mut seen = Vec::new();
    // The site's own workspace whole; of a path dependency's, only that crate.
    let mut queue = vec![(manifest.to_path_buf(), true)];
    while let Some((manifest, whole_workspace)) = queue.pop() {
        let canonical = manifest.canonicalize().unwrap_or_else(|_| manifest.clone());
        if seen.contains(&canonical) {
            continue;
        }
        seen.push(canonical.clone());
        let meta = metadata(cargo, &manifest)?;
        for package in meta["packages"].as_array().into_iter().flatten() {
            let Some(path) = package["manifest_path"].as_str().map(Path::new) else { continue };
            if !whole_workspace && path.canonicalize().ok().as_ref() != Some(&canonical) {
                continue;
            }
            dirs.extend(path.parent().map(Path::to_path_buf));
            for dep in package["dependencies"].as_array().into_iter().flatten() {
                if let Some(dir) = dep["path"].as_str() {
                    queue.push((Path::new(dir).join("Cargo.toml"), false));
                }
            }
        }
        if whole_workspace && let Some(root) = meta["workspace_root"].as_str() {
            // The workspace's own Cargo.toml and Cargo.lock (a virtual workspace is no package).
            dirs.push(PathBuf::from(root).join("Cargo.toml"));
            dirs.push(PathBuf::from(root).join("Cargo.lock"));
        }
    }
    dirs.sort();
    dirs.dedup();
    Ok(dirs)
}

/// `cargo metadata --no-deps` for one manifest.
fn metadata(cargo: &std::ffi::OsStr, manifest: &Path) -> Result<serde_json::Value, String> {
    let out = cargo_command(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline", "--manifest-path"])
        .arg(manifest)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("could not run cargo ({e})"))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        return Err(format!("`cargo metadata` failed for {}: {}", manifest.display(), why.trim()));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("`cargo metadata` said something unexpected: {e}"))
}

/// Every watched file's modification time and size.
fn snapshot(roots: &[PathBuf]) -> BTreeMap<PathBuf, (Option<SystemTime>, u64)> {
    let mut files = BTreeMap::new();
    for root in roots {
        walk(root, &mut files);
    }
    files
}

fn walk(path: &Path, files: &mut BTreeMap<PathBuf, (Option<SystemTime>, u64)>) {
    let Ok(meta) = std::fs::metadata(path) else { return };
    if meta.is_file() {
        let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        if name.ends_with(".rs") || name.ends_with(".toml") || name == "Cargo.lock" {
            files.insert(path.to_path_buf(), (meta.modified().ok(), meta.len()));
        }
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Build output, version control, editors' and tools' folders.
        if name.starts_with('.') || name == "target" || name == "node_modules" {
            continue;
        }
        walk(&entry.path(), files);
    }
}

/// The first file added, removed or changed between two snapshots.
fn first_change<'a>(
    before: &'a BTreeMap<PathBuf, (Option<SystemTime>, u64)>,
    now: &'a BTreeMap<PathBuf, (Option<SystemTime>, u64)>,
) -> Option<&'a Path> {
    now.iter()
        .find(|(path, stamp)| before.get(*path) != Some(stamp))
        .map(|(path, _)| path.as_path())
        .or_else(|| before.keys().find(|path| !now.contains_key(*path)).map(PathBuf::as_path))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sources_and_manifests_are_watched_and_every_kind_of_change_is_seen() {
        let dir = std::env::temp_dir().join(format!("djambda-autoreload-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::create_dir_all(dir.join("target/debug")).unwrap();
        std::fs::create_dir_all(dir.join(".git")).unwrap();
        std::fs::write(dir.join("src/lib.rs"), "fn a() {}").unwrap();
        std::fs::write(dir.join("Cargo.toml"), "[package]").unwrap();
        for ignored in ["templates.html", "target/debug/x.rs", ".git/y.rs", "db.sqlite3"] {
            std::fs::write(dir.join(ignored), "x").unwrap();
        }
        let roots = [dir.clone()];
        let first = snapshot(&roots);
        assert_eq!(first.keys().cloned().collect::<Vec<_>>(), [dir.join("Cargo.toml"), dir.join("src/lib.rs")]);
        assert_eq!(first_change(&first, &snapshot(&roots)), None);

        std::fs::write(dir.join("templates.html"), "changed").unwrap();
        assert_eq!(first_change(&first, &snapshot(&roots)), None, "a template needs no rebuild");
        // Same length, so only the time can tell: set it apart explicitly.
        let file = std::fs::File::options().write(true).open(dir.join("src/lib.rs")).unwrap();
        file.set_modified(SystemTime::now() + Duration::from_secs(5)).unwrap();
        assert_eq!(first_change(&first, &snapshot(&roots)), Some(dir.join("src/lib.rs").as_path()));
        let edited = snapshot(&roots);
        std::fs::write(dir.join("src/new.rs"), "").unwrap();
        assert_eq!(first_change(&edited, &snapshot(&roots)), Some(dir.join("src/new.rs").as_path()));
        let added = snapshot(&roots);
        std::fs::remove_file(dir.join("src/new.rs")).unwrap();
        assert_eq!(first_change(&added, &snapshot(&roots)), Some(dir.join("src/new.rs").as_path()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_server_start_ends_serving_exited_or_timed_out() {
        let sh = |script: &str| {
            let mut c = Command::new("sh");
            c.args(["-c", script]);
            c
        };
        let mut serving = spawn_server(sh("echo starting; echo READY; sleep 5"), "READY").unwrap();
        assert_eq!(wait_ready(&mut serving, Some(Duration::from_secs(10)), &AtomicBool::new(false)), Started::Serving);
        let _ = serving.child.kill();
        let mut exited = spawn_server(sh("echo starting; exit 3"), "READY").unwrap();
        assert_eq!(wait_ready(&mut exited, None, &AtomicBool::new(false)), Started::Exited);
        assert_eq!(exited.child.wait().unwrap().code(), Some(3));
        let mut stuck = spawn_server(sh("echo starting; sleep 30"), "READY").unwrap();
        let began = std::time::Instant::now();
        assert_eq!(
            wait_ready(&mut stuck, Some(Duration::from_millis(300)), &AtomicBool::new(false)),
            Started::TimedOut
        );
        assert!(began.elapsed() < Duration::from_secs(5));
        stop(stuck.child);
    }

    /// An executable shell script `name` in `dir`.
    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// Runs a reloader watching `dir/src` whose server is a script running `server` and whose
    /// cargo only notes that it was asked; whether it was, within 10 s.
    fn rebuilds(dir: &Path, server: &str, stop: &'static AtomicBool) -> bool {
        let server = script(dir, "server", server);
        let built = dir.join("built");
        let cargo = script(dir, "cargo", &format!("touch {built:?}\n"));
        let reloader = Reloader {
            exe: server,
            cargo: cargo.into_os_string(),
            manifest: dir.join("Cargo.toml"),
            bin: "manage".into(),
            args: vec![],
            listener: TcpListener::bind("127.0.0.1:0").unwrap(),
            watched: vec![dir.join("src")],
            ready_line: "READY",
            stop,
        };
        let watching = std::thread::spawn(move || reloader.watch());
        let began = std::time::Instant::now();
        while !built.exists() && began.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::SeqCst);
        assert_eq!(watching.join().unwrap(), ExitCode::SUCCESS);
        built.exists()
    }

    /// A file saved while the server starts (an editor's save right after `runserver`, a test's
    /// edit once the banner shows) is a change: the files are looked at before the server
    /// starts, not once it is serving. (CI once missed such a save for 300 s.)
    #[test]
    fn a_change_saved_while_the_server_starts_is_rebuilt() {
        let dir = std::env::temp_dir().join(format!("djambda-autoreload-start-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        let views = dir.join("src/views.rs");
        std::fs::write(&views, "let app = \"shop\";\n").unwrap();
        // The server saves the change, then says it is serving.
        let server = format!("echo 'let app = \"gift shop\";' > {views:?}\necho READY\nexec sleep 30\n");
        static STOP: AtomicBool = AtomicBool::new(false);
        assert!(rebuilds(&dir, &server, &STOP), "the change saved while the server started was not rebuilt");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A source saved after the binary was built is not in it: the first poll rebuilds.
    #[test]
    fn a_source_newer_than_the_binary_is_rebuilt_at_once() {
        let dir = std::env::temp_dir().join(format!("djambda-autoreload-stale-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        let saved = |name: &str, at: SystemTime| {
            std::fs::write(dir.join(name), "let app = \"gift shop\";\n").unwrap();
            std::fs::File::options().write(true).open(dir.join(name)).unwrap().set_modified(at).unwrap();
        };
        saved("src/old.rs", SystemTime::now() - Duration::from_secs(60));
        // Later than the server script `rebuilds` writes, which stands for the binary.
        saved("src/views.rs", SystemTime::now() + Duration::from_secs(5));
        static STOP: AtomicBool = AtomicBool::new(false);
        assert!(
            rebuilds(&dir, "echo READY\nexec sleep 30\n", &STOP),
            "the source newer than the binary was not rebuilt"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_inherited_socket_is_taken_only_when_it_is_one() {
        assert!(listener_from(None).unwrap().is_none());
        for bad in ["", "two", "1", "-3"] {
            let err = listener_from(Some(bad.as_ref())).unwrap_err();
            assert!(err.contains("not the number"), "{bad:?}: {err}");
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // The descriptor changes hands, as it does across exec in a server process.
        let fd = std::os::fd::IntoRawFd::into_raw_fd(listener);
        let taken = listener_from(Some(fd.to_string().as_ref())).unwrap().unwrap();
        assert_eq!(taken.local_addr().unwrap(), addr);
    }
}
