//! The emulator's mutable world: accounts (seed + uploaded sessions + used ext_ids + point limits),
//! tokens, stored records, the call log and the fault queue. One mutex guards it all; no lock is
//! held across an `.await`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::ext_ids::{RepeatedExtId, UploadCounter};
use crate::fault::Fault;
use crate::records::{CallLogEntry, RecordKind, StoredRecord};
use crate::seed::AccountSeed;
use crate::{EmulatorConfig, EmulatorError};

/// Ids handed out for uploaded offline messages and chats start here.
const FIRST_RECORD_ID: u64 = 1_000_001;
/// Ids handed out for uploaded sessions start here (above any realistic seeded session id).
const FIRST_SESSION_ID: u64 = 9_000_000_001;

/// What is known about a visitor session.
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionInfo {
    pub site_id: Option<i64>,
    pub campaign_id: Option<i64>,
    /// Start in the account's local time (unknown for seeded sessions).
    pub started: Option<NaiveDateTime>,
}

/// Minute and day point windows. A minute window opens with the first call after the previous one
/// closed (so a burst in a test never straddles a boundary by accident); the day window is the
/// account's local calendar day.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub minute_limit: u32,
    pub day_limit: u32,
    minute_used: u32,
    day_used: u32,
    minute_window: Option<DateTime<Utc>>,
    day_window: NaiveDate,
}

impl Limits {
    fn new(minute_limit: u32, day_limit: u32) -> Self {
        Self {
            minute_limit,
            day_limit,
            minute_used: 0,
            day_used: 0,
            minute_window: None,
            day_window: NaiveDate::MIN,
        }
    }

    pub fn roll(&mut self, now: DateTime<Utc>, tz: Tz) {
        let window_over = self
            .minute_window
            .is_none_or(|start| now - start >= chrono::Duration::seconds(60));
        if window_over {
            self.minute_window = Some(now);
            self.minute_used = 0;
        }
        let day = now.with_timezone(&tz).date_naive();
        if day != self.day_window {
            self.day_window = day;
            self.day_used = 0;
        }
    }

    /// The spent window, if any (day first: waiting for the minute would not help).
    pub fn exhausted(&self) -> Option<(&'static str, u32)> {
        if self.day_used >= self.day_limit {
            Some(("day", self.day_limit))
        } else if self.minute_used >= self.minute_limit {
            Some(("minute", self.minute_limit))
        } else {
            None
        }
    }

    pub fn charge(&mut self) {
        self.minute_used = self.minute_used.saturating_add(1);
        self.day_used = self.day_used.saturating_add(1);
    }

    /// `metadata.limits` as the API reports it.
    pub fn to_json(&self, now: DateTime<Utc>, tz: Tz) -> Value {
        let minute_reset = self
            .minute_window
            .map_or(60, |start| 60 - (now - start).num_seconds())
            .clamp(1, 60);
        let local = now.with_timezone(&tz);
        let day_reset = local
            .date_naive()
            .succ_opt()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .and_then(|midnight| tz.from_local_datetime(&midnight).earliest())
            .map(|midnight| (midnight.with_timezone(&Utc) - now).num_seconds().max(1))
            .unwrap_or(86_400);
        json!({
            "day_limit": self.day_limit,
            "day_remaining": self.day_limit.saturating_sub(self.day_used),
            "day_reset": day_reset,
            "minute_limit": self.minute_limit,
            "minute_remaining": self.minute_limit.saturating_sub(self.minute_used),
            "minute_reset": minute_reset,
        })
    }
}

/// One account at run time.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub seed: AccountSeed,
    pub tz: Tz,
    pub sessions: HashMap<u64, SessionInfo>,
    /// Uploaded sessions by ext_id (the API drops duplicate sessions: we answer with the first id).
    pub session_ext_ids: HashMap<String, u64>,
    /// The site of each `visitor_id` uploaded sessions carried ("Может быть только с того же
    /// site_id").
    pub visitor_sites: HashMap<i64, i64>,
    /// ext_ids in use by offline messages and chats.
    pub ext_ids: HashMap<(RecordKind, String), u64>,
    pub limits: Limits,
}

