//! Reading a webhook body under a size limit and a deadline, and refusing an oversized one so
//! the client can read the refusal. Closing a connection whose request bytes are still
//! unread makes the kernel send a reset, which destroys the 413 on its way to a client that
//! writes its whole body before reading (most simple HTTP clients do). So a body found too
//! large is read on to its end and discarded — up to [`DRAIN_MAX_BYTES`] and [`DRAIN_TIME`] —
//! before the answer goes out; beyond those bounds the connection is closed as before.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use http_body_util::BodyExt;
use std::time::Duration;

/// Most bytes read and thrown away after a body is found too large.
pub(crate) const DRAIN_MAX_BYTES: u64 = 8 * 1024 * 1024;
/// Longest time spent reading and throwing away a too-large body.
pub(crate) const DRAIN_TIME: Duration = Duration::from_secs(5);

pub(crate) enum BodyRead {
    Complete(Bytes),
    /// Over the limit: the declared length, or the bytes that arrived (drained ones included),
    /// whichever is more.
    TooLarge {
        bytes_seen: u64,
    },
    /// The deadline passed with `bytes_seen` bytes received.
    TimedOut {
        bytes_seen: u64,
    },
    Failed(String),
}

/// The declared Content-Length, if any.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// A client sending `Expect: 100-continue` waits for the answer before it sends the body:
/// reading would only invite it to send.
fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
}

/// Reads the whole body if it is at most `limit` bytes and arrives within `timeout`. A
/// declared length over the limit is refused before a byte is read.
pub(crate) async fn read_limited(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
    timeout: Duration,
) -> BodyRead {
    let limit = limit as u64;
    let declared = declared_length(headers);
    let drainable = !expects_continue(headers);
    if let Some(length) = declared.filter(|length| *length > limit) {
        if drainable && length <= DRAIN_MAX_BYTES {
            drain(body, DRAIN_MAX_BYTES).await;
        }
        return BodyRead::TooLarge { bytes_seen: length };
    }
    let mut body = body;
    // Counted outside the read so a timed-out read still tells how far it got.
    let mut received = 0u64;
    let read = tokio::time::timeout(timeout, async {
        let mut collected = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| e.to_string())?;
            if let Ok(data) = frame.into_data() {
                received += data.len() as u64;
                if received > limit {
                    return Ok(None);
                }
                collected.extend_from_slice(&data);
            }
        }
        Ok::<_, String>(Some(collected))
    })
    .await;
    match read {
        Ok(Ok(Some(bytes))) => BodyRead::Complete(Bytes::from(bytes)),
        Ok(Ok(None)) => {
            let drained = if drainable {
                drain(body, DRAIN_MAX_BYTES).await
            } else {
                0
            };
            BodyRead::TooLarge {
                bytes_seen: received + drained,
            }
        }
        Ok(Err(reason)) => BodyRead::Failed(format!("could not read the body: {reason}")),
        Err(_) => BodyRead::TimedOut {
            bytes_seen: received,
        },
    }
}

/// Reads and discards the rest of `body`, within [`DRAIN_TIME`] and `max_bytes`; returns how
/// many bytes it discarded.
async fn drain(mut body: Body, max_bytes: u64) -> u64 {
    let mut discarded = 0u64;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                discarded += data.len() as u64;
                if discarded > max_bytes {
                    break;
                }
            }
        }
    })
    .await;
    discarded
}
