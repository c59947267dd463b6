//! Forwarding of names outside every namespace to upstream resolvers, so a container can use our
//! server as its only nameserver. Only clients in the recursion allow-list get here (see
//! `Access`): never an open resolver.
//!
//! The forwarder behaves like a careful stub resolver, so that it cannot be used to poison the
//! clients behind it:
//! - every upstream query gets a fresh random transaction id (never the client's, which the
//!   upstream never sees) and leaves from a fresh socket, so from a random source port (the
//!   kernel's randomised ephemeral port choice);
//! - that socket is connected to the upstream, so the kernel drops datagrams from any other
//!   address; an answer counts only with the same id, the QR bit, and the same question (name
//!   compared case-insensitively, type and class), and only when it decodes completely
//!   (hickory-proto's decoder); anything else is ignored and the wait goes on;
//! - a truncated UDP answer is retried over TCP (fresh id, same checks); if TCP fails, the
//!   truncated answer itself is relayed and the client retries over TCP with us;
//! - the client's id is put back, an answer larger than the client takes over UDP becomes a TC
//!   response, and SERVFAIL is the answer when no upstream gives a valid answer in time.

use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::engine;

/// How long one upstream has to give a valid answer before the next is tried.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
const QUEUE: usize = 4096;
const HEADER: usize = 12;
const TRUNCATED: u8 = 0x02;
const RESPONSE: u8 = 0x80;

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

/// Starts the forwarding task; it ends with `shutdown`. Each upstream has `timeout` to answer.
pub fn start(
    upstreams: Vec<SocketAddr>,
    timeout: Duration,
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
                            let response = match resolve(&upstreams, &job.query, timeout).await {
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
            // An upstream answer over TCP (or to a larger EDNS size than the client's) may be
            // larger than this client takes over UDP.
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

/// What an answer must repeat: the client's question.
#[derive(Debug)]
struct Question(hickory_proto::op::Query);

impl Question {
    /// The single question of a client's query, or `None` when it has not exactly one.
    fn of(query: &[u8]) -> Option<Question> {
        let message = Message::from_vec(query).ok()?;
        match message.queries.as_slice() {
            [question] => Some(Question(question.clone())),
            _ => None,
        }
    }

    /// Whether `answer` is a complete, decodable response to `id` about this question.
    fn answered_by(&self, answer: &[u8], id: u16) -> bool {
        if answer.len() < HEADER || answer[..2] != id.to_be_bytes() || answer[2] & RESPONSE == 0 {
            return false;
        }
        let Ok(message) = Message::from_vec(answer) else {
            return false;
        };
        match message.queries.as_slice() {
            // Name equality is case-insensitive (0x20 mixing upstream is fine).
            [asked] => {
                asked.name() == self.0.name()
                    && asked.query_type() == self.0.query_type()
                    && asked.query_class() == self.0.query_class()
            }
            _ => false,
        }
    }
}

/// A random transaction id that is not the client's.
fn fresh_id(client: u16) -> u16 {
    loop {
        let id = rand::random::<u16>();
        if id != client {
            return id;
        }
    }
}

fn with_id(packet: &[u8], id: u16) -> Vec<u8> {
    let mut out = packet.to_vec();
    out[..2].copy_from_slice(&id.to_be_bytes());
    out
}

/// The first valid answer from `upstreams`, tried in order, with the client's id put back.
async fn resolve(upstreams: &[SocketAddr], query: &[u8], timeout: Duration) -> Option<Vec<u8>> {
    if query.len() < HEADER {
        return None;
    }
    let client_id = u16::from_be_bytes([query[0], query[1]]);
    let question = Question::of(query)?;
    for upstream in upstreams {
        let id = fresh_id(client_id);
        let Some(answer) =
            udp_exchange(*upstream, &with_id(query, id), id, &question, timeout).await
        else {
            continue;
        };
        let answer = if answer[2] & TRUNCATED != 0 {
            let id = fresh_id(client_id);
            tcp_exchange(*upstream, &with_id(query, id), id, &question, timeout)
                .await
                .unwrap_or(answer)
        } else {
            answer
        };
        return Some(with_id(&answer, client_id));
    }
    None
}

async fn udp_exchange(
    upstream: SocketAddr,
    query: &[u8],
    id: u16,
    question: &Question,
    timeout: Duration,
) -> Option<Vec<u8>> {
    let bind: SocketAddr = if upstream.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .ok()?;
    // A fresh socket per query: a new random source port, and (connected) only the upstream's
    // datagrams reach it.
    let socket = UdpSocket::bind(bind).await.ok()?;
    socket.connect(upstream).await.ok()?;
    socket.send(query).await.ok()?;
    let mut buffer = vec![0u8; 65_535];
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let len = tokio::time::timeout_at(deadline, socket.recv(&mut buffer))
            .await
            .ok()?
            .ok()?;
        if question.answered_by(&buffer[..len], id) {
            buffer.truncate(len);
            return Some(buffer);
        }
        tracing::debug!(%upstream, len, "an upstream datagram that does not answer the query was ignored");
    }
}

async fn tcp_exchange(
    upstream: SocketAddr,
    query: &[u8],
    id: u16,
    question: &Question,
    timeout: Duration,
) -> Option<Vec<u8>> {
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
    let response = tokio::time::timeout(timeout, exchange).await.ok()??;
    question.answered_by(&response, id).then_some(response)
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
        out[2] |= TRUNCATED | (response[2] & 0x04);
        out[3] = response[3];
    }
    out
}

