//! Who is asking: HTTP Basic (argon2 password hashes) or a bearer token, else anonymous.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use actix_web::http::header::HeaderValue;
use argon2::password_hash::Output;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use base64::Engine;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use super::error::ApiError;
use crate::config::{Principal, UserSettings};

/// How long a verified Basic credential is trusted without running argon2 again.
const CACHE_TTL: Duration = Duration::from_secs(300);
const CACHE_MAX: usize = 10_000;

/// Password checks that wait for their turn beyond this many are refused at once (429): waiting costs little
/// memory, but a caller kept waiting for seconds is better told to come back.
const CHECKS_WAITING: usize = 64;

pub struct Authenticator {
    /// User name to argon2 PHC string.
    passwords: HashMap<String, String>,
    /// What the password of an unknown user is checked against, so that its refusal costs what a known
    /// user's wrong password costs: a PHC string with the parameters of the first user's hash and a hash
    /// that no password gives. `None` when no user has a password.
    unknown_user: Option<String>,
    /// SHA-256 of a token to whose it is.
    tokens: HashMap<[u8; 32], Principal>,
    /// SHA-256 of a whole `Authorization` value that passed argon2, to its user.
    verified: Mutex<HashMap<[u8; 32], (String, Instant)>>,
    /// Whether the warning that credentials are ignored was logged: once per authenticator, and so once per
    /// process for the API's.
    ignoring_credentials: Once,
}

impl Authenticator {
    pub fn new(users: &[UserSettings]) -> Self {
        let passwords = users
            .iter()
            .filter_map(|u| Some((u.name.clone(), u.password.clone()?)))
            .collect();
        let tokens = users
            .iter()
            .flat_map(|u| u.tokens.iter().map(move |t| (t, &u.name)))
            .filter_map(|(token, name)| Some((decode_hex(token)?, Principal::User(name.clone()))))
            .collect();
        let unknown_user = users
            .iter()
            .find_map(|u| u.password.as_deref())
            .and_then(unknown_user_hash);
        Self {
            passwords,
            unknown_user,
            tokens,
            verified: Mutex::default(),
            ignoring_credentials: Once::new(),
        }
    }

    /// Also accepts the data directory's admin token (its SHA-256, hex) as the [`Principal::Operator`].
    pub fn with_operator_token(mut self, digest: &str) -> Self {
        if let Some(digest) = decode_hex(digest) {
            self.tokens.insert(digest, Principal::Operator);
        }
        self
    }

    /// Whether any credentials would hold: without them, nobody can be asked to authenticate.
    pub fn knows_anyone(&self) -> bool {
        !self.passwords.is_empty() || !self.tokens.is_empty()
    }

    /// The principal of an `Authorization` header, or 401 if it names credentials that do not hold.
    ///
    /// While nobody can authenticate (no `[[users]]`, as in the embedded default), credentials are ignored and
    /// the request is anonymous: clients such as MISP's TAXII push and OpenCTI's connector always send some,
    /// and there is nothing they could be checked against. The first such request logs a warning.
    pub async fn authenticate(
        &self,
        authorization: Option<&HeaderValue>,
    ) -> Result<Principal, ApiError> {
        let Some(authorization) = authorization else {
            return Ok(Principal::Anonymous);
        };
        if !self.knows_anyone() {
            self.ignoring_credentials.call_once(|| {
                tracing::warn!(
                    "a request carries credentials, but no [[users]] are configured: credentials are \
                     ignored and such requests are served as anonymous (logged once; configure users to \
                     have credentials checked)"
                );
            });
            return Ok(Principal::Anonymous);
        }
        let authorization = authorization
            .to_str()
            .map_err(|_| ApiError::Unauthorized("the Authorization header is not ASCII".into()))?;
        self.check(authorization).await
    }

