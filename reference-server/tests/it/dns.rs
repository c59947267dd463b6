//! The authoritative DNS server over real UDP and TCP sockets, read back with an independent
//! DNS implementation (hickory-proto's parser, hickory-resolver) and with `dig`.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use aws_sdk_servicediscovery::types::{
    CustomHealthStatus, HealthCheckCustomConfig, PrivateDnsNamespaceChange,
    RecordType as CmRecordType,
};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fixtures::{
    custom_health_service, dns_service, http_namespace, plain_service, private_namespace, records,
    register,
};
use crate::harness::TestServer;

/// Sends one query and parses the answer with hickory-proto.
pub async fn ask(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
    ask_with(server, name, rtype, None, false).await
}

fn build_query(name: &str, rtype: RecordType, edns: Option<u16>) -> Vec<u8> {
    let mut message = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_str(name).unwrap(), rtype));
    if let Some(size) = edns {
        let mut opt = Edns::new();
        opt.set_max_payload(size);
        message.set_edns(opt);
    }
    message.to_vec().unwrap()
}

async fn ask_with(
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
    edns: Option<u16>,
    tcp: bool,
) -> Message {
    let query = build_query(name, rtype, edns);
    let bytes = if tcp {
        exchange_tcp(server, &query).await
    } else {
        exchange_udp(server, &query).await
    };
    let response =
        Message::from_vec(&bytes).unwrap_or_else(|e| panic!("unparseable response: {e}"));
    assert_eq!(
        response.metadata.id,
        u16::from_be_bytes([query[0], query[1]])
    );
    assert_eq!(response.metadata.message_type, MessageType::Response);
    response
}

async fn exchange_udp(server: SocketAddr, query: &[u8]) -> Vec<u8> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(query, server).await.unwrap();
    let mut buffer = vec![0u8; 65_535];
    let len = tokio::time::timeout(std::time::Duration::from_secs(5), socket.recv(&mut buffer))
        .await
        .unwrap()
        .unwrap();
    buffer.truncate(len);
    buffer
}

async fn exchange_tcp(server: SocketAddr, query: &[u8]) -> Vec<u8> {
    let mut stream = tokio::net::TcpStream::connect(server).await.unwrap();
    stream
        .write_all(&(query.len() as u16).to_be_bytes())
        .await
        .unwrap();
    stream.write_all(query).await.unwrap();
    let len = stream.read_u16().await.unwrap();
    let mut buffer = vec![0u8; usize::from(len)];
    stream.read_exact(&mut buffer).await.unwrap();
    buffer
}

