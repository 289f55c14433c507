//! [`ComagicClient`]: one tenant's connection to the Data API.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use leadback_model::comagic::{
    methods, Account, Campaign, Chat, CommunicationTagItem, Employee, GetListParams,
    JsonRpcRequest, JsonRpcResponse, Limits, ListResult, LoginParams, LoginResult, OfflineMessage,
    RpcError, RpcId, SetCommunicationsTagsParams, SetTagCommunicationsParams, Site, Source, Tag,
    UploadChatsParams, UploadOfflineMessagesParams, UploadResult, UploadSession,
    UploadSessionsParams, UploadSessionsResult, UploadedSession, MAX_PAGE_LIMIT, MAX_UPLOAD_BATCH,
};
use leadback_model::{ComagicAuth, ComagicCredentials};
use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::Mutex;
use tracing::Instrument;

use crate::error::{classify_rpc, ComagicError, RpcContext, RpcFailure, TransportKind};
use crate::sanitize::{is_secret_key, Secrets};
use crate::token::{valid_until, CachedToken, TokenSource};
use crate::transport::{read_capped, Transport, MAX_ANSWER_BYTES};

/// Per-call HTTP timeout unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// CoMagic refuses `offset` above this (general.txt, "Постраничный вывод").
const MAX_OFFSET: u32 = 100_000;

/// JSON-RPC over HTTP wants exactly this content type (general.txt, "Соглашения").
const JSON_UTF8: &str = "application/json; charset=UTF-8";

#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Whole-request timeout (connect, send, read the body).
    pub timeout: Duration,
    /// `limit` of each `get.*` page (1..=10000; CoMagic's default is 1000).
    pub page_limit: u32,
    /// A session token is replaced this long before its `expire_at`, so a call never leaves
    /// with a token about to die.
    pub token_refresh_margin: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            page_limit: leadback_model::comagic::DEFAULT_PAGE_LIMIT,
            token_refresh_margin: Duration::from_secs(60),
        }
    }
}

/// A call's value with the account's points as CoMagic reported them in this response.
#[derive(Debug, Clone, PartialEq)]
pub struct Called<T> {
    pub value: T,
    /// `result.metadata.limits`; `None` when absent or empty.
    pub limits: Option<Limits>,
}

impl<T> Called<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Called<U> {
        Called {
            value: f(self.value),
            limits: self.limits,
        }
    }
}

/// A CoMagic Data API client for one tenant. Cheap to clone: clones share the HTTP client,
/// the request-id counter and the token cache.
///
/// The credentials are bound to the API URL they came with: every request goes to that URL
/// and nowhere else (the [`Transport`] follows no redirect), so a secret only ever travels to
/// the address it was stored for.
#[derive(Clone)]
pub struct ComagicClient {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    api_url: reqwest::Url,
    options: ClientOptions,
    next_id: AtomicU64,
    tokens: TokenSource,
}

impl std::fmt::Debug for ComagicClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComagicClient")
            .field("api_url", &self.inner.api_url.as_str())
            .field("auth", &self.auth_kind())
            .finish_non_exhaustive()
    }
}

/// A failed exchange before it is turned into a [`ComagicError`]: RPC errors still need the
/// call's context (secrets, ext_ids, re-login) to be classified.
enum SendError {
    Rpc(Box<RpcError>),
    Other(ComagicError),
}

/// The token a call used, and which login produced it (`None` for a permanent key).
struct UsedToken {
    token: SecretString,
    generation: Option<u64>,
}

