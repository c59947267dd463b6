//! The durable half of the store: a versioned SQLite schema, loading it into a [`Registry`], and
//! writing [`Change`]s. Columns mirror the model; nothing here knows the wire format.

use rusqlite::{Connection, Transaction, params};

use super::StoreError;
use super::registry::{Change, Registry};
use crate::model::{
    DnsConfig, DnsRecord, HealthCheckConfig, HealthCheckType, HealthStatus, Instance, Mutation,
    Namespace, NamespaceId, NamespaceType, Operation, OperationId, OperationStatus, OperationType,
    RecordType, Region, RoutingPolicy, Service, ServiceHealth, ServiceId, ServiceType, Tags,
    Timestamp,
};

/// The schema version this build writes. A file with a newer version is refused, never guessed at.
pub const SCHEMA_VERSION: i64 = 1;

/// Migrations from version N-1 to N, in order; index 0 creates version 1.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE namespaces (
    id TEXT PRIMARY KEY, region TEXT NOT NULL, name TEXT NOT NULL, http_name TEXT NOT NULL,
    type TEXT NOT NULL, description TEXT, vpc TEXT, soa_ttl INTEGER, hosted_zone_id TEXT,
    creator_request_id TEXT, create_ms INTEGER NOT NULL
);
CREATE TABLE services (
    id TEXT PRIMARY KEY, region TEXT NOT NULL, namespace_id TEXT NOT NULL, name TEXT NOT NULL,
    description TEXT, type TEXT NOT NULL, routing_policy TEXT, health_kind TEXT NOT NULL,
    health_path TEXT, health_threshold INTEGER, creator_request_id TEXT,
    create_ms INTEGER NOT NULL, instances_revision INTEGER NOT NULL
);
CREATE TABLE service_dns_records (
    service_id TEXT NOT NULL, ord INTEGER NOT NULL, type TEXT NOT NULL, ttl INTEGER NOT NULL,
    PRIMARY KEY (service_id, ord)
);
CREATE TABLE service_attributes (
    service_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (service_id, key)
);
CREATE TABLE tags (
    resource_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (resource_id, key)
);
CREATE TABLE instances (
    service_id TEXT NOT NULL, id TEXT NOT NULL, creator_request_id TEXT,
    create_ms INTEGER NOT NULL, health TEXT NOT NULL, PRIMARY KEY (service_id, id)
);
CREATE TABLE instance_attributes (
    service_id TEXT NOT NULL, instance_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (service_id, instance_id, key)
);
CREATE TABLE operations (
    id TEXT PRIMARY KEY, region TEXT NOT NULL, type TEXT NOT NULL, status TEXT NOT NULL,
    error_code TEXT, error_message TEXT, create_ms INTEGER NOT NULL, update_ms INTEGER NOT NULL,
    request_token TEXT, namespace_id TEXT, service_id TEXT, instance_id TEXT
);
-- The mutation of an unfinished operation, as ordered key/value pairs (see encode_mutation).
CREATE TABLE operation_mutations (
    operation_id TEXT NOT NULL, seq INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (operation_id, seq)
);
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
    let check: String = conn.query_row("PRAGMA quick_check", [], |row| row.get(0))?;
    if check != "ok" {
        return Err(StoreError::Corrupt(check));
    }
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