pub fn a_records(message: &Message) -> BTreeSet<String> {
    message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            RData::AAAA(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect()
}

pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

async fn dns_server(extra: &[&str]) -> (TestServer, SocketAddr) {
    let server = TestServer::start(extra).await;
    let dns = server.dns.unwrap();
    (server, dns)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_records_of_registered_instances_with_the_service_ttl() {
    let (server, dns) = dns_server(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "app.local").await;
    let svc = plain_service(client, &ns, "backend-api").await;
    register(client, &svc, "i-1", "10.42.0.1", &[]).await;
    register(client, &svc, "i-2", "10.42.0.2", &[]).await;
    // Read-your-writes: no polling after the operation reported SUCCESS.
    let answer = ask(dns, "backend-api.app.local.", RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert!(answer.metadata.authoritative);
    assert!(!answer.metadata.recursion_available);
    assert_eq!(a_records(&answer), set(&["10.42.0.1", "10.42.0.2"]));
    assert!(answer.answers.iter().all(|r| r.ttl == 60));
    // Names are case-insensitive, and the question comes back as asked.
    let mut shouted = build_query("backend-api.app.local.", RecordType::A, None);
    let question_end = shouted.len() - 4;
    shouted[13..question_end].copy_from_slice(b"BACKEND-API\x03App\x05Local\x00".as_slice());
    let response = exchange_udp(dns, &shouted).await;
    assert_eq!(
        &response[12..question_end + 4],
        &shouted[12..],
        "the question comes back byte for byte"
    );
    assert_eq!(
        a_records(&Message::from_vec(&response).unwrap()),
        set(&["10.42.0.1", "10.42.0.2"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn multivalue_answers_at_most_eight_random_records() {
    let (server, dns) = dns_server(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "many.local").await;
    let svc = plain_service(client, &ns, "web").await;
    for i in 0..10 {
        register(client, &svc, &format!("i-{i}"), &format!("10.0.0.{i}"), &[]).await;
    }
    let mut seen = BTreeSet::new();
    for _ in 0..30 {
        let answer = ask(dns, "web.many.local.", RecordType::A).await;
        assert_eq!(answer.answers.len(), 8);
        seen.extend(a_records(&answer));
    }
    assert_eq!(seen.len(), 10, "different queries get different subsets");
}

#[tokio::test(flavor = "multi_thread")]
async fn unhealthy_instances_leave_dns_until_all_are_unhealthy() {
    let (server, dns) = dns_server(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "health.local").await;
    let svc = custom_health_service(client, &ns, "web").await;
    register(client, &svc, "up", "10.0.0.1", &[]).await;
    register(
        client,
        &svc,
        "down",
        "10.0.0.2",
        &[("AWS_INIT_HEALTH_STATUS", "UNHEALTHY")],
    )
    .await;
    assert_eq!(
        a_records(&ask(dns, "web.health.local.", RecordType::A).await),
        set(&["10.0.0.1"])
    );
    client
        .update_instance_custom_health_status()
        .service_id(&svc)
        .instance_id("up")
        .status(CustomHealthStatus::Unhealthy)
        .send()
        .await
        .unwrap();
    // Route 53: when every record is unhealthy, answer with (up to eight of) them all.
    assert_eq!(
        a_records(&ask(dns, "web.health.local.", RecordType::A).await),
        set(&["10.0.0.1", "10.0.0.2"])
    );
    client
        .update_instance_custom_health_status()
        .service_id(&svc)
        .instance_id("down")
        .status(CustomHealthStatus::Healthy)
        .send()
        .await
        .unwrap();
    assert_eq!(
        a_records(&ask(dns, "web.health.local.", RecordType::A).await),
        set(&["10.0.0.2"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn weighted_answers_exactly_one_healthy_record() {
    let (server, dns) = dns_server(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "w.local").await;
    let created = client
        .create_service()
        .name("one")
        .namespace_id(&ns)
        .dns_config(crate::fixtures::weighted(&[(CmRecordType::A, 5)]))
        .health_check_custom_config(HealthCheckCustomConfig::builder().build())
        .send()
        .await
        .unwrap();
    let svc = created.service().unwrap().id().unwrap().to_owned();
    for i in 1..=3 {
        register(client, &svc, &format!("i-{i}"), &format!("10.0.1.{i}"), &[]).await;
    }
    client
        .update_instance_custom_health_status()
        .service_id(&svc)
        .instance_id("i-3")
        .status(CustomHealthStatus::Unhealthy)
        .send()
        .await
        .unwrap();
    let mut seen = BTreeSet::new();
    for _ in 0..40 {
        let answer = ask(dns, "one.w.local.", RecordType::A).await;
        assert_eq!(answer.answers.len(), 1);
        assert_eq!(answer.answers[0].ttl, 5);
        seen.extend(a_records(&answer));
    }
    assert_eq!(
        seen,
        set(&["10.0.1.1", "10.0.1.2"]),
        "only healthy instances, each sometimes"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn srv_records_point_at_per_instance_names() {
    let (server, dns) = dns_server(&["--dns-srv-additional"]).await;
    let client = &server.client;
    let ns = private_namespace(client, "srv.local").await;
    let created = client
        .create_service()
        .name("_http._tcp")
        .namespace_id(&ns)
        .dns_config(records(&[
            (CmRecordType::Srv, 30),
            (CmRecordType::A, 30),
            (CmRecordType::Aaaa, 30),
        ]))
        .send()
        .await
        .unwrap();
    let svc = created.service().unwrap().id().unwrap().to_owned();
    register(
        client,
        &svc,
        "task-1",
        "10.1.0.1",
        &[
            ("AWS_INSTANCE_PORT", "8080"),
            ("AWS_INSTANCE_IPV6", "fd00::1"),
        ],
    )
    .await;
    let answer = ask(dns, "_http._tcp.srv.local.", RecordType::SRV).await;
    assert_eq!(answer.answers.len(), 1);
    let RData::SRV(srv) = &answer.answers[0].data else {
        panic!("not SRV: {answer:?}")
    };
    assert_eq!((srv.priority, srv.weight, srv.port), (1, 1, 8080));
    assert_eq!(srv.target.to_string(), "task-1._http._tcp.srv.local.");
    let mut glue = answer.clone();
    glue.answers = answer.additionals.clone();
    assert_eq!(a_records(&glue), set(&["10.1.0.1", "fd00::1"]));
    let target = ask(dns, "task-1._http._tcp.srv.local.", RecordType::A).await;
    assert_eq!(a_records(&target), set(&["10.1.0.1"]));
    assert_eq!(target.answers[0].ttl, 30);
    let target6 = ask(dns, "task-1._http._tcp.srv.local.", RecordType::AAAA).await;
    assert_eq!(a_records(&target6), set(&["fd00::1"]));
    // `_tcp.srv.local` exists only as a parent of the service name: NODATA, not NXDOMAIN.
    let between = ask(dns, "_tcp.srv.local.", RecordType::A).await;
    assert_eq!(between.metadata.response_code, ResponseCode::NoError);
    assert!(between.answers.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn negative_answers_carry_the_namespace_soa() {
    let (server, dns) = dns_server(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "neg.local").await;
    plain_service(client, &ns, "empty").await;
    let svc = plain_service(client, &ns, "web").await;
    register(client, &svc, "i-1", "10.0.0.1", &[]).await;
    let check_soa = |message: &Message, ttl: u32| {
        assert!(message.answers.is_empty());
        assert_eq!(message.authorities.len(), 1, "{message:?}");
        let soa_record = &message.authorities[0];
        assert_eq!(soa_record.name.to_string().to_lowercase(), "neg.local.");
        assert_eq!(soa_record.ttl, ttl);
        let RData::SOA(soa) = &soa_record.data else {
            panic!("not SOA")
        };
        assert_eq!(soa.minimum, ttl);
    };
    let nx = ask(dns, "empty.neg.local.", RecordType::A).await;
    assert_eq!(
        nx.metadata.response_code,
        ResponseCode::NXDomain,
        "a service without instances has no name"
    );
    check_soa(&nx, 15);
    let nx = ask(dns, "nosuch.neg.local.", RecordType::A).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert!(nx.metadata.authoritative);
    let nodata = ask(dns, "web.neg.local.", RecordType::AAAA).await;
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    check_soa(&nodata, 15);
    let op = client
        .update_private_dns_namespace()
        .id(&ns)
        .namespace(
            PrivateDnsNamespaceChange::builder()
                .properties(crate::fixtures::private_soa_change(7))
                .build(),
        )
        .send()
        .await
        .unwrap();
    crate::fixtures::succeed(client, op.operation_id().unwrap()).await;
    check_soa(&ask(dns, "nosuch.neg.local.", RecordType::A).await, 7);
    // The apex has SOA and NS.
    let soa = ask(dns, "neg.local.", RecordType::SOA).await;
    assert!(matches!(soa.answers[0].data, RData::SOA(_)));
    let ns_answer = ask(dns, "neg.local.", RecordType::NS).await;
    assert!(matches!(ns_answer.answers[0].data, RData::NS(_)));
}

#[tokio::test(flavor = "multi_thread")]
async fn http_namespaces_and_http_services_have_no_dns() {
    let (server, dns) = dns_server(&["--dns-no-forward"]).await;
    let client = &server.client;
    let http = http_namespace(client, "api.internal").await;
    let svc = client
        .create_service()
        .name("svc")
        .namespace_id(&http)
        .send()
        .await
        .unwrap();
    register(
        client,
        svc.service().unwrap().id().unwrap(),
        "i-1",
        "10.0.0.1",
        &[],
    )
    .await;
    let answer = ask(dns, "svc.api.internal.", RecordType::A).await;
    assert_eq!(
        answer.metadata.response_code,
        ResponseCode::Refused,
        "not a zone of ours"
    );
    let ns = private_namespace(client, "mixed.local").await;
    let api_only = client
        .create_service()
        .name("api-only")
        .namespace_id(&ns)
        .r#type(aws_sdk_servicediscovery::types::ServiceTypeOption::Http)
        .send()
        .await
        .unwrap();
    register(
        client,
        api_only.service().unwrap().id().unwrap(),
        "i-1",
        "10.0.0.1",
        &[],
    )
    .await;
    let answer = ask(dns, "api-only.mixed.local.", RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test(flavor = "multi_thread")]
async fn deregistration_and_deletion_leave_dns_at_once() {
    let (server, dns) = dns_server(&["--dns-no-forward"]).await;
    let client = &server.client;
    let ns = private_namespace(client, "gone.local").await;
    let svc = plain_service(client, &ns, "web").await;
    register(client, &svc, "i-1", "10.0.0.1", &[]).await;
    assert_eq!(
        a_records(&ask(dns, "web.gone.local.", RecordType::A).await),
        set(&["10.0.0.1"])
    );
    let op = client
        .deregister_instance()
        .service_id(&svc)
        .instance_id("i-1")
        .send()
        .await
        .unwrap();
    crate::fixtures::succeed(client, op.operation_id().unwrap()).await;
    assert_eq!(
        ask(dns, "web.gone.local.", RecordType::A)
            .await
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );
    client.delete_service().id(&svc).send().await.unwrap();
    let op = client.delete_namespace().id(&ns).send().await.unwrap();
    crate::fixtures::succeed(client, op.operation_id().unwrap()).await;
    let answer = ask(dns, "web.gone.local.", RecordType::A).await;
    assert_eq!(
        answer.metadata.response_code,
        ResponseCode::Refused,
        "no longer our zone"
    );
    assert!(!answer.metadata.authoritative);
}

#[tokio::test(flavor = "multi_thread")]
async fn large_answers_truncate_over_udp_and_come_whole_over_tcp() {
    let (server, dns) = dns_server(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "big.local").await;
    let svc = dns_service(client, &ns, "s", records(&[(CmRecordType::Srv, 60)])).await;
    for i in 0..8 {
        let id = format!("{i}-{}", "x".repeat(58));
        register(
            client,
            &svc,
            &id,
            "10.0.0.1",
            &[("AWS_INSTANCE_PORT", "80")],
        )
        .await;
    }
    let udp = ask(dns, "s.big.local.", RecordType::SRV).await;
    assert!(
        udp.metadata.truncation,
        "8 SRV records of ~90 bytes exceed 512"
    );
    assert!(udp.answers.is_empty());
    let edns = ask_with(dns, "s.big.local.", RecordType::SRV, Some(1232), false).await;
    assert!(!edns.metadata.truncation);
    assert_eq!(edns.answers.len(), 8);
    assert_eq!(edns.edns.as_ref().unwrap().max_payload(), 1232);
    let tcp = ask_with(dns, "s.big.local.", RecordType::SRV, None, true).await;
    assert!(!tcp.metadata.truncation);
    assert_eq!(tcp.answers.len(), 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn names_outside_our_zones_are_forwarded_for_allowed_clients_only() {
    // The upstream is a second server of ours, authoritative for another zone.
    let (upstream_server, upstream) = dns_server(&["--dns-no-forward"]).await;
    let ns = private_namespace(&upstream_server.client, "elsewhere.test").await;
    let svc = plain_service(&upstream_server.client, &ns, "db").await;
    register(&upstream_server.client, &svc, "i-1", "10.9.9.9", &[]).await;
    let upstream_flag = upstream.to_string();
    let (_server, dns) = dns_server(&["--dns-upstream", &upstream_flag]).await;
    let forwarded = ask(dns, "db.elsewhere.test.", RecordType::A).await;
    assert_eq!(a_records(&forwarded), set(&["10.9.9.9"]));
    let forwarded_tcp = ask_with(dns, "db.elsewhere.test.", RecordType::A, None, true).await;
    assert_eq!(a_records(&forwarded_tcp), set(&["10.9.9.9"]));
    // Loopback is not on this server's list: authoritative answers only, never an open resolver.
    let (_closed, closed_dns) = dns_server(&[
        "--dns-upstream",
        &upstream_flag,
        "--dns-allow-recursion",
        "10.0.0.0/8",
    ])
    .await;
    let refused = ask(closed_dns, "db.elsewhere.test.", RecordType::A).await;
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
    // An upstream that does not answer gives SERVFAIL, not silence.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_flag = silent.local_addr().unwrap().to_string();
    let (_dead, dead_dns) = dns_server(&["--dns-upstream", &silent_flag]).await;
    let failed = ask(dead_dns, "db.elsewhere.test.", RecordType::A).await;
    assert_eq!(failed.metadata.response_code, ResponseCode::ServFail);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_and_unsupported_queries() {
    let (_server, dns) = dns_server(&["--dns-no-forward"]).await;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // Two questions: FORMERR with the id kept.
    let mut two = build_query("a.local.", RecordType::A, None);
    two[5] = 2;
    let response = exchange_udp(dns, &two).await;
    assert_eq!(&response[..2], &two[..2]);
    assert_eq!(response[3] & 0x0F, 1);
    // NOTIFY (opcode 4): NOTIMP.
    let mut notify = build_query("a.local.", RecordType::SOA, None);
    notify[2] |= 4 << 3;
    assert_eq!(exchange_udp(dns, &notify).await[3] & 0x0F, 4);
    // Junk and responses are dropped; the server keeps answering.
    for junk in [vec![], vec![1, 2, 3], vec![0xFF; 40], {
        let mut r = build_query("a.", RecordType::A, None);
        r[2] |= 0x80;
        r
    }] {
        socket.send_to(&junk, dns).await.unwrap();
    }
    // Nothing answers the junk: the first datagram back on this socket answers the valid query.
    let valid = build_query("anything.example.", RecordType::A, None);
    socket.send_to(&valid, dns).await.unwrap();
    let mut buffer = vec![0u8; 4096];
    let len = tokio::time::timeout(std::time::Duration::from_secs(5), socket.recv(&mut buffer))
        .await
        .unwrap()
        .unwrap();
    let answer = Message::from_vec(&buffer[..len]).unwrap();
    assert_eq!(answer.metadata.id, u16::from_be_bytes([valid[0], valid[1]]));
    assert_eq!(answer.metadata.response_code, ResponseCode::Refused);
    // EDNS version 1: BADVERS.
    let mut message = Message::new(7, MessageType::Query, OpCode::Query);
    message.add_query(Query::query(
        Name::from_str("x.local.").unwrap(),
        RecordType::A,
    ));
    let mut opt = Edns::new();
    opt.set_version(1);
    message.set_edns(opt);
    let response = Message::from_vec(&exchange_udp(dns, &message.to_vec().unwrap()).await).unwrap();
    // BADVERS is extended rcode 16 (hickory names 16 BADSIG, which shares the number).
    assert_eq!(u16::from(response.metadata.response_code), 16);
}

#[tokio::test(flavor = "multi_thread")]
async fn any_is_answered_minimally() {
    let (server, dns) = dns_server(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "any.local").await;
    let created = client
        .create_service()
        .name("web")
        .namespace_id(&ns)
        .dns_config(records(&[(CmRecordType::A, 60), (CmRecordType::Srv, 60)]))
        .send()
        .await
        .unwrap();
    register(
        client,
        created.service().unwrap().id().unwrap(),
        "i-1",
        "10.0.0.1",
        &[("AWS_INSTANCE_PORT", "80")],
    )
    .await;
    let answer = ask(dns, "web.any.local.", RecordType::ANY).await;
    let types: BTreeSet<RecordType> = answer.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(types.len(), 1, "one RRset (RFC 8482): {types:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_seed_makes_answers_reproducible() {
    let mut sequences = Vec::new();
    for _ in 0..2 {
        let (server, dns) = dns_server(&["--dns-seed", "42", "--dns-udp-workers", "1"]).await;
        let client = &server.client;
        let ns = private_namespace(client, "seed.local").await;
        let svc = plain_service(client, &ns, "web").await;
        for i in 0..12 {
            register(
                client,
                &svc,
                &format!("i-{i:02}"),
                &format!("10.0.0.{i}"),
                &[],
            )
            .await;
        }
        let mut sequence = Vec::new();
        for _ in 0..5 {
            let answer = ask(dns, "web.seed.local.", RecordType::A).await;
            sequence.push(
                answer
                    .answers
                    .iter()
                    .map(|r| r.data.to_string())
                    .collect::<Vec<_>>(),
            );
        }
        sequences.push(sequence);
    }
    assert_eq!(sequences[0], sequences[1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn hickory_resolver_and_dig_resolve_service_names() {
    let (server, dns) = dns_server(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "tools.local").await;
    let svc = plain_service(client, &ns, "backend-api").await;
    register(client, &svc, "i-1", "10.42.1.5", &[]).await;
    register(client, &svc, "i-2", "10.42.1.6", &[]).await;

    use hickory_resolver::config::{NameServerConfig, ResolverConfig};
    use hickory_resolver::net::runtime::TokioRuntimeProvider;
    let mut name_server = NameServerConfig::udp_and_tcp(dns.ip());
    for connection in &mut name_server.connections {
        connection.port = dns.port();
    }
    let config = ResolverConfig::from_parts(None, vec![], vec![name_server]);
    let resolver =
        hickory_resolver::Resolver::builder_with_config(config, TokioRuntimeProvider::default())
            .build()
            .unwrap();
    let ips: BTreeSet<IpAddr> = resolver
        .lookup_ip("backend-api.tools.local.")
        .await
        .unwrap()
        .iter()
        .collect();
    assert_eq!(
        ips,
        ["10.42.1.5".parse().unwrap(), "10.42.1.6".parse().unwrap()]
            .into_iter()
            .collect()
    );

    let output = std::process::Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &dns.port().to_string(),
            "+short",
            "backend-api.tools.local",
            "A",
        ])
        .output()
        .expect("dig is installed by ci/setup.sh (dnsutils)");
    assert!(output.status.success());
    let lines: BTreeSet<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines, set(&["10.42.1.5", "10.42.1.6"]));
    let output = std::process::Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &dns.port().to_string(),
            "+tcp",
            "nosuch.tools.local",
            "A",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("status: NXDOMAIN") && text.contains("flags: qr aa rd"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn weighted_cname_services_answer_with_one_cname() {
    let (server, dns) = dns_server(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "alias.local").await;
    let svc = dns_service(
        client,
        &ns,
        "www",
        crate::fixtures::weighted(&[(CmRecordType::Cname, 30)]),
    )
    .await;
    for (id, target) in [("a", "origin-a.example.com"), ("b", "origin-b.example.com")] {
        let op = client
            .register_instance()
            .service_id(&svc)
            .instance_id(id)
            .attributes("AWS_INSTANCE_CNAME", target)
            .send()
            .await
            .unwrap();
        crate::fixtures::succeed(client, op.operation_id().unwrap()).await;
    }
    let mut targets = BTreeSet::new();
    for rtype in [
        RecordType::CNAME,
        RecordType::A,
        RecordType::A,
        RecordType::A,
        RecordType::A,
        RecordType::A,
        RecordType::A,
    ] {
        let answer = ask(dns, "www.alias.local.", rtype).await;
        assert_eq!(answer.answers.len(), 1, "{answer:?}");
        let RData::CNAME(target) = &answer.answers[0].data else {
            panic!("not a CNAME: {answer:?}")
        };
        assert_eq!(answer.answers[0].ttl, 30);
        targets.insert(target.0.to_string());
    }
    assert!(
        targets.is_subset(&set(&["origin-a.example.com.", "origin-b.example.com."])),
        "{targets:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn instance_ids_with_odd_characters_become_literal_labels() {
    let (server, dns) = dns_server(&[]).await;
    let client = &server.client;
    let ns = private_namespace(client, "odd.local").await;
    let svc = dns_service(client, &ns, "svc", records(&[(CmRecordType::Srv, 10)])).await;
    register(
        client,
        &svc,
        "task/1@az:b",
        "10.0.0.9",
        &[("AWS_INSTANCE_PORT", "81")],
    )
    .await;
    let answer = ask(dns, "svc.odd.local.", RecordType::SRV).await;
    let RData::SRV(srv) = &answer.answers[0].data else {
        panic!("not SRV")
    };
    let first_label = srv.target.iter().next().unwrap();
    assert_eq!(
        first_label, b"task/1@az:b",
        "one label, bytes as registered"
    );
    // dig escapes what presentation format must: `@` becomes `\@`.
    let output = std::process::Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &dns.port().to_string(),
            "+short",
            "svc.odd.local",
            "SRV",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.trim(), "1 1 81 task/1\\@az:b.svc.odd.local.");
}
