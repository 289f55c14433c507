//! The shared vocabulary of the bridge, with no I/O: Leadback webhook events (the tolerant
//! parser and its alias table), parse-don't-validate newtypes, tenant settings, CoMagic Data API
//! wire types, and the pure Leadback → CoMagic mapping.

pub mod aliases;
pub mod analysis;
pub mod comagic;
pub mod datetime;
pub mod email;
pub mod event;
pub mod event_id;
pub mod failure;
pub mod field_map;
pub mod mapping;
pub mod payload;
pub mod phone;
pub mod settings;
pub mod validate;

pub use datetime::{ComagicDateTime, DateTimeError, COMAGIC_FORMAT};
pub use email::{Email, EmailError};
pub use event::{
    CallbackExtras, Contact, EventError, EventKind, EventMessage, LeadbackEvent, MessageAuthor,
    UnknownEventKind, Utm,
};
pub use event_id::{EventId, EventIdError};
pub use failure::{FailureClass, LastError};
pub use field_map::{FieldMap, FieldMapError, FieldPath, Lookup, Meaning};
pub use mapping::{
    map, map_in, map_with_default, ComagicPlan, MappingError, PlannedRecord, FORM_NAME,
};
pub use payload::{BodyError, RawPayload, MAX_DEPTH, MAX_FIELDS};
pub use phone::{Phone, PhoneError};
pub use settings::{
    ComagicAuth, ComagicCredentials, DefaultEntity, TenantSettings, DEFAULT_TIMEZONE, DEFAULT_ZONE,
};
pub use validate::{FieldError, SettingsErrors};
