//! A signed-in browser for the pages: its cookies, form posts with the CSRF token, and the
//! two-step creation of a tenant through the pages.

use axum::http::{header, Method, StatusCode};
use uuid::Uuid;

use super::{Answer, Rig, ADMIN_TOKEN};

pub const FORM: &str = "application/x-www-form-urlencoded";

pub fn encode(fields: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// The value of the first `name="csrf" value="…"` in a page.
pub fn csrf_of(html: &str) -> String {
    let start = html.find(r#"name="csrf" value=""#).expect("no CSRF field") + 19;
    html[start..].split('"').next().unwrap().to_owned()
}

pub fn location(answer: &Answer) -> String {
    answer.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned()
}

pub struct Browser<'a> {
    pub rig: &'a Rig,
    pub cookie: String,
    /// Other cookies the pages set (the issued webhook URL), kept as a browser would.
    jar: std::sync::Mutex<Vec<(String, String)>>,
}

impl Browser<'_> {
    pub fn new(rig: &Rig, cookie: String) -> Browser<'_> {
        Browser {
            rig,
            cookie,
            jar: std::sync::Mutex::default(),
        }
    }

    pub fn cookie_header(&self) -> String {
        let jar = self.jar.lock().unwrap();
        std::iter::once(self.cookie.clone())
            .chain(jar.iter().map(|(name, value)| format!("{name}={value}")))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Keeps what the answer's `Set-Cookie` headers set (not the session, which is fixed).
    pub fn remember(&self, answer: Answer) -> Answer {
        let mut jar = self.jar.lock().unwrap();
        for set in answer.headers.get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if self.cookie.starts_with(&format!("{name}=")) {
                continue;
            }
            jar.retain(|(kept, _)| kept != name);
            if !set.contains("Max-Age=0") {
                jar.push((name.to_owned(), value.to_owned()));
            }
        }
        drop(jar);
        answer
    }

    pub async fn get(&self, path: &str) -> Answer {
        let answer = self
            .rig
            .request(Method::GET, path, &[("cookie", self.cookie_header())], None)
            .await;
        self.remember(answer)
    }

    /// A GET whose browser prefers the languages `accept_language`.
    pub async fn get_in(&self, path: &str, accept_language: &str) -> Answer {
        let headers = [
            ("cookie", self.cookie_header()),
            ("accept-language", accept_language.to_owned()),
        ];
        self.rig.request(Method::GET, path, &headers, None).await
    }

    /// Posts a form of the signed-in page: `fields` and the session's CSRF token, as a
    /// browser sends the hidden field.
    pub async fn submit(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let page = self.get("/admin/").await;
        let csrf = csrf_of(&page.body);
        let fields: Vec<(&str, &str)> = std::iter::once(("csrf", csrf.as_str()))
            .chain(fields.iter().copied())
            .collect();
        self.post(path, &fields).await
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let answer = self
            .rig
            .request(
                Method::POST,
                path,
                &[
                    ("cookie", self.cookie_header()),
                    ("content-type", FORM.to_owned()),
                ],
                Some(encode(fields)),
            )
            .await;
        self.remember(answer)
    }
}

/// The sign-in form posted with `token`.
pub async fn post_login(rig: &Rig, token: &str) -> Answer {
    let form = [("content-type", FORM.to_owned())];
    let body = Some(encode(&[("token", token)]));
    rig.request(Method::POST, "/admin/login", &form, body).await
}

pub async fn sign_in(rig: &Rig) -> Browser<'_> {
    let answer = post_login(rig, ADMIN_TOKEN).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let set_cookie = answer.headers[header::SET_COOKIE].to_str().unwrap();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    Browser::new(rig, cookie)
}

/// Step 1 of the creation flow with the demo account; returns the tenant id and its page.
pub async fn create_via_page(browser: &Browser<'_>) -> (Uuid, Answer) {
    let new = browser.get("/admin/tenants/new").await;
    assert_eq!(new.status, StatusCode::OK);
    let csrf = csrf_of(&new.body);
    let api_url = browser.rig.emulator.api_url();
    let created = browser
        .post(
            "/admin/tenants",
            &[
                ("csrf", &csrf),
                ("name", "Цветы"),
                ("api_url", &api_url),
                ("access_token", "demo-token"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let location = location(&created);
    let id: Uuid = location
        .strip_prefix("/admin/tenants/")
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let page = browser.get(&location).await;
    assert_eq!(page.status, StatusCode::OK);
    (id, page)
}

pub fn webhook_url_in(html: &str) -> Option<String> {
    let start = html.find(r#"id="webhook-url">"#)? + 17;
    Some(html[start..].split('<').next()?.to_owned())
}

/// The card's fields that are not secrets, as the pages and the API name them.
pub const CARD_FIELDS: [&str; 12] = [
    "name",
    "active",
    "ignore_session",
    "set_tags",
    "tag_ids",
    "default_entity",
    "default_campaign_id",
    "default_source_id",
    "default_site_id",
    "chat_employee_id",
    "timezone",
    "api_url",
];
