//! Management commands that apps and the site bring (Django's `app/management/commands/`):
//! registered while the site is assembled, run by `manage`.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::Site;

/// What a command runs: it gets the site and its parsed arguments.
pub type CommandFn = Arc<dyn Fn(Site, clap::ArgMatches) -> BoxFuture<'static, crate::Result<()>> + Send + Sync>;

/// A management command of an app or of the site: a clap command and what it does.
///
/// ```no_run
/// use djambda::management::{Manage, SiteCommand};
/// # fn site() -> Result<djambda::Site, djambda::ConfigError> { djambda::Site::builder().build() }
///
/// let hello = SiteCommand::new(clap::Command::new("hello").about("Says hello"), |_site, _args| {
///     Box::pin(async move {
///         println!("hello");
///         Ok(())
///     })
/// });
/// let code = Manage::new(site).command(hello).run();
/// ```
#[derive(Clone)]
pub struct SiteCommand {
    pub(crate) cli: clap::Command,
    pub(crate) run: CommandFn,
}

impl SiteCommand {
    /// A command described by `cli` (its name, help and arguments) that runs `run`.
    pub fn new(
        cli: clap::Command,
        run: impl Fn(Site, clap::ArgMatches) -> BoxFuture<'static, crate::Result<()>> + Send + Sync + 'static,
    ) -> Self {
        SiteCommand { cli, run: Arc::new(run) }
    }

    /// The command's name, as typed after `manage`.
    pub fn name(&self) -> &str {
        self.cli.get_name()
    }
}

/// The commands the installed apps brought, kept in the site's state.
#[derive(Default)]
pub(crate) struct Commands(pub(crate) Vec<SiteCommand>);

impl Site {
    /// The management commands the installed apps brought, in install order.
    pub fn commands(&self) -> &[SiteCommand] {
        self.state::<Commands>().map(|c| c.0.as_slice()).unwrap_or(&[])
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM: what stops a long-running command (`runserver`,
/// `runworker`) once the work in hand is done.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
