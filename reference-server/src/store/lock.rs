//! The data directory's lock: one server per `--data-dir`. Two servers on one directory would not
//! see each other's writes and would fight over each other's ECS tasks, so the second refuses to
//! start, naming the directory and the holder's PID.
//!
//! The lock is an exclusive `flock` on `<data-dir>/lock`, held for the life of the server. The
//! kernel releases it when the holder's process ends in any way, `kill -9` included, so a stale
//! lock file never blocks a restart; the PID written into the file is only there to name the
//! holder in the error.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use super::StoreError;

/// Held while the server runs; dropping it (or the process ending) releases the directory.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Takes the lock of `dir` (creating the directory if needed), or says who holds it.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, StoreError> {
        let data_dir = |source| StoreError::DataDir {
            path: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(data_dir)?;
        let path = dir.join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(data_dir)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(StoreError::Locked {
                    path: dir.to_owned(),
                    holder: holder.trim().to_owned(),
                });
            }
            Err(TryLockError::Error(source)) => return Err(data_dir(source)),
        }
        file.set_len(0).map_err(data_dir)?;
        file.rewind().map_err(data_dir)?;
        writeln!(file, "{}", std::process::id()).map_err(data_dir)?;
        Ok(DataDirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_directory_is_refused_with_the_holders_pid_and_free_again_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        let refused = DataDirLock::acquire(dir.path()).unwrap_err();
        let message = refused.to_string();
        assert!(
            message.contains(&dir.path().display().to_string())
                && message.contains(&format!("PID {}", std::process::id())),
            "{message}"
        );
        drop(first);
        let again = DataDirLock::acquire(dir.path());
        assert!(again.is_ok(), "{again:?}");
    }
}
