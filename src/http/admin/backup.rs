//! `POST /admin/backup`: a backup of the store at one moment, streamed to `stixgate backup`.

use std::io::Write;

use actix_web::{HttpResponse, web};
use tokio::sync::mpsc;

use crate::backup;
use crate::http::AppState;

/// Streams a backup. It is read by the writer between two groups, so it is one consistent state, and the
/// writes that come meanwhile wait until its last line is queued for the connection.
pub(super) async fn stream(state: web::Data<AppState>) -> HttpResponse {
    let (chunks, body) = mpsc::channel::<std::io::Result<web::Bytes>>(BACKUP_CHUNKS_AHEAD);
    let writer = state.writer.clone();
    tokio::spawn(async move {
        let sink = chunks.clone();
        let read = writer
            .exclusive(move |store| {
                let mut out = std::io::BufWriter::with_capacity(BACKUP_CHUNK, ChannelWriter(sink));
                backup::write(store, &mut out)
            })
            .await;
        let failure = match read {
            Ok(Ok(tally)) => {
                tracing::info!(%tally, "backup handed to the command line");
                return;
            }
            Ok(Err(error)) => error.to_string(),
            Err(error) => error.to_string(),
        };
        tracing::error!(error = failure, "the backup failed");
        // An error item aborts the response, so that the command line sees the backup broke off.
        let _ = chunks.send(Err(std::io::Error::other(failure))).await;
    });
    let body = futures_util::stream::unfold(body, |mut body| async move {
        body.recv().await.map(|chunk| (chunk, body))
    });
    HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming(body)
}

/// Bytes per chunk of a streamed backup, and chunks that may wait for the connection.
const BACKUP_CHUNK: usize = 256 * 1024;
const BACKUP_CHUNKS_AHEAD: usize = 8;

/// Hands what the backup writes to the response, waiting while the connection is behind. Runs on the
/// writer's blocking thread, never on the runtime.
struct ChannelWriter(mpsc::Sender<std::io::Result<web::Bytes>>);

impl Write for ChannelWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(web::Bytes::copy_from_slice(bytes)))
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
            })?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
