//! The frame of every page (navigation, language switch, the stylesheet and script the bridge
//! serves itself) and the finished error pages.

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::i18n::{t, Lang, Text};
use crate::auth::Session;

pub(super) const STYLESHEET_PATH: &str = "/admin/assets/page.css";
pub(super) const SCRIPT_PATH: &str = "/admin/assets/page.js";
const STYLESHEET: &str = include_str!("assets/page.css");
const SCRIPT: &str = include_str!("assets/page.js");

/// What the frame needs besides the content.
pub(super) struct Frame<'a> {
    pub lang: Lang,
    /// `None` on the sign-in page: no navigation.
    pub session: Option<&'a Session>,
    /// The page's own GET path, which the language switch reloads.
    pub here: &'a str,
}

/// A table in its scrolling wrapper: the column headings in the page's language
/// ([`t::BUTTONS`] over a column of buttons), then the rows.
pub(super) fn table(lang: Lang, id: &str, headings: &[Text], rows: Markup) -> Markup {
    html! {
        div.table-wrap {
            table id=(id) {
                thead { tr { @for heading in headings { th scope="col" { (lang.t(*heading)) } } } }
                tbody { (rows) }
            }
        }
    }
}

pub(super) fn layout(frame: &Frame<'_>, title: &str, body: Markup) -> Markup {
    let lang = frame.lang;
    let other = lang.other();
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Leadback → CoMagic" }
                link rel="stylesheet" href=(STYLESHEET_PATH);
            }
            body {
                header.top {
                    nav aria-label="Leadback → CoMagic" {
                        @if let Some(session) = frame.session {
                            a href="/admin/" { (lang.t(t::INTEGRATIONS)) }
                            a href="/admin/tenants/new" { (lang.t(t::NEW_INTEGRATION)) }
                            form method="post" action="/admin/logout" {
                                (csrf_field(session))
                                button type="submit" id="logout" { (lang.t(t::SIGN_OUT)) }
                            }
                        }
                    }
                    a id="lang-switch" href={ (frame.here) "?lang=" (other.code()) }
                        hreflang=(other.code()) lang=(other.code()) { (other.t(t::LANG_NAME)) }
                }
                main {
                    h1 { (title) }
                    (body)
                }
                script src=(SCRIPT_PATH) defer {}
            }
        }
    }
}

/// The session's CSRF token as a hidden form field.
pub(super) fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name=(crate::auth::CSRF_FIELD) value=(session.csrf); }
}

pub(super) fn page_response(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Html(markup.into_string()),
    )
        .into_response()
}

fn message_page(lang: Lang, status: StatusCode, title: &str, body: Markup) -> Response {
    let frame = Frame {
        lang,
        session: None,
        here: "/admin/",
    };
    page_response(status, layout(&frame, title, body))
}

pub(super) fn internal(lang: Lang, error: impl std::fmt::Display) -> Response {
    tracing::error!(error = %error, "admin page failed");
    message_page(
        lang,
        StatusCode::INTERNAL_SERVER_ERROR,
        lang.t(t::ERROR),
        html! { p.error { (lang.t(t::INTERNAL)) } },
    )
}

pub(super) fn not_found(lang: Lang) -> Response {
    message_page(
        lang,
        StatusCode::NOT_FOUND,
        lang.t(t::NOT_FOUND),
        html! {
            p { (lang.t(t::NO_SUCH_TENANT)) }
            a href="/admin/" { (lang.t(t::BACK_TO_LIST)) }
        },
    )
}

pub(super) fn csrf_refused(lang: Lang) -> Response {
    message_page(
        lang,
        StatusCode::FORBIDDEN,
        lang.t(t::REFUSED),
        html! { p.error { (lang.t(t::CSRF_STALE)) } },
    )
}

pub(super) async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

pub(super) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
