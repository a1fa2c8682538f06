//! Content negotiation on every TAXII route: 406 for an `Accept` without TAXII 2.1, 415 for a request body
//! that is not TAXII 2.1.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{ACCEPT, CONTENT_TYPE};
use actix_web::middleware::Next;

use super::super::error::ApiError;
use crate::taxii::media::{accepts_taxii, is_taxii_content_type};

pub async fn negotiate(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let header = |name| {
        request
            .headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let accept = header(ACCEPT);
    if !accepts_taxii(accept.as_deref()) {
        return Err(ApiError::NotAcceptable(accept.unwrap_or_default()).into());
    }
    if request.method() == Method::POST {
        let content_type = header(CONTENT_TYPE).unwrap_or_default();
        if !is_taxii_content_type(&content_type) {
            return Err(ApiError::UnsupportedMediaType(content_type).into());
        }
    }
    next.call(request).await
}
