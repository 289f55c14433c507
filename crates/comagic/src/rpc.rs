//! The JSON-RPC exchange under [`ComagicClient`]'s methods: the access token (a permanent key,
//! or `login.user` cached until it expires, re-logged in once when refused), one POST through the
//! [`crate::Transport`], the answer read within [`MAX_ANSWER_BYTES`], `limits` taken from every
//! result, and an RPC error turned into a [`ComagicError`] with its class and no secret in it.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use leadback_model::comagic::{
    methods, JsonRpcRequest, JsonRpcResponse, Limits, LoginParams, LoginResult, RpcError, RpcId,
};
use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use tracing::Instrument;

use crate::client::{invalid_request, invalid_response, Called, ComagicClient};
use crate::error::{classify_rpc, ComagicError, RpcContext, RpcFailure, TransportKind};
use crate::sanitize::{is_secret_key, Secrets};
use crate::token::{valid_until, CachedToken, TokenSource};
use crate::transport::{read_capped, MAX_ANSWER_BYTES};

/// JSON-RPC over HTTP wants exactly this content type (general.txt, "Соглашения").
const JSON_UTF8: &str = "application/json; charset=UTF-8";

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
    /// Adds the token, sends, and re-logs in once when a session token was refused.
    pub(crate) async fn call_value(
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
