//! The test request on the tenant page: a button that sends a synthetic callback, marked as a
//! test, through the real pipeline to the tenant's CoMagic, waits a few seconds for it, and
//! shows CoMagic's record id, or the error and what to fix.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};

use super::forms::TenantPost;
use super::i18n::{t, Lang};
use super::layout::{csrf_field, internal};
use super::tenant_page::{render_tenant, PageData};
use crate::error::ApiError;
use crate::reasons::joined;
use crate::test_request::{send_test_request, test_request_result, TestRequestResult};

/// How long the button waits for the result before showing the page (it says "still on its
/// way" then, and a reload shows the rest).
const WAIT: Duration = Duration::from_secs(8);

pub(super) async fn send(post: TenantPost) -> Result<Response, Response> {
    let (ctx, lang, tenant) = (&post.ctx, post.lang, &post.tenant);
    let event_id = match send_test_request(&ctx.app, tenant.id).await {
        Ok(event_id) => event_id,
        Err(ApiError::InvalidSettings { fields, .. }) => {
            // An inactive tenant: said on the page, nothing queued.
            let mut data = post.page().await?;
            for reasons in fields.values() {
                let message = joined(lang, reasons);
                data.warnings
                    .push(format!("{}: {message}", lang.t(t::TEST_NOT_SENT)));
            }
            return Ok(render_tenant(StatusCode::UNPROCESSABLE_ENTITY, &data));
        }
        Err(e) => return Err(internal(lang, e)),
    };
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        match test_request_result(&ctx.app, tenant.id, &event_id).await {
            Ok(result) if result.state != "pending" => break,
            Ok(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(e) => return Err(internal(lang, e)),
        }
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("test_request", &event_id)
        .finish();
    Ok(post.back(&format!("?{query}#test-request")))
}

fn result_markup(lang: Lang, here: &str, result: &TestRequestResult) -> Markup {
    html! {
        div id="test-request-result" role="status" aria-live="polite" data-state=(result.state) {
            @match result.state {
                "delivered" => {
                    @if let Some(id) = result.comagic_id {
                        p.notice { (lang.t(t::TEST_DELIVERED)) ": " strong id="test-request-comagic-id" { (id) } }
                    } @else {
                        p.notice { (lang.t(t::TEST_ALREADY_THERE)) }
                    }
                }
                "failed" => {
                    p.error {
                        (lang.t(t::TEST_FAILED))
                        @if let Some(error) = &result.error {
                            ": " code { (error.class) } " "
                            @if let Some(m) = &error.mnemonic { code { (m) } " " }
                            (error.message)
                        }
                    }
                    @if let Some(fix) = &result.fix { p { strong { (lang.t(t::WHAT_TO_FIX)) ": " } (lang.say(fix)) } }
                }
                _ => {
                    p.warning { (lang.t(t::TEST_PENDING)) " "
                        a href={ (here) "?test_request=" (result.event_id) "#test-request" } { (lang.t(t::RELOAD)) } }
                }
            }
            p.hint { code { (result.event_id) } }
        }
    }
}

pub(super) fn test_request_section(data: &PageData<'_>) -> Markup {
    let lang = data.lang;
    let here = data.path();
    html! {
        section id="test-request" aria-labelledby="test-request-title" {
            h2 id="test-request-title" { (lang.t(t::TEST_REQUEST)) }
            p.hint { (lang.t(t::TEST_REQUEST_INTRO)) }
            form method="post" action={ (here) "/test-request" } {
                (csrf_field(data.session))
                button type="submit" id="send-test-request" { (lang.t(t::SEND_TEST_REQUEST)) }
            }
            @if let Some(result) = &data.test_request { (result_markup(lang, &here, result)) }
        }
    }
}
