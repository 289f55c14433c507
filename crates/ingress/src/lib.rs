//! The thin webhook ingress: find the tenant by its URL token, check and parse the body, publish
//! the raw event durably, and answer 200 only after the queue confirmed.
//!
//! What it never does: map, call CoMagic, or drop an event whose shape it does not know — a body
//! that parses is queued as received; the worker dead-letters what it cannot map.

mod body;
mod head_limit;
mod hooks;
mod lookups;
mod recent;
mod response;
mod serve;
mod throttle;
mod trace;

pub use hooks::{hook_router, IngressConfig, IngressState};
pub use recent::RecentPayloads;
pub use response::IngressOutcome;
pub use serve::{serve, ServeOptions};
