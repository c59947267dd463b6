//! `cargo test -p conformance`: one test per scenario file under `scenarios/`, found at run time
//! (a new file needs no code), against `CONFORMANCE_TARGET` (`reference`, the default, or
//! `endpoint`), judged with `conformance/expectations/<CONFORMANCE_TARGET_NAME>.yaml`. A scenario
//! the target lacks a capability for is reported as ignored, with the reason on stderr.

use conformance::suite::{self, Verdict};
use libtest_mimic::{Arguments, Completion, Failed, Trial};

fn main() {
    let mut arguments = Arguments::from_args();
    // Scenarios mostly wait — on servers, containers, health probes — so more run at once than
    // there are cores, unless told otherwise (--test-threads, RUST_TEST_THREADS).
    if arguments.test_threads.is_none() {
        arguments.test_threads = std::env::var("RUST_TEST_THREADS")
            .ok()
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 0)
            .or(Some(4));
    }
    let kind = std::env::var("CONFORMANCE_TARGET").unwrap_or_else(|_| "reference".to_owned());
    let name = std::env::var("CONFORMANCE_TARGET_NAME").unwrap_or_else(|_| kind.clone());
    if let Err(error) = conformance::target::check(&kind) {
        eprintln!("CONFORMANCE_TARGET={kind}: {error:#}");
        std::process::exit(2);
    }
    let known = match suite::load_expectations(&suite::expectations_path(&name)) {
        Ok(known) => known,
        Err(error) => {
            eprintln!("cannot read the expectations of {name}: {error:#}");
            std::process::exit(2);
        }
    };
    let known_all = known.clone();
    let capabilities = match suite::declared_capabilities(&kind) {
        Ok(capabilities) => capabilities,
        Err(error) => {
            eprintln!("{error:#}");
            std::process::exit(2);
        }
    };
    // The k3s target skips everything, saying why, where it cannot run.
    let unavailable = if kind == "k3s" {
        conformance::k3s::unavailable()
    } else {
        None
    };
    if let Some(reason) = &unavailable {
        eprintln!("SKIPPING every scenario: the k3s target cannot run here: {reason}");
    }
    // Each file is read once here (the trial reads it again when it runs). A file that does not
    // load runs anyway, and fails with the reason.
    let run_slow = std::env::var("CONFORMANCE_SLOW").is_ok_and(|v| v == "true" || v == "1");
    let mut files: Vec<_> = suite::discover(&suite::scenarios_root())
        .into_iter()
        .map(|file| {
            let scenario = conformance::scenario::load(&file.path).ok();
            (file, scenario)
        })
        .collect();
    // The scenarios that run containers take longest: they start first.
    files.sort_by_key(|(_, scenario)| {
        !scenario.as_ref().is_some_and(|s| {
            s.requires
                .contains(&conformance::scenario::Capability::Docker)
        })
    });
    let trials = files
        .into_iter()
        .map(|(file, scenario)| {
            let missing: Vec<&str> = scenario.as_ref().map_or_else(Vec::new, |s| {
                s.requires
                    .iter()
                    .filter(|c| !capabilities.contains(c))
                    .map(|c| c.as_str())
                    .collect()
            });
            if !missing.is_empty() {
                eprintln!(
                    "skipping {}: target {name} lacks {}",
                    file.name,
                    missing.join(", ")
                );
            }
            let slow = scenario.and_then(|s| s.slow).filter(|_| !run_slow);
            if let Some(reason) = &slow {
                eprintln!(
                    "ignoring {}, slow: {reason}. CONFORMANCE_SLOW=true or --include-ignored runs it, as conformance run and ./ci/test.sh do",
                    file.name
                );
            }
            let (known, kind, name) = (known.clone(), kind.clone(), name.clone());
            Trial::ignorable_test(file.name.clone(), move || run(&file, &known, &kind, &name))
                .with_ignored_flag(!missing.is_empty() || unavailable.is_some() || slow.is_some())
        })
        .chain(
            (kind == "reference")
                .then(self_checks)
                .into_iter()
                .flatten(),
        )
        .collect();
    let whole_suite = arguments.filter.is_none()
        && arguments.skip.is_empty()
        && !arguments.list
        && !arguments.ignored;
    let full_run = whole_suite && kind == "reference";
    let conclusion = libtest_mimic::run(&arguments, trials);
    // A listed check of a scenario that no longer exists (renamed, removed) is stale too.
    if whole_suite {
        let unknown =
            suite::unknown_scenarios(&known_all, &suite::discover(&suite::scenarios_root()));
        if !unknown.is_empty() {
            for id in &unknown {
                eprintln!(
                    "conformance/expectations/{name}.yaml lists {id}, but there is no such scenario: remove it"
                );
            }
            std::process::exit(1);
        }
    }
    // Snapshots are compared on the reference target; after a full run, every snapshot file must
    // have been used, or a renamed or removed step left a stale one behind.
    if full_run && !conclusion.has_failed() {
        let stale = suite::unreferenced_snapshots(&suite::scenarios_root());
        if !stale.is_empty() {
            for path in &stale {
                eprintln!("unreferenced snapshot: {}", path.display());
            }
            eprintln!("remove the snapshot files no scenario step records");
            std::process::exit(1);
        }
    }
    conclusion.exit();
}

