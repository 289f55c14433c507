//! The pure Leadback → CoMagic mapping: one [`LeadbackEvent`] and the tenant's settings in, the
//! CoMagic calls to make out ([`ComagicPlan`]). No I/O, no clock: `now` is passed in.
//!
//! Rules (docs/spec.md, comagic-api.md):
//! - callback → one `upload.offline_messages` item; chat → one `upload.chats` item;
//! - session: ignore-session → default; a CoMagic session id in the event → `visitor_session_id`;
//!   visit data with an IP and `upload_sessions` on → an `upload.sessions` call first; otherwise
//!   the tenant's default campaign, or source + site;
//! - tags by our `ext_id` when the tenant sets tags.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::comagic::{
    Attribution, Chat, ChatInitiator, ChatMessage, ChatStatus, CommunicationTagItem,
    CommunicationType, MessageSource, OfflineMessage, SetTagCommunicationsParams, UploadSession,
};
use crate::datetime::{whole_second, ComagicDateTime};
use crate::event::{EventKind, LeadbackEvent, MessageAuthor};
use crate::failure::FailureClass;
use crate::settings::{DefaultEntity, TenantSettings};
use crate::validate::{FieldError, SettingsErrors};

/// `form_name` of every offline request the bridge uploads.
pub const FORM_NAME: &str = "Leadback";
/// How long before the record an uploaded session starts: CoMagic wants the record strictly
/// after its session.
pub const SESSION_LEAD_SECONDS: i64 = 1;

/// Why an event cannot be mapped. [`class`](MappingError::class) tells the worker whether the
/// event or the tenant's settings must be fixed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// CoMagic requires a phone or an email on offline messages and chats alike.
    #[error("the {} has neither a usable phone nor an email{}", .kind.as_str(), unparsed_note(.unparsed_phone))]
    NoContact {
        kind: EventKind,
        unparsed_phone: Option<String>,
    },
    #[error("the chat has operator messages but the tenant has no chat_employee_id (CoMagic requires an employee for them)")]
    NoChatEmployee,
    #[error("the tenant has no default entity for events without a session: {missing} is not set")]
    NoDefaultEntity { missing: &'static str },
    #[error("{0}")]
    InvalidSettings(SettingsErrors),
}

fn unparsed_note(phone: &Option<String>) -> String {
    match phone {
        Some(raw) => format!(" (phone {raw:?} is not a valid number)"),
        None => String::new(),
    }
}

impl MappingError {
    /// [`FailureClass::EventPermanent`] (this event cannot be delivered as it is) or
    /// [`FailureClass::TenantPermanent`] (fixing the tenant's settings and replaying delivers it).
    pub fn class(&self) -> FailureClass {
        match self {
            MappingError::NoContact { .. } => FailureClass::EventPermanent,
            MappingError::NoChatEmployee
            | MappingError::NoDefaultEntity { .. }
            | MappingError::InvalidSettings(_) => FailureClass::TenantPermanent,
        }
    }
}

/// The record to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedRecord {
    OfflineMessage(OfflineMessage),
    Chat(Chat),
}

impl PlannedRecord {
    /// Where the record is attributed: a session, or the tenant's default entity.
    pub fn attribution(&self) -> &Attribution {
        match self {
            PlannedRecord::OfflineMessage(item) => &item.attribution,
            PlannedRecord::Chat(item) => &item.attribution,
        }
    }

    fn attribute(&mut self, to: Attribution) {
        match self {
            PlannedRecord::OfflineMessage(item) => item.attribution = to,
            PlannedRecord::Chat(item) => item.attribution = to,
        }
    }

    /// `visitor_session_id` of the record, if attributed to a session.
    pub fn visitor_session_id(&self) -> Option<i64> {
        self.attribution().visitor_session_id
    }
}

/// The CoMagic calls for one event: an optional `upload.sessions` item, the record, the tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComagicPlan {
    kind: EventKind,
    ext_id: String,
    /// Upload this session first, then call [`with_session_id`](Self::with_session_id) with
    /// CoMagic's `session_id` (or [`with_default_entity`](Self::with_default_entity) if refused).
    pub session: Option<UploadSession>,
    pub record: PlannedRecord,
    /// Tags to set on the record (empty when the tenant does not set tags).
    pub tag_ids: Vec<i64>,
}