impl ComagicClient {
    pub fn new(
        credentials: ComagicCredentials,
        transport: Transport,
        options: ClientOptions,
    ) -> Result<Self, ComagicError> {
        let api_url = reqwest::Url::parse(credentials.api_url.trim())
            .map_err(|e| ComagicError::Config(format!("API URL is not a URL: {e}")))?;
        if !matches!(api_url.scheme(), "http" | "https") {
            return Err(ComagicError::Config(format!(
                "API URL must be http(s), not {}",
                api_url.scheme()
            )));
        }
        transport
            .check_url(&api_url)
            .map_err(|refused| ComagicError::Config(refused.to_string()))?;
        if options.page_limit == 0 || options.page_limit > MAX_PAGE_LIMIT {
            return Err(ComagicError::Config(format!(
                "page_limit must be 1..={MAX_PAGE_LIMIT}"
            )));
        }
        let tokens = match credentials.auth {
            ComagicAuth::AccessToken { access_token } => TokenSource::Static(access_token),
            ComagicAuth::Login { login, password } => TokenSource::Login {
                login,
                password,
                cache: Mutex::new(None),
            },
        };
        Ok(Self {
            inner: Arc::new(Inner {
                transport,
                api_url,
                options,
                next_id: AtomicU64::new(1),
                tokens,
            }),
        })
    }

    pub fn api_url(&self) -> &str {
        self.inner.api_url.as_str()
    }

