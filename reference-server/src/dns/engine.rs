//! The query path: parse a query, look it up in the [`DnsIndex`], write the answer. Written for
//! speed (no allocation per query: the caller lends the output buffer; names are compressed
//! against the question) and for hostile input (every read is bounds-checked; malformed queries
//! get FORMERR, responses and junk are dropped). hickory-proto is the reference the tests check
//! these bytes against.

use rand::Rng;
use rand::rngs::SmallRng;

use super::index::{DnsIndex, RecordSet, ServiceNode, Zone};
use crate::model::RoutingPolicy;

pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_SOA: u16 = 6;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_SRV: u16 = 33;
pub const TYPE_OPT: u16 = 41;
pub const TYPE_IXFR: u16 = 251;
pub const TYPE_AXFR: u16 = 252;
pub const TYPE_ANY: u16 = 255;
const CLASS_IN: u16 = 1;
const CLASS_ANY: u16 = 255;

const RCODE_FORMERR: u8 = 1;
const RCODE_NXDOMAIN: u8 = 3;
const RCODE_NOTIMP: u8 = 4;
const RCODE_REFUSED: u8 = 5;

/// The TTL of the apex NS record (Route 53's default for its NS records).
const NS_TTL: u32 = 172_800;
/// Multivalue answers carry at most eight records (Route 53's rule).
const MAX_MULTIVALUE: usize = 8;
/// What we advertise in EDNS (the DNS flag day 2020 value).
pub const EDNS_PAYLOAD: u16 = 1232;
/// The largest UDP response we send, whatever the client advertises.
const MAX_UDP_PAYLOAD: usize = 4096;

#[derive(Debug, Clone, Copy)]
pub struct Edns {
    pub udp_size: u16,
    pub version: u8,
}

/// A parsed query. The name is kept lower-cased for lookup; the question bytes of the packet are
/// echoed as they came (RFC 4343 / 0x20 case randomisation).
pub struct Query {
    pub id: u16,
    pub flags: u16,
    /// End of the question section (after QCLASS).
    pub question_end: usize,
    name: [u8; 256],
    name_len: usize,
    labels: [u8; 128],
    label_count: usize,
    pub qtype: u16,
    pub qclass: u16,
    pub edns: Option<Edns>,
}

impl Query {
    /// The lower-case wire labels of the question name (no root byte).
    pub fn name(&self) -> &[u8] {
        &self.name[..self.name_len]
    }

    fn label_starts(&self) -> impl DoubleEndedIterator<Item = usize> + '_ {
        self.labels[..self.label_count]
            .iter()
            .map(|&start| usize::from(start))
    }

    pub fn recursion_desired(&self) -> bool {
        self.flags & 0x0100 != 0
    }
}

/// Why a packet gets no normal answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Not a query (too short to have a header, or a response): say nothing.
    Drop,
    /// An answerable header with this rcode and no (or no usable) question.
    Error { id: u16, flags: u16, rcode: u8 },
}

fn read_u16(packet: &[u8], at: usize) -> Option<u16> {
    packet
        .get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
}