fn echo(query: &[u8]) -> Vec<u8> {
    let question_end = engine::parse(query)
        .map(|q| q.question_end)
        .unwrap_or(HEADER.min(query.len()));
    let mut out = query[..question_end].to_vec();
    if out.len() >= HEADER {
        out[2] = RESPONSE | (out[2] & 0x01); // QR, RD kept
        out[3] = 0x80; // RA: we recursed for the client
        out[5] = u8::from(question_end > HEADER);
        out[6..HEADER].fill(0);
    }
    out
}

#[cfg(test)]
mod tests {
    //! A scripted upstream on loopback answers each forwarded query the way a test says: wrong
    //! id, wrong question, from another address, unparseable, oversized or not at all.

    use std::net::Ipv4Addr;
    use std::str::FromStr;

    use hickory_proto::op::{Message, MessageType, Query as HQuery};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{Name, RData, Record, RecordType};

    use super::*;

    const SHORT: Duration = Duration::from_millis(300);
    /// Long enough for a loaded machine; the tests that pass never wait for it.
    const PATIENT: Duration = Duration::from_secs(10);

    fn query(name: &str, id: u16) -> Vec<u8> {
        let mut message = Message::query();
        message.metadata.id = id;
        message.metadata.recursion_desired = true;
        message.add_query(HQuery::query(Name::from_str(name).unwrap(), RecordType::A));
        message.to_vec().unwrap()
    }

    /// An answer to `asked` (its id and question) with `name`'s A records `addresses`.
    fn answer(asked: &[u8], name: &str, addresses: &[Ipv4Addr]) -> Vec<u8> {
        let asked = Message::from_vec(asked).unwrap();
        let mut message = Message::query();
        message.metadata.id = asked.metadata.id;
        message.metadata.message_type = MessageType::Response;
        message.metadata.recursion_available = true;
        let owner = Name::from_str(name).unwrap();
        message.add_query(HQuery::query(owner.clone(), RecordType::A));
        for address in addresses {
            message.add_answer(Record::from_rdata(owner.clone(), 60, RData::A(A(*address))));
        }
        message.to_vec().unwrap()
    }

    fn a_records(response: &[u8]) -> Vec<Ipv4Addr> {
        let Ok(message) = Message::from_vec(response) else {
            return Vec::new();
        };
        message
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect()
    }

    fn rcode(response: &[u8]) -> u8 {
        response[3] & 0x0F
    }

