//! The raw webhook body turned into one tree: JSON, urlencoded and multipart forms (PHP-style
//! bracket keys nested), and GET query strings all become a `serde_json::Value`, so the alias
//! lookups, the ping test and the event id never care which format Leadback used.

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::aliases;
use crate::event::detect_kind;
use crate::event_id::EventId;

/// Deepest nesting accepted, in JSON and in bracketed form keys (PHP's `max_input_nesting_level`).
pub const MAX_DEPTH: usize = 64;

/// Most fields read from a form, multipart body or query string (PHP's `max_input_vars`); a
/// Leadback event has a few dozen.
pub const MAX_FIELDS: usize = 1000;

/// Why a body cannot be read as an event; the text is given back to the sender as the 400 reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("invalid JSON at line {line} column {column}: {reason}")]
    InvalidJson {
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("nesting deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("more than {MAX_FIELDS} form fields")]
    TooManyFields,
    #[error("body is not valid UTF-8 (invalid byte at offset {offset})")]
    InvalidUtf8 { offset: usize },
    #[error("form field {field:?} is not valid UTF-8 after percent-decoding")]
    InvalidFormEncoding { field: String },
    #[error("unsupported content type {0:?} (expected JSON, an urlencoded or multipart form)")]
    UnsupportedContentType(String),
    #[error("multipart content type without a boundary")]
    MissingBoundary,
    #[error("invalid multipart body: {0}")]
    Multipart(String),
}

/// A parsed webhook body. Usually a JSON object; other JSON values are kept as they are so that
/// nothing that parses is lost (the worker dead-letters what it cannot map).
#[derive(Debug, Clone, PartialEq)]
pub struct RawPayload {
    value: Value,
}

/// The body formats the bridge reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Form,
    Multipart,
}

impl RawPayload {
    /// Parses a POST body by its content type. A missing or generic type (`text/plain`,
    /// `application/octet-stream`, anything unknown) is sniffed: `{` or `[` → JSON, else form.
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<RawPayload, BodyError> {
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        let mime = content_type
            .map(|ct| {
                ct.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        let format = match mime.as_str() {
            "application/json" | "text/json" | "application/javascript" => Format::Json,
            m if m.ends_with("+json") => Format::Json,
            "application/x-www-form-urlencoded" => Format::Form,
            "multipart/form-data" => Format::Multipart,
            m if m.starts_with("multipart/")
                || m.contains("xml")
                || m.starts_with("image/")
                || m.starts_with("audio/")
                || m.starts_with("video/")
                || m.starts_with("font/") =>
            {
                return Err(BodyError::UnsupportedContentType(mime));
            }
            _ => sniff(body),
        };
        let value = match format {
            Format::Json => parse_json(body)?,
            Format::Form => parse_form(body)?,
            Format::Multipart => {
                let boundary = content_type
                    .and_then(|ct| multer::parse_boundary(ct).ok())
                    .ok_or(BodyError::MissingBoundary)?;
                parse_multipart(body, boundary)?
            }
        };
        Ok(RawPayload { value })
    }

    /// Parses a GET query string (with or without the leading `?`) like an urlencoded form.
    pub fn from_query(query: &str) -> Result<RawPayload, BodyError> {
        let query = query.strip_prefix('?').unwrap_or(query);
        Ok(RawPayload {
            value: parse_form(query.as_bytes())?,
        })
    }

    /// Wraps an already parsed tree (replays, tests).
    pub fn from_value(value: Value) -> RawPayload {
        RawPayload { value }
    }

    /// The parsed tree.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// Whether this is Leadback's save-time test request rather than an event: an empty body,
    /// or an object holding a test marker (`test`, `ping`, `check`, or `event`/`type` = `test`)
    /// and none of the fields an event carries (contact, messages, comment, callback extras).
    pub fn is_ping(&self) -> bool {
        match &self.value {
            Value::Null => true,
            Value::String(s) => {
                let s = s.trim().to_ascii_lowercase();
                s.is_empty() || aliases::TEST_KIND_VALUES.contains(&s.as_str())
            }
            Value::Array(items) => items.is_empty(),
            Value::Bool(_) | Value::Number(_) => false,
            Value::Object(map) => {
                map.is_empty() || (has_test_marker(map) && !has_event_fields(map))
            }
        }
    }

    /// The event's stable id: the Leadback id qualified by the kind when the body carries one
    /// (a call and a chat may share a number), else a SHA-256 of the canonical body, so a
    /// redelivered body gets the same id whatever its key order or format.
    pub fn event_id(&self) -> EventId {
        if let Some(map) = self.value.as_object() {
            if let Some(id) = aliases::first_text(map, aliases::EVENT_ID) {
                let kind = detect_kind(map);
                if let Ok(event_id) = EventId::from_leadback(&format!("{}:{id}", kind.as_str())) {
                    return event_id;
                }
            }
        }
        EventId::from_body_hash(&canonical_bytes(&self.value))
    }
}

fn sniff(body: &[u8]) -> Format {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | Some(b'[') => Format::Json,
        _ => Format::Form,
    }
}

fn has_test_marker(map: &Map<String, Value>) -> bool {
    let key_marker = map
        .keys()
        .any(|k| aliases::is_one_of(k, aliases::TEST_MARKERS));
    let kind_marker = ["event", "type"].iter().any(|alias| {
        aliases::get_ci(map, alias)
            .and_then(aliases::scalar_text)
            .is_some_and(|v| aliases::is_one_of(&v, aliases::TEST_KIND_VALUES))
    });
    key_marker || kind_marker
}

fn has_event_fields(map: &Map<String, Value>) -> bool {
    let text_groups: [&[&str]; 7] = [
        aliases::PHONE,
        aliases::EMAIL,
        aliases::NAME,
        aliases::COMMENT,
        aliases::OPERATOR_PHONE,
        aliases::RECORD_URL,
        aliases::COMAGIC_SESSION_ID,
    ];
    text_groups
        .iter()
        .any(|group| aliases::first_text(map, group).is_some())
        || aliases::message_list(map).is_some_and(|list| !list.is_empty())
}

fn check_utf8(body: &[u8]) -> Result<&str, BodyError> {
    std::str::from_utf8(body).map_err(|e| BodyError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })
}

