//! Asking a running bridge (or the emulator) and reading the answer in one call.

use reqwest::RequestBuilder;
use serde_json::Value;

/// Sends `request`; the answer's body as JSON (whatever the status).
pub async fn json(request: RequestBuilder) -> Result<Value, reqwest::Error> {
    request.send().await?.json().await
}

/// Sends `request`; the answer's body as text (whatever the status).
pub async fn text(request: RequestBuilder) -> Result<String, reqwest::Error> {
    request.send().await?.text().await
}
