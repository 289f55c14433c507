//! Strict reading of a settings document: the field names a derived `Deserialize` accepts (read
//! from the derive itself, so fields added later are covered), the nearest known name for a
//! typo, and which field a type error belongs to.

use serde::de::{self, Deserialize, Deserializer, Visitor};

use crate::reasons::Reason;

/// The field names of a struct with a derived `Deserialize` (without `flatten`), as they appear
/// in JSON (renames applied). Empty for anything that is not deserialized as a struct.
pub fn struct_fields<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldProbe {
        fields: &mut fields,
    });
    fields
}

/// A deserializer that only records the field list a struct asks for, then stops.
struct FieldProbe<'a> {
    fields: &'a mut &'static [&'static str],
}

impl<'de> Deserializer<'de> for FieldProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.fields = fields;
        Err(de::Error::custom("field probe"))
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("field probe"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The known name closest to `unknown` when it is close enough to be a typo.
pub fn nearest<'a>(unknown: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (unknown.chars().count() / 3).max(2);
    known
        .into_iter()
        .map(|name| (edit_distance(unknown, name), name))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// Why a field no struct knows is refused: the nearest known name, or all of them.
pub(crate) fn unknown_field<'a>(
    unknown: &str,
    known: impl IntoIterator<Item = &'a str> + Clone,
) -> Reason {
    Reason::UnknownField {
        nearest: nearest(unknown, known.clone()).map(str::to_owned),
        known: known.into_iter().map(str::to_owned).collect(),
    }
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Sample {
        upload_sessions: bool,
        #[serde(rename = "set_tags")]
        tags: bool,
    }

    #[test]
    fn fields_come_from_the_derive() {
        assert_eq!(struct_fields::<Sample>(), ["upload_sessions", "set_tags"]);
        assert!(struct_fields::<String>().is_empty());
    }

    #[test]
    fn typos_find_their_field() {
        let known = ["upload_sessions", "set_tags", "tag_ids"];
        assert_eq!(nearest("upload_session", known), Some("upload_sessions"));
        assert_eq!(nearest("set_tag", known), Some("set_tags"));
        assert_eq!(nearest("colour", known), None);
        assert!(unknown_field("colour", known).english().contains("tag_ids"));
    }
}