fn run(
    file: &suite::ScenarioFile,
    known: &[suite::KnownFailure],
    kind: &str,
    name: &str,
) -> Result<Completion, Failed> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failed::from(e.to_string()))?;
    // A scenario skipped at run time (an image the engine lacks) is reported as ignored, with
    // the reason, never as passed.
    match runtime
        .block_on(suite::run_file(file, known, kind, name))
        .verdict
    {
        Verdict::Passed => Ok(Completion::Completed),
        Verdict::Skipped { reason } => Ok(Completion::ignored_with(reason)),
        Verdict::KnownFailure { message, .. } => {
            eprintln!("{}: known divergences: {message}", file.name);
            Ok(Completion::Completed)
        }
        Verdict::Failed { message } => Err(Failed::from(message)),
    }
}

/// Checks of the suite itself on the reference target, each a scenario written here and run like
/// any other: a scenario that leaves behind what cleanup cannot attribute to it (a fixed name in a
/// scenario that shares the target) fails, after its steps passed or failed alike — so cleanup
/// runs after a failure — while what a failed scenario named with `${unique}` is removed, and an
/// exclusive scenario's fixed names are found by comparing before and after.
fn self_checks() -> Vec<Trial> {
    const CREATE: &str = "  - api:\n      operation: CreateHttpNamespace\n      params: { Name: @NAME@ }\n      capture: { op: OperationId }\n  - wait_until:\n      api: { operation: GetOperation, params: { OperationId: \"${op}\" }, expect: { Operation: { Status: SUCCESS } }, capture: { ns: Operation.Targets.NAMESPACE } }\n  - api:\n      operation: CreateService\n      params: { Name: web, NamespaceId: \"${ns}\" }\n      capture: { svc: Service.Id }\n  - api:\n      operation: RegisterInstance\n      params: { ServiceId: \"${svc}\", InstanceId: i-1, Attributes: { k: v } }\n";
    let fixed = format!(
        "description: a fixed name in a shared scenario\nsteps:\n{}",
        CREATE.replace("@NAME@", "left-behind.example")
    );
    let fixed_and_failing = format!(
        "description: a fixed name, then a failure\nsteps:\n{}  - api: {{ operation: GetNamespace, params: {{ Id: ns-doesnotexist2345 }} }}\n",
        CREATE.replace("@NAME@", "failed-and-left.example")
    );
    let failing = format!(
        "description: fails after creating\nsteps:\n{}  - api: {{ operation: GetNamespace, params: {{ Id: ns-doesnotexist2345 }} }}\n",
        CREATE.replace("@NAME@", "\"failing-${unique}\"")
    );
    let exclusive = format!(
        "description: a fixed name in an exclusive scenario\nexclusive: it uses a fixed name\nsteps:\n{}",
        CREATE.replace("@NAME@", "fixed.example")
    );
    let later = "description: two divergences and a failed capture\nsteps:\n  - api: { operation: GetNamespace, params: { Id: ns-doesnotexist2345 } }\n  - api: { operation: ListNamespaces, expect: { Namespaces: [] }, capture: { first: \"Namespaces[0].Id\" } }\n  - api: { operation: GetNamespace, params: { Id: \"${first}\" }, expect: { Namespace: { Id: \"${first}\" } } }\n  - api: { operation: ListServices, expect: { Services: [{ Id: srv-none }] } }\n  - api: { operation: ListServices, expect: { Services: [], Marker: \"${first}\" } }\n".to_owned();
    let check = |name: &str,
                 body: String,
                 judge: fn(suite::ScenarioResult) -> Result<(), String>| {
        Trial::test(format!("self-check/{name}"), move || {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let path = dir.path().join("check.yaml");
            std::fs::write(&path, &body).map_err(|e| e.to_string())?;
            let file = suite::ScenarioFile {
                name: "check".to_owned(),
                path,
            };
            let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            let result = runtime.block_on(suite::run_file(&file, &[], "reference", "reference"));
            judge(result).map_err(Failed::from)
        })
    };
    vec![
        check(
            "a-later-divergence-is-reported-and-a-failed-capture-blocks-its-users",
            later,
            |result| {
                let got: Vec<(String, &str)> = result
                    .checks
                    .iter()
                    .map(|c| {
                        (
                            c.id.trim_start_matches("check#").to_owned(),
                            c.result.label(),
                        )
                    })
                    .collect();
                let want = [
                    ("s1.error", "FAIL"),
                    ("s2.error", "pass"),
                    ("s2.expect.Namespaces[len]", "pass"),
                    ("s2.capture.first", "FAIL"),
                    ("s3.error", "blocked"),
                    ("s3.expect.Namespace.Id", "blocked"),
                    ("s4.error", "pass"),
                    ("s4.expect.Services[len]", "FAIL"),
                    ("s4.expect.Services[0].Id", "FAIL"),
                    ("s5.error", "pass"),
                    ("s5.expect.Marker", "blocked"),
                    ("s5.expect.Services[len]", "pass"),
                    ("cleanup", "pass"),
                ];
                let want: Vec<(String, &str)> =
                    want.iter().map(|(id, r)| ((*id).to_owned(), *r)).collect();
                let blocked_by = result.checks.iter().find_map(|c| match &c.result {
                    suite::CheckResult::Blocked { by } => Some(by.as_str()),
                    _ => None,
                });
                if got == want && blocked_by == Some("check#s2.capture.first") {
                    Ok(())
                } else {
                    Err(format!(
                        "expected {want:?} (blocked by check#s2.capture.first), got {:?}",
                        result.checks
                    ))
                }
            },
        ),
        check(
            "a-fixed-name-left-behind-fails-the-scenario",
            fixed,
            |result| match result.verdict {
                Verdict::Failed { message }
                    if message.contains("left behind after cleanup")
                        && message.contains("left-behind.example") =>
                {
                    Ok(())
                }
                other => Err(format!("expected a left-behind failure, got {other:?}")),
            },
        ),
        check(
            "cleanup-runs-after-a-failed-step",
            fixed_and_failing,
            |result| match result.verdict {
                Verdict::Failed { message }
                    if message.contains("NamespaceNotFound")
                        && message.contains("left behind after cleanup")
                        && message.contains("failed-and-left.example") =>
                {
                    Ok(())
                }
                other => Err(format!(
                    "expected the step's failure and the left-behind one, got {other:?}"
                )),
            },
        ),
        check(
            "what-a-failed-scenario-created-is-removed",
            failing,
            |result| match result.verdict {
                Verdict::Failed { message }
                    if message.contains("NamespaceNotFound")
                        && !message.contains("left behind") =>
                {
                    Ok(())
                }
                other => Err(format!("expected only the step's failure, got {other:?}")),
            },
        ),
        check(
            "an-exclusive-scenario-is-cleaned-by-difference",
            exclusive,
            |result| match result.verdict {
                Verdict::Passed => Ok(()),
                other => Err(format!("expected a pass, got {other:?}")),
            },
        ),
    ]
}
