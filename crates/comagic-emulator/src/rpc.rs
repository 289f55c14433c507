//! The JSON-RPC 2.0 envelope and the Data API's error object
//! (`error: {code, message, data: {mnemonic, field, value, params, metadata}}`), with the codes,
//! mnemonics and messages of the documentation's error tables (general.txt).

use serde_json::{json, Map, Value};

/// A Data API error as it goes on the wire (boxed: it travels through many `Result`s).
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError(Box<ErrorBody>);

/// The parts of an [`RpcError`].
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorBody {
    pub code: i64,
    pub mnemonic: String,
    pub message: String,
    pub field: Option<String>,
    pub value: Option<Value>,
    pub params: Map<String, Value>,
    pub metadata: Option<Value>,
}

impl std::ops::Deref for RpcError {
    type Target = ErrorBody;

    fn deref(&self) -> &ErrorBody {
        &self.0
    }
}

impl std::ops::DerefMut for RpcError {
    fn deref_mut(&mut self) -> &mut ErrorBody {
        &mut self.0
    }
}

impl RpcError {
    pub fn new(code: i64, mnemonic: &str, message: &str) -> Self {
        Self(Box::new(ErrorBody {
            code,
            mnemonic: mnemonic.to_owned(),
            message: message.to_owned(),
            field: None,
            value: None,
            params: Map::new(),
            metadata: None,
        }))
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn with_value(mut self, value: Value) -> Self {
        self.value = Some(value);
        self
    }

    pub fn with_param(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.params.insert(key.to_owned(), value.into());
        self
    }

    /// The `error` member of a response.
    pub fn to_json(&self) -> Value {
        let mut data = Map::new();
        data.insert("mnemonic".into(), Value::String(self.mnemonic.clone()));
        if let Some(field) = &self.field {
            data.insert("field".into(), Value::String(field.clone()));
        }
        if let Some(value) = &self.value {
            data.insert("value".into(), value.clone());
        }
        if !self.params.is_empty() {
            data.insert("params".into(), Value::Object(self.params.clone()));
        }
        if let Some(metadata) = &self.metadata {
            data.insert("metadata".into(), metadata.clone());
        }
        json!({"code": self.code, "message": self.message, "data": data})
    }

    // --- the documented errors -------------------------------------------------------------

    pub fn parse_error() -> Self {
        Self::new(
            -32700,
            "parse_error",
            "Invalid JSON was received by the server.",
        )
    }

    pub fn invalid_request() -> Self {
        Self::new(
            -32600,
            "invalid_request",
            "Invalid Request The JSON sent is not a valid Request object",
        )
    }

    pub fn batch_not_supported() -> Self {
        // The mnemonic's spelling is the API's own.
        Self::new(
            -32099,
            "batch_opreations_not_supported",
            "Batch operations not supported",
        )
    }

    pub fn notifications_not_supported() -> Self {
        Self::new(
            -32099,
            "notifications_not_supported",
            "Notifications not supported",
        )
    }

    pub fn method_not_found() -> Self {
        Self::new(
            -32601,
            "method_not_found",
            "The method does not exist / is not available",
        )
    }
}

/// -32602 errors about one parameter: each constructor is named after its mnemonic and takes the
/// parameter (`data.field`), and the value as received (`data.value`) where the error has one.
macro_rules! parameter_errors {
    ($($mnemonic:ident($($value:ident)?): $message:literal;)*) => {
        impl RpcError {
            $(pub fn $mnemonic(field: impl Into<String> $(, $value: &Value)?) -> Self {
                Self::new(-32602, stringify!($mnemonic), $message)
                    .with_field(field)
                    $(.with_value($value.clone()))?
            })*
        }
    };
}

parameter_errors! {
    required_parameter_missed(): "The required parameter has been missed";
    invalid_parameter_value(value): "Invalid parameter value";
    unexpected_parameters(): "Unexpected method parameter(s)";
    invalid_parameters_combination(): "The combination of parameters is not permitted";
    data_type_error(value): "Data supplied is of wrong type";
    entity_not_found(value): "Entity not found";
    duplicate_entity(value): "Duplicate entity";
    campaign_is_inactive(value): "Campaign is inactive";
    invalid_date_time(value): "Invalid date time";
    filter_prohibited(): "Filter by parameter is prohibited";
    sort_prohibited(): "Sort by parameter is prohibited";
}

impl RpcError {
    pub fn data_limit_exceeded(field: impl Into<String>, max: usize) -> Self {
        Self::new(
            -32602,
            "data_limit_exceeded",
            "A new data limit has been exceeded",
        )
        .with_field(field)
        .with_param("max_value", max)
    }

    pub fn access_token_invalid() -> Self {
        Self::new(-32001, "access_token_invalid", "Access token is invalid")
    }

    pub fn access_token_expired() -> Self {
        Self::new(
            -32001,
            "access_token_expired",
            "Access token has been expired",
        )
    }

    pub fn access_token_blocked() -> Self {
        Self::new(
            -32001,
            "access_token_blocked",
            "Access token has been blocked",
        )
    }

    pub fn auth_error() -> Self {
        Self::new(-32001, "auth_error", "Login or password is wrong")
    }

    pub fn method_component_disabled(components: &[&str]) -> Self {
        let list = components.join(", ");
        Self::new(
            -32008,
            "method_component_disabled",
            &format!(
                "You need at least on of the following components to access this method: {list}"
            ),
        )
        .with_param("components", list)
    }

    /// `limit_type` is `minute` or `day`.
    pub fn limit_exceeded(limit_type: &str, max: u32) -> Self {
        Self::new(
            -32029,
            "limit_exceeded",
            &format!(
                "Limit per {limit_type} has been exceeded. Value of current limit per {limit_type} is {max}"
            ),
        )
        .with_param("limit_type", limit_type)
        .with_param("limit_max_value", max)
    }
}

/// A successful response.
pub fn result_response(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// An error response.
pub fn error_response(id: &Value, error: &RpcError) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": error.to_json()})
}