    /// `access_token` or `login`.
    pub fn auth_kind(&self) -> &'static str {
        match self.inner.tokens {
            TokenSource::Static(_) => "access_token",
            TokenSource::Login { .. } => "login",
        }
    }

    /// `upload.offline_messages`: at most [`MAX_UPLOAD_BATCH`] items; returns CoMagic's ids in
    /// the order sent. An empty slice makes no call.
    pub async fn upload_offline_messages(
        &self,
        items: &[OfflineMessage],
    ) -> Result<Called<Vec<i64>>, ComagicError> {
        let method = methods::UPLOAD_OFFLINE_MESSAGES;
        if check_batch(method, items.len())? {
            return Ok(empty_called());
        }
        let params = UploadOfflineMessagesParams {
            offline_messages: items.to_vec(),
        };
        let called: Called<UploadResult> = self.call(method, &params).await?;
        Ok(called.map(|r| r.data.into_iter().map(|d| d.id).collect()))
    }

    /// `upload.chats`: at most [`MAX_UPLOAD_BATCH`] chats; returns CoMagic's ids in order.
    pub async fn upload_chats(&self, items: &[Chat]) -> Result<Called<Vec<i64>>, ComagicError> {
        let method = methods::UPLOAD_CHATS;
        if check_batch(method, items.len())? {
            return Ok(empty_called());
        }
        let params = UploadChatsParams {
            chats: items.to_vec(),
        };
        let called: Called<UploadResult> = self.call(method, &params).await?;
        Ok(called.map(|r| r.data.into_iter().map(|d| d.id).collect()))
    }

    /// `upload.sessions`: at most [`MAX_UPLOAD_BATCH`] sessions; returns `{ext_id, session_id}`.
    pub async fn upload_sessions(
        &self,
        items: &[UploadSession],
    ) -> Result<Called<Vec<UploadedSession>>, ComagicError> {
        let method = methods::UPLOAD_SESSIONS;
        if check_batch(method, items.len())? {
            return Ok(empty_called());
        }
        let params = UploadSessionsParams {
            sessions: items.to_vec(),
        };
        let called: Called<UploadSessionsResult> = self.call(method, &params).await?;
        Ok(called.map(|r| r.data))
    }

    /// `set.tag_communications`: one tag on one record.
    pub async fn set_tag_communications(
        &self,
        params: &SetTagCommunicationsParams,
    ) -> Result<Called<()>, ComagicError> {
        let called: Called<Value> = self.call(methods::SET_TAG_COMMUNICATIONS, params).await?;
        Ok(called.map(|_| ()))
    }

    /// `set.communications_tags`: several tag/record pairs in one call. Empty makes no call.
    pub async fn set_communications_tags(
        &self,
        items: &[CommunicationTagItem],
    ) -> Result<Called<()>, ComagicError> {
        if items.is_empty() {
            return Ok(Called {
                value: (),
                limits: None,
            });
        }
        let params = SetCommunicationsTagsParams {
            items: items.to_vec(),
        };
        let called: Called<Value> = self.call(methods::SET_COMMUNICATIONS_TAGS, &params).await?;
        Ok(called.map(|_| ()))
    }

    pub async fn get_campaigns(&self) -> Result<Called<Vec<Campaign>>, ComagicError> {
        self.get_all(methods::GET_CAMPAIGNS).await
    }

    pub async fn get_sites(&self) -> Result<Called<Vec<Site>>, ComagicError> {
        self.get_all(methods::GET_SITES).await
    }

    /// Only Call tracking 3.0 accounts have sources; others get a JSON-RPC error.
    pub async fn get_sources(&self) -> Result<Called<Vec<Source>>, ComagicError> {
        self.get_all(methods::GET_SOURCES).await
    }

    pub async fn get_tags(&self) -> Result<Called<Vec<Tag>>, ComagicError> {
        self.get_all(methods::GET_TAGS).await
    }

    pub async fn get_employees(&self) -> Result<Called<Vec<Employee>>, ComagicError> {
        self.get_all(methods::GET_EMPLOYEES).await
    }

    /// `get.account` (name, time zone). Also a cheap "do these credentials work?" probe.
    pub async fn get_account(&self) -> Result<Called<Account>, ComagicError> {
        let method = methods::GET_ACCOUNT;
        let called = self.call_value(method, Map::new()).await?;
        let limits = called.limits;
        // The sample shows `data: [{…}]`; accept a bare object too.
        let account = match called.value.get("data") {
            Some(Value::Array(items)) => items.first().cloned(),
            Some(object @ Value::Object(_)) => Some(object.clone()),
            _ => None,
        }
        .ok_or_else(|| invalid_response(method, "no account in result.data"))?;
        let value = serde_json::from_value(account)
            .map_err(|e| invalid_response(method, &format!("unreadable account: {e}")))?;
        Ok(Called { value, limits })
    }

    /// Any method: `params` must serialize to a JSON object (the client adds `access_token`);
    /// `result` is read as `R`.
    pub async fn call<P, R>(&self, method: &str, params: &P) -> Result<Called<R>, ComagicError>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let params = match serde_json::to_value(params) {
            Ok(Value::Object(map)) => map,
            Ok(Value::Null) => Map::new(),
            Ok(_) => return Err(invalid_request(method, "params must be a JSON object")),
            Err(e) => return Err(invalid_request(method, &format!("unserializable: {e}"))),
        };
        let called = self.call_value(method, params).await?;
        let limits = called.limits;
        let value = serde_json::from_value(called.value)
            .map_err(|e| invalid_response(method, &format!("unexpected result: {e}")))?;
        Ok(Called { value, limits })
    }

    /// Pages through a `get.*` list until a short page, `total_items`, or CoMagic's maximum
    /// offset. The limits returned are the last page's.
    async fn get_all<T: DeserializeOwned>(
        &self,
        method: &str,
    ) -> Result<Called<Vec<T>>, ComagicError> {
        let limit = self.inner.options.page_limit;
        let mut items = Vec::new();
        let mut limits = None;
        let mut offset = 0u32;
        loop {
            let page: Called<ListResult<T>> = self
                .call(method, &GetListParams::page(limit, offset))
                .await?;
            limits = page.limits.or(limits);
            let received = page.value.data.len();
            let total = page.value.metadata.and_then(|m| m.total_items);
            items.extend(page.value.data);
            let have_all =
                total.is_some_and(|t| i64::try_from(items.len()).unwrap_or(i64::MAX) >= t);
            if received < limit as usize || have_all {
                break;
            }
            offset = offset.saturating_add(limit);
            if offset > MAX_OFFSET {
                tracing::warn!(
                    method,
                    offset,
                    "CoMagic list truncated at the maximum offset"
                );
                break;
            }
        }
        Ok(Called {
            value: items,
            limits,
        })
    }

    /// Adds the token, sends, and re-logs in once when a session token was refused.
    async fn call_value(
        &self,
        method: &str,
        params: Map<String, Value>,
    ) -> Result<Called<Value>, ComagicError> {
        let span = tracing::debug_span!("comagic.call", method);
        async {
            let mut ext_ids = Vec::new();
            collect_ext_ids(&params, &mut ext_ids);
            let mut relogged = false;
            loop {
                let used = self.access_token().await?;
                let mut body = Map::with_capacity(params.len() + 1);
                body.insert(
                    "access_token".to_owned(),
                    Value::String(used.token.expose_secret().to_owned()),
                );
                body.extend(params.iter().map(|(k, v)| (k.clone(), v.clone())));
                match self.send(method, Value::Object(body)).await {
                    Ok(called) => return Ok(called),
                    Err(SendError::Rpc(error)) => {
                        if !relogged && self.is_session_token_refusal(&error) {
                            tracing::debug!("session token refused, logging in again");
                            self.forget_token(used.generation).await;
                            relogged = true;
                            continue;
                        }
                        let error = self.rpc_error(
                            method,
                            *error,
                            &RpcContext {
                                ext_ids: &ext_ids,
                                relogged,
                            },
                            Some(&used.token),
                        );
                        tracing::debug!(
                            code = error.code(),
                            mnemonic = error.mnemonic(),
                            class = ?error.class(),
                            "CoMagic error"
                        );
                        return Err(error);
                    }
                    Err(SendError::Other(error)) => {
                        tracing::debug!(class = ?error.class(), error = %error, "CoMagic call failed");
                        return Err(error);
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Only login-based clients can do anything about a refused token; CoMagic documents
    /// `access_token_expired` for keys, so an expired session may read `access_token_invalid`.
    fn is_session_token_refusal(&self, error: &RpcError) -> bool {
        matches!(self.inner.tokens, TokenSource::Login { .. })
            && error.code == leadback_model::comagic::errors::AUTH
            && matches!(
                error.mnemonic(),
                Some(
                    leadback_model::comagic::errors::ACCESS_TOKEN_EXPIRED
                        | leadback_model::comagic::errors::ACCESS_TOKEN_INVALID
                )
            )
    }

    async fn access_token(&self) -> Result<UsedToken, ComagicError> {
        match &self.inner.tokens {
            TokenSource::Static(token) => Ok(UsedToken {
                token: token.clone(),
                generation: None,
            }),
            TokenSource::Login {
                login,
                password,
                cache,
            } => {
                let mut cached = cache.lock().await;
                let now = SystemTime::now();
                if let Some(current) = cached.as_ref() {
                    if current.is_fresh(self.inner.options.token_refresh_margin, now) {
                        return Ok(UsedToken {
                            token: current.token.clone(),
                            generation: Some(current.generation),
                        });
                    }
                }
                let generation = cached.as_ref().map_or(1, |c| c.generation + 1);
                let result = self.login_user(login, password).await?;
                let fresh = CachedToken {
                    token: result.access_token,
                    valid_until: valid_until(result.expire_at, SystemTime::now()),
                    generation,
                };
                let used = UsedToken {
                    token: fresh.token.clone(),
                    generation: Some(generation),
                };
                *cached = Some(fresh);
                Ok(used)
            }
        }
    }

    /// Drops the cached token if it is still the one that was refused.
    async fn forget_token(&self, generation: Option<u64>) {
        if let TokenSource::Login { cache, .. } = &self.inner.tokens {
            let mut cached = cache.lock().await;
            if cached.as_ref().map(|c| c.generation) == generation {
                if let Some(stale) = cached.as_mut() {
                    // Keep the generation counter, expire the token.
                    stale.valid_until = SystemTime::UNIX_EPOCH;
                }
            }
        }
    }

    async fn login_user(
        &self,
        login: &str,
        password: &SecretString,
    ) -> Result<LoginResult, ComagicError> {
        let method = methods::LOGIN_USER;
        let params = LoginParams {
            login: login.to_owned(),
            password: password.clone(),
        };
        let body = serde_json::to_value(&params)
            .map_err(|e| invalid_request(method, &format!("unserializable: {e}")))?;
        match self.send(method, body).await {
            Ok(called) => {
                // The sample nests the token in `data`; the table lists it at the top.
                let data = match called.value.get("data") {
                    Some(data @ Value::Object(_)) => data.clone(),
                    _ => called.value,
                };
                serde_json::from_value(data)
                    .map_err(|_| invalid_response(method, "no access_token in the login result"))
            }
            Err(SendError::Rpc(error)) => Err(self.rpc_error(
                method,
                *error,
                &RpcContext {
                    ext_ids: &[],
                    relogged: false,
                },
                None,
            )),
            Err(SendError::Other(error)) => Err(error),
        }
    }

    /// One HTTP exchange. Never retries.
    async fn send(&self, method: &str, params: Value) -> Result<Called<Value>, SendError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let request = JsonRpcRequest::new(
            RpcId::Number(i64::try_from(id).unwrap_or(i64::MAX)),
            method,
            params,
        );
        let body = serde_json::to_vec(&request).map_err(|e| {
            SendError::Other(invalid_request(method, &format!("unserializable: {e}")))
        })?;
        let response = self
            .inner
            .transport
            .http()
            .post(self.inner.api_url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8))
            .timeout(self.inner.options.timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::Other(transport_error(method, &e)))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(crate::error::capped_wait);
        let bytes = read_capped(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| SendError::Other(transport_error(method, &e)))?
            .ok_or_else(|| {
                SendError::Other(invalid_response(
                    method,
                    &format!("the answer is larger than {MAX_ANSWER_BYTES} bytes"),
                ))
            })?;
        let parsed = serde_json::from_slice::<JsonRpcResponse<Value>>(&bytes);
        match parsed {
            // A JSON-RPC error is CoMagic's answer whatever the HTTP status.
            Ok(JsonRpcResponse {
                error: Some(error), ..
            }) => Err(SendError::Rpc(Box::new(error))),
            _ if !status.is_success() => Err(SendError::Other(ComagicError::HttpStatus {
                method: method.to_owned(),
                status: status.as_u16(),
                retry_after,
            })),
            Ok(JsonRpcResponse {
                result: Some(result),
                ..
            }) => {
                let limits = result_limits(&result);
                Ok(Called {
                    value: result,
                    limits,
                })
            }
            Ok(_) => Err(SendError::Other(invalid_response(
                method,
                "neither result nor error",
            ))),
            Err(e) => Err(SendError::Other(invalid_response(
                method,
                &format!("not JSON-RPC: {e}"),
            ))),
        }
    }

    /// Classifies a CoMagic error and strips every credential from it.
    fn rpc_error(
        &self,
        method: &str,
        error: RpcError,
        ctx: &RpcContext<'_>,
        token: Option<&SecretString>,
    ) -> ComagicError {
        let mut secrets = Secrets::default();
        if let Some(token) = token {
            secrets.push(token.expose_secret());
        }
        match &self.inner.tokens {
            TokenSource::Static(token) => secrets.push(token.expose_secret()),
            TokenSource::Login {
                login, password, ..
            } => {
                secrets.push(login);
                secrets.push(password.expose_secret());
            }
        }
        let data = error.data.unwrap_or_default();
        let field = data.field;
        let value = if field.as_deref().is_some_and(is_secret_key) {
            None
        } else {
            data.value.map(|v| secrets.scrub_value(v))
        };
        let params = data.params.map(|v| secrets.scrub_value(v));
        let limits = data.metadata.and_then(|m| m.limits);
        let mnemonic = Some(data.mnemonic).filter(|m| !m.is_empty());
        let (class, duplicate_ext_id) = classify_rpc(
            error.code,
            mnemonic.as_deref(),
            field.as_deref(),
            value.as_ref(),
            limits.as_ref(),
            ctx,
        );
        ComagicError::Rpc(Box::new(RpcFailure {
            method: method.to_owned(),
            code: error.code,
            mnemonic,
            message: secrets.scrub_text(&error.message),
            field,
            value,
            params,
            limits,
            duplicate_ext_id,
            class,
        }))
    }
}

/// `Ok(true)` for an empty batch (nothing to send), an error above CoMagic's batch size.
fn check_batch(method: &str, len: usize) -> Result<bool, ComagicError> {
    if len > MAX_UPLOAD_BATCH {
        return Err(invalid_request(
            method,
            &format!("{len} items, at most {MAX_UPLOAD_BATCH} per call"),
        ));
    }
    Ok(len == 0)
}

fn empty_called<T>() -> Called<Vec<T>> {
    Called {
        value: Vec::new(),
        limits: None,
    }
}

/// `result.metadata.limits` (or `meta_data`), if it carries anything.
fn result_limits(result: &Value) -> Option<Limits> {
    let metadata = result.get("metadata").or_else(|| result.get("meta_data"))?;
    let limits: Limits = serde_json::from_value(metadata.get("limits")?.clone()).ok()?;
    (!limits.is_empty()).then_some(limits)
}

/// Every `ext_id` string in the params (uploads carry one per item).
fn collect_ext_ids(params: &Map<String, Value>, out: &mut Vec<String>) {
    for (key, value) in params {
        match value {
            Value::String(s) if key == "ext_id" => out.push(s.clone()),
            Value::Object(map) => collect_ext_ids(map, out),
            Value::Array(items) => {
                for item in items {
                    if let Value::Object(map) = item {
                        collect_ext_ids(map, out);
                    }
                }
            }
            _ => {}
        }
    }
}

fn transport_error(method: &str, error: &reqwest::Error) -> ComagicError {
    // The address policy refused every address the name resolved to: a setting to change,
    // not a network hiccup to retry.
    let mut cause = std::error::Error::source(error);
    while let Some(current) = cause {
        if let Some(refused) = current.downcast_ref::<crate::outbound::OutboundRefused>() {
            return ComagicError::Config(refused.to_string());
        }
        cause = current.source();
    }
    let kind = if error.is_timeout() {
        TransportKind::Timeout
    } else if error.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::Other
    };
    // The URL is the tenant's API address, not a secret, but keep messages short and stable.
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ComagicError::Transport {
        method: method.to_owned(),
        kind,
        message,
    }
}

fn invalid_request(method: &str, reason: &str) -> ComagicError {
    ComagicError::InvalidRequest {
        method: method.to_owned(),
        reason: reason.to_owned(),
    }
}

fn invalid_response(method: &str, message: &str) -> ComagicError {
    ComagicError::InvalidResponse {
        method: method.to_owned(),
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limits_from_metadata_or_meta_data() {
        let result = json!({"data": [], "metadata": {"limits": {"day_limit": 3000, "day_remaining": 2999,
            "day_reset": 3600, "minute_limit": 60, "minute_remaining": 59, "minute_reset": 12}}});
        let limits = result_limits(&result).unwrap();
        assert_eq!(limits.minute_remaining, Some(59));
        assert_eq!(limits.day_limit, Some(3000));
        let alt = json!({"meta_data": {"limits": {"minute_reset": "7"}}});
        assert_eq!(result_limits(&alt).unwrap().minute_reset, Some(7));
        assert_eq!(result_limits(&json!({"metadata": {"limits": {}}})), None);
        assert_eq!(result_limits(&json!({"data": []})), None);
    }

    #[test]
    fn ext_ids_are_collected_from_nested_items() {
        let params =
            json!({"offline_messages": [{"ext_id": "a"}, {"ext_id": "b", "x": {"ext_id": "c"}}]});
        let mut out = Vec::new();
        collect_ext_ids(params.as_object().unwrap(), &mut out);
        assert_eq!(out, vec!["a", "b", "c"]);
    }
}