impl ComagicPlan {
    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// Our `ext_id` for the record (and the session): `leadback:<event id>`.
    pub fn ext_id(&self) -> &str {
        &self.ext_id
    }

    pub fn record(&self) -> &PlannedRecord {
        &self.record
    }

    pub fn tag_ids(&self) -> &[i64] {
        &self.tag_ids
    }

    /// `offline_message` or `chat`, as the tag methods name the record.
    pub fn communication_type(&self) -> CommunicationType {
        match self.kind {
            EventKind::Callback => CommunicationType::OfflineMessage,
            EventKind::Chat => CommunicationType::Chat,
        }
    }

    /// Attributes the record to a CoMagic session (uploaded or given): sets
    /// `visitor_session_id`, clears campaign, source and site, and drops the session upload.
    pub fn with_session_id(&mut self, session_id: i64) {
        self.session = None;
        self.record.attribute(Attribution {
            visitor_session_id: Some(session_id),
            ..Attribution::default()
        });
    }

    /// Attributes the record to the tenant's default entity (after CoMagic refused the session
    /// upload or the `visitor_session_id`). Without a usable default the record is left with no
    /// attribution, so CoMagic refuses it and the event is dead-lettered with that reason; use
    /// [`try_with_default_entity`](Self::try_with_default_entity) to see the problem first.
    pub fn with_default_entity(&mut self, settings: &TenantSettings) {
        if self.try_with_default_entity(settings).is_err() {
            self.session = None;
            self.record.attribute(Attribution::default());
        }
    }

    /// As [`with_default_entity`](Self::with_default_entity), but reports a missing default
    /// (the plan is unchanged then).
    pub fn try_with_default_entity(
        &mut self,
        settings: &TenantSettings,
    ) -> Result<(), MappingError> {
        let target = default_attribution(self.kind, settings)?;
        self.session = None;
        self.record.attribute(target);
        Ok(())
    }

    /// `set.tag_communications` params, one call per tag, addressing the record by our
    /// `ext_id` (the documented way to reach an uploaded record without its communication id).
    pub fn tag_params(&self, tag_ids: &[i64]) -> Vec<SetTagCommunicationsParams> {
        tag_ids
            .iter()
            .map(|tag_id| {
                SetTagCommunicationsParams::by_ext_id(
                    self.ext_id.clone(),
                    self.communication_type(),
                    *tag_id,
                )
            })
            .collect()
    }

    /// `set.communications_tags` items for the given tags, addressed by our `ext_id` (the bulk
    /// method's page names only `communication_id`; see the wire type).
    pub fn tag_items(&self, tag_ids: &[i64]) -> Vec<CommunicationTagItem> {
        tag_ids
            .iter()
            .map(|tag_id| CommunicationTagItem {
                tag_id: *tag_id,
                communication_id: None,
                communication_ext_id: Some(self.ext_id.clone()),
                communication_type: self.communication_type(),
            })
            .collect()
    }
}

/// Maps one event, writing its times in the zone the settings name; see the module doc for
/// the rules.
pub fn map(
    event: &LeadbackEvent,
    settings: &TenantSettings,
    now: DateTime<Utc>,
) -> Result<ComagicPlan, MappingError> {
    map_in(event, settings, account_zone(settings)?, now)
}