    /// The principal of a textual `Authorization` value, or 401.
    async fn check(&self, authorization: &str) -> Result<Principal, ApiError> {
        let (scheme, credentials) = authorization
            .trim()
            .split_once(' ')
            .unwrap_or((authorization, ""));
        let credentials = credentials.trim();
        if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
            let digest: [u8; 32] = Sha256::digest(credentials.as_bytes()).into();
            // The map lookup compares digests, not tokens: a timing difference says nothing of the token.
            return self
                .tokens
                .get(&digest)
                .cloned()
                .ok_or_else(|| ApiError::Unauthorized("the bearer token is not valid".into()));
        }
        if !scheme.eq_ignore_ascii_case("basic") {
            // Not even the scheme is repeated: a value without one is likely a bare token or password.
            return Err(ApiError::Unauthorized(
                "the Authorization header is neither Basic nor Bearer credentials".into(),
            ));
        }
        let key: [u8; 32] = Sha256::digest(authorization.as_bytes()).into();
        if let Some(name) = self.cached(&key) {
            return Ok(Principal::User(name));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
            .ok_or_else(|| {
                ApiError::Unauthorized("the Basic credentials are not valid base64".into())
            })?;
        let (name, password) = decoded
            .split_once(':')
            .ok_or_else(|| ApiError::Unauthorized("the Basic credentials have no `:`".into()))?;
        let refused = || ApiError::Unauthorized("the user name or password is wrong".into());
        // An unknown user's password is checked too, against a hash with the same parameters: a refusal
        // that came quicker would tell which user names exist.
        let (hash, known) = match self.passwords.get(name) {
            Some(hash) => (hash.clone(), true),
            None => (self.unknown_user.clone().ok_or_else(refused)?, false),
        };
        // argon2 takes tens of milliseconds on purpose: off the event loop.
        let valid = password_checks()
            .submit(hash, password.to_owned())?
            .await
            .unwrap_or(false);
        if !(valid && known) {
            return Err(refused());
        }
        self.remember(key, name);
        Ok(Principal::User(name.to_owned()))
    }

    fn cached(&self, key: &[u8; 32]) -> Option<String> {
        let verified = self.verified.lock().ok()?;
        let (name, at) = verified.get(key)?;
        (at.elapsed() < CACHE_TTL).then(|| name.clone())
    }

    fn remember(&self, key: [u8; 32], name: &str) {
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= CACHE_MAX {
                verified.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
                if verified.len() >= CACHE_MAX {
                    verified.clear();
                }
            }
            verified.insert(key, (name.to_owned(), Instant::now()));
        }
    }
}

/// How many argon2 checks run at once: one per core, at least 2 and at most 4. Each holds the memory its hash's
/// parameters ask for (19 MiB with `stixgate hash-password`), so checks hold at most 4 × that (76 MiB).
fn checks_at_once() -> usize {
    std::thread::available_parallelism().map_or(2, |cores| cores.get().clamp(2, 4))
}

/// `hash` with its output replaced by zeros: the same algorithm, parameters and salt, and so the same cost to
/// verify, but no password verifies against it.
fn unknown_user_hash(hash: &str) -> Option<String> {
    let mut parsed = PasswordHash::new(hash).ok()?;
    let length = parsed.hash?.len();
    parsed.hash = Some(Output::new(&vec![0; length]).ok()?);
    Some(parsed.to_string())
}

/// The process's one [`PasswordChecks`]: the API's authenticator and the admin endpoint's share the cap.
fn password_checks() -> &'static PasswordChecks {
    static CHECKS: OnceLock<PasswordChecks> = OnceLock::new();
    CHECKS.get_or_init(|| PasswordChecks::start(checks_at_once()))
}

/// The cap on argon2 checks: a few threads of their own run them, one at a time each and each with one
/// working memory that it reuses (see [`verify`]), so that memory for checks is bounded, and a flood of wrong
/// passwords queues behind them (and past [`CHECKS_WAITING`], is refused) instead of taking the server's
/// memory and threads. Other callers (tokens, remembered passwords, anonymous requests) never wait here.
struct PasswordChecks {
    waiting: SyncSender<Check>,
}

struct Check {
    hash: String,
    password: String,
    answer: oneshot::Sender<bool>,
}

