//! JSON-RPC dispatch: envelope checks, authentication, components, point limits, then the method.
//!
//! Order of checks (the documentation does not fix one; this is an assumption): envelope → method
//! known → `params` is an object → `access_token` (missing / unknown / expired) → account
//! components → points left → the method's own validation → execution. Only successful calls are
//! charged (1 point each, `get.*` included); `login.user` is neither limited nor charged.

mod lists;
mod tags;
mod upload;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::params::Fields;
use crate::records::RecordKind;
use crate::rpc::{error_response, result_response, RpcError};
use crate::seed::Component;
use crate::state::{Account, EmulatorState, Inner, KeyState, LoginToken, Modes};

/// Maximum items per upload call.
pub(crate) const MAX_BATCH: usize = 50;
/// `data.params` key of a refused item's position in its list (only with `report_item_index`).
pub(crate) const ITEM_INDEX: &str = "index";
/// `data.params` key of a refused chat message's position (only with `report_item_index`).
pub(crate) const MESSAGE_INDEX: &str = "message_index";

/// The methods the emulator knows and the components each needs.
const METHODS: &[(&str, &[Component])] = &[
    ("login.user", &[]),
    (
        "upload.offline_messages",
        &[Component::DataApi, Component::UploadOfflineMessages],
    ),
    (
        "upload.chats",
        &[Component::DataApi, Component::UploadOfflineMessages],
    ),
    (
        "upload.sessions",
        &[Component::DataApi, Component::UploadSessions],
    ),
    ("set.tag_communications", &[Component::DataApi]),
    ("set.communications_tags", &[Component::DataApi]),
    ("get.campaigns", &[Component::DataApi]),
    ("get.sites", &[Component::DataApi]),
    ("get.sources", &[Component::DataApi]),
    ("get.tags", &[Component::DataApi]),
    ("get.employees", &[Component::DataApi]),
    ("get.account", &[Component::DataApi]),
    (
        "delete.offline_messages",
        &[Component::DataApi, Component::UploadOfflineMessages],
    ),
    (
        "delete.chats",
        &[Component::DataApi, Component::UploadOfflineMessages],
    ),
];

/// What every method gets: the emulator's state, the calling account (an index into
/// `inner.accounts`), the call's `params`, the time of the call and the configured modes.
pub(crate) struct Call<'a, 'p> {
    pub inner: &'a mut Inner,
    pub account: usize,
    pub params: &'a Fields<'p>,
    pub now: DateTime<Utc>,
    pub modes: Modes,
}

impl Call<'_, '_> {
    /// The calling account.
    pub fn account(&self) -> &Account {
        &self.inner.accounts[self.account]
    }
}

/// What a handled request produced, for the response and the call log.
pub(crate) struct Handled {
    pub response: Value,
    pub method: String,
    pub outcome: String,
    pub items: usize,
}

/// The method name of a parsed request, if it has one (used to match faults before handling).
pub(crate) fn method_of(request: &Value) -> &str {
    request.get("method").and_then(Value::as_str).unwrap_or("")
}

/// The request's `id` when it is usable in a response.
pub(crate) fn id_of(request: &Value) -> Value {
    match request.get("id") {
        Some(id @ (Value::String(_) | Value::Number(_))) => id.clone(),
        _ => Value::Null,
    }
}

/// Number of items in the call's list, for the call log.
pub(crate) fn items_of(request: &Value) -> usize {
    let Some(params) = request.get("params") else {
        return 0;
    };
    ["offline_messages", "chats", "sessions", "items"]
        .iter()
        .find_map(|key| params.get(*key).and_then(Value::as_array))
        .map_or(0, Vec::len)
}

