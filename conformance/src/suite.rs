//! Running scenario files against a target with its expectations: what `cargo test -p
//! conformance` and `conformance run` share.
//!
//! Every assertion is a check with a stable id (`check.rs`). Expectations
//! (`conformance/expectations/<target>.yaml`) list the checks a target is known to fail, by id,
//! grouped under a reason; an id ending in `*` covers every check it begins. They ratchet: a
//! listed id that passes — or, for the `*` ids of one reason, once nothing under any of them
//! fails — fails the run until it is removed, and so does a listed id the scenario no longer
//! makes, so the list only ever shrinks to the truth.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::check::{Check, Status};
use crate::runner::{Plan, Run, Runner};
use crate::scenario::{self, Capability};
use crate::target::Target;

/// Checks a target is known to fail, for one reason.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownFailure {
    pub reason: String,
    pub checks: Vec<String>,
}

impl KnownFailure {
    fn covers(&self, id: &str) -> bool {
        self.checks.iter().any(|listed| covers(listed, id))
    }
}

fn covers(listed: &str, id: &str) -> bool {
    match listed.strip_suffix('*') {
        Some(prefix) => id.starts_with(prefix),
        None => listed == id,
    }
}

/// The scenario a check id (or listed pattern) belongs to.
pub fn scenario_of(id: &str) -> &str {
    id.split('#').next().unwrap_or(id)
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
        entry.reason = entry
            .reason
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(bad) = entry.checks.iter().find(|c| !c.contains('#')) {
            anyhow::bail!(
                "{}: {bad:?} is not a check id (<scenario>#<step>.<part>…)",
                path.display()
            );
        }
        // `s1*` would also cover s10–s19: a pattern ends at a member boundary.
        if let Some(bad) = entry
            .checks
            .iter()
            .find(|c| c.ends_with('*') && !c.ends_with(".*"))
        {
            anyhow::bail!(
                "{}: {bad:?}: a pattern ends in .* (all the members below a path)",
                path.display()
            );
        }
    }
    Ok(known)
}

/// How one check ended on one target, judged against the expectations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum CheckResult {
    Passed,
    Failed {
        message: String,
    },
    /// Failed, as the expectations say it does.
    Known {
        reason: String,
        message: String,
    },
    /// Passed although listed as a known failure: the entry must go (the ratchet).
    Fixed {
        reason: String,
    },
    /// Listed in the expectations, but the scenario makes no such check (or nothing under a `*`
    /// entry fails): the entry must go.
    Stale {
        reason: String,
    },
    /// Not judged: the check it depends on failed.
    Blocked {
        by: String,
    },
    Skipped {
        reason: String,
    },
}

impl CheckResult {
    /// Whether it lets the run pass.
    pub fn is_ok(&self) -> bool {
        !matches!(
            self,
            CheckResult::Failed { .. } | CheckResult::Fixed { .. } | CheckResult::Stale { .. }
        )
    }

    pub fn label(&self) -> &'static str {
        match self {
            CheckResult::Passed => "pass",
            CheckResult::Failed { .. } => "FAIL",
            CheckResult::Known { .. } => "known",
            CheckResult::Fixed { .. } => "FIXED?",
            CheckResult::Stale { .. } => "STALE",
            CheckResult::Blocked { .. } => "blocked",
            CheckResult::Skipped { .. } => "skip",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckVerdict {
    pub id: String,
    pub area: String,
    #[serde(flatten)]
    pub result: CheckResult,
}

/// How one scenario ended on one target: the sum of its checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Verdict {
    Passed,
    /// Some check failed unexpectedly, passed although listed, or is listed but gone.
    Failed {
        message: String,
    },
    Skipped {
        reason: String,
    },
    /// Every check passed, was a listed divergence, or was blocked by one.
    KnownFailure {
        reason: String,
        message: String,
    },
}

impl Verdict {
    pub fn is_ok(&self) -> bool {
        !matches!(self, Verdict::Failed { .. })
    }

    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Passed => "pass",
            Verdict::Failed { .. } => "FAIL",
            Verdict::Skipped { .. } => "skip",
            Verdict::KnownFailure { .. } => "known",
        }
    }
}

/// A scenario's verdict and its checks'.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub verdict: Verdict,
    pub checks: Vec<CheckVerdict>,
}

