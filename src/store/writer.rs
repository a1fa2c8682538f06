//! The single writer: group commit over any [`Store`].
//!
//! Requests queue on a channel. The writer takes whatever has queued up (up to [`MAX_GROUP_OPS`]), applies it
//! as one atomic group, flushes once, and only then answers every request of the group. Under load, many
//! requests share one fsync; alone, a request pays one.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{Store, StoreError, StoreResult, WriteOp, WriteOutcome};

/// Enough to amortise a flush, small enough to keep one group's latency low.
const MAX_GROUP_OPS: usize = 20_000;
const QUEUE_DEPTH: usize = 1024;

type Reply = oneshot::Sender<StoreResult<Vec<WriteOutcome>>>;

enum Request {
    Write(Vec<WriteOp>, Reply),
    Stop(oneshot::Sender<()>),
}

/// A handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    requests: mpsc::Sender<Request>,
}

impl Writer {
    /// Starts the writer task on the current Tokio runtime.
    pub fn start(store: Arc<dyn Store>) -> (Self, JoinHandle<()>) {
        let (requests, queue) = mpsc::channel(QUEUE_DEPTH);
        let task = tokio::spawn(run(store, queue));
        (Self { requests }, task)
    }

    /// Applies `ops` atomically and returns once they are durable.
    pub async fn write(&self, ops: Vec<WriteOp>) -> StoreResult<Vec<WriteOutcome>> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Write(ops, reply))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Finishes every request queued before this call, then stops the writer.
    pub async fn stop(&self) {
        let (done, finished) = oneshot::channel();
        if self.requests.send(Request::Stop(done)).await.is_ok() {
            let _ = finished.await;
        }
    }
}

async fn run(store: Arc<dyn Store>, mut queue: mpsc::Receiver<Request>) {
    let mut stopped = None;
    while stopped.is_none() {
        let Some(first) = queue.recv().await else {
            break;
        };
        let mut group = Vec::new();
        let mut ops_in_group = 0;
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Write(ops, reply) => {
                    ops_in_group += ops.len();
                    group.push((ops, reply));
                }
                Request::Stop(done) => {
                    stopped = Some(done);
                    break;
                }
            }
            if ops_in_group < MAX_GROUP_OPS {
                next = queue.try_recv().ok();
            }
        }
        if !group.is_empty() {
            commit(&store, group).await;
        }
    }
    if let Some(done) = stopped {
        let _ = done.send(());
    }
}

async fn commit(store: &Arc<dyn Store>, group: Vec<(Vec<WriteOp>, Reply)>) {
    let sizes: Vec<usize> = group.iter().map(|(ops, _)| ops.len()).collect();
    let (ops, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
    let store = Arc::clone(store);
    let result = tokio::task::spawn_blocking(move || {
        let outcomes = store.apply(ops.into_iter().flatten().collect())?;
        store.flush()?;
        Ok::<_, StoreError>(outcomes)
    })
    .await
    .unwrap_or_else(|panic| Err(StoreError::Io(panic.to_string().into())));
    match result {
        Ok(outcomes) => {
            let mut outcomes = outcomes.into_iter();
            for (size, reply) in sizes.into_iter().zip(replies) {
                let _ = reply.send(Ok(outcomes.by_ref().take(size).collect()));
            }
        }
        Err(error) => {
            tracing::error!(%error, "a write group failed; nothing of it was acknowledged");
            let message = error.to_string();
            for reply in replies {
                let _ = reply.send(Err(StoreError::Io(message.clone().into())));
            }
        }
    }
}
