//! The one place where failures become HTTP responses: always a TAXII error resource (TAXII 2.1 §3.6.1) with
//! the TAXII media type, never HTML or plain text.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;

use crate::intelmq::FeedError;
use crate::store::StoreError;
use crate::taxii::cursor::CursorError;
use crate::taxii::filter::FilterError;
use crate::taxii::media::TAXII_21 as TAXII_MEDIA_TYPE;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method {method} is not allowed here; this resource allows {allow}")]
    MethodNotAllowed { method: String, allow: String },
    #[error("the URL is {length} bytes long, more than the {limit} this server accepts")]
    UriTooLong { length: usize, limit: usize },
    #[error(
        "this endpoint answers only application/taxii+json;version=2.1, which the Accept header {} does not allow",
        shown(.0)
    )]
    NotAcceptable(String),
    #[error("the Content-Type {} is not application/taxii+json;version=2.1", shown(.0))]
    UnsupportedMediaType(String),
    #[error(
        "the Content-Encoding {} is not supported; send the body unencoded, or encoded with gzip or deflate",
        shown(.0)
    )]
    UnsupportedEncoding(String),
    #[error(
        "the Content-Type {} is a form upload; send the file as the body itself (curl --data-binary @file), not as a form field (curl -F)",
        shown(.0)
    )]
    FormUpload(String),
    #[error("the request body is larger than the {limit} bytes this server accepts")]
    TooLarge { limit: usize },
    #[error(
        "too many password checks are waiting; try again in {PASSWORD_CHECKS_RETRY_AFTER} s, or use a bearer token"
    )]
    TooManyPasswordChecks,
    #[error("no byte of the request body arrived for {seconds} s (body_timeout)")]
    BodyTimeout { seconds: u64 },
    #[error("{0}")]
    Unprocessable(String),
    #[error("the store is not available: {0}")]
    Store(#[from] StoreError),
}

/// When a caller refused for too many waiting password checks may try again, in seconds: a check takes tens
/// of milliseconds, so the queue is gone by then.
const PASSWORD_CHECKS_RETRY_AFTER: u32 = 1;

pub use crate::quote::shown;

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
            ApiError::Unauthorized(_) => ("Authentication required", "unauthorized"),
            ApiError::Forbidden(_) => ("Forbidden", "forbidden"),
            ApiError::NotFound(_) => ("Not found", "not-found"),
            ApiError::MethodNotAllowed { .. } => ("Method not allowed", "method-not-allowed"),
            ApiError::UriTooLong { .. } => ("URL too long", "uri-too-long"),
            ApiError::NotAcceptable(_) => ("Not acceptable", "not-acceptable"),
            ApiError::UnsupportedMediaType(_) | ApiError::FormUpload(_) => {
                ("Unsupported media type", "unsupported-media-type")
            }
            ApiError::UnsupportedEncoding(_) => {
                ("Unsupported content encoding", "unsupported-encoding")
            }
            ApiError::TooLarge { .. } => ("Request body too large", "too-large"),
            ApiError::TooManyPasswordChecks => ("Too many requests", "too-many-requests"),
            ApiError::BodyTimeout { .. } => ("Request body timed out", "request-timeout"),
            ApiError::Unprocessable(_) => ("Unprocessable content", "unprocessable"),
            ApiError::Store(StoreError::DiskFull(_)) => ("Disk full", "disk-full"),
            ApiError::Store(_) => ("Storage unavailable", "storage"),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::UnsupportedMediaType(_)
            | ApiError::UnsupportedEncoding(_)
            | ApiError::FormUpload(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyPasswordChecks => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            // Until space is freed; writes resume by themselves then, and a client retries a 5xx later.
            ApiError::Store(StoreError::DiskFull(_)) => StatusCode::INSUFFICIENT_STORAGE,
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
        let mut response = HttpResponse::build(status);
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((
                actix_web::http::header::WWW_AUTHENTICATE,
                r#"Basic realm="stixgate", Bearer realm="stixgate""#,
            ));
        }
        if let ApiError::BodyTimeout { .. } = self {
            // The rest of the body may still come: the connection cannot carry another request.
            response.force_close();
        }
        if let ApiError::MethodNotAllowed { allow, .. } = self {
            response.insert_header((actix_web::http::header::ALLOW, allow.as_str()));
        }
        if let ApiError::TooManyPasswordChecks = self {
            response.insert_header((
                actix_web::http::header::RETRY_AFTER,
                PASSWORD_CHECKS_RETRY_AFTER.to_string(),
            ));
        }
        response.content_type(TAXII_MEDIA_TYPE).json(ErrorResource {
            title,
            description: self.to_string(),
            error_code,
            http_status: status.as_u16().to_string(),
        })
    }
}

impl From<FilterError> for ApiError {
    fn from(error: FilterError) -> Self {
        ApiError::BadRequest(error.to_string())
    }
}

impl From<FeedError> for ApiError {
    fn from(error: FeedError) -> Self {
        match error {
            FeedError::Unreadable(_) => ApiError::Unprocessable(error.to_string()),
            FeedError::Store(error) => ApiError::Store(error),
        }
    }
}

impl From<CursorError> for ApiError {
    fn from(error: CursorError) -> Self {
        ApiError::BadRequest(error.to_string())
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        ApiError::Store(StoreError::Io(Box::new(error)))
    }
}

/// The answer for a path that serves nothing, to this caller or to anyone: the two are not told apart.
pub fn nothing_served(request: &HttpRequest) -> ApiError {
    ApiError::NotFound(format!(
        "nothing is served at {} {}",
        request.method(),
        shown(request.path())
    ))
}
