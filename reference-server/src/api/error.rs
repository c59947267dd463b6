//! The one error type of the API layer. Every failure leaves as an AWS-shaped body:
//! HTTP 400 (client faults) or 500 (our faults), `{"__type": code, "Message": text, ...extra}`,
//! with the same code in `x-amzn-ErrorType`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::store::{StoreError, WriteError};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Modeled extra members, such as `NamespaceId` on `NamespaceAlreadyExists`.
    pub extra: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
            extra: Vec::new(),
        }
    }

    pub fn with(mut self, member: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((member, value.into()));
        self
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new("InvalidInput", message)
    }

    /// An unknown namespace id or ARN. AWS's text for this case has not been observed, so ours
    /// names what was asked for.
    pub fn namespace_not_found(id: &str) -> Self {
        Self::new("NamespaceNotFound", format!("Namespace not found: {id}"))
    }

    /// An unknown `NamespaceName` in DiscoverInstances or DiscoverInstancesRevision, in AWS's
    /// words, which do not repeat the name (the Go SDK's output quoted in
    /// kubernetes-sigs/external-dns#5180).
    pub fn namespace_name_not_found() -> Self {
        Self::new("NamespaceNotFound", "Namespace not found")
    }

    pub fn service_not_found(id: &str) -> Self {
        Self::new("ServiceNotFound", format!("Service not found: {id}"))
    }

    pub fn instance_not_found(id: &str) -> Self {
        Self::new("InstanceNotFound", format!("Instance not found: {id}"))
    }

    /// A request that conflicts with the operation `operation_id`, which the API operation
    /// `operation_name` (`DeleteNamespace`, `CreatePrivateDnsNamespace`, …) started. The wording
    /// is AWS's: "Another operation of type DeleteNamespace and id … is in progress" (recorded
    /// from AWS in getmoto/moto tests/test_servicediscovery/test_servicediscovery_httpnamespaces.py;
    /// the same form with `CreatePrivateDnsNamespace` in a Terraform log and with
    /// `RegisterInstance` in a Go SDK sample). Once that operation has finished, AWS says
    /// "… has completed" instead (a CloudFormation message quoted in a public test fixture; weaker
    /// evidence, and the error code there is not certain).
    pub fn duplicate_request(operation_name: &str, operation_id: &str, completed: bool) -> Self {
        let state = if completed {
            "has completed"
        } else {
            "is in progress"
        };
        Self::new(
            "DuplicateRequest",
            format!("Another operation of type {operation_name} and id {operation_id} {state}"),
        )
        .with("DuplicateOperationId", operation_id)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "InternalFailure",
            message: message.into(),
            extra: Vec::new(),
        }
    }

    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("__type".into(), Value::String(self.code.to_owned()));
        body.insert("Message".into(), Value::String(self.message.clone()));
        for (member, value) in &self.extra {
            body.insert((*member).to_owned(), Value::String(value.clone()));
        }
        Value::Object(body)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<WriteError<ApiError>> for ApiError {
    fn from(error: WriteError<ApiError>) -> Self {
        match error {
            WriteError::Rejected(error) => error,
            WriteError::Store(error) => error.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::internal(format!("the registry could not commit the write: {error}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let bytes = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut response = (self.status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static(super::protocol::CONTENT_TYPE),
        );
        headers.insert("x-amzn-ErrorType", HeaderValue::from_static(self.code));
        response
    }
}
