use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use stixgate::cli::{Cli, run};

#[tokio::main]
async fn main() -> ExitCode {
    let code = match run(Cli::parse()).await {
        Ok(code) => code,
        Err(error) => {
            stixgate::logging::flush();
            // Not `eprintln!`, which panics when standard error cannot be written.
            let _ = writeln!(std::io::stderr(), "stixgate: {error:#}");
            ExitCode::FAILURE
        }
    };
    stixgate::logging::flush();
    code
}
