//! UDP: blocking worker threads reading one socket per address (the kernel hands each datagram to
//! one waiting thread). Per query: one `recvfrom`, one lock-free index load, one
//! `sendto` — no allocation, no async machinery on the hot path (hickory-server's tokio path cost
//! 29 µs of CPU per query on this machine; see ci/bench-dns.sh).

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::Access;
use super::engine::{self, Options, Outcome};
use super::forward::{Forwarder, ReplyTo};
use super::index::DnsIndex;

/// How often an idle worker looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(200);

pub struct Worker {
    pub socket: UdpSocket,
    pub index: Arc<ArcSwap<DnsIndex>>,
    pub access: Arc<Access>,
    pub forwarder: Option<Forwarder>,
    pub stop: Arc<AtomicBool>,
    pub rng: SmallRng,
}

pub fn rng_for(seed: Option<u64>, stream: u64) -> SmallRng {
    match seed {
        Some(seed) => SmallRng::seed_from_u64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        None => SmallRng::from_os_rng(),
    }
}

impl Worker {
    pub fn run(mut self) {
        if let Err(error) = self.socket.set_read_timeout(Some(STOP_CHECK)) {
            tracing::error!(%error, "DNS UDP worker cannot set a read timeout; stopping");
            return;
        }
        let socket = Arc::new(self.socket);
        let mut packet = vec![0u8; 65_535];
        let mut out = Vec::with_capacity(4096);
        while !self.stop.load(Ordering::Relaxed) {
            let (len, peer) = match socket.recv_from(&mut packet) {
                Ok(received) => received,
                Err(error)
                    if matches!(
                        error.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                Err(error) => {
                    tracing::debug!(%error, "DNS UDP receive failed");
                    continue;
                }
            };
            let options = Options {
                udp: true,
                may_forward: self.forwarder.is_some() && self.access.may_recurse(peer.ip()),
                srv_additional: self.access.srv_additional,
            };
            let outcome = {
                let index = self.index.load();
                engine::respond(&index, &packet[..len], options, &mut self.rng, &mut out)
            };
            match outcome {
                Outcome::Reply => {
                    if let Err(error) = socket.send_to(&out, peer) {
                        tracing::debug!(%error, %peer, "DNS UDP send failed");
                    }
                }
                Outcome::Forward => {
                    if let Some(forwarder) = &self.forwarder {
                        forwarder.submit(
                            packet[..len].to_vec(),
                            ReplyTo::Udp(Arc::clone(&socket), peer),
                        );
                    }
                }
                Outcome::Drop => {}
            }
        }
    }
}