pub fn parse(packet: &[u8]) -> Result<Query, Rejection> {
    let (Some(id), Some(flags)) = (read_u16(packet, 0), read_u16(packet, 2)) else {
        return Err(Rejection::Drop);
    };
    if flags & 0x8000 != 0 || packet.len() < 12 {
        return Err(Rejection::Drop);
    }
    let formerr = Rejection::Error {
        id,
        flags,
        rcode: RCODE_FORMERR,
    };
    let opcode = (flags >> 11) & 0xF;
    if opcode != 0 {
        return Err(Rejection::Error {
            id,
            flags,
            rcode: RCODE_NOTIMP,
        });
    }
    let counts = [
        read_u16(packet, 4),
        read_u16(packet, 6),
        read_u16(packet, 8),
        read_u16(packet, 10),
    ];
    let [Some(qdcount), Some(ancount), Some(nscount), Some(arcount)] = counts else {
        return Err(formerr);
    };
    if qdcount != 1 || ancount != 0 || nscount != 0 {
        return Err(formerr);
    }
    let mut query = Query {
        id,
        flags,
        question_end: 0,
        name: [0; 256],
        name_len: 0,
        labels: [0; 128],
        label_count: 0,
        qtype: 0,
        qclass: 0,
        edns: None,
    };
    let mut pos = 12;
    loop {
        let Some(&len) = packet.get(pos) else {
            return Err(formerr);
        };
        let len = usize::from(len);
        if len == 0 {
            pos += 1;
            break;
        }
        // No compression in the question of a query, no extended label types.
        if len > 63 {
            return Err(formerr);
        }
        let Some(label) = packet.get(pos + 1..pos + 1 + len) else {
            return Err(formerr);
        };
        if query.name_len + 1 + len + 1 > super::name::MAX_NAME {
            return Err(formerr);
        }
        query.labels[query.label_count] = query.name_len as u8;
        query.label_count += 1;
        query.name[query.name_len] = len as u8;
        for (slot, byte) in query.name[query.name_len + 1..].iter_mut().zip(label) {
            *slot = byte.to_ascii_lowercase();
        }
        query.name_len += 1 + len;
        pos += 1 + len;
    }
    let (Some(qtype), Some(qclass)) = (read_u16(packet, pos), read_u16(packet, pos + 2)) else {
        return Err(formerr);
    };
    query.qtype = qtype;
    query.qclass = qclass;
    pos += 4;
    query.question_end = pos;
    for _ in 0..arcount {
        // Additional records of a query: OPT (EDNS) at the root, or something we ignore (TSIG).
        loop {
            let Some(&len) = packet.get(pos) else {
                return Err(formerr);
            };
            if len == 0 {
                pos += 1;
                break;
            }
            if len > 63 {
                return Err(formerr);
            }
            pos += 1 + usize::from(len);
        }
        let (Some(rtype), Some(class), Some(ttl_high), Some(rdlen)) = (
            read_u16(packet, pos),
            read_u16(packet, pos + 2),
            read_u16(packet, pos + 4),
            read_u16(packet, pos + 8),
        ) else {
            return Err(formerr);
        };
        let end = pos + 10 + usize::from(rdlen);
        if end > packet.len() {
            return Err(formerr);
        }
        if rtype == TYPE_OPT {
            if query.edns.is_some() {
                return Err(formerr);
            }
            query.edns = Some(Edns {
                udp_size: class,
                version: (ttl_high & 0xFF) as u8,
            });
        }
        pos = end;
    }
    Ok(query)
}

/// What to do with a query.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `out` holds the response.
    Reply,
    /// The name is in none of our zones and the client may use us as a resolver.
    Forward,
    /// Say nothing.
    Drop,
}

/// Per-query choices that depend on who asks and how.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The largest response the transport takes (UDP: 512 or EDNS; TCP: 65535).
    pub udp: bool,
    /// Forward names outside our zones (recursion is on and this client may use it).
    pub may_forward: bool,
    /// Put the A/AAAA records of SRV targets in the additional section.
    pub srv_additional: bool,
}

/// Writes a response header (the counts are filled in by `Writer::finish`).
fn start(out: &mut Vec<u8>, id: u16, flags: u16) {
    out.clear();
    out.extend_from_slice(&id.to_be_bytes());
    // QR, opcode 0, RD copied; AA, TC and RCODE are set by `finish`.
    out.extend_from_slice(&(0x8000 | (flags & 0x0100)).to_be_bytes());
    out.extend_from_slice(&[0; 8]);
}

/// Answers a packet: parses it and writes the response into `out`.
pub fn respond(
    index: &DnsIndex,
    packet: &[u8],
    options: Options,
    rng: &mut SmallRng,
    out: &mut Vec<u8>,
) -> Outcome {
    match parse(packet) {
        Ok(query) => answer(index, &query, packet, options, rng, out),
        Err(Rejection::Drop) => Outcome::Drop,
        Err(Rejection::Error { id, flags, rcode }) => {
            start(out, id, flags);
            out[3] |= rcode;
            Outcome::Reply
        }
    }
}

