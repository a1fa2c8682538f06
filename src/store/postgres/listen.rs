//! How a node learns that other nodes stored objects: every write group that adds objects or envelopes to a
//! collection sends a `NOTIFY` on [`CHANNEL`] in its transaction (delivered only once it commits), and each node
//! keeps one connection of its own (not from the pool) that `LISTEN`s and wakes the collection's watchers.
//!
//! Notifications are hints: one sent while the connection was down is lost. So the listener also compares the
//! collections' rows (`last_added`, envelope count) with what it saw last, at every (re)connection and every
//! [`BACKSTOP`], and wakes the watchers of what changed: a lost notification costs latency, never an object.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use super::pool::{Shared, Tls};
use super::{db_error, describe_error};
use crate::store::{OthersAdded, StoreResult};

/// The channel of the notifications; the payload is the sending node's id, a tab, and the collection's id.
pub(super) const CHANNEL: &str = "stixgate_added";

/// How often the listener looks at the collections' rows even without notifications.
const BACKSTOP: Duration = Duration::from_secs(5);

/// In debug builds, a backstop in milliseconds instead of [`BACKSTOP`]: tests make it longer than their waits, so
/// that only a notification (or the look after a reconnection) can answer them.
const TEST_BACKSTOP_VARIABLE: &str = "PG_LISTENER_TEST_BACKSTOP_MS";

fn backstop() -> Duration {
    if !cfg!(debug_assertions) {
        return BACKSTOP;
    }
    std::env::var(TEST_BACKSTOP_VARIABLE)
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(BACKSTOP, Duration::from_millis)
}

/// The longest pause before connecting again after the connection failed.
const LONGEST_PAUSE: Duration = Duration::from_secs(5);

/// What the listener last saw of each collection's row: `last_added` and the envelope count; `None` before its
/// first look.
type Seen = Option<HashMap<String, (i64, i64)>>;

/// Listens until the runtime stops, connecting again whenever the connection is lost.
pub(super) async fn listen(shared: Arc<Shared>, added: OthersAdded) {
    let mut seen: Seen = None;
    let mut pause = Duration::from_millis(100);
    loop {
        match listen_once(&shared, &added, &mut seen).await {
            Ok(()) => pause = Duration::from_millis(100),
            Err(error) => {
                tracing::warn!(%error, "the PostgreSQL listener lost its connection; connecting again");
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
        }
        tokio::time::sleep(pause).await;
    }
}

/// One connection's life: `LISTEN`, a look at every collection, then notifications and backstop looks until
/// the connection fails.
async fn listen_once(shared: &Shared, added: &OthersAdded, seen: &mut Seen) -> StoreResult<()> {
    let mut config = shared.config.clone();
    config.application_name("stixgate-listener");
    let (payloads, mut received) = mpsc::unbounded_channel();
    let failed = |e: tokio_postgres::Error| crate::store::StoreError::Connect {
        target: shared.target.clone(),
        problem: describe_error(&e),
    };
    let client = match &shared.tls {
        Tls::Disabled => {
            let (client, connection) = config.connect(NoTls).await.map_err(failed)?;
            tokio::spawn(forward(connection, payloads));
            client
        }
        Tls::Rustls(tls) => {
            let (client, connection) = config.connect(tls.clone()).await.map_err(failed)?;
            tokio::spawn(forward(connection, payloads));
            client
        }
    };
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(db_error)?;
    look(&client, added, seen).await?;
    let mut backstop = tokio::time::interval(backstop());
    backstop.reset();
    loop {
        tokio::select! {
            payload = received.recv() => match payload {
                Some(payload) => {
                    if let Some((node, collection)) = payload.split_once('\t')
                        && node != shared.node
                    {
                        added(collection);
                    }
                }
                None => return Err(crate::store::StoreError::Io("the connection closed".into())),
            },
            _ = backstop.tick() => look(&client, added, seen).await?,
        }
    }
}

/// Drives the listener's connection, handing on the payloads of its notifications; ends when it fails.
async fn forward<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    payloads: mpsc::UnboundedSender<String>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut messages = std::pin::pin!(futures_util::stream::poll_fn(
        move |cx| connection.poll_message(cx)
    ));
    while let Some(message) = messages.next().await {
        match message {
            Ok(AsyncMessage::Notification(notification)) => {
                if payloads.send(notification.payload().to_owned()).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(error) => {
                tracing::debug!(%error, "the PostgreSQL listener's connection failed");
                return;
            }
        }
    }
}

/// Wakes the watchers of every collection whose row changed since the last look.
async fn look(client: &Client, added: &OthersAdded, seen: &mut Seen) -> StoreResult<()> {
    let rows = client
        .query("SELECT id, last_added, envelopes FROM collections", &[])
        .await
        .map_err(db_error)?;
    let first_look = seen.is_none();
    let seen = seen.get_or_insert_with(HashMap::new);
    for row in rows {
        let collection: String = row.get(0);
        let now = (row.get(1), row.get(2));
        if seen.get(&collection) != Some(&now) && !first_look {
            added(&collection);
        }
        seen.insert(collection, now);
    }
    Ok(())
}