/// [`map`] with the account's zone given, parsed once by the caller (the worker keeps each
/// account's zone parsed, as `get.account` last reported it, instead of the stored text).
pub fn map_in(
    event: &LeadbackEvent,
    settings: &TenantSettings,
    zone: Tz,
    now: DateTime<Utc>,
) -> Result<ComagicPlan, MappingError> {
    // Whole seconds before any comparison: CoMagic reads none finer.
    let now = whole_second(now);
    let ext_id = event.id.ext_id();
    let created = event
        .created_at
        .unwrap_or(ComagicDateTime::from_utc(now))
        .clamped_to(now);

    let (mut record, record_time) = match event.kind {
        EventKind::Callback => (
            PlannedRecord::OfflineMessage(offline_message(event, &ext_id, created, zone)?),
            created,
        ),
        EventKind::Chat => {
            let (chat, start) = chat(event, &ext_id, settings, now, zone)?;
            (PlannedRecord::Chat(chat), start)
        }
    };

    let mut session = None;
    if settings.ignore_session {
        record.attribute(default_attribution(event.kind, settings)?);
    } else if let Some(session_id) = event.comagic_session_id {
        record.attribute(Attribution {
            visitor_session_id: Some(session_id),
            ..Attribution::default()
        });
    } else if let Some(planned) = session_upload(event, settings, &ext_id, record_time, zone) {
        // The default is only a fallback here; the session is what the worker will use.
        if let Ok(target) = default_attribution(event.kind, settings) {
            record.attribute(target);
        }
        session = Some(planned);
    } else {
        record.attribute(default_attribution(event.kind, settings)?);
    }

    let mut tag_ids = Vec::new();
    if settings.set_tags {
        for id in &settings.tag_ids {
            if !tag_ids.contains(id) {
                tag_ids.push(*id);
            }
        }
    }

    Ok(ComagicPlan {
        kind: event.kind,
        ext_id,
        session,
        record,
        tag_ids,
    })
}

/// Maps one event straight to the tenant's default entity, ignoring any session data.
pub fn map_with_default(
    event: &LeadbackEvent,
    settings: &TenantSettings,
    now: DateTime<Utc>,
) -> Result<ComagicPlan, MappingError> {
    let forced = TenantSettings {
        ignore_session: true,
        ..settings.clone()
    };
    map(event, &forced, now)
}

fn account_zone(settings: &TenantSettings) -> Result<Tz, MappingError> {
    settings.time_zone().ok_or_else(|| {
        MappingError::InvalidSettings(SettingsErrors {
            errors: vec![FieldError {
                field: "timezone",
                message: format!(
                    "{:?} is not an IANA time zone name",
                    settings.timezone.as_deref().unwrap_or_default()
                ),
            }],
        })
    })
}

/// The tenant's default entity for a record of `kind`.
fn default_attribution(
    kind: EventKind,
    settings: &TenantSettings,
) -> Result<Attribution, MappingError> {
    let missing = |field| MappingError::NoDefaultEntity { missing: field };
    match settings.default_entity {
        DefaultEntity::Campaign => {
            let campaign = settings
                .default_campaign_id
                .ok_or(missing("default_campaign_id"))?;
            if campaign == -1 {
                let site = settings.default_site_id.ok_or(missing("default_site_id"))?;
                // Chats may not name campaign -1: a site alone lands in "visitors without campaign".
                let campaign_id = match kind {
                    EventKind::Callback => Some(-1),
                    EventKind::Chat => None,
                };
                Ok(Attribution {
                    campaign_id,
                    site_id: Some(site),
                    ..Attribution::default()
                })
            } else {
                // A regular campaign belongs to one site already; naming a site with it risks
                // `invalid_parameters_combination` when the two disagree, so no site goes along.
                Ok(Attribution {
                    campaign_id: Some(campaign),
                    ..Attribution::default()
                })
            }
        }
        DefaultEntity::Source => {
            let source = settings
                .default_source_id
                .ok_or(missing("default_source_id"))?;
            let site = settings.default_site_id.ok_or(missing("default_site_id"))?;
            Ok(Attribution {
                source_id: Some(source),
                site_id: Some(site),
                ..Attribution::default()
            })
        }
    }
}

