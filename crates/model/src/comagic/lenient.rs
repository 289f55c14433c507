//! Tolerant readers for response fields: CoMagic sends `null` for empty values and, in some
//! samples, numbers as strings or floats.

use serde::{Deserialize, Deserializer};

/// Declares a struct of optional counts, each read with [`loose_i64`] and left out of the JSON
/// when absent — the attribute written once rather than on every field.
macro_rules! loose_counts {
    ($(#[$meta:meta])* pub struct $name:ident { $($field:ident),+ $(,)? }) => {
        $(#[$meta])*
        pub struct $name {
            $(
                #[serde(
                    skip_serializing_if = "Option::is_none",
                    deserialize_with = "crate::comagic::lenient::loose_i64"
                )]
                pub $field: Option<i64>,
            )+
        }
    };
}
pub(crate) use loose_counts;

/// `null` or missing → `T::default()`.
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A whole number sent as an integer, a float (rounded up: it is used for waiting) or a
/// numeric string; anything else reads as absent rather than failing the whole response.
pub(crate) fn loose_i64<'de, D>(d: D) -> Result<Option<i64>, D::Error>
where
    D: Deserializer<'de>,
{
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(value.as_ref().and_then(value_to_i64))
}

fn value_to_i64(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f.ceil() as i64)
        }),
        serde_json::Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(|f| f.ceil() as i64)
            })
        }
        _ => None,
    }
}
