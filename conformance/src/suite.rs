//! Running scenario files against a target with its expectations: what `cargo test -p
//! conformance` and `conformance run` share.
//!
//! Expectations (`conformance/expectations/<target>.yaml`) list the scenarios a target is known to
//! fail, each with a reason. They ratchet: a listed scenario that passes fails the run until it is
//! removed from the list, so the list only ever shrinks to the truth.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::runner::{Outcome, Runner};
use crate::scenario::{self, Capability};
use crate::target::Target;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownFailure {
    pub scenario: String,
    pub reason: String,
}

pub fn load_expectations(path: &Path) -> anyhow::Result<Vec<KnownFailure>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(path)?;
    let document: serde_norway::Value = serde_norway::from_str(&text)?;
    if document.is_null() {
        return Ok(Vec::new());
    }
    let mut known: Vec<KnownFailure> = serde_json::from_value(serde_json::to_value(document)?)?;
    for entry in &mut known {
        entry.reason = entry.reason.trim().to_owned();
    }
    Ok(known)
}

/// How one scenario ended on one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Verdict {
    Passed,
    Failed {
        message: String,
    },
    Skipped {
        reason: String,
    },
    /// Failed, as its expectations entry says it does.
    KnownFailure {
        reason: String,
        message: String,
    },
    /// Passed although listed as a known failure: the entry must go (the ratchet).
    UnexpectedPass {
        reason: String,
    },
}

impl Verdict {
    pub fn is_ok(&self) -> bool {
        matches!(
            self,
            Verdict::Passed | Verdict::Skipped { .. } | Verdict::KnownFailure { .. }
        )
    }

    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Passed => "pass",
            Verdict::Failed { .. } => "FAIL",
            Verdict::Skipped { .. } => "skip",
            Verdict::KnownFailure { .. } => "known",
            Verdict::UnexpectedPass { .. } => "FIXED?",
        }
    }
}

/// A scenario file and its name (its path below `scenarios/`, without extension).
#[derive(Debug, Clone)]
pub struct ScenarioFile {
    pub name: String,
    pub path: PathBuf,
}

static REFERENCED: std::sync::Mutex<std::collections::BTreeSet<PathBuf>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Records that a run used this snapshot file.
pub fn note_snapshot(path: &Path) {
    if let Ok(mut referenced) = REFERENCED.lock() {
        referenced.insert(path.to_path_buf());
    }
}

/// Snapshot files under `root` that no scenario of this run used (meaningful after a full run).
pub fn unreferenced_snapshots(root: &Path) -> Vec<PathBuf> {
    let files = files_below(root, &["snap"]);
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let referenced: std::collections::BTreeSet<PathBuf> = REFERENCED
        .lock()
        .map(|set| set.iter().map(|p| canonical(p)).collect())
        .unwrap_or_default();
    files
        .into_iter()
        .filter(|file| !referenced.contains(&canonical(file)))
        .collect()
}

/// This crate's directory: cargo's run-time `CARGO_MANIFEST_DIR` (right even when the build was
/// reused from another checkout through a shared target directory), else the compile-time one.
fn crate_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

pub fn scenarios_root() -> PathBuf {
    crate_dir().join("../scenarios")
}

pub fn expectations_path(target: &str) -> PathBuf {
    crate_dir()
        .join("expectations")
        .join(format!("{target}.yaml"))
}

