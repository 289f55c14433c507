//! A local stand-in for the CoMagic/UIS Data API v2.0 (JSON-RPC 2.0 over HTTP), for tests,
//! benchmarks and the offline demo.
//!
//! It implements the methods the bridge uses (`login.user`, `upload.offline_messages`,
//! `upload.chats`, `upload.sessions`, `set.tag_communications`, `set.communications_tags`,
//! `get.campaigns|sites|sources|tags|employees|account`, `delete.offline_messages|chats`) with the
//! documented validation, error codes and mnemonics, per-account point limits, components, and
//! login tokens that expire. Accounts come from [`AccountSeed`]s ([`AccountSeed::demo`] and two
//! accounts of the same shape east and west of Moscow built in).
//! Tests inspect what arrived (`records`, `calls`) and inject faults ([`Fault`]).
//!
//! It is strict by default: where the reference pages (shared/docs/comagic-reference/) can be
//! read two ways, the stricter reading is emulated. docs/comagic-contract.md lists every rule with
//! the sentence it comes from, where it is enforced and the test that breaks it.
//!
//! Strict readings and assumptions where the documentation is silent or contradicts itself:
//! - A batch is all-or-nothing: if any item is invalid the whole call fails with that item's error
//!   and nothing is stored. The error names the field (`data.field`) but not the item's position:
//!   general.txt documents no position, and `data.params` only as the substitutions of a message
//!   template (sent for `limit_exceeded` and `method_component_disabled` alone).
//!   [`EmulatorConfig::report_item_index`] adds `data.params.index` (and `message_index` for a chat
//!   message) and the emulator's other diagnostics, for tests of the old behaviour.
//! - A repeated `ext_id` of an offline message or chat in the same account (stored earlier or
//!   repeated within the batch) fails with -32602 `duplicate_entity`, `data.field = "ext_id"`
//!   (general.txt's create/update table; with `report_item_index`, `data.params.id` is the stored
//!   record's id). general.txt's verb table says `upload` updates on later requests:
//!   [`RepeatedExtId::Update`] emulates that reading (same id, record replaced). Either way
//!   [`RunningEmulator::ext_id_upload_counts`] counts every upload of an ext_id. A repeated
//!   session `ext_id` is not an error: the docs say duplicate sessions are dropped, so the first
//!   `session_id` is returned again.
//! - Error `data.field` names the item's own field (`phone`, `ext_id`, `messages.employee_id`),
//!   without the list name; `data.value` carries the offending JSON value as received.
//! - `upload.offline_messages.date_time` and chat `messages[].date_time` are required (the table
//!   says "да"; the text also says "the call time is used if absent"). Every date is compared with
//!   "now" on the account's own wall clock (its `timezone`), without tolerance.
//! - "Later than the session" and "later than start_date_time" are strict: an equal time is
//!   refused with `invalid_date_time` naming the item's own time (`date_time`,
//!   `start_date_time` or `messages.date_time`).
//! - Chats need one of `visitor_session_id` / `campaign_id` / `site_id` and one of `phone` /
//!   `email` (the page's header lists both as required; its table marks each optional alone), and
//!   a non-empty `messages` list.
//! - A `campaign_id` (other than -1) with the `site_id` of another site, or a session of another
//!   site or campaign, is `invalid_parameters_combination` ("данные должны быть консистентные").
//! - Unknown ids (campaign, site, source, session, employee, tag, communication) are
//!   `entity_not_found`; an inactive campaign is `campaign_is_inactive`; a session older than 180
//!   days is `invalid_parameter_value` on `visitor_session_id`.
//! - A `login.user` session key past its hour is `access_token_invalid`: general.txt keeps
//!   `access_token_expired` for permanent keys ("Применяется только к постоянному токену"), which
//!   a seed can list as expired (or blocked: `access_token_blocked`).
//! - `user_fields` may name only the seed's `offline_message_user_fields`; an `upload.sessions`
//!   call over 512 KB is `data_limit_exceeded`; a `visitor_id` seen on another site is
//!   `invalid_parameters_combination`.
//! - `get.*` filter and sort only on the fields a method's page marks "да" in its "Фильтрация" /
//!   "Сортировка" column (`filter_prohibited` / `sort_prohibited`); a field the method does not
//!   have is `unexpected_parameters`.
//! - A missing `id` is -32099 `notifications_not_supported`; unknown envelope members and a missing
//!   `params` are -32600 `invalid_request`.
//! - `login.user` is neither limited nor charged; every other successful call costs 1 point.
//!   A minute window opens with the first call after the previous one closed; the day window is
//!   the account's calendar day.

