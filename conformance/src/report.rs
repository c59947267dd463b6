//! Reports of a run: JSON (the source of the others), a Markdown matrix across targets (checks
//! passed per area, then per scenario, then every check that did not pass with its reason), and
//! JUnit XML with one test case per check.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::suite::{AREAS, CheckResult, CheckVerdict, Verdict};

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
    #[serde(default)]
    pub checks: Vec<CheckVerdict>,
}

/// Checks by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub known: usize,
    pub blocked: usize,
    pub skipped: usize,
    pub total: usize,
}

impl Tally {
    fn add(&mut self, result: &CheckResult) {
        self.total += 1;
        match result {
            CheckResult::Passed => self.passed += 1,
            CheckResult::Known { .. } => self.known += 1,
            CheckResult::Blocked { .. } => self.blocked += 1,
            CheckResult::Skipped { .. } => self.skipped += 1,
            CheckResult::Failed { .. } | CheckResult::Fixed { .. } | CheckResult::Stale { .. } => {
                self.failed += 1;
            }
        }
    }

    /// `41/45 (91%)`.
    fn cell(&self) -> String {
        if self.total == 0 {
            return "–".to_owned();
        }
        // Rounded down: 199 of 200 is not 100%.
        let percent = self.passed * 100 / self.total;
        format!("{}/{} ({percent}%)", self.passed, self.total)
    }
}

impl Report {
    /// Scenarios: passed (or known), failed, skipped.
    pub fn counts(&self) -> (usize, usize, usize) {
        let failed = self.results.iter().filter(|e| !e.verdict.is_ok()).count();
        let skipped = self
            .results
            .iter()
            .filter(|e| matches!(e.verdict, Verdict::Skipped { .. }))
            .count();
        (self.results.len() - failed - skipped, failed, skipped)
    }

    /// Checks, per area and over all.
    pub fn tally(&self) -> (BTreeMap<String, Tally>, Tally) {
        let mut areas: BTreeMap<String, Tally> = BTreeMap::new();
        let mut all = Tally::default();
        for check in self.results.iter().flat_map(|e| &e.checks) {
            areas
                .entry(check.area.clone())
                .or_default()
                .add(&check.result);
            all.add(&check.result);
        }
        (areas, all)
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

    /// One test case per check (class: the target and scenario), so CI systems show each.
    pub fn junit(&self) -> String {
        let (_, all) = self.tally();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuite name=\"conformance-{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
            xml(&self.target),
            all.total,
            all.failed,
            all.skipped + all.blocked
        );
        for entry in &self.results {
            for check in &entry.checks {
                let name = check
                    .id
                    .split_once('#')
                    .map_or(check.id.as_str(), |(_, c)| c);
                let _ = write!(
                    out,
                    "  <testcase classname=\"{}.{}\" name=\"{}\"",
                    xml(&self.target),
                    xml(&entry.scenario),
                    xml(name)
                );
                let body = match &check.result {
                    CheckResult::Passed => String::new(),
                    CheckResult::Known { reason, message } => format!(
                        "<system-out>known divergence: {}\n{}</system-out>",
                        xml(reason),
                        xml(message)
                    ),
                    CheckResult::Skipped { reason } => {
                        format!("<skipped message=\"{}\"/>", xml(reason))
                    }
                    CheckResult::Blocked { by } => {
                        format!("<skipped message=\"blocked by {}\"/>", xml(by))
                    }
                    CheckResult::Failed { message } => {
                        format!("<failure message=\"diverges\">{}</failure>", xml(message))
                    }
                    CheckResult::Fixed { reason } => format!(
                        "<failure message=\"passes but is listed as a known failure\">{}</failure>",
                        xml(reason)
                    ),
                    CheckResult::Stale { reason } => format!(
                        "<failure message=\"listed as a known failure, but no such check fails\">{}</failure>",
                        xml(reason)
                    ),
                };
                if body.is_empty() {
                    out.push_str("/>\n");
                } else {
                    let _ = writeln!(out, ">{body}</testcase>");
                }
            }
        }
        out.push_str("</testsuite>\n");
        out
    }
}

