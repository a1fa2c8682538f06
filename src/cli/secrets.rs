//! `stixgate hash-password` and `new-token`: credentials for the `[[users]]` of the configuration.

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::secret;

/// On a terminal, asks twice without echo, so that a typo does not end up as the hash of a password nobody
/// knows; from a pipe, reads one line.
pub(super) fn hash_password() -> anyhow::Result<ExitCode> {
    let password = if io::stdin().is_terminal() {
        let first = rpassword::prompt_password("password: ").context("reading the password")?;
        let again = rpassword::prompt_password("again: ").context("reading the password")?;
        if first != again {
            bail!("the two passwords differ; nothing was hashed");
        }
        first
    } else {
        let mut line = String::new();
        io::stdin()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    println!("{}", secret::hash_password(&password));
    Ok(ExitCode::SUCCESS)
}

pub(super) fn new_token() -> ExitCode {
    let (token, digest) = secret::new_token();
    println!("token (give to the client):     {token}");
    println!("digest (put in users.tokens):   {digest}");
    ExitCode::SUCCESS
}
