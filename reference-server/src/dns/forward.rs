//! Forwarding of names outside every namespace to upstream resolvers, so a container can use our
//! server as its only nameserver. The query is relayed as it came (EDNS included) over UDP, then
//! TCP when the upstream truncates; upstreams are tried in order; SERVFAIL when none answers.
//! Only clients in the recursion allow-list get here (see `Access`): never an open resolver.

use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::engine;

const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
const QUEUE: usize = 4096;

pub enum ReplyTo {
    Udp(Arc<StdUdpSocket>, SocketAddr),
    Tcp(oneshot::Sender<Vec<u8>>),
}

struct Job {
    query: Vec<u8>,
    reply: ReplyTo,
}

#[derive(Clone)]
pub struct Forwarder {
    jobs: mpsc::Sender<Job>,
}

impl Forwarder {
    /// Hands a query over; when the queue is full the client gets SERVFAIL at once.
    pub fn submit(&self, query: Vec<u8>, reply: ReplyTo) {
        if let Err(mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job)) =
            self.jobs.try_send(Job { query, reply })
        {
            let failure = servfail(&job.query);
            deliver(job.reply, failure, &job.query);
        }
    }
}

/// Starts the forwarding task; it ends with `shutdown`.
pub fn start(
    upstreams: Vec<SocketAddr>,
    tasks: &mut tokio::task::JoinSet<()>,
    shutdown: CancellationToken,
) -> Forwarder {
    let (jobs, mut receiver) = mpsc::channel::<Job>(QUEUE);
    let upstreams = Arc::new(upstreams);
    tasks.spawn(async move {
        let mut in_flight = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                job = receiver.recv() => match job {
                    Some(job) => {
                        let upstreams = Arc::clone(&upstreams);
                        in_flight.spawn(async move {
                            let response = match resolve(&upstreams, &job.query).await {
                                Some(response) => response,
                                None => servfail(&job.query),
                            };
                            deliver(job.reply, response, &job.query);
                        });
                    }
                    None => break,
                },
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            }
        }
        in_flight.shutdown().await;
    });
    Forwarder { jobs }
}

fn deliver(reply: ReplyTo, response: Vec<u8>, query: &[u8]) {
    match reply {
        ReplyTo::Udp(socket, peer) => {
            // An upstream answer over TCP may be larger than this client takes over UDP.
            let limit = match engine::parse(query) {
                Ok(q) => q.edns.map_or(512, |e| usize::from(e.udp_size).max(512)),
                Err(_) => 512,
            };
            let response = if response.len() > limit {
                truncated(query, &response)
            } else {
                response
            };
            let _ = socket.send_to(&response, peer);
        }
        ReplyTo::Tcp(sender) => {
            let _ = sender.send(response);
        }
    }
}

async fn resolve(upstreams: &[SocketAddr], query: &[u8]) -> Option<Vec<u8>> {
    let id = query.get(..2)?;
    for upstream in upstreams {
        match udp_exchange(*upstream, query, id).await {
            Some(response) if response.get(2).is_some_and(|flags| flags & 0x02 != 0) => {
                if let Some(response) = tcp_exchange(*upstream, query).await {
                    return Some(response);
                }
            }
            Some(response) => return Some(response),
            None => {}
        }
    }
    None
}

async fn udp_exchange(upstream: SocketAddr, query: &[u8], id: &[u8]) -> Option<Vec<u8>> {
    let bind: SocketAddr = if upstream.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .ok()?;
    let socket = UdpSocket::bind(bind).await.ok()?;
    socket.connect(upstream).await.ok()?;
    socket.send(query).await.ok()?;
    let mut buffer = vec![0u8; 65_535];
    let deadline = tokio::time::Instant::now() + UPSTREAM_TIMEOUT;
    loop {
        let len = tokio::time::timeout_at(deadline, socket.recv(&mut buffer))
            .await
            .ok()?
            .ok()?;
        // Only the answer to this query (same id, a response) counts.
        if len >= 12 && &buffer[..2] == id && buffer[2] & 0x80 != 0 {
            buffer.truncate(len);
            return Some(buffer);
        }
    }
}

async fn tcp_exchange(upstream: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    let exchange = async {
        let mut stream = TcpStream::connect(upstream).await.ok()?;
        let len = u16::try_from(query.len()).ok()?;
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(query);
        stream.write_all(&framed).await.ok()?;
        let len = stream.read_u16().await.ok()?;
        let mut response = vec![0u8; usize::from(len)];
        stream.read_exact(&mut response).await.ok()?;
        Some(response)
    };
    tokio::time::timeout(UPSTREAM_TIMEOUT, exchange)
        .await
        .ok()?
}

/// The query's header and question with rcode SERVFAIL.
fn servfail(query: &[u8]) -> Vec<u8> {
    let mut response = echo(query);
    if response.len() >= 4 {
        response[3] = (response[3] & 0xF0) | 2;
    }
    response
}

/// The query's header and question with TC set: the client retries over TCP.
fn truncated(query: &[u8], response: &[u8]) -> Vec<u8> {
    let mut out = echo(query);
    if out.len() >= 4 && response.len() >= 4 {
        out[2] |= 0x02 | (response[2] & 0x04);
        out[3] = response[3];
    }
    out
}

fn echo(query: &[u8]) -> Vec<u8> {
    let question_end = engine::parse(query)
        .map(|q| q.question_end)
        .unwrap_or(12.min(query.len()));
    let mut out = query[..question_end].to_vec();
    if out.len() >= 12 {
        out[2] = 0x80 | (out[2] & 0x01); // QR, RD kept
        out[3] = 0x80; // RA: we recursed for the client
        out[5] = u8::from(question_end > 12);
        out[6..12].fill(0);
    }
    out
}
