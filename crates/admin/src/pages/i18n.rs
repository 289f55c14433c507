//! The pages' one language at a time: Russian by default, English for `?lang=en` (remembered
//! in a cookie by [`remember_choice`]) or a browser asking for English first. Every string the
//! pages show is in the table [`t`], in both languages side by side.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The cookie that keeps the language chosen with the switch.
const LANG_COOKIE: &str = "bridge_admin_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    Ru,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }

    fn parse(code: &str) -> Option<Lang> {
        match code.trim().to_ascii_lowercase().as_str() {
            "ru" => Some(Lang::Ru),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The other language, offered by the switch.
    pub fn other(self) -> Lang {
        match self {
            Lang::Ru => Lang::En,
            Lang::En => Lang::Ru,
        }
    }

    pub fn t(self, text: Text) -> &'static str {
        match self {
            Lang::Ru => text.ru,
            Lang::En => text.en,
        }
    }

    /// `?lang=` first, then the cookie, then `Accept-Language`; Russian when none decides.
    pub fn of_request(query: Option<&str>, headers: &HeaderMap) -> Lang {
        query
            .and_then(query_lang)
            .or_else(|| cookie_lang(headers))
            .or_else(|| accept_language(headers))
            .unwrap_or(Lang::Ru)
    }
}

fn query_lang(query: &str) -> Option<Lang> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "lang")
        .and_then(|(_, value)| Lang::parse(&value))
}

fn cookie_lang(headers: &HeaderMap) -> Option<Lang> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == LANG_COOKIE)
        .and_then(|(_, value)| Lang::parse(value))
}

/// The first of Russian and English in the browser's preference order (by `q`, then position).
fn accept_language(headers: &HeaderMap) -> Option<Lang> {
    let value = headers.get(header::ACCEPT_LANGUAGE)?.to_str().ok()?;
    let mut ranked: Vec<(u16, usize, Lang)> = value
        .split(',')
        .enumerate()
        .filter_map(|(position, item)| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            let primary = tag.split('-').next()?;
            let lang = Lang::parse(primary)?;
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            // Thousandths, so the ranking needs no float ordering.
            let q = (q.clamp(0.0, 1.0) * 1000.0).round() as u16;
            (q > 0).then_some((q, position, lang))
        })
        .collect();
    ranked.sort_by_key(|(q, position, _)| (std::cmp::Reverse(*q), *position));
    ranked.first().map(|(_, _, lang)| *lang)
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Lang::of_request(parts.uri.query(), &parts.headers))
    }
}

