//! Request bodies, read the same way by every route that takes one: form uploads refused, `gzip` and
//! `deflate` decoded as the bytes arrive, and a hard limit on the decoded bytes, so that neither a chunked
//! body without `Content-Length` nor a small compressed one that expands (a zip bomb) gets past it.
//! actix-web's `web::Payload` hands over the bytes as sent, whatever its compression features.

use std::io::{self, Write};
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::web::{self, Bytes};
use flate2::write::{GzDecoder, ZlibDecoder};
use futures_util::StreamExt;

use super::error::ApiError;
use crate::config::Settings;

/// The request's body within the settings' bounds (`max_content_length`, `body_timeout`), as
/// [`read_limited`] reads it.
pub async fn read_body(
    request: &HttpRequest,
    payload: web::Payload,
    settings: &Settings,
) -> Result<Bytes, ApiError> {
    read_limited(
        request,
        payload,
        settings.max_content_length,
        settings.body_timeout,
    )
    .await
}

/// The request's body, decoded, refused past `limit` bytes (413) or after `stall` seconds with no byte of it
/// arriving (408, `body_timeout`).
pub async fn read_limited(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    stall: u64,
) -> Result<Bytes, ApiError> {
    refuse_forms(request)?;
    let header = |name| {
        request
            .headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let declared = header(CONTENT_LENGTH).and_then(|v| v.parse::<usize>().ok());
    // Compressed bodies are no larger than what they decode to, except for a few bytes of framing.
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::TooLarge { limit });
    }
    let mut decoder = Decoder::new(header(CONTENT_ENCODING).as_deref(), limit, declared)?;
    let mut received = 0;
    while let Some(chunk) = next_chunk(&mut payload, stall).await? {
        let chunk = chunk
            .map_err(|e| ApiError::BadRequest(format!("reading the request body failed: {e}")))?;
        received += chunk.len();
        if received > limit {
            return Err(ApiError::TooLarge { limit });
        }
        decoder.write(&chunk).map_err(|e| decoder.error(e, limit))?;
    }
    let what = decoder.name();
    decoder
        .finish()
        .map(Bytes::from)
        .map_err(|e| decoding_error(what, e, limit))
}

/// The next piece of the body, waiting at most `seconds` for it: a client that stops sending mid-body gets
/// 408 instead of keeping its connection.
async fn next_chunk(
    payload: &mut web::Payload,
    seconds: u64,
) -> Result<Option<Result<Bytes, actix_web::error::PayloadError>>, ApiError> {
    tokio::time::timeout(Duration::from_secs(seconds), payload.next())
        .await
        .map_err(|_| ApiError::BodyTimeout { seconds })
}

/// `curl -F file=@events.json` sends a form whose boundary lines would be read as broken records.
fn refuse_forms(request: &HttpRequest) -> Result<(), ApiError> {
    let Some(content_type) = request.headers().get(CONTENT_TYPE) else {
        return Ok(());
    };
    let content_type = String::from_utf8_lossy(content_type.as_bytes());
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if media_type.to_ascii_lowercase().starts_with("multipart/") {
        return Err(ApiError::FormUpload(media_type.to_owned()));
    }
    Ok(())
}

/// Where the decoded bytes go: a buffer that refuses to grow past the limit.
struct Limited {
    bytes: Vec<u8>,
    limit: usize,
}

impl Write for Limited {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + data.len() > self.limit {
            return Err(io::ErrorKind::FileTooLarge.into());
        }
        self.bytes.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Decoder {
    Identity(Limited),
    Gzip(GzDecoder<Limited>),
    /// HTTP's `deflate` is the zlib format (RFC 9110 §8.4.1.2).
    Deflate(ZlibDecoder<Limited>),
}

impl Decoder {
    /// The decoder for a `Content-Encoding` header; `identity` codings are no coding at all. The buffer
    /// starts at the declared length, so that a plain body is copied once.
    fn new(
        encoding: Option<&str>,
        limit: usize,
        declared: Option<usize>,
    ) -> Result<Self, ApiError> {
        let sink = Limited {
            bytes: Vec::with_capacity(declared.unwrap_or(0)),
            limit,
        };
        let codings: Vec<String> = encoding
            .unwrap_or_default()
            .split(',')
            .map(|c| c.trim().to_ascii_lowercase())
            .filter(|c| !c.is_empty() && c != "identity")
            .collect();
        match codings.as_slice() {
            [] => Ok(Self::Identity(sink)),
            [one] if one == "gzip" || one == "x-gzip" => Ok(Self::Gzip(GzDecoder::new(sink))),
            [one] if one == "deflate" => Ok(Self::Deflate(ZlibDecoder::new(sink))),
            _ => Err(ApiError::UnsupportedEncoding(
                encoding.unwrap_or_default().to_owned(),
            )),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Identity(_) => "identity",
            Self::Gzip(_) => "gzip",
            Self::Deflate(_) => "deflate",
        }
    }

    fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        match self {
            Self::Identity(sink) => sink.write_all(chunk),
            Self::Gzip(decoder) => decoder.write_all(chunk),
            Self::Deflate(decoder) => decoder.write_all(chunk),
        }
    }

    fn error(&self, error: io::Error, limit: usize) -> ApiError {
        decoding_error(self.name(), error, limit)
    }

    /// The decoded body; an error if the encoded stream was cut short.
    fn finish(self) -> io::Result<Vec<u8>> {
        let sink = match self {
            Self::Identity(sink) => sink,
            Self::Gzip(decoder) => decoder.finish()?,
            Self::Deflate(decoder) => decoder.finish()?,
        };
        Ok(sink.bytes)
    }
}

fn decoding_error(encoding: &str, error: io::Error, limit: usize) -> ApiError {
    if error.kind() == io::ErrorKind::FileTooLarge {
        return ApiError::TooLarge { limit };
    }
    ApiError::BadRequest(format!(
        "the body is not valid {encoding} data, as its Content-Encoding says: {error}"
    ))
}
