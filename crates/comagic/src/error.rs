//! [`ComagicError`] and its [`ErrorClass`]: the table of comagic-api.md "Errors" in code.

use std::time::Duration;

use leadback_model::comagic::{errors as codes, Limits};
use serde_json::Value;

/// The wait for a `limit_exceeded` that carries no reset time.
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// The longest wait taken from CoMagic (`Retry-After`, `*_reset`): a day. A larger or absurd
/// value (a misbehaving server, `u64::MAX`) must not overflow `Instant + Duration` or park a
/// tenant for ever.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// A wait of `seconds` named by CoMagic (`Retry-After`), capped at [`MAX_WAIT`].
pub fn capped_wait(seconds: u64) -> Duration {
    Duration::from_secs(seconds.min(MAX_WAIT.as_secs()))
}

/// The wait until a `*_reset` of `seconds`: at least 1 s (waiting 0 s would spin, and CoMagic's
/// clock and ours differ by a little anyway), at most [`MAX_WAIT`]; negative counts as 1 s.
pub fn reset_wait(seconds: i64) -> Duration {
    capped_wait(u64::try_from(seconds).unwrap_or(0).max(1))
}

/// What the caller should do about a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Transient (transport, timeout, HTTP 5xx, -32603, -32700): try again later, after
    /// `retry_after` when the server named a time.
    Retryable { retry_after: Option<Duration> },
    /// The account's points are spent (-32029 `limit_exceeded`, or HTTP 429): wait this long.
    RateLimited { retry_after: Duration },
    /// The tenant's credentials, IP allow-list, components or account are wrong: no event of
    /// this tenant can succeed until an operator acts.
    TenantPermanent,
    /// This event's data was refused (-32602): dead-letter it.
    EventPermanent,
    /// CoMagic refused the `visitor_session_id` (too old / not found): retry once without it,
    /// using the tenant's default campaign or source.
    SessionRejected,
    /// `duplicate_entity` on one of our `ext_id`s: the record is already in CoMagic.
    AlreadyDelivered,
}

impl ErrorClass {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ErrorClass::Retryable { .. } | ErrorClass::RateLimited { .. }
        )
    }
}

/// How an HTTP exchange failed before a JSON-RPC answer arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    Connect,
    Timeout,
    /// Anything else while sending or reading (reset connection, truncated body…).
    Other,
}

/// A failed CoMagic call. Never carries the access token, login or password.
#[derive(Debug, thiserror::Error)]
pub enum ComagicError {
    /// The client could not be built (bad API URL).
    #[error("invalid CoMagic client configuration: {0}")]
    Config(String),

    /// The request was refused before sending (e.g. more than 50 items).
    #[error("CoMagic {method}: request not sent: {reason}")]
    InvalidRequest { method: String, reason: String },

    #[error("CoMagic {method}: {kind:?} error: {message}")]
    Transport {
        method: String,
        kind: TransportKind,
        message: String,
    },

    /// A non-2xx status without a JSON-RPC error in the body.
    #[error("CoMagic {method}: HTTP {status}")]
    HttpStatus {
        method: String,
        status: u16,
        retry_after: Option<Duration>,
    },

    /// The body was not a JSON-RPC response we could read.
    #[error("CoMagic {method}: invalid response: {message}")]
    InvalidResponse { method: String, message: String },

    /// A JSON-RPC `error` from CoMagic (boxed: it is much larger than the other variants).
    #[error("{0}")]
    Rpc(Box<RpcFailure>),
}

/// The details of a JSON-RPC error, credentials already removed.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcFailure {
    pub method: String,
    pub code: i64,
    pub mnemonic: Option<String>,
    pub message: String,
    /// `data.field`, dotted for nested parameters.
    pub field: Option<String>,
    /// `data.value`, scrubbed of credentials.
    pub value: Option<Value>,
    /// `data.params`, scrubbed of credentials.
    pub params: Option<Value>,
    /// `data.metadata.limits`.
    pub limits: Option<Limits>,
    /// Our `ext_id` that `duplicate_entity` named, when it named one.
    pub duplicate_ext_id: Option<String>,
    pub class: ErrorClass,
}

impl std::fmt::Display for RpcFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CoMagic {}: error {} {}: {}",
            self.method,
            self.code,
            self.mnemonic.as_deref().unwrap_or("-"),
            self.message
        )
    }
}