/// Keeps a `?lang=` choice for the following pages (forms post without it).
pub(crate) async fn remember_choice(request: Request, next: Next) -> Response {
    let chosen = request.uri().query().and_then(query_lang);
    let mut response = next.run(request).await;
    if let Some(lang) = chosen {
        let cookie = format!(
            "{LANG_COOKIE}={}; Path=/admin; SameSite=Strict; Max-Age=31536000",
            lang.code()
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// One string in both languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Text {
    pub ru: &'static str,
    pub en: &'static str,
}

const fn tr(ru: &'static str, en: &'static str) -> Text {
    Text { ru, en }
}

/// Every string of the pages. The card's own wording (the original integration card) for its
/// fields, in its order.
pub(crate) mod t {
    use super::{tr, Text};

    // The frame and its errors.
    pub const LANG_NAME: Text = tr("Русский", "English");
    pub const INTEGRATIONS: Text = tr("Интеграции", "Integrations");
    pub const NEW_INTEGRATION: Text = tr("Новая интеграция", "New integration");
    pub const SIGN_OUT: Text = tr("Выйти", "Sign out");
    pub const REFUSED: Text = tr("Запрос отклонён", "Request refused");
    pub const CSRF_STALE: Text = tr(
        "Форма устарела или подделана (CSRF). Обновите страницу.",
        "The form is stale or forged (CSRF). Reload the page.",
    );
    pub const ERROR: Text = tr("Ошибка", "Error");
    pub const INTERNAL: Text = tr(
        "Внутренняя ошибка, см. журнал.",
        "Internal error, see the log.",
    );
    pub const NOT_FOUND: Text = tr("Не найдено", "Not found");
    pub const NO_SUCH_TENANT: Text = tr("Такой интеграции нет.", "No such integration.");
    pub const BACK_TO_LIST: Text = tr("← Интеграции", "← Integrations");

    // Sign-in.
    pub const SIGN_IN_TITLE: Text = tr("Вход", "Sign in");
    pub const ADMIN_TOKEN: Text = tr("Токен администратора", "Admin token");
    pub const SIGN_IN: Text = tr("Войти", "Sign in");
    pub const WRONG_TOKEN: Text = tr("Неверный токен", "Wrong token");

    // The list.
    pub const LIST_TITLE: Text = tr("Интеграции Leadback", "Leadback integrations");
    pub const ADD_INTEGRATION: Text = tr("+ Новая интеграция", "+ New integration");
    pub const NAME: Text = tr("Название", "Name");
    pub const ACTIVE: Text = tr("Активен", "Active");
    pub const UPDATED: Text = tr("Изменена", "Updated");
    pub const YES: Text = tr("да", "yes");
    pub const NO: Text = tr("нет", "no");
    pub const STATUS: Text = tr("Состояние", "Status");
    pub const STATUS_OK: Text = tr("в порядке", "ok");
    pub const STATUS_WAITING: Text = tr("ждёт CoMagic", "waiting for CoMagic");
    pub const STATUS_ATTENTION: Text = tr("требует внимания", "needs attention");
    pub const NO_TENANTS: Text = tr("Пока нет интеграций.", "No integrations yet.");

    // Step 1 and the credentials.
    pub const STEP_ONE: Text = tr(
        "Шаг 1 из 2: название и доступ к CoMagic. Списки рекламных кампаний, источников, сайтов, тегов и сотрудников загружаются из кабинета клиента на следующем шаге.",
        "Step 1 of 2: a name and the CoMagic credentials. The lists of ad campaigns, sources, sites, tags and employees are loaded from the client's account in step 2.",
    );
    pub const NEXT: Text = tr("Далее", "Next");
    pub const CREDENTIALS: Text = tr("Доступ к CoMagic", "CoMagic credentials");
    pub const SECRETS_HIDDEN: Text = tr(
        "Сохранённые ключи не показываются. Оставьте поля пустыми, чтобы их не менять.",
        "Stored secrets are not shown. Leave the fields blank to keep them.",
    );
    pub const API_URL: Text = tr(
        "API URL (CoMagic, UIS или свой)",
        "API URL (CoMagic, UIS or your own)",
    );
    pub const ACCESS_TOKEN: Text = tr("API-ключ", "Access token");
    pub const OR: Text = tr("или", "or");
    pub const LOGIN: Text = tr("Логин", "Login");
    pub const PASSWORD: Text = tr("Пароль", "Password");
    pub const REQUIRED: Text = tr("обязательно", "required");
    pub const NOT_A_NUMBER: Text = tr("не число", "not a number");
    pub const CREDENTIALS_REQUIRED: Text = tr(
        "нужен API-ключ или логин и пароль",
        "an access token or a login and password is required",
    );
    pub const LOGIN_AND_PASSWORD: Text = tr(
        "логин и пароль указываются вместе",
        "login and password go together",
    );
    pub const COMAGIC_REFUSED: Text =
        tr("CoMagic отклонил доступ", "CoMagic refused the credentials");

    // The card.
    pub const MARKERS: Text = tr("Маркеры", "Markers");
    pub const IGNORE_SESSION: Text = tr("Игнорировать сессию", "Ignore session");
    pub const IGNORE_SESSION_HINT: Text = tr(
        "все обращения передаются в рекламную кампанию/источник по умолчанию",
        "every request goes to the default ad campaign/source",
    );
    pub const SET_TAGS: Text = tr("Устанавливать теги", "Set tags");
    pub const TAGS: Text = tr("Теги", "Tags");
    pub const TAGS_HINT: Text = tr(
        "проставляются на все обращения и чаты из Leadback",
        "set on every request and chat from Leadback",
    );
    pub const ENTITY: Text = tr("Рекламная кампания/источник", "Ad campaign/source");
    pub const ENTITY_HINT: Text = tr(
        "для обращений без сессии; маркер снят — рекламная кампания, прожат — источник",
        "for requests without a session; off: ad campaign, on: source",
    );
    pub const LISTS: Text = tr("Из кабинета CoMagic", "From the CoMagic account");
    pub const CAMPAIGN: Text = tr("Рекламная кампания", "Ad campaign");
    pub const NO_CAMPAIGN_VISITORS: Text = tr(
        "Посетители без рекламной кампании",
        "Visitors without an ad campaign",
    );
    pub const SOURCE: Text = tr("Источник", "Source");
    pub const SITE: Text = tr("Сайт", "Site");
    pub const SITE_HINT: Text = tr(
        "для источника и для кампании −1",
        "for a source and for campaign −1",
    );
    pub const CHAT_OPERATOR: Text = tr("Оператор чата", "Chat operator");
    pub const MORE: Text = tr("Дополнительно", "More");
    pub const TIMEZONE: Text = tr("Часовой пояс", "Time zone");
    pub const TIMEZONE_PLACEHOLDER: Text = tr("из кабинета", "the account's");
    pub const IN_ACCOUNT: Text = tr("в кабинете", "in the account");
    pub const LEADBACK_TIMEZONE: Text = tr("Часовой пояс Leadback", "Leadback's time zone");
    pub const LEADBACK_TIMEZONE_HINT: Text =
        tr("для времени без смещения", "for times without an offset");
    pub const UPLOAD_SESSIONS: Text = tr(
        "Создавать сессию из данных визита (UTM)",
        "Upload a session from the visit data (UTM)",
    );
    pub const SAVE: Text = tr("Сохранить", "Save");
    pub const NONE_CHOSEN: Text = tr("— не выбрано —", "— none —");
    pub const NOT_IN_ACCOUNT: Text = tr("нет в кабинете", "not in the account");
    pub const LIST_NOT_LOADED: Text = tr("список не загружен", "list not loaded");

    // Notices and warnings.
    pub const CREATED: Text = tr(
        "Интеграция создана (неактивна). Выберите настройки и сохраните с маркером «Активен».",
        "Integration created (inactive). Choose the settings and save with Active on.",
    );
    pub const CREATED_UNVERIFIED: Text = tr(
        "Интеграция создана, но CoMagic не ответил: доступ не проверен.",
        "Integration created, but CoMagic did not answer: the credentials are not verified.",
    );
    pub const ROTATED: Text = tr(
        "Выдан новый URL, старый больше не работает.",
        "A new URL is issued; the old one no longer works.",
    );
    pub const REPLAYED: Text = tr("Повторено", "Replayed");
    pub const REPLAY_FAILED: Text = tr("Не удалось повторить", "Could not replay");
    pub const SAVED_ACTIVE: Text = tr(
        "Сохранено, интеграция активна.",
        "Saved; the integration is active.",
    );
    pub const SAVED_INACTIVE: Text = tr(
        "Сохранено, интеграция неактивна.",
        "Saved; the integration is inactive.",
    );
    pub const NOT_CHECKED: Text = tr("Не проверено в CoMagic", "Not checked in CoMagic");
    pub const FORM_ERRORS: Text = tr(
        "Настройки не сохранены, исправьте поля ниже.",
        "Settings not saved; fix the fields below.",
    );
    pub const STORED_REFUSED: Text = tr(
        "CoMagic отклонил сохранённый доступ",
        "CoMagic refused the stored credentials",
    );
    pub const UNREACHABLE: Text = tr(
        "CoMagic недоступен, списки не загружены; id можно ввести вручную",
        "CoMagic is unreachable, lists not loaded; ids can be typed in",
    );

    // The webhook and the Leadback steps.
    pub const WEBHOOK: Text = tr("Вебхук в Leadback", "The webhook in Leadback");
    pub const COPY: Text = tr("Скопировать", "Copy");
    pub const COPIED: Text = tr("Скопировано", "Copied");
    pub const STEP_COPY: Text = tr("Скопируйте сгенерированный URL:", "Copy the generated URL:");
    pub const STEP_PASTE: Text = tr(
        "В личном кабинете Leadback добавьте вебхук на этот URL: Профиль → API → URL-адрес обработчика.",
        "In the Leadback account, add a webhook to this URL: Profile → API → handler URL.",
    );
    pub const STEP_TEST: Text = tr(
        "Для проверки оставьте тестовое обращение в форме Leadback на сайте.",
        "To check the integration, leave a test request in the Leadback form on the site.",
    );
    pub const AFTER_CONNECT: Text = tr(
        "После подключения заявки и чаты попадают в CoMagic: Сырые данные → Обращения и цели.",
        "Once connected, requests and chats appear in CoMagic under Raw data → Requests and goals.",
    );
    pub const URL_ONCE: Text = tr(
        "URL показывается только сейчас; потерянный URL можно заменить новым.",
        "The URL is shown only now; a lost URL can be replaced with a new one.",
    );
    pub const URL_HIDDEN: Text = tr(
        "URL показывается только при выдаче. Чтобы получить новый (старый перестанет работать), нажмите «Сменить URL».",
        "The URL is shown only when issued. To get a new one (the old one stops working), press Rotate URL.",
    );
    pub const ROTATE: Text = tr("Сменить URL", "Rotate URL");

    // Deliveries, problems, dead letters, deletion.
    pub const DELIVERIES: Text = tr("Последние доставки", "Recent deliveries");
    pub const RECEIVED: Text = tr("Получено", "Received");
    pub const KIND: Text = tr("Тип", "Kind");
    pub const EVENT: Text = tr("Событие", "Event");
    pub const ATTEMPTS: Text = tr("Попыток", "Attempts");
    pub const DELIVERED: Text = tr("Доставлено", "Delivered");
    pub const COMPLETE: Text = tr("Завершено", "Complete");
    pub const NEEDS_ATTENTION: Text = tr("Требует внимания", "Needs attention");
    pub const PROBLEMS_INTRO: Text = tr(
        "Эти события задержаны настройками интеграции, а не самими событиями. Исправьте настройки, сохраните, затем повторите их.",
        "These events are held back by the integration's settings, not by the events: fix the settings, save, then replay them.",
    );
    pub const REPLAY_THESE: Text = tr("Повторить эти", "Replay these");
    pub const DEAD_LETTERS: Text = tr("Недоставленные", "Dead letters");
    pub const WHEN: Text = tr("Когда", "When");
    pub const CLASS: Text = tr("Класс", "Class");
    pub const REPLAY: Text = tr("Повторить", "Replay");
    pub const REPLAY_ALL: Text = tr("Повторить все", "Replay all");
    pub const DELETION: Text = tr("Удаление", "Deletion");
    pub const DELETE: Text = tr("Удалить интеграцию", "Delete the integration");

    // The field map.
    pub const FIELD_MAP: Text = tr("Поля Leadback", "Leadback fields");
    pub const FIELD_MAP_INTRO: Text = tr(
        "Где в теле вебхука искать каждое значение: пути через точку (lead.contact_phone, visitor.phones.0), несколько — через запятую. Они проверяются раньше встроенных названий; пустое поле — только встроенные.",
        "Where in the webhook body each value is: dotted paths (lead.contact_phone, visitor.phones.0), several separated by commas. They are tried before the built-in names; blank means the built-in names only.",
    );
    pub const SHOW_FIELD_MAP: Text = tr("Пути к полям", "Paths of the fields");
    pub const BUILT_IN: Text = tr("встроенные", "built-in");
    pub const SAVE_FIELD_MAP: Text = tr("Сохранить поля", "Save the fields");
    pub const FIELD_MAP_SAVED: Text = tr(
        "Поля сохранены; повторите недоставленные, чтобы применить их к ним.",
        "Fields saved; replay the dead letters to apply them there.",
    );
    pub const FIELD_MAP_ERRORS: Text = tr(
        "Поля не сохранены, исправьте отмеченные.",
        "Fields not saved; fix the marked entries.",
    );

    // The preview.
    pub const PREVIEW: Text = tr("Проверка запроса", "Check a request");
    pub const PREVIEW_INTRO: Text = tr(
        "Вставьте тело запроса Leadback: мост покажет, что он из него прочтёт и какие вызовы CoMagic сделает. Ничего не отправляется.",
        "Paste a Leadback request body: the bridge shows what it reads from it and which CoMagic calls it would make. Nothing is sent.",
    );
    pub const BODY: Text = tr("Тело запроса", "Request body");
    pub const CONTENT_TYPE: Text = tr("Тип содержимого", "Content type");
    pub const CHECK: Text = tr("Проверить", "Check");
    pub const PREVIEW_RESULT: Text = tr("Результат проверки", "Check result");
    pub const WOULD_DELIVER: Text = tr(
        "Будет доставлено в CoMagic.",
        "Would be delivered to CoMagic.",
    );
    pub const WOULD_NOT_DELIVER: Text = tr("Не будет доставлено", "Would not be delivered");
    pub const CONTACT_NAME: Text = tr("Имя", "Name");
    pub const PHONE: Text = tr("Телефон", "Phone");
    pub const EMAIL: Text = tr("Email", "Email");
    pub const FOUND: Text = tr("Найдено (значение ← путь)", "Found (meaning ← path)");
    pub const UNMATCHED: Text = tr("Ключи без сопоставления", "Keys that matched nothing");
    pub const CALLS: Text = tr("Вызовы CoMagic", "CoMagic calls");
    pub const WARNINGS: Text = tr("Предупреждения", "Warnings");
    pub const CHECK_THIS: Text = tr("Проверить", "Check");

    // Health.
    pub const HEALTH: Text = tr("Состояние интеграции", "Integration health");
    pub const LAST_ACCEPTED: Text = tr("Последний принятый вебхук", "Last webhook accepted");
    pub const LAST_DELIVERED: Text = tr("Последняя доставка", "Last delivery");
    pub const LAST_ERROR: Text = tr("Последняя ошибка", "Last error");
    pub const COMAGIC_REACHABLE: Text = tr("CoMagic отвечает", "CoMagic reachable");
    pub const CREDENTIALS_ACCEPTED: Text = tr("Доступ принят", "Credentials accepted");
    pub const UNKNOWN: Text = tr("неизвестно", "unknown");
    pub const TIMEZONES: Text = tr(
        "Часовой пояс: сохранённый / в кабинете",
        "Time zone: stored / in the account",
    );
    pub const TIMEZONE_DIFFERS: Text = tr(
        "отличается: сохраните настройки, чтобы взять пояс кабинета",
        "differs: save the settings to take the account's",
    );
    pub const BUDGET: Text = tr(
        "Остаток лимита CoMagic: минута / сутки",
        "CoMagic budget left: minute / day",
    );
    pub const HEALTH_UNAVAILABLE: Text = tr("Состояние не получено", "Health not available");

    // Recent payloads.
    pub const RECENT_PAYLOADS: Text = tr(
        "Последние запросы от Leadback",
        "Recent requests from Leadback",
    );
    pub const NO_PAYLOADS: Text = tr("Пока ничего не получено.", "Nothing received yet.");
    pub const DELIVERY: Text = tr("Доставка", "Delivery");
    pub const STATE_DELIVERED: Text = tr("доставлено", "delivered");
    pub const STATE_DEAD_LETTER: Text = tr("недоставлено", "dead letter");
    pub const STATE_PENDING: Text = tr("в пути", "on its way");
    pub const REFUSED_AT_INGRESS: Text = tr("отклонено при приёме", "refused on receipt");
    pub const READ_AS: Text = tr("Прочитано", "Read as");

    // The test request.
    pub const TEST_REQUEST: Text = tr("Тестовое обращение", "Test request");
    pub const TEST_REQUEST_INTRO: Text = tr(
        "Отправляет через очередь и обработчик в CoMagic этой интеграции обращение, помеченное как тестовое в имени и тексте, и показывает результат.",
        "Sends a request marked as a test in its name and message through the queue and the worker to this integration's CoMagic, and shows the result.",
    );
    pub const SEND_TEST_REQUEST: Text = tr("Отправить тестовое обращение", "Send a test request");
    pub const TEST_DELIVERED: Text = tr(
        "Доставлено в CoMagic, id записи",
        "Delivered to CoMagic, record id",
    );
    pub const TEST_ALREADY_THERE: Text = tr(
        "Доставлено (CoMagic уже знал эту запись)",
        "Delivered (CoMagic already had this record)",
    );
    pub const TEST_PENDING: Text = tr(
        "Ещё в пути: обновите страницу через несколько секунд.",
        "Still on its way: reload the page in a few seconds.",
    );
    pub const TEST_FAILED: Text = tr("Не доставлено", "Not delivered");
    pub const WHAT_TO_FIX: Text = tr("Что исправить", "What to fix");
    pub const RELOAD: Text = tr("Обновить", "Reload");
    pub const TEST_NOT_SENT: Text = tr("Тестовое обращение не отправлено", "Test request not sent");
    pub const PARSED_EVENT: Text = tr("Разобранное событие", "Parsed event");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn russian_unless_english_is_asked_for() {
        type Case<'a> = (Option<&'a str>, &'a [(&'a str, &'a str)], Lang);
        let cases: [Case; 9] = [
            (None, &[], Lang::Ru),
            (None, &[("accept-language", "en")], Lang::En),
            (None, &[("accept-language", "en-US,en;q=0.9")], Lang::En),
            (
                None,
                &[("accept-language", "ru-RU,ru;q=0.9,en;q=0.8")],
                Lang::Ru,
            ),
            (
                None,
                &[("accept-language", "de, en;q=0.5, ru;q=0.7")],
                Lang::Ru,
            ),
            (None, &[("accept-language", "de")], Lang::Ru),
            (Some("lang=en"), &[("accept-language", "ru")], Lang::En),
            (
                None,
                &[
                    ("cookie", "a=b; bridge_admin_lang=en"),
                    ("accept-language", "ru"),
                ],
                Lang::En,
            ),
            (
                Some("lang=ru"),
                &[("cookie", "bridge_admin_lang=en")],
                Lang::Ru,
            ),
        ];
        for (query, pairs, expected) in cases {
            assert_eq!(
                Lang::of_request(query, &headers(pairs)),
                expected,
                "{query:?} {pairs:?}"
            );
        }
    }
}
