//! CoMagic/UIS Data API v2.0 client: JSON-RPC 2.0 over HTTPS POST to a per-tenant API URL,
//! `login.user` with a cached, self-refreshing token, the `limits` of every response, and a
//! typed classification of every failure ([`ErrorClass`]) so the worker knows whether to retry,
//! wait, park the tenant or dead-letter the event.
//!
//! The client makes one attempt per call (plus one re-login on an expired session token);
//! retrying later is the worker's job.

mod client;
mod error;
mod outbound;
mod rpc;
mod sanitize;
mod token;
mod transport;

pub use client::{Called, ClientOptions, ComagicClient, DEFAULT_TIMEOUT};
pub use error::{
    capped_wait, reset_wait, ComagicError, ErrorClass, RpcFailure, TransportKind,
    DEFAULT_RATE_LIMIT_WAIT, MAX_WAIT,
};
pub use leadback_model::comagic;
pub use outbound::{internal_range, AddressPolicy, OutboundRefused};
pub use transport::{Transport, TransportOptions, MAX_ANSWER_BYTES};