    /// An upstream that receives one query and lets `script` answer it, returning what the
    /// upstream saw (the query as it arrived).
    async fn upstream<F, Fut>(script: F) -> (SocketAddr, tokio::task::JoinHandle<Vec<u8>>)
    where
        F: FnOnce(Arc<UdpSocket>, Vec<u8>, SocketAddr) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let address = socket.local_addr().unwrap();
        let handle = tokio::spawn(async move {
            let mut buffer = vec![0u8; 4096];
            let Ok((len, peer)) = socket.recv_from(&mut buffer).await else {
                return Vec::new();
            };
            let received = buffer[..len].to_vec();
            script(Arc::clone(&socket), received.clone(), peer).await;
            received
        });
        (address, handle)
    }

    const GOOD: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const FORGED: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 66);
    const NAME: &str = "fwd-test.invalid.";
    const CLIENT_ID: u16 = 0x1234;

    async fn send(socket: &UdpSocket, packet: &[u8], peer: SocketAddr) {
        let _ = socket.send_to(packet, peer).await;
    }

    #[tokio::test]
    async fn a_valid_answer_is_relayed_with_the_clients_id_which_the_upstream_never_sees() {
        let (address, seen) = upstream(|socket, asked, peer| async move {
            send(&socket, &answer(&asked, NAME, &[GOOD]), peer).await;
        })
        .await;
        let response = resolve(&[address], &query(NAME, CLIENT_ID), PATIENT).await;
        let response = response.expect("no valid answer");
        assert_eq!(response[..2], CLIENT_ID.to_be_bytes());
        assert_eq!(a_records(&response), vec![GOOD]);
        let seen = seen.await.unwrap();
        assert_ne!(
            seen[..2],
            CLIENT_ID.to_be_bytes(),
            "the upstream saw the client's id"
        );
    }

    #[tokio::test]
    async fn upstream_ids_are_random_per_query() {
        let mut ids = std::collections::HashSet::new();
        for _ in 0..8 {
            let (address, seen) = upstream(|socket, asked, peer| async move {
                send(&socket, &answer(&asked, NAME, &[GOOD]), peer).await;
            })
            .await;
            let _ = resolve(&[address], &query(NAME, CLIENT_ID), PATIENT).await;
            let seen = seen.await.unwrap();
            ids.insert(u16::from_be_bytes([seen[0], seen[1]]));
        }
        // Eight equal random 16-bit ids would happen once in 2^112 runs.
        assert!(ids.len() > 1, "every upstream query had the id {ids:?}");
    }

    #[tokio::test]
    async fn an_answer_with_another_id_is_ignored() {
        let (address, _) = upstream(|socket, asked, peer| async move {
            let mut wrong = answer(&asked, NAME, &[FORGED]);
            wrong[1] = wrong[1].wrapping_add(1);
            send(&socket, &wrong, peer).await;
            send(&socket, &answer(&asked, NAME, &[GOOD]), peer).await;
        })
        .await;
        let response = resolve(&[address], &query(NAME, CLIENT_ID), PATIENT).await;
        assert_eq!(a_records(&response.expect("no valid answer")), vec![GOOD]);
    }

    #[tokio::test]
    async fn an_answer_to_another_question_is_ignored() {
        let (address, _) = upstream(|socket, asked, peer| async move {
            send(
                &socket,
                &answer(&asked, "fwd-other.invalid.", &[FORGED]),
                peer,
            )
            .await;
            send(&socket, &answer(&asked, NAME, &[GOOD]), peer).await;
        })
        .await;
        let response = resolve(&[address], &query(NAME, CLIENT_ID), PATIENT).await;
        assert_eq!(a_records(&response.expect("no valid answer")), vec![GOOD]);
    }

    #[tokio::test]
    async fn the_question_is_compared_without_case() {
        let (address, _) = upstream(|socket, asked, peer| async move {
            send(&socket, &answer(&asked, "FWD-Test.INVALID.", &[GOOD]), peer).await;
        })
        .await;
        let response = resolve(&[address], &query(NAME, CLIENT_ID), PATIENT).await;
        assert_eq!(a_records(&response.expect("no valid answer")), vec![GOOD]);
    }

    #[tokio::test]
    async fn an_answer_from_another_address_is_ignored() {
        let (address, _) = upstream(|socket, asked, peer| async move {
            // Same id and question, but from another port: an off-path forgery.
            if let Ok(forger) = UdpSocket::bind("127.0.0.1:0").await {
                send(&forger, &answer(&asked, NAME, &[FORGED]), peer).await;
            }
            send(&socket, &answer(&asked, NAME, &[GOOD]), peer).await;
        })
        .await;
        let response = resolve(&[address], &query(NAME, CLIENT_ID), PATIENT).await;
        assert_eq!(a_records(&response.expect("no valid answer")), vec![GOOD]);
    }

    /// The good answer with its one record's RDLENGTH claiming more bytes than there are.
    fn short_rdata(good: &[u8]) -> Vec<u8> {
        let mut broken = good.to_vec();
        let at = broken.len() - 6; // RDLENGTH (2) + the A record's 4 bytes
        broken[at..at + 2].copy_from_slice(&40u16.to_be_bytes());
        broken
    }

    /// The good answer with the answer's owner name a compression pointer past the end.
    fn pointer_past_the_end(good: &[u8]) -> Vec<u8> {
        let mut broken = good.to_vec();
        let at = broken.len() - 16; // owner (2) type (2) class (2) ttl (4) rdlength (2) rdata (4)
        broken[at..at + 2].copy_from_slice(&0xC0FFu16.to_be_bytes());
        broken
    }

    #[tokio::test]
    async fn unparseable_answers_are_ignored_and_end_in_servfail() {
        for breakage in [short_rdata as fn(&[u8]) -> Vec<u8>, pointer_past_the_end] {
            let good = answer(&query(NAME, 7), NAME, &[GOOD]);
            assert!(Message::from_vec(&good).is_ok());
            assert!(
                Message::from_vec(&breakage(&good)).is_err(),
                "the breakage parses"
            );
            let (address, _) = upstream(move |socket, asked, peer| async move {
                send(&socket, &breakage(&answer(&asked, NAME, &[FORGED])), peer).await;
            })
            .await;
            let client = query(NAME, CLIENT_ID);
            assert!(resolve(&[address], &client, SHORT).await.is_none());
            // Through the whole path the client gets SERVFAIL with its own id.
            let failure = servfail(&client);
            assert_eq!(rcode(&failure), 2);
            assert_eq!(failure[..2], CLIENT_ID.to_be_bytes());
        }
    }

    #[tokio::test]
    async fn a_silent_upstream_is_skipped_for_the_next_one() {
        let (silent, _keep) = upstream(|_, _, _| async {}).await;
        let (good, _) = upstream(|socket, asked, peer| async move {
            send(&socket, &answer(&asked, NAME, &[GOOD]), peer).await;
        })
        .await;
        assert!(
            resolve(&[silent], &query(NAME, CLIENT_ID), SHORT)
                .await
                .is_none()
        );
        let response = resolve(&[silent, good], &query(NAME, CLIENT_ID), SHORT).await;
        assert_eq!(a_records(&response.expect("no valid answer")), vec![GOOD]);
    }

    /// Runs one query through the forwarding task to a UDP client, returning what it received.
    async fn through_the_forwarder(upstream: SocketAddr, client_query: &[u8]) -> Vec<u8> {
        let mut tasks = tokio::task::JoinSet::new();
        let shutdown = CancellationToken::new();
        let forwarder = start(vec![upstream], SHORT, &mut tasks, shutdown.clone());
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server = Arc::new(StdUdpSocket::bind("127.0.0.1:0").unwrap());
        let peer = client.local_addr().unwrap();
        forwarder.submit(client_query.to_vec(), ReplyTo::Udp(server, peer));
        let mut buffer = vec![0u8; 65_535];
        let len = tokio::time::timeout(PATIENT, client.recv(&mut buffer))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(0);
        shutdown.cancel();
        buffer.truncate(len);
        buffer
    }

    #[tokio::test]
    async fn an_answer_larger_than_the_client_takes_is_truncated() {
        let many: Vec<Ipv4Addr> = (0..40).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect();
        let (address, _) = upstream(move |socket, asked, peer| async move {
            send(&socket, &answer(&asked, NAME, &many), peer).await;
        })
        .await;
        // No EDNS: the client takes 512 bytes; 40 A records need more.
        let received = through_the_forwarder(address, &query(NAME, CLIENT_ID)).await;
        assert!(received.len() <= 512 && received.len() >= HEADER);
        assert_eq!(received[..2], CLIENT_ID.to_be_bytes());
        assert_ne!(received[2] & TRUNCATED, 0, "TC is not set");
        assert!(a_records(&received).is_empty());
    }

    #[tokio::test]
    async fn silence_reaches_the_client_as_servfail() {
        let (silent, _keep) = upstream(|_, _, _| async {}).await;
        let received = through_the_forwarder(silent, &query(NAME, CLIENT_ID)).await;
        assert_eq!(received[..2], CLIENT_ID.to_be_bytes());
        assert_eq!(rcode(&received), 2);
    }
}