/// The part of the matrix a check counts in: by the scenario's directory, except that a DNS
/// step's checks count as DNS wherever they are (but in the docs' example).
pub fn area(scenario: &str, kind: &str) -> &'static str {
    let example =
        scenario.starts_with("examples/") || scenario.starts_with("servicediscovery/docs/");
    if example {
        return AREAS[8];
    }
    if kind == "dns" {
        return AREAS[5];
    }
    let directory = scenario.split('/').nth(1).unwrap_or_default();
    // The replays of observed AWS output count where what they replay belongs.
    if directory == "observed" {
        return match scenario.rsplit('/').next().unwrap_or_default() {
            "namespaces" => AREAS[1],
            "services" | "tags" => AREAS[2],
            "instances" => AREAS[3],
            "operations" => AREAS[4],
            _ => AREAS[0],
        };
    }
    match (scenario.split('/').next().unwrap_or_default(), directory) {
        ("servicediscovery", "protocol") => AREAS[0],
        ("servicediscovery", "namespaces") => AREAS[1],
        ("servicediscovery", "services") => AREAS[2],
        ("servicediscovery", "instances" | "discovery") => AREAS[3],
        ("servicediscovery", "operations") => AREAS[4],
        ("servicediscovery", "dns") => AREAS[5],
        ("servicediscovery", "health") => AREAS[6],
        ("ecs", _) => AREAS[7],
        _ => "other",
    }
}

/// The matrix's areas, in its order.
pub const AREAS: [&str; 9] = [
    "protocol and errors",
    "namespaces",
    "services",
    "instances and discovery",
    "operations",
    "DNS",
    "health",
    "ECS",
    "the docs' example",
];

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

/// Listed check ids whose scenario is not among `files` (renamed or removed): each fails a full
/// run, since the ratchet cannot see them otherwise.
pub fn unknown_scenarios(known: &[KnownFailure], files: &[ScenarioFile]) -> Vec<String> {
    known
        .iter()
        .flat_map(|k| &k.checks)
        .filter(|id| !files.iter().any(|f| f.name == scenario_of(id)))
        .cloned()
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
/// its checks against the known failures.
pub async fn run_file(
    file: &ScenarioFile,
    known: &[KnownFailure],
    kind: &str,
    name: &str,
) -> ScenarioResult {
    if kind == "k3s"
        && let Some(reason) = crate::k3s::unavailable()
    {
        let reason = format!("k3s target unavailable: {reason}");
        let planned = scenario::load(&file.path).map(|scenario| {
            Plan::new(&file.name, &file.path).planned(&scenario, &Status::Skipped(reason.clone()))
        });
        return judge(
            &file.name,
            Ok(Run {
                skipped: Some(reason),
                checks: planned.unwrap_or_default(),
            }),
            known,
        );
    }
    let scenario = match scenario::load(&file.path) {
        Ok(scenario) => scenario,
        Err(error) => return judge(&file.name, Err(format!("{error:#}")), known),
    };
    let (kind, name) = (kind.to_owned(), name.to_owned());
    let (file_path, scenario_name) = (file.path.clone(), file.name.clone());
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
        // Snapshots are the recorded AWS behaviour, compared on every target; the reference
        // target records them (insta offers new and changed ones for review).
        let record = target.name == "reference";
        anyhow::Ok(
            Runner::new(&target, Plan::new(&scenario_name, &file_path), record)
                .run(&scenario)
                .await,
        )
    };
    // A panic in the scenario (a bug of the suite) is a failure of this scenario, not of the run.
    let result = match tokio::task::spawn(outcome).await {
        Ok(result) => result.map_err(|e| format!("{e:#}")),
        Err(join) => Err(format!("panicked: {join}")),
    };
    judge(&file.name, result, known)
}

