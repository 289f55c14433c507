//! Helpers: a started emulator, JSON-RPC calls, valid sample items, local "now".

use std::time::Duration;

use chrono::Utc;
use comagic_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use serde_json::{json, Value};

pub const TOKEN: &str = "demo-token";

/// The params of a call with nothing but the demo account's token.
pub fn token_only() -> Value {
    json!({"access_token": TOKEN})
}

pub struct Api {
    pub emu: RunningEmulator,
    pub http: reqwest::Client,
}

impl Api {
    pub async fn start() -> Self {
        Self::start_with(EmulatorConfig::default()).await
    }

    pub async fn start_with(config: EmulatorConfig) -> Self {
        let emu = Emulator::start(config).await.unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Self { emu, http }
    }

    /// `GET` a path of the emulator (`/_emulator/calls`).
    pub async fn get(&self, path: &str) -> reqwest::Response {
        let url = format!("{}{path}", self.emu.base_url());
        self.http.get(url).send().await.unwrap()
    }

    /// `POST` `body` (JSON, when given) to a path of the emulator (`/_emulator/reset`).
    pub async fn post(&self, path: &str, body: Option<Value>) -> reqwest::Response {
        let request = self.http.post(format!("{}{path}", self.emu.base_url()));
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        request.send().await.unwrap()
    }

    /// `POST` a raw body to a path of the emulator (`/v2.0`).
    pub async fn post_raw(&self, path: &str, body: String) -> reqwest::Response {
        let request = self.http.post(format!("{}{path}", self.emu.base_url()));
        let request = request.header("content-type", "application/json; charset=UTF-8");
        request.body(body).send().await.unwrap()
    }

    /// Post a raw body to the API; returns the parsed JSON response.
    pub async fn raw(&self, body: &str) -> Value {
        self.post_raw("/v2.0", body.to_owned())
            .await
            .json()
            .await
            .unwrap()
    }

    /// The JSON-RPC response to one call ([`RunningEmulator::call`], `id` 1).
    pub async fn call(&self, method: &str, params: Value) -> Value {
        self.emu.call(method, params).await.unwrap()
    }

    /// Call and expect success: the `result`.
    pub async fn ok(&self, method: &str, params: Value) -> Value {
        let response = self.call(method, params).await;
        assert!(
            response.get("error").is_none(),
            "unexpected error: {response}"
        );
        assert_eq!(response["id"], 1);
        response["result"].clone()
    }

    /// Call and expect an error: the `error` object.
    pub async fn err(&self, method: &str, params: Value) -> Value {
        let response = self.call(method, params).await;
        assert!(
            response.get("result").is_none(),
            "unexpected success: {response}"
        );
        response["error"].clone()
    }

    /// Call and expect the error `code`/`mnemonic` (on `field`, when given): the `error` object.
    pub async fn refused(
        &self,
        method: &str,
        params: Value,
        code: i64,
        mnemonic: &str,
        field: Option<&str>,
    ) -> Value {
        let error = self.err(method, params).await;
        assert_error(&error, code, mnemonic, field);
        error
    }

    pub async fn upload_messages(&self, items: Vec<Value>) -> Value {
        self.call(
            "upload.offline_messages",
            json!({"access_token": TOKEN, "offline_messages": items}),
        )
        .await
    }

    /// Upload offline messages and expect success: the `result`.
    pub async fn upload_messages_ok(&self, items: Vec<Value>) -> Value {
        let params = json!({"access_token": TOKEN, "offline_messages": items});
        self.ok("upload.offline_messages", params).await
    }

    pub async fn upload_chats(&self, items: Vec<Value>) -> Value {
        self.call(
            "upload.chats",
            json!({"access_token": TOKEN, "chats": items}),
        )
        .await
    }
}

/// Assert an error's code, mnemonic and (when given) field.
pub fn assert_error(response_or_error: &Value, code: i64, mnemonic: &str, field: Option<&str>) {
    let error = response_or_error.get("error").unwrap_or(response_or_error);
    assert_eq!(error["code"], code, "{error}");
    assert_eq!(error["data"]["mnemonic"], mnemonic, "{error}");
    if let Some(field) = field {
        assert_eq!(error["data"]["field"], field, "{error}");
    }
}

/// Moscow local time `minutes_ago` minutes ago, in the API's format.
pub fn moscow(minutes_ago: i64) -> String {
    (Utc::now() - chrono::Duration::minutes(minutes_ago))
        .with_timezone(&chrono_tz::Europe::Moscow)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

pub fn message(ext_id: &str) -> Value {
    json!({
        "date_time": moscow(5),
        "name": "Иван",
        "phone": "79161234567",
        "message": "Перезвоните мне",
        "site_id": 201,
        "form_name": "Leadback",
        "ext_id": ext_id,
    })
}

pub fn chat(ext_id: &str) -> Value {
    json!({
        "start_date_time": moscow(10),
        "status": "succeed",
        "initiator": "visitor",
        "phone": "79161234567",
        "site_id": 202,
        "messages": [
            {"date_time": moscow(9), "source": "visitor", "message": "Здравствуйте"},
            {"date_time": moscow(8), "source": "operator", "employee_id": 501, "message": "Добрый день"},
        ],
        "ext_id": ext_id,
    })
}

/// A valid session on site 201, `minutes_ago` minutes ago in Moscow.
pub fn session(ext_id: &str, minutes_ago: i64) -> Value {
    json!({
        "ext_id": ext_id,
        "site_id": 201,
        "date_time": moscow(minutes_ago),
        "is_visitor_new": true,
        "visitor_ip_address": "62.173.141.6",
        "utm_source": "yandex",
        "entrance_page_url": "https://shop.example.ru/?utm_source=yandex",
    })
}

/// `item` with `key` set to `value` (or removed when `value` is null).
pub fn with(mut item: Value, key: &str, value: Value) -> Value {
    let object = item.as_object_mut().unwrap();
    if value.is_null() {
        object.remove(key);
    } else {
        object.insert(key.to_owned(), value);
    }
    item
}
