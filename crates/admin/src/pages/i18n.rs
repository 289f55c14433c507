//! The pages' one language at a time: Russian by default, English for `?lang=en` (remembered
//! in a cookie by [`remember_choice`]) or a browser asking for English first. Every fixed string
//! the pages show is in the table [`t`], in both languages side by side; every reason (why a
//! body would not map, what to fix, …) is said in both by `reasons` ([`Lang::say`]).

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

mod reasons;

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
    crate::auth::cookie_value(headers, LANG_COOKIE).and_then(|value| Lang::parse(&value))
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

/// The table below, one text a line: `NAME: "по-русски", "in English";`.
macro_rules! texts {
    ($($name:ident: $ru:literal, $en:literal;)*) => {
        $(pub const $name: Text = tr($ru, $en);)*
    };
}

/// Every string of the pages. The card's own wording (the original integration card) for its
/// fields, in its order.
pub(crate) mod t {
    use super::{tr, Text};

    texts! {
        // The frame and its errors.
        LANG_NAME: "Русский", "English";
        INTEGRATIONS: "Интеграции", "Integrations";
        NEW_INTEGRATION: "Новая интеграция", "New integration";
        SIGN_OUT: "Выйти", "Sign out";
        REFUSED: "Запрос отклонён", "Request refused";
        CSRF_STALE: "Форма устарела или подделана (CSRF). Обновите страницу.", "The form is stale or forged (CSRF). Reload the page.";
        ERROR: "Ошибка", "Error";
        INTERNAL: "Внутренняя ошибка, см. журнал.", "Internal error, see the log.";
        NOT_FOUND: "Не найдено", "Not found";
        NO_SUCH_TENANT: "Такой интеграции нет.", "No such integration.";
        BACK_TO_LIST: "← Интеграции", "← Integrations";

        // Sign-in.
        SIGN_IN_TITLE: "Вход", "Sign in";
        ADMIN_TOKEN: "Токен администратора", "Admin token";
        SIGN_IN: "Войти", "Sign in";
        WRONG_TOKEN: "Неверный токен", "Wrong token";

        // The list.
        LIST_TITLE: "Интеграции Leadback", "Leadback integrations";
        ADD_INTEGRATION: "+ Новая интеграция", "+ New integration";
        NAME: "Название", "Name";
        ACTIVE: "Активен", "Active";
        UPDATED: "Изменена", "Updated";
        YES: "да", "yes";
        NO: "нет", "no";
        STATUS: "Состояние", "Status";
        COMAGIC_API: "CoMagic API", "CoMagic API";
        COMAGIC_ID: "CoMagic id", "CoMagic id";
        // Over a column of buttons.
        BUTTONS: "", "";
        STATUS_OK: "в порядке", "ok";
        STATUS_WAITING: "ждёт CoMagic", "waiting for CoMagic";
        STATUS_ATTENTION: "требует внимания", "needs attention";
        NO_TENANTS: "Пока нет интеграций.", "No integrations yet.";

        // Step 1 and the credentials.
        STEP_ONE: "Шаг 1 из 2: название и доступ к CoMagic. Списки рекламных кампаний, источников, сайтов, тегов и сотрудников загружаются из кабинета клиента на следующем шаге.", "Step 1 of 2: a name and the CoMagic credentials. The lists of ad campaigns, sources, sites, tags and employees are loaded from the client's account in step 2.";
        NEXT: "Далее", "Next";
        CREDENTIALS: "Доступ к CoMagic", "CoMagic credentials";
        SECRETS_HIDDEN: "Сохранённые ключи не показываются. Оставьте поля пустыми, чтобы их не менять.", "Stored secrets are not shown. Leave the fields blank to keep them.";
        API_URL: "API URL (CoMagic, UIS или свой)", "API URL (CoMagic, UIS or your own)";
        ACCESS_TOKEN: "API-ключ", "Access token";
        OR: "или", "or";
        LOGIN: "Логин", "Login";
        PASSWORD: "Пароль", "Password";
        REQUIRED: "обязательно", "required";
        NOT_A_NUMBER: "не число", "not a number";
        CREDENTIALS_REQUIRED: "нужен API-ключ или логин и пароль", "an access token or a login and password is required";
        LOGIN_AND_PASSWORD: "логин и пароль указываются вместе", "login and password go together";
        COMAGIC_REFUSED: "CoMagic отклонил доступ", "CoMagic refused the credentials";

        // The card.
        MARKERS: "Маркеры", "Markers";
        IGNORE_SESSION: "Игнорировать сессию", "Ignore session";
        IGNORE_SESSION_HINT: "все обращения передаются в рекламную кампанию/источник по умолчанию", "every request goes to the default ad campaign/source";
        SET_TAGS: "Устанавливать теги", "Set tags";
        TAGS: "Теги", "Tags";
        TAGS_HINT: "проставляются на все обращения и чаты из Leadback", "set on every request and chat from Leadback";
        ENTITY: "Рекламная кампания/источник", "Ad campaign/source";
        ENTITY_HINT: "для обращений без сессии; маркер снят — рекламная кампания, прожат — источник", "for requests without a session; off: ad campaign, on: source";
        LISTS: "Из кабинета CoMagic", "From the CoMagic account";
        CAMPAIGN: "Рекламная кампания", "Ad campaign";
        NO_CAMPAIGN_VISITORS: "Посетители без рекламной кампании", "Visitors without an ad campaign";
        SOURCE: "Источник", "Source";
        SITE: "Сайт", "Site";
        SITE_HINT: "для источника и для кампании −1", "for a source and for campaign −1";
        CHAT_OPERATOR: "Оператор чата", "Chat operator";
        MORE: "Дополнительно", "More";
        TIMEZONE: "Часовой пояс", "Time zone";
        TIMEZONE_PLACEHOLDER: "из кабинета", "the account's";
        IN_ACCOUNT: "в кабинете", "in the account";
        LEADBACK_TIMEZONE: "Часовой пояс Leadback", "Leadback's time zone";
        LEADBACK_TIMEZONE_HINT: "для времени без смещения", "for times without an offset";
        UPLOAD_SESSIONS: "Создавать сессию из данных визита (UTM)", "Upload a session from the visit data (UTM)";
        SAVE: "Сохранить", "Save";
        NONE_CHOSEN: "— не выбрано —", "— none —";
        NOT_IN_ACCOUNT: "нет в кабинете", "not in the account";
        LIST_NOT_LOADED: "список не загружен", "list not loaded";

        // Notices and warnings.
        CREATED: "Интеграция создана (неактивна). Выберите настройки и сохраните с маркером «Активен».", "Integration created (inactive). Choose the settings and save with Active on.";
        CREATED_UNVERIFIED: "Интеграция создана, но CoMagic не ответил: доступ не проверен.", "Integration created, but CoMagic did not answer: the credentials are not verified.";
        ROTATED: "Выдан новый URL, старый больше не работает.", "A new URL is issued; the old one no longer works.";
        REPLAYED: "Повторено", "Replayed";
        REPLAY_FAILED: "Не удалось повторить", "Could not replay";
        SAVED_ACTIVE: "Сохранено, интеграция активна.", "Saved; the integration is active.";
        SAVED_INACTIVE: "Сохранено, интеграция неактивна.", "Saved; the integration is inactive.";
        NOT_CHECKED: "Не проверено в CoMagic", "Not checked in CoMagic";
        FORM_ERRORS: "Настройки не сохранены, исправьте поля ниже.", "Settings not saved; fix the fields below.";
        STORED_REFUSED: "CoMagic отклонил сохранённый доступ", "CoMagic refused the stored credentials";
        UNREACHABLE: "CoMagic недоступен, списки не загружены; id можно ввести вручную", "CoMagic is unreachable, lists not loaded; ids can be typed in";

        // The webhook and the Leadback steps.
        WEBHOOK: "Вебхук в Leadback", "The webhook in Leadback";
        COPY: "Скопировать", "Copy";
        COPIED: "Скопировано", "Copied";
        STEP_COPY: "Скопируйте сгенерированный URL:", "Copy the generated URL:";
        STEP_PASTE: "В личном кабинете Leadback добавьте вебхук на этот URL: Профиль → API → URL-адрес обработчика.", "In the Leadback account, add a webhook to this URL: Profile → API → handler URL.";
        STEP_TEST: "Для проверки оставьте тестовое обращение в форме Leadback на сайте.", "To check the integration, leave a test request in the Leadback form on the site.";
        AFTER_CONNECT: "После подключения заявки и чаты попадают в CoMagic: Сырые данные → Обращения и цели.", "Once connected, requests and chats appear in CoMagic under Raw data → Requests and goals.";
        URL_ONCE: "URL показывается только сейчас; потерянный URL можно заменить новым.", "The URL is shown only now; a lost URL can be replaced with a new one.";
        URL_HIDDEN: "URL показывается только при выдаче. Чтобы получить новый (старый перестанет работать), нажмите «Сменить URL».", "The URL is shown only when issued. To get a new one (the old one stops working), press Rotate URL.";
        ROTATE: "Сменить URL", "Rotate URL";

        // Deliveries, problems, dead letters, deletion.
        DELIVERIES: "Последние доставки", "Recent deliveries";
        RECEIVED: "Получено", "Received";
        KIND: "Тип", "Kind";
        EVENT: "Событие", "Event";
        ATTEMPTS: "Попыток", "Attempts";
        DELIVERED: "Доставлено", "Delivered";
        COMPLETE: "Завершено", "Complete";
        NEEDS_ATTENTION: "Требует внимания", "Needs attention";
        PROBLEMS_INTRO: "Эти события задержаны настройками интеграции, а не самими событиями. Исправьте настройки, сохраните, затем повторите их.", "These events are held back by the integration's settings, not by the events: fix the settings, save, then replay them.";
        REPLAY_THESE: "Повторить эти", "Replay these";
        DEAD_LETTERS: "Недоставленные", "Dead letters";
        WHEN: "Когда", "When";
        CLASS: "Класс", "Class";
        REPLAY: "Повторить", "Replay";
        REPLAY_ALL: "Повторить все", "Replay all";
        DELETION: "Удаление", "Deletion";
        DELETE: "Удалить интеграцию", "Delete the integration";

        // The field map.
        FIELD_MAP: "Поля Leadback", "Leadback fields";
        FIELD_MAP_INTRO: "Где в теле вебхука искать каждое значение: пути через точку (lead.contact_phone, visitor.phones.0), несколько — через запятую. Они проверяются раньше встроенных названий; пустое поле — только встроенные.", "Where in the webhook body each value is: dotted paths (lead.contact_phone, visitor.phones.0), several separated by commas. They are tried before the built-in names; blank means the built-in names only.";
        SHOW_FIELD_MAP: "Пути к полям", "Paths of the fields";
        BUILT_IN: "встроенные", "built-in";
        SAVE_FIELD_MAP: "Сохранить поля", "Save the fields";
        FIELD_MAP_SAVED: "Поля сохранены; повторите недоставленные, чтобы применить их к ним.", "Fields saved; replay the dead letters to apply them there.";
        FIELD_MAP_ERRORS: "Поля не сохранены, исправьте отмеченные.", "Fields not saved; fix the marked entries.";

        // The preview.
        PREVIEW: "Проверка запроса", "Check a request";
        PREVIEW_INTRO: "Вставьте тело запроса Leadback: мост покажет, что он из него прочтёт и какие вызовы CoMagic сделает. Ничего не отправляется.", "Paste a Leadback request body: the bridge shows what it reads from it and which CoMagic calls it would make. Nothing is sent.";
        BODY: "Тело запроса", "Request body";
        CONTENT_TYPE: "Тип содержимого", "Content type";
        CHECK: "Проверить", "Check";
        PREVIEW_RESULT: "Результат проверки", "Check result";
        WOULD_DELIVER: "Будет доставлено в CoMagic.", "Would be delivered to CoMagic.";
        WOULD_NOT_DELIVER: "Не будет доставлено", "Would not be delivered";
        CONTACT_NAME: "Имя", "Name";
        PHONE: "Телефон", "Phone";
        EMAIL: "Email", "Email";
        FOUND: "Найдено (значение ← путь)", "Found (meaning ← path)";
        UNMATCHED: "Ключи без сопоставления", "Keys that matched nothing";
        CALLS: "Вызовы CoMagic", "CoMagic calls";
        WARNINGS: "Предупреждения", "Warnings";
        CHECK_THIS: "Проверить", "Check";

        // Health.
        HEALTH: "Состояние интеграции", "Integration health";
        LAST_ACCEPTED: "Последний принятый вебхук", "Last webhook accepted";
        LAST_DELIVERED: "Последняя доставка", "Last delivery";
        LAST_ERROR: "Последняя ошибка", "Last error";
        COMAGIC_REACHABLE: "CoMagic отвечает", "CoMagic reachable";
        CREDENTIALS_ACCEPTED: "Доступ принят", "Credentials accepted";
        UNKNOWN: "неизвестно", "unknown";
        TIMEZONES: "Часовой пояс: сохранённый / в кабинете", "Time zone: stored / in the account";
        TIMEZONE_DIFFERS: "отличается: сохраните настройки, чтобы взять пояс кабинета", "differs: save the settings to take the account's";
        BUDGET: "Остаток лимита CoMagic: минута / сутки", "CoMagic budget left: minute / day";
        HEALTH_UNAVAILABLE: "Состояние не получено", "Health not available";

        // Recent payloads.
        RECENT_PAYLOADS: "Последние запросы от Leadback", "Recent requests from Leadback";
        NO_PAYLOADS: "Пока ничего не получено.", "Nothing received yet.";
        DELIVERY: "Доставка", "Delivery";
        STATE_DELIVERED: "доставлено", "delivered";
        STATE_DEAD_LETTER: "недоставлено", "dead letter";
        STATE_PENDING: "в пути", "on its way";
        REFUSED_AT_INGRESS: "отклонено при приёме", "refused on receipt";
        READ_AS: "Прочитано", "Read as";

        // The test request.
        TEST_REQUEST: "Тестовое обращение", "Test request";
        TEST_REQUEST_INTRO: "Отправляет через очередь и обработчик в CoMagic этой интеграции обращение, помеченное как тестовое в имени и тексте, и показывает результат.", "Sends a request marked as a test in its name and message through the queue and the worker to this integration's CoMagic, and shows the result.";
        SEND_TEST_REQUEST: "Отправить тестовое обращение", "Send a test request";
        TEST_DELIVERED: "Доставлено в CoMagic, id записи", "Delivered to CoMagic, record id";
        TEST_ALREADY_THERE: "Доставлено (CoMagic уже знал эту запись)", "Delivered (CoMagic already had this record)";
        TEST_PENDING: "Ещё в пути: обновите страницу через несколько секунд.", "Still on its way: reload the page in a few seconds.";
        TEST_FAILED: "Не доставлено", "Not delivered";
        WHAT_TO_FIX: "Что исправить", "What to fix";
        RELOAD: "Обновить", "Reload";
        TEST_NOT_SENT: "Тестовое обращение не отправлено", "Test request not sent";
        PARSED_EVENT: "Разобранное событие", "Parsed event";

        // What to fix after a failed test request; the entities a setting names.
        FIX_CREDENTIALS: "CoMagic отклонил доступ: введите действующий API-ключ (или логин и пароль) в настройках интеграции, затем отправьте тестовое обращение ещё раз", "CoMagic refused the credentials: enter a valid access token (or login and password) in the tenant's settings, then send another test request";
        FIX_SETTINGS: "настройки интеграции не подходят к её кабинету CoMagic (что именно — в сообщении): исправьте их, сохраните и отправьте тестовое обращение ещё раз", "the tenant's settings do not fit its CoMagic account (the message names what): correct them, save, then send another test request";
        FIX_RECORD: "CoMagic отклонил запись (параметр назван в сообщении): сверьте id кампании, сайта и сотрудника по умолчанию с кабинетом", "CoMagic refused the record (the message names the parameter): check the default campaign, site and employee ids against the account";
        FIX_MAPPING: "тестовое обращение не удалось превратить в запись CoMagic: проверьте кампанию или сайт по умолчанию и поля Leadback", "the test request could not be mapped to a CoMagic record: check the tenant's default entity (campaign or site) and field map";
        FIX_EXHAUSTED: "CoMagic отвечал ошибкой, пока не кончились попытки: проверьте, что CoMagic работает и доступен мосту, затем отправьте тестовое обращение ещё раз", "CoMagic kept failing until the attempts ran out: check that CoMagic is up and reachable from the bridge, then send another test request";
        FIX_SEE_LOG: "причина — в недоставленном событии и в журнале моста", "see the dead letter and the bridge's log for the cause";
        ENTITY_CAMPAIGN: "кампания", "campaign";
        ENTITY_SOURCE: "источник", "source";
        ENTITY_SITE: "сайт", "site";
        ENTITY_TAG: "тег", "tag";
        ENTITY_EMPLOYEE: "сотрудник", "employee";
    }
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
