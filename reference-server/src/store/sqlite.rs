//! The durable half of the store: a versioned SQLite schema, loading it into a [`Registry`], and
//! writing [`Change`]s. Columns mirror the model; nothing here knows the wire format.

use rusqlite::{Connection, Transaction, params};

use super::StoreError;
use super::codec;
use super::registry::{Change, Registry};
use crate::model::{
    DnsConfig, DnsRecord, HealthCheckConfig, HealthCheckType, HealthStatus, Instance, Mutation,
    Namespace, NamespaceId, NamespaceType, Operation, OperationId, OperationStatus, OperationType,
    RecordType, Region, RoutingPolicy, Service, ServiceHealth, ServiceId, ServiceType, Tags,
    Timestamp,
};

/// The schema version this build writes. A file with a newer version is refused, never guessed at.
pub const SCHEMA_VERSION: i64 = 1;

/// Migrations from version N-1 to N, in order; index 0 creates version 1. Every entity is one
/// row (its maps encoded inline by `codec`), in tables without rowids, so that a registration
/// writes one small row per commit.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE namespaces (
    id TEXT PRIMARY KEY, region TEXT NOT NULL, name TEXT NOT NULL, http_name TEXT NOT NULL,
    type TEXT NOT NULL, description TEXT, vpc TEXT, soa_ttl INTEGER, hosted_zone_id TEXT,
    creator_request_id TEXT, create_ms INTEGER NOT NULL, tags TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE services (
    id TEXT PRIMARY KEY, region TEXT NOT NULL, namespace_id TEXT NOT NULL, name TEXT NOT NULL,
    description TEXT, type TEXT NOT NULL, routing_policy TEXT, dns_records TEXT NOT NULL,
    health_kind TEXT NOT NULL, health_path TEXT, health_threshold INTEGER,
    creator_request_id TEXT, create_ms INTEGER NOT NULL, instances_revision INTEGER NOT NULL,
    tags TEXT NOT NULL, attributes TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE instances (
    service_id TEXT NOT NULL, id TEXT NOT NULL, creator_request_id TEXT,
    create_ms INTEGER NOT NULL, health TEXT NOT NULL, attributes TEXT NOT NULL,
    PRIMARY KEY (service_id, id)
) WITHOUT ROWID;
CREATE TABLE operations (
    id TEXT PRIMARY KEY, region TEXT NOT NULL, type TEXT NOT NULL, status TEXT NOT NULL,
    error_code TEXT, error_message TEXT, create_ms INTEGER NOT NULL, update_ms INTEGER NOT NULL,
    request_token TEXT, namespace_id TEXT, service_id TEXT, instance_id TEXT,
    -- The mutation of an unfinished operation (see encode_mutation); NULL once it finished.
    mutation TEXT
) WITHOUT ROWID;
"#];

/// How hard a commit pushes data to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// WAL with `synchronous=NORMAL`: a committed write survives the process being killed
    /// (`kill -9`), which is what an emulator needs; a power cut may lose the last commits.
    Process,
    /// WAL with `synchronous=FULL`: every commit is fsynced and survives power loss too.
    Power,
}

pub fn open(
    path: Option<&std::path::Path>,
    durability: Durability,
) -> Result<Connection, StoreError> {
    let conn = match path {
        Some(path) => Connection::open(path)?,
        None => Connection::open_in_memory()?,
    };
    if path.is_some() {
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!(
                "could not enable WAL mode (got {mode})"
            )));
        }
    }
    let sync = match durability {
        Durability::Process => "NORMAL",
        Durability::Power => "FULL",
    };
    conn.execute_batch(&format!(
        "PRAGMA synchronous={sync}; PRAGMA foreign_keys=OFF;"
    ))?;
    migrate(&conn)?;
    Ok(conn)
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    // A file that is not SQLite at all fails here, with SQLite's own "file is not a database".
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    // Corruption shows when `load` reads every row; no separate scan delays start-up.
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let target = i64::try_from(index).unwrap_or(i64::MAX) + 1;
        if version < target {
            conn.execute_batch(&format!(
                "BEGIN; {sql} PRAGMA user_version={target}; COMMIT;"
            ))?;
        }
    }
    Ok(())
}