mod demo_seeds;
mod ext_ids;
mod fault;
mod methods;
mod params;
mod records;
mod rpc;
mod seed;
mod server;
mod state;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use ext_ids::RepeatedExtId;
pub use fault::Fault;
pub use records::{CallLogEntry, RecordKind, StoredRecord};
pub use seed::{
    AccountSeed, CampaignSeed, CampaignStatus, Component, EmployeeSeed, LimitsSeed, SiteSeed,
    SourceSeed, TagSeed,
};
pub use server::router;
pub use state::EmulatorState;

/// Errors starting the emulator.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot bind the emulator to {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read seed file {path}: {source}")]
    SeedFile {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid seed JSON: {0}")]
    SeedParse(serde_json::Error),
    #[error("account {account}: unknown time zone {timezone:?}")]
    InvalidTimeZone { account: String, timezone: String },
    #[error("account {account}: an access token is already used by another account")]
    DuplicateToken { account: String },
    /// [`RunningEmulator::call`] got no JSON-RPC answer (an HTTP-status fault, a dropped
    /// connection, the emulator stopped).
    #[error("calling the emulator: {0}")]
    Call(#[from] reqwest::Error),
}

/// How to run the emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Where to listen (default `127.0.0.1:0`, a free port).
    pub bind: SocketAddr,
    /// The accounts (default: [`AccountSeed::demo`], [`AccountSeed::demo_yekaterinburg`] and
    /// [`AccountSeed::demo_kaliningrad`]: three time zones).
    pub accounts: Vec<AccountSeed>,
    /// Lifetime of tokens issued by `login.user` (default 3600 s, as documented).
    pub login_token_ttl: Duration,
    /// Put a refused item's position in `error.data.params.index` (and a chat message's in
    /// `message_index`), with the emulator's other diagnostics in `params` (`id` of the stored
    /// duplicate, `one_of`, `session_start`, …): the old behaviour. general.txt documents only
    /// `field`, and `params` as the substitutions of a message template, so by default (`false`)
    /// `params` is sent only for `limit_exceeded` and `method_component_disabled`.
    pub report_item_index: bool,
    /// What a repeated offline-message or chat `ext_id` does (default: refused).
    pub repeated_ext_id: RepeatedExtId,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            accounts: vec![
                AccountSeed::demo(),
                AccountSeed::demo_yekaterinburg(),
                AccountSeed::demo_kaliningrad(),
            ],
            login_token_ttl: Duration::from_secs(3600),
            report_item_index: false,
            repeated_ext_id: RepeatedExtId::Refuse,
        }
    }
}

impl EmulatorConfig {
    /// The default configuration serving `accounts` instead of the built-in ones.
    pub fn with_accounts(accounts: Vec<AccountSeed>) -> Self {
        Self {
            accounts,
            ..Self::default()
        }
    }
}

/// Entry point: `Emulator::start(config).await`.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// Bind and serve in the background (must be called inside a tokio runtime).
    pub async fn start(config: EmulatorConfig) -> Result<RunningEmulator, EmulatorError> {
        let state = EmulatorState::new(&config)?;
        let listener =
            TcpListener::bind(config.bind)
                .await
                .map_err(|source| EmulatorError::Bind {
                    addr: config.bind,
                    source,
                })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                addr: config.bind,
                source,
            })?;
        let (shutdown, stop) = watch::channel(false);
        let task = tokio::spawn(server::serve(listener, router(state.clone()), stop));
        tracing::info!(%addr, "CoMagic emulator listening");
        Ok(RunningEmulator {
            addr,
            state,
            shutdown,
            task: Some(task),
            http: OnceLock::new(),
        })
    }
}