impl ComagicError {
    /// The action the caller should take.
    pub fn class(&self) -> ErrorClass {
        match self {
            ComagicError::Config(_) => ErrorClass::TenantPermanent,
            ComagicError::InvalidRequest { .. } => ErrorClass::EventPermanent,
            ComagicError::Transport { .. } | ComagicError::InvalidResponse { .. } => {
                ErrorClass::Retryable { retry_after: None }
            }
            ComagicError::HttpStatus {
                status,
                retry_after,
                ..
            } => classify_http_status(*status, *retry_after),
            ComagicError::Rpc(rpc) => rpc.class,
        }
    }

    /// CoMagic's `data.mnemonic`, for JSON-RPC errors.
    pub fn mnemonic(&self) -> Option<&str> {
        self.rpc().and_then(|rpc| rpc.mnemonic.as_deref())
    }

    /// CoMagic's JSON-RPC error code.
    pub fn code(&self) -> Option<i64> {
        self.rpc().map(|rpc| rpc.code)
    }

    /// The JSON-RPC error, when CoMagic answered with one.
    pub fn rpc(&self) -> Option<&RpcFailure> {
        match self {
            ComagicError::Rpc(rpc) => Some(rpc.as_ref()),
            _ => None,
        }
    }

    /// How the HTTP exchange failed, for a failure before any answer.
    pub fn transport_kind(&self) -> Option<TransportKind> {
        match self {
            ComagicError::Transport { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// CoMagic's message, or our description of a non-RPC failure.
    pub fn message(&self) -> String {
        match self {
            ComagicError::Rpc(rpc) => rpc.message.clone(),
            other => other.to_string(),
        }
    }

    /// `data.field` of a JSON-RPC error.
    pub fn field(&self) -> Option<&str> {
        self.rpc().and_then(|rpc| rpc.field.as_deref())
    }

    /// `data.metadata.limits` of a JSON-RPC error (set on `limit_exceeded`).
    pub fn limits(&self) -> Option<&Limits> {
        self.rpc().and_then(|rpc| rpc.limits.as_ref())
    }

    /// For [`ErrorClass::AlreadyDelivered`]: which of our `ext_id`s CoMagic already has, when
    /// it said (in a batch, only that record is delivered).
    pub fn duplicate_ext_id(&self) -> Option<&str> {
        self.rpc().and_then(|rpc| rpc.duplicate_ext_id.as_deref())
    }

    /// The JSON-RPC method that failed.
    pub fn method(&self) -> Option<&str> {
        match self {
            ComagicError::Config(_) => None,
            ComagicError::InvalidRequest { method, .. }
            | ComagicError::Transport { method, .. }
            | ComagicError::HttpStatus { method, .. }
            | ComagicError::InvalidResponse { method, .. } => Some(method),
            ComagicError::Rpc(rpc) => Some(&rpc.method),
        }
    }
}

fn classify_http_status(status: u16, retry_after: Option<Duration>) -> ErrorClass {
    match status {
        429 => ErrorClass::RateLimited {
            retry_after: retry_after.map_or(DEFAULT_RATE_LIMIT_WAIT, |d| d.min(MAX_WAIT)),
        },
        408 | 500..=599 => ErrorClass::Retryable {
            retry_after: retry_after.map(|d| d.min(MAX_WAIT)),
        },
        // A 4xx without a JSON-RPC body means the URL or a proxy in front is wrong, which
        // affects every event of the tenant alike.
        _ => ErrorClass::TenantPermanent,
    }
}

/// What the classifier needs to know besides the error itself.
pub(crate) struct RpcContext<'a> {
    /// The `ext_id`s sent in this call.
    pub ext_ids: &'a [String],
    /// The client re-logged in for this call already (so an expired token is not the tenant's
    /// fault but a race with expiry).
    pub relogged: bool,
}

/// Maps code + mnemonic (+ field) to a class, following comagic-api.md.
pub(crate) fn classify_rpc(
    code: i64,
    mnemonic: Option<&str>,
    field: Option<&str>,
    value: Option<&Value>,
    limits: Option<&Limits>,
    ctx: &RpcContext<'_>,
) -> (ErrorClass, Option<String>) {
    let class = match code {
        codes::LIMITS => ErrorClass::RateLimited {
            retry_after: rate_limit_wait(limits),
        },
        codes::INTERNAL_ERROR | codes::PARSE_ERROR => ErrorClass::Retryable { retry_after: None },
        codes::AUTH => {
            if mnemonic == Some(codes::ACCESS_TOKEN_EXPIRED) && ctx.relogged {
                ErrorClass::Retryable { retry_after: None }
            } else {
                ErrorClass::TenantPermanent
            }
        }
        codes::FORBIDDEN | codes::COMPONENT | codes::ACCOUNT | codes::METHOD_NOT_FOUND => {
            ErrorClass::TenantPermanent
        }
        codes::INVALID_PARAMS => {
            if mnemonic == Some(codes::DUPLICATE_ENTITY) {
                if let Some(ext_id) = duplicate_of_our_ext_id(field, value, ctx.ext_ids) {
                    return (ErrorClass::AlreadyDelivered, ext_id);
                }
            }
            // Missing or unexpected keys are our mapping's fault, not the session's.
            let about_session = field.is_some_and(|f| last_segment(f) == "visitor_session_id")
                && !matches!(
                    mnemonic,
                    Some("required_parameter_missed" | "unexpected_parameters")
                );
            if about_session {
                ErrorClass::SessionRejected
            } else if about_tenant_settings(mnemonic, field) {
                ErrorClass::TenantPermanent
            } else {
                ErrorClass::EventPermanent
            }
        }
        // -32600, -32099, -32004, -32007 and unknown codes: something about this request that
        // repeating will not fix; dead-letter it with CoMagic's words.
        _ => ErrorClass::EventPermanent,
    };
    (class, None)
}

/// The day's reset when the day's points are gone, else the minute's; 60 s when unknown.
fn rate_limit_wait(limits: Option<&Limits>) -> Duration {
    let Some(limits) = limits else {
        return DEFAULT_RATE_LIMIT_WAIT;
    };
    let reset = if limits.day_remaining.is_some_and(|left| left <= 0) {
        limits.day_reset.or(limits.minute_reset)
    } else {
        limits.minute_reset
    };
    reset.map_or(DEFAULT_RATE_LIMIT_WAIT, reset_wait)
}

/// `duplicate_entity` is about our record when its field is an `ext_id` or its value is one of
/// the `ext_id`s we sent. `Some(Some(id))` names the record (the value, or the only one sent);
/// `Some(None)` when the field says `ext_id` but not which of several.
fn duplicate_of_our_ext_id(
    field: Option<&str>,
    value: Option<&Value>,
    ext_ids: &[String],
) -> Option<Option<String>> {
    let named = value.and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    if let Some(named) = &named {
        if ext_ids.iter().any(|id| id == named) {
            return Some(Some(named.clone()));
        }
    }
    if field.is_some_and(|f| last_segment(f) == "ext_id") {
        return Some(match (named, ext_ids) {
            (Some(named), _) => Some(named),
            (None, [only]) => Some(only.clone()),
            (None, _) => None,
        });
    }
    None
}

/// `offline_messages.0.visitor_session_id` / `chats[2].visitor_session_id` → `visitor_session_id`.
/// A refusal that names what the tenant's settings chose (the default campaign, site, source,
/// chat employee or a tag), not what the event carried: fixing the settings and replaying cures
/// it (`campaign_is_inactive`, `entity_not_found` on one of those ids).
fn about_tenant_settings(mnemonic: Option<&str>, field: Option<&str>) -> bool {
    const SETTINGS_IDS: [&str; 5] = [
        "campaign_id",
        "site_id",
        "source_id",
        "employee_id",
        "tag_id",
    ];
    match mnemonic {
        Some("campaign_is_inactive") => true,
        Some("entity_not_found") => field.is_some_and(|f| SETTINGS_IDS.contains(&last_segment(f))),
        _ => false,
    }
}

fn last_segment(field: &str) -> &str {
    field
        .rsplit(['.', '[', ']'])
        .find(|s| !s.is_empty() && !s.chars().all(|c| c.is_ascii_digit()))
        .unwrap_or(field)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(ext_ids: &[String]) -> RpcContext<'_> {
        RpcContext {
            ext_ids,
            relogged: false,
        }
    }

    #[test]
    fn waits_from_comagic_are_capped_at_a_day() {
        assert_eq!(capped_wait(u64::MAX), MAX_WAIT);
        assert_eq!(capped_wait(30), Duration::from_secs(30));
        assert_eq!(reset_wait(i64::MAX), MAX_WAIT);
        assert_eq!(reset_wait(i64::MIN), Duration::from_secs(1));
        assert_eq!(reset_wait(0), Duration::from_secs(1));
        assert_eq!(reset_wait(20), Duration::from_secs(20));
        // Every capped wait can be added to now without overflow.
        let now = std::time::Instant::now();
        assert!(now.checked_add(capped_wait(u64::MAX)).is_some());
        assert!(now.checked_add(reset_wait(i64::MAX)).is_some());
        let huge = Limits {
            day_remaining: Some(0),
            day_reset: Some(i64::MAX),
            ..Limits::default()
        };
        assert_eq!(rate_limit_wait(Some(&huge)), MAX_WAIT);
        let class = classify_http_status(429, Some(Duration::from_secs(u64::MAX)));
        assert_eq!(
            class,
            ErrorClass::RateLimited {
                retry_after: MAX_WAIT
            }
        );
        let class = classify_http_status(503, Some(Duration::MAX));
        assert_eq!(
            class,
            ErrorClass::Retryable {
                retry_after: Some(MAX_WAIT)
            }
        );
    }

    #[test]
    fn rate_limit_prefers_day_reset_when_day_is_spent() {
        let limits = Limits {
            day_remaining: Some(0),
            day_reset: Some(3600),
            minute_remaining: Some(0),
            minute_reset: Some(20),
            ..Limits::default()
        };
        assert_eq!(rate_limit_wait(Some(&limits)), Duration::from_secs(3600));
        let minute = Limits {
            day_remaining: Some(10),
            ..limits
        };
        assert_eq!(rate_limit_wait(Some(&minute)), Duration::from_secs(20));
        assert_eq!(rate_limit_wait(None), DEFAULT_RATE_LIMIT_WAIT);
        assert_eq!(
            rate_limit_wait(Some(&Limits::default())),
            DEFAULT_RATE_LIMIT_WAIT
        );
    }

    #[test]
    fn field_segments() {
        assert_eq!(
            last_segment("offline_messages.0.visitor_session_id"),
            "visitor_session_id"
        );
        assert_eq!(last_segment("chats[2].ext_id"), "ext_id");
        assert_eq!(last_segment("visitor_session_id"), "visitor_session_id");
    }

    #[test]
    fn duplicate_entity_only_counts_for_our_ext_ids() {
        let ours = vec!["evt-1".to_owned(), "evt-2".to_owned()];
        let (class, ext) = classify_rpc(
            -32602,
            Some("duplicate_entity"),
            None,
            Some(&json!("evt-2")),
            None,
            &ctx(&ours),
        );
        assert_eq!(class, ErrorClass::AlreadyDelivered);
        assert_eq!(ext.as_deref(), Some("evt-2"));
        let (class, _) = classify_rpc(
            -32602,
            Some("duplicate_entity"),
            Some("name"),
            Some(&json!("other")),
            None,
            &ctx(&ours),
        );
        assert_eq!(class, ErrorClass::EventPermanent);
    }

    #[test]
    fn expired_token_after_relogin_is_retryable() {
        let expired = |relogged| {
            let ctx = RpcContext {
                ext_ids: &[],
                relogged,
            };
            classify_rpc(-32001, Some("access_token_expired"), None, None, None, &ctx).0
        };
        assert_eq!(expired(true), ErrorClass::Retryable { retry_after: None });
        assert_eq!(expired(false), ErrorClass::TenantPermanent);
    }
}

/// Refusals of what the tenant chose are the tenant's problem (dead-lettered with that class,
/// replayed after the settings are fixed); the same mnemonics on the event's own data are not.
#[cfg(test)]
mod tenant_class_tests {
    use super::*;