impl Account {
    fn from_seed(seed: &AccountSeed) -> Result<Self, EmulatorError> {
        let tz: Tz = seed
            .timezone
            .parse()
            .map_err(|_| EmulatorError::InvalidTimeZone {
                account: seed.name.clone(),
                timezone: seed.timezone.clone(),
            })?;
        Ok(Self {
            seed: seed.clone(),
            tz,
            sessions: seed
                .session_ids
                .iter()
                .map(|&id| (id, SessionInfo::default()))
                .collect(),
            session_ext_ids: HashMap::new(),
            visitor_sites: HashMap::new(),
            ext_ids: HashMap::new(),
            limits: Limits::new(seed.limits.minute, seed.limits.day),
        })
    }

    /// "Now" on the account's wall clock: dates in requests are local to the account.
    pub fn local_now(&self, now: DateTime<Utc>) -> NaiveDateTime {
        now.with_timezone(&self.tz).naive_local()
    }
}

/// What a permanent key of a seed can still do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyState {
    Valid,
    /// Answered with `access_token_expired`.
    Expired,
    /// Answered with `access_token_blocked`.
    Blocked,
}

#[derive(Debug, Clone)]
pub(crate) struct LoginToken {
    pub account: usize,
    pub expires_at: Instant,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub accounts: Vec<Account>,
    /// Permanent keys: the account and whether the key still works.
    pub static_tokens: HashMap<String, (usize, KeyState)>,
    pub login_tokens: HashMap<String, LoginToken>,
    pub records: Vec<StoredRecord>,
    pub calls: Vec<CallLogEntry>,
    pub faults: VecDeque<Fault>,
    pub next_record_id: u64,
    pub next_session_id: u64,
    pub uploads: UploadCounter,
}

impl Inner {
    fn build(seeds: &[AccountSeed]) -> Result<Self, EmulatorError> {
        let mut accounts = Vec::with_capacity(seeds.len());
        let mut static_tokens = HashMap::new();
        for (index, seed) in seeds.iter().enumerate() {
            accounts.push(Account::from_seed(seed)?);
            let keys = [
                (&seed.access_tokens, KeyState::Valid),
                (&seed.expired_access_tokens, KeyState::Expired),
                (&seed.blocked_access_tokens, KeyState::Blocked),
            ];
            for (token, state) in keys
                .into_iter()
                .flat_map(|(tokens, state)| tokens.iter().map(move |t| (t, state)))
            {
                if static_tokens
                    .insert(token.expose_secret().to_owned(), (index, state))
                    .is_some()
                {
                    return Err(EmulatorError::DuplicateToken {
                        account: seed.name.clone(),
                    });
                }
            }
        }
        Ok(Self {
            accounts,
            static_tokens,
            login_tokens: HashMap::new(),
            records: Vec::new(),
            calls: Vec::new(),
            faults: VecDeque::new(),
            next_record_id: FIRST_RECORD_ID,
            next_session_id: FIRST_SESSION_ID,
            uploads: UploadCounter::default(),
        })
    }

    /// Count one upload of an offline message's or chat's ext_id (stored, updated or refused as a
    /// repeat).
    pub fn count_upload(&mut self, account: usize, kind: RecordKind, ext_id: &str) {
        let name = &self.accounts[account].seed.name;
        self.uploads.record(name, kind, ext_id);
    }

    /// Store a validated batch of offline messages or chats and count their ext_ids; the
    /// records' ids, in order. When an ext_id is already stored (which validation lets through
    /// only in [`RepeatedExtId::Update`] mode) the stored record is replaced instead, keeping its
    /// id and tags.
    pub fn upsert_all(
        &mut self,
        account: usize,
        kind: RecordKind,
        items: &[Value],
        now: DateTime<Utc>,
    ) -> Vec<u64> {
        let mut ids = Vec::with_capacity(items.len());
        for item in items {
            let ext_id = item.get("ext_id").and_then(Value::as_str);
            if let Some(ext_id) = ext_id {
                self.count_upload(account, kind, ext_id);
            }
            let stored = ext_id.and_then(|ext_id| self.find_by_ext_id(account, kind, ext_id));
            let id = match stored.and_then(|index| self.records.get_mut(index)) {
                Some(record) => {
                    record.payload = item.clone();
                    record.received_at = now;
                    record.id
                }
                None => self.store(account, kind, item, now),
            };
            ids.push(id);
        }
        ids
    }