/// How the owner of a record is written: a pointer into the question or the zone apex inside it.
#[derive(Clone, Copy)]
struct Owner(u16);

struct Writer<'o> {
    out: &'o mut Vec<u8>,
    counts: [u16; 3],
    limit: usize,
    edns: bool,
}

impl Writer<'_> {
    fn rr(&mut self, section: usize, owner: Owner, rtype: u16, ttl: u32, rdata: &[u8]) {
        let pointer = 0xC000 | owner.0;
        self.out.extend_from_slice(&pointer.to_be_bytes());
        self.rr_body(section, rtype, ttl, rdata);
    }

    fn rr_named(&mut self, section: usize, owner_wire: &[u8], rtype: u16, ttl: u32, rdata: &[u8]) {
        self.out.extend_from_slice(owner_wire);
        self.rr_body(section, rtype, ttl, rdata);
    }

    fn rr_body(&mut self, section: usize, rtype: u16, ttl: u32, rdata: &[u8]) {
        self.out.extend_from_slice(&rtype.to_be_bytes());
        self.out.extend_from_slice(&CLASS_IN.to_be_bytes());
        self.out.extend_from_slice(&ttl.to_be_bytes());
        self.out
            .extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        self.out.extend_from_slice(rdata);
        self.counts[section] += 1;
    }

    fn room(&self) -> usize {
        let opt = if self.edns { 11 } else { 0 };
        self.limit.saturating_sub(self.out.len() + opt)
    }

    /// Fills in the header; if the answer does not fit, sends TC with no records instead.
    fn finish(self, question_end: usize, authoritative: bool, rcode: u8) {
        let opt_len = if self.edns { 11 } else { 0 };
        let mut counts = self.counts;
        if self.out.len() + opt_len > self.limit {
            self.out.truncate(question_end);
            counts = [0, 0, 0];
            self.out[2] |= 0x02; // TC
        }
        if authoritative {
            self.out[2] |= 0x04; // AA
        }
        self.out[3] |= rcode & 0x0F;
        let additional = counts[2] + u16::from(self.edns);
        self.out[6..8].copy_from_slice(&counts[0].to_be_bytes());
        self.out[8..10].copy_from_slice(&counts[1].to_be_bytes());
        self.out[10..12].copy_from_slice(&additional.to_be_bytes());
        if self.edns {
            self.out.extend_from_slice(&[0, 0, 41]);
            self.out.extend_from_slice(&EDNS_PAYLOAD.to_be_bytes());
            self.out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        }
    }
}

/// Indices of the records to answer with: MULTIVALUE up to eight random records of the healthy
/// ones (or of all, when none is healthy); WEIGHTED one random record of the same pool.
fn choose(
    set: &RecordSet,
    policy: RoutingPolicy,
    rng: &mut SmallRng,
) -> ([usize; MAX_MULTIVALUE], usize) {
    let pool = set.pool().len();
    let mut picked = [0usize; MAX_MULTIVALUE];
    if pool == 0 {
        return (picked, 0);
    }
    let want = match policy {
        RoutingPolicy::Weighted => 1,
        RoutingPolicy::Multivalue => pool.min(MAX_MULTIVALUE),
    };
    if want == pool {
        // All of them, in a random order.
        for (i, slot) in picked.iter_mut().enumerate().take(pool) {
            *slot = i;
        }
        for i in (1..pool).rev() {
            let j = rng.random_range(0..=i);
            picked.swap(i, j);
        }
    } else {
        let mut count = 0;
        while count < want {
            let candidate = rng.random_range(0..pool);
            if !picked[..count].contains(&candidate) {
                picked[count] = candidate;
                count += 1;
            }
        }
    }
    (picked, want)
}

