//! Posted forms: the `application/x-www-form-urlencoded` body with repeated names kept, checked
//! against the session's CSRF token before any handler reads it ([`TenantPost`] for the forms of
//! a tenant's page), and the inline field errors.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::response::{IntoResponse, Redirect, Response};
use bridge_store::Tenant;
use maud::{html, Markup};

use super::i18n::Lang;
use super::layout::{csrf_refused, not_found};
use super::session::PageSession;
use super::tenant_page::{load_tenant, page_data, FormValues, PageData};
use crate::auth::{Session, CSRF_FIELD};
use crate::reasons::{add_field_error, joined, FieldErrors, Reason};
use crate::Ctx;

pub(super) struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &[u8]) -> Self {
        FormData(form_urlencoded::parse(body).into_owned().collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The trimmed value, `None` when absent or blank.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every field whose name starts with `prefix`, the prefix cut off.
    pub fn with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.0.iter().filter_map(move |(key, value)| {
            key.strip_prefix(prefix).map(|rest| (rest, value.as_str()))
        })
    }

    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// An optional id field; a value that is no number is an error on that field.
    pub fn id(&self, name: &str, errors: &mut FieldErrors) -> Option<i64> {
        let text = self.text(name)?;
        match text.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => {
                add_field_error(errors, name, Reason::NotANumber);
                None
            }
        }
    }
}

/// A posted form of a signed-in operator whose CSRF token matched the session's; otherwise
/// the sign-in redirect or the finished "stale form" page.
pub(super) struct PagePost {
    pub ctx: Ctx,
    pub lang: Lang,
    pub session: Session,
    pub form: FormData,
}

impl FromRequest<Ctx> for PagePost {
    type Rejection = Response;

    async fn from_request(request: Request, ctx: &Ctx) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let lang = Lang::of_request(parts.uri.query(), &parts.headers);
        let PageSession(session) = PageSession::from_request_parts(&mut parts, ctx).await?;
        let body = Bytes::from_request(Request::from_parts(parts, body), ctx)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = csrf_form(&session, lang, &body)?;
        let ctx = ctx.clone();
        let post = PagePost {
            ctx,
            lang,
            session,
            form,
        };
        Ok(post)
    }
}

/// A [`PagePost`] on a tenant's page (its fields reached through it), once the tenant `{id}`
/// of the path was found.
pub(super) struct TenantPost {
    pub post: PagePost,
    pub tenant: Tenant,
}

impl std::ops::Deref for TenantPost {
    type Target = PagePost;

    fn deref(&self) -> &PagePost {
        &self.post
    }
}

impl FromRequest<Ctx> for TenantPost {
    type Rejection = Response;

    async fn from_request(request: Request, ctx: &Ctx) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let id = Path::<String>::from_request_parts(&mut parts, ctx).await;
        let post = PagePost::from_request(Request::from_parts(parts, body), ctx).await?;
        let Ok(Path(id)) = id else {
            return Err(not_found(post.lang));
        };
        let tenant = load_tenant(ctx, post.lang, &id).await?;
        Ok(TenantPost { post, tenant })
    }
}

impl TenantPost {
    /// The tenant's page as stored, to show this post's outcome on.
    pub async fn page(&self) -> Result<PageData<'_>, Response> {
        let values = FormValues::of(&self.tenant);
        page_data(&self.ctx, self.lang, &self.session, &self.tenant, values).await
    }

    /// A redirect to the tenant's page, `rest` appended (`?query#anchor`).
    pub fn back(&self, rest: &str) -> Response {
        Redirect::to(&format!("/admin/tenants/{}{rest}", self.tenant.id)).into_response()
    }
}

/// The form, after its CSRF token matched the session's.
pub(super) fn csrf_form(session: &Session, lang: Lang, body: &[u8]) -> Result<FormData, Response> {
    let form = FormData::parse(body);
    if session.csrf_matches(form.get(CSRF_FIELD)) {
        Ok(form)
    } else {
        Err(csrf_refused(lang))
    }
}

/// The error of one field, next to it, in the page's language; `data-field` names the field
/// as the API does.
pub(super) fn field_error(lang: Lang, errors: &FieldErrors, field: &str) -> Markup {
    html! {
        @if let Some(reasons) = errors.get(field) {
            span.error data-field=(field) id={ "error-" (field) } role="alert" { " " (joined(lang, reasons)) }
        }
    }
}
