//! Every [`Reason`] in both languages, side by side: the pages say it in theirs, the API in
//! English (through [`Reason::english`]).

use bridge_store::BodyRefusal;
use leadback_model::{
    BodyError, EventError, MappingError, DEFAULT_TIMEZONE, MAX_DEPTH, MAX_FIELDS,
};

use super::{t, Lang};
use crate::reasons::{Entity, Fix, Reason};

impl Lang {
    /// `reason` in this language.
    pub fn say(self, reason: &Reason) -> String {
        let (russian, english) = both(reason);
        match self {
            Lang::Ru => russian,
            Lang::En => english,
        }
    }
}

/// `reason` as (Russian, English).
fn both(reason: &Reason) -> (String, String) {
    use Reason::*;
    match reason {
        NotANumber => pair(t::NOT_A_NUMBER),
        Required => pair(t::REQUIRED),
        CredentialsRequired => pair(t::CREDENTIALS_REQUIRED),
        LoginAndPassword => pair(t::LOGIN_AND_PASSWORD),
        PhoneInvalid(raw) => (
            format!("телефон {raw:?} — не номер; он оставлен в тексте сообщения"),
            format!("the phone {raw:?} is not a valid number; kept in the message text"),
        ),
        EmailInvalid(raw) => (
            format!("email {raw:?} — не адрес; он оставлен в тексте сообщения"),
            format!("the email {raw:?} is not a valid address; kept in the message text"),
        ),
        NoCreatedAt => (
            "в запросе нет времени создания: взято время получения".into(),
            "no creation time in the payload: dated when the bridge receives it".into(),
        ),
        NoContactFound => (
            "не найдены ни телефон, ни email: укажите их пути в полях Leadback".into(),
            "no phone and no email found: map their paths in the field map".into(),
        ),
        NoAccountZoneStored => (
            format!("часовой пояс кабинета не сохранён; время показано в {DEFAULT_TIMEZONE}"),
            format!("no account time zone stored; times shown in {DEFAULT_TIMEZONE}"),
        ),
        UnparseableBody(e) => (
            format!("тело запроса не читается: {}", body_error(e)),
            format!("unparseable body: {e}"),
        ),
        Ping => (
            "это проверочный запрос Leadback при сохранении вебхука: мост отвечает на него и \
                 ничего не передаёт"
                .into(),
            "this is Leadback's save-time test request: the bridge answers it and uploads \
                 nothing"
                .into(),
        ),
        LeadbackZoneInvalid(zone) => (
            format!("часовой пояс Leadback `{zone}` не является поясом IANA"),
            format!("tenant leadback_timezone `{zone}` is not an IANA zone"),
        ),
        NotAnEvent(e @ EventError::NotAnObject { found }) => (
            format!("событие не читается: тело — JSON {found}, а не объект с полями события"),
            format!("cannot read the event: {e}"),
        ),
        Unmappable(e) => (mapping_error(e), e.to_string()),
        CutOff(BodyRefusal::TooLarge { bytes_seen, limit }) => (
            format!(
            "отклонено до разбора (413): тело в {bytes_seen} байт больше предела в {limit} байт; \
             тело не сохраняется"
        ),
            format!(
                "refused before reading (413): a body of {bytes_seen} bytes is over the limit of \
             {limit} bytes; the body is not kept"
            ),
        ),
        CutOff(BodyRefusal::BodyTimeout {
            bytes_seen,
            after_ms,
        }) => (
            format!(
                "отклонено до разбора (408): за {} пришло только {bytes_seen} байт; тело не \
             сохраняется",
                duration(*after_ms, "с", "мс")
            ),
            format!(
            "refused before reading (408): only {bytes_seen} bytes arrived within {}; the body \
             is not kept",
            duration(*after_ms, "s", "ms")
        ),
        ),
        TimezoneChanged { account, stored } => (
            format!(
            "часовой пояс кабинета теперь {account} (сохранён {stored}); обработчик пишет время \
             записей в поясе кабинета — сохраните настройки, чтобы запомнить его"
        ),
            format!(
                "the account's time zone is now {account} (stored: {stored}); the worker writes \
             record times in the account's zone — save the settings to store it"
            ),
        ),
        FixFor(fix) => pair(fix_text(*fix)),
        InactiveForTest => (
            "интеграция выключена: включите её, прежде чем отправлять тестовое обращение".into(),
            "the tenant is inactive: activate it before sending a test request".into(),
        ),
        NameEmpty => ("не может быть пустым".into(), "must not be empty".into()),
        CredentialsMissing => (
            "обязательно: {api_url, access_token} или {api_url, login, password}".into(),
            "required: {api_url, access_token} or {api_url, login, password}".into(),
        ),
        SecretRequired => (
            "обязательно: API-ключ или логин и пароль (новому API URL ключ нужен \
                           заново)"
                .into(),
            "required: access_token, or login and password (a new api_url needs \
                           the secret again)"
                .into(),
        ),
        ApiUrlNotHttp => (
            "должен быть URL с http(s)".into(),
            "must be an http(s) URL".into(),
        ),
        ApiUrlInvalid(e) => (format!("не URL: {e}"), format!("not a URL: {e}")),
        ApiUrlRefused { ip, range } => (
            format!(
            "{ip} — адрес из диапазона {range}; API URL CoMagic должен вести на публичный адрес \
             (внутренние разрешает BRIDGE_ALLOW_PRIVATE_API_URLS=true)"
        ),
            format!(
                "{ip} is a {range} address; CoMagic API URLs must resolve to public addresses \
             (BRIDGE_ALLOW_PRIVATE_API_URLS=true allows internal ones)"
            ),
        ),
        Setting(message) => (setting(message), message.clone()),
        FieldMapEntry(message) => (field_map_entry(message), message.clone()),
        WrongType(message) => (format!("значение не того типа: {message}"), message.clone()),
        SyntaxError(message) => (
            format!("настройки — не JSON нужного вида: {message}"),
            message.clone(),
        ),
        ComagicFailed(message) => (format!("ошибка CoMagic: {message}"), message.clone()),
        UnknownField {
            nearest: Some(name),
            ..
        } => (
            format!("неизвестное поле; возможно, имелось в виду `{name}`"),
            format!("unknown field; did you mean `{name}`?"),
        ),
        UnknownField {
            nearest: None,
            known,
        } => (
            format!("неизвестное поле; известные поля: {}", known.join(", ")),
            format!("unknown field; known fields: {}", known.join(", ")),
        ),
        NotInAccount { entity, ids } => (
            format!(
                "{} {}: нет в кабинете CoMagic",
                entity_name(*entity).ru,
                list(ids)
            ),
            format!(
                "{} {} not found in the CoMagic account",
                entity_name(*entity).en,
                list(ids)
            ),
        ),
        CampaignInactive { id } => (
            format!("кампания {id} не активна в кабинете CoMagic; выберите активную"),
            format!("campaign {id} is not active in the CoMagic account; choose an active one"),
        ),
        CampaignOtherSite { id, own, site } => (
            format!(
            "кампания {id} относится к сайту {own}, а не {site}; выберите сайт {own} или другую \
             кампанию"
        ),
            format!(
            "campaign {id} belongs to site {own}, not {site}; choose site {own} or another campaign"
        ),
        ),
        AccountZoneDiffers { account, given } => (
            format!(
                "часовой пояс кабинета CoMagic — {account}, а не {given}; оставьте поле пустым, \
             чтобы взять пояс кабинета"
            ),
            format!(
            "the CoMagic account's time zone is {account}, not {given}; leave timezone out to use \
             the account's"
        ),
        ),
        CredentialsRefused(message) => (
            format!("{}: {message}", t::COMAGIC_REFUSED.ru),
            format!("{}: {message}", t::COMAGIC_REFUSED.en),
        ),
        NotChecked { field, why } => (
            format!("не удалось проверить {field} в CoMagic: {why}"),
            format!("could not check {field} against CoMagic: {why}"),
        ),
        AccountZoneUnread(why) => (
            format!("не удалось прочитать часовой пояс кабинета из CoMagic: {why}"),
            format!("could not read the account's time zone from CoMagic: {why}"),
        ),
    }
}