fn answer(
    index: &DnsIndex,
    query: &Query,
    packet: &[u8],
    options: Options,
    rng: &mut SmallRng,
    out: &mut Vec<u8>,
) -> Outcome {
    start(out, query.id, query.flags);
    out.extend_from_slice(&packet[12..query.question_end]);
    out[5] = 1; // QDCOUNT
    let limit = match (options.udp, query.edns) {
        (true, Some(edns)) => usize::from(edns.udp_size).clamp(512, MAX_UDP_PAYLOAD),
        (true, None) => 512,
        (false, _) => usize::from(u16::MAX),
    };
    let mut writer = Writer {
        out,
        counts: [0; 3],
        limit,
        edns: query.edns.is_some(),
    };
    if let Some(edns) = query.edns
        && edns.version > 0
    {
        // BADVERS: extended rcode 1 in the OPT record, header rcode 0 (RFC 6891 §6.1.3).
        writer.finish(query.question_end, false, 0);
        let len = out.len();
        if len >= 11 {
            out[len - 6] = 1;
        }
        return Outcome::Reply;
    }
    if query.qclass != CLASS_IN && query.qclass != CLASS_ANY {
        writer.finish(query.question_end, false, RCODE_REFUSED);
        return Outcome::Reply;
    }
    // The longest zone that is a suffix of the name.
    let name = query.name();
    let found = query
        .label_starts()
        .chain(std::iter::once(name.len()))
        .find_map(|start| index.zones.get(&name[start..]).map(|zone| (start, zone)));
    let Some((apex_start, zone)) = found else {
        if options.may_forward && query.recursion_desired() {
            return Outcome::Forward;
        }
        writer.finish(query.question_end, false, RCODE_REFUSED);
        return Outcome::Reply;
    };
    if query.qtype == TYPE_AXFR || query.qtype == TYPE_IXFR {
        writer.finish(query.question_end, true, RCODE_REFUSED);
        return Outcome::Reply;
    }
    let apex = Owner(12 + apex_start as u16);
    let relative = &name[..apex_start];
    let qname = Owner(12);
    let negative = |writer: &mut Writer<'_>, zone: &Zone| {
        writer.rr(1, apex, TYPE_SOA, zone.soa_ttl, &zone.soa_rdata);
    };
    if relative.is_empty() {
        match query.qtype {
            TYPE_SOA | TYPE_ANY => writer.rr(0, qname, TYPE_SOA, zone.soa_ttl, &zone.soa_rdata),
            TYPE_NS => writer.rr(0, qname, TYPE_NS, NS_TTL, &zone.ns_rdata),
            _ => negative(&mut writer, zone),
        }
        writer.finish(query.question_end, true, 0);
        return Outcome::Reply;
    }
    if let Some(node) = zone.services.get(relative) {
        answer_service(&mut writer, node, query.qtype, qname, options, rng);
        if writer.counts[0] == 0 {
            negative(&mut writer, zone);
        }
        writer.finish(query.question_end, true, 0);
        return Outcome::Reply;
    }
    // `<instance>.<service>`: try each split, the instance id may itself hold dots.
    for start in query.label_starts().skip(1).filter(|&s| s < apex_start) {
        let Some(node) = zone.services.get(&name[start..apex_start]) else {
            continue;
        };
        let instance_key = &name[..start];
        if let Some(instance) = node.instances.get(instance_key) {
            match (query.qtype, instance.ipv4, instance.ipv6) {
                (TYPE_A | TYPE_ANY, Some(ip), _) => writer.rr(0, qname, TYPE_A, instance.ttl, &ip),
                (TYPE_AAAA | TYPE_ANY, _, Some(ip)) => {
                    writer.rr(0, qname, TYPE_AAAA, instance.ttl, &ip)
                }
                _ => negative(&mut writer, zone),
            }
            writer.finish(query.question_end, true, 0);
            return Outcome::Reply;
        }
        if node.instance_ancestors.contains_key(instance_key) {
            negative(&mut writer, zone);
            writer.finish(query.question_end, true, 0);
            return Outcome::Reply;
        }
    }
    negative(&mut writer, zone);
    let rcode = if zone.ancestors.contains(relative) {
        0
    } else {
        RCODE_NXDOMAIN
    };
    writer.finish(query.question_end, true, rcode);
    Outcome::Reply
}