/// The `upload.sessions` item, when the tenant uploads sessions and the event has visit data
/// (UTM, referrer or landing page: an IP alone is no visit), an IP (required by CoMagic) and
/// the tenant a site.
fn session_upload(
    event: &LeadbackEvent,
    settings: &TenantSettings,
    ext_id: &str,
    record_time: ComagicDateTime,
    zone: Tz,
) -> Option<UploadSession> {
    if !settings.upload_sessions || !event.has_visit_data() {
        return None;
    }
    let ip = event.ip?;
    let site_id = settings.default_site_id?;
    let started =
        ComagicDateTime::from_utc(record_time.utc() - Duration::seconds(SESSION_LEAD_SECONDS));
    let mut session = UploadSession::new(
        ext_id,
        site_id,
        started.format_in(zone),
        true,
        ip.to_string(),
    );
    session.utm_source = event.utm.source.clone();
    session.utm_medium = event.utm.medium.clone();
    session.utm_campaign = event.utm.campaign.clone();
    session.utm_term = event.utm.term.clone();
    session.utm_content = event.utm.content.clone();
    session.referrer = event.referrer.clone();
    session.entrance_page_url = event.page_url.clone();
    Some(session)
}

fn offline_message(
    event: &LeadbackEvent,
    ext_id: &str,
    created: ComagicDateTime,
    zone: Tz,
) -> Result<OfflineMessage, MappingError> {
    let contact = &event.contact;
    require_contact(event)?;
    Ok(OfflineMessage {
        date_time: created.format_in(zone),
        name: contact.name.clone(),
        phone: contact.phone.as_ref().map(|p| p.as_str().to_owned()),
        email: contact.email.as_ref().map(|e| e.as_str().to_owned()),
        message: callback_message(event),
        form_name: Some(FORM_NAME.to_owned()),
        ext_id: Some(ext_id.to_owned()),
        ..OfflineMessage::default()
    })
}

/// CoMagic refuses records with neither a phone nor an email (`upload.offline_messages` and
/// `upload.chats` both list them as required); such an event is dead-lettered with this reason.
fn require_contact(event: &LeadbackEvent) -> Result<(), MappingError> {
    let contact = &event.contact;
    if contact.phone.is_none() && contact.email.is_none() {
        return Err(MappingError::NoContact {
            kind: event.kind,
            unparsed_phone: contact.phone_unparsed.clone(),
        });
    }
    Ok(())
}

/// The one message of a chat Leadback sent without any (read in CoMagic's Russian interface).
pub const NO_TRANSCRIPT: &str = "Чат без сообщений: Leadback не передал переписку";

/// The contact values that could not be parsed, labelled as in the callback's text; a chat
/// keeps them as a final `system` message.
fn unparsed_contact_lines(event: &LeadbackEvent) -> Vec<String> {
    [
        ("Телефон (не распознан)", &event.contact.phone_unparsed),
        ("Email (не распознан)", &event.contact.email_unparsed),
    ]
    .into_iter()
    .filter_map(|(label, value)| value.as_ref().map(|v| format!("{label}: {v}")))
    .collect()
}

/// The visitor's comment, then one line per callback detail CoMagic has no field for.
/// Labels are Russian: the text is read in CoMagic's (Russian) interface.
fn callback_message(event: &LeadbackEvent) -> Option<String> {
    let extras = &event.callback;
    let duration = extras.duration.as_ref().map(|d| {
        if d.parse::<u64>().is_ok() {
            format!("{d} с")
        } else {
            d.clone()
        }
    });
    let lines: Vec<String> = [
        ("Телефон оператора", extras.operator_phone.clone()),
        ("Статус звонка", extras.status.clone()),
        ("Длительность", duration),
        ("Запись разговора", extras.record_url.clone()),
        ("Страница", event.page_url.clone()),
    ]
    .into_iter()
    .filter_map(|(label, value)| value.map(|v| format!("{label}: {v}")))
    .chain(unparsed_contact_lines(event))
    .collect();
    let mut text = event.comment.clone().unwrap_or_default();
    if !lines.is_empty() {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&lines.join("\n"));
    }
    (!text.is_empty()).then_some(text)
}

