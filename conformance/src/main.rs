//! `conformance run` runs the scenarios against a target and writes reports; `conformance matrix`
//! merges the JSON reports of several targets into one Markdown matrix.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use conformance::report::{Entry, Report, matrix};
use conformance::suite::{self, Verdict};

#[derive(Parser)]
#[command(
    name = "conformance",
    about = "Cloud Map conformance scenarios against any implementation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the scenarios against a target, one after another (see README).
    Run {
        /// `reference` (our server, started per scenario), `reference-strict` (the same with AWS's
        /// rules and timing), `endpoint` (any running implementation: CONFORMANCE_ENDPOINT,
        /// CONFORMANCE_DNS, CONFORMANCE_CAPABILITIES) or `k3s` (our server inside k3s).
        #[arg(long, default_value = "reference", value_parser = clap::builder::PossibleValuesParser::new(conformance::target::KINDS))]
        target: String,
        /// The target's name in reports and the expectations file it uses (default: --target).
        #[arg(long)]
        name: Option<String>,
        /// Only scenarios whose name contains this.
        #[arg(long)]
        filter: Option<String>,
        /// Write `<name>.json`, `<name>.md` and `<name>.junit.xml` here.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Prints the JSON Schema of scenario files (conformance/scenario.schema.json is this).
    Schema,
    /// Merges JSON reports into one Markdown matrix.
    Matrix {
        reports: Vec<PathBuf>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run {
            target,
            name,
            filter,
            report,
        } => {
            let name = name.unwrap_or_else(|| target.clone());
            conformance::target::check(&target)?;
            let runtime = tokio::runtime::Runtime::new()?;
            let known = suite::load_expectations(&suite::expectations_path(&name))?;
            let files: Vec<_> = suite::discover(&suite::scenarios_root())
                .into_iter()
                .filter(|f| {
                    filter
                        .as_deref()
                        .is_none_or(|needle| f.name.contains(needle))
                })
                .collect();
            let mut results = Vec::new();
            for (index, file) in files.iter().enumerate() {
                let started = Instant::now();
                let result = runtime.block_on(suite::run_file(file, &known, &target, &name));
                let verdict = result.verdict;
                let seconds = started.elapsed().as_secs_f64();
                eprintln!(
                    "[{}/{}] {:6} {} ({seconds:.1}s)",
                    index + 1,
                    files.len(),
                    verdict.label(),
                    file.name
                );
                if let Verdict::Failed { message } = &verdict {
                    eprintln!("        {}", message.replace('\n', "\n        "));
                }
                results.push(Entry {
                    scenario: file.name.clone(),
                    seconds,
                    verdict,
                    checks: result.checks,
                });
            }
            let mut summary = Report {
                target: name.clone(),
                results,
            };
            if filter.is_none() {
                for stale in suite::unknown_scenarios(&known, &files) {
                    eprintln!(
                        "conformance/expectations/{name}.yaml names a check of no scenario: {stale}"
                    );
                    summary.results.push(Entry {
                        scenario: suite::scenario_of(&stale).to_owned(),
                        seconds: 0.0,
                        verdict: Verdict::Failed {
                            message: format!(
                                "the expectations list {stale}, but there is no such scenario"
                            ),
                        },
                        checks: vec![suite::CheckVerdict {
                            id: stale.clone(),
                            area: suite::area(suite::scenario_of(&stale), "").to_owned(),
                            result: suite::CheckResult::Stale {
                                reason: "no scenario of this name".to_owned(),
                            },
                        }],
                    });
                }
            }
            let (passed, failed, skipped) = summary.counts();
            let (_, checks) = summary.tally();
            println!("{}", matrix(std::slice::from_ref(&summary)));
            println!(
                "checks: {} passed, {} known, {} blocked, {} skipped, {} failed, of {}",
                checks.passed,
                checks.known,
                checks.blocked,
                checks.skipped,
                checks.failed,
                checks.total
            );
            println!("{passed} passed, {failed} failed, {skipped} skipped");
            if let Some(dir) = report {
                summary.write(&dir)?;
            }
            if failed > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&conformance::scenario::schema())?
            );
            Ok(())
        }
        Command::Matrix { reports, out } => {
            let reports: Vec<Report> = reports
                .iter()
                .map(|path| {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| path.display().to_string())?;
                    Ok(serde_json::from_str(&text)?)
                })
                .collect::<anyhow::Result<_>>()?;
            let text = matrix(&reports);
            match out {
                Some(path) => std::fs::write(path, text)?,
                None => print!("{text}"),
            }
            Ok(())
        }
    }
}