fn parse_json(body: &[u8]) -> Result<Value, BodyError> {
    let text = check_utf8(body)?;
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    // serde_json stops at 128 levels with an error (never a stack overflow); we are stricter.
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let full = e.to_string();
        let reason = match full.rfind(" at line ") {
            Some(idx) => full[..idx].to_owned(),
            None => full,
        };
        BodyError::InvalidJson {
            line: e.line(),
            column: e.column(),
            reason,
        }
    })?;
    if depth(&value) > MAX_DEPTH {
        return Err(BodyError::TooDeep);
    }
    Ok(value)
}

/// Nesting depth; a scalar is 0, `{}` is 1. Bounded by serde_json's own limit, so recursion is safe.
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn decode_component(raw: &[u8]) -> Result<String, Vec<u8>> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    let decoded: Vec<u8> = percent_encoding::percent_decode(&plus_as_space).collect();
    String::from_utf8(decoded).map_err(|e| e.into_bytes())
}

fn parse_form(body: &[u8]) -> Result<Value, BodyError> {
    check_utf8(body)?;
    let mut builder = FormBuilder::default();
    for pair in body.split(|&b| b == b'&') {
        if pair.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let (raw_key, raw_value) = match pair.iter().position(|&b| b == b'=') {
            Some(idx) => (&pair[..idx], &pair[idx + 1..]),
            None => (pair, &b""[..]),
        };
        let key = decode_component(raw_key).map_err(|bytes| BodyError::InvalidFormEncoding {
            field: String::from_utf8_lossy(&bytes).into_owned(),
        })?;
        let value = decode_component(raw_value)
            .map_err(|_| BodyError::InvalidFormEncoding { field: key.clone() })?;
        builder.insert(&key, value)?;
    }
    Ok(builder.finish())
}

/// Polls a future that only ever waits on an in-memory stream: it is always ready, so no
/// executor is needed. A bounded loop guards against a future that would wait anyway.
fn run_ready<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1024 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Some(output);
        }
    }
    None
}

fn parse_multipart(body: &[u8], boundary: String) -> Result<Value, BodyError> {
    let chunk = bytes::Bytes::copy_from_slice(body);
    let stream = OneChunk(Some(chunk));
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut builder = FormBuilder::default();
    let stalled = || BodyError::Multipart("the parser stalled".to_owned());
    loop {
        let field = run_ready(multipart.next_field())
            .ok_or_else(stalled)?
            .map_err(|e| BodyError::Multipart(e.to_string()))?;
        let Some(field) = field else { break };
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        let is_file = field.file_name().is_some();
        let data = run_ready(field.bytes())
            .ok_or_else(stalled)?
            .map_err(|e| BodyError::Multipart(e.to_string()))?;
        match String::from_utf8(data.to_vec()) {
            Ok(text) => builder.insert(&name, text)?,
            // A binary upload carries no event field; a binary plain field is a broken body.
            Err(_) if is_file => continue,
            Err(_) => return Err(BodyError::InvalidFormEncoding { field: name }),
        }
    }
    Ok(builder.finish())
}

/// A stream yielding the whole in-memory body once.
struct OneChunk(Option<bytes::Bytes>);

impl futures::Stream for OneChunk {
    type Item = Result<bytes::Bytes, std::convert::Infallible>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.take().map(Ok))
    }
}

/// Builds the tree PHP would build from bracketed keys: `a[b][c]=v` nests, `a[]=v` appends,
/// and objects whose keys are all indices become arrays at the end. Each level keeps its next
/// append index and a key → position table, so every field costs the same however many
/// siblings came before it (rescanning the siblings made 43,000 `a[]=1` take seconds).
#[derive(Default)]
struct FormBuilder {
    root: Branch,
    fields: usize,
}

