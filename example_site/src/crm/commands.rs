//! The CRM's own management commands (Django's `crm/management/commands/`).

use djambda::db::sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use djambda::management::SiteCommand;
use djambda::{Error, Site};

use super::models::{Stage, company, deal};
use super::views::money_decimal;

/// `manage pipeline_report [--stage STAGE]`: deals by stage with their totals, or the deals of
/// one stage, for a quick look from the terminal.
pub fn pipeline_report() -> SiteCommand {
    let cli = clap::Command::new("pipeline_report")
        .about("Prints the sales pipeline: deals and amounts by stage (or the deals of one stage)")
        .arg(
            clap::Arg::new("stage")
                .long("stage")
                .value_name("STAGE")
                .help("lead, qualified, proposal, negotiation, won or lost"),
        );
    SiteCommand::new(cli, |site: Site, args: clap::ArgMatches| {
        Box::pin(async move {
            let db = site.database().connection().await?;
            if let Some(raw) = args.get_one::<String>("stage") {
                let stage = Stage::from_slug(raw).ok_or_else(|| {
                    Error::bad_request(format!(
                        "unknown stage `{raw}` (use lead, qualified, proposal, negotiation, won or lost)"
                    ))
                })?;
                let deals = deal::Entity::find()
                    .filter(deal::Column::Stage.eq(stage))
                    .order_by_asc(deal::Column::ExpectedClose)
                    .find_also_related(company::Entity)
                    .all(&db)
                    .await?;
                println!("{} deals ({}):", stage.label(), deals.len());
                for (d, c) in deals {
                    let company = c.map(|c| c.name).unwrap_or_default();
                    println!("  {:<28} {:<22} {:>14}  {}", d.title, company, money_decimal(d.amount), d.expected_close);
                }
                return Ok(());
            }
            let deals = deal::Entity::find().all(&db).await?;
            println!("{:<12} {:>6} {:>16}", "Stage", "Deals", "Amount");
            let mut open = djambda::db::sea_orm::prelude::Decimal::ZERO;
            for stage in Stage::ALL {
                let in_stage: Vec<_> = deals.iter().filter(|d| d.stage == stage).collect();
                let total = in_stage.iter().map(|d| d.amount).sum();
                if stage.is_open() {
                    open += total;
                }
                println!("{:<12} {:>6} {:>16}", stage.label(), in_stage.len(), money_decimal(total));
            }
            println!("Open pipeline: {}", money_decimal(open));
            Ok(())
        })
    })
}
