//! The signed-in operator of a page request; anyone else is sent to the sign-in page.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};

use crate::auth::Session;
use crate::Ctx;

pub(super) struct PageSession(pub Session);

impl FromRequestParts<Ctx> for PageSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Self::Rejection> {
        ctx.sessions
            .lookup(&parts.headers)
            .await
            .map(PageSession)
            .ok_or_else(|| Redirect::to("/admin/login").into_response())
    }
}