fn bad(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("unknown {what} {value:?} in the database"))
}

fn map(text: &str) -> Result<Tags, StoreError> {
    Ok(codec::decode(text)?.into_iter().collect())
}

pub fn load(conn: &Connection) -> Result<Registry, StoreError> {
    let mut registry = Registry::default();
    {
        let mut stmt = conn.prepare(
            "SELECT id, region, name, http_name, type, description, vpc, soa_ttl, hosted_zone_id,
                    creator_request_id, create_ms, tags FROM namespaces",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let kind: String = row.get(4)?;
            let tags: String = row.get(11)?;
            let namespace = Namespace {
                id: NamespaceId(row.get(0)?),
                region: Region(row.get(1)?),
                name: row.get(2)?,
                http_name: row.get(3)?,
                kind: NamespaceType::parse(&kind).ok_or_else(|| bad("namespace type", &kind))?,
                description: row.get(5)?,
                vpc: row.get(6)?,
                soa_ttl: row.get(7)?,
                hosted_zone_id: row.get(8)?,
                creator_request_id: row.get(9)?,
                create_date: Timestamp(row.get(10)?),
                tags: map(&tags)?,
            };
            registry.apply(&Change::PutNamespace(namespace));
        }
    }
    {
        let mut stmt = conn.prepare(
            "SELECT id, region, namespace_id, name, description, type, routing_policy, dns_records,
                    health_kind, health_path, health_threshold, creator_request_id, create_ms,
                    instances_revision, tags, attributes
             FROM services",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let kind: String = row.get(5)?;
            let routing: Option<String> = row.get(6)?;
            let records: String = row.get(7)?;
            let health_kind: String = row.get(8)?;
            let dns = match routing {
                Some(policy) => Some(DnsConfig {
                    routing_policy: RoutingPolicy::parse(&policy)
                        .ok_or_else(|| bad("routing policy", &policy))?,
                    records: codec::decode(&records)?
                        .into_iter()
                        .map(|(kind, ttl)| {
                            Ok(DnsRecord {
                                kind: RecordType::parse(&kind)
                                    .ok_or_else(|| bad("record type", &kind))?,
                                ttl: ttl.parse().map_err(|_| bad("ttl", &ttl))?,
                            })
                        })
                        .collect::<Result<_, StoreError>>()?,
                }),
                None => None,
            };
            let health = match health_kind.as_str() {
                "NONE" => ServiceHealth::None,
                "CUSTOM" => ServiceHealth::Custom,
                other => ServiceHealth::Probed(HealthCheckConfig {
                    kind: HealthCheckType::parse(other)
                        .ok_or_else(|| bad("health check", other))?,
                    resource_path: row.get(9)?,
                    failure_threshold: row.get::<_, Option<i64>>(10)?.unwrap_or(1),
                }),
            };
            let tags: String = row.get(14)?;
            let attributes: String = row.get(15)?;
            let service = Service {
                id: ServiceId(row.get(0)?),
                region: Region(row.get(1)?),
                namespace_id: NamespaceId(row.get(2)?),
                name: row.get(3)?,
                description: row.get(4)?,
                kind: match kind.as_str() {
                    "HTTP" => ServiceType::Http,
                    "DNS_HTTP" => ServiceType::DnsHttp,
                    "DNS" => ServiceType::Dns,
                    other => return Err(bad("service type", other)),
                },
                dns,
                health,
                creator_request_id: row.get(11)?,
                create_date: Timestamp(row.get(12)?),
                instances_revision: row.get(13)?,
                tags: map(&tags)?,
                attributes: map(&attributes)?,
            };
            registry.apply(&Change::PutService(service));
        }
    }
    {
        let mut stmt = conn.prepare(
            "SELECT service_id, id, creator_request_id, create_ms, health, attributes FROM instances",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let health: String = row.get(4)?;
            let attributes: String = row.get(5)?;
            let instance = Instance {
                service_id: ServiceId(row.get(0)?),
                id: row.get(1)?,
                creator_request_id: row.get(2)?,
                create_date: Timestamp(row.get(3)?),
                health: HealthStatus::parse(&health)
                    .ok_or_else(|| bad("health status", &health))?,
                attributes: map(&attributes)?,
            };
            registry.apply(&Change::PutInstance(instance));
        }
    }
    {
        let mut stmt = conn.prepare(
            "SELECT id, region, type, status, error_code, error_message, create_ms, update_ms,
                    request_token, namespace_id, service_id, instance_id, mutation FROM operations",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let kind: String = row.get(2)?;
            let status: String = row.get(3)?;
            let mutation = match row.get::<_, Option<String>>(12)? {
                Some(text) => Some(decode_mutation(&codec::decode(&text)?)?),
                None => None,
            };
            let operation = Operation {
                id: OperationId(row.get(0)?),
                region: Region(row.get(1)?),
                kind: OperationType::parse(&kind).ok_or_else(|| bad("operation type", &kind))?,
                status: OperationStatus::parse(&status)
                    .ok_or_else(|| bad("operation status", &status))?,
                error_code: row.get(4)?,
                error_message: row.get(5)?,
                create_date: Timestamp(row.get(6)?),
                update_date: Timestamp(row.get(7)?),
                request_token: row.get(8)?,
                namespace_id: row.get::<_, Option<String>>(9)?.map(NamespaceId),
                service_id: row.get::<_, Option<String>>(10)?.map(ServiceId),
                instance_id: row.get(11)?,
                mutation,
            };
            registry.apply(&Change::PutOperation(operation));
        }
    }
    Ok(registry)
}

