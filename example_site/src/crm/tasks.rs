//! The CRM's work outside HTTP requests, run by the same Lambda function (what a Django site
//! would hand to Celery): a background task a view enqueues (recalculating a company's
//! pipeline), a scheduled pipeline snapshot, new leads from an SQS queue, and notes for files
//! dropped in S3 and for SNS notifications.

use djambda::db::atomic;
use djambda::db::sea_orm::prelude::{ChronoUtc, Decimal};
use djambda::db::sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use djambda::lambda::events::{S3Event, SnsEvent, SqsMessage, s3_key};
use djambda::tasks::{Backoff, Task, TaskContext};
use djambda::{Error, Result, Site};
use serde::{Deserialize, Serialize};

use super::models::{Stage, company, deal, note};

/// What `crm.recalculate_pipeline` is given: the company whose pipeline to add up.
#[derive(Serialize, Deserialize)]
pub struct RecalculatePipeline {
    /// The company's id.
    pub company_id: i32,
}

/// A background task (`crm.recalculate_pipeline`), enqueued by the company page's
/// "Recalculate pipeline" button: adds up the company's deals by stage and writes the summary
/// as a note. A company that is not there (yet: it may be imported meanwhile) fails the
/// attempt; it is retried 5 s later, then 10 s, then 20 s, and fails for good after 4 attempts.
pub fn recalculate_pipeline() -> Task<RecalculatePipeline> {
    Task::new("crm.recalculate_pipeline", recalculate)
        .max_attempts(4)
        .backoff(Backoff::exponential(std::time::Duration::from_secs(5)))
}

async fn recalculate(ctx: TaskContext, job: RecalculatePipeline) -> Result<()> {
    let site = ctx.site();
    let db = site.database().connection().await?;
    let company = company::Entity::find_by_id(job.company_id)
        .one(&db)
        .await?
        .ok_or_else(|| Error::not_found(format!("no company has the id {}", job.company_id)))?;
    let deals = deal::Entity::find().filter(deal::Column::CompanyId.eq(company.id)).all(&db).await?;
    let open: Vec<&deal::Model> = deals.iter().filter(|d| d.stage.is_open()).collect();
    let open_total: Decimal = open.iter().map(|d| d.amount).sum();
    let won_total: Decimal = deals.iter().filter(|d| d.stage == Stage::Won).map(|d| d.amount).sum();
    add_note(
        site,
        format!(
            "Pipeline of {}: {} open deals worth {open_total}; {won_total} won (recalculated by task {}, attempt {})",
            company.name,
            open.len(),
            ctx.task_id(),
            ctx.attempt()
        ),
    )
    .await
}

/// Scheduled (`pipeline-snapshot`): logs the open pipeline, one line CloudWatch can chart.
pub async fn pipeline_snapshot(site: Site, _event: serde_json::Value) -> Result<()> {
    let db = site.database().connection().await?;
    let deals = deal::Entity::find().all(&db).await?;
    let open: Vec<&deal::Model> = deals.iter().filter(|d| d.stage.is_open()).collect();
    let total: Decimal = open.iter().map(|d| d.amount).sum();
    eprintln!("pipeline snapshot: {} open deals worth {total} of {} in all", open.len(), deals.len());
    Ok(())
}

/// A lead as the website's contact form queues it.
#[derive(Deserialize)]
struct Lead {
    /// The company's slug.
    company: String,
    title: String,
    amount: Decimal,
    expected_close: djambda::db::sea_orm::prelude::Date,
}

/// SQS (`leads`): each message becomes a deal at the lead stage. A message that is not a lead,
/// or names an unknown company, fails alone and goes back to the queue.
pub async fn new_lead(site: Site, message: SqsMessage) -> Result<()> {
    let body = message.body.unwrap_or_default();
    let lead: Lead = serde_json::from_str(&body)
        .map_err(|e| Error::bad_request(format!("not a lead ({e}): {}", body.chars().take(80).collect::<String>())))?;
    let db = site.database().connection().await?;
    let company = company::Entity::find()
        .filter(company::Column::Slug.eq(&lead.company))
        .one(&db)
        .await?
        .ok_or_else(|| Error::bad_request(format!("no company with the slug {:?}", lead.company)))?;
    let row = deal::ActiveModel {
        company_id: Set(company.id),
        title: Set(lead.title),
        stage: Set(Stage::Lead),
        amount: Set(lead.amount),
        expected_close: Set(lead.expected_close),
        ..Default::default()
    };
    atomic(&db, |txn| Box::pin(async move { Ok(row.insert(txn).await.map(|_| ())?) })).await
}

async fn add_note(site: &Site, body: String) -> Result<()> {
    let db = site.database().connection().await?;
    let now = ChronoUtc::now();
    let row = note::ActiveModel { body: Set(body), created_at: Set(now), updated_at: Set(now), ..Default::default() };
    atomic(&db, |txn| Box::pin(async move { Ok(row.insert(txn).await.map(|_| ())?) })).await
}

/// S3: a note for each file dropped in the bucket (the sales team's shared inbox).
pub async fn file_received(site: Site, event: S3Event) -> Result<()> {
    for record in event.records {
        let bucket = record.s3.bucket.name.unwrap_or_default();
        let key = s3_key(&record.s3.object.key.unwrap_or_default());
        let size = record.s3.object.size.unwrap_or_default();
        add_note(&site, format!("File received: s3://{bucket}/{key} ({size} bytes)")).await?;
    }
    Ok(())
}

/// SNS: a note for each notification (billing alerts, say).
pub async fn notification(site: Site, event: SnsEvent) -> Result<()> {
    for record in event.records {
        let subject = record.sns.subject.unwrap_or_default();
        add_note(&site, format!("Notification: {subject}: {}", record.sns.message)).await?;
    }
    Ok(())
}
