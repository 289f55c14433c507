//! Classification of a failed step, without side effects: what a CoMagic error class means for
//! the event ([`verdict`]), the retry policy ([`retry_or_exhausted`]), and the bounded `outcome`
//! label of `comagic_requests_total` ([`outcome_label`]). The deliverer applies them (holds,
//! tier delays with jitter).

use crate::outcome::{Disposition, FailureClass};
use comagic_client::{ComagicError, ErrorClass};
use leadback_model::EventKind;
use std::time::Duration;

/// What a CoMagic failure means for the event, before the retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The tenant's budget is spent: hold the tenant and wait this long, using no attempt.
    RateLimited(Duration),
    /// Try again, not before `at_least` when CoMagic named a time.
    Retry { at_least: Option<Duration> },
    /// No retry can succeed.
    Dead(FailureClass),
}

pub(crate) fn verdict(class: ErrorClass) -> Verdict {
    match class {
        ErrorClass::RateLimited { retry_after } => Verdict::RateLimited(retry_after),
        ErrorClass::Retryable { retry_after } => Verdict::Retry {
            at_least: retry_after,
        },
        ErrorClass::TenantPermanent => Verdict::Dead(FailureClass::TenantPermanent),
        // A session rejected twice, or anything the event itself carries.
        ErrorClass::EventPermanent | ErrorClass::SessionRejected => {
            Verdict::Dead(FailureClass::EventPermanent)
        }
        // Handled by the batch; reaching here would be a bug, and retrying is the safe side.
        ErrorClass::AlreadyDelivered => Verdict::Retry { at_least: None },
    }
}

/// A retryable failure of attempt `attempt`: after `delay`, or dead as `exhausted` when the
/// attempts are used up.
pub(crate) fn retry_or_exhausted(
    attempt: u32,
    max_attempts: u32,
    delay: Duration,
    mnemonic: Option<String>,
    message: String,
) -> Disposition {
    if attempt >= max_attempts {
        return Disposition::Dead {
            class: FailureClass::Exhausted,
            mnemonic,
            message: format!("gave up after {attempt} attempts; last error: {message}"),
        };
    }
    Disposition::Retry {
        delay,
        class: FailureClass::Retryable,
        mnemonic,
        message,
        counts: true,
    }
}

/// The tenant's budget is spent: wait for the reset without using an attempt.
pub(crate) fn held(wait: Duration) -> Disposition {
    Disposition::Retry {
        delay: wait,
        class: FailureClass::RateLimited,
        mnemonic: Some("limit_exceeded".into()),
        message: "the tenant's CoMagic budget is spent; waiting for its reset".into(),
        counts: false,
    }
}

/// The `kind` label of an event's metrics (a bounded set): `unknown` before the body is read.
pub(crate) fn kind_label(kind: Option<EventKind>) -> &'static str {
    kind.map_or("unknown", |kind| kind.as_str())
}