fn encode_map(map: &Tags) -> String {
    codec::encode(map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

pub fn write(txn: &Transaction<'_>, change: &Change) -> rusqlite::Result<()> {
    match change {
        Change::PutNamespace(ns) => {
            txn.prepare_cached(
                "INSERT OR REPLACE INTO namespaces (id, region, name, http_name, type, description,
                     vpc, soa_ttl, hosted_zone_id, creator_request_id, create_ms, tags)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                ns.id.as_str(),
                ns.region.as_str(),
                ns.name,
                ns.http_name,
                ns.kind.as_str(),
                ns.description,
                ns.vpc,
                ns.soa_ttl,
                ns.hosted_zone_id,
                ns.creator_request_id,
                ns.create_date.0,
                encode_map(&ns.tags)
            ])?;
        }
        Change::DeleteNamespace(id) => {
            txn.prepare_cached("DELETE FROM namespaces WHERE id = ?1")?
                .execute([id.as_str()])?;
        }
        Change::PutService(service) => {
            let (health_kind, health_path, health_threshold) = match &service.health {
                ServiceHealth::None => ("NONE", None, None),
                ServiceHealth::Custom => ("CUSTOM", None, None),
                ServiceHealth::Probed(check) => (
                    check.kind.as_str(),
                    check.resource_path.clone(),
                    Some(check.failure_threshold),
                ),
            };
            let records: Vec<(&str, String)> = service
                .dns
                .iter()
                .flat_map(|dns| dns.records.iter())
                .map(|r| (r.kind.as_str(), r.ttl.to_string()))
                .collect();
            txn.prepare_cached(
                "INSERT OR REPLACE INTO services (id, region, namespace_id, name, description, type,
                     routing_policy, dns_records, health_kind, health_path, health_threshold,
                     creator_request_id, create_ms, instances_revision, tags, attributes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?
            .execute(params![
                service.id.as_str(),
                service.region.as_str(),
                service.namespace_id.as_str(),
                service.name,
                service.description,
                service.kind.as_str(),
                service.dns.as_ref().map(|dns| dns.routing_policy.as_str()),
                codec::encode(records.iter().map(|(k, v)| (*k, v.as_str()))),
                health_kind,
                health_path,
                health_threshold,
                service.creator_request_id,
                service.create_date.0,
                service.instances_revision,
                encode_map(&service.tags),
                encode_map(&service.attributes)
            ])?;
        }
        Change::DeleteService(id) => {
            let id = id.as_str();
            txn.prepare_cached("DELETE FROM services WHERE id = ?1")?
                .execute([id])?;
            txn.prepare_cached("DELETE FROM instances WHERE service_id = ?1")?
                .execute([id])?;
        }
        Change::PutInstance(instance) => {
            txn.prepare_cached(
                "INSERT OR REPLACE INTO instances (service_id, id, creator_request_id, create_ms,
                     health, attributes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                instance.service_id.as_str(),
                instance.id,
                instance.creator_request_id,
                instance.create_date.0,
                instance.health.as_str(),
                encode_map(&instance.attributes)
            ])?;
        }
        Change::DeleteInstance {
            service_id,
            instance_id,
        } => {
            txn.prepare_cached("DELETE FROM instances WHERE service_id = ?1 AND id = ?2")?
                .execute(params![service_id.as_str(), instance_id])?;
        }
        Change::DeleteOperation(id) => {
            txn.prepare_cached("DELETE FROM operations WHERE id = ?1")?
                .execute([id.as_str()])?;
        }
        Change::PutOperation(op) => {
            let mutation = op.mutation.as_ref().map(|m| {
                let pairs = encode_mutation(m);
                codec::encode(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            });
            txn.prepare_cached(
                "INSERT OR REPLACE INTO operations (id, region, type, status, error_code, error_message,
                     create_ms, update_ms, request_token, namespace_id, service_id, instance_id, mutation)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                op.id.as_str(),
                op.region.as_str(),
                op.kind.as_str(),
                op.status.as_str(),
                op.error_code,
                op.error_message,
                op.create_date.0,
                op.update_date.0,
                op.request_token,
                op.namespace_id.as_ref().map(NamespaceId::as_str),
                op.service_id.as_ref().map(ServiceId::as_str),
                op.instance_id,
                mutation
            ])?;
        }
    }
    Ok(())
}

