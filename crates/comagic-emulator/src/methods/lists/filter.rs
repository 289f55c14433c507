//! The `filter` of a `get.*` call (a simple condition or a tree of them), and the value order
//! that filters and `sort` share.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::spec::ListSpec;
use crate::params::Fields;
use crate::rpc::RpcError;

const OPERATORS: &[&str] = &[
    "=",
    "!=",
    "<",
    ">",
    "<=",
    ">=",
    "like",
    "ilike",
    "not_like",
    "not_ilike",
    "in",
    "not_in",
    "is_null",
    "is_not_null",
];

/// Evaluate a filter (simple or tree) on a row. Every branch is evaluated (no short-circuit) so
/// that validation errors surface regardless of the data.
pub(super) fn matches(
    filter: &Value,
    row: &Map<String, Value>,
    spec: &ListSpec,
) -> Result<bool, RpcError> {
    let node = Fields::of(filter, "filter", "filter")?;
    if node.has("filters") {
        node.only(&["filters", "condition"])?;
        let any = node.opt_enum("condition", &["and", "or"])? == Some("or");
        let results = node
            .req_array("filters")?
            .iter()
            .map(|f| matches(f, row, spec))
            .collect::<Result<Vec<bool>, _>>()?;
        return Ok(if any {
            results.iter().any(|r| *r)
        } else {
            results.iter().all(|r| *r)
        });
    }
    node.only(&["field", "operator", "value"])?;
    let field = node.req_str("field")?;
    spec.check(field, false, "filter.field")?;
    let operator = node.req_enum("operator", OPERATORS)?;
    let expected = node.map().get("value").unwrap_or(&Value::Null);
    let actual = row.get(field).unwrap_or(&Value::Null);
    let as_list = || {
        expected
            .as_array()
            .ok_or_else(|| RpcError::invalid_parameter_value("filter.value", expected))
    };
    let as_pattern = || {
        expected
            .as_str()
            .ok_or_else(|| RpcError::invalid_parameter_value("filter.value", expected))
    };
    let text = actual.as_str().unwrap_or("");
    Ok(match operator {
        "=" => {
            actual == expected || compare(actual, expected) == Ordering::Equal && !actual.is_null()
        }
        "!=" => {
            !(actual == expected
                || compare(actual, expected) == Ordering::Equal && !actual.is_null())
        }
        "<" => compare(actual, expected) == Ordering::Less,
        ">" => compare(actual, expected) == Ordering::Greater,
        "<=" => compare(actual, expected) != Ordering::Greater,
        ">=" => compare(actual, expected) != Ordering::Less,
        "like" => like(text, as_pattern()?),
        "not_like" => !like(text, as_pattern()?),
        "ilike" => like(&text.to_lowercase(), &as_pattern()?.to_lowercase()),
        "not_ilike" => !like(&text.to_lowercase(), &as_pattern()?.to_lowercase()),
        "in" => as_list()?
            .iter()
            .any(|v| compare(actual, v) == Ordering::Equal),
        "not_in" => !as_list()?
            .iter()
            .any(|v| compare(actual, v) == Ordering::Equal),
        "is_null" => actual.is_null(),
        _ => !actual.is_null(),
    })
}

/// Numbers numerically, strings lexically, null before everything.
pub(super) fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// SQL `LIKE` with `%` as the only wildcard.
fn like(text: &str, pattern: &str) -> bool {
    let parts: Vec<&str> = pattern.split('%').collect();
    if parts.len() == 1 {
        return text == pattern;
    }
    let (first, rest) = (parts[0], &parts[1..]);
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let (last, middle) = match rest.split_last() {
        Some(split) => split,
        None => return true,
    };
    for part in middle {
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_wildcards() {
        let cases = [
            ("shop.example.ru", "%example%", true),
            ("shop.example.ru", "shop%", true),
            ("shop.example.ru", "%.ru", true),
            ("shop.example.ru", "%.com", false),
            ("abc", "abc", true),
            ("abcd", "abc", false),
            ("aXbXc", "a%b%c", true),
        ];
        for (text, pattern, expected) in cases {
            assert_eq!(like(text, pattern), expected, "{text:?} like {pattern:?}");
        }
    }
}
