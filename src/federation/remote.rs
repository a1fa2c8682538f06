//! Requests to one TAXII server: TAXII 2.1 headers, credentials, and retries of what may pass.

use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use super::retry::{self, RetryPolicy};
use super::{Auth, ClientError, Connection};
use crate::taxii::media::TAXII_21;

/// A TAXII server as the client sees it.
#[derive(Clone)]
pub struct Remote {
    http: reqwest::Client,
    auth: Option<Auth>,
    retry: RetryPolicy,
}

/// A 2xx answer.
#[derive(Debug)]
pub struct Answer {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Remote {
    pub fn new(connection: &Connection, retry: RetryPolicy) -> Result<Self, ClientError> {
        Ok(Self {
            http: connection.http_client()?,
            auth: connection.auth(),
            retry,
        })
    }

    /// GET with query parameters, answered by a JSON resource.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        url: &Url,
        query: &[(&str, &str)],
    ) -> Result<(HeaderMap, T), ClientError> {
        let answer = self.send(Method::GET, url, query, None).await?;
        let value = parse(url, &answer.body)?;
        Ok((answer.headers, value))
    }

    /// POSTs a TAXII envelope (its exact text), answered by a JSON resource.
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        url: &Url,
        body: Vec<u8>,
    ) -> Result<T, ClientError> {
        let answer = self
            .send(Method::POST, url, &[], Some(Bytes::from(body)))
            .await?;
        parse(url, &answer.body)
    }

    /// Sends one request, again after connection errors, 429 and 5xx, until it passes or the retries run
    /// out. A POST is retried too: adding an object twice adds it once (TAXII 2.1 §5.5).
    pub async fn send(
        &self,
        method: Method,
        url: &Url,
        query: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<Answer, ClientError> {
        let method_name = if method == Method::POST {
            "POST"
        } else {
            "GET"
        };
        let mut target = url.clone();
        if !query.is_empty() {
            target.query_pairs_mut().extend_pairs(query);
        }
        let mut failures = 0;
        loop {
            let mut request = self
                .http
                .request(method.clone(), target.clone())
                .header(ACCEPT, TAXII_21);
            if let Some(body) = &body {
                request = request.header(CONTENT_TYPE, TAXII_21).body(body.clone());
            }
            request = match &self.auth {
                Some(Auth::Basic { user, password }) => request.basic_auth(user, Some(password)),
                Some(Auth::Bearer(token)) => {
                    request.header(AUTHORIZATION, format!("Bearer {token}"))
                }
                None => request,
            };
            let (reason, asked_wait) = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    let headers = response.headers().clone();
                    match response.bytes().await {
                        Ok(body) => return Ok(Answer { headers, body }),
                        Err(e) => (format!("the answer broke off: {e}"), None),
                    }
                }
                Ok(response) if retry::is_transient(response.status()) => {
                    let status = response.status();
                    let wait = retry::retry_after(response.headers());
                    let body = response.bytes().await.unwrap_or_default();
                    (format!("{status}: {}", error_message(&body)), wait)
                }
                Ok(response) => {
                    let status = response.status();
                    let body = response.bytes().await.unwrap_or_default();
                    return Err(ClientError::Refused {
                        method: method_name,
                        url: url.to_string(),
                        status: status.as_u16(),
                        message: refusal_message(status, &body),
                    });
                }
                Err(e) => (describe(&e), None),
            };
            failures += 1;
            let unreachable = |reason: String| ClientError::Unreachable {
                method: method_name,
                url: url.to_string(),
                attempts: failures,
                reason,
            };
            if failures > self.retry.retries {
                return Err(unreachable(reason));
            }
            let wait = match asked_wait {
                Some(wait) if wait > self.retry.longest_retry_after => {
                    return Err(unreachable(format!(
                        "{reason} (and it asks to wait {} s, longer than the {} s honoured)",
                        wait.as_secs(),
                        self.retry.longest_retry_after.as_secs()
                    )));
                }
                Some(wait) => wait,
                None => self.retry.backoff(failures),
            };
            tracing::warn!(%url, %reason, wait_ms = wait.as_millis() as u64, "retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

fn parse<T: DeserializeOwned>(url: &Url, body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|e| ClientError::Invalid {
        url: url.to_string(),
        reason: format!("{e} (the answer begins {:?})", snippet(body)),
    })
}

/// The description of a TAXII error resource, else the beginning of the body.
fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct TaxiiError {
        title: Option<String>,
        description: Option<String>,
    }
    match serde_json::from_slice::<TaxiiError>(body) {
        Ok(TaxiiError {
            description: Some(text),
            ..
        })
        | Ok(TaxiiError {
            title: Some(text),
            description: None,
        }) => text,
        _ if body.is_empty() => "(no body)".to_owned(),
        _ => snippet(body),
    }
}

fn refusal_message(status: StatusCode, body: &[u8]) -> String {
    let message = error_message(body);
    match status {
        StatusCode::UNAUTHORIZED => {
            format!("{message} (check --user and --password, or --token)")
        }
        StatusCode::NOT_ACCEPTABLE => {
            format!("{message} (the server does not speak TAXII 2.1)")
        }
        _ => message,
    }
}

fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
}

/// A transport error with its causes: reqwest's own message alone says only "error sending request".
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