impl PasswordChecks {
    /// The queue, without threads to take from it yet.
    fn new(waiting: usize) -> (Self, Receiver<Check>) {
        let (sender, queue) = sync_channel(waiting);
        (Self { waiting: sender }, queue)
    }

    /// The queue, and `threads` threads that run its checks for as long as it exists.
    fn start(threads: usize) -> Self {
        let (checks, queue) = Self::new(CHECKS_WAITING);
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..threads {
            let queue = Arc::clone(&queue);
            let started = std::thread::Builder::new()
                .name(format!("password-check-{index}"))
                .spawn(move || {
                    let mut memory = Vec::new();
                    // The lock is held only while waiting for the next check, not while running it.
                    while let Some(check) = queue.lock().ok().and_then(|q| q.recv().ok()) {
                        let valid = verify(&check.hash, check.password.as_bytes(), &mut memory);
                        // A caller who hung up is not waiting for the answer.
                        let _ = check.answer.send(valid);
                    }
                });
            if let Err(error) = started {
                tracing::error!(%error, "a password check thread did not start");
            }
        }
        checks
    }

    /// Queues a check of `password` against `hash`; 429 when too many are waiting already (or no thread
    /// takes them).
    fn submit(&self, hash: String, password: String) -> Result<oneshot::Receiver<bool>, ApiError> {
        let (answer, answered) = oneshot::channel();
        self.waiting
            .try_send(Check {
                hash,
                password,
                answer,
            })
            .map_err(|_| ApiError::TooManyPasswordChecks)?;
        Ok(answered)
    }
}

/// Whether `password` matches the PHC string `hash`, with `memory` as argon2's working memory, grown when a
/// hash asks for more. A thread's checks reuse it: the allocator would keep the memory of many freed checks
/// (measured: 12 of them, 230 MiB, with four threads) where they allocate their own.
fn verify(hash: &str, password: &[u8], memory: &mut Vec<Block>) -> bool {
    let mut matches = || -> Option<bool> {
        let parsed = PasswordHash::new(hash).ok()?;
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = parsed
            .version
            .map_or(Ok(Version::default()), Version::try_from);
        let params = Params::try_from(&parsed).ok()?;
        let expected = parsed.hash?;
        let mut salt = [0; 64];
        let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
        if memory.len() < params.block_count() {
            memory.resize(params.block_count(), Block::default());
        }
        let mut computed = vec![0; expected.len()];
        Argon2::new(algorithm, version.ok()?, params)
            .hash_password_into_with_memory(password, salt, &mut computed, &mut memory[..])
            .ok()?;
        // `Output`'s comparison takes the same time wherever the outputs differ.
        Some(Output::new(&computed).ok()? == expected)
    };
    matches().unwrap_or(false)
}

