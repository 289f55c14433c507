//! `TenantSettings::validate`: every missing or inconsistent setting, named, so the settings
//! screen can point at each field and a tenant cannot be activated half-configured.

use std::fmt;

use chrono_tz::Tz;

use crate::settings::{DefaultEntity, TenantSettings};

/// One setting that is missing or wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

/// All problems of one settings value (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SettingsErrors {
    pub errors: Vec<FieldError>,
}

impl SettingsErrors {
    /// Whether `field` is among the problems.
    pub fn has(&self, field: &str) -> bool {
        self.errors.iter().any(|e| e.field == field)
    }
}

impl fmt::Display for SettingsErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid tenant settings: ")?;
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", error.field, error.message)?;
        }
        Ok(())
    }
}

impl TenantSettings {
    /// Checks the settings as a whole; see the module doc.
    pub fn validate(&self) -> Result<(), SettingsErrors> {
        let mut errors = Vec::new();
        let mut push = |field: &'static str, message: &str| {
            errors.push(FieldError {
                field,
                message: message.to_owned(),
            })
        };

        match self.default_entity {
            DefaultEntity::Campaign => match self.default_campaign_id {
                None => push(
                    "default_campaign_id",
                    "required when the default entity is an ad campaign",
                ),
                Some(-1) if self.default_site_id.is_none() => push(
                    "default_site_id",
                    "required with campaign -1 (visitors without campaign)",
                ),
                Some(id) if id != -1 && id <= 0 => push(
                    "default_campaign_id",
                    "must be a positive CoMagic id, or -1 (visitors without campaign)",
                ),
                Some(_) => {}
            },
            DefaultEntity::Source => {
                if self.default_source_id.is_none() {
                    push(
                        "default_source_id",
                        "required when the default entity is a source",
                    );
                }
                if self.default_site_id.is_none() {
                    push(
                        "default_site_id",
                        "required when the default entity is a source",
                    );
                }
            }
        }
        if self.default_entity == DefaultEntity::Source
            && self
                .default_campaign_id
                .is_some_and(|id| id != -1 && id <= 0)
        {
            push(
                "default_campaign_id",
                "must be a positive CoMagic id, or -1 (visitors without campaign)",
            );
        }
        let positive: [(&'static str, Option<i64>); 3] = [
            ("default_source_id", self.default_source_id),
            ("default_site_id", self.default_site_id),
            ("chat_employee_id", self.chat_employee_id),
        ];
        for (field, value) in positive {
            if value.is_some_and(|id| id <= 0) {
                push(field, "must be a positive CoMagic id");
            }
        }
        if self.chat_employee_id.is_none() {
            push(
                "chat_employee_id",
                "required: CoMagic needs an employee for operator messages of chats",
            );
        }
        if self.set_tags && self.tag_ids.is_empty() {
            push("tag_ids", "choose at least one tag when tags are to be set");
        }
        if self.tag_ids.iter().any(|id| *id <= 0) {
            push("tag_ids", "tag ids must be positive CoMagic ids");
        }
        if self
            .timezone
            .as_deref()
            .is_some_and(|zone| zone.parse::<Tz>().is_err())
        {
            push(
                "timezone",
                "not an IANA time zone name (e.g. Asia/Yekaterinburg); leave it out to use the account's",
            );
        }
        if self.leadback_timezone.parse::<Tz>().is_err() {
            push(
                "leadback_timezone",
                "not an IANA time zone name (e.g. Europe/Moscow)",
            );
        }
        if self.upload_sessions && self.default_site_id.is_none() {
            push(
                "default_site_id",
                "required when sessions are uploaded (upload.sessions needs a site)",
            );
        }

        // One entry per field and message, even when two rules reach the same conclusion.
        errors.dedup();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(SettingsErrors { errors })
        }
    }

    /// The account zone: `timezone`, or Moscow while the account's is not known yet; `None`
    /// when `timezone` names no zone.
    pub fn time_zone(&self) -> Option<Tz> {
        self.timezone
            .as_deref()
            .unwrap_or(crate::settings::DEFAULT_TIMEZONE)
            .parse()
            .ok()
    }

    /// The zone Leadback times without an offset are read in, if `leadback_timezone` names one.
    pub fn leadback_zone(&self) -> Option<Tz> {
        self.leadback_timezone.parse().ok()
    }
}
