//! `stixgate serve`.

use std::process::ExitCode;

use clap::Args;

use super::{Common, init_logging};
use crate::app::Application;
use crate::config::DEFAULT_CONFIG;

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    common: Common,
    /// Address to listen on, such as 127.0.0.1:8080.
    #[arg(long)]
    listen: Option<String>,
    /// Print the embedded default configuration and exit.
    #[arg(long)]
    print_default_config: bool,
}

pub(super) async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    if args.print_default_config {
        print!("{DEFAULT_CONFIG}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut settings = args.common.settings()?;
    if let Some(listen) = args.listen {
        settings.listen = listen;
    }
    init_logging(&settings.log, settings.log_format);
    let data = settings.data.display().to_string();
    let host = settings
        .listen
        .rsplit_once(':')
        .map_or("127.0.0.1", |(host, _)| host)
        .to_owned();
    let application = Application::build(settings)?;
    tracing::info!(data, "listening on http://{host}:{}", application.port());
    tracing::info!(
        "the admin endpoint listens on {}, on loopback only: `stixgate pull`, `push` and `backup` hand their \
         work to this server through it (admin.json in the data directory names it)",
        application.admin_url()
    );
    application.run_until_stopped(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM or SIGINT: both stop gracefully.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing a SIGTERM handler works on unix");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
