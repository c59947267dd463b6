//! The authoritative DNS server for Cloud Map DNS namespaces (spec §8): answers from an index
//! that follows every registry commit, with Route 53's routing rules (MULTIVALUE: up to eight
//! random healthy records, falling back to unhealthy ones; WEIGHTED: one), SOA-backed negative
//! answers, EDNS0 with truncation and TCP, and forwarding of other names for allowed clients.
//!
//! - `index.rs`: the records, rebuilt per touched service on each commit (a store follower).
//! - `engine.rs`: parse, look up, answer — the allocation-free fast path.
//! - `udp.rs`, `tcp.rs`: transports; `forward.rs`: upstream resolvers.

pub mod engine;
pub mod forward;
pub mod index;
pub mod name;
mod persistent;
mod tcp;
mod udp;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use ipnet::IpNet;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::store::Store;
use index::{DnsFollower, DnsIndex, RegionPolicy};

/// Who may use us as a resolver, and answer options that do not depend on the query.
#[derive(Debug)]
pub struct Access {
    pub recursion: Vec<IpNet>,
    pub srv_additional: bool,
}

impl Access {
    pub fn may_recurse(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        self.recursion.iter().any(|net| net.contains(&ip))
    }
}

#[derive(Debug, Clone)]
pub struct DnsConfig {
    pub udp_workers: usize,
    pub seed: Option<u64>,
    /// `None`: forwarding off (names outside our zones are REFUSED).
    pub upstreams: Option<Vec<SocketAddr>>,
    pub recursion: Vec<IpNet>,
    pub srv_additional: bool,
    pub regions: RegionPolicy,
}

/// Bound DNS sockets: per address, one UDP socket (a handle per worker thread) and one TCP
/// listener. Binding is separate from serving so tests (and `main`) can bind port 0 and learn
/// the port.
pub struct Sockets {
    udp: Vec<UdpSocket>,
    tcp: Vec<std::net::TcpListener>,
    addresses: Vec<SocketAddr>,
}

impl std::fmt::Debug for Sockets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sockets")
            .field("addresses", &self.addresses)
            .finish()
    }
}

/// An address that could not be bound, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {address}: {source}")]
pub struct BindError {
    pub address: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

impl Sockets {
    pub fn bind(addresses: &[SocketAddr], udp_workers: usize) -> Result<Sockets, BindError> {
        let mut sockets = Sockets {
            udp: Vec::new(),
            tcp: Vec::new(),
            addresses: Vec::new(),
        };
        for requested in addresses {
            let (tcp, udp, actual) =
                bind_one(*requested, udp_workers).map_err(|source| BindError {
                    address: *requested,
                    source,
                })?;
            sockets.addresses.push(actual);
            sockets.tcp.push(tcp);
            sockets.udp.extend(udp);
        }
        Ok(sockets)
    }

    /// The addresses actually bound (ports resolved).
    pub fn addresses(&self) -> &[SocketAddr] {
        &self.addresses
    }
}

/// The TCP listener and UDP sockets of one address, and the address as bound.
fn bind_one(
    requested: SocketAddr,
    udp_workers: usize,
) -> std::io::Result<(std::net::TcpListener, Vec<UdpSocket>, SocketAddr)> {
    // Port 0: the port must be free for TCP and for UDP; take the kernel's TCP pick and retry if
    // another program holds that port for UDP.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let tcp = tcp_listener(requested)?;
        let actual = tcp.local_addr()?;
        match udp_sockets(actual, udp_workers.max(1)) {
            Ok(udp) => return Ok((tcp, udp, actual)),
            Err(error)
                if requested.port() == 0
                    && attempts < 20
                    && error.kind() == std::io::ErrorKind::AddrInUse => {}
            Err(error) => return Err(error),
        }
    }
}

fn tcp_listener(address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let tcp = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    tcp.set_reuse_address(true)?;
    if address.is_ipv6() {
        tcp.set_only_v6(true)?;
    }
    tcp.bind(&address.into())?;
    tcp.listen(1024)?;
    tcp.set_nonblocking(true)?;
    Ok(tcp.into())
}

