//! Request body decoding (`src/server/body.rs`): how every route reads a body, `gzip` and `deflate` included,
//! whatever the chunks it arrives in.
//!
//! Properties: a body is never decoded past the limit: an accepted body is at most `limit` bytes, and one
//! that decodes to more is refused as too large (413), as is one that says, or turns out, to be larger; a
//! plain body comes back as sent; a compressed body of any size, compression level and chunking comes back
//! as what was compressed; any other byte string sent as gzip or deflate is refused or decodes within the
//! limit, never a panic.
#![no_main]

use std::io::Write;
use std::pin::Pin;

use actix_web::FromRequest;
use actix_web::dev;
use actix_web::error::PayloadError;
use actix_web::http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use actix_web::test::TestRequest;
use actix_web::web::{self, Bytes};
use arbitrary::Arbitrary;
use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};
use futures_util::{FutureExt, Stream};
use libfuzzer_sys::fuzz_target;
use stixgate::fuzzing::read_limited;
use stixgate::http::ApiError;

#[derive(Debug, Arbitrary)]
struct Case {
    coding: Coding,
    /// The plain body, compressed when `coding` says so.
    plain: Vec<u8>,
    /// Sent as it is, as the encoded body, instead of `plain` compressed.
    raw: Option<Vec<u8>>,
    level: u8,
    limit: u16,
    /// A `Content-Length` other than the body's own.
    declared: Option<u32>,
    /// Where the body is cut into the chunks it arrives in.
    cuts: Vec<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
enum Coding {
    None,
    Identity,
    Gzip,
    XGzip,
    Deflate,
    Brotli,
}

fuzz_target!(|case: Case| {
    let limit = usize::from(case.limit).max(1);
    let level = Compression::new(u32::from(case.level % 10));
    let header = match case.coding {
        Coding::None => None,
        Coding::Identity => Some("identity"),
        Coding::Gzip => Some("gzip"),
        Coding::XGzip => Some("x-gzip"),
        Coding::Deflate => Some("deflate"),
        Coding::Brotli => Some("br"),
    };
    let body = match (&case.raw, case.coding) {
        (Some(raw), _) => raw.clone(),
        (None, Coding::Gzip | Coding::XGzip) => {
            let mut encoder = GzEncoder::new(Vec::new(), level);
            encoder.write_all(&case.plain).expect("writes into memory");
            encoder.finish().expect("writes into memory")
        }
        (None, Coding::Deflate) => {
            let mut encoder = ZlibEncoder::new(Vec::new(), level);
            encoder.write_all(&case.plain).expect("writes into memory");
            encoder.finish().expect("writes into memory")
        }
        (None, _) => case.plain.clone(),
    };
    let declared = case.declared.map_or(body.len(), |d| d as usize);
    let result = read(header, declared, &body, &case.cuts, limit);
    if let Ok(decoded) = &result {
        assert!(
            decoded.len() <= limit,
            "{} bytes decoded past the limit {limit}",
            decoded.len()
        );
    }
    let too_large = |result: &Result<Bytes, ApiError>| matches!(result, Err(ApiError::TooLarge { limit: l }) if *l == limit);
    // A declared length is checked first, then the coding, then what arrives.
    if declared > limit {
        assert!(
            too_large(&result),
            "a body declared larger than the limit gave {result:?}"
        );
        return;
    }
    if case.coding == Coding::Brotli {
        assert!(
            matches!(result, Err(ApiError::UnsupportedEncoding(_))),
            "{result:?}"
        );
        return;
    }
    if body.len() > limit {
        assert!(
            too_large(&result),
            "a body larger than the limit gave {result:?}"
        );
        return;
    }
    match (case.coding, &case.raw) {
        (Coding::None | Coding::Identity, _) => {
            assert_eq!(
                result.expect("a plain body within the limit").as_ref(),
                body
            )
        }
        (_, None) if case.plain.len() > limit => {
            assert!(
                too_large(&result),
                "a body that decodes past the limit gave {result:?}"
            )
        }
        (_, None) => assert_eq!(
            result.expect("a compressed body within the limit").as_ref(),
            case.plain,
            "a compressed body came back changed"
        ),
        (_, Some(_)) => {}
    }
});

/// How long `read_limited` waits for a piece of the body: never reached, since every piece has arrived.
const STALL_SECONDS: u64 = 30;

/// The body as `read_limited` reads it from a request with these headers, arriving cut at `cuts`.
fn read(
    coding: Option<&str>,
    declared: usize,
    body: &[u8],
    cuts: &[u16],
    limit: usize,
) -> Result<Bytes, ApiError> {
    let mut request = TestRequest::default().insert_header((CONTENT_LENGTH, declared.to_string()));
    if let Some(coding) = coding {
        request = request.insert_header((CONTENT_ENCODING, coding));
    }
    let (request, _) = request.to_http_parts();
    let mut offsets: Vec<usize> = cuts
        .iter()
        .map(|&c| usize::from(c) % (body.len() + 1))
        .collect();
    offsets.extend([0, body.len()]);
    offsets.sort_unstable();
    offsets.dedup();
    let chunks: Vec<Result<Bytes, PayloadError>> = offsets
        .windows(2)
        .map(|w| Ok(Bytes::copy_from_slice(&body[w[0]..w[1]])))
        .collect();
    let stream: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
        Box::pin(futures_util::stream::iter(chunks));
    let mut payload = dev::Payload::Stream { payload: stream };
    let payload = web::Payload::from_request(&request, &mut payload)
        .now_or_never()
        .expect("a payload is ready at once")
        .expect("a payload is always given");
    // A runtime for the stall timer alone: the body has arrived whole, so nothing waits on it.
    RUNTIME.with(|runtime| runtime.block_on(read_limited(&request, payload, limit, STALL_SECONDS)))
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime builds");
}