/// Writes a mutation as ordered key/value pairs: `kind` first, then its fields; maps as
/// `tag`/`attr` pairs of `key=value` rows (`tag.key`, `tag.value`). Read back by [`decode_mutation`].
fn encode_mutation(mutation: &Mutation) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut put = |key: &str, value: &str| out.push((key.to_owned(), value.to_owned()));
    match mutation {
        Mutation::CreateNamespace(ns) => {
            put("kind", "CreateNamespace");
            put("id", ns.id.as_str());
            put("region", ns.region.as_str());
            put("name", &ns.name);
            put("http_name", &ns.http_name);
            put("type", ns.kind.as_str());
            if let Some(v) = &ns.description {
                put("description", v);
            }
            if let Some(v) = &ns.vpc {
                put("vpc", v);
            }
            if let Some(v) = ns.soa_ttl {
                put("soa_ttl", &v.to_string());
            }
            if let Some(v) = &ns.hosted_zone_id {
                put("hosted_zone_id", v);
            }
            if let Some(v) = &ns.creator_request_id {
                put("creator_request_id", v);
            }
            put("create_ms", &ns.create_date.0.to_string());
            for (key, value) in &ns.tags {
                put("tag.key", key);
                put("tag.value", value);
            }
        }
        Mutation::DeleteNamespace { namespace_id } => {
            put("kind", "DeleteNamespace");
            put("id", namespace_id.as_str());
        }
        Mutation::UpdateNamespace {
            namespace_id,
            description,
            soa_ttl,
        } => {
            put("kind", "UpdateNamespace");
            put("id", namespace_id.as_str());
            if let Some(v) = description {
                put("description", v);
            }
            if let Some(v) = soa_ttl {
                put("soa_ttl", &v.to_string());
            }
        }
        Mutation::UpdateService {
            service_id,
            description,
            dns_records,
            health_check,
        } => {
            put("kind", "UpdateService");
            put("id", service_id.as_str());
            if let Some(v) = description {
                put("description", v);
            }
            if let Some(records) = dns_records {
                put("dns", "");
                for record in records {
                    put(
                        "record",
                        &format!("{}:{}", record.kind.as_str(), record.ttl),
                    );
                }
            }
            if let Some(check) = health_check {
                put("health.type", check.kind.as_str());
                if let Some(path) = &check.resource_path {
                    put("health.path", path);
                }
                put("health.threshold", &check.failure_threshold.to_string());
            }
        }
        Mutation::RegisterInstance(instance) => {
            put("kind", "RegisterInstance");
            put("service_id", instance.service_id.as_str());
            put("id", &instance.id);
            if let Some(v) = &instance.creator_request_id {
                put("creator_request_id", v);
            }
            put("create_ms", &instance.create_date.0.to_string());
            put("health", instance.health.as_str());
            for (key, value) in &instance.attributes {
                put("attr.key", key);
                put("attr.value", value);
            }
        }
        Mutation::DeregisterInstance {
            service_id,
            instance_id,
        } => {
            put("kind", "DeregisterInstance");
            put("service_id", service_id.as_str());
            put("id", instance_id);
        }
        Mutation::Fail {
            error_code,
            error_message,
        } => {
            put("kind", "Fail");
            put("error_code", error_code);
            put("error_message", error_message);
        }
    }
    out
}

