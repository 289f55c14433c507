//! The items of `upload.offline_messages` and `upload.chats` (a chat with its messages), and the
//! ext_ids of one batch.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use serde_json::{json, Value};

use super::checks::{attribution, check_source, contacts, fmt, not_in_future};
use crate::ext_ids::RepeatedExtId;
use crate::params::Fields;
use crate::records::RecordKind;
use crate::rpc::RpcError;
use crate::state::Account;

const OFFLINE_MESSAGE_FIELDS: &[&str] = &[
    "date_time",
    "name",
    "phone",
    "email",
    "message",
    "visitor_session_id",
    "campaign_id",
    "source_id",
    "site_id",
    "form_name",
    "ext_id",
    "user_fields",
];

const CHAT_FIELDS: &[&str] = &[
    "start_date_time",
    "name",
    "phone",
    "email",
    "status",
    "initiator",
    "visitor_session_id",
    "campaign_id",
    "source_id",
    "site_id",
    "messages",
    "ext_id",
];

/// The ext_ids of one batch, checked against the account's and each other.
struct BatchExtIds<'a> {
    repeated: RepeatedExtId,
    seen: HashSet<&'a str>,
}

impl<'a> BatchExtIds<'a> {
    fn new(repeated: RepeatedExtId) -> Self {
        Self {
            repeated,
            seen: HashSet::new(),
        }
    }

    /// In [`RepeatedExtId::Refuse`] mode a repeated ext_id (already stored, or earlier in this
    /// batch) is `duplicate_entity`; in `Update` mode it is let through to replace the record.
    fn check(
        &mut self,
        account: &Account,
        kind: RecordKind,
        item: &Fields<'a>,
    ) -> Result<(), RpcError> {
        let Some(ext_id) = item.opt_str("ext_id")? else {
            return Ok(());
        };
        if self.repeated == RepeatedExtId::Update {
            return Ok(());
        }
        let stored = account.ext_ids.get(&(kind, ext_id.to_owned()));
        if stored.is_some() || !self.seen.insert(ext_id) {
            let mut error =
                RpcError::duplicate_entity(item.path("ext_id"), &Value::String(ext_id.into()));
            if let Some(id) = stored {
                error = error.with_param("id", *id);
            }
            return Err(error);
        }
        Ok(())
    }
}

/// The list parameter of an upload of `kind` (offline messages or chats).
pub(super) fn list_name(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Chat => "chats",
        _ => "offline_messages",
    }
}

/// Checks the items of one batch: each on its own, then its ext_id against the account's and the
/// batch's others.
pub(super) struct Checker<'a> {
    account: &'a Account,
    local_now: NaiveDateTime,
    ext_ids: BatchExtIds<'a>,
}

impl<'a> Checker<'a> {
    pub fn new(account: &'a Account, local_now: NaiveDateTime, repeated: RepeatedExtId) -> Self {
        Self {
            account,
            local_now,
            ext_ids: BatchExtIds::new(repeated),
        }
    }

    pub fn check(&mut self, kind: RecordKind, value: &'a Value) -> Result<(), RpcError> {
        let item = Fields::of(value, list_name(kind), "")?;
        match kind {
            RecordKind::Chat => self.chat(&item)?,
            _ => self.offline_message(&item)?,
        }
        self.ext_ids.check(self.account, kind, &item)
    }

    fn offline_message(&self, item: &Fields<'_>) -> Result<(), RpcError> {
        let account = self.account;
        item.only(OFFLINE_MESSAGE_FIELDS)?;
        // Documented as required although "the call time is used if absent": the emulator is
        // strict.
        let date_time = item.req_date_time("date_time")?;
        not_in_future("date_time", date_time, self.local_now)?;
        for key in ["name", "message", "form_name"] {
            item.opt_str(key)?;
        }
        contacts(item, true)?;
        attribution(account, item, ("date_time", date_time), false)?;
        check_source(account, item)?;
        if let Some(fields) = item.opt_array("user_fields")? {
            for field in fields {
                let field = Fields::of(field, "user_fields", "user_fields")?;
                field.only(&["ext_id", "value"])?;
                let ext_id = field.req_str("ext_id")?;
                // "Перед тем как передать, нужно создать пользовательское поле".
                let user_fields = &account.seed.offline_message_user_fields;
                if !user_fields.iter().any(|f| f == ext_id) {
                    return Err(RpcError::entity_not_found(
                        "user_fields.ext_id",
                        &json!(ext_id),
                    ));
                }
                field.opt_str("value")?;
            }
        }
        Ok(())
    }

    fn chat(&self, item: &Fields<'_>) -> Result<(), RpcError> {
        item.only(CHAT_FIELDS)?;
        let start = item.req_date_time("start_date_time")?;
        not_in_future("start_date_time", start, self.local_now)?;
        item.opt_str("name")?;
        // The page's header lists "phone или email" among the required parameters; its table
        // marks each optional alone. The stricter reading wins: one of the two is required.
        contacts(item, true)?;
        item.req_enum("status", &["lost", "succeed", "refused"])?;
        item.opt_enum("initiator", &["operator", "visitor", "autoinvite"])?;
        attribution(self.account, item, ("start_date_time", start), true)?;
        check_source(self.account, item)?;
        let messages = item.req_array("messages")?;
        if messages.is_empty() {
            return Err(RpcError::invalid_parameter_value(
                item.path("messages"),
                &json!([]),
            ));
        }
        for (index, message) in messages.iter().enumerate() {
            chat_message(self.account, message, start, self.local_now)
                .map_err(|e| e.with_param(crate::methods::MESSAGE_INDEX, index))?;
        }
        Ok(())
    }
}

fn chat_message(
    account: &Account,
    value: &Value,
    start: NaiveDateTime,
    local_now: NaiveDateTime,
) -> Result<(), RpcError> {
    let message = Fields::of(value, "messages", "messages")?;
    message.only(&["date_time", "source", "employee_id", "message"])?;
    let date_time = message.req_date_time("date_time")?;
    not_in_future("messages.date_time", date_time, local_now)?;
    // "Должна быть позже чем start_date_time": a message at the chat's start is refused.
    if date_time <= start {
        return Err(RpcError::invalid_date_time(
            "messages.date_time",
            &Value::String(fmt(date_time)),
        )
        .with_param("start_date_time", fmt(start)));
    }
    let source = message.req_enum("source", &["operator", "visitor", "system"])?;
    message.req_str("message")?;
    match message.opt_int("employee_id")? {
        None if source == "operator" => {
            Err(RpcError::required_parameter_missed("messages.employee_id"))
        }
        None => Ok(()),
        Some(id) if account.seed.employees.iter().any(|e| e.id == id) => Ok(()),
        Some(id) => Err(RpcError::entity_not_found(
            "messages.employee_id",
            &json!(id),
        )),
    }
}
