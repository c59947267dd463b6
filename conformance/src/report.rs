//! Reports of a run: JSON (the source of the others), a Markdown compatibility matrix across
//! targets (scenario × target), and JUnit XML for CI systems.

use std::fmt::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::suite::Verdict;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub target: String,
    pub results: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub scenario: String,
    pub seconds: f64,
    #[serde(flatten)]
    pub verdict: Verdict,
}

impl Report {
    pub fn counts(&self) -> (usize, usize, usize) {
        let failed = self.results.iter().filter(|e| !e.verdict.is_ok()).count();
        let skipped = self
            .results
            .iter()
            .filter(|e| matches!(e.verdict, Verdict::Skipped { .. }))
            .count();
        (self.results.len() - failed - skipped, failed, skipped)
    }

    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join(format!("{}.json", self.target)),
            serde_json::to_vec_pretty(self)?,
        )?;
        std::fs::write(dir.join(format!("{}.junit.xml", self.target)), self.junit())?;
        std::fs::write(
            dir.join(format!("{}.md", self.target)),
            matrix(std::slice::from_ref(self)),
        )?;
        Ok(())
    }

    pub fn junit(&self) -> String {
        let (_, failed, skipped) = self.counts();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuite name=\"conformance-{}\" tests=\"{}\" failures=\"{failed}\" skipped=\"{skipped}\">",
            xml(&self.target),
            self.results.len()
        );
        for entry in &self.results {
            let _ = write!(
                out,
                "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                xml(&self.target),
                xml(&entry.scenario),
                entry.seconds
            );
            match &entry.verdict {
                Verdict::Passed => out.push_str("/>\n"),
                Verdict::KnownFailure { reason, .. } => {
                    let _ = writeln!(
                        out,
                        "><system-out>known divergence: {}</system-out></testcase>",
                        xml(reason)
                    );
                }
                Verdict::Skipped { reason } => {
                    let _ = writeln!(out, "><skipped message=\"{}\"/></testcase>", xml(reason));
                }
                Verdict::Failed { message } => {
                    let _ = writeln!(
                        out,
                        "><failure message=\"scenario failed\">{}</failure></testcase>",
                        xml(message)
                    );
                }
                Verdict::UnexpectedPass { reason } => {
                    let _ = writeln!(
                        out,
                        "><failure message=\"passes but is listed as a known failure\">{}</failure></testcase>",
                        xml(reason)
                    );
                }
            }
        }
        out.push_str("</testsuite>\n");
        out
    }
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The compatibility matrix: one row per scenario, one column per target, then the reasons.
pub fn matrix(reports: &[Report]) -> String {
    let mut scenarios: Vec<&str> = reports
        .iter()
        .flat_map(|r| r.results.iter().map(|e| e.scenario.as_str()))
        .collect();
    scenarios.sort();
    scenarios.dedup();
    let mut out = String::from("# Cloud Map conformance matrix\n\n");
    out.push_str("pass: behaves as AWS; known: a listed divergence (reason below); skip: the target lacks a required capability; FAIL: an unexpected divergence; FIXED?: listed as a divergence but passes.\n\n");
    let _ = writeln!(
        out,
        "| scenario | {} |",
        reports
            .iter()
            .map(|r| r.target.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(out, "|---|{}", "---|".repeat(reports.len()));
    for scenario in &scenarios {
        let cells: Vec<&str> = reports
            .iter()
            .map(|r| {
                r.results
                    .iter()
                    .find(|e| e.scenario == *scenario)
                    .map_or("–", |e| e.verdict.label())
            })
            .collect();
        let _ = writeln!(out, "| `{scenario}` | {} |", cells.join(" | "));
    }
    for report in reports {
        let notes: Vec<String> = report
            .results
            .iter()
            .filter_map(|e| match &e.verdict {
                Verdict::KnownFailure { reason, .. } | Verdict::UnexpectedPass { reason } => {
                    Some(format!("- `{}`: {reason}", e.scenario))
                }
                Verdict::Skipped { reason } => {
                    Some(format!("- `{}` skipped: {reason}", e.scenario))
                }
                Verdict::Failed { message } => Some(format!(
                    "- `{}` FAILED: {}",
                    e.scenario,
                    message.lines().next().unwrap_or_default()
                )),
                Verdict::Passed => None,
            })
            .collect();
        if !notes.is_empty() {
            let _ = writeln!(out, "\n## {}\n\n{}", report.target, notes.join("\n"));
        }
    }
    out
}
