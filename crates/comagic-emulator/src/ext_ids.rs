//! Repeated `ext_id`s of offline messages and chats: what the emulator does with one
//! ([`RepeatedExtId`]) and how often each ext_id was uploaded ([`UploadCounter`]).
//!
//! general.txt says an `upload` method "при первой загрузке создает сущность, при последующих
//! запросах обновляет ее", while its create/update error table lists `duplicate_entity` ("Если
//! сущность уже существует"). Both readings are emulated; the counter lets a test prove that the
//! bridge sent each event once whichever reading CoMagic follows.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::records::RecordKind;

/// What an upload of an ext_id the account already has (stored earlier or earlier in the same
/// batch) does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RepeatedExtId {
    /// Refused with -32602 `duplicate_entity` on `ext_id`; nothing in the batch is stored.
    #[default]
    Refuse,
    /// The stored record is replaced by the new item and the call answers success with the
    /// record's existing id.
    Update,
}

/// Uploads per (account, kind, ext_id): every stored or updated item, and every item refused as
/// a repeat (`duplicate_entity`), counts once.
#[derive(Debug, Clone, Default)]
pub(crate) struct UploadCounter {
    counts: BTreeMap<(String, RecordKind, String), u32>,
}

impl UploadCounter {
    pub fn record(&mut self, account: &str, kind: RecordKind, ext_id: &str) {
        let count = self
            .counts
            .entry((account.to_owned(), kind, ext_id.to_owned()))
            .or_default();
        *count = count.saturating_add(1);
    }

    /// Uploads per ext_id, summed over accounts and kinds.
    pub fn by_ext_id(&self) -> BTreeMap<String, u32> {
        let mut by_ext_id = BTreeMap::new();
        for ((_, _, ext_id), count) in &self.counts {
            let total: &mut u32 = by_ext_id.entry(ext_id.clone()).or_default();
            *total = total.saturating_add(*count);
        }
        by_ext_id
    }

    /// Uploads beyond the first of each ext_id within one account and kind (the same ext_id in
    /// two accounts is two first uploads, not a repeat).
    pub fn reuploads(&self) -> u64 {
        self.counts
            .values()
            .map(|count| u64::from(count.saturating_sub(1)))
            .sum()
    }

    /// `GET /_emulator/uploads`.
    pub fn to_json(&self) -> Value {
        json!({
            "ext_id_upload_counts": self.by_ext_id(),
            "reuploads": self.reuploads(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_counted_per_account_and_kind() {
        let mut counter = UploadCounter::default();
        counter.record("demo", RecordKind::Chat, "a");
        counter.record("demo", RecordKind::Chat, "a");
        counter.record("ekb", RecordKind::Chat, "a");
        counter.record("demo", RecordKind::OfflineMessage, "b");
        assert_eq!(counter.by_ext_id().get("a"), Some(&3));
        assert_eq!(counter.by_ext_id().get("b"), Some(&1));
        assert_eq!(counter.reuploads(), 1);
    }
}
