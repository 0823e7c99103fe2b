//! Kite's JSON response envelopes (kite.md §8.1): `{"status":"success","data":…}` and
//! `{"status":"error","message":…,"error_type":…,"data":null}`, and the `error_type` names.
//! The client decodes them; the simulator serialises them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A success response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuccessEnvelope<T> {
    /// Always `"success"`.
    pub status: String,
    pub data: T,
}

impl<T> SuccessEnvelope<T> {
    pub fn new(data: T) -> Self {
        Self {
            status: "success".to_owned(),
            data,
        }
    }
}

/// An error response body. Send it with the matching HTTP status (see
/// [`ErrorType::http_status`]): Python decides from the body, Go from the status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// Always `"error"`.
    pub status: String,
    pub message: String,
    pub error_type: ErrorType,
    #[serde(default)]
    pub data: Option<serde_json::Value>,
}

impl ErrorEnvelope {
    pub fn new(error_type: ErrorType, message: impl Into<String>) -> Self {
        Self {
            status: "error".to_owned(),
            message: message.into(),
            error_type,
            data: None,
        }
    }
}

/// Kite's `error_type` values (documented ones plus `PermissionException` and
/// `TwoFAException`, which the official clients know); anything else is kept as `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// Session expired or invalidated: log in again.
    TokenException,
    PermissionException,
    UserException,
    TwoFaException,
    OrderException,
    InputException,
    MarginException,
    HoldingException,
    /// Kite could not reach its order management system.
    NetworkException,
    /// Kite got a bad response from its order management system.
    DataException,
    GeneralException,
    Other(String),
}

impl ErrorType {
    pub fn as_str(&self) -> &str {
        match self {
            Self::TokenException => "TokenException",
            Self::PermissionException => "PermissionException",
            Self::UserException => "UserException",
            Self::TwoFaException => "TwoFAException",
            Self::OrderException => "OrderException",
            Self::InputException => "InputException",
            Self::MarginException => "MarginException",
            Self::HoldingException => "HoldingException",
            Self::NetworkException => "NetworkException",
            Self::DataException => "DataException",
            Self::GeneralException => "GeneralException",
            Self::Other(name) => name,
        }
    }

    pub fn from_name(name: &str) -> Self {
        match name {
            "TokenException" => Self::TokenException,
            "PermissionException" => Self::PermissionException,
            "UserException" => Self::UserException,
            "TwoFAException" => Self::TwoFaException,
            "OrderException" => Self::OrderException,
            "InputException" => Self::InputException,
            "MarginException" => Self::MarginException,
            "HoldingException" => Self::HoldingException,
            "NetworkException" => Self::NetworkException,
            "DataException" => Self::DataException,
            "GeneralException" => Self::GeneralException,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The HTTP status Kite pairs with this error type (the Go client's mapping, kite.md §8.1).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::TokenException
            | Self::PermissionException
            | Self::UserException
            | Self::TwoFaException => 403,
            Self::OrderException
            | Self::InputException
            | Self::MarginException
            | Self::HoldingException => 400,
            Self::DataException => 504,
            Self::NetworkException => 503,
            Self::GeneralException | Self::Other(_) => 500,
        }
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|name| Self::from_name(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_type_names_round_trip() {
        let names = [
            "TokenException",
            "PermissionException",
            "UserException",
            "TwoFAException",
            "OrderException",
            "InputException",
            "MarginException",
            "HoldingException",
            "NetworkException",
            "DataException",
            "GeneralException",
            "SomethingNew",
        ];
        for name in names {
            let parsed = ErrorType::from_name(name);
            assert_eq!(parsed.as_str(), name);
            assert_eq!(
                parsed == ErrorType::Other(name.to_owned()),
                name == "SomethingNew"
            );
        }
    }

    #[test]
    fn envelopes_serialise_like_kite() {
        let error = ErrorEnvelope::new(
            ErrorType::TokenException,
            "Incorrect `api_key` or `access_token`.",
        );
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            serde_json::json!({"status": "error", "message": "Incorrect `api_key` or `access_token`.", "error_type": "TokenException", "data": null})
        );
        assert_eq!(error.error_type.http_status(), 403);
        let ok = SuccessEnvelope::new(true);
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"status":"success","data":true}"#
        );
    }

    #[test]
    fn http_status_mapping() {
        let cases = [
            (ErrorType::TokenException, 403),
            (ErrorType::InputException, 400),
            (ErrorType::NetworkException, 503),
            (ErrorType::DataException, 504),
            (ErrorType::GeneralException, 500),
            (ErrorType::Other("X".into()), 500),
        ];
        for (error_type, status) in cases {
            assert_eq!(error_type.http_status(), status, "{error_type}");
        }
    }
}
