//! The registry store: in-memory indexes for reads, a SQLite log for durability.
//!
//! Writes are closures run one at a time on a dedicated writer thread against the current
//! [`Registry`]; each returns the [`Change`]s it wants. The writer groups whatever jobs are
//! queued into one SQLite transaction (group commit), applies the changes in memory, commits, and
//! only then answers the callers — so an acknowledged write is always on disk (invariant 3), and
//! a reader never sees a write that has not been committed (the write lock is held until commit).

mod codec;
mod lock;
pub mod registry;
pub mod sqlite;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;

use parking_lot::{RwLock, RwLockReadGuard};
use tokio::sync::oneshot;

pub use lock::DataDirLock;
pub use registry::{Change, Registry, RegistrySizes};
pub use sqlite::Durability;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "the state file uses schema version {found}, newer than this server supports ({supported}); \
         use a newer reference-server or another --data-dir"
    )]
    NewerSchema { found: i64, supported: i64 },
    #[error("the state file is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the data directory {path} is in use by another reference-server (PID {holder}); stop \
         that server or give this one another --data-dir (or --ephemeral)"
    )]
    Locked { path: PathBuf, holder: String },
    #[error("the store's writer has stopped")]
    WriterGone,
}

/// What a write closure decided: a value for the caller and the changes to make durable.
pub type Decision<T> = (T, Vec<Change>);

/// A write whose closure rejected the request (`Rejected`) or whose commit failed (`Store`).
#[derive(Debug)]
pub enum WriteError<E> {
    Rejected(E),
    Store(StoreError),
}

type Completion = Box<dyn FnOnce(Result<(), Arc<StoreError>>) + Send>;
type Job = Box<dyn FnOnce(&Registry) -> Option<(Vec<Change>, Completion)> + Send>;

/// Something that keeps its own view of the registry in step with every commit (the DNS index,
/// the health checker). It is called on the writer thread, after the commit and before the write
/// lock is released: by the time a write is acknowledged, every follower has seen it.
pub trait Follower: Send + Sync {
    /// Rebuilds everything from the registry (at registration).
    fn rebuild(&self, registry: &Registry);
    /// Applies one committed batch; `registry` already contains it.
    fn apply(&self, registry: &Registry, changes: &[Change]);
}

/// The most jobs one transaction takes, so that one commit never holds readers up for long.
const MAX_BATCH: usize = 1024;

/// A cheap, cloneable handle on the registry.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

type Followers = Arc<parking_lot::Mutex<Vec<Arc<dyn Follower>>>>;

struct Shared {
    registry: Arc<RwLock<Registry>>,
    followers: Followers,
    jobs: mpsc::Sender<Job>,
}

impl Store {
    /// Opens (creating and migrating if needed) `data_dir/state.sqlite3`, or an in-memory
    /// database when `data_dir` is `None`, and loads it.
    pub fn open(data_dir: Option<&Path>, durability: Durability) -> Result<Store, StoreError> {
        let path = match data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                    path: dir.to_owned(),
                    source,
                })?;
                Some(dir.join("state.sqlite3"))
            }
            None => None,
        };
        let conn = sqlite::open(path.as_deref(), durability)?;
        let checkpoint = match &path {
            Some(path) => Some(spawn_checkpointer(path, durability)?),
            None => None,
        };
        let registry = Arc::new(RwLock::new(sqlite::load(&conn)?));
        let (jobs, receiver) = mpsc::channel::<Job>();
        let followers: Followers = Arc::default();
        let writer = Writer {
            registry: Arc::clone(&registry),
            followers: Arc::clone(&followers),
            checkpoint,
        };
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(conn, receiver))
            .map_err(|source| StoreError::DataDir {
                path: PathBuf::from("<writer thread>"),
                source,
            })?;
        Ok(Store {
            shared: Arc::new(Shared {
                registry,
                followers,
                jobs,
            }),
        })
    }

    /// A consistent read view. Hold it briefly and never across an `.await`.
    pub fn read(&self) -> RwLockReadGuard<'_, Registry> {
        self.shared.registry.read()
    }

    /// Adds a follower: it is rebuilt from the current registry, then sees every later commit.
    pub fn follow(&self, follower: Arc<dyn Follower>) {
        // The write lock keeps the writer from committing between the rebuild and registration.
        let registry = self.shared.registry.write();
        follower.rebuild(&registry);
        self.shared.followers.lock().push(follower);
        drop(registry);
    }

    /// Runs `decide` on the writer thread against the current registry; if it returns changes,
    /// they are committed before this future resolves.
    pub async fn write<T, E, F>(&self, decide: F) -> Result<T, WriteError<E>>
    where
        F: FnOnce(&Registry) -> Result<Decision<T>, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<T, WriteError<E>>>();
        let job: Job = Box::new(move |registry: &Registry| match decide(registry) {
            Ok((value, changes)) => {
                let complete: Completion = Box::new(move |committed| {
                    let result = match committed {
                        Ok(()) => Ok(value),
                        Err(error) => {
                            Err(WriteError::Store(StoreError::Corrupt(error.to_string())))
                        }
                    };
                    // The caller may have gone away (client disconnected); the write still stands.
                    let _ = reply.send(result);
                });
                Some((changes, complete))
            }
            Err(rejection) => {
                let _ = reply.send(Err(WriteError::Rejected(rejection)));
                None
            }
        });
        self.shared
            .jobs
            .send(job)
            .map_err(|_| WriteError::Store(StoreError::WriterGone))?;
        answer
            .await
            .unwrap_or(Err(WriteError::Store(StoreError::WriterGone)))
    }
}