/// Files below `root` with one of `extensions`, in path order.
fn files_below(root: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    fn walk(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            if path.is_dir() {
                walk(&path, extensions, out);
            } else if path
                .extension()
                .is_some_and(|e| extensions.iter().any(|x| e == *x))
            {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, extensions, &mut out);
    out
}

pub fn discover(root: &Path) -> Vec<ScenarioFile> {
    files_below(root, &["yaml", "yml"])
        .into_iter()
        .map(|path| ScenarioFile {
            name: path
                .strip_prefix(root)
                .unwrap_or(&path)
                .with_extension("")
                .display()
                .to_string(),
            path,
        })
        .collect()
}

/// The capabilities a target will declare, known before any server starts.
pub fn declared_capabilities(kind: &str) -> anyhow::Result<Vec<Capability>> {
    match kind {
        "reference" => Ok(crate::target::reference_capabilities()),
        "k3s" => Ok(crate::target::K3S_CAPABILITIES.to_vec()),
        "reference-strict" => Ok(crate::target::STRICT_CAPABILITIES.to_vec()),
        _ => crate::target::endpoint_capabilities(),
    }
}

/// Whether every scenario of a run shares one target (an endpoint, the k3s cluster) rather than
/// getting a server of its own.
pub fn shared(kind: &str) -> bool {
    !matches!(kind, "reference" | "reference-strict")
}

/// On a shared target, scenarios run side by side (they name what they create with
/// `${unique}`), except an `exclusive` one, which takes this for writing and runs alone.
static SHARED_TARGET: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Runs one scenario file on a fresh target (a new reference server, or the endpoint) and judges
/// the result against the known failures.
pub async fn run_file(
    file: &ScenarioFile,
    known: &[KnownFailure],
    kind: &str,
    name: &str,
) -> Verdict {
    let known = known.iter().find(|k| k.scenario == file.name);
    if kind == "k3s"
        && let Some(reason) = crate::k3s::unavailable()
    {
        return Verdict::Skipped {
            reason: format!("k3s target unavailable: {reason}"),
        };
    }
    let scenario = match scenario::load(&file.path) {
        Ok(scenario) => scenario,
        Err(error) => return judge(Err(format!("{error:#}")), known),
    };
    let (kind, name) = (kind.to_owned(), name.to_owned());
    let file_path = file.path.clone();
    let outcome = async move {
        // Held while the scenario runs.
        let shared = shared(&kind);
        let exclusive = scenario.exclusive.is_some();
        let _alone = if shared && exclusive {
            Some(SHARED_TARGET.write().await)
        } else {
            None
        };
        let _beside_others = if shared && !exclusive {
            Some(SHARED_TARGET.read().await)
        } else {
            None
        };
        let target = Target::open(&kind, &name)?;
        let snapshots = file_path.parent().map(|dir| {
            (
                dir.join("snapshots"),
                file_path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            )
        });
        // Snapshots record AWS behaviour; only the reference target is compared with them (another
        // target's divergences belong in its expectations, not in snapshots of its own).
        let snapshots = if target.name == "reference" {
            snapshots
        } else {
            None
        };
        Runner::new(&target, snapshots).run(&scenario).await
    };
    // A panic in the scenario (a bug of the suite) is a failure of this scenario, not of the run.
    let result = match tokio::task::spawn(outcome).await {
        Ok(result) => result.map_err(|e| format!("{e:#}")),
        Err(join) => Err(format!("panicked: {join}")),
    };
    judge(result, known)
}

/// A scenario's outcome (or failure message) judged against its expectations entry, if any.
pub fn judge(result: Result<Outcome, String>, known: Option<&KnownFailure>) -> Verdict {
    match (result, known) {
        (Ok(Outcome::Skipped(reason)), _) => Verdict::Skipped { reason },
        (Ok(Outcome::Passed), None) => Verdict::Passed,
        (Ok(Outcome::Passed), Some(known)) => Verdict::UnexpectedPass {
            reason: known.reason.clone(),
        },
        (Err(message), None) => Verdict::Failed { message },
        (Err(message), Some(known)) => Verdict::KnownFailure {
            reason: known.reason.clone(),
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed() -> KnownFailure {
        KnownFailure {
            scenario: "x".to_owned(),
            reason: "listed on purpose".to_owned(),
        }
    }

    #[test]
    fn the_ratchet_fails_a_listed_scenario_that_passes() {
        let verdict = judge(Ok(Outcome::Passed), Some(&listed()));
        assert!(
            matches!(verdict, Verdict::UnexpectedPass { .. }) && !verdict.is_ok(),
            "an unexpected pass fails the run until the entry goes: {verdict:?}"
        );
        let verdict = judge(Err("boom".to_owned()), Some(&listed()));
        assert!(
            matches!(verdict, Verdict::KnownFailure { .. }) && verdict.is_ok(),
            "{verdict:?}"
        );
        let verdict = judge(Err("boom".to_owned()), None);
        assert!(
            matches!(verdict, Verdict::Failed { .. }) && !verdict.is_ok(),
            "{verdict:?}"
        );
        assert_eq!(judge(Ok(Outcome::Passed), None), Verdict::Passed);
        let verdict = judge(Ok(Outcome::Skipped("no dns".to_owned())), Some(&listed()));
        assert!(matches!(verdict, Verdict::Skipped { .. }), "{verdict:?}");
    }

    #[test]
    fn expectations_files_reject_unknown_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.yaml");
        std::fs::write(&path, "- scenario: a\n  reason: b\n").unwrap();
        assert_eq!(load_expectations(&path).unwrap().len(), 1);
        std::fs::write(&path, "- scenario: a\n  reasn: typo\n").unwrap();
        assert!(load_expectations(&path).is_err());
        assert!(
            load_expectations(&dir.path().join("absent.yaml"))
                .unwrap()
                .is_empty()
        );
    }
}
