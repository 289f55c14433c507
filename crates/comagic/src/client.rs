//! [`ComagicClient`]: one tenant's connection to the Data API, and its typed method wrappers.
//! The JSON-RPC exchange underneath (token, send, error classification) is in `rpc.rs`.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use leadback_model::comagic::{
    methods, Account, Campaign, Chat, CommunicationTagItem, Employee, GetListParams, Limits,
    ListResult, OfflineMessage, SetCommunicationsTagsParams, SetTagCommunicationsParams, Site,
    Source, Tag, UploadChatsParams, UploadOfflineMessagesParams, UploadResult, UploadSession,
    UploadSessionsParams, UploadSessionsResult, UploadedSession, MAX_PAGE_LIMIT, MAX_UPLOAD_BATCH,
};
use leadback_model::{ComagicAuth, ComagicCredentials};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use crate::error::ComagicError;
use crate::token::TokenSource;
use crate::transport::Transport;

/// Per-call HTTP timeout unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// CoMagic refuses `offset` above this (general.txt, "Постраничный вывод").
const MAX_OFFSET: u32 = 100_000;

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
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) transport: Transport,
    pub(crate) api_url: reqwest::Url,
    pub(crate) options: ClientOptions,
    pub(crate) next_id: AtomicU64,
    pub(crate) tokens: TokenSource,
}

impl std::fmt::Debug for ComagicClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComagicClient")
            .field("api_url", &self.inner.api_url.as_str())
            .field("auth", &self.auth_kind())
            .finish_non_exhaustive()
    }
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
        self.upload_records(
            methods::UPLOAD_OFFLINE_MESSAGES,
            items,
            |offline_messages| UploadOfflineMessagesParams { offline_messages },
        )
        .await
    }

    /// `upload.chats`: at most [`MAX_UPLOAD_BATCH`] chats; returns CoMagic's ids in order.
    pub async fn upload_chats(&self, items: &[Chat]) -> Result<Called<Vec<i64>>, ComagicError> {
        self.upload_records(methods::UPLOAD_CHATS, items, |chats| UploadChatsParams {
            chats,
        })
        .await
    }

    /// `upload.sessions`: at most [`MAX_UPLOAD_BATCH`] sessions; returns `{ext_id, session_id}`.
    pub async fn upload_sessions(
        &self,
        items: &[UploadSession],
    ) -> Result<Called<Vec<UploadedSession>>, ComagicError> {
        let called = self.upload(methods::UPLOAD_SESSIONS, items, |sessions| {
            UploadSessionsParams { sessions }
        });
        Ok(called
            .await?
            .map(|result: UploadSessionsResult| result.data))
    }

    /// An upload whose answer is one `{id}` per record: CoMagic's ids, in the order sent.
    async fn upload_records<T: Clone, P: Serialize>(
        &self,
        method: &'static str,
        items: &[T],
        params: impl FnOnce(Vec<T>) -> P,
    ) -> Result<Called<Vec<i64>>, ComagicError> {
        let called: Called<UploadResult> = self.upload(method, items, params).await?;
        Ok(called.map(ids))
    }

    /// An upload method with `items`: at most [`MAX_UPLOAD_BATCH`]; none makes no call and
    /// answers the empty result. `params` wraps the items in the method's parameters.
    async fn upload<T: Clone, P: Serialize, R: DeserializeOwned + Default>(
        &self,
        method: &'static str,
        items: &[T],
        params: impl FnOnce(Vec<T>) -> P,
    ) -> Result<Called<R>, ComagicError> {
        if check_batch(method, items.len())? {
            return Ok(Called {
                value: R::default(),
                limits: None,
            });
        }
        self.call(method, &params(items.to_vec())).await
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

/// CoMagic's ids of the uploaded items, in the order sent.
fn ids(result: UploadResult) -> Vec<i64> {
    result.data.into_iter().map(|d| d.id).collect()
}

pub(crate) fn invalid_request(method: &str, reason: &str) -> ComagicError {
    ComagicError::InvalidRequest {
        method: method.to_owned(),
        reason: reason.to_owned(),
    }
}

pub(crate) fn invalid_response(method: &str, message: &str) -> ComagicError {
    ComagicError::InvalidResponse {
        method: method.to_owned(),
        message: message.to_owned(),
    }
}
