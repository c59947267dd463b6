//! DNS over TCP (RFC 7766): length-prefixed messages, several per connection, for truncated UDP
//! answers and clients that prefer TCP. Connections are capped and idle ones closed.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::Access;
use super::engine::{self, Options, Outcome};
use super::forward::{Forwarder, ReplyTo};
use super::index::DnsIndex;

const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_CONNECTIONS: usize = 512;

pub async fn serve(
    listener: TcpListener,
    index: Arc<ArcSwap<DnsIndex>>,
    access: Arc<Access>,
    forwarder: Option<Forwarder>,
    seed: Option<u64>,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = tokio::task::JoinSet::new();
    let mut stream_number: u64 = 1 << 32;
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::debug!(%error, "DNS TCP accept failed");
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            // Over the cap: close at once rather than queue.
            continue;
        };
        stream_number += 1;
        let connection = Connection {
            index: Arc::clone(&index),
            access: Arc::clone(&access),
            forwarder: forwarder.clone(),
            rng: super::udp::rng_for(seed, stream_number),
            may_recurse: access.may_recurse(peer.ip()),
        };
        let stop = shutdown.clone();
        connections.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = connection.run(stream) => {}
            }
            drop(permit);
        });
    }
    connections.shutdown().await;
}

struct Connection {
    index: Arc<ArcSwap<DnsIndex>>,
    access: Arc<Access>,
    forwarder: Option<Forwarder>,
    rng: rand::rngs::SmallRng,
    may_recurse: bool,
}

impl Connection {
    async fn run(mut self, mut stream: TcpStream) {
        let mut packet = vec![0u8; 65_535];
        let mut out = Vec::with_capacity(4096);
        loop {
            let len = match tokio::time::timeout(IDLE_TIMEOUT, stream.read_u16()).await {
                Ok(Ok(len)) => usize::from(len),
                _ => return,
            };
            if tokio::time::timeout(IDLE_TIMEOUT, stream.read_exact(&mut packet[..len]))
                .await
                .is_err()
            {
                return;
            }
            let options = Options {
                udp: false,
                may_forward: self.forwarder.is_some() && self.may_recurse,
                srv_additional: self.access.srv_additional,
            };
            let outcome = {
                let index = self.index.load();
                engine::respond(&index, &packet[..len], options, &mut self.rng, &mut out)
            };
            let response = match outcome {
                Outcome::Reply => std::mem::take(&mut out),
                Outcome::Forward => {
                    let Some(forwarder) = &self.forwarder else {
                        return;
                    };
                    let (reply, answer) = tokio::sync::oneshot::channel();
                    forwarder.submit(packet[..len].to_vec(), ReplyTo::Tcp(reply));
                    match answer.await {
                        Ok(response) => response,
                        Err(_) => return,
                    }
                }
                Outcome::Drop => return,
            };
            let Ok(response_len) = u16::try_from(response.len()) else {
                return;
            };
            let mut framed = Vec::with_capacity(response.len() + 2);
            framed.extend_from_slice(&response_len.to_be_bytes());
            framed.extend_from_slice(&response);
            if stream.write_all(&framed).await.is_err() {
                return;
            }
            out = response;
        }
    }
}
