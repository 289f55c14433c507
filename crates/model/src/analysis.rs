//! What the parser made of a payload, for operators teaching the field map: each meaning found
//! with the path it came from (the tenant's map or a built-in alias), and the leaf keys no
//! meaning used, so an unknown shape shows where its phone or name actually is.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::aliases;
use crate::field_map::{FieldMap, Meaning, Source};

/// Deepest nesting walked for unmatched keys; deeper leaves are summarised by their parent.
const MAX_WALK_DEPTH: usize = 8;
/// Most unmatched keys listed.
const MAX_UNMATCHED: usize = 100;

/// One meaning found in a payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FoundMeaning {
    pub meaning: &'static str,
    pub path: String,
    /// `field_map` or `alias`.
    pub from: &'static str,
}

/// The parser's reading of one payload object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Analysis {
    pub found: Vec<FoundMeaning>,
    /// Dotted paths of leaf values that no found meaning covers.
    pub unmatched_keys: Vec<String>,
}

/// Reads `object` with the tenant's `field_map` (meanings inside each message are left to
/// the message list, which is reported as one meaning).
pub fn analyse(object: &Map<String, Value>, field_map: &FieldMap) -> Analysis {
    let lookup = field_map.lookup();
    let found: Vec<FoundMeaning> = Meaning::ALL
        .iter()
        .filter(|m| !m.is_per_message())
        .filter_map(|&meaning| {
            let source = if meaning == Meaning::Messages {
                lookup
                    .find(object, meaning, aliases::list_of_objects)
                    .map(|(_, source)| source)
            } else {
                lookup
                    .find(object, meaning, aliases::scalar_text)
                    .map(|(_, source)| source)
            }?;
            let from = match source {
                Source::FieldMap(_) => "field_map",
                Source::Alias(_) => "alias",
            };
            Some(FoundMeaning {
                meaning: meaning.as_str(),
                path: source.path().to_owned(),
                from,
            })
        })
        .collect();
    let used: Vec<String> = found.iter().map(|f| f.path.to_lowercase()).collect();
    let mut leaves = Vec::new();
    collect_leaves(&Value::Object(object.clone()), "", 0, &mut leaves);
    let unmatched_keys = leaves
        .into_iter()
        .filter(|leaf| {
            let lower = leaf.to_lowercase();
            !used
                .iter()
                .any(|u| lower == *u || lower.starts_with(&format!("{u}.")))
        })
        .take(MAX_UNMATCHED)
        .collect();
    Analysis {
        found,
        unmatched_keys,
    }
}

fn collect_leaves(value: &Value, prefix: &str, depth: usize, out: &mut Vec<String>) {
    let join = |key: &str| {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match value {
        Value::Object(map) if depth < MAX_WALK_DEPTH && !map.is_empty() => {
            for (key, child) in map {
                collect_leaves(child, &join(key), depth + 1, out);
            }
        }
        Value::Array(items) if depth < MAX_WALK_DEPTH && !items.is_empty() => {
            for (index, child) in items.iter().enumerate() {
                collect_leaves(child, &join(&index.to_string()), depth + 1, out);
            }
        }
        // Empty values carry nothing to map.
        Value::Null => {}
        Value::String(s) if s.trim().is_empty() => {}
        _ if !prefix.is_empty() => out.push(prefix.to_owned()),
        _ => {}
    }
}