impl EmulatorState {
    /// Handle one request body (already parsed, or the parse failure).
    pub(crate) fn handle(&self, parsed: Result<Value, serde_json::Error>) -> Handled {
        let now = Utc::now();
        let request = match parsed {
            Ok(value) => value,
            Err(_) => return self.finish_error(&Value::Null, "", 0, None, RpcError::parse_error()),
        };
        let method = method_of(&request).to_owned();
        let items = items_of(&request);
        let id = id_of(&request);
        let envelope = match check_envelope(&request) {
            Ok(envelope) => envelope,
            Err(error) => return self.finish_error(&id, &method, items, None, error),
        };
        let mut inner = self.lock();
        let outcome = dispatch(&mut inner, self.modes, envelope, now);
        drop(inner);
        let outcome = outcome.map_err(|(error, account)| {
            if self.modes.report_item_index {
                (error, account)
            } else {
                (documented_params_only(error), account)
            }
        });
        match outcome {
            Ok((result, account)) => {
                self.log_call(&method, "ok", items, account);
                Handled {
                    response: result_response(&id, result),
                    method,
                    outcome: "ok".to_owned(),
                    items,
                }
            }
            Err((error, account)) => self.finish_error(&id, &method, items, account, error),
        }
    }

    fn finish_error(
        &self,
        id: &Value,
        method: &str,
        items: usize,
        account: Option<String>,
        error: RpcError,
    ) -> Handled {
        self.log_call(method, &error.mnemonic, items, account);
        Handled {
            response: error_response(id, &error),
            method: method.to_owned(),
            outcome: error.mnemonic.clone(),
            items,
        }
    }
}

/// A request that passed the envelope checks.
struct Envelope<'a> {
    method: &'a str,
    components: &'static [Component],
    params: &'a Value,
}

fn check_envelope(request: &Value) -> Result<Envelope<'_>, RpcError> {
    let object = match request {
        Value::Array(_) => return Err(RpcError::batch_not_supported()),
        Value::Object(object) => object,
        _ => return Err(RpcError::invalid_request()),
    };
    match object.get("id") {
        None => return Err(RpcError::notifications_not_supported()),
        Some(Value::String(_) | Value::Number(_)) => {}
        Some(_) => return Err(RpcError::invalid_request().with_field("id")),
    }
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(RpcError::invalid_request().with_field("jsonrpc"));
    }
    if let Some(key) = object
        .keys()
        .find(|k| !["jsonrpc", "id", "method", "params"].contains(&k.as_str()))
    {
        return Err(RpcError::invalid_request().with_field(key.clone()));
    }
    let method = object
        .get("method")
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::invalid_request().with_field("method"))?;
    let components = METHODS
        .iter()
        .find(|(name, _)| *name == method)
        .map(|(_, components)| *components)
        .ok_or_else(|| RpcError::method_not_found().with_value(Value::String(method.into())))?;
    let params = match object.get("params") {
        Some(params @ Value::Object(_)) => params,
        Some(other) => return Err(RpcError::data_type_error("params", other)),
        None => return Err(RpcError::invalid_request().with_field("params")),
    };
    Ok(Envelope {
        method,
        components,
        params,
    })
}

type Dispatched = Result<(Value, Option<String>), (RpcError, Option<String>)>;

/// Errors whose documented message is a template (general.txt: "Limit per {limit_type} …",
/// "… the following components to access this method: {components}").
const TEMPLATED: &[&str] = &["limit_exceeded", "method_component_disabled"];

/// general.txt documents `field`, and `params` only as "Карта подстановок параметров для шаблона с
/// текстом об ошибке" — no position of a refused item. Unless asked to, the emulator keeps `params`
/// only where the message has something to substitute, so nothing can come to rely on the
/// position ([`ITEM_INDEX`], [`MESSAGE_INDEX`]) or the emulator's other diagnostics.
fn documented_params_only(mut error: RpcError) -> RpcError {
    if !TEMPLATED.contains(&error.mnemonic.as_str()) {
        error.params.clear();
    }
    error
}

