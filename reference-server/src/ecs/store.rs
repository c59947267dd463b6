//! The ECS state: clusters, task definitions, services, tasks and their tags, in memory and in
//! SQLite (`ecs.sqlite3` beside the Cloud Map registry's `state.sqlite3`, or in memory with
//! `--ephemeral`).
//!
//! Every write runs a closure over the current state under one lock, commits the changes it
//! returns in one SQLite transaction and only then applies them in memory and returns, so an
//! acknowledged ECS write survives `kill -9` like a Cloud Map one. ECS writes are rare (API calls
//! and task state transitions, not per-query), so they are committed on the caller's thread
//! instead of through the registry's group-commit writer. Rows are the entities' JSON documents
//! (see `model.rs` for why), keyed by kind and ARN.

use std::collections::BTreeMap;
use std::path::Path;

use parking_lot::Mutex;
use rusqlite::{Connection, params};

use super::model::{Cluster, EcsService, Tag, TaskDefinition, TaskRecord};
use crate::api::error::ApiError;
use crate::store::{Durability, StoreError};

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS ecs_entities (
    kind TEXT NOT NULL,
    arn TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, arn)
) WITHOUT ROWID;";

/// Everything ECS holds, keyed by ARN.
#[derive(Debug, Default, Clone)]
pub struct EcsState {
    pub clusters: BTreeMap<String, Cluster>,
    pub task_definitions: BTreeMap<String, TaskDefinition>,
    pub services: BTreeMap<String, EcsService>,
    pub tasks: BTreeMap<String, TaskRecord>,
    pub tags: BTreeMap<String, Vec<Tag>>,
    /// Identifies this server's containers and networks (labels), stable across restarts of the
    /// same state directory, so that two servers on one Docker engine never sweep each other's.
    pub owner: String,
}

impl EcsState {
    pub fn tags_of(&self, arn: &str) -> Vec<Tag> {
        self.tags.get(arn).cloned().unwrap_or_default()
    }

    /// Tasks that are not STOPPED, of one service.
    pub fn live_tasks_of<'a>(
        &'a self,
        service_arn: &'a str,
    ) -> impl Iterator<Item = &'a TaskRecord> {
        self.tasks.values().filter(move |t| {
            t.state.service_arn.as_deref() == Some(service_arn) && !t.wire.is_stopped()
        })
    }
}

/// One durable change. (A write carries a handful of them for microseconds, so the size of the
/// largest variant does not matter.)
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum EcsChange {
    PutCluster(Cluster),
    PutTaskDefinition(TaskDefinition),
    PutService(EcsService),
    DeleteService(String),
    PutTask(TaskRecord),
    DeleteTask(String),
    PutTags(String, Vec<Tag>),
    /// Forgets everything but the owner (`POST /_reset`).
    Clear,
}

#[derive(Debug)]
pub struct EcsStore {
    state: Mutex<EcsState>,
    db: Mutex<Connection>,
}