    #[test]
    fn refusals_of_the_tenants_choices_are_tenant_class() {
        let ctx = RpcContext {
            ext_ids: &[],
            relogged: false,
        };
        let cases: [(i64, &str, Option<&str>, ErrorClass); 9] = [
            (
                -32602,
                "campaign_is_inactive",
                Some("campaign_id"),
                ErrorClass::TenantPermanent,
            ),
            (
                -32602,
                "entity_not_found",
                Some("campaign_id"),
                ErrorClass::TenantPermanent,
            ),
            (
                -32602,
                "entity_not_found",
                Some("items.3.site_id"),
                ErrorClass::TenantPermanent,
            ),
            (
                -32602,
                "entity_not_found",
                Some("source_id"),
                ErrorClass::TenantPermanent,
            ),
            (
                -32602,
                "entity_not_found",
                Some("messages.0.employee_id"),
                ErrorClass::TenantPermanent,
            ),
            (
                -32602,
                "entity_not_found",
                Some("tag_id"),
                ErrorClass::TenantPermanent,
            ),
            (
                -32008,
                "method_component_disabled",
                None,
                ErrorClass::TenantPermanent,
            ),
            (
                -32602,
                "entity_not_found",
                Some("visitor_session_id"),
                ErrorClass::SessionRejected,
            ),
            (
                -32602,
                "invalid_parameter_value",
                Some("phone"),
                ErrorClass::EventPermanent,
            ),
        ];
        for (code, mnemonic, field, expected) in cases {
            let (class, _) = classify_rpc(code, Some(mnemonic), field, None, None, &ctx);
            assert_eq!(class, expected, "{mnemonic} on {field:?}");
        }
    }
}
