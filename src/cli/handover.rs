//! Handing work to the server that holds the data directory, through its admin endpoint (see
//! [`crate::http::admin`]), instead of failing on the lock.

use std::path::Path;

use anyhow::{Context, bail};

use crate::http::admin;

/// POSTs `body` to `path` of the admin endpoint named in the data directory's `admin.json`, and gives back
/// the answer once it is a success. `what` names the work for the user ("the job", "the backup").
pub(super) async fn post(
    data: &Path,
    path: &str,
    body: Vec<u8>,
    what: &str,
) -> anyhow::Result<reqwest::Response> {
    let file = data.join(admin::ADMIN_FILE);
    let held = || {
        format!(
            "the data directory {} is in use by another process, and no server's admin endpoint is named in {}",
            data.display(),
            file.display()
        )
    };
    let text = std::fs::read(&file).with_context(held)?;
    let endpoint: admin::AdminFile = serde_json::from_slice(&text).with_context(held)?;
    eprintln!(
        "a server holds {}: {what} runs there (at {})",
        data.display(),
        endpoint.url
    );
    let response = reqwest::Client::new()
        .post(format!("{}{path}", endpoint.url))
        .bearer_auth(&endpoint.token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .with_context(|| {
            format!(
                "the server's admin endpoint {} does not answer (a server that was killed leaves {} behind)",
                endpoint.url,
                file.display()
            )
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response
        .bytes()
        .await
        .context("the server's answer broke off")?;
    let message = serde_json::from_slice::<admin::JobError>(&body)
        .map(|e| e.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
    bail!("the server did not finish {what} ({status}): {message}");
}
