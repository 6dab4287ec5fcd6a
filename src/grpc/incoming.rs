//! Accepted connections, capped: at most [`max_connections`] are open at once (handshakes
//! included), so that a crowd of stalled clients can neither exhaust the process's file
//! descriptors nor make the accept loop spin on EMFILE. A connection over the cap waits in the
//! kernel's backlog until one closes; a stalled TLS handshake is closed after the server's
//! handshake timeout, so the queue always moves.

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{mpsc, OwnedSemaphorePermit, Semaphore},
};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// The most connections a node holds open when the file-descriptor limit allows it.
pub const MAX_CONNECTIONS: usize = 512;

/// The connection cap for this process: [`MAX_CONNECTIONS`], or less if the soft limit on
/// open files would not leave room for the store and the node's own links.
pub fn max_connections() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and has no other effect.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    let files = if ok { limit.rlim_cur as usize } else { 1024 };
    MAX_CONNECTIONS.min(files.saturating_sub(128).max(16))
}

/// One accepted connection holding its place under the cap until it is dropped.
pub struct Capped {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl Connected for Capped {
    type ConnectInfo = TcpConnectInfo;
    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for Capped {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Capped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Accepts on `listener`, at most `cap` connections at once, with TCP_NODELAY set (without it
/// small replies wait ~40 ms for a delayed ACK). The accept task ends when the stream is
/// dropped.
pub fn capped(listener: TcpListener, cap: usize) -> ReceiverStream<io::Result<Capped>> {
    let permits = Arc::new(Semaphore::new(cap));
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let stream = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = tx.closed() => return,
            };
            match stream {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let capped = Capped {
                        stream,
                        _permit: permit,
                    };
                    if tx.send(Ok(capped)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    // EMFILE and the like: wait instead of spinning; the error is not fatal.
                    tracing::warn!(error = %e, "accept failed");
                    drop(permit);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    });
    ReceiverStream::new(rx)
}
