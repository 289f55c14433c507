//! A tenant's field map: per meaning of the alias table, dotted paths into the payload
//! (`lead.contact_phone`, `visitor.phones.0`) tried before the built-in aliases. It lets an
//! operator teach the parser a payload shape Leadback started sending, without a release.
//!
//! [`Lookup`] is the one place the event reader asks "where is meaning M in this object": the
//! tenant's paths first, in order, then the aliases; it also says which path answered.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::aliases;

/// Longest path accepted, in characters, and most steps in one path.
pub const MAX_PATH_CHARS: usize = 256;
pub const MAX_PATH_STEPS: usize = 16;
/// Most paths per meaning.
pub const MAX_PATHS_PER_MEANING: usize = 16;

/// A meaning of the alias table: what the bridge reads out of a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Meaning {
    EventId,
    Kind,
    CreatedAt,
    Phone,
    Email,
    Name,
    Comment,
    ComagicSessionId,
    Site,
    PageUrl,
    Referrer,
    Ip,
    UtmSource,
    UtmMedium,
    UtmCampaign,
    UtmTerm,
    UtmContent,
    Messages,
    MessageAuthor,
    MessageTime,
    MessageText,
    OperatorPhone,
    RecordUrl,
    Status,
    Duration,
}

const UTM_SOURCE: &[&str] = &["utm_source", "utm.source", "utm.utm_source"];
const UTM_MEDIUM: &[&str] = &["utm_medium", "utm.medium", "utm.utm_medium"];
const UTM_CAMPAIGN: &[&str] = &["utm_campaign", "utm.campaign", "utm.utm_campaign"];
const UTM_TERM: &[&str] = &["utm_term", "utm.term", "utm.utm_term"];
const UTM_CONTENT: &[&str] = &["utm_content", "utm.content", "utm.utm_content"];

impl Meaning {
    /// Every meaning, in the documented order.
    pub const ALL: &'static [Meaning] = &[
        Meaning::EventId,
        Meaning::Kind,
        Meaning::CreatedAt,
        Meaning::Phone,
        Meaning::Email,
        Meaning::Name,
        Meaning::Comment,
        Meaning::ComagicSessionId,
        Meaning::Site,
        Meaning::PageUrl,
        Meaning::Referrer,
        Meaning::Ip,
        Meaning::UtmSource,
        Meaning::UtmMedium,
        Meaning::UtmCampaign,
        Meaning::UtmTerm,
        Meaning::UtmContent,
        Meaning::Messages,
        Meaning::MessageAuthor,
        Meaning::MessageTime,
        Meaning::MessageText,
        Meaning::OperatorPhone,
        Meaning::RecordUrl,
        Meaning::Status,
        Meaning::Duration,
    ];

    /// The name used in the field map's JSON (and the docs).
    pub fn as_str(self) -> &'static str {
        match self {
            Meaning::EventId => "event_id",
            Meaning::Kind => "kind",
            Meaning::CreatedAt => "created_at",
            Meaning::Phone => "phone",
            Meaning::Email => "email",
            Meaning::Name => "name",
            Meaning::Comment => "comment",
            Meaning::ComagicSessionId => "comagic_session_id",
            Meaning::Site => "site",
            Meaning::PageUrl => "page_url",
            Meaning::Referrer => "referrer",
            Meaning::Ip => "ip",
            Meaning::UtmSource => "utm_source",
            Meaning::UtmMedium => "utm_medium",
            Meaning::UtmCampaign => "utm_campaign",
            Meaning::UtmTerm => "utm_term",
            Meaning::UtmContent => "utm_content",
            Meaning::Messages => "messages",
            Meaning::MessageAuthor => "message_author",
            Meaning::MessageTime => "message_time",
            Meaning::MessageText => "message_text",
            Meaning::OperatorPhone => "operator_phone",
            Meaning::RecordUrl => "record_url",
            Meaning::Status => "status",
            Meaning::Duration => "duration",
        }
    }

    pub fn parse(name: &str) -> Option<Meaning> {
        Meaning::ALL.iter().copied().find(|m| m.as_str() == name)
    }

    /// The built-in aliases, tried after the tenant's paths.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Meaning::EventId => aliases::EVENT_ID,
            Meaning::Kind => aliases::KIND,
            Meaning::CreatedAt => aliases::CREATED_AT,
            Meaning::Phone => aliases::PHONE,
            Meaning::Email => aliases::EMAIL,
            Meaning::Name => aliases::NAME,
            Meaning::Comment => aliases::COMMENT,
            Meaning::ComagicSessionId => aliases::COMAGIC_SESSION_ID,
            Meaning::Site => aliases::SITE,
            Meaning::PageUrl => aliases::PAGE_URL,
            Meaning::Referrer => aliases::REFERRER,
            Meaning::Ip => aliases::IP,
            Meaning::UtmSource => UTM_SOURCE,
            Meaning::UtmMedium => UTM_MEDIUM,
            Meaning::UtmCampaign => UTM_CAMPAIGN,
            Meaning::UtmTerm => UTM_TERM,
            Meaning::UtmContent => UTM_CONTENT,
            Meaning::Messages => aliases::MESSAGES,
            Meaning::MessageAuthor => aliases::MESSAGE_AUTHOR,
            Meaning::MessageTime => aliases::MESSAGE_TIME,
            Meaning::MessageText => aliases::MESSAGE_TEXT,
            Meaning::OperatorPhone => aliases::OPERATOR_PHONE,
            Meaning::RecordUrl => aliases::RECORD_URL,
            Meaning::Status => aliases::STATUS,
            Meaning::Duration => aliases::DURATION,
        }
    }

    /// Whether paths of this meaning are read inside each chat message rather than the payload.
    pub fn is_per_message(self) -> bool {
        matches!(
            self,
            Meaning::MessageAuthor | Meaning::MessageTime | Meaning::MessageText
        )
    }
}