/// A scenario's checks (or the failure that kept it from running) judged against the
/// expectations.
pub fn judge(scenario: &str, run: Result<Run, String>, known: &[KnownFailure]) -> ScenarioResult {
    let known: Vec<&KnownFailure> = known
        .iter()
        .filter(|k| k.checks.iter().any(|c| scenario_of(c) == scenario))
        .collect();
    let run = run.unwrap_or_else(|message| Run {
        skipped: None,
        checks: vec![Check {
            id: format!("{scenario}#run"),
            kind: "scenario",
            status: Status::Fail(message),
        }],
    });
    let listed = |id: &str| {
        known
            .iter()
            .find(|k| k.covers(id))
            .map(|k| k.reason.clone())
    };
    let mut checks: Vec<CheckVerdict> = run
        .checks
        .iter()
        .map(|check| {
            let reason = listed(&check.id);
            let exact = known.iter().any(|k| k.checks.contains(&check.id));
            let result = match (&check.status, reason) {
                (Status::Pass, Some(reason)) if exact => CheckResult::Fixed { reason },
                (Status::Pass, _) => CheckResult::Passed,
                (Status::Fail(message), Some(reason)) => CheckResult::Known {
                    reason,
                    message: message.clone(),
                },
                (Status::Fail(message), None) => CheckResult::Failed {
                    message: message.clone(),
                },
                (Status::Blocked(by), _) => CheckResult::Blocked { by: by.clone() },
                (Status::Skipped(reason), _) => CheckResult::Skipped {
                    reason: reason.clone(),
                },
            };
            CheckVerdict {
                id: check.id.clone(),
                area: area(scenario, check.kind).to_owned(),
                result,
            }
        })
        .collect();
    if run.skipped.is_none() {
        for entry in &known {
            // The `*` entries of one reason hold together: they are stale once nothing under any
            // of them fails (so one reason can cover a divergence that moves, e.g. an order that
            // is not stable, between checks).
            let patterns: Vec<&String> = entry
                .checks
                .iter()
                .filter(|c| scenario_of(c) == scenario && c.ends_with('*'))
                .collect();
            let patterns_live = run.checks.iter().any(|c| {
                matches!(c.status, Status::Fail(_)) && patterns.iter().any(|p| covers(p, &c.id))
            });
            for listed in entry.checks.iter().filter(|c| scenario_of(c) == scenario) {
                let live = if listed.ends_with('*') {
                    // A pattern that covers no check at all is stale whatever its group does.
                    patterns_live && run.checks.iter().any(|c| covers(listed, &c.id))
                } else {
                    run.checks.iter().any(|c| c.id == *listed)
                };
                if !live {
                    checks.push(CheckVerdict {
                        id: listed.clone(),
                        area: area(scenario, "").to_owned(),
                        result: CheckResult::Stale {
                            reason: entry.reason.clone(),
                        },
                    });
                }
            }
        }
    }
    let verdict = sum(&run, &checks);
    ScenarioResult { verdict, checks }
}

