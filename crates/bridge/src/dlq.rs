//! `leadback-bridge dlq …`: list, show, replay and purge dead letters. Closed sets and times are
//! parsed strictly (a typo is a usage error, not an empty answer), listings stream every match,
//! and replay/purge name every dead letter they could not act on.

use crate::args::{parse_time, parse_uuid};
use crate::cli::QueueArgs;
use crate::config::BridgeConfig;
use crate::server::{open_backends, open_store};
use bridge_admin::{dead_letter_detail, dead_letter_summary, replay_dead_letters};
use bridge_store::{DeadLetterFilter, Store};
use bridge_worker::{FailureClass, POISON_CLASS};
use chrono::{DateTime, Utc};
use clap::builder::PossibleValue;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::Write;
use std::sync::OnceLock;
use uuid::Uuid;

#[derive(Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    pub command: DlqCommand,
}

#[derive(Subcommand)]
pub enum DlqCommand {
    /// List dead letters (newest first) as a JSON array: every match unless --limit.
    List(DlqFilterArgs),
    /// Show one dead letter with its raw body.
    Show {
        /// Dead-letter id (a UUID, the `id` of `dlq list`).
        #[arg(value_parser = parse_uuid)]
        id: Uuid,
    },
    /// Move dead letters back to the queue with attempts reset.
    Replay(DlqReplayArgs),
    /// Delete dead letters.
    Purge(DlqSelectArgs),
}

/// A dead letter's error class, as stored and as the `reason` label of `dead_letters_total`:
/// a delivery's [`FailureClass`], or [`POISON_CLASS`] for what the queue gave up on.
#[derive(Clone, Copy)]
pub struct DeadClass(&'static str);

impl ValueEnum for DeadClass {
    fn value_variants<'a>() -> &'a [Self] {
        static CLASSES: OnceLock<Vec<DeadClass>> = OnceLock::new();
        CLASSES.get_or_init(|| {
            let deliveries = FailureClass::ALL.into_iter().map(FailureClass::as_str);
            deliveries.chain([POISON_CLASS]).map(DeadClass).collect()
        })
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.0))
    }
}

#[derive(Args)]
pub struct DlqFilterArgs {
    /// Only this tenant's dead letters (a tenant id, a UUID) [default: every tenant]
    #[arg(long, value_parser = parse_uuid)]
    tenant: Option<Uuid>,
    /// Only this error class [default: every class]
    #[arg(long, value_enum)]
    class: Option<DeadClass>,
    /// Dead at or after this time: 2026-11-20T00:00:00Z, or a date (midnight UTC).
    #[arg(long, value_parser = parse_time)]
    since: Option<DateTime<Utc>>,
    /// Dead at or before this time: 2026-11-20T00:00:00Z, or a date (midnight UTC).
    #[arg(long, value_parser = parse_time)]
    until: Option<DateTime<Utc>>,
    /// List at most this many [default: every match]
    #[arg(long)]
    limit: Option<u32>,
}

#[derive(Args)]
pub struct DlqSelectArgs {
    /// Dead-letter id (a UUID; repeat the flag for several).
    #[arg(long = "id", value_parser = parse_uuid)]
    ids: Vec<Uuid>,
    #[command(flatten)]
    filter: DlqFilterArgs,
    /// Select every dead letter (required when no other selector is given).
    #[arg(long)]
    all: bool,
}

#[derive(Args)]
pub struct DlqReplayArgs {
    #[command(flatten)]
    select: DlqSelectArgs,
    /// The queue the dead letters go back to.
    #[command(flatten)]
    pub queue: QueueArgs,
}

impl DlqFilterArgs {
    fn to_filter(&self, ids: Vec<Uuid>) -> anyhow::Result<DeadLetterFilter> {
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if since > until {
                anyhow::bail!(
                    "--since {} is after --until {}: nothing could match",
                    since.to_rfc3339(),
                    until.to_rfc3339()
                );
            }
        }
        Ok(DeadLetterFilter {
            ids,
            tenant_id: self.tenant,
            class: self.class.map(|c| c.0.to_owned()),
            since: self.since,
            until: self.until,
            limit: self.limit,
            ..DeadLetterFilter::default()
        })
    }

    fn is_empty(&self) -> bool {
        self.tenant.is_none()
            && self.class.is_none()
            && self.since.is_none()
            && self.until.is_none()
    }
}

impl DlqCommand {
    /// Checks the arguments before anything is opened.
    pub fn check(&self) -> anyhow::Result<()> {
        match self {
            DlqCommand::List(args) => args.to_filter(Vec::new()).map(drop),
            DlqCommand::Show { .. } => Ok(()),
            DlqCommand::Replay(args) => select(&args.select).map(drop),
            DlqCommand::Purge(args) => select(args).map(drop),
        }
    }

