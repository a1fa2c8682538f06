//! Intake from IntelMQ's `tcp` output bot, the optional `[intelmq.tcp]` listener.
//!
//! The bot speaks one of two framings, told apart by a connection's first byte:
//! - by default (`counterpart_is_intelmq: true`, no `separator`), each event is a 4-byte big-endian length and
//!   the JSON of the event; the bot then waits for the 2 bytes `Ok` and resends the same frame when anything
//!   else comes. `Ok` is sent only once the event is durable, and a resent event is a duplicate, because its
//!   id is a hash of its content;
//! - with `counterpart_is_intelmq: false` and a `separator`, events are JSON text ending in the separator, and
//!   nothing is answered. Such text starts with `{`, which as the first byte of a length would announce a
//!   frame of about 2 GB: no framed connection starts that way.
//!
//! There is no TLS and no authentication, as in IntelMQ: listen on loopback, or behind a tunnel or VPN.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::events::store_event;
use crate::ingest::Intake;
use crate::jobs::{Job, Scope};
use crate::store::Writer;

/// The answer to a frame that is stored or a duplicate.
const ACK: &[u8] = b"Ok";
/// The answer to a frame that is not: anything but `Ok` makes the bot send it again a second later, and an
/// answer of two bytes makes it do so at once rather than after its 15 s timeout.
const NACK: &[u8] = b"No";

/// Where the events of a connection go, and what stores them.
pub struct Target {
    /// The collection id.
    pub collection: String,
    /// What ends an event sent as text.
    pub separator: Vec<u8>,
    pub intake: Intake,
    pub writer: Writer,
    /// The largest event taken, in bytes (`max_content_length`).
    pub max_content_length: usize,
    /// Where new events are counted (`stixgate_envelopes_stored_total`).
    pub stored: Arc<AtomicU64>,
}

/// The listener, bound, and where it listens.
pub struct TcpIntake {
    listener: TcpListener,
    pub address: SocketAddr,
}

impl TcpIntake {
    /// Binds `listen`; must run inside the Tokio runtime.
    pub fn bind(listen: &str) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(listener)?;
        let address = listener.local_addr()?;
        Ok(Self { listener, address })
    }

    /// The listener as a job of every node, serving connections into `target`.
    pub fn serving(self, target: Target) -> TcpIntakeJob {
        TcpIntakeJob {
            intake: self,
            target: Arc::new(target),
        }
    }
}

/// The bound listener and where its events go: it serves connections until dropped. Dropping it drops the
/// connections too: an event whose `Ok` was not sent is sent again by the bot, and is then a duplicate if it
/// was stored.
pub struct TcpIntakeJob {
    intake: TcpIntake,
    target: Arc<Target>,
}

impl Job for TcpIntakeJob {
    fn name(&self) -> String {
        "intelmq-tcp".into()
    }

    /// Every node listens: the bots send to the node they are configured with.
    fn scope(&self) -> Scope {
        Scope::EveryNode
    }

    fn run(self: Arc<Self>) -> BoxFuture<'static, ()> {
        async move {
            let (address, collection) = (self.intake.address, &self.target.collection);
            tracing::info!(%address, collection, "IntelMQ tcp intake listening");
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = self.intake.listener.accept() => match accepted {
                        Ok((stream, peer)) => {
                            connections.spawn(serve_connection(stream, peer, Arc::clone(&self.target)));
                        }
                        Err(error) => tracing::warn!(%error, "IntelMQ tcp intake: accepting failed"),
                    },
                    // Reaps finished connections, so that the set does not grow.
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        }
        .boxed()
    }
}

async fn serve_connection(stream: TcpStream, peer: SocketAddr, target: Arc<Target>) {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let separated = match reader.fill_buf().await {
        Ok([]) => return,
        Ok(bytes) => bytes[0] == b'{',
        Err(error) => {
            tracing::warn!(%peer, %error, "IntelMQ tcp intake: reading failed");
            return;
        }
    };
    let outcome = if separated {
        serve_separated(&mut reader, &target, peer).await
    } else {
        serve_framed(&mut reader, &mut writer, &target, peer).await
    };
    if let Err(error) = outcome {
        tracing::warn!(%peer, %error, "IntelMQ tcp intake: the connection failed");
    }
}

/// Length-prefixed frames, each answered `Ok` once durable.
async fn serve_framed(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    target: &Target,
    peer: SocketAddr,
) -> std::io::Result<()> {
    loop {
        let length = match reader.read_u32().await {
            Ok(length) => length as usize,
            // The bot closed the connection between frames.
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(error) => return Err(error),
        };
        let limit = target.max_content_length;
        if length > limit {
            // Skipped, not read into memory, so that the next frame is found where it starts.
            tokio::io::copy(
                &mut (&mut *reader).take(length as u64),
                &mut tokio::io::sink(),
            )
            .await?;
            tracing::warn!(%peer, length, limit, "IntelMQ tcp intake: a frame over max_content_length was refused");
            writer.write_all(NACK).await?;
            continue;
        }
        let mut frame = vec![0; length];
        reader.read_exact(&mut frame).await?;
        let answer = if store(target, &frame, peer).await {
            ACK
        } else {
            NACK
        };
        writer.write_all(answer).await?;
    }
}

/// JSON text ending in `separator`; nothing is answered.
async fn serve_separated(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    target: &Target,
    peer: SocketAddr,
) -> std::io::Result<()> {
    let separator = &target.separator[..];
    let Some(&last) = separator.last() else {
        return Ok(());
    };
    let limit = target.max_content_length as u64;
    let mut record = Vec::new();
    loop {
        // Bounded, so that a peer that never sends the separator cannot fill the memory.
        let read = (&mut *reader)
            .take(limit + 1)
            .read_until(last, &mut record)
            .await?;
        if record.len() as u64 > limit {
            tracing::warn!(%peer, limit, "IntelMQ tcp intake: a record over max_content_length was refused");
            return Ok(());
        }
        let at_end = read == 0;
        if !at_end && !record.ends_with(separator) {
            // Only the last byte of a longer separator, or the end of the input without a separator.
            continue;
        }
        let event = record.strip_suffix(separator).unwrap_or(&record);
        if !event.trim_ascii().is_empty() {
            store(target, event, peer).await;
        }
        if at_end {
            return Ok(());
        }
        record.clear();
    }
}

/// Stores one event; whether it is stored or a duplicate. Refusals are logged: the bot cannot be told why.
async fn store(target: &Target, event: &[u8], peer: SocketAddr) -> bool {
    if !event.trim_ascii_start().starts_with(b"{") {
        tracing::warn!(%peer, "IntelMQ tcp intake: an event that is not a JSON object was refused");
        return false;
    }
    let stored = &target.stored;
    match store_event(
        &target.intake,
        &target.writer,
        stored,
        &target.collection,
        event,
    )
    .await
    {
        Ok(_) => true,
        Err(error) => {
            tracing::warn!(%peer, %error, "IntelMQ tcp intake: an event was refused");
            false
        }
    }
}