pub fn load(conn: &Connection) -> Result<Registry, StoreError> {
    let mut registry = Registry::default();
    let mut tags: std::collections::HashMap<String, Tags> = Default::default();
    {
        let mut stmt = conn.prepare("SELECT resource_id, key, value FROM tags")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            tags.entry(row.get(0)?)
                .or_default()
                .insert(row.get(1)?, row.get(2)?);
        }
    }
    {
        let mut stmt = conn.prepare(
            "SELECT id, region, name, http_name, type, description, vpc, soa_ttl, hosted_zone_id,
                    creator_request_id, create_ms FROM namespaces",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            let kind: String = row.get(4)?;
            let namespace = Namespace {
                id: NamespaceId(id.clone()),
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
                tags: tags.remove(&id).unwrap_or_default(),
            };
            registry.apply(&Change::PutNamespace(namespace));
        }
    }
    let mut records: std::collections::HashMap<String, Vec<DnsRecord>> = Default::default();
    {
        let mut stmt = conn.prepare(
            "SELECT service_id, type, ttl FROM service_dns_records ORDER BY service_id, ord",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let kind: String = row.get(1)?;
            records.entry(row.get(0)?).or_default().push(DnsRecord {
                kind: RecordType::parse(&kind).ok_or_else(|| bad("record type", &kind))?,
                ttl: row.get(2)?,
            });
        }
    }
    let mut service_attributes: std::collections::HashMap<String, Tags> = Default::default();
    {
        let mut stmt = conn.prepare("SELECT service_id, key, value FROM service_attributes")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            service_attributes
                .entry(row.get(0)?)
                .or_default()
                .insert(row.get(1)?, row.get(2)?);
        }
    }
    {
        let mut stmt = conn.prepare(
            "SELECT id, region, namespace_id, name, description, type, routing_policy, health_kind,
                    health_path, health_threshold, creator_request_id, create_ms, instances_revision
             FROM services",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            let kind: String = row.get(5)?;
            let routing: Option<String> = row.get(6)?;
            let health_kind: String = row.get(7)?;
            let dns = match routing {
                Some(policy) => Some(DnsConfig {
                    routing_policy: RoutingPolicy::parse(&policy)
                        .ok_or_else(|| bad("routing policy", &policy))?,
                    records: records.remove(&id).unwrap_or_default(),
                }),
                None => None,
            };
            let health = match health_kind.as_str() {
                "NONE" => ServiceHealth::None,
                "CUSTOM" => ServiceHealth::Custom,
                other => ServiceHealth::Probed(HealthCheckConfig {
                    kind: HealthCheckType::parse(other)
                        .ok_or_else(|| bad("health check", other))?,
                    resource_path: row.get(8)?,
                    failure_threshold: row.get::<_, Option<i64>>(9)?.unwrap_or(1),
                }),
            };
            let service = Service {
                id: ServiceId(id.clone()),
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
                creator_request_id: row.get(10)?,
                create_date: Timestamp(row.get(11)?),
                tags: tags.remove(&id).unwrap_or_default(),
                attributes: service_attributes.remove(&id).unwrap_or_default(),
                instances_revision: row.get(12)?,
            };
            registry.apply(&Change::PutService(service));
        }
    }
    let mut instance_attributes: std::collections::HashMap<(String, String), Tags> =
        Default::default();
    {
        let mut stmt =
            conn.prepare("SELECT service_id, instance_id, key, value FROM instance_attributes")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            instance_attributes
                .entry((row.get(0)?, row.get(1)?))
                .or_default()
                .insert(row.get(2)?, row.get(3)?);
        }
    }
    {
        let mut stmt = conn.prepare(
            "SELECT service_id, id, creator_request_id, create_ms, health FROM instances",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let service_id: String = row.get(0)?;
            let id: String = row.get(1)?;
            let health: String = row.get(4)?;
            let instance = Instance {
                attributes: instance_attributes
                    .remove(&(service_id.clone(), id.clone()))
                    .unwrap_or_default(),
                id,
                service_id: ServiceId(service_id),
                creator_request_id: row.get(2)?,
                create_date: Timestamp(row.get(3)?),
                health: HealthStatus::parse(&health)
                    .ok_or_else(|| bad("health status", &health))?,
            };
            registry.apply(&Change::PutInstance(instance));
        }
    }
    let mut mutations: std::collections::HashMap<String, Vec<(String, String)>> =
        Default::default();
    {
        let mut stmt = conn.prepare(
            "SELECT operation_id, key, value FROM operation_mutations ORDER BY operation_id, seq",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            mutations
                .entry(row.get(0)?)
                .or_default()
                .push((row.get(1)?, row.get(2)?));
        }
    }
    {
        let mut stmt = conn.prepare(
            "SELECT id, region, type, status, error_code, error_message, create_ms, update_ms,
                    request_token, namespace_id, service_id, instance_id FROM operations",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            let kind: String = row.get(2)?;
            let status: String = row.get(3)?;
            let mutation = match mutations.remove(&id) {
                Some(pairs) => Some(decode_mutation(&pairs)?),
                None => None,
            };
            let operation = Operation {
                id: OperationId(id),
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

fn put_tags(txn: &Transaction<'_>, resource: &str, tags: &Tags) -> rusqlite::Result<()> {
    txn.prepare_cached("DELETE FROM tags WHERE resource_id = ?1")?
        .execute([resource])?;
    let mut insert =
        txn.prepare_cached("INSERT INTO tags (resource_id, key, value) VALUES (?1, ?2, ?3)")?;
    for (key, value) in tags {
        insert.execute(params![resource, key, value])?;
    }
    Ok(())
}

pub fn write(txn: &Transaction<'_>, change: &Change) -> rusqlite::Result<()> {
    match change {
        Change::PutNamespace(ns) => {
            txn.prepare_cached(
                "INSERT OR REPLACE INTO namespaces (id, region, name, http_name, type, description,
                     vpc, soa_ttl, hosted_zone_id, creator_request_id, create_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
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
                ns.create_date.0
            ])?;
            put_tags(txn, ns.id.as_str(), &ns.tags)?;
        }
        Change::DeleteNamespace(id) => {
            txn.prepare_cached("DELETE FROM namespaces WHERE id = ?1")?
                .execute([id.as_str()])?;
            txn.prepare_cached("DELETE FROM tags WHERE resource_id = ?1")?
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
            txn.prepare_cached(
                "INSERT OR REPLACE INTO services (id, region, namespace_id, name, description, type,
                     routing_policy, health_kind, health_path, health_threshold, creator_request_id,
                     create_ms, instances_revision)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                service.id.as_str(),
                service.region.as_str(),
                service.namespace_id.as_str(),
                service.name,
                service.description,
                service.kind.as_str(),
                service.dns.as_ref().map(|dns| dns.routing_policy.as_str()),
                health_kind,
                health_path,
                health_threshold,
                service.creator_request_id,
                service.create_date.0,
                service.instances_revision
            ])?;
            let id = service.id.as_str();
            txn.prepare_cached("DELETE FROM service_dns_records WHERE service_id = ?1")?
                .execute([id])?;
            if let Some(dns) = &service.dns {
                let mut insert = txn.prepare_cached(
                    "INSERT INTO service_dns_records (service_id, ord, type, ttl) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for (ord, record) in dns.records.iter().enumerate() {
                    insert.execute(params![id, ord as i64, record.kind.as_str(), record.ttl])?;
                }
            }
            txn.prepare_cached("DELETE FROM service_attributes WHERE service_id = ?1")?
                .execute([id])?;
            let mut insert = txn.prepare_cached(
                "INSERT INTO service_attributes (service_id, key, value) VALUES (?1, ?2, ?3)",
            )?;
            for (key, value) in &service.attributes {
                insert.execute(params![id, key, value])?;
            }
            put_tags(txn, id, &service.tags)?;
        }
        Change::DeleteService(id) => {
            let id = id.as_str();
            for sql in [
                "DELETE FROM services WHERE id = ?1",
                "DELETE FROM service_dns_records WHERE service_id = ?1",
                "DELETE FROM service_attributes WHERE service_id = ?1",
                "DELETE FROM tags WHERE resource_id = ?1",
                "DELETE FROM instances WHERE service_id = ?1",
                "DELETE FROM instance_attributes WHERE service_id = ?1",
            ] {
                txn.prepare_cached(sql)?.execute([id])?;
            }
        }
        Change::PutInstance(instance) => {
            let service = instance.service_id.as_str();
            txn.prepare_cached(
                "INSERT OR REPLACE INTO instances (service_id, id, creator_request_id, create_ms, health)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                service,
                instance.id,
                instance.creator_request_id,
                instance.create_date.0,
                instance.health.as_str()
            ])?;
            txn.prepare_cached(
                "DELETE FROM instance_attributes WHERE service_id = ?1 AND instance_id = ?2",
            )?
            .execute(params![service, instance.id])?;
            let mut insert = txn.prepare_cached(
                "INSERT INTO instance_attributes (service_id, instance_id, key, value) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (key, value) in &instance.attributes {
                insert.execute(params![service, instance.id, key, value])?;
            }
        }
        Change::DeleteInstance {
            service_id,
            instance_id,
        } => {
            for sql in [
                "DELETE FROM instances WHERE service_id = ?1 AND id = ?2",
                "DELETE FROM instance_attributes WHERE service_id = ?1 AND instance_id = ?2",
            ] {
                txn.prepare_cached(sql)?
                    .execute(params![service_id.as_str(), instance_id])?;
            }
        }
        Change::PutOperation(op) => {
            txn.prepare_cached(
                "INSERT OR REPLACE INTO operations (id, region, type, status, error_code, error_message,
                     create_ms, update_ms, request_token, namespace_id, service_id, instance_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
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
                op.instance_id
            ])?;
            txn.prepare_cached("DELETE FROM operation_mutations WHERE operation_id = ?1")?
                .execute([op.id.as_str()])?;
            if let Some(mutation) = &op.mutation {
                let mut insert = txn.prepare_cached(
                    "INSERT INTO operation_mutations (operation_id, seq, key, value) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for (seq, (key, value)) in encode_mutation(mutation).iter().enumerate() {
                    insert.execute(params![op.id.as_str(), seq as i64, key, value])?;
                }
            }
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