fn sum(run: &Run, checks: &[CheckVerdict]) -> Verdict {
    if let Some(reason) = &run.skipped {
        return Verdict::Skipped {
            reason: reason.clone(),
        };
    }
    let failures: Vec<String> = checks
        .iter()
        .filter_map(|c| match &c.result {
            CheckResult::Failed { message } => Some(format!("{}: {message}", c.id)),
            CheckResult::Fixed { reason } => Some(format!(
                "{}: passes, but the expectations list it as a known failure ({reason}): remove it",
                c.id
            )),
            CheckResult::Stale { reason } => Some(format!(
                "{}: listed in the expectations ({reason}), but no such check fails: remove it",
                c.id
            )),
            _ => None,
        })
        .collect();
    if !failures.is_empty() {
        return Verdict::Failed {
            message: failures.join("\n"),
        };
    }
    let mut reasons: Vec<&str> = checks
        .iter()
        .filter_map(|c| match &c.result {
            CheckResult::Known { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    reasons.dedup();
    let count = |f: fn(&CheckResult) -> bool| checks.iter().filter(|c| f(&c.result)).count();
    let known = count(|r| matches!(r, CheckResult::Known { .. }));
    let blocked = count(|r| matches!(r, CheckResult::Blocked { .. }));
    if known + blocked == 0 {
        return Verdict::Passed;
    }
    Verdict::KnownFailure {
        reason: reasons.join(" / "),
        message: format!(
            "{known} known divergences, {blocked} checks blocked, {} of {} checks passed",
            count(|r| *r == CheckResult::Passed),
            checks.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(id: &str, status: Status) -> Check {
        Check {
            id: id.to_owned(),
            kind: "api",
            status,
        }
    }

    fn ran(checks: Vec<Check>) -> Result<Run, String> {
        Ok(Run {
            skipped: None,
            checks,
        })
    }

    fn listed(checks: &[&str]) -> Vec<KnownFailure> {
        vec![KnownFailure {
            reason: "listed on purpose".to_owned(),
            checks: checks.iter().map(|c| (*c).to_owned()).collect(),
        }]
    }

    fn results(result: &ScenarioResult) -> Vec<(&str, &'static str)> {
        result
            .checks
            .iter()
            .map(|c| (c.id.as_str(), c.result.label()))
            .collect()
    }

    #[test]
    fn the_ratchet_works_check_by_check() {
        let fail = || Status::Fail("boom".to_owned());
        let checks = || {
            vec![
                check("x#s1.error", Status::Pass),
                check("x#s1.expect.A", fail()),
                check("x#s2.expect.B", fail()),
                check("x#s3.error", Status::Blocked("x#s1.capture.id".to_owned())),
            ]
        };
        let judged = judge("x", ran(checks()), &listed(&["x#s1.expect.A"]));
        assert_eq!(
            results(&judged),
            [
                ("x#s1.error", "pass"),
                ("x#s1.expect.A", "known"),
                ("x#s2.expect.B", "FAIL"),
                ("x#s3.error", "blocked")
            ],
            "a listed check is known, the next divergence still fails"
        );
        assert!(!judged.verdict.is_ok());
        let judged = judge(
            "x",
            ran(checks()),
            &listed(&["x#s1.expect.A", "x#s2.expect.*"]),
        );
        assert!(
            matches!(judged.verdict, Verdict::KnownFailure { .. }),
            "{:?}",
            judged.verdict
        );
        let judged = judge("x", ran(checks()), &listed(&["x#s1.error"]));
        assert!(
            results(&judged).contains(&("x#s1.error", "FIXED?")),
            "a listed check that passes fails the run until its entry goes"
        );
        let judged = judge(
            "x",
            ran(checks()),
            &listed(&["x#s1.expect.A", "x#s2.expect.B", "x#s9.error", "x#s3.*"]),
        );
        assert_eq!(
            results(&judged)[4..],
            [("x#s9.error", "STALE"), ("x#s3.*", "STALE")],
            "a listed id no check has, and a pattern under which nothing fails (a blocked check only), are stale"
        );
        let judged = judge(
            "x",
            ran(checks()),
            &listed(&["x#s1.expect.A", "x#s2.expect.*", "x#s7.*"]),
        );
        assert_eq!(
            results(&judged)[4..],
            [("x#s7.*", "STALE")],
            "a pattern that covers no check is stale even beside a live one"
        );
        let judged = judge(
            "x",
            ran(checks()),
            &listed(&["x#s1.expect.A", "x#s1.*", "x#s2.expect.*"]),
        );
        assert!(
            judged.verdict.is_ok(),
            "the * ids of one reason hold together: one passing, one failing, none stale: {:?}",
            judged.verdict
        );
        let judged = judge("x", ran(vec![check("x#s1.error", Status::Pass)]), &[]);
        assert_eq!(judged.verdict, Verdict::Passed);
        let judged = judge(
            "x",
            Ok(Run {
                skipped: Some("no dns".to_owned()),
                checks: vec![check("x#s1.rcode", Status::Skipped("no dns".to_owned()))],
            }),
            &listed(&["x#s1.rcode"]),
        );
        assert!(matches!(judged.verdict, Verdict::Skipped { .. }));
        assert_eq!(results(&judged), [("x#s1.rcode", "skip")]);
        let judged = judge("x", Err("does not parse".to_owned()), &[]);
        assert_eq!(results(&judged), [("x#run", "FAIL")]);
    }

    #[test]
    fn checks_count_in_areas() {
        assert_eq!(area("servicediscovery/namespaces/x", "api"), "namespaces");
        assert_eq!(area("servicediscovery/services/x", "dns"), "DNS");
        assert_eq!(
            area("servicediscovery/discovery/x", "cli"),
            "instances and discovery"
        );
        assert_eq!(area("examples/resolvers/glibc", "dns"), "the docs' example");
        assert_eq!(area("ecs/clusters/lifecycle", "api"), "ECS");
        assert_eq!(
            area("servicediscovery/observed/services", "cli"),
            "services"
        );
        assert_eq!(
            area("servicediscovery/observed/error-texts", "api"),
            "protocol and errors"
        );
    }

    #[test]
    fn expectations_files_reject_unknown_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.yaml");
        std::fs::write(&path, "- reason: b\n  checks: [a#s1.error]\n").unwrap();
        assert_eq!(load_expectations(&path).unwrap().len(), 1);
        std::fs::write(&path, "- reasn: typo\n  checks: [a#s1.error]\n").unwrap();
        assert!(load_expectations(&path).is_err());
        std::fs::write(&path, "- reason: b\n  checks: [a]\n").unwrap();
        let error = load_expectations(&path).unwrap_err().to_string();
        assert!(error.contains("is not a check id"), "{error}");
        std::fs::write(&path, "- reason: b\n  checks: [\"a#s1*\"]\n").unwrap();
        let error = load_expectations(&path).unwrap_err().to_string();
        assert!(error.contains("a pattern ends in .*"), "{error}");
        assert!(
            load_expectations(&dir.path().join("absent.yaml"))
                .unwrap()
                .is_empty()
        );
    }
}
