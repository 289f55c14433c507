//! The shared vocabulary of the bridge, with no I/O: Leadback webhook events (the tolerant
//! parser and its alias table), parse-don't-validate newtypes, tenant settings, CoMagic Data API
//! wire types, and the pure Leadback → CoMagic mapping.

pub mod comagic;
pub mod settings;

pub use settings::{ComagicAuth, ComagicCredentials, DefaultEntity, TenantSettings, DEFAULT_TIMEZONE};