    /// Runs the command, printing its JSON on stdout; an error when any dead letter could not
    /// be acted on (after printing which).
    pub async fn run(self, config: &BridgeConfig) -> anyhow::Result<()> {
        match self {
            DlqCommand::List(args) => {
                let store = open_store(config).await?;
                list(store.as_ref(), args.to_filter(Vec::new())?).await
            }
            DlqCommand::Show { id } => {
                let store = open_store(config).await?;
                let dead = store
                    .get_dead_letter(id)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("not found: dead letter {id}"))?;
                print_json(&dead_letter_detail(&dead))
            }
            DlqCommand::Replay(args) => {
                let filter = select(&args.select)?;
                let backends = open_backends(config, false).await?;
                let missing = missing_ids(backends.store.as_ref(), &filter).await?;
                let report = replay_dead_letters(
                    backends.store.as_ref(),
                    backends.queue.as_ref(),
                    None,
                    &filter,
                )
                .await;
                backends.queue.close().await;
                let report = report?;
                let mut out = serde_json::to_value(&report)?;
                out["not_found"] = json!(missing);
                print_json(&out)?;
                fail_on_leftovers("replayed", report.failed.len(), missing.len())
            }
            DlqCommand::Purge(args) => {
                let filter = select(&args)?;
                let store = open_store(config).await?;
                let missing = missing_ids(store.as_ref(), &filter).await?;
                let ids: Vec<Uuid> = store
                    .list_dead_letters(&filter)
                    .await?
                    .iter()
                    .map(|d| d.id)
                    .collect();
                let purged = store.remove_dead_letters(&ids).await?;
                // Ids listed but gone by the time of the delete were removed by someone else.
                let vanished = ids.len().saturating_sub(purged as usize);
                print_json(&json!({"purged": purged, "not_found": missing}))?;
                fail_on_leftovers("purged", vanished, missing.len())
            }
        }
    }
}

fn print_json(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn fail_on_leftovers(done: &str, failed: usize, missing: usize) -> anyhow::Result<()> {
    if failed + missing > 0 {
        anyhow::bail!(
            "{} dead letters not {done} ({failed} failed, {missing} not found); see the JSON above",
            failed + missing
        );
    }
    Ok(())
}

fn select(args: &DlqSelectArgs) -> anyhow::Result<DeadLetterFilter> {
    if args.ids.is_empty() && args.filter.is_empty() && !args.all {
        anyhow::bail!("say which dead letters: --id, --tenant, --class, --since/--until, or --all");
    }
    let mut filter = args.filter.to_filter(args.ids.clone())?;
    if filter.limit.is_none() {
        filter.limit = Some(u32::MAX);
    }
    Ok(filter)
}

/// The ids asked for by `--id` that match no dead letter (of the other selectors).
async fn missing_ids(store: &dyn Store, filter: &DeadLetterFilter) -> anyhow::Result<Vec<Uuid>> {
    if filter.ids.is_empty() {
        return Ok(Vec::new());
    }
    let found: HashSet<Uuid> = store
        .list_dead_letters(filter)
        .await?
        .iter()
        .map(|d| d.id)
        .collect();
    Ok(filter
        .ids
        .iter()
        .filter(|id| !found.contains(id))
        .copied()
        .collect())
}

/// Dead letters fetched per query while listing.
const PAGE: u32 = 500;

/// Prints every match as one JSON array, page by page (newest first, keyset paging after the
/// last one printed), so memory stays flat however many match. The count goes to stderr.
async fn list(store: &dyn Store, filter: DeadLetterFilter) -> anyhow::Result<()> {
    let wanted = filter.limit.map_or(u64::MAX, u64::from);
    let mut page_filter = filter;
    let mut printed: u64 = 0;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    write!(out, "[")?;
    while printed < wanted {
        let left = u32::try_from(wanted - printed).unwrap_or(u32::MAX);
        page_filter.limit = Some(PAGE.min(left));
        let page = store.list_dead_letters(&page_filter).await?;
        let Some(last) = page.last() else {
            break;
        };
        page_filter.after = Some((last.dead_at, last.id));
        for dead in &page {
            let separator = if printed == 0 { "\n  " } else { ",\n  " };
            let line = serde_json::to_string(&dead_letter_summary(dead))?;
            write!(out, "{separator}{line}")?;
            printed += 1;
        }
        if page.len() < PAGE.min(left) as usize {
            break;
        }
    }
    writeln!(out, "{}]", if printed == 0 { "" } else { "\n" })?;
    out.flush()?;
    let capped = if printed == wanted {
        " (--limit reached; more may match)"
    } else {
        ""
    };
    eprintln!("{printed} dead letters listed{capped}");
    Ok(())
}
