use std::process::ExitCode;

use clap::Parser;
use stixgate::cli::{Cli, run};

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("stixgate: {error:#}");
            ExitCode::FAILURE
        }
    }
}