/// One UDP socket, bound exclusively (no SO_REUSEPORT: a second server on the same port must fail
/// with "address in use", never silently share the queries), read by `count` worker threads
/// through duplicated handles.
fn udp_sockets(address: SocketAddr, count: usize) -> std::io::Result<Vec<UdpSocket>> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // Room for bursts: a full queue drops queries.
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket.bind(&address.into())?;
    let socket: UdpSocket = socket.into();
    let mut sockets = Vec::with_capacity(count);
    for _ in 1..count {
        sockets.push(socket.try_clone()?);
    }
    sockets.push(socket);
    Ok(sockets)
}

/// Starts serving: registers the index as a store follower, spawns the UDP worker threads and the
/// TCP and forwarding tasks into `tasks`. Everything stops when `shutdown` is cancelled.
pub fn start(
    sockets: Sockets,
    config: DnsConfig,
    store: &Store,
    tasks: &mut JoinSet<()>,
    shutdown: CancellationToken,
) -> std::io::Result<Arc<ExtraListeners>> {
    let index = Arc::new(ArcSwap::from_pointee(DnsIndex::default()));
    store.follow(Arc::new(DnsFollower::new(
        Arc::clone(&index),
        config.regions.clone(),
    )));
    let access = Arc::new(Access {
        recursion: config.recursion.clone(),
        srv_additional: config.srv_additional,
    });
    let forwarder = config
        .upstreams
        .clone()
        .filter(|u| !u.is_empty())
        .map(|upstreams| {
            // Never forward to ourselves: that would loop.
            let upstreams: Vec<SocketAddr> = upstreams
                .into_iter()
                .filter(|u| !sockets.addresses.contains(u))
                .collect();
            forward::start(
                upstreams,
                forward::UPSTREAM_TIMEOUT,
                tasks,
                shutdown.clone(),
            )
        });
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for (number, socket) in sockets.udp.into_iter().enumerate() {
        let worker = udp::Worker {
            socket,
            index: Arc::clone(&index),
            access: Arc::clone(&access),
            forwarder: forwarder.clone(),
            stop: Arc::clone(&stop),
            rng: udp::rng_for(config.seed, number as u64),
        };
        threads.push(
            std::thread::Builder::new()
                .name(format!("dns-udp-{number}"))
                .spawn(move || worker.run())?,
        );
    }
    for listener in sockets.tcp {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        tasks.spawn(tcp::serve(
            listener,
            Arc::clone(&index),
            Arc::clone(&access),
            forwarder.clone(),
            config.seed,
            shutdown.clone(),
        ));
    }
    tracing::info!(addresses = ?sockets.addresses, "DNS listening (UDP and TCP)");
    let extra = Arc::new(ExtraListeners {
        index,
        forwarder,
        recursion: config.recursion.clone(),
        srv_additional: config.srv_additional,
        seed: config.seed,
        stop: Arc::clone(&stop),
        threads: parking_lot::Mutex::new(Vec::new()),
        bound: parking_lot::Mutex::new(Vec::new()),
        tracker: tokio_util::task::TaskTracker::new(),
        shutdown: shutdown.clone(),
    });
    // The UDP threads are blocking; a task owned by the server stops and joins them.
    let joined = Arc::clone(&extra);
    tasks.spawn(async move {
        shutdown.cancelled().await;
        stop.store(true, Ordering::Relaxed);
        joined.tracker.close();
        joined.tracker.wait().await;
        let more = std::mem::take(&mut *joined.threads.lock());
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads.into_iter().chain(more) {
                let _ = thread.join();
            }
        })
        .await;
    });
    Ok(extra)
}