fn decode_mutation(pairs: &[(String, String)]) -> Result<Mutation, StoreError> {
    let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let need = |key: &str| {
        get(key).ok_or_else(|| StoreError::Corrupt(format!("operation mutation lacks {key}")))
    };
    let int = |key: &str| -> Result<Option<i64>, StoreError> {
        get(key)
            .map(|v| v.parse::<i64>().map_err(|_| bad("number", &v)))
            .transpose()
    };
    let map = |prefix: &str| -> Tags {
        let keys = pairs.iter().filter(|(k, _)| *k == format!("{prefix}.key"));
        let values = pairs
            .iter()
            .filter(|(k, _)| *k == format!("{prefix}.value"));
        keys.zip(values)
            .map(|((_, k), (_, v))| (k.clone(), v.clone()))
            .collect()
    };
    let kind = need("kind")?;
    Ok(match kind.as_str() {
        "CreateNamespace" => {
            let kind = need("type")?;
            Mutation::CreateNamespace(Namespace {
                id: NamespaceId(need("id")?),
                region: Region(need("region")?),
                name: need("name")?,
                http_name: need("http_name")?,
                kind: NamespaceType::parse(&kind).ok_or_else(|| bad("namespace type", &kind))?,
                description: get("description"),
                vpc: get("vpc"),
                soa_ttl: int("soa_ttl")?,
                hosted_zone_id: get("hosted_zone_id"),
                creator_request_id: get("creator_request_id"),
                create_date: Timestamp(int("create_ms")?.unwrap_or_default()),
                tags: map("tag"),
            })
        }
        "DeleteNamespace" => Mutation::DeleteNamespace {
            namespace_id: NamespaceId(need("id")?),
        },
        "UpdateNamespace" => Mutation::UpdateNamespace {
            namespace_id: NamespaceId(need("id")?),
            description: get("description"),
            soa_ttl: int("soa_ttl")?,
        },
        "UpdateService" => {
            let dns_records = match get("dns") {
                None => None,
                Some(_) => Some(
                    pairs
                        .iter()
                        .filter(|(k, _)| k == "record")
                        .map(|(_, v)| {
                            let (kind, ttl) = v.split_once(':').ok_or_else(|| bad("record", v))?;
                            Ok(DnsRecord {
                                kind: RecordType::parse(kind)
                                    .ok_or_else(|| bad("record type", kind))?,
                                ttl: ttl.parse().map_err(|_| bad("ttl", ttl))?,
                            })
                        })
                        .collect::<Result<Vec<_>, StoreError>>()?,
                ),
            };
            let health_check = match get("health.type") {
                None => None,
                Some(kind) => Some(HealthCheckConfig {
                    kind: HealthCheckType::parse(&kind)
                        .ok_or_else(|| bad("health check", &kind))?,
                    resource_path: get("health.path"),
                    failure_threshold: int("health.threshold")?.unwrap_or(1),
                }),
            };
            Mutation::UpdateService {
                service_id: ServiceId(need("id")?),
                description: get("description"),
                dns_records,
                health_check,
            }
        }
        "RegisterInstance" => {
            let health = need("health")?;
            Mutation::RegisterInstance(Instance {
                id: need("id")?,
                service_id: ServiceId(need("service_id")?),
                attributes: map("attr"),
                creator_request_id: get("creator_request_id"),
                create_date: Timestamp(int("create_ms")?.unwrap_or_default()),
                health: HealthStatus::parse(&health)
                    .ok_or_else(|| bad("health status", &health))?,
            })
        }
        "DeregisterInstance" => Mutation::DeregisterInstance {
            service_id: ServiceId(need("service_id")?),
            instance_id: need("id")?,
        },
        "Fail" => Mutation::Fail {
            error_code: need("error_code")?,
            error_message: need("error_message")?,
        },
        other => return Err(bad("mutation kind", other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_instance() -> Instance {
        Instance {
            id: "i-1".into(),
            service_id: ServiceId("srv-aaaaaaaaaaaaaaaa".into()),
            attributes: [
                ("AWS_INSTANCE_IPV4".to_owned(), "10.0.0.1".to_owned()),
                ("k=v".to_owned(), "a.value".to_owned()),
            ]
            .into_iter()
            .collect(),
            creator_request_id: Some("token".into()),
            create_date: Timestamp(42),
            health: HealthStatus::Unhealthy,
        }
    }

    #[test]
    fn mutations_survive_the_key_value_encoding() {
        let mutations = vec![
            Mutation::RegisterInstance(sample_instance()),
            Mutation::UpdateService {
                service_id: ServiceId("srv-x".into()),
                description: Some("d".into()),
                dns_records: Some(vec![DnsRecord {
                    kind: RecordType::Srv,
                    ttl: 5,
                }]),
                health_check: Some(HealthCheckConfig {
                    kind: HealthCheckType::Http,
                    resource_path: Some("/health".into()),
                    failure_threshold: 3,
                }),
            },
            Mutation::UpdateService {
                service_id: ServiceId("srv-x".into()),
                description: None,
                dns_records: None,
                health_check: None,
            },
            Mutation::UpdateNamespace {
                namespace_id: NamespaceId("ns-x".into()),
                description: None,
                soa_ttl: Some(7),
            },
            Mutation::Fail {
                error_code: "CANNOT_CREATE_HOSTED_ZONE".into(),
                error_message: "The VPC vpc-1 in region us-east-1 has already been associated \
                                with the hosted zone Z1 with the same domain name."
                    .into(),
            },
        ];
        for mutation in mutations {
            assert_eq!(
                decode_mutation(&encode_mutation(&mutation)).unwrap(),
                mutation
            );
        }
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite3");
        {
            let conn = open(Some(&path), Durability::Process).unwrap();
            conn.execute_batch("PRAGMA user_version = 99").unwrap();
        }
        let err = open(Some(&path), Durability::Process).unwrap_err();
        assert!(
            matches!(err, StoreError::NewerSchema { found: 99, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite3");
        std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
        assert!(open(Some(&path), Durability::Process).is_err());
    }
}