fn answer_service(
    writer: &mut Writer<'_>,
    node: &ServiceNode,
    qtype: u16,
    qname: Owner,
    options: Options,
    rng: &mut SmallRng,
) {
    // A CNAME owns its name: every type is answered with the CNAME (RFC 1034 §3.6.2).
    if !node.cname.is_empty() {
        let (picked, count) = choose(&node.cname, node.policy, rng);
        for &i in &picked[..count] {
            if let Some(entry) = node.cname.pool().get(i) {
                writer.rr(0, qname, TYPE_CNAME, node.cname.ttl, &entry.rdata);
            }
        }
        return;
    }
    let (set, rtype) = match qtype {
        TYPE_A => (&node.a, TYPE_A),
        TYPE_AAAA => (&node.aaaa, TYPE_AAAA),
        TYPE_SRV => (&node.srv, TYPE_SRV),
        // RFC 8482: one RRset is a complete answer to ANY.
        TYPE_ANY => [
            (&node.a, TYPE_A),
            (&node.aaaa, TYPE_AAAA),
            (&node.srv, TYPE_SRV),
        ]
        .into_iter()
        .find(|(set, _)| !set.is_empty())
        .unwrap_or((&node.a, TYPE_A)),
        _ => return,
    };
    let (picked, count) = choose(set, node.policy, rng);
    for &i in &picked[..count] {
        if let Some(entry) = set.pool().get(i) {
            writer.rr(0, qname, rtype, set.ttl, &entry.rdata);
        }
    }
    if rtype == TYPE_SRV && options.srv_additional {
        for &i in &picked[..count] {
            let Some(entry) = set.pool().get(i) else {
                continue;
            };
            let target = &entry.rdata[6..];
            for (ip, kind) in [
                (entry.target_ipv4.as_ref().map(|ip| &ip[..]), TYPE_A),
                (entry.target_ipv6.as_ref().map(|ip| &ip[..]), TYPE_AAAA),
            ] {
                let Some(ip) = ip else { continue };
                // Additional data is optional: leave out what does not fit, never truncate for it.
                if writer.room() < target.len() + 10 + ip.len() {
                    return;
                }
                writer.rr_named(2, target, kind, set.ttl, ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arc_swap::ArcSwap;
    use hickory_proto::op::{Message, MessageType, OpCode, Query as HQuery};
    use hickory_proto::rr::{Name, RecordType};
    use proptest::prelude::*;
    use rand::SeedableRng;

    use super::*;
    use crate::dns::index::{DnsFollower, RegionPolicy};
    use crate::model::*;
    use crate::store::{Change, Follower, Registry};

    /// A zone `app.local` with an A+AAAA+SRV service of three instances, one unhealthy.
    static INDEX: std::sync::LazyLock<DnsIndex> = std::sync::LazyLock::new(build_index);

    fn index() -> &'static DnsIndex {
        &INDEX
    }

    fn build_index() -> DnsIndex {
        let region = Region("us-east-1".into());
        let mut registry = Registry::default();
        let namespace = NamespaceId("ns-aaaaaaaaaaaaaaaa".into());
        registry.apply(&Change::PutNamespace(Namespace {
            id: namespace.clone(),
            region: region.clone(),
            name: "app.local".into(),
            http_name: "app.local".into(),
            kind: NamespaceType::DnsPrivate,
            description: None,
            vpc: None,
            soa_ttl: Some(15),
            hosted_zone_id: None,
            creator_request_id: None,
            create_date: Timestamp(1),
            tags: Tags::new(),
        }));
        let service = ServiceId("srv-aaaaaaaaaaaaaaaa".into());
        registry.apply(&Change::PutService(Service {
            id: service.clone(),
            region,
            namespace_id: namespace,
            name: "backend-api".into(),
            description: None,
            kind: ServiceType::DnsHttp,
            dns: Some(DnsConfig {
                routing_policy: RoutingPolicy::Multivalue,
                records: vec![
                    DnsRecord {
                        kind: crate::model::RecordType::A,
                        ttl: 60,
                    },
                    DnsRecord {
                        kind: crate::model::RecordType::Aaaa,
                        ttl: 60,
                    },
                    DnsRecord {
                        kind: crate::model::RecordType::Srv,
                        ttl: 60,
                    },
                ],
            }),
            health: ServiceHealth::Custom,
            creator_request_id: None,
            create_date: Timestamp(2),
            tags: Tags::new(),
            attributes: Attributes::new(),
            instances_revision: 1,
        }));
        for (i, health) in [
            HealthStatus::Healthy,
            HealthStatus::Healthy,
            HealthStatus::Unhealthy,
        ]
        .into_iter()
        .enumerate()
        {
            let attributes: Attributes = [
                ("AWS_INSTANCE_IPV4", format!("10.0.0.{i}")),
                ("AWS_INSTANCE_IPV6", format!("fd00::{i}")),
                ("AWS_INSTANCE_PORT", "8080".to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            registry.apply(&Change::PutInstance(Instance {
                id: format!("i-{i}"),
                service_id: service.clone(),
                attributes,
                creator_request_id: None,
                create_date: Timestamp(3),
                health,
            }));
        }
        let shared = Arc::new(ArcSwap::from_pointee(DnsIndex::default()));
        DnsFollower::new(
            Arc::clone(&shared),
            RegionPolicy {
                only: vec![],
                priority: vec![],
            },
        )
        .rebuild(&registry);
        (*shared.load_full()).clone()
    }

    fn query(name: &str, rtype: RecordType) -> Vec<u8> {
        let mut message = Message::new(0x1234, MessageType::Query, OpCode::Query);
        message.add_query(HQuery::query(Name::from_ascii(name).unwrap(), rtype));
        message.to_vec().unwrap()
    }

    const OPTIONS: Options = Options {
        udp: true,
        may_forward: false,
        srv_additional: true,
    };

    fn run(index: &DnsIndex, packet: &[u8]) -> (Outcome, Vec<u8>) {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut out = Vec::new();
        let outcome = respond(index, packet, OPTIONS, &mut rng, &mut out);
        (outcome, out)
    }

    #[test]
    fn healthy_records_answer_and_the_unhealthy_one_does_not() {
        let index = index();
        let (outcome, out) = run(index, &query("backend-api.app.local.", RecordType::A));
        assert_eq!(outcome, Outcome::Reply);
        let message = Message::from_vec(&out).unwrap();
        assert_eq!(message.answers.len(), 2);
        let (_, out) = run(
            index,
            &query("i-2.backend-api.app.local.", RecordType::AAAA),
        );
        assert_eq!(
            Message::from_vec(&out).unwrap().answers.len(),
            1,
            "per-instance names stay"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20_000, failure_persistence: None, ..ProptestConfig::default() })]

        /// Arbitrary bytes never panic, and anything we answer is a well-formed DNS message.
        #[test]
        fn arbitrary_packets_never_panic(packet in proptest::collection::vec(any::<u8>(), 0..600)) {
            let index = index();
            let (outcome, out) = run(index, &packet);
            if outcome == Outcome::Reply {
                prop_assert!(out.len() >= 12);
                prop_assert_eq!(&out[..2], &packet[..2]);
            }
        }

        /// Valid queries with bytes flipped: no panic; replies parse with an independent decoder.
        #[test]
        fn mutated_queries_get_parseable_answers(
            name in prop::sample::select(vec!["backend-api.app.local.", "i-1.backend-api.app.local.", "nosuch.app.local.", "app.local.", "elsewhere.example."]),
            rtype in prop::sample::select(vec![RecordType::A, RecordType::AAAA, RecordType::SRV, RecordType::SOA, RecordType::NS, RecordType::ANY, RecordType::TXT]),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
            cut in any::<Option<usize>>(),
        ) {
            let index = index();
            let mut packet = query(name, rtype);
            for (position, value) in flips {
                let len = packet.len();
                packet[position % len] = value;
            }
            if let Some(cut) = cut {
                packet.truncate(cut % (packet.len() + 1));
            }
            let (outcome, out) = run(index, &packet);
            if outcome == Outcome::Reply {
                prop_assert!(Message::from_vec(&out).is_ok(), "unparseable answer to {:?}", packet);
            }
        }
    }
}
