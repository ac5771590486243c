//! A TCP proxy on `127.0.0.1:0` that a test puts between keygate and a server it shares
//! with others (PostgreSQL), to make faults of its own without touching that server:
//! new connections closed at once (down), every open connection cut, bytes held back
//! (a stalled server) or delayed (a slow one).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

/// How the proxy treats traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward everything.
    Pass,
    /// Close every new connection as soon as it is accepted (what a client sees of a
    /// server that is gone: the connection ends before the handshake). Connections
    /// already open are left alone: [`FaultProxy::cut`] ends them.
    Down,
    /// Accept new connections and forward nothing, in either direction, on any
    /// connection: a server that has stopped answering (a hung host, a black-holed
    /// network path). The bytes flow again, in order, when the mode changes.
    Stall,
    /// Forward every chunk after this delay: a slow server or network.
    Delay(Duration),
}

/// The proxy; it stops (and ends every connection) when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
    listener: AbortHandle,
}

impl FaultProxy {
    /// Listens on `127.0.0.1:0` and forwards to `upstream`, in [`Mode::Pass`].
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fault proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let (mode, _) = watch::channel(Mode::Pass);
        let tasks: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accept = {
            let mode = mode.clone();
            let tasks = Arc::clone(&tasks);
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let watch = mode.subscribe();
                    if *watch.borrow() == Mode::Down {
                        drop(client);
                        continue;
                    }
                    let task = tokio::spawn(connection(client, upstream, watch));
                    let mut all = tasks.lock().unwrap_or_else(PoisonError::into_inner);
                    all.retain(|t| !t.is_finished());
                    all.push(task.abort_handle());
                }
            })
        };
        Self {
            addr,
            mode,
            tasks,
            listener: accept.abort_handle(),
        }
    }

    /// Where clients connect: `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes how traffic is treated, for new and open connections alike.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Ends every open connection at once (both sides see the socket close).
    pub fn cut(&self) {
        let all = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for task in all {
            task.abort();
        }
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        let mut all = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        all.retain(|t| !t.is_finished());
        all.len()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.listener.abort();
        self.cut();
    }
}

/// Waits while the mode says to hold traffic back; applies a delay.
async fn wait_for_passage(mode: &mut watch::Receiver<Mode>) -> bool {
    loop {
        let now = *mode.borrow_and_update();
        match now {
            Mode::Stall => {
                if mode.changed().await.is_err() {
                    return false;
                }
            }
            Mode::Delay(d) => {
                tokio::time::sleep(d).await;
                return true;
            }
            Mode::Pass | Mode::Down => return true,
        }
    }
}

async fn connection(client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>) {
    // A stalled server does not even complete the connection on its side.
    if !wait_for_passage(&mut mode).await {
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // Both directions end together: when either side closes, so does the other.
    tokio::select! {
        () = pump(client_read, server_write, mode.clone()) => {}
        () = pump(server_read, client_write, mode) => {}
    }
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !wait_for_passage(&mut mode).await || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