/// A fixed text in both languages.
fn pair(text: super::Text) -> (String, String) {
    (text.ru.to_owned(), text.en.to_owned())
}

/// Whole seconds as seconds, anything else as milliseconds.
fn duration(ms: u64, seconds: &str, millis: &str) -> String {
    if ms.is_multiple_of(1000) {
        format!("{} {seconds}", ms / 1000)
    } else {
        format!("{ms} {millis}")
    }
}

fn list(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn entity_name(entity: Entity) -> super::Text {
    match entity {
        Entity::Campaign => t::ENTITY_CAMPAIGN,
        Entity::Source => t::ENTITY_SOURCE,
        Entity::Site => t::ENTITY_SITE,
        Entity::Tag => t::ENTITY_TAG,
        Entity::Employee => t::ENTITY_EMPLOYEE,
    }
}

fn fix_text(fix: Fix) -> super::Text {
    match fix {
        Fix::Credentials => t::FIX_CREDENTIALS,
        Fix::Settings => t::FIX_SETTINGS,
        Fix::Record => t::FIX_RECORD,
        Fix::Mapping => t::FIX_MAPPING,
        Fix::Exhausted => t::FIX_EXHAUSTED,
        Fix::SeeLog => t::FIX_SEE_LOG,
    }
}

fn body_error(e: &BodyError) -> String {
    match e {
        BodyError::InvalidJson {
            line,
            column,
            reason,
        } => format!("неверный JSON (строка {line}, столбец {column}): {reason}"),
        BodyError::TooDeep => format!("вложенность глубже {MAX_DEPTH} уровней"),
        BodyError::TooManyFields => format!("больше {MAX_FIELDS} полей формы"),
        BodyError::InvalidUtf8 { offset } => {
            format!("тело не в UTF-8 (неверный байт на позиции {offset})")
        }
        BodyError::InvalidFormEncoding { field } => {
            format!("поле формы {field:?} не в UTF-8 после раскодирования")
        }
        BodyError::UnsupportedContentType(kind) => format!(
            "тип содержимого {kind:?} не поддерживается (ожидается JSON, urlencoded- или \
             multipart-форма)"
        ),
        BodyError::MissingBoundary => "у multipart-тела не указан boundary".into(),
        BodyError::Multipart(why) => format!("неверное multipart-тело: {why}"),
    }
}

fn mapping_error(e: &MappingError) -> String {
    match e {
        MappingError::NoContact {
            kind,
            unparsed_phone,
        } => {
            let note = unparsed_phone
                .as_ref()
                .map(|raw| format!(" (телефон {raw:?} — не номер)"))
                .unwrap_or_default();
            format!(
                "у события {} нет ни пригодного телефона, ни email{note}",
                kind.as_str()
            )
        }
        MappingError::NoChatEmployee => "в чате есть сообщения оператора, но у интеграции не \
                                         выбран оператор чата (CoMagic требует сотрудника для них)"
            .into(),
        MappingError::NoDefaultEntity { missing } => format!(
            "для событий без сессии у интеграции нет рекламной кампании/источника по умолчанию: \
             не задано {missing}"
        ),
        MappingError::InvalidSettings(errors) => {
            let fields: Vec<String> = errors
                .errors
                .iter()
                .map(|e| format!("{}: {}", e.field, setting(&e.message)))
                .collect();
            format!("неверные настройки интеграции: {}", fields.join("; "))
        }
    }
}

/// The messages of `TenantSettings::validate` (the model's words, English) in Russian; one it
/// does not know yet is shown as it is.
fn setting(message: &str) -> String {
    const SETTINGS: [(&str, &str); 11] = [
        (
            "required when the default entity is an ad campaign",
            "обязательно, когда по умолчанию выбрана рекламная кампания",
        ),
        (
            "required with campaign -1 (visitors without campaign)",
            "обязательно для кампании −1 (посетители без рекламной кампании)",
        ),
        (
            "must be a positive CoMagic id, or -1 (visitors without campaign)",
            "положительный id CoMagic или −1 (посетители без рекламной кампании)",
        ),
        (
            "required when the default entity is a source",
            "обязательно, когда по умолчанию выбран источник",
        ),
        ("must be a positive CoMagic id", "положительный id CoMagic"),
        (
            "required: CoMagic needs an employee for operator messages of chats",
            "обязательно: CoMagic нужен сотрудник для сообщений оператора в чатах",
        ),
        (
            "choose at least one tag when tags are to be set",
            "выберите хотя бы один тег, раз теги устанавливаются",
        ),
        (
            "tag ids must be positive CoMagic ids",
            "id тегов — положительные id CoMagic",
        ),
        (
            "not an IANA time zone name (e.g. Asia/Yekaterinburg); leave it out to use the account's",
            "не название часового пояса IANA (например, Asia/Yekaterinburg); оставьте пустым, чтобы взять пояс кабинета",
        ),
        (
            "not an IANA time zone name (e.g. Europe/Moscow)",
            "не название часового пояса IANA (например, Europe/Moscow)",
        ),
        (
            "required when sessions are uploaded (upload.sessions needs a site)",
            "обязательно, когда создаются сессии (для upload.sessions нужен сайт)",
        ),
    ];
    SETTINGS
        .iter()
        .find(|(en, _)| *en == message)
        .map_or_else(|| message.to_owned(), |(_, ru)| (*ru).to_owned())
}

/// The messages of `FieldMap::from_json` in Russian (the number, character or names in them
/// kept); one it does not know yet is shown as it is.
fn field_map_entry(message: &str) -> String {
    let number: String = message.chars().filter(char::is_ascii_digit).collect();
    let after = |start: &str| message.strip_prefix(start).unwrap_or_default().to_owned();
    match message {
        "expected a JSON object of meaning → list of paths" => {
            "ожидается JSON-объект: значение → список путей".into()
        }
        "expected a list of dotted paths" => "ожидается список путей через точку".into(),
        "expected a string" => "ожидается строка".into(),
        "the path is empty" => "путь пуст".into(),
        "the path has an empty step (two dots, or a dot at an end)" => {
            "в пути пустой шаг (две точки подряд или точка с краю)".into()
        }
        m if m.starts_with("unknown meaning; known:") => {
            format!(
                "неизвестное значение; известные:{}",
                after("unknown meaning; known:")
            )
        }
        m if m.starts_with("more than") => format!("больше {number} путей"),
        m if m.starts_with("the path is longer than") => format!("путь длиннее {number} символов"),
        m if m.starts_with("the path has more than") => format!("в пути больше {number} шагов"),
        m if m.starts_with("the path holds") => {
            let bad = after("the path holds ");
            let bad = bad.split(';').next().unwrap_or_default();
            format!("в пути символ {bad}; ключи разделяются точками, без пробелов")
        }
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadback_model::TenantSettings;

    /// One of each kind of reason: its Russian is Russian and differs from its English.
    #[test]
    fn every_reason_is_said_in_russian() {
        let text = |s: &str| s.to_owned();
        let reasons = [
            Reason::NotANumber,
            Reason::PhoneInvalid(text("12")),
            Reason::EmailInvalid(text("a@")),
            Reason::NoCreatedAt,
            Reason::NoContactFound,
            Reason::NoAccountZoneStored,
            Reason::UnparseableBody(BodyError::TooDeep),
            Reason::Ping,
            Reason::LeadbackZoneInvalid(text("Mars/Base")),
            Reason::NotAnEvent(EventError::NotAnObject { found: "array" }),
            Reason::Unmappable(MappingError::NoChatEmployee),
            Reason::CutOff(BodyRefusal::TooLarge {
                bytes_seen: 2,
                limit: 1,
            }),
            Reason::CutOff(BodyRefusal::BodyTimeout {
                bytes_seen: 1,
                after_ms: 10_000,
            }),
            Reason::TimezoneChanged {
                account: text("Europe/Moscow"),
                stored: text("Asia/Omsk"),
            },
            Reason::FixFor(Fix::Exhausted),
            Reason::InactiveForTest,
            Reason::NameEmpty,
            Reason::SecretRequired,
            Reason::ApiUrlNotHttp,
            Reason::FieldMapEntry(text("the path is empty")),
            Reason::UnknownField {
                nearest: None,
                known: vec![text("name")],
            },
            Reason::NotInAccount {
                entity: Entity::Tag,
                ids: vec![7, 8],
            },
            Reason::CampaignOtherSite {
                id: 1,
                own: 2,
                site: 3,
            },
            Reason::NotChecked {
                field: text("tag_ids"),
                why: text("timeout"),
            },
        ];
        for reason in reasons {
            let (russian, english) = both(&reason);
            assert_ne!(russian, english, "{reason:?}");
            assert!(
                russian.chars().any(|c| ('а'..='я').contains(&c)),
                "{reason:?}: {russian}"
            );
            assert!(
                !english.chars().any(|c| ('а'..='я').contains(&c)),
                "{english}"
            );
        }
    }

    /// Every message `validate` gives for a settings value with everything wrong has Russian.
    #[test]
    fn every_settings_message_has_russian() {
        let broken = [
            r#"{"default_campaign_id":0,"default_source_id":0,"chat_employee_id":0,"set_tags":true,
                "tag_ids":[],"timezone":"Mars/Base","leadback_timezone":"Moon/Base","upload_sessions":true}"#,
            r#"{"default_entity":"source","default_campaign_id":-5,"tag_ids":[-1]}"#,
            r#"{"default_campaign_id":-1}"#,
            r#"{}"#,
        ];
        for text in broken {
            let settings: TenantSettings = serde_json::from_str(text).unwrap();
            for error in settings.validate().unwrap_err().errors {
                assert_ne!(setting(&error.message), error.message, "{}", error.message);
            }
        }
    }
}