fn xml(text: &str) -> String {
    // XML 1.0 has no place for most control characters (CLI output can hold them).
    let text: String = text
        .chars()
        .map(|c| {
            if c.is_control() && !matches!(c, '\n' | '\r' | '\t') {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect();
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn table_head(out: &mut String, first: &str, reports: &[Report]) {
    let names: Vec<&str> = reports.iter().map(|r| r.target.as_str()).collect();
    let _ = writeln!(out, "| {first} | {} |", names.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(reports.len()));
}

/// The matrix users read: checks passed per area and target, then per scenario, then below it
/// every check that did not pass, with its reason.
pub fn matrix(reports: &[Report]) -> String {
    let mut out = String::from("# Cloud Map conformance matrix\n\n");
    out.push_str("Each cell: checks passed / checks made (every assertion of a scenario is a check: an expected member, an error code, a DNS rcode, answer set or TTL, a snapshot member…). A check that did not pass is a listed divergence (known, with its reason below), blocked by one, skipped (the target lacks what the scenario needs), or an unexpected failure.\n\n");
    let tallies: Vec<(BTreeMap<String, Tally>, Tally)> =
        reports.iter().map(Report::tally).collect();
    table_head(&mut out, "area", reports);
    let mut areas: Vec<String> = AREAS.iter().map(|a| (*a).to_owned()).collect();
    for (by_area, _) in &tallies {
        areas.extend(
            by_area
                .keys()
                .filter(|a| !AREAS.contains(&a.as_str()))
                .cloned(),
        );
    }
    areas.dedup();
    for area in &areas {
        let cells: Vec<String> = tallies
            .iter()
            .map(|(by_area, _)| {
                by_area
                    .get(area)
                    .map_or_else(|| "–".to_owned(), Tally::cell)
            })
            .collect();
        let _ = writeln!(out, "| {area} | {} |", cells.join(" | "));
    }
    let totals: Vec<String> = tallies
        .iter()
        .map(|(_, all)| format!("**{}**", all.cell()))
        .collect();
    let _ = writeln!(out, "| **all** | {} |", totals.join(" | "));
    let judged: Vec<String> = tallies
        .iter()
        .map(|(_, all)| {
            Tally {
                total: all.total - all.skipped,
                ..*all
            }
            .cell()
        })
        .collect();
    let _ = writeln!(out, "| all judged (not skipped) | {} |", judged.join(" | "));
    let details: Vec<String> = tallies
        .iter()
        .map(|(_, t)| {
            format!(
                "{} known, {} blocked, {} skipped, {} failed",
                t.known, t.blocked, t.skipped, t.failed
            )
        })
        .collect();
    let _ = writeln!(out, "| not passed | {} |", details.join(" | "));

    let mut scenarios: Vec<&str> = reports
        .iter()
        .flat_map(|r| r.results.iter().map(|e| e.scenario.as_str()))
        .collect();
    scenarios.sort();
    scenarios.dedup();
    out.push_str("\n## Scenarios\n\n");
    table_head(&mut out, "scenario", reports);
    for scenario in &scenarios {
        let cells: Vec<String> = reports
            .iter()
            .map(|r| {
                r.results
                    .iter()
                    .find(|e| e.scenario == *scenario)
                    .map_or_else(
                        || "–".to_owned(),
                        |e| {
                            let passed = e
                                .checks
                                .iter()
                                .filter(|c| c.result == CheckResult::Passed)
                                .count();
                            format!("{} {passed}/{}", e.verdict.label(), e.checks.len())
                        },
                    )
            })
            .collect();
        let _ = writeln!(out, "| `{scenario}` | {} |", cells.join(" | "));
    }
    for report in reports {
        not_passed(&mut out, report);
    }
    out
}

/// A target's checks that did not pass: divergences grouped by reason, skipped scenarios once
/// each, blocked checks with what blocked them, failures with their message.
fn not_passed(out: &mut String, report: &Report) {
    let mut reasons: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut lines = Vec::new();
    for entry in &report.results {
        if let Verdict::Skipped { reason } = &entry.verdict {
            lines.push(format!(
                "- skipped `{}` ({} checks): {reason}",
                entry.scenario,
                entry.checks.len()
            ));
            continue;
        }
        for check in &entry.checks {
            match &check.result {
                CheckResult::Known { reason, .. } => {
                    match reasons.iter_mut().find(|(r, _)| r == reason) {
                        Some((_, ids)) => ids.push(&check.id),
                        None => reasons.push((reason, vec![&check.id])),
                    }
                }
                CheckResult::Blocked { by } => {
                    lines.push(format!("- blocked `{}`: by `{by}`", check.id));
                }
                CheckResult::Skipped { reason } => {
                    lines.push(format!("- skipped `{}`: {reason}", check.id));
                }
                CheckResult::Failed { message } => lines.push(format!(
                    "- FAILED `{}`: {}",
                    check.id,
                    message.lines().next().unwrap_or_default()
                )),
                CheckResult::Fixed { reason } => lines.push(format!(
                    "- FIXED? `{}` passes but is listed: {reason}",
                    check.id
                )),
                CheckResult::Stale { reason } => lines.push(format!(
                    "- STALE `{}` is listed but no such check fails: {reason}",
                    check.id
                )),
                CheckResult::Passed => {}
            }
        }
    }
    if reasons.is_empty() && lines.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n## {}: every check that did not pass\n",
        report.target
    );
    for (reason, ids) in reasons {
        let ids: Vec<String> = ids.iter().map(|id| format!("`{id}`")).collect();
        let _ = writeln!(
            out,
            "- known ({}): {reason}  \n  {}",
            ids.len(),
            ids.join(", ")
        );
    }
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(id: &str, area: &str, result: CheckResult) -> CheckVerdict {
        CheckVerdict {
            id: id.to_owned(),
            area: area.to_owned(),
            result,
        }
    }

    fn report() -> Report {
        let known = |reason: &str| CheckResult::Known {
            reason: reason.to_owned(),
            message: "m".to_owned(),
        };
        Report {
            target: "peer".to_owned(),
            results: vec![Entry {
                scenario: "servicediscovery/namespaces/x".to_owned(),
                seconds: 0.1,
                verdict: Verdict::KnownFailure {
                    reason: "r".to_owned(),
                    message: "m".to_owned(),
                },
                checks: vec![
                    check("x#s1.error", "namespaces", CheckResult::Passed),
                    check("x#s2.error", "namespaces", known("no HttpName")),
                    check("x#s3.error", "namespaces", known("no HttpName")),
                    check(
                        "x#s4.rcode",
                        "DNS",
                        CheckResult::Blocked {
                            by: "x#s2.error".to_owned(),
                        },
                    ),
                ],
            }],
        }
    }

    #[test]
    fn the_matrix_counts_checks_per_area_and_lists_what_did_not_pass() {
        let text = matrix(&[report()]);
        assert!(text.contains("| namespaces | 1/3 (33%) |"), "{text}");
        assert!(text.contains("| DNS | 0/1 (0%) |"), "{text}");
        assert!(text.contains("| services | – |"), "{text}");
        assert!(text.contains("| **all** | **1/4 (25%)** |"), "{text}");
        assert!(
            text.contains("- known (2): no HttpName  \n  `x#s2.error`, `x#s3.error`"),
            "divergences are grouped by reason: {text}"
        );
        assert!(
            text.contains("- blocked `x#s4.rcode`: by `x#s2.error`"),
            "{text}"
        );
    }

    #[test]
    fn junit_has_a_case_per_check() {
        let xml = report().junit();
        assert!(
            xml.contains("tests=\"4\" failures=\"0\" skipped=\"1\""),
            "{xml}"
        );
        assert_eq!(xml.matches("<testcase ").count(), 4, "{xml}");
        assert!(xml.contains("name=\"s2.error\""), "{xml}");
    }
}