impl fmt::Display for Meaning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated dotted path: non-empty steps of printable characters without spaces; a step of
/// digits also indexes an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath(String);

impl FieldPath {
    pub fn parse(text: &str) -> Result<FieldPath, String> {
        if text.is_empty() {
            return Err("the path is empty".into());
        }
        if text.chars().count() > MAX_PATH_CHARS {
            return Err(format!(
                "the path is longer than {MAX_PATH_CHARS} characters"
            ));
        }
        if let Some(bad) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "the path holds {bad:?}; use dots between keys, no spaces"
            ));
        }
        let steps: Vec<&str> = text.split('.').collect();
        if steps.iter().any(|s| s.is_empty()) {
            return Err("the path has an empty step (two dots, or a dot at an end)".into());
        }
        if steps.len() > MAX_PATH_STEPS {
            return Err(format!("the path has more than {MAX_PATH_STEPS} steps"));
        }
        Ok(FieldPath(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value at this path: each step a key (case-insensitive, like the aliases) or, in an
    /// array, an index.
    pub fn get<'a>(&self, object: &'a Map<String, Value>) -> Option<&'a Value> {
        get_indexed(object, &self.0)
    }
}

/// [`aliases::get_path`] that also steps into arrays by index (`phones.0`).
fn get_indexed<'a>(object: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut steps = path.split('.');
    let mut current = aliases::get_ci(object, steps.next()?)?;
    for step in steps {
        current = match current {
            Value::Object(map) => aliases::get_ci(map, step)?,
            Value::Array(items) => items.get(step.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Why a field map was refused; `entry` names the offending entry (`phone`, `phone[1]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry}: {message}")]
pub struct FieldMapError {
    pub entry: String,
    pub message: String,
}

/// A tenant's field map. Empty: the built-in aliases alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldMap {
    paths: BTreeMap<Meaning, Vec<FieldPath>>,
}

impl FieldMap {
    /// Reads the JSON form: an object of meaning → list of paths. Every problem is reported
    /// (the first per entry), each naming its entry.
    pub fn from_json(value: &Value) -> Result<FieldMap, Vec<FieldMapError>> {
        let object = value.as_object().ok_or_else(|| {
            vec![FieldMapError {
                entry: "field_map".into(),
                message: "expected a JSON object of meaning → list of paths".into(),
            }]
        })?;
        let mut errors = Vec::new();
        let mut paths = BTreeMap::new();
        for (name, list) in object {
            let error = |message: String| FieldMapError {
                entry: name.clone(),
                message,
            };
            let Some(meaning) = Meaning::parse(name) else {
                let known: Vec<&str> = Meaning::ALL.iter().map(|m| m.as_str()).collect();
                errors.push(error(format!(
                    "unknown meaning; known: {}",
                    known.join(", ")
                )));
                continue;
            };
            let Some(items) = list.as_array() else {
                errors.push(error("expected a list of dotted paths".into()));
                continue;
            };
            if items.len() > MAX_PATHS_PER_MEANING {
                errors.push(error(format!("more than {MAX_PATHS_PER_MEANING} paths")));
                continue;
            }
            let mut parsed = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let checked = item
                    .as_str()
                    .ok_or_else(|| "expected a string".to_owned())
                    .and_then(FieldPath::parse);
                match checked {
                    Ok(path) => parsed.push(path),
                    Err(message) => errors.push(FieldMapError {
                        entry: format!("{name}[{index}]"),
                        message,
                    }),
                }
            }
            if !parsed.is_empty() {
                paths.insert(meaning, parsed);
            }
        }
        if errors.is_empty() {
            Ok(FieldMap { paths })
        } else {
            Err(errors)
        }
    }

    /// The JSON form (meanings without paths left out).
    pub fn to_json(&self) -> Value {
        let object: Map<String, Value> = self
            .paths
            .iter()
            .map(|(meaning, paths)| {
                let list = paths.iter().map(|p| Value::from(p.as_str())).collect();
                (meaning.as_str().to_owned(), Value::Array(list))
            })
            .collect();
        Value::Object(object)
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The tenant's paths for `meaning` (possibly none).
    pub fn paths(&self, meaning: Meaning) -> &[FieldPath] {
        self.paths.get(&meaning).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn lookup(&self) -> Lookup<'_> {
        Lookup { map: self }
    }
}

/// Where a value was found: a path of the tenant's map, or a built-in alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    FieldMap(String),
    Alias(&'static str),
}

impl Source {
    pub fn path(&self) -> &str {
        match self {
            Source::FieldMap(path) => path,
            Source::Alias(alias) => alias,
        }
    }
}

/// Finds meanings in a payload object: the field map's paths, then the aliases.
#[derive(Debug, Clone, Copy)]
pub struct Lookup<'a> {
    map: &'a FieldMap,
}

impl<'a> Lookup<'a> {
    /// The built-in aliases alone.
    pub fn builtin() -> Lookup<'static> {
        static EMPTY: FieldMap = FieldMap {
            paths: BTreeMap::new(),
        };
        Lookup { map: &EMPTY }
    }

    /// The first candidate whose value `parse` accepts, and where it was.
    pub fn find<T>(
        &self,
        object: &Map<String, Value>,
        meaning: Meaning,
        mut parse: impl FnMut(&Value) -> Option<T>,
    ) -> Option<(T, Source)> {
        let mapped = self.map.paths(meaning).iter().find_map(|path| {
            let value = path.get(object)?;
            parse(value).map(|found| (found, Source::FieldMap(path.as_str().to_owned())))
        });
        mapped.or_else(|| {
            meaning.aliases().iter().find_map(|alias| {
                let value = aliases::get_path(object, alias)?;
                parse(value).map(|found| (found, Source::Alias(alias)))
            })
        })
    }

    /// The first candidate value `parse` accepts.
    pub fn parsed<T>(
        &self,
        object: &Map<String, Value>,
        meaning: Meaning,
        parse: impl FnMut(&Value) -> Option<T>,
    ) -> Option<T> {
        self.find(object, meaning, parse).map(|(found, _)| found)
    }

    /// The first candidate holding non-empty scalar text.
    pub fn text(&self, object: &Map<String, Value>, meaning: Meaning) -> Option<String> {
        self.parsed(object, meaning, aliases::scalar_text)
    }
}
