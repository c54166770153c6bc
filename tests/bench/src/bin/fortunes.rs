//! The TechEmpower "fortunes" test as a djambda site: `fortunes runserver ADDR`, or with no
//! command under the Lambda runtime, like any djambda site; `fortunes init` creates the table.

use std::process::ExitCode;

use bench::fortune;
use djambda::management::{Manage, SiteCommand};
use djambda::prelude::*;
use djambda::{ConfigError, Site};

async fn fortunes(req: Request) -> Result<Response> {
    let rows = fortune::rows(&req.db().await?).await?;
    render(&req, "fortunes.html", context! { fortunes: rows })
}

fn site() -> std::result::Result<Site, ConfigError> {
    Site::builder()
        .settings(Settings::load(None)?)
        .urls(UrlConf::new().path("fortunes", fortunes, "fortunes"))
        .templates(djambda::assets!("fortunes/templates"))
        .build()
}

fn main() -> ExitCode {
    let init = SiteCommand::new(clap::Command::new("init").about("Creates and fills the fortune table"), |site, _| {
        Box::pin(async move {
            fortune::create(&site.database().connection().await?).await?;
            Ok(())
        })
    });
    Manage::new(site).command(init).run()
}
