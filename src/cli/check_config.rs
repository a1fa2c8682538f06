//! `stixgate check-config`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config::{Settings, effective};

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// TOML configuration file, layered over the embedded default.
    #[arg(long, env = "STIXGATE_CONFIG")]
    config: Option<PathBuf>,
}

/// Refuses what `serve` would refuse before binding its ports, then prints the effective configuration.
pub(super) fn check_config(args: CheckConfigArgs) -> anyhow::Result<ExitCode> {
    let file = args.config.as_deref();
    let settings = Settings::load(file)?;
    crate::app::prepare(&settings)?;
    print!("{}", effective(file)?);
    eprintln!("stixgate: the configuration is valid");
    Ok(ExitCode::SUCCESS)
}