struct Writer {
    registry: Arc<RwLock<Registry>>,
    followers: Followers,
    /// Tells the checkpointer there is new WAL to fold into the database file.
    checkpoint: Option<mpsc::SyncSender<()>>,
}

/// How often, at most, the WAL is checkpointed into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Checkpoints run on their own thread and connection (PASSIVE: they never block the writer), so
/// the fsyncs they do stay off the commit path; the writer only appends to the WAL.
fn spawn_checkpointer(
    path: &Path,
    durability: Durability,
) -> Result<mpsc::SyncSender<()>, StoreError> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Process durability needs committed data in the OS's hands, not on the platter: copying the
    // WAL into the database file then needs no fsync (whose stalls would reach the writer through
    // the file system's journal). Power durability fsyncs as SQLite does.
    if durability == Durability::Process {
        conn.execute_batch("PRAGMA synchronous=OFF;")?;
    }
    let (tick, ticks) = mpsc::sync_channel::<()>(1);
    let checkpoint = move |conn: &rusqlite::Connection| {
        if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(%error, "WAL checkpoint failed; it is retried");
        }
    };
    std::thread::Builder::new()
        .name("store-checkpoint".into())
        .spawn(move || {
            let mut dirty = false;
            let mut last = std::time::Instant::now();
            loop {
                match ticks.recv_timeout(CHECKPOINT_EVERY) {
                    Ok(()) => dirty = true,
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        if dirty {
                            checkpoint(&conn);
                        }
                        return;
                    }
                }
                if dirty && last.elapsed() >= CHECKPOINT_EVERY {
                    checkpoint(&conn);
                    dirty = false;
                    last = std::time::Instant::now();
                }
            }
        })
        .map_err(|source| StoreError::DataDir {
            path: PathBuf::from("<checkpoint thread>"),
            source,
        })?;
    Ok(tick)
}

impl Writer {
    fn run(self, mut conn: rusqlite::Connection, jobs: mpsc::Receiver<Job>) {
        while let Ok(first) = jobs.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.commit_batch(&mut conn, batch);
        }
    }

    fn commit_batch(&self, conn: &mut rusqlite::Connection, batch: Vec<Job>) {
        let mut guard = self.registry.write();
        let mut completions: Vec<Completion> = Vec::with_capacity(batch.len());
        let mut committed: Vec<Change> = Vec::new();
        let outcome = (|| -> Result<(), StoreError> {
            let txn = conn.transaction()?;
            for job in batch {
                // A panicking closure (a bug) fails its own request — its reply channel is
                // dropped — and must not take the writer, and so every later write, down with it.
                let decided =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&guard)));
                let decided = decided.unwrap_or_else(|_| {
                    tracing::error!("a write closure panicked; its request fails");
                    None
                });
                if let Some((changes, complete)) = decided {
                    for change in &changes {
                        sqlite::write(&txn, change)?;
                        guard.apply(change);
                    }
                    committed.extend(changes);
                    completions.push(complete);
                }
            }
            txn.commit()?;
            Ok(())
        })();
        match outcome {
            Ok(()) => {
                if !committed.is_empty() {
                    if let Some(tick) = &self.checkpoint {
                        let _ = tick.try_send(());
                    }
                    for follower in self.followers.lock().iter() {
                        follower.apply(&guard, &committed);
                    }
                }
                drop(guard);
                for complete in completions {
                    complete(Ok(()));
                }
            }
            Err(error) => {
                // The transaction rolled back; memory may hold part of it, so rebuild memory (and
                // the followers) from the database, which is the truth, and fail the whole batch.
                tracing::error!(%error, "store commit failed; reloading the registry from disk");
                match sqlite::load(conn) {
                    Ok(fresh) => *guard = fresh,
                    Err(reload) => tracing::error!(%reload, "reloading the registry failed"),
                }
                for follower in self.followers.lock().iter() {
                    follower.rebuild(&guard);
                }
                drop(guard);
                let error = Arc::new(error);
                for complete in completions {
                    complete(Err(Arc::clone(&error)));
                }
            }
        }
    }
}
