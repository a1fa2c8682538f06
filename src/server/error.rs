//! The one place where failures become HTTP responses: always a TAXII error resource (TAXII 2.1 §3.6.1) with
//! the TAXII media type, never HTML or plain text.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use super::TAXII_MEDIA_TYPE;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("the request body is larger than the {limit} bytes this server accepts")]
    TooLarge { limit: usize },
    #[error("{0}")]
    Unprocessable(String),
    #[error("the store is not available: {0}")]
    Store(#[from] StoreError),
}

/// TAXII's `error` resource.
#[derive(Debug, Serialize)]
struct ErrorResource<'a> {
    title: &'a str,
    description: String,
    error_code: &'a str,
    http_status: String,
}

impl ApiError {
    fn title_and_code(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::BadRequest(_) => ("Bad request", "bad-request"),
            ApiError::NotFound(_) => ("Not found", "not-found"),
            ApiError::TooLarge { .. } => ("Request body too large", "too-large"),
            ApiError::Unprocessable(_) => ("Unprocessable content", "unprocessable"),
            ApiError::Store(_) => ("Storage unavailable", "storage"),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            // Transient: a client such as IntelMQ's restapi output retries a 5xx later.
            ApiError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let (title, error_code) = self.title_and_code();
        HttpResponse::build(status)
            .content_type(TAXII_MEDIA_TYPE)
            .json(ErrorResource {
                title,
                description: self.to_string(),
                error_code,
                http_status: status.as_u16().to_string(),
            })
    }
}
