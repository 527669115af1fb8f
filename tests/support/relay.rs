//! A TCP relay between a test client and the server that can fall silent on command, the
//! way a network that vanishes without a FIN or RST does (R-REMOTE-2): after
//! [`Relay::go_silent`] nothing more is carried in either direction, yet both TCP
//! connections stay open, so neither end learns anything from the socket. TLS runs end to
//! end through it (the relay sees only bytes), so a booth's client certificate still works.

#![allow(dead_code)] // every test binary uses a different subset

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A listening relay to one upstream address.
pub struct Relay {
    addr: SocketAddr,
    silent: Arc<watch::Sender<bool>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Relay {
    /// Listen on 127.0.0.1 (a free port) and carry every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay bind");
        let addr = listener.local_addr().expect("relay address");
        let silent = Arc::new(watch::Sender::new(false));
        let for_accept = Arc::clone(&silent);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pump(client_read, server_write, for_accept.subscribe()));
                tokio::spawn(pump(server_read, client_write, for_accept.subscribe()));
            }
        });
        Relay {
            addr,
            silent,
            accept,
        }
    }

    /// The relay's own address (connect here instead of the server).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `wss://` URL of the signalling endpoint through the relay.
    pub fn ws_url(&self) -> String {
        format!("wss://{}/ws", self.addr)
    }

    /// From now on carry nothing, in either direction, on any connection; keep them open.
    pub fn go_silent(&self) {
        self.silent.send_replace(true);
    }

    /// The network is back (R-REMOTE-2): new connections are carried again. Connections
    /// from before the silence stay dead (their bytes were lost), as after a real outage
    /// that outlived the TCP connection.
    pub fn restore(&self) {
        self.silent.send_replace(false);
    }
}

/// Copy one direction until the relay goes silent; then hold both halves open, forever
/// (until the test's runtime ends), so that no FIN is ever sent.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut silent: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if *silent.borrow() {
            break;
        }
        let n = tokio::select! {
            n = from.read(&mut buf) => n,
            _ = silent.wait_for(|s| *s) => break,
        };
        match n {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if *silent.borrow() {
                    break; // lost on the way
                }
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
    let _keep_open = (from, to);
    std::future::pending::<()>().await;
}
