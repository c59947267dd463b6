//! `cargo test -p conformance`: one test per scenario file under `scenarios/`, found at run time
//! (a new file needs no code), against `CONFORMANCE_TARGET` (default: the reference server).
//! A scenario whose required capabilities the target lacks is reported as ignored, with why.

use std::path::{Path, PathBuf};

use conformance::runner::{Outcome, Runner};
use conformance::scenario::{self, Capability};
use conformance::target::Target;
use libtest_mimic::{Arguments, Failed, Trial};

fn scenario_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            scenario_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// The capabilities the target will declare, known before any server starts.
fn declared() -> Vec<Capability> {
    match std::env::var("CONFORMANCE_TARGET")
        .as_deref()
        .unwrap_or("reference")
    {
        "reference" => vec![Capability::Dns, Capability::ActiveHealth, Capability::Cli],
        _ => std::env::var("CONFORMANCE_CAPABILITIES")
            .unwrap_or_default()
            .split(',')
            .filter_map(|s| Capability::parse(s.trim()))
            .collect(),
    }
}

fn main() {
    let arguments = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files = Vec::new();
    scenario_files(&root, &mut files);
    let capabilities = declared();
    let trials = files
        .into_iter()
        .map(|path| {
            let name = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .with_extension("")
                .display()
                .to_string();
            let parsed = scenario::load(&path);
            let missing: Vec<&str> = match &parsed {
                Ok(s) => s
                    .requires
                    .iter()
                    .filter(|c| !capabilities.contains(c))
                    .map(|c| c.as_str())
                    .collect(),
                Err(_) => Vec::new(),
            };
            let ignored = !missing.is_empty();
            if ignored {
                eprintln!("skipping {name}: the target lacks {}", missing.join(", "));
            }
            let snapshots = path.parent().map(|dir| {
                (
                    dir.join("snapshots"),
                    path.file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                )
            });
            Trial::test(name, move || run(parsed, snapshots)).with_ignored_flag(ignored)
        })
        .collect();
    libtest_mimic::run(&arguments, trials).exit();
}

fn run(
    parsed: anyhow::Result<scenario::Scenario>,
    snapshots: Option<(PathBuf, String)>,
) -> Result<(), Failed> {
    let scenario = parsed.map_err(|e| Failed::from(format!("{e:#}")))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failed::from(e.to_string()))?;
    runtime.block_on(async {
        let target = Target::from_env().map_err(|e| Failed::from(format!("{e:#}")))?;
        let mut runner = Runner::new(&target, snapshots);
        match runner.run(&scenario).await {
            Ok(Outcome::Passed) => Ok(()),
            Ok(Outcome::Skipped(why)) => {
                eprintln!("skipped: {why}");
                Ok(())
            }
            Err(error) => Err(Failed::from(format!("{error:#}"))),
        }
    })
}
