//! Problems of a tenant rather than of an event — its default campaign inactive or gone, a tag
//! or employee removed from the account, a component switched off, credentials refused: the
//! open dead letters of class `tenant_permanent`, grouped by CoMagic's mnemonic with what to fix,
//! and the replay an operator runs once the settings are fixed (exactly those dead letters).

use bridge_store::{DeadLetter, DeadLetterFilter, Store, StoreError};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::pages::i18n::Text;

/// The failure class of a tenant's problems (the worker's `FailureClass::TenantPermanent`).
pub(crate) const TENANT_CLASS: &str = "tenant_permanent";

/// Most dead letters read to describe a tenant's problems; the replay itself has no cap.
const READ_AT_MOST: u32 = 1000;

/// One kind of problem: the dead letters that share a mnemonic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TenantProblem {
    pub mnemonic: Option<String>,
    /// CoMagic's message of the newest of them.
    pub message: String,
    pub count: usize,
    /// What the operator changes before replaying, in both languages of the pages.
    pub fix: Text,
}

/// The filter that selects exactly a tenant's problems (for listing and for the replay).
pub(crate) fn filter(tenant_id: Uuid) -> DeadLetterFilter {
    DeadLetterFilter {
        tenant_id: Some(tenant_id),
        class: Some(TENANT_CLASS.to_owned()),
        ..DeadLetterFilter::default()
    }
}

/// The tenant's open problems, most frequent first.
pub(crate) async fn open_problems(
    store: &dyn Store,
    tenant_id: Uuid,
) -> Result<Vec<TenantProblem>, StoreError> {
    let dead = store
        .list_dead_letters(&DeadLetterFilter {
            limit: Some(READ_AT_MOST),
            ..filter(tenant_id)
        })
        .await?;
    Ok(group(&dead))
}

/// Groups dead letters of the tenant class by mnemonic (newest message kept), most frequent
/// first; other classes are the events' own problems and are left out.
pub(crate) fn group(dead: &[DeadLetter]) -> Vec<TenantProblem> {
    let mut problems: Vec<TenantProblem> = Vec::new();
    // The store lists newest first, so the first message seen per mnemonic is the newest.
    for letter in dead.iter().filter(|d| d.class == TENANT_CLASS) {
        match problems.iter_mut().find(|p| p.mnemonic == letter.mnemonic) {
            Some(problem) => problem.count += 1,
            None => problems.push(TenantProblem {
                mnemonic: letter.mnemonic.clone(),
                message: letter.message.clone(),
                count: 1,
                fix: what_to_fix(letter.mnemonic.as_deref()),
            }),
        }
    }
    problems.sort_by_key(|p| std::cmp::Reverse(p.count));
    problems
}

/// What to change in the settings (or the account) for a refusal of this mnemonic.
pub(crate) fn what_to_fix(mnemonic: Option<&str>) -> Text {
    match mnemonic {
        Some("campaign_is_inactive") => {
            Text {
                ru: "Рекламная кампания по умолчанию не активна: выберите активную кампанию или включите её в CoMagic",
                en: "The default campaign is inactive: choose an active one or enable it in CoMagic",
            }
        }
        Some("entity_not_found") => {
            Text {
                ru: "В аккаунте CoMagic больше нет выбранной кампании, сайта, источника, сотрудника или тега: выберите их заново из списков",
                en: "A campaign, site, source, employee or tag chosen here is gone from the CoMagic account: pick it again from the lists",
            }
        }
        Some("component_disabled" | "method_component_disabled") => {
            Text {
                ru: "Нужный компонент CoMagic отключён: включите его в аккаунте",
                en: "A CoMagic component the bridge needs is disabled: enable it in the account",
            }
        }
        Some(
            "access_token_invalid" | "access_token_expired" | "access_token_blocked"
            | "auth_error" | "forbidden",
        ) => {
            Text {
                ru: "CoMagic отклонил доступ: введите ключ API или логин и пароль заново",
                en: "CoMagic refused the credentials: enter the API key or login and password again",
            }
        }
        _ => {
            Text {
                ru: "Исправьте настройки интеграции, затем повторите",
                en: "Fix the tenant's settings, then replay",
            }
        }
    }
}

/// The API's view: how many are open, of which kinds, and the replay call that takes exactly
/// them; `None` when there are none.
pub(crate) fn offer_json(tenant_id: Uuid, problems: &[TenantProblem]) -> Option<Value> {
    if problems.is_empty() {
        return None;
    }
    let open: usize = problems.iter().map(|p| p.count).sum();
    Some(json!({
        "open": open,
        "problems": problems.iter().map(|p| json!({
            "mnemonic": p.mnemonic,
            "message": p.message,
            "count": p.count,
            "fix": format!("{} / {}", p.fix.ru, p.fix.en),
        })).collect::<Vec<_>>(),
        "replay": {
            "method": "POST",
            "path": "/admin/v1/dead-letters/replay",
            "body": {"tenant": tenant_id, "class": TENANT_CLASS},
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};

    fn letter(class: &str, mnemonic: Option<&str>, message: &str, age_secs: i64) -> DeadLetter {
        let at = Utc::now() - Duration::seconds(age_secs);
        DeadLetter {
            id: Uuid::new_v4(),
            tenant_id: Uuid::nil(),
            event_id: format!("evt-{age_secs}").parse().unwrap(),
            class: class.to_owned(),
            mnemonic: mnemonic.map(str::to_owned),
            message: message.to_owned(),
            attempts: 1,
            first_attempt_at: None,
            last_attempt_at: at,
            dead_at: at,
            envelope: Value::Null,
            resolved_at: None,
        }
    }

    #[test]
    fn only_the_tenant_class_grouped_by_mnemonic_most_frequent_first() {
        let dead = vec![
            letter(TENANT_CLASS, Some("entity_not_found"), "tag 9 not found", 1),
            letter(TENANT_CLASS, Some("campaign_is_inactive"), "newest", 2),
            letter("event_permanent", Some("invalid_parameter_value"), "x", 3),
            letter(TENANT_CLASS, Some("campaign_is_inactive"), "older", 4),
            letter("mapping", None, "no contact", 5),
        ];
        let problems = group(&dead);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(
            problems[0].mnemonic.as_deref(),
            Some("campaign_is_inactive")
        );
        assert_eq!(problems[0].count, 2);
        assert_eq!(problems[0].message, "newest");
        assert_eq!(problems[1].mnemonic.as_deref(), Some("entity_not_found"));
        assert_eq!(problems[1].count, 1);
    }

    #[test]
    fn each_known_refusal_says_what_to_fix() {
        let cases = [
            (Some("campaign_is_inactive"), "inactive"),
            (Some("entity_not_found"), "gone from the CoMagic account"),
            (Some("method_component_disabled"), "component"),
            (Some("access_token_invalid"), "credentials"),
            (None, "Fix the tenant's settings"),
        ];
        for (mnemonic, words) in cases {
            assert!(what_to_fix(mnemonic).en.contains(words), "{mnemonic:?}");
        }
    }

    #[test]
    fn the_offer_replays_exactly_the_tenant_class() {
        assert!(offer_json(Uuid::nil(), &[]).is_none());
        let dead = [letter(TENANT_CLASS, Some("campaign_is_inactive"), "m", 1)];
        let tenant = Uuid::new_v4();
        let offer = offer_json(tenant, &group(&dead)).expect("an offer");
        assert_eq!(offer["open"], 1);
        assert_eq!(offer["replay"]["body"]["class"], TENANT_CLASS);
        assert_eq!(offer["replay"]["body"]["tenant"], json!(tenant));
    }
}