/// The chat and its start time.
fn chat(
    event: &LeadbackEvent,
    ext_id: &str,
    settings: &TenantSettings,
    now: DateTime<Utc>,
    zone: Tz,
) -> Result<(Chat, ComagicDateTime), MappingError> {
    require_contact(event)?;
    // Messages whose author is unknown count as the visitor's: that needs no employee, and a
    // Leadback chat is opened by a visitor.
    let authors: Vec<MessageAuthor> = event
        .messages
        .iter()
        .map(|m| m.author.unwrap_or(MessageAuthor::Visitor))
        .collect();
    let has_operator = authors.contains(&MessageAuthor::Operator);
    let has_visitor = authors.contains(&MessageAuthor::Visitor);
    let employee_id = match (has_operator, settings.chat_employee_id) {
        (true, None) => return Err(MappingError::NoChatEmployee),
        (_, employee) => employee,
    };

    // The chat starts at the earliest of its creation time and its messages' times.
    let earliest_message = event.messages.iter().filter_map(|m| m.time).min();
    let start = match (event.created_at, earliest_message) {
        (Some(created), Some(first)) => created.min(first),
        (created, first) => created.or(first).unwrap_or(ComagicDateTime::from_utc(now)),
    };
    let mut start = start.utc().min(now);

    // A phone or email that could not be parsed is kept as a final system message (untimed:
    // it goes after the last one), as a callback keeps it in its text. CoMagic refuses a chat
    // without messages, yet its contact is still the lead: such a chat carries one system
    // message saying Leadback sent no transcript.
    let mut note = unparsed_contact_lines(event);
    if event.messages.is_empty() {
        note.insert(0, NO_TRANSCRIPT.to_owned());
    }
    let note = (!note.is_empty()).then(|| note.join("\n"));
    let timed = event
        .messages
        .iter()
        .map(|m| m.time)
        .chain(note.as_ref().map(|_| None));

    // Each message strictly after the previous one (and the first strictly after the start),
    // never in the future, all in whole seconds: bump by a second where needed, keeping the
    // order Leadback sent.
    let mut times = Vec::with_capacity(event.messages.len() + 1);
    let mut previous = start;
    for time in timed {
        let mut at = time.map_or(previous, |t| t.utc()).min(now);
        if at <= previous {
            at = previous + Duration::seconds(1);
        }
        times.push(at);
        previous = at;
    }
    // Bumping may push the last messages past `now`: shift the whole chat back instead.
    if let Some(last) = times.last().copied() {
        if last > now {
            let overflow = last - now;
            start -= overflow;
            for at in &mut times {
                *at -= overflow;
            }
        }
    }

    let texts = event
        .messages
        .iter()
        .map(|m| m.text.clone())
        .chain(note.clone());
    let sources = authors
        .iter()
        .copied()
        .chain(note.as_ref().map(|_| MessageAuthor::System));
    let messages = texts
        .zip(sources)
        .zip(&times)
        .map(|((text, author), at)| {
            let source = match author {
                MessageAuthor::Visitor => MessageSource::Visitor,
                MessageAuthor::Operator => MessageSource::Operator,
                MessageAuthor::System => MessageSource::System,
            };
            ChatMessage {
                date_time: ComagicDateTime::from_utc(*at).format_in(zone),
                source,
                employee_id: (source == MessageSource::Operator)
                    .then_some(employee_id)
                    .flatten(),
                message: text,
            }
        })
        .collect();

    let initiator = match authors.first() {
        None | Some(MessageAuthor::Visitor) => ChatInitiator::Visitor,
        Some(MessageAuthor::Operator) => ChatInitiator::Operator,
        Some(MessageAuthor::System) => ChatInitiator::Autoinvite,
    };
    let status = if has_visitor && has_operator {
        ChatStatus::Succeed
    } else {
        ChatStatus::Lost
    };
    let start = ComagicDateTime::from_utc(start);
    let contact = &event.contact;
    let chat = Chat {
        start_date_time: start.format_in(zone),
        name: contact.name.clone(),
        phone: contact.phone.as_ref().map(|p| p.as_str().to_owned()),
        email: contact.email.as_ref().map(|e| e.as_str().to_owned()),
        status,
        initiator: Some(initiator),
        attribution: Attribution::default(),
        messages,
        ext_id: Some(ext_id.to_owned()),
    };
    Ok((chat, start))
}