/// DNS listeners opened after start: the server answers on each ECS cluster network's gateway
/// (port 53, since containers cannot be told another port), and the clients of that network may
/// use it as a resolver. They share the index, forwarder and stop flag of the main listeners.
pub struct ExtraListeners {
    index: Arc<ArcSwap<DnsIndex>>,
    forwarder: Option<forward::Forwarder>,
    recursion: Vec<IpNet>,
    srv_additional: bool,
    seed: Option<u64>,
    stop: Arc<AtomicBool>,
    threads: parking_lot::Mutex<Vec<std::thread::JoinHandle<()>>>,
    bound: parking_lot::Mutex<Vec<IpAddr>>,
    tracker: tokio_util::task::TaskTracker,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for ExtraListeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtraListeners")
            .field("bound", &*self.bound.lock())
            .finish()
    }
}

impl crate::ecs::DnsListeners for ExtraListeners {
    fn serve_on(&self, address: IpAddr, clients: IpNet) -> Result<(), String> {
        let mut bound = self.bound.lock();
        if bound.contains(&address) {
            return Ok(());
        }
        if self.shutdown.is_cancelled() {
            return Err("the server is shutting down".to_owned());
        }
        let sockets =
            Sockets::bind(&[SocketAddr::new(address, 53)], 1).map_err(|e| e.to_string())?;
        let mut recursion = self.recursion.clone();
        recursion.push(clients);
        let access = Arc::new(Access {
            recursion,
            srv_additional: self.srv_additional,
        });
        for (number, socket) in sockets.udp.into_iter().enumerate() {
            let worker = udp::Worker {
                socket,
                index: Arc::clone(&self.index),
                access: Arc::clone(&access),
                forwarder: self.forwarder.clone(),
                stop: Arc::clone(&self.stop),
                rng: udp::rng_for(self.seed, 1000 + number as u64),
            };
            let thread = std::thread::Builder::new()
                .name(format!("dns-udp-{address}"))
                .spawn(move || worker.run())
                .map_err(|e| e.to_string())?;
            self.threads.lock().push(thread);
        }
        for listener in sockets.tcp {
            let listener =
                tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
            self.tracker.spawn(tcp::serve(
                listener,
                Arc::clone(&self.index),
                Arc::clone(&access),
                self.forwarder.clone(),
                self.seed,
                self.shutdown.clone(),
            ));
        }
        tracing::info!(%address, %clients, "DNS listening for a cluster network (UDP and TCP port 53)");
        bound.push(address);
        Ok(())
    }
}

/// The nameservers of `/etc/resolv.conf` (port 53), the default upstreams.
pub fn system_upstreams() -> Vec<SocketAddr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .map(|text| parse_resolv_conf(&text))
        .unwrap_or_default()
}

fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().split('%').next()?.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_nameservers_are_upstreams() {
        let parsed = parse_resolv_conf(
            "# comment\nsearch x\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\noptions ndots:5\n",
        );
        assert_eq!(
            parsed,
            vec![
                "10.0.0.2:53".parse().unwrap(),
                "[fe80::1]:53".parse().unwrap()
            ]
        );
    }

    #[test]
    fn a_second_server_cannot_share_a_dns_port() {
        let first = Sockets::bind(&["127.0.0.1:0".parse().unwrap()], 2).unwrap();
        let taken = first.addresses()[0];
        let second = Sockets::bind(&[taken], 2).unwrap_err();
        assert_eq!(second.source.kind(), std::io::ErrorKind::AddrInUse);
        assert_eq!(second.address, taken);
        // Two workers read the one socket.
        assert_eq!(first.udp.len(), 2);
        assert_eq!(
            first.udp[0].local_addr().unwrap(),
            first.udp[1].local_addr().unwrap()
        );
    }

    #[test]
    fn only_listed_networks_may_recurse() {
        let access = Access {
            recursion: vec!["127.0.0.0/8".parse().unwrap()],
            srv_additional: false,
        };
        assert!(access.may_recurse("127.0.0.1".parse().unwrap()));
        assert!(access.may_recurse("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!access.may_recurse("10.1.2.3".parse().unwrap()));
    }
}
