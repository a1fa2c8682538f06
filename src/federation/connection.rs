//! How to reach a remote server: credentials, TLS material and proxy. The command line, `[[peer]]` entries
//! and the admin endpoint's jobs all describe a remote this way.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ClientError, USER_AGENT};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    /// HTTP Basic user name; needs `password`.
    pub user: Option<String>,
    pub password: Option<String>,
    /// A bearer token (`Authorization: Bearer ...`); not together with `user`.
    pub token: Option<String>,
    /// A client certificate (PEM chain, leaf first), with its private key in `key`.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// PEM certificates to trust instead of the system's roots.
    pub ca: Option<PathBuf>,
    /// A proxy for every request, such as `http://proxy.example:3128`.
    pub proxy: Option<String>,
}

/// What goes in the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    Basic { user: String, password: String },
    Bearer(String),
}

// Credentials must not end up in logs or error messages.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Basic { user, .. } => write!(f, "Basic({user}, ***)"),
            Auth::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

impl Connection {
    /// Checks that the options go together, without reading any file.
    pub fn check(&self) -> Result<(), ClientError> {
        let refuse = |message: &str| Err(ClientError::Options(message.to_owned()));
        match (&self.user, &self.password, &self.token) {
            (Some(_), _, Some(_)) => refuse("give either a user and password or a token, not both"),
            (Some(_), None, _) => refuse("a user needs a password"),
            (None, Some(_), _) => refuse("a password needs a user"),
            _ => Ok(()),
        }?;
        match (&self.cert, &self.key) {
            (Some(_), None) => refuse("a client certificate needs its private key (key)"),
            (None, Some(_)) => refuse("a private key needs its client certificate (cert)"),
            _ => Ok(()),
        }?;
        if let Some(proxy) = &self.proxy {
            reqwest::Proxy::all(proxy).map_err(|e| {
                ClientError::Options(format!("the proxy {proxy:?} is not a usable URL: {e}"))
            })?;
        }
        Ok(())
    }

    pub fn auth(&self) -> Option<Auth> {
        match (&self.user, &self.password, &self.token) {
            (_, _, Some(token)) => Some(Auth::Bearer(token.clone())),
            (Some(user), Some(password), None) => Some(Auth::Basic {
                user: user.clone(),
                password: password.clone(),
            }),
            _ => None,
        }
    }

    /// Makes relative file names absolute, for handing the connection to a process with another directory.
    pub fn absolute(mut self) -> Result<Self, ClientError> {
        for path in [&mut self.cert, &mut self.key, &mut self.ca]
            .into_iter()
            .flatten()
        {
            *path = std::path::absolute(&*path)
                .map_err(|e| ClientError::Options(format!("{}: {e}", path.display())))?;
        }
        Ok(self)
    }

    /// An HTTP client with these TLS and proxy settings.
    pub fn http_client(&self) -> Result<reqwest::Client, ClientError> {
        self.check()?;
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_secs(30))
            // Long enough for a large page from a slow server; a dead connection still ends.
            .timeout(Duration::from_secs(300));
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            let mut pem = read(cert, "client certificate")?;
            pem.push(b'\n');
            pem.extend(read(key, "client key")?);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                ClientError::Options(format!(
                    "the client certificate {} and key {} cannot be used: {e}",
                    cert.display(),
                    key.display()
                ))
            })?;
            builder = builder.identity(identity);
        }
        if let Some(ca) = &self.ca {
            let roots = reqwest::Certificate::from_pem_bundle(&read(ca, "CA file")?)
                .ok()
                .filter(|roots| !roots.is_empty())
                .ok_or_else(|| {
                    ClientError::Options(format!(
                        "the CA file {} holds no PEM certificate",
                        ca.display()
                    ))
                })?;
            builder = builder.tls_certs_only(roots);
        }
        if let Some(proxy) = &self.proxy {
            let proxy = reqwest::Proxy::all(proxy).map_err(|e| {
                ClientError::Options(format!("the proxy {proxy:?} is not a usable URL: {e}"))
            })?;
            builder = builder.proxy(proxy);
        }
        builder
            .build()
            .map_err(|e| ClientError::Options(format!("the HTTP client cannot be set up: {e}")))
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path)
        .map_err(|e| ClientError::Options(format!("the {what} {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_that_do_not_go_together_are_named() {
        let with = |user: Option<&str>, password: Option<&str>, token: Option<&str>| Connection {
            user: user.map(Into::into),
            password: password.map(Into::into),
            token: token.map(Into::into),
            ..Connection::default()
        };
        assert!(with(Some("u"), Some("p"), None).check().is_ok());
        assert!(with(None, None, Some("t")).check().is_ok());
        for (connection, expected) in [
            (with(Some("u"), Some("p"), Some("t")), "not both"),
            (with(Some("u"), None, None), "needs a password"),
            (with(None, Some("p"), None), "needs a user"),
        ] {
            let error = connection.check().unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
        let key_only = Connection {
            key: Some("k.pem".into()),
            ..Connection::default()
        };
        assert!(
            key_only
                .check()
                .unwrap_err()
                .to_string()
                .contains("needs its client certificate")
        );
    }

    #[test]
    fn missing_files_are_named() {
        let connection = Connection {
            ca: Some("/nonexistent/ca.pem".into()),
            ..Connection::default()
        };
        let error = connection.http_client().unwrap_err().to_string();
        assert!(error.contains("CA file /nonexistent/ca.pem"), "{error}");
    }

    #[test]
    fn credentials_stay_out_of_debug_output() {
        let auth = Auth::Basic {
            user: "alice".into(),
            password: "secret".into(),
        };
        assert!(!format!("{auth:?}").contains("secret"));
        assert!(!format!("{:?}", Auth::Bearer("tok".into())).contains("tok"));
    }
}
