//! The built-in accounts: `demo` (Europe/Moscow) and two of the same shape in other time zones,
//! east (`demo-ekb`, Asia/Yekaterinburg, UTC+5) and west (`demo-kgd`, Europe/Kaliningrad, UTC+2)
//! of Moscow, so "not in the future" is checked against each account's own wall clock.

use secrecy::SecretString;

use crate::seed::{
    default_timezone, AccountSeed, CampaignSeed, CampaignStatus, EmployeeSeed, LimitsSeed,
    SiteSeed, SourceSeed, TagSeed,
};

impl AccountSeed {
    /// The demo account: token `demo-token`, login `demo` / `demo-password`, Europe/Moscow,
    /// campaign 101 on site 202, campaign 102 on site 201, campaign 103 inactive.
    pub fn demo() -> Self {
        Self::demo_shaped("demo", 90001, "demo-token", &default_timezone())
    }

    /// The demo's shape in Asia/Yekaterinburg (two hours east of Moscow): token `demo-token-ekb`,
    /// login `demo-ekb` / `demo-password`, app_id 90002.
    pub fn demo_yekaterinburg() -> Self {
        Self::demo_shaped("demo-ekb", 90002, "demo-token-ekb", "Asia/Yekaterinburg")
    }

    /// The demo's shape in Europe/Kaliningrad (an hour west of Moscow): token `demo-token-kgd`,
    /// login `demo-kgd` / `demo-password`, app_id 90003.
    pub fn demo_kaliningrad() -> Self {
        Self::demo_shaped("demo-kgd", 90003, "demo-token-kgd", "Europe/Kaliningrad")
    }

    /// An account with the demo's campaigns, sites, sources, tags, employees and sessions.
    fn demo_shaped(name: &str, app_id: u64, token: &str, timezone: &str) -> Self {
        Self {
            name: name.to_owned(),
            app_id,
            access_tokens: vec![SecretString::from(token)],
            expired_access_tokens: Vec::new(),
            blocked_access_tokens: Vec::new(),
            login: Some(name.to_owned()),
            password: Some(SecretString::from("demo-password")),
            timezone: timezone.to_owned(),
            campaigns: vec![
                CampaignSeed {
                    id: -1,
                    name: "Посетители без рекламной кампании".to_owned(),
                    site_id: None,
                    status: CampaignStatus::Active,
                    kind: "system".to_owned(),
                    creation_time: Some("2020-01-01 00:00:00".to_owned()),
                },
                CampaignSeed {
                    id: 101,
                    name: "Яндекс.Директ — цветы".to_owned(),
                    site_id: Some(202),
                    status: CampaignStatus::Active,
                    kind: "basic".to_owned(),
                    creation_time: Some("2023-03-01 10:00:00".to_owned()),
                },
                CampaignSeed {
                    id: 102,
                    name: "Магазин — SEO".to_owned(),
                    site_id: Some(201),
                    status: CampaignStatus::Active,
                    kind: "basic".to_owned(),
                    creation_time: Some("2023-04-15 12:30:00".to_owned()),
                },
                CampaignSeed {
                    id: 103,
                    name: "Архивная кампания".to_owned(),
                    site_id: Some(201),
                    status: CampaignStatus::Inactive,
                    kind: "basic".to_owned(),
                    creation_time: Some("2021-06-01 09:00:00".to_owned()),
                },
            ],
            sites: vec![
                SiteSeed {
                    id: 201,
                    domain_name: "shop.example.ru".to_owned(),
                    name: Some("Магазин".to_owned()),
                },
                SiteSeed {
                    id: 202,
                    domain_name: "flowers.example.com".to_owned(),
                    name: Some("Цветы".to_owned()),
                },
            ],
            sources: vec![
                SourceSeed {
                    id: 301,
                    name: "Leadback".to_owned(),
                    state: "active".to_owned(),
                    channel_name: Some("Другое".to_owned()),
                },
                SourceSeed {
                    id: 302,
                    name: "Яндекс.Директ".to_owned(),
                    state: "active".to_owned(),
                    channel_name: Some("Контекстная реклама".to_owned()),
                },
            ],
            tags: vec![
                TagSeed {
                    id: 401,
                    name: "Leadback".to_owned(),
                    is_system: false,
                },
                TagSeed {
                    id: 402,
                    name: "Чат".to_owned(),
                    is_system: false,
                },
            ],
            employees: vec![
                EmployeeSeed {
                    id: 501,
                    first_name: "Анна".to_owned(),
                    last_name: Some("Смирнова".to_owned()),
                    login: Some("anna".to_owned()),
                    email: Some("anna@example.ru".to_owned()),
                },
                EmployeeSeed {
                    id: 502,
                    first_name: "Иван".to_owned(),
                    last_name: Some("Петров".to_owned()),
                    login: Some("ivan".to_owned()),
                    email: None,
                },
            ],
            offline_message_user_fields: vec!["leadback_page".to_owned()],
            session_ids: vec![4812337719, 4812337720],
            limits: LimitsSeed::default(),
            disabled_components: Vec::new(),
        }
    }
}