/// The `outcome` label of `comagic_requests_total`: CoMagic's mnemonic, or the transport class.
/// Both are bounded sets; nothing from the request goes in.
pub(crate) fn outcome_label(e: &ComagicError) -> &'static str {
    use leadback_model::comagic::errors as m;
    match e.mnemonic() {
        Some(mn) => [
            m::ACCESS_TOKEN_EXPIRED,
            m::ACCESS_TOKEN_INVALID,
            m::ACCESS_TOKEN_BLOCKED,
            m::AUTH_ERROR,
            m::LIMIT_EXCEEDED,
            m::IP_NOT_WHITELISTED,
            m::METHOD_COMPONENT_DISABLED,
            m::PARAMETER_COMPONENT_DISABLED,
            m::INVALID_PARAMETER_VALUE,
            m::ENTITY_NOT_FOUND,
            m::DUPLICATE_ENTITY,
            m::INTERNAL,
            "required_parameter_missed",
            "invalid_date_time",
            "unexpected_parameters",
            "invalid_parameters_combination",
            "tariff_restrictions",
            "data_limit_exceeded",
            "forbidden",
        ]
        .into_iter()
        .find(|known| *known == mn)
        .unwrap_or("other_error"),
        None => match e {
            ComagicError::Transport { .. } => "transport_error",
            ComagicError::HttpStatus { .. } => "http_error",
            ComagicError::InvalidResponse { .. } => "invalid_response",
            _ => "other_error",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn every_error_class_has_its_verdict() {
        let table = [
            (
                ErrorClass::RateLimited {
                    retry_after: 20 * SECOND,
                },
                Verdict::RateLimited(20 * SECOND),
            ),
            (
                ErrorClass::Retryable { retry_after: None },
                Verdict::Retry { at_least: None },
            ),
            (
                ErrorClass::Retryable {
                    retry_after: Some(SECOND),
                },
                Verdict::Retry {
                    at_least: Some(SECOND),
                },
            ),
            (
                ErrorClass::TenantPermanent,
                Verdict::Dead(FailureClass::TenantPermanent),
            ),
            (
                ErrorClass::EventPermanent,
                Verdict::Dead(FailureClass::EventPermanent),
            ),
            (
                ErrorClass::SessionRejected,
                Verdict::Dead(FailureClass::EventPermanent),
            ),
            (
                ErrorClass::AlreadyDelivered,
                Verdict::Retry { at_least: None },
            ),
        ];
        for (class, expected) in table {
            assert_eq!(verdict(class), expected, "{class:?}");
        }
    }

    #[test]
    fn retries_until_the_attempts_are_used_up() {
        // (attempt, max attempts, dead as exhausted)
        for (attempt, max, exhausted) in [(1, 3, false), (2, 3, false), (3, 3, true), (9, 3, true)]
        {
            let got =
                retry_or_exhausted(attempt, max, SECOND, Some("internal".into()), "boom".into());
            match got {
                Disposition::Dead {
                    class,
                    mnemonic,
                    message,
                } => {
                    assert!(exhausted, "attempt {attempt} of {max} died");
                    assert_eq!(class, FailureClass::Exhausted);
                    assert_eq!(mnemonic.as_deref(), Some("internal"));
                    assert_eq!(
                        message,
                        format!("gave up after {attempt} attempts; last error: boom")
                    );
                }
                Disposition::Retry {
                    delay,
                    class,
                    counts,
                    ..
                } => {
                    assert!(!exhausted, "attempt {attempt} of {max} retried");
                    assert_eq!(
                        (delay, class, counts),
                        (SECOND, FailureClass::Retryable, true)
                    );
                }
                Disposition::Delivered { .. } => panic!("a failure delivered"),
            }
        }
    }

    #[test]
    fn a_hold_uses_no_attempt() {
        match held(5 * SECOND) {
            Disposition::Retry {
                delay,
                class,
                counts,
                mnemonic,
                ..
            } => {
                assert_eq!(
                    (delay, class, counts),
                    (5 * SECOND, FailureClass::RateLimited, false)
                );
                assert_eq!(mnemonic.as_deref(), Some("limit_exceeded"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn kind_labels_are_a_closed_set() {
        for (kind, label) in [
            (Some(EventKind::Chat), "chat"),
            (Some(EventKind::Callback), "callback"),
            (None, "unknown"),
        ] {
            assert_eq!(kind_label(kind), label);
        }
    }

    #[test]
    fn failures_without_a_mnemonic_are_labelled_by_transport_class() {
        let method = || "upload.chats".to_owned();
        let table = [
            (
                ComagicError::Transport {
                    method: method(),
                    kind: comagic_client::TransportKind::Timeout,
                    message: "slow".into(),
                },
                "transport_error",
            ),
            (
                ComagicError::HttpStatus {
                    method: method(),
                    status: 502,
                    retry_after: None,
                },
                "http_error",
            ),
            (
                ComagicError::InvalidResponse {
                    method: method(),
                    message: "not JSON".into(),
                },
                "invalid_response",
            ),
            (ComagicError::Config("bad URL".into()), "other_error"),
        ];
        for (error, label) in table {
            assert_eq!(outcome_label(&error), label, "{error}");
        }
    }
}