    /// Index in `records` of the account's record of this kind with this id. From the newest:
    /// tags follow their upload closely, so under sustained load the record is found in a few
    /// steps instead of a scan of everything stored (ids are unique per account and kind, so the
    /// match is the same either way).
    pub fn find_record(&self, account: usize, kind: RecordKind, id: u64) -> Option<usize> {
        let name = &self.accounts[account].seed.name;
        self.records
            .iter()
            .rposition(|r| r.kind == kind && r.id == id && &r.account == name)
    }

    /// Index in `records` of the account's record of this kind with this ext_id.
    pub fn find_by_ext_id(&self, account: usize, kind: RecordKind, ext_id: &str) -> Option<usize> {
        let id = *self.accounts[account]
            .ext_ids
            .get(&(kind, ext_id.to_owned()))?;
        self.find_record(account, kind, id)
    }

    /// Store an uploaded item and return its new id.
    pub fn store(
        &mut self,
        account: usize,
        kind: RecordKind,
        item: &Value,
        now: DateTime<Utc>,
    ) -> u64 {
        let id = match kind {
            RecordKind::Session => {
                let id = self.next_session_id;
                self.next_session_id += 1;
                id
            }
            RecordKind::OfflineMessage | RecordKind::Chat => {
                let id = self.next_record_id;
                self.next_record_id += 1;
                id
            }
        };
        let ext_id = item
            .get("ext_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let acc = &mut self.accounts[account];
        if let (Some(ext), RecordKind::OfflineMessage | RecordKind::Chat) = (&ext_id, kind) {
            acc.ext_ids.insert((kind, ext.clone()), id);
        }
        self.records.push(StoredRecord {
            kind,
            id,
            account: acc.seed.name.clone(),
            ext_id,
            payload: item.clone(),
            tags: Vec::new(),
            received_at: now,
        });
        id
    }
}

/// A cloneable handle on the emulator's state; the router and [`crate::RunningEmulator`] share it.
#[derive(Clone)]
pub struct EmulatorState {
    pub(crate) inner: Arc<Mutex<Inner>>,
    seeds: Arc<Vec<AccountSeed>>,
    pub(crate) modes: Modes,
}

/// The configured behaviours that are not part of the seeded data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Modes {
    pub login_token_ttl: Duration,
    pub report_item_index: bool,
    pub repeated_ext_id: RepeatedExtId,
}

impl std::fmt::Debug for EmulatorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorState")
            .field("accounts", &self.seeds.len())
            .field("modes", &self.modes)
            .finish_non_exhaustive()
    }
}

