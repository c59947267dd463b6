//! Validation of the DNS and health configuration of a service, shared by CreateService and
//! UpdateService (spec §5.2, §5.3).

use super::validate::Validator;
use super::wire;
use crate::model::{DnsRecord, HealthCheckConfig, HealthCheckType, RecordType};

const MAX_TTL: i64 = i32::MAX as i64;

/// Parses `DnsRecords`, checking each record and that the set of types is one Cloud Map accepts:
/// {A}, {AAAA}, {A,AAAA}, {CNAME}, {SRV}, {A,SRV}, {AAAA,SRV}, {A,AAAA,SRV} (spec §5.2 EMU-REC).
pub fn dns_records(v: &mut Validator, path: &str, records: &[wire::DnsRecord]) -> Vec<DnsRecord> {
    let mut out = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let member = format!("{path}.{}.member", index + 1);
        let kind = v.required(&format!("{member}.type"), &record.kind);
        let ttl = v.required(&format!("{member}.tTL"), &record.ttl);
        let kind = kind.and_then(|kind| {
            v.one_of(
                &format!("{member}.type"),
                kind,
                RecordType::parse,
                &["SRV", "A", "AAAA", "CNAME"],
            )
        });
        if let (Some(kind), Some(ttl)) = (kind, ttl)
            && v.range(&format!("{member}.tTL"), *ttl, 0, MAX_TTL)
        {
            out.push(DnsRecord { kind, ttl: *ttl });
        }
    }
    if v.has_errors() {
        return out;
    }
    let mut kinds: Vec<RecordType> = out.iter().map(|r| r.kind).collect();
    kinds.sort();
    let unique = kinds.windows(2).all(|pair| pair[0] != pair[1]);
    if out.is_empty() {
        v.rule("DnsRecords must contain at least one record");
    } else if !unique {
        v.rule("DnsRecords can't contain two records of the same type");
    } else if kinds.contains(&RecordType::Cname) && kinds.len() > 1 {
        v.rule("A CNAME record can't be combined with any other record type");
    }
    out
}

/// Parses a `HealthCheckConfig`: Type required; ResourcePath (default `/`) only for HTTP(S);
/// FailureThreshold 1..=10 (default 1).
pub fn health_check(
    v: &mut Validator,
    path: &str,
    config: &wire::HealthCheckConfig,
) -> Option<HealthCheckConfig> {
    let kind = v
        .required(&format!("{path}.type"), &config.kind)
        .and_then(|kind| {
            v.one_of(
                &format!("{path}.type"),
                kind,
                HealthCheckType::parse,
                &["HTTP", "HTTPS", "TCP"],
            )
        })?;
    if let Some(resource) = &config.resource_path {
        v.length(&format!("{path}.resourcePath"), resource, 0, 255);
    }
    let threshold = config.failure_threshold.unwrap_or(1);
    if !v.range(&format!("{path}.failureThreshold"), threshold, 1, 10) {
        return None;
    }
    let resource_path = match kind {
        HealthCheckType::Tcp => {
            if config.resource_path.is_some() {
                v.rule("ResourcePath can't be specified for a TCP health check");
                return None;
            }
            None
        }
        HealthCheckType::Http | HealthCheckType::Https => Some(
            config
                .resource_path
                .clone()
                .unwrap_or_else(|| "/".to_owned()),
        ),
    };
    Some(HealthCheckConfig {
        kind,
        resource_path,
        failure_threshold: threshold,
    })
}