fn dispatch(
    inner: &mut Inner,
    modes: Modes,
    envelope: Envelope<'_>,
    now: DateTime<Utc>,
) -> Dispatched {
    let params = Fields::of(envelope.params, "params", "").map_err(|e| (e, None))?;
    if envelope.method == "login.user" {
        return login(inner, modes.login_token_ttl, &params, now);
    }
    let account = authenticate(inner, &params).map_err(|e| (e, None))?;
    let name = Some(inner.accounts[account].seed.name.clone());

    let acc = &inner.accounts[account];
    let missing: Vec<&str> = envelope
        .components
        .iter()
        .filter(|c| acc.seed.disabled_components.contains(c))
        .map(|c| c.title())
        .collect();
    if !missing.is_empty() {
        return Err((RpcError::method_component_disabled(&missing), name));
    }

    let acc = &mut inner.accounts[account];
    let tz = acc.tz;
    acc.limits.roll(now, tz);
    if let Some((window, max)) = acc.limits.exhausted() {
        let mut error = RpcError::limit_exceeded(window, max);
        error.metadata = Some(json!({"limits": acc.limits.to_json(now, tz)}));
        return Err((error, name));
    }

    let call = Call {
        inner: &mut *inner,
        account,
        params: &params,
        now,
        modes,
    };
    let result = match envelope.method {
        "upload.offline_messages" => upload::records(call, RecordKind::OfflineMessage),
        "upload.chats" => upload::records(call, RecordKind::Chat),
        "upload.sessions" => upload::sessions(call),
        "set.tag_communications" => tags::set_tag_communications(call),
        "set.communications_tags" => tags::set_communications_tags(call),
        "delete.offline_messages" => tags::delete(call, RecordKind::OfflineMessage),
        "delete.chats" => tags::delete(call, RecordKind::Chat),
        "get.account" => lists::account(call),
        other => lists::list(call, other),
    };

    let acc = &mut inner.accounts[account];
    match result {
        Ok(result) => {
            acc.limits.charge();
            let limits = acc.limits.to_json(now, tz);
            Ok((with_limits(result, limits), name))
        }
        Err(mut error) => {
            // Failed calls are not charged, but they still report where the account stands.
            error.metadata = Some(json!({"limits": acc.limits.to_json(now, tz)}));
            Err((error, name))
        }
    }
}

/// Put `metadata.limits` into a result object (keeping any metadata the method set).
fn with_limits(mut result: Value, limits: Value) -> Value {
    if let Value::Object(object) = &mut result {
        let metadata = object
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(metadata) = metadata {
            metadata.insert("limits".to_owned(), limits);
        }
    }
    result
}

fn authenticate(inner: &Inner, params: &Fields<'_>) -> Result<usize, RpcError> {
    let token = params.req_str("access_token")?;
    match inner.static_tokens.get(token) {
        Some((account, KeyState::Valid)) => return Ok(*account),
        Some((_, KeyState::Expired)) => return Err(RpcError::access_token_expired()),
        Some((_, KeyState::Blocked)) => return Err(RpcError::access_token_blocked()),
        None => {}
    }
    match inner.login_tokens.get(token) {
        // general.txt: `access_token_expired` "Применяется только к постоянному токену"; an expired
        // session key is a key that is no longer found, `access_token_invalid`.
        Some(login) if Instant::now() < login.expires_at => Ok(login.account),
        Some(_) | None => Err(RpcError::access_token_invalid()),
    }
}

fn login(inner: &mut Inner, ttl: Duration, params: &Fields<'_>, now: DateTime<Utc>) -> Dispatched {
    use secrecy::ExposeSecret;

    params.only(&["login", "password"]).map_err(|e| (e, None))?;
    let login = params.req_str("login").map_err(|e| (e, None))?;
    let password = params.req_str("password").map_err(|e| (e, None))?;
    let account = inner
        .accounts
        .iter()
        .position(|acc| {
            acc.seed.login.as_deref() == Some(login)
                && acc
                    .seed
                    .password
                    .as_ref()
                    .is_some_and(|p| p.expose_secret() == password)
        })
        .ok_or((RpcError::auth_error(), None))?;
    let token = format!("login-{}", uuid::Uuid::new_v4().simple());
    inner.login_tokens.insert(
        token.clone(),
        LoginToken {
            account,
            expires_at: Instant::now() + ttl,
        },
    );
    let expire_at = SystemTime::now()
        .checked_add(ttl)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let acc = &mut inner.accounts[account];
    let tz = acc.tz;
    acc.limits.roll(now, tz);
    let result = json!({
        "data": {"access_token": token, "app_id": acc.seed.app_id, "expire_at": expire_at},
        "metadata": {"limits": acc.limits.to_json(now, tz)},
    });
    Ok((result, Some(acc.seed.name.clone())))
}
