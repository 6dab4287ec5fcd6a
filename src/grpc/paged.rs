//! A server stream fed page by page through a bounded channel: a producer task asks its source
//! for one page at a time and waits while the channel is full, so a client that never reads
//! holds at most one page and the channel's few items, never a whole list. How pages are made
//! is the source's business (the consolidated list reads the province view by cursor).

use std::{future::Future, sync::LazyLock};

use tokio::sync::{mpsc, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

/// Items per page asked of the source.
pub const PAGE: usize = 128;
/// Items waiting in the channel for a slow reader.
pub const BUFFERED: usize = 16;
/// Pages being made at once across all streams, so that many streams starting together do
/// not each build a list at the same moment.
const BUILDING: usize = 4;

static BUILDERS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(BUILDING));

/// Streams the items of `source`, called with (cursor, page size) and answering a page and the
/// cursor of the next one (empty: no more), starting from `first`. Stops at the first error
/// (sent to the client) or when the client goes away.
pub fn paged<T, F, Fut>(first: String, mut source: F) -> ReceiverStream<Result<T, Status>>
where
    T: Send + 'static,
    F: FnMut(String, usize) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(Vec<T>, String), Status>> + Send,
{
    let (tx, rx) = mpsc::channel(BUFFERED);
    let supervisor = tx.clone();
    let producer = tokio::spawn(async move {
        let mut cursor = first;
        loop {
            let page = {
                let Ok(_permit) = BUILDERS.acquire().await else {
                    return;
                };
                source(cursor.clone(), PAGE).await
            };
            let (items, next) = match page {
                Ok(p) => p,
                Err(status) => {
                    let _ = tx.send(Err(status)).await;
                    return;
                }
            };
            for item in items {
                if tx.send(Ok(item)).await.is_err() {
                    return;
                }
            }
            if next.is_empty() {
                return;
            }
            cursor = next;
        }
    });
    // A producer that panics ends the stream with INTERNAL, never with a silent, short list.
    tokio::spawn(async move {
        if let Err(e) = producer.await {
            tracing::error!(error = %e, "a streamed list failed");
            let failed = Status::internal("the list failed inside the node; its log says why");
            let _ = supervisor.send(Err(failed)).await;
        }
    });
    ReceiverStream::new(rx)
}
