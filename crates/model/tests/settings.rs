//! TenantSettings::validate names every missing or inconsistent field.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use leadback_model::{DefaultEntity, TenantSettings};

fn valid() -> TenantSettings {
    TenantSettings {
        default_campaign_id: Some(100),
        chat_employee_id: Some(7),
        ..TenantSettings::default()
    }
}

fn fields(settings: &TenantSettings) -> Vec<&'static str> {
    match settings.validate() {
        Ok(()) => Vec::new(),
        Err(errors) => errors.errors.iter().map(|e| e.field).collect(),
    }
}

#[test]
fn valid_settings_pass() {
    assert_eq!(valid().validate(), Ok(()));
    let source = TenantSettings {
        default_entity: DefaultEntity::Source,
        default_campaign_id: None,
        default_source_id: Some(5),
        default_site_id: Some(9),
        set_tags: true,
        tag_ids: vec![1, 2],
        upload_sessions: true,
        timezone: Some("Asia/Yekaterinburg".into()),
        ..valid()
    };
    assert_eq!(source.validate(), Ok(()));
    let without_campaign = TenantSettings {
        default_campaign_id: Some(-1),
        default_site_id: Some(9),
        ..valid()
    };
    assert_eq!(without_campaign.validate(), Ok(()));
}

#[test]
fn each_rule_names_its_field() {
    let cases: Vec<(TenantSettings, Vec<&str>)> = vec![
        (
            TenantSettings {
                default_campaign_id: None,
                ..valid()
            },
            vec!["default_campaign_id"],
        ),
        (
            TenantSettings {
                default_campaign_id: Some(-1),
                ..valid()
            },
            vec!["default_site_id"],
        ),
        (
            TenantSettings {
                default_campaign_id: Some(0),
                ..valid()
            },
            vec!["default_campaign_id"],
        ),
        (
            TenantSettings {
                default_campaign_id: Some(-7),
                ..valid()
            },
            vec!["default_campaign_id"],
        ),
        (
            TenantSettings {
                default_entity: DefaultEntity::Source,
                ..valid()
            },
            vec!["default_source_id", "default_site_id"],
        ),
        (
            TenantSettings {
                default_entity: DefaultEntity::Source,
                default_source_id: Some(3),
                ..valid()
            },
            vec!["default_site_id"],
        ),
        (
            TenantSettings {
                set_tags: true,
                ..valid()
            },
            vec!["tag_ids"],
        ),
        (
            TenantSettings {
                tag_ids: vec![3, 0],
                ..valid()
            },
            vec!["tag_ids"],
        ),
        (
            TenantSettings {
                timezone: Some("Mars/Olympus".into()),
                ..valid()
            },
            vec!["timezone"],
        ),
        (
            TenantSettings {
                timezone: Some(String::new()),
                ..valid()
            },
            vec!["timezone"],
        ),
        (
            TenantSettings {
                default_site_id: Some(-2),
                ..valid()
            },
            vec!["default_site_id"],
        ),
        (
            TenantSettings {
                default_source_id: Some(0),
                ..valid()
            },
            vec!["default_source_id"],
        ),
        (
            TenantSettings {
                chat_employee_id: Some(0),
                ..valid()
            },
            vec!["chat_employee_id"],
        ),
        (
            TenantSettings {
                chat_employee_id: None,
                ..valid()
            },
            vec!["chat_employee_id"],
        ),
        (
            TenantSettings {
                upload_sessions: true,
                ..valid()
            },
            vec!["default_site_id"],
        ),
    ];
    for (settings, expected) in cases {
        assert_eq!(fields(&settings), expected, "{settings:?}");
    }
}

#[test]
fn all_problems_are_listed_together() {
    let settings = TenantSettings {
        default_entity: DefaultEntity::Source,
        set_tags: true,
        timezone: Some("nowhere".into()),
        ..TenantSettings::default()
    };
    let errors = settings.validate().unwrap_err();
    assert!(errors.has("default_source_id"));
    assert!(errors.has("default_site_id"));
    assert!(errors.has("chat_employee_id"));
    assert!(errors.has("tag_ids"));
    assert!(errors.has("timezone"));
    let text = errors.to_string();
    assert!(text.starts_with("invalid tenant settings: "), "{text}");
    assert!(
        text.contains("default_source_id: required when the default entity is a source"),
        "{text}"
    );
    assert!(text.contains("timezone: "), "{text}");
}

#[test]
fn time_zone_helper() {
    assert_eq!(valid().time_zone(), Some(chrono_tz::Europe::Moscow));
    assert_eq!(
        TenantSettings {
            timezone: Some("x".into()),
            ..valid()
        }
        .time_zone(),
        None
    );
}