impl EmulatorState {
    /// Build the state from the config's seeds (time zones and token uniqueness are checked).
    pub fn new(config: &EmulatorConfig) -> Result<Self, EmulatorError> {
        let inner = Inner::build(&config.accounts)?;
        Ok(Self {
            inner: Arc::new(Mutex::new(inner)),
            seeds: Arc::new(config.accounts.clone()),
            modes: Modes {
                login_token_ttl: config.login_token_ttl,
                report_item_index: config.report_item_index,
                repeated_ext_id: config.repeated_ext_id,
            },
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent-enough data for a test double.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every record stored so far (offline messages, chats, sessions), in upload order.
    pub fn records(&self) -> Vec<StoredRecord> {
        self.lock().records.clone()
    }

    /// How many records (sessions aside) are stored, without copying them.
    pub fn record_count(&self) -> usize {
        self.lock()
            .records
            .iter()
            .filter(|r| r.kind != RecordKind::Session)
            .count()
    }

    /// How many times each offline-message or chat ext_id was uploaded, summed over accounts.
    pub fn ext_id_upload_counts(&self) -> BTreeMap<String, u32> {
        self.lock().uploads.by_ext_id()
    }

    /// Uploads beyond the first of each ext_id (per account and kind).
    pub fn reuploads(&self) -> u64 {
        self.lock().uploads.reuploads()
    }

    /// The upload counter as `GET /_emulator/uploads` shows it.
    pub fn uploads_json(&self) -> Value {
        self.lock().uploads.to_json()
    }

    /// Every call so far, in arrival order.
    pub fn calls(&self) -> Vec<CallLogEntry> {
        self.lock().calls.clone()
    }

    /// How many calls were logged, without copying the log.
    pub fn call_count(&self) -> usize {
        self.lock().calls.len()
    }

    /// Queue a fault.
    pub fn inject(&self, mut fault: Fault) {
        // A fault for zero calls is no fault at all.
        if *fault.count_mut() > 0 {
            self.lock().faults.push_back(fault);
        }
    }

    /// Set the point limits of the account `access_token` belongs to (permanent or login token) and
    /// start fresh windows. Returns `false` when the token is unknown.
    pub fn set_limits(&self, access_token: &str, minute: u32, day: u32) -> bool {
        self.with_account_of(access_token, |account| {
            account.limits = Limits::new(minute, day);
        })
    }

    /// Move the account `access_token` belongs to into another time zone (what `get.account`
    /// answers and the clock "not in the future" is judged on), as when the account's owner
    /// changes it in CoMagic. Returns `false` when the token is unknown.
    pub fn set_timezone(&self, access_token: &str, tz: Tz) -> bool {
        self.with_account_of(access_token, |account| {
            account.tz = tz;
            account.seed.timezone = tz.name().to_owned();
        })
    }

    /// Runs `change` on the account `access_token` (permanent or login token) belongs to;
    /// `false` when the token is unknown.
    fn with_account_of(&self, access_token: &str, change: impl FnOnce(&mut Account)) -> bool {
        let mut inner = self.lock();
        let index = inner
            .static_tokens
            .get(access_token)
            .map(|(account, _)| *account)
            .or_else(|| inner.login_tokens.get(access_token).map(|t| t.account));
        match index.and_then(|index| inner.accounts.get_mut(index)) {
            Some(account) => {
                change(account);
                true
            }
            None => false,
        }
    }

    /// Make every token issued by `login.user` expire now.
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for token in self.lock().login_tokens.values_mut() {
            token.expires_at = now;
        }
    }

    /// Back to the seeded state: no records, calls, faults, login tokens, uploaded sessions or spent
    /// points.
    pub fn reset(&self) {
        match Inner::build(&self.seeds) {
            Ok(fresh) => *self.lock() = fresh,
            // The seeds were accepted by `new`, so rebuilding cannot fail; keep the state if it does.
            Err(error) => tracing::error!(%error, "emulator reset failed"),
        }
    }

    /// Take the first queued fault matching `method` (decrementing its count).
    pub(crate) fn take_fault(&self, method: &str) -> Option<Fault> {
        let mut inner = self.lock();
        let position = inner.faults.iter().position(|f| f.matches(method))?;
        let fault = inner.faults.get_mut(position)?;
        let taken = fault.clone();
        let count = fault.count_mut();
        *count = count.saturating_sub(1);
        if *count == 0 {
            inner.faults.remove(position);
        }
        Some(taken)
    }

    pub(crate) fn log_call(
        &self,
        method: &str,
        outcome: &str,
        items: usize,
        account: Option<String>,
    ) {
        self.push_call(method, outcome, items, account, false);
    }

    /// Logs the outcome of a fault a test injected.
    pub(crate) fn log_injected(&self, method: &str, outcome: &str, items: usize) {
        self.push_call(method, outcome, items, None, true);
    }

    fn push_call(
        &self,
        method: &str,
        outcome: &str,
        items: usize,
        account: Option<String>,
        injected: bool,
    ) {
        self.lock().calls.push(CallLogEntry {
            method: method.to_owned(),
            outcome: outcome.to_owned(),
            items,
            account,
            at: Utc::now(),
            injected,
        });
    }
}