/// One level of the tree under construction, in first-insertion order (as PHP keeps it).
#[derive(Default)]
struct Branch {
    positions: HashMap<String, usize>,
    entries: Vec<(String, Node)>,
    /// What `[]` appends as: one past the largest integer key so far.
    next_index: u64,
}

enum Node {
    Leaf(String),
    Branch(Branch),
}

impl FormBuilder {
    fn insert(&mut self, key: &str, value: String) -> Result<(), BodyError> {
        self.fields += 1;
        if self.fields > MAX_FIELDS {
            return Err(BodyError::TooManyFields);
        }
        let segments = split_key(key);
        if segments.len() > MAX_DEPTH {
            return Err(BodyError::TooDeep);
        }
        let Some((first, rest)) = segments.split_first() else {
            return Ok(());
        };
        // PHP drops fields with an empty base name (`=x`, `[a]=x`).
        if first.is_empty() {
            return Ok(());
        }
        self.root.insert(first, rest, value);
        Ok(())
    }

    fn finish(self) -> Value {
        self.root.into_value()
    }
}

impl Branch {
    fn insert(&mut self, key: &str, rest: &[String], value: String) {
        let key = if key.is_empty() {
            self.next_index.to_string()
        } else {
            key.to_owned()
        };
        if let Ok(index) = key.parse::<u64>() {
            self.next_index = self.next_index.max(index.saturating_add(1));
        }
        let slot = self.slot(key);
        match rest.split_first() {
            None => *slot = Node::Leaf(value),
            Some((next, tail)) => {
                if !matches!(slot, Node::Branch(_)) {
                    *slot = Node::Branch(Branch::default());
                }
                if let Node::Branch(child) = slot {
                    child.insert(next, tail, value);
                }
            }
        }
    }

    /// The entry of `key`, created (as an empty leaf) at the end when new.
    fn slot(&mut self, key: String) -> &mut Node {
        let position = match self.positions.get(&key) {
            Some(&position) => position,
            None => {
                let position = self.entries.len();
                self.positions.insert(key.clone(), position);
                self.entries.push((key, Node::Leaf(String::new())));
                position
            }
        };
        &mut self.entries[position].1
    }

    fn into_value(self) -> Value {
        if !self.entries.is_empty() && self.entries.iter().all(|(k, _)| is_index(k)) {
            let mut items: Vec<(u64, Value)> = self
                .entries
                .into_iter()
                .filter_map(|(k, v)| k.parse::<u64>().ok().map(|i| (i, v.into_value())))
                .collect();
            items.sort_by_key(|(i, _)| *i);
            Value::Array(items.into_iter().map(|(_, v)| v).collect())
        } else {
            Value::Object(
                self.entries
                    .into_iter()
                    .map(|(k, v)| (k, v.into_value()))
                    .collect(),
            )
        }
    }
}

impl Node {
    fn into_value(self) -> Value {
        match self {
            Node::Leaf(text) => Value::String(text),
            Node::Branch(branch) => branch.into_value(),
        }
    }
}

/// `a[b][]` → `["a", "b", ""]`; a key with an unclosed bracket is taken literally.
fn split_key(key: &str) -> Vec<String> {
    let Some(open) = key.find('[') else {
        return vec![key.to_owned()];
    };
    let mut segments = vec![key[..open].to_owned()];
    let mut rest = &key[open..];
    while let Some(stripped) = rest.strip_prefix('[') {
        let Some(close) = stripped.find(']') else {
            return vec![key.to_owned()];
        };
        segments.push(stripped[..close].to_owned());
        rest = &stripped[close + 1..];
        // Past the cap already: no need to split the rest of a hostile key.
        if segments.len() > MAX_DEPTH {
            break;
        }
    }
    segments
}

fn is_index(key: &str) -> bool {
    !key.is_empty()
        && key.bytes().all(|b| b.is_ascii_digit())
        && (key == "0" || !key.starts_with('0'))
        && key.parse::<u64>().is_ok()
}

/// The canonical byte form hashed into body ids: keys sorted, scalars written as text (a form
/// cannot tell `94` from `"94"`), so JSON and form deliveries of the same data agree.
pub fn canonical_bytes(value: &Value) -> Vec<u8> {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out.into_bytes()
}

fn write_canonical(value: &Value, out: &mut String) {
    let quote = |s: &str, out: &mut String| {
        out.push_str(&Value::String(s.to_owned()).to_string());
    };
    match value {
        Value::Null => quote("", out),
        Value::Bool(b) => quote(&b.to_string(), out),
        Value::Number(n) => quote(&n.to_string(), out),
        Value::String(s) => quote(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                quote(k, out);
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
    }
}

/// SHA-256 of `bytes` as lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