impl EcsStore {
    pub fn open(data_dir: Option<&Path>, durability: Durability) -> Result<EcsStore, StoreError> {
        let conn = match data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                    path: dir.to_owned(),
                    source,
                })?;
                let conn = Connection::open(dir.join("ecs.sqlite3"))?;
                let mode: String =
                    conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
                if !mode.eq_ignore_ascii_case("wal") {
                    return Err(StoreError::Corrupt(format!(
                        "could not enable WAL mode (got {mode})"
                    )));
                }
                conn
            }
            None => Connection::open_in_memory()?,
        };
        let sync = match durability {
            Durability::Process => "NORMAL",
            Durability::Power => "FULL",
        };
        conn.execute_batch(&format!("PRAGMA synchronous={sync};"))?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version < SCHEMA_VERSION {
            conn.execute_batch(&format!(
                "BEGIN; {SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
            ))?;
        }
        let mut state = load(&conn)?;
        if state.owner.is_empty() {
            state.owner = super::ids::owner_id();
            conn.execute(
                "INSERT OR REPLACE INTO ecs_entities (kind, arn, body) VALUES ('meta', 'owner', ?1)",
                params![state.owner],
            )?;
        }
        Ok(EcsStore {
            state: Mutex::new(state),
            db: Mutex::new(conn),
        })
    }

    /// Reads under the lock; `f` must not block.
    pub fn read<T>(&self, f: impl FnOnce(&EcsState) -> T) -> T {
        f(&self.state.lock())
    }

    /// Decides and commits one write: `f` sees the current state and returns the caller's value
    /// and the changes; they are durable before this returns.
    pub fn write<T>(
        &self,
        f: impl FnOnce(&EcsState) -> Result<(T, Vec<EcsChange>), ApiError>,
    ) -> Result<T, ApiError> {
        let mut state = self.state.lock();
        let (value, changes) = f(&state)?;
        if changes.is_empty() {
            return Ok(value);
        }
        self.commit(&changes).map_err(|error| {
            ApiError::internal(format!("the ECS state could not be committed: {error}"))
        })?;
        for change in changes {
            apply(&mut state, change);
        }
        Ok(value)
    }

    fn commit(&self, changes: &[EcsChange]) -> Result<(), StoreError> {
        let mut db = self.db.lock();
        let tx = db.transaction()?;
        {
            let mut put = tx.prepare_cached(
                "INSERT OR REPLACE INTO ecs_entities (kind, arn, body) VALUES (?1, ?2, ?3)",
            )?;
            let mut delete =
                tx.prepare_cached("DELETE FROM ecs_entities WHERE kind = ?1 AND arn = ?2")?;
            for change in changes {
                match change {
                    EcsChange::PutCluster(c) => {
                        put.execute(params!["cluster", c.cluster_arn, json(c)?])?;
                    }
                    EcsChange::PutTaskDefinition(d) => {
                        put.execute(params!["task-definition", d.task_definition_arn, json(d)?])?;
                    }
                    EcsChange::PutService(s) => {
                        put.execute(params!["service", s.service_arn, json(s)?])?;
                    }
                    EcsChange::DeleteService(arn) => {
                        delete.execute(params!["service", arn])?;
                        delete.execute(params!["tags", arn])?;
                    }
                    EcsChange::PutTask(t) => {
                        put.execute(params!["task", t.wire.task_arn, json(t)?])?;
                    }
                    EcsChange::DeleteTask(arn) => {
                        delete.execute(params!["task", arn])?;
                        delete.execute(params!["tags", arn])?;
                    }
                    EcsChange::PutTags(arn, tags) => {
                        if tags.is_empty() {
                            delete.execute(params!["tags", arn])?;
                        } else {
                            put.execute(params!["tags", arn, json(tags)?])?;
                        }
                    }
                    EcsChange::Clear => {
                        tx.execute("DELETE FROM ecs_entities WHERE kind != 'meta'", [])?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn apply(state: &mut EcsState, change: EcsChange) {
    match change {
        EcsChange::PutCluster(c) => {
            state.clusters.insert(c.cluster_arn.clone(), c);
        }
        EcsChange::PutTaskDefinition(d) => {
            state
                .task_definitions
                .insert(d.task_definition_arn.clone(), d);
        }
        EcsChange::PutService(s) => {
            state.services.insert(s.service_arn.clone(), s);
        }
        EcsChange::DeleteService(arn) => {
            state.services.remove(&arn);
            state.tags.remove(&arn);
        }
        EcsChange::PutTask(t) => {
            state.tasks.insert(t.wire.task_arn.clone(), t);
        }
        EcsChange::DeleteTask(arn) => {
            state.tasks.remove(&arn);
            state.tags.remove(&arn);
        }
        EcsChange::PutTags(arn, tags) => {
            if tags.is_empty() {
                state.tags.remove(&arn);
            } else {
                state.tags.insert(arn, tags);
            }
        }
        EcsChange::Clear => {
            *state = EcsState {
                owner: std::mem::take(&mut state.owner),
                ..EcsState::default()
            };
        }
    }
}

fn load(conn: &Connection) -> Result<EcsState, StoreError> {
    fn decode<T: serde::de::DeserializeOwned>(
        kind: &str,
        arn: &str,
        body: &str,
    ) -> Result<T, StoreError> {
        serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("{kind} {arn}: {e}")))
    }
    let mut state = EcsState::default();
    let mut statement = conn.prepare("SELECT kind, arn, body FROM ecs_entities")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let kind: String = row.get(0)?;
        let arn: String = row.get(1)?;
        let body: String = row.get(2)?;
        match kind.as_str() {
            "cluster" => {
                state
                    .clusters
                    .insert(arn.clone(), decode(&kind, &arn, &body)?);
            }
            "task-definition" => {
                state
                    .task_definitions
                    .insert(arn.clone(), decode(&kind, &arn, &body)?);
            }
            "service" => {
                state
                    .services
                    .insert(arn.clone(), decode(&kind, &arn, &body)?);
            }
            "task" => {
                state.tasks.insert(arn.clone(), decode(&kind, &arn, &body)?);
            }
            "tags" => {
                state.tags.insert(arn.clone(), decode(&kind, &arn, &body)?);
            }
            "meta" if arn == "owner" => state.owner = body,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unknown ECS entity kind {other:?} in the database"
                )));
            }
        }
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::model::ACTIVE;

    fn cluster(name: &str) -> Cluster {
        Cluster {
            cluster_arn: format!("arn:aws:ecs:us-east-1:123456789012:cluster/{name}"),
            cluster_name: name.to_owned(),
            status: ACTIVE.to_owned(),
            settings: Vec::new(),
            configuration: None,
            capacity_providers: Vec::new(),
            default_capacity_provider_strategy: Vec::new(),
            region: "us-east-1".to_owned(),
        }
    }

    #[test]
    fn writes_survive_reopening_and_the_owner_is_stable() {
        let dir = tempfile::tempdir().unwrap();
        let owner = {
            let store = EcsStore::open(Some(dir.path()), Durability::Process).unwrap();
            store
                .write(|_| {
                    Ok((
                        (),
                        vec![
                            EcsChange::PutCluster(cluster("a")),
                            EcsChange::PutCluster(cluster("b")),
                        ],
                    ))
                })
                .unwrap();
            store
                .write(|_| {
                    Ok((
                        (),
                        vec![EcsChange::PutTags(
                            "arn:x".into(),
                            vec![Tag {
                                key: "k".into(),
                                value: "v".into(),
                            }],
                        )],
                    ))
                })
                .unwrap();
            store.read(|s| s.owner.clone())
        };
        let store = EcsStore::open(Some(dir.path()), Durability::Process).unwrap();
        store.read(|s| {
            assert_eq!(s.owner, owner);
            assert_eq!(s.clusters.len(), 2);
            assert_eq!(s.tags_of("arn:x")[0].value, "v");
        });
    }

    #[test]
    fn a_rejected_write_changes_nothing() {
        let store = EcsStore::open(None, Durability::Process).unwrap();
        let result: Result<(), ApiError> =
            store.write(|_| Err(ApiError::new("ClientException", "no")));
        assert_eq!(result.unwrap_err().code, "ClientException");
        assert!(store.read(|s| s.clusters.is_empty()));
    }

    #[test]
    fn an_unknown_row_kind_is_reported_as_corruption() {
        let dir = tempfile::tempdir().unwrap();
        drop(EcsStore::open(Some(dir.path()), Durability::Process).unwrap());
        let conn = Connection::open(dir.path().join("ecs.sqlite3")).unwrap();
        conn.execute("INSERT INTO ecs_entities VALUES ('bogus', 'x', '{}')", [])
            .unwrap();
        drop(conn);
        let error = EcsStore::open(Some(dir.path()), Durability::Process).unwrap_err();
        assert!(error.to_string().contains("bogus"), "{error}");
    }
}
