//! `manage runworker`: a worker process that claims the database backend's due tasks and runs
//! them, until stopped or (with `--batch`) until none is due.

use std::time::Duration;

use super::database;
use crate::error::{Error, Result};
use crate::site::Site;
use crate::site::commands::SiteCommand;

/// How long a batch run waits for due tasks that another transaction keeps locked.
const LOCKED_PATIENCE: Duration = Duration::from_secs(30);

/// `manage runworker`.
pub(crate) fn command() -> SiteCommand {
    let cli = clap::Command::new("runworker")
        .about("Runs the tasks queued in the database (TASKS_BACKEND = \"database\") until stopped")
        .arg(
            clap::Arg::new("batch")
                .long("batch")
                .action(clap::ArgAction::SetTrue)
                .help("Stop when no task is due, instead of waiting for more"),
        )
        .arg(
            clap::Arg::new("interval")
                .long("interval")
                .value_parser(clap::value_parser!(f64))
                .default_value("1")
                .help("Seconds to wait before asking again when no task is due"),
        )
        .arg(
            clap::Arg::new("max-tasks")
                .long("max-tasks")
                .value_parser(clap::value_parser!(u64))
                .help("Stop after running this many tasks"),
        )
        .arg(
            clap::Arg::new("concurrency")
                .long("concurrency")
                .value_parser(clap::value_parser!(u32).range(1..=256))
                .default_value("1")
                .help("Tasks run at once (each needs a database connection: raise DATABASE_POOL_SIZE to match)"),
        );
    SiteCommand::new(cli, |site, args| {
        Box::pin(async move {
            let interval = args.get_one::<f64>("interval").copied().unwrap_or(1.0);
            if !(interval.is_finite() && (0.0..=3600.0).contains(&interval)) {
                return Err(Error::bad_request(format!("--interval must be 0 to 3600 seconds (got {interval})")));
            }
            let options = WorkerOptions {
                batch: args.get_flag("batch"),
                interval: Duration::from_secs_f64(interval),
                max_tasks: args.get_one::<u64>("max-tasks").copied(),
                concurrency: args.get_one::<u32>("concurrency").copied().unwrap_or(1),
            };
            run(site, options).await
        })
    })
}

/// How `runworker` runs.
pub(crate) struct WorkerOptions {
    pub(crate) batch: bool,
    pub(crate) interval: Duration,
    pub(crate) max_tasks: Option<u64>,
    pub(crate) concurrency: u32,
}

async fn run(site: Site, options: WorkerOptions) -> Result<()> {
    let state = super::tasks_state(&site)?;
    if state.config.kind != super::BackendKind::Database {
        return Err(Error::bad_request(format!(
            "runworker runs the tasks of the database backend, and TASKS_BACKEND is {:?}: set TASKS_BACKEND = \
             \"database\" (the immediate backend runs a task inside enqueue; SQS queues are consumed by the \
             Lambda function)",
            match state.config.kind {
                super::BackendKind::Immediate => "immediate",
                super::BackendKind::Database => "database",
                super::BackendKind::Sqs => "sqs",
            }
        )));
    }
    // Ctrl-C or SIGTERM: finish the attempts running now, then stop.
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        crate::site::commands::shutdown_signal().await;
        eprintln!("runworker: stopping once the tasks running now have finished");
        let _ = stop_tx.send(true);
    });
    println!(
        "runworker: running the tasks in the database, {} at a time{}",
        options.concurrency,
        if options.batch { ", until none is due" } else { "; Ctrl-C to stop" }
    );
    let mut totals = database::Drained::default();
    // Since when every due task has been locked by another transaction (a batch run only).
    let mut locked_since: Option<std::time::Instant> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        let wanted = match options.max_tasks {
            Some(max) if totals.total() >= max => break,
            Some(max) => (max - totals.total()).min(u64::from(options.concurrency)) as u32,
            None => options.concurrency,
        };
        let claimed = match database::claim(&site, wanted).await {
            Ok(rows) => rows,
            // A batch run that cannot reach its queue has not drained it: say so by failing.
            Err(e) if options.batch => {
                report(&totals);
                return Err(e);
            }
            Err(e) => {
                // A database that went away or is busy: say so and ask again, as a server would.
                eprintln!("runworker: could not claim tasks: {e}");
                Vec::new()
            }
        };
        if claimed.is_empty() {
            if options.batch {
                // Nothing claimable is not nothing due: the due rows may be locked by another
                // worker's claim, which ends in a moment.
                match database::any_due(&site).await {
                    Ok(false) => break,
                    Ok(true) => {
                        // A claim holds its locks for three short statements; a lock held for
                        // long is another transaction left open on the table (a shell, a stuck
                        // session), which a batch run does not wait out.
                        let since = *locked_since.get_or_insert_with(std::time::Instant::now);
                        if since.elapsed() > LOCKED_PATIENCE {
                            report(&totals);
                            return Err(Error::new(
                                crate::error::ErrorKind::ServiceUnavailable,
                                format!(
                                    "runworker --batch: the due tasks have been locked by another transaction for {} s \
                                 (a transaction left open on djambda_task?); they were not run",
                                    LOCKED_PATIENCE.as_secs()
                                ),
                            ));
                        }
                        tokio::time::sleep(database::LOCKED_RETRY).await;
                        continue;
                    }
                    Err(e) => {
                        report(&totals);
                        return Err(e);
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(options.interval) => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        locked_since = None;
        let runs = claimed.into_iter().map(|row| database::process(&site, row));
        for outcome in futures_util::future::join_all(runs).await {
            totals.add(outcome);
        }
    }
    report(&totals);
    totals.check()
}

fn report(totals: &database::Drained) {
    println!(
        "runworker: {} tasks run: {} succeeded, {} to be retried, {} failed{}",
        totals.total(),
        totals.succeeded,
        totals.retried,
        totals.failed,
        if totals.unrecorded > 0 { format!(", {} not written down", totals.unrecorded) } else { String::new() }
    );
}