fn decode_hex(text: &str) -> Option<[u8; 32]> {
    let mut digest = [0; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::SaltString;
    use argon2::{PasswordHasher, PasswordVerifier};

    fn users() -> Vec<UserSettings> {
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let hash = Argon2::default()
            .hash_password(b"s3cret", &salt)
            .unwrap()
            .to_string();
        let token: String = Sha256::digest(b"tok")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        vec![UserSettings {
            name: "alice".into(),
            password: Some(hash),
            tokens: vec![token],
            admin: false,
        }]
    }

    fn basic(credentials: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
    }

    #[test]
    fn checks_reuse_their_memory_and_agree_with_argon2() {
        let hash = users()[0].password.clone().unwrap();
        let mut memory = Vec::new();
        assert!(verify(&hash, b"s3cret", &mut memory));
        let used = memory.len();
        assert!(used >= 19 * 1024, "{used} blocks of 1 KiB");
        assert!(!verify(&hash, b"s3cret!", &mut memory));
        assert!(!verify(
            &unknown_user_hash(&hash).unwrap(),
            b"s3cret",
            &mut memory
        ));
        assert!(!verify("not a hash", b"s3cret", &mut memory));
        assert_eq!(memory.len(), used, "no new memory for the next checks");
    }

    #[test]
    fn checks_past_the_queue_are_refused_at_once() {
        let (checks, _queue) = PasswordChecks::new(2);
        let submit = || checks.submit("hash".into(), "password".into());
        let (first, second) = (submit(), submit());
        assert!(first.is_ok() && second.is_ok());
        assert!(matches!(submit(), Err(ApiError::TooManyPasswordChecks)));
    }

    #[test]
    fn an_unknown_users_hash_costs_the_same_and_matches_nothing() {
        let known = users()[0].password.clone().unwrap();
        let unknown = unknown_user_hash(&known).unwrap();
        let (known, unknown) = (
            PasswordHash::new(&known).unwrap(),
            PasswordHash::new(&unknown).unwrap(),
        );
        assert_eq!(known.algorithm, unknown.algorithm);
        assert_eq!(known.version, unknown.version);
        assert_eq!(known.params, unknown.params);
        assert_eq!(known.hash.unwrap().len(), unknown.hash.unwrap().len());
        assert!(
            Argon2::default()
                .verify_password(b"s3cret", &unknown)
                .is_err()
        );
    }

    #[actix_web::test]
    async fn basic_bearer_and_anonymous() {
        let auth = Authenticator::new(&users());
        let alice = Principal::User("alice".into());
        assert_eq!(auth.authenticate(None).await.unwrap(), Principal::Anonymous);
        assert_eq!(auth.check(&basic("alice:s3cret")).await.unwrap(), alice);
        assert_eq!(
            auth.check(&basic("alice:s3cret")).await.unwrap(),
            alice,
            "cached"
        );
        assert_eq!(auth.check("Bearer tok").await.unwrap(), alice);
        assert_eq!(auth.check("Token tok").await.unwrap(), alice);
        for bad in [
            basic("alice:wrong"),
            basic("bob:s3cret"),
            basic("nocolon"),
            "Bearer nope".into(),
            "Digest x".into(),
            "Basic ***".into(),
        ] {
            assert!(
                matches!(auth.check(&bad).await, Err(ApiError::Unauthorized(_))),
                "{bad}"
            );
        }
    }

    fn header(value: &str) -> HeaderValue {
        HeaderValue::from_str(value).unwrap()
    }

    #[actix_web::test]
    async fn where_users_exist_a_header_is_checked() {
        let auth = Authenticator::new(&users());
        let alice = Principal::User("alice".into());
        let (right, wrong) = (
            header(&basic("alice:s3cret")),
            header(&basic("alice:wrong")),
        );
        assert_eq!(auth.authenticate(Some(&right)).await.unwrap(), alice);
        let refused = auth.authenticate(Some(&wrong)).await;
        assert!(matches!(refused, Err(ApiError::Unauthorized(_))));
        let not_ascii = HeaderValue::from_bytes(b"Basic \xff").unwrap();
        let refused = auth.authenticate(Some(&not_ascii)).await;
        assert!(matches!(refused, Err(ApiError::Unauthorized(_))));
    }

    #[actix_web::test]
    async fn without_users_credentials_are_ignored_but_the_operator_token_holds() {
        let nobody = Authenticator::new(&[]);
        let not_ascii = HeaderValue::from_bytes(b"Basic \xff").unwrap();
        for value in [
            header(&basic("misp:anything")),
            header("Bearer whatever"),
            header("Digest x"),
            not_ascii,
        ] {
            let caller = nobody.authenticate(Some(&value)).await;
            assert_eq!(caller.unwrap(), Principal::Anonymous, "{value:?}");
        }
        let (token, digest) = crate::secret::new_token();
        let operator = Authenticator::new(&[]).with_operator_token(&digest);
        let bearer = header(&format!("Bearer {token}"));
        let caller = operator.authenticate(Some(&bearer)).await;
        assert_eq!(caller.unwrap(), Principal::Operator);
        let forged = operator.authenticate(Some(&header("Bearer forged"))).await;
        assert!(matches!(forged, Err(ApiError::Unauthorized(_))));
    }
}