/// A running emulator. Dropping it stops the server too.
#[derive(Debug)]
pub struct RunningEmulator {
    addr: SocketAddr,
    state: EmulatorState,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    /// For [`RunningEmulator::call`], made on its first use.
    http: OnceLock<reqwest::Client>,
}

impl RunningEmulator {
    /// The JSON-RPC endpoint, `http://127.0.0.1:PORT/v2.0`.
    pub fn api_url(&self) -> String {
        format!("http://{}/v2.0", self.addr)
    }

    /// `http://127.0.0.1:PORT` (the inspection endpoints live under `/_emulator/`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Call `method` with `params` over HTTP, as a client does (`{"jsonrpc": "2.0", "id": 1, …}`
    /// posted to [`RunningEmulator::api_url`]), and return the whole JSON-RPC response: its
    /// `result` or its `error`. The call is served (and charged, logged, faulted) like any other;
    /// an injected HTTP status or dropped connection is an [`EmulatorError::Call`].
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, EmulatorError> {
        let http = match self.http.get() {
            Some(http) => http,
            None => {
                let built = reqwest::Client::builder().build()?;
                self.http.get_or_init(|| built)
            }
        };
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let response = http.post(self.api_url()).json(&body).send().await?;
        Ok(response.error_for_status()?.json().await?)
    }

    /// The shared state (the same handle the server uses).
    pub fn state(&self) -> &EmulatorState {
        &self.state
    }

    /// Records stored so far.
    pub fn records(&self) -> Vec<StoredRecord> {
        self.state.records()
    }

    /// How many records (sessions aside) are stored: cheap, for polling under load, where
    /// [`RunningEmulator::records`] would copy every record while holding the emulator's lock.
    pub fn record_count(&self) -> usize {
        self.state.record_count()
    }

    /// How many times each offline-message or chat `ext_id` was uploaded (stored, updated, or
    /// refused as a repeat), summed over accounts.
    pub fn ext_id_upload_counts(&self) -> BTreeMap<String, u32> {
        self.state.ext_id_upload_counts()
    }

    /// Uploads beyond the first of each ext_id (per account and kind): 0 when every event was
    /// sent once.
    pub fn reuploads(&self) -> u64 {
        self.state.reuploads()
    }

    /// Calls received so far.
    pub fn calls(&self) -> Vec<CallLogEntry> {
        self.state.calls()
    }

    /// How many calls were made so far: what a load loop polls, where [`Self::calls`] would copy
    /// the whole log (and hold the emulator's lock meanwhile) on every poll.
    pub fn call_count(&self) -> usize {
        self.state.call_count()
    }

    /// The calls refused by a documented rule (not by an injected fault) whose mnemonic is not
    /// among `provoked`: what a test did not expect real CoMagic to refuse.
    pub fn unprovoked_refusals(&self, provoked: &[&str]) -> Vec<CallLogEntry> {
        self.calls()
            .into_iter()
            .filter(|call| call.is_rule_refusal() && !provoked.contains(&call.outcome.as_str()))
            .collect()
    }

    /// Queue a fault for the next matching call(s).
    pub fn inject(&self, fault: Fault) {
        self.state.inject(fault);
    }

    /// Set the point limits of the token's account (fresh windows). `false`: unknown token.
    pub fn set_limits(&self, access_token: &str, minute: u32, day: u32) -> bool {
        self.state.set_limits(access_token, minute, day)
    }

    /// Make every `login.user` token expire now.
    pub fn expire_tokens(&self) {
        self.state.expire_tokens();
    }

    /// See [`EmulatorState::set_timezone`].
    pub fn set_timezone(&self, access_token: &str, tz: chrono_tz::Tz) -> bool {
        self.state.set_timezone(access_token, tz)
    }

    /// Back to the seeded state.
    pub fn reset(&self) {
        self.state.reset();
    }

    /// Stop accepting, close open connections and wait for the server task.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            if let Err(error) = task.await {
                tracing::warn!(%error, "emulator server task failed");
            }
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        // Receivers may already be gone; nothing to do then.
        let _ = self.shutdown.send(true);
    }
}
