//! The CoMagic credential inputs (write-only: never pre-filled with a secret) and what a form
//! carries of them.

use leadback_model::{ComagicAuth, ComagicCredentials};
use maud::{html, Markup};
use secrecy::SecretString;

use super::forms::{field_error, FormData};
use super::i18n::{t, Lang};
use crate::reasons::{add_field_error, FieldErrors, Reason};

/// CoMagic's and UIS's Data API endpoints, offered in the URL field.
pub(super) const API_URL_PRESETS: [(&str, &str); 2] = [
    ("https://dataapi.comagic.ru/v2.0", "CoMagic"),
    ("https://dataapi.uiscom.ru/v2.0", "UIS"),
];

pub(super) fn credentials_fields(
    lang: Lang,
    api_url: &str,
    errors: &FieldErrors,
    creating: bool,
) -> Markup {
    html! {
        fieldset id="comagic" {
            legend { (lang.t(t::CREDENTIALS)) }
            @if !creating { p.hint { (lang.t(t::SECRETS_HIDDEN)) } }
            (field_error(lang, errors, "comagic"))
            label for="api_url" { (lang.t(t::API_URL)) }
            input type="url" name="api_url" id="api_url" list="api-url-presets" value=(api_url) required;
            (field_error(lang, errors, "comagic.api_url"))
            datalist id="api-url-presets" {
                @for (url, label) in API_URL_PRESETS { option value=(url) { (label) } }
            }
            label for="access_token" { (lang.t(t::ACCESS_TOKEN)) }
            input type="password" name="access_token" id="access_token" autocomplete="off" value="";
            (field_error(lang, errors, "comagic.access_token"))
            p.hint { (lang.t(t::OR)) }
            label for="login" { (lang.t(t::LOGIN)) }
            input type="text" name="login" id="login" autocomplete="off" value="";
            label for="password" { (lang.t(t::PASSWORD)) }
            input type="password" name="password" id="password" autocomplete="new-password" value="";
        }
    }
}

/// The credentials the form carries: a new access token, or a new login + password, or none.
pub(super) fn credentials_from_form(
    form: &FormData,
    api_url: &str,
    errors: &mut FieldErrors,
) -> Option<ComagicCredentials> {
    if let Some(token) = form.text("access_token") {
        return Some(ComagicCredentials {
            api_url: api_url.to_owned(),
            auth: ComagicAuth::AccessToken {
                access_token: SecretString::from(token.to_owned()),
            },
        });
    }
    match (
        form.text("login"),
        form.get("password").filter(|p| !p.is_empty()),
    ) {
        (Some(login), Some(password)) => Some(ComagicCredentials {
            api_url: api_url.to_owned(),
            auth: ComagicAuth::Login {
                login: login.to_owned(),
                password: SecretString::from(password.to_owned()),
            },
        }),
        (None, None) => None,
        _ => {
            add_field_error(errors, "comagic", Reason::LoginAndPassword);
            None
        }
    }
}
