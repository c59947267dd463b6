//! Runs a scenario against a target: templating, steps, captures, waits with deadlines, and every
//! assertion judged as its own check (`check.rs`) — a divergence does not end the scenario: later
//! steps still run, and only what depends on a failed capture is reported as blocked.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;

use crate::check::{
    Check, Status, compare_snapshot, expected_leaves, flatten, join, judge_leaf,
    judge_templated_leaf, part_with_path, read_snapshot,
};
use crate::cleanup::{Cleaner, Inventory};
use crate::driver;
use crate::redact::Refs;
use crate::scenario::{
    ApiService, ApiStep, Capability, CliStep, DnsStep, HttpStep, Scenario, Step, WaitStep,
    parse_duration,
};
use crate::target::Target;

/// What running a scenario gave: its checks, and the reason when it did not run.
pub struct Run {
    pub skipped: Option<String>,
    pub checks: Vec<Check>,
}

/// A step could not run because a variable it uses comes from a check that failed (or was itself
/// blocked): the id of that check.
#[derive(Debug)]
struct BlockedBy(String);

impl std::fmt::Display for BlockedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "blocked by {}", self.0)
    }
}

impl std::error::Error for BlockedBy {}

/// A step's judged parts (`error`, `expect.A.B`, …), before they become checks.
type Parts = Vec<(String, Status)>;

fn verdict(result: Result<(), String>) -> Status {
    match result {
        Ok(()) => Status::Pass,
        Err(message) => Status::Fail(message),
    }
}

pub struct Runner<'t> {
    target: &'t Target,
    client: reqwest::Client,
    plan: Plan,
    vars: BTreeMap<String, String>,
    /// Variables whose capture failed or was blocked, with the check that failed.
    blocked: BTreeMap<String, String>,
    refs: Refs,
    /// Whether insta also compares (and offers `.snap.new` files for review): on the reference
    /// target, the one that records the snapshots.
    record: bool,
    /// The operations the scenario's API steps started: cleanup waits for them, so that a
    /// namespace still being created, or an instance still being registered, when the steps
    /// ended is found and removed too.
    operations: Vec<String>,
}

/// A scenario's checks, known before it runs: from its steps, and for snapshots from the
/// recorded files.
pub struct Plan {
    /// The scenario's name (its path below `scenarios/`), the first part of every check id.
    scenario: String,
    /// Where this scenario's snapshots live, and its file stem (their prefix).
    snapshots: Option<(PathBuf, String)>,
}

impl Plan {
    /// The plan of scenario `name`, read from `file` (its snapshots are in `snapshots/` beside it).
    pub fn new(name: &str, file: &std::path::Path) -> Plan {
        let snapshots = file.parent().map(|dir| {
            (
                dir.join("snapshots"),
                file.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            )
        });
        Plan {
            scenario: name.to_owned(),
            snapshots,
        }
    }

    pub fn id(&self, step: &str, part: &str) -> String {
        format!("{}#{step}.{part}", self.scenario)
    }

    fn scenario_check(&self, part: &str, status: Status) -> Check {
        Check {
            id: format!("{}#{part}", self.scenario),
            kind: "scenario",
            status,
        }
    }

    /// Every check the scenario makes, in order, with one status: what a skipped scenario reports.
    pub fn planned(&self, scenario: &Scenario, status: &Status) -> Vec<Check> {
        let mut checks = Vec::new();
        if scenario.exclusive.is_some() {
            checks.push(self.scenario_check("setup", status.clone()));
        }
        for (index, step) in scenario.steps.iter().enumerate() {
            let sid = step_id(index);
            for part in self.plan(step) {
                checks.push(Check {
                    id: self.id(&sid, &part),
                    kind: kind(step),
                    status: status.clone(),
                });
            }
        }
        checks.push(self.scenario_check("cleanup", status.clone()));
        checks
    }

    /// The parts a step judges, known before it runs (from the scenario, and for a snapshot from
    /// the recorded file), in the order it judges them. The first is always the call itself.
    fn plan(&self, step: &Step) -> Vec<String> {
        let leaves = |part: &str, value: &Option<Value>| -> Vec<String> {
            value.as_ref().map_or_else(Vec::new, |v| {
                expected_leaves(v)
                    .iter()
                    .map(|(path, _)| part_with_path(part, path))
                    .collect()
            })
        };
        let mut parts = Vec::new();
        match step {
            Step::Api(api) => {
                parts.push("error".to_owned());
                parts.extend(leaves("expect", &api.expect));
                parts.extend(api.capture.keys().map(|name| format!("capture.{name}")));
                parts.extend(self.snapshot_plan(api.snapshot.as_deref()));
            }
            Step::Cli(cli) => {
                parts.push("exit".to_owned());
                parts.extend(cli.stdout.as_ref().map(|_| "stdout".to_owned()));
                parts.extend(leaves("stdout_json", &cli.stdout_json));
                parts.extend(cli.stderr_contains.as_ref().map(|_| "stderr".to_owned()));
                parts.extend(cli.capture_stdout.as_ref().map(|n| format!("capture.{n}")));
                parts.extend(self.snapshot_plan(cli.snapshot.as_deref()));
            }
            Step::Dns(dns) => {
                parts.push(first_dns_part(dns).to_owned());
                let optional = [
                    ("answers", dns.answers.is_some()),
                    ("answers_within", dns.answers_within.is_some()),
                    ("count", dns.count.is_some()),
                    ("ttl", dns.ttl.is_some()),
                    ("soa_ttl", dns.soa_ttl.is_some()),
                ];
                parts.extend(
                    optional
                        .iter()
                        .filter(|(_, present)| *present)
                        .map(|(part, _)| (*part).to_owned()),
                );
                parts.extend(self.snapshot_plan(dns.snapshot.as_deref()));
            }
            Step::Http(http) => {
                parts.push(first_http_part(http).to_owned());
                parts.extend(leaves("body_json", &http.body_json));
            }
            Step::Container(_) => parts.push("container".to_owned()),
            Step::WaitUntil(wait) => match wait.inner() {
                Ok(inner) => parts = self.plan(&inner),
                Err(_) => parts.push("wait_until".to_owned()),
            },
        }
        parts
    }

    fn snapshot_file(&self, name: &str) -> Option<PathBuf> {
        let (directory, stem) = self.snapshots.as_ref()?;
        Some(directory.join(format!("{stem}__{name}.snap")))
    }

    fn snapshot_plan(&self, name: Option<&str>) -> Vec<String> {
        let Some(name) = name else {
            return Vec::new();
        };
        let part = format!("snapshot.{name}");
        match self.snapshot_file(name).and_then(|f| read_snapshot(&f)) {
            Some(recorded) => flatten(&recorded)
                .into_keys()
                .map(|path| join(&part, &path))
                .collect(),
            None => vec![part],
        }
    }
}

impl<'t> Runner<'t> {
    pub fn new(target: &'t Target, plan: Plan, record: bool) -> Self {
        let mut vars = BTreeMap::new();
        vars.insert("endpoint".to_owned(), target.endpoint.clone());
        if let Some(port) = target
            .endpoint
            .rsplit(':')
            .next()
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        {
            vars.insert("api_port".to_owned(), port.to_owned());
        }
        vars.insert("region".to_owned(), target.region.clone());
        // The repository's examples, for scenarios that run the example's own scripts.
        let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        vars.insert("examples".to_owned(), examples.display().to_string());
        if let Some(dns) = target.dns {
            vars.insert("dns_server".to_owned(), dns.ip().to_string());
            vars.insert("dns_port".to_owned(), dns.port().to_string());
        }
        let unique: String = (0..6)
            .map(|_| char::from(b'a' + rand::random::<u8>() % 26))
            .collect();
        vars.insert("unique".to_owned(), unique);
        Runner {
            target,
            client: reqwest::Client::new(),
            plan,
            vars,
            blocked: BTreeMap::new(),
            refs: Refs::default(),
            record,
            operations: Vec::new(),
        }
    }

    pub async fn run(&mut self, scenario: &Scenario) -> Run {
        let missing: Vec<&str> = scenario
            .requires
            .iter()
            .filter(|c| !self.target.has(**c))
            .map(|c| c.as_str())
            .collect();
        let skipped = if !missing.is_empty() {
            Some(format!(
                "target {} lacks: {}",
                self.target.name,
                missing.join(", ")
            ))
        } else {
            scenario.images.iter().find(|i| !driver::image_present(i)).map(|image| format!(
                "the Docker engine has no image {image} (examples/service-to-service-communication/build-images.sh builds the example's, its resolvers/build-images.sh the resolver matrix's)"
            ))
        };
        if let Some(reason) = skipped {
            return Run {
                checks: self
                    .plan
                    .planned(scenario, &Status::Skipped(reason.clone())),
                skipped: Some(reason),
            };
        }
        let cleaner = Cleaner::new(self.target, self.client.clone());
        let mut checks = Vec::new();
        let before = match &scenario.exclusive {
            Some(_) => match cleaner.inventory(true, "").await {
                Ok(inventory) => {
                    checks.push(self.plan.scenario_check("setup", Status::Pass));
                    Some(inventory)
                }
                Err(error) => {
                    let setup = self.plan.scenario_check(
                        "setup",
                        Status::Fail(format!(
                            "listing the target's resources before the scenario: {error:#}"
                        )),
                    );
                    let by = Status::Blocked(setup.id.clone());
                    let mut checks = self.plan.planned(scenario, &by);
                    checks[0] = setup;
                    return Run {
                        skipped: None,
                        checks,
                    };
                }
            },
            None => None,
        };
        for (index, step) in scenario.steps.iter().enumerate() {
            let sid = step_id(index);
            checks.extend(self.run_step(step, &sid).await);
        }
        if std::env::var("CONFORMANCE_KEEP").is_ok_and(|v| v == "true" || v == "1") {
            checks.push(self.plan.scenario_check(
                "cleanup",
                Status::Skipped("CONFORMANCE_KEEP is set".to_owned()),
            ));
        } else {
            let cleanup = self.clean_up(&cleaner, before.as_ref()).await;
            checks.push(
                self.plan
                    .scenario_check("cleanup", verdict(cleanup.map_err(|e| format!("{e:#}")))),
            );
        }
        Run {
            skipped: None,
            checks,
        }
    }

    /// Removes what the scenario created (see `cleanup.rs`). On a target started empty for this
    /// scenario, anything still there afterwards is an error: the scenario created something
    /// that cleanup cannot attribute to it (a name without `${unique}` outside an exclusive
    /// scenario), which would be left behind on a shared endpoint.
    async fn clean_up(
        &self,
        cleaner: &Cleaner<'_>,
        before: Option<&Inventory>,
    ) -> anyhow::Result<()> {
        for operation in &self.operations {
            // A failed operation leaves nothing to remove.
            let _ = cleaner.wait_operation(operation).await;
        }
        let unique = self
            .vars
            .get("unique")
            .map(String::as_str)
            .unwrap_or_default();
        let now = cleaner.inventory(before.is_some(), unique).await?;
        let owned = cleaner.owned(&now, unique, before).await?;
        cleaner.remove(&owned).await?;
        if self.target.started_empty() {
            let left = cleaner.inventory(true, "").await?;
            if !left.is_empty() {
                anyhow::bail!(
                    "left behind after cleanup (name what you create with ${{unique}}, or declare the scenario exclusive): {}",
                    left.describe()
                );
            }
        }
        Ok(())
    }

    /// One step's checks: its plan, each part with the status the step gave it. A step that
    /// could not run at all fails its first check and blocks the rest; one that uses a variable
    /// from a failed check is blocked as a whole, and so are the variables it would capture.
    async fn run_step(&mut self, step: &Step, sid: &str) -> Vec<Check> {
        if let Step::WaitUntil(wait) = step {
            return self.wait(wait, sid).await;
        }
        let plan = self.plan.plan(step);
        let judged = match self.step(step, sid).await {
            Ok(judged) => judged,
            Err(error) => {
                let (first, rest) = match error.downcast_ref::<BlockedBy>() {
                    Some(BlockedBy(by)) => (Status::Blocked(by.clone()), by.clone()),
                    None => (
                        Status::Fail(format!("{error:#}")),
                        self.plan.id(sid, &plan[0]),
                    ),
                };
                for name in captures(step) {
                    self.blocked.insert(name.clone(), rest.clone());
                }
                plan.iter()
                    .enumerate()
                    .map(|(index, part)| {
                        let status = if index == 0 {
                            first.clone()
                        } else {
                            Status::Blocked(rest.clone())
                        };
                        (part.clone(), status)
                    })
                    .collect()
            }
        };
        let mut judged: Vec<(String, Option<Status>)> =
            judged.into_iter().map(|(p, s)| (p, Some(s))).collect();
        let mut checks: Vec<Check> = plan
            .iter()
            .map(|part| {
                let status = judged
                    .iter_mut()
                    .find(|(p, s)| p == part && s.is_some())
                    .and_then(|(_, s)| s.take())
                    .unwrap_or_else(|| {
                        Status::Fail(
                            "not judged (a bug of the suite: its plan and its run disagree)"
                                .to_owned(),
                        )
                    });
                Check {
                    id: self.plan.id(sid, part),
                    kind: kind(step),
                    status,
                }
            })
            .collect();
        // What the plan could not know: members an observation has beyond its snapshot.
        checks.extend(judged.into_iter().filter_map(|(part, status)| {
            Some(Check {
                id: self.plan.id(sid, &part),
                kind: kind(step),
                status: status?,
            })
        }));
        checks
    }

    /// Repeats the inner step until all its checks pass, it is blocked, or the deadline passes
    /// (then the last attempt's checks stand).
    async fn wait(&mut self, wait: &WaitStep, sid: &str) -> Vec<Check> {
        let setup = wait
            .inner()
            .and_then(|inner| Ok((inner, parse_duration(&wait.timeout)?)));
        let (inner, timeout) = match setup {
            Ok(setup) => setup,
            Err(error) => {
                return vec![Check {
                    id: self.plan.id(sid, "wait_until"),
                    kind: "scenario",
                    status: Status::Fail(format!("{error:#}")),
                }];
            }
        };
        let deadline = Instant::now() + timeout;
        loop {
            let mut checks = Box::pin(self.run_step(&inner, sid)).await;
            // Done when nothing fails: all passed, or what did not pass is blocked by a check
            // that another attempt cannot change.
            if !checks.iter().any(|c| matches!(c.status, Status::Fail(_))) {
                return checks;
            }
            if Instant::now() >= deadline {
                for check in &mut checks {
                    if let Status::Fail(message) = &mut check.status {
                        message.push_str(&format!(" (still so after {})", wait.timeout));
                    }
                }
                return checks;
            }
            // Polling with a deadline: a short pause between attempts.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn step(&mut self, step: &Step, sid: &str) -> anyhow::Result<Parts> {
        match step {
            Step::Api(api) => self.api(api, sid).await,
            Step::Cli(cli) => self.cli(cli, sid),
            Step::Dns(dns) => self.dns(dns).await,
            Step::Http(http) => self.http(http, sid).await,
            Step::Container(step) => {
                if !self.target.has(Capability::Docker) {
                    anyhow::bail!("a container step needs a target with the docker capability");
                }
                let task = self.expand(&step.task)?;
                let cluster = step
                    .cluster
                    .as_deref()
                    .map(|c| self.expand(c))
                    .transpose()?;
                driver::container(
                    &self.client,
                    self.target,
                    cluster.as_deref(),
                    &task,
                    step.action,
                )
                .await?;
                Ok(vec![("container".to_owned(), Status::Pass)])
            }
            Step::WaitUntil(_) => anyhow::bail!("a wait_until inside a wait_until"),
        }
    }

    fn expand(&self, text: &str) -> anyhow::Result<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .with_context(|| format!("unclosed ${{ in {text}"))?;
            let name = &rest[start + 2..start + end];
            if let Some(by) = self.blocked.get(name) {
                return Err(BlockedBy(by.clone()).into());
            }
            let value = self
                .vars
                .get(name)
                .with_context(|| format!("unknown variable ${{{name}}}"))?;
            out.push_str(value);
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn expand_value(&self, value: &Value) -> anyhow::Result<Value> {
        Ok(match value {
            Value::String(text) => Value::String(self.expand(text)?),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.expand_value(v))
                    .collect::<anyhow::Result<_>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.expand_value(v)?)))
                    .collect::<anyhow::Result<_>>()?,
            ),
            other => other.clone(),
        })
    }

    /// `expected`'s leaves (templated) against `actual`, as parts named `part.<path>`: all blocked
    /// by `by` when the call did not go as the step expects, and a leaf that uses a variable from
    /// a failed check blocked by that check.
    fn leaves(&self, part: &str, expected: &Value, actual: &Value, by: Option<&str>) -> Parts {
        expected_leaves(expected)
            .into_iter()
            .map(|(path, leaf)| {
                let status = match by {
                    Some(by) => Status::Blocked(by.to_owned()),
                    None => match self.expand_value(&leaf) {
                        Ok(expanded) if is_one_variable(&leaf) => {
                            verdict(judge_templated_leaf(&expanded, &path, actual))
                        }
                        Ok(expanded) => verdict(judge_leaf(&expanded, &path, actual)),
                        Err(error) => match error.downcast_ref::<BlockedBy>() {
                            Some(BlockedBy(by)) => Status::Blocked(by.clone()),
                            None => Status::Fail(format!("{error:#}")),
                        },
                    },
                };
                (part_with_path(part, &path), status)
            })
            .collect()
    }

    /// A captured variable, or, when its check failed, a variable that blocks its users.
    fn capture(&mut self, name: &str, id: String, value: Result<String, Status>) -> Status {
        match value {
            Ok(value) => {
                self.blocked.remove(name);
                self.vars.insert(name.to_owned(), value);
                Status::Pass
            }
            Err(status) => {
                let by = match &status {
                    Status::Blocked(by) => by.clone(),
                    _ => id,
                };
                self.blocked.insert(name.to_owned(), by);
                status
            }
        }
    }

    async fn api(&mut self, step: &ApiStep, sid: &str) -> anyhow::Result<Parts> {
        let params = self.expand_value(&step.params)?;
        // Expanded leaf by leaf when judged: a leaf that uses a variable from a failed check is
        // blocked, the others are still judged.
        let expect = step.expect.as_ref();
        let result = driver::api(
            &self.client,
            self.target,
            step.service,
            &step.operation,
            &params,
        )
        .await?;
        // Recorded before anything is judged: a call expected to fail that started an operation
        // anyway must be waited for too.
        if step.service == ApiService::Servicediscovery
            && let Some(operation) = result.body.get("OperationId").and_then(Value::as_str)
        {
            self.operations.push(operation.to_owned());
        }
        let error = match (&step.error, &result.error) {
            (None, None) => Ok(()),
            (None, Some(code)) => Err(format!(
                "{} failed with {code} (HTTP {}): {}",
                step.operation, result.status, result.body
            )),
            (Some(expected), None) => Err(format!(
                "{} succeeded, expected {expected}: {}",
                step.operation, result.body
            )),
            (Some(expected), Some(code)) if expected != code => Err(format!(
                "{} failed with {code}, expected {expected}: {}",
                step.operation, result.body
            )),
            (Some(_), Some(_)) => Ok(()),
        };
        // A success where an error was expected, or the other way round: what the step says of
        // the body cannot be judged.
        let error_id = self.plan.id(sid, "error");
        let by = (step.error.is_some() != result.error.is_some()).then_some(error_id.as_str());
        let mut parts = vec![("error".to_owned(), verdict(error))];
        if let Some(expect) = &expect {
            parts.extend(self.leaves("expect", expect, &result.body, by));
        }
        for (name, path) in &step.capture {
            let part = format!("capture.{name}");
            let value = match by {
                Some(by) => Err(Status::Blocked(by.to_owned())),
                None => lookup(&result.body, path)
                    .filter(|value| !value.is_null())
                    .map(|value| match value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .ok_or_else(|| Status::Fail(format!("no {path} in {}", result.body))),
            };
            let status = self.capture(name, self.plan.id(sid, &part), value);
            parts.push((part, status));
        }
        if let Some(name) = &step.snapshot {
            let observed = serde_json::json!({ "status": result.status, "error": result.error, "body": result.body });
            parts.extend(self.snapshot(name, &observed));
        }
        Ok(parts)
    }

    /// The redacted observation against the recorded snapshot, member by member, on every
    /// target. On the recording target insta compares too, so that a changed or new snapshot is
    /// offered for review (`cargo insta review`).
    fn snapshot(&mut self, name: &str, observed: &Value) -> Parts {
        // Names made unique per run go back to their placeholder, so snapshots compare across runs.
        let unique = self.vars.get("unique").cloned().unwrap_or_default();
        let redacted = replace_strings(&self.refs.redact(observed), &unique, "${unique}");
        let part = format!("snapshot.{name}");
        let Some(file) = self.plan.snapshot_file(name) else {
            return vec![(part, Status::Fail("no snapshot directory".to_owned()))];
        };
        crate::suite::note_snapshot(&file);
        // The recording the plan was made from: read before insta may write a new one (with
        // INSTA_UPDATE=always), which is judged on the next run.
        let recorded = read_snapshot(&file);
        if self.record
            && let Some((directory, scenario)) = &self.plan.snapshots
        {
            let mut settings = insta::Settings::clone_current();
            settings.set_snapshot_path(directory);
            settings.set_prepend_module_to_snapshot(false);
            settings.set_omit_expression(true);
            let snapshot_name = format!("{scenario}__{name}");
            // insta reports a mismatch by panicking (after printing the diff and writing the
            // .snap.new); the verdict is the comparison below.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                settings.bind(|| insta::assert_json_snapshot!(snapshot_name.as_str(), redacted));
            }));
        }
        match recorded {
            Some(recorded) => compare_snapshot(&recorded, &redacted)
                .into_iter()
                .map(|(path, result)| (join(&part, &path), verdict(result)))
                .collect(),
            None => vec![(
                part,
                Status::Fail(format!(
                    "no recorded snapshot {}: record it on the reference target and review it (cargo insta review)",
                    file.display()
                )),
            )],
        }
    }

    fn cli(&mut self, step: &CliStep, sid: &str) -> anyhow::Result<Parts> {
        let command = self.expand(&step.run)?;
        let expected_stdout = step.stdout.as_deref().map(|s| self.expand(s)).transpose()?;
        let expected_json = step.stdout_json.as_ref();
        let result = driver::cli(self.target, &command)?;
        let exit = if result.exit == step.exit {
            Ok(())
        } else {
            Err(format!(
                "exit {} (expected {}); stderr: {}; stdout: {}",
                result.exit,
                step.exit,
                result.stderr.trim(),
                result.stdout.trim()
            ))
        };
        let exit_id = self.plan.id(sid, "exit");
        let by = exit.is_err().then_some(exit_id.as_str());
        let mut parts = vec![("exit".to_owned(), verdict(exit))];
        if let Some(expected) = &expected_stdout {
            let status = match by {
                Some(by) => Status::Blocked(by.to_owned()),
                None if result.stdout.trim() == expected.trim() => Status::Pass,
                None => Status::Fail(format!(
                    "stdout {:?}, expected {:?}",
                    result.stdout.trim(),
                    expected.trim()
                )),
            };
            parts.push(("stdout".to_owned(), status));
        }
        if let Some(expected) = &expected_json {
            match serde_json::from_str::<Value>(&result.stdout) {
                Ok(actual) => parts.extend(self.leaves("stdout_json", expected, &actual, by)),
                Err(_) => parts.extend(expected_leaves(expected).into_iter().map(|(path, _)| {
                    let status = match by {
                        Some(by) => Status::Blocked(by.to_owned()),
                        None => Status::Fail(format!("stdout is not JSON: {}", result.stdout)),
                    };
                    (part_with_path("stdout_json", &path), status)
                })),
            }
        }
        if let Some(fragment) = &step.stderr_contains {
            let status = if result.stderr.contains(fragment.as_str()) {
                Status::Pass
            } else {
                Status::Fail(format!("stderr lacks {fragment:?}: {}", result.stderr))
            };
            parts.push(("stderr".to_owned(), status));
        }
        if let Some(name) = &step.capture_stdout {
            let part = format!("capture.{name}");
            let value = match by {
                Some(by) => Err(Status::Blocked(by.to_owned())),
                None => Ok(result.stdout.trim().to_owned()),
            };
            let status = self.capture(name, self.plan.id(sid, &part), value);
            parts.push((part, status));
        }
        if let Some(name) = &step.snapshot {
            let stdout = serde_json::from_str::<Value>(&result.stdout)
                .unwrap_or_else(|_| Value::String(result.stdout.trim().to_owned()));
            parts.extend(self.snapshot(
                name,
                &serde_json::json!({ "exit": result.exit, "stdout": stdout }),
            ));
        }
        Ok(parts)
    }

    async fn dns(&mut self, step: &DnsStep) -> anyhow::Result<Parts> {
        let server = self.target.dns.context("the target has no DNS server")?;
        let name = self.expand(&step.name)?;
        let expand_all = |list: &Option<Vec<String>>| -> anyhow::Result<Option<Vec<String>>> {
            list.as_ref()
                .map(|items| items.iter().map(|a| self.expand(a)).collect())
                .transpose()
        };
        let answers = expand_all(&step.answers)?;
        let within = expand_all(&step.answers_within)?;
        let result =
            driver::dns(server, &name, &step.rtype, step.tcp, step.recursion_desired).await?;
        let mut parts = Vec::new();
        let first = match &step.rcode {
            Some(rcode) if !result.rcode.eq_ignore_ascii_case(rcode) => Err(format!(
                "rcode {} (expected {rcode}): {result:?}",
                result.rcode
            )),
            _ => Ok(()),
        };
        parts.push((first_dns_part(step).to_owned(), verdict(first)));
        if let Some(mut expected) = answers {
            expected.sort();
            let mut actual = result.answers.clone();
            actual.sort();
            let status = if actual == expected {
                Ok(())
            } else {
                Err(format!("answers {actual:?}, expected {expected:?}"))
            };
            parts.push(("answers".to_owned(), verdict(status)));
        }
        if let Some(allowed) = within {
            let status = match result.answers.iter().find(|a| !allowed.contains(a)) {
                Some(stray) => Err(format!("answer {stray} is not among {allowed:?}")),
                None => Ok(()),
            };
            parts.push(("answers_within".to_owned(), verdict(status)));
        }
        if let Some(count) = step.count {
            let status = if result.answers.len() == count {
                Ok(())
            } else {
                Err(format!(
                    "{} answers, expected {count}: {:?}",
                    result.answers.len(),
                    result.answers
                ))
            };
            parts.push(("count".to_owned(), verdict(status)));
        }
        if let Some(ttl) = step.ttl {
            let status = match result.ttls.iter().find(|t| **t != ttl) {
                Some(other) => Err(format!("TTL {other}, expected {ttl}")),
                None if result.ttls.is_empty() => {
                    Err(format!("no answer to carry the TTL {ttl}: {result:?}"))
                }
                None => Ok(()),
            };
            parts.push(("ttl".to_owned(), verdict(status)));
        }
        if let Some(ttl) = step.soa_ttl {
            let status = if result.soa_ttl == Some(ttl) {
                Ok(())
            } else {
                Err(format!(
                    "SOA TTL {:?} in AUTHORITY, expected {ttl}",
                    result.soa_ttl
                ))
            };
            parts.push(("soa_ttl".to_owned(), verdict(status)));
        }
        if let Some(name) = &step.snapshot {
            let mut answers = result.answers.clone();
            answers.sort();
            let observed = serde_json::json!({
                "rcode": result.rcode, "authoritative": result.authoritative,
                "answers": answers, "ttls": result.ttls, "soa_ttl": result.soa_ttl,
            });
            parts.extend(self.snapshot(name, &observed));
        }
        Ok(parts)
    }

    async fn http(&mut self, step: &HttpStep, sid: &str) -> anyhow::Result<Parts> {
        let url = self.expand(&step.get)?;
        let expected = step.body_json.as_ref();
        let response = self
            .client
            .get(&url)
            .timeout(Duration::from_secs(5))
            .send()
            .await?;
        let status = response.status().as_u16();
        let mut parts = Vec::new();
        let first = match step.status {
            Some(expected) if status != expected => {
                Err(format!("HTTP {status}, expected {expected}"))
            }
            _ => Ok(()),
        };
        let first_part = first_http_part(step);
        let by = first.is_err().then(|| self.plan.id(sid, first_part));
        parts.push((first_part.to_owned(), verdict(first)));
        if let Some(expected) = &expected {
            let text = response.text().await.unwrap_or_default();
            match serde_json::from_str::<Value>(&text) {
                Ok(body) => parts.extend(self.leaves("body_json", expected, &body, by.as_deref())),
                Err(_) => parts.extend(expected_leaves(expected).into_iter().map(|(path, _)| {
                    let status = match &by {
                        Some(by) => Status::Blocked(by.clone()),
                        None => Status::Fail(format!("the body is not JSON: {text}")),
                    };
                    (part_with_path("body_json", &path), status)
                })),
            }
        }
        Ok(parts)
    }
}

/// Whether a leaf is exactly one `${variable}`.
fn is_one_variable(leaf: &Value) -> bool {
    leaf.as_str()
        .is_some_and(|s| s.starts_with("${") && s.ends_with('}') && s.matches("${").count() == 1)
}

/// A step's id within its scenario: its place in the file.
fn step_id(index: usize) -> String {
    format!("s{}", index + 1)
}

fn kind(step: &Step) -> &'static str {
    match step {
        Step::Api(_) => "api",
        Step::Cli(_) => "cli",
        Step::Dns(_) => "dns",
        Step::Http(_) => "http",
        Step::Container(_) => "container",
        Step::WaitUntil(wait) => wait.inner().map_or("scenario", |inner| kind(&inner)),
    }
}

/// A DNS step's first check: its rcode, or, when it names none, that an answer came.
fn first_dns_part(step: &DnsStep) -> &'static str {
    if step.rcode.is_some() {
        "rcode"
    } else {
        "answered"
    }
}

/// An HTTP step's first check: its status, or, when it names none, that an answer came.
fn first_http_part(step: &HttpStep) -> &'static str {
    if step.status.is_some() {
        "status"
    } else {
        "answered"
    }
}

/// The variables a step captures.
fn captures(step: &Step) -> Vec<String> {
    match step {
        Step::Api(api) => api.capture.keys().cloned().collect(),
        Step::Cli(cli) => cli.capture_stdout.iter().cloned().collect(),
        Step::WaitUntil(wait) => wait.inner().map(|s| captures(&s)).unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn replace_strings(value: &Value, from: &str, to: &str) -> Value {
    match value {
        Value::String(text) if !from.is_empty() => Value::String(text.replace(from, to)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| replace_strings(v, from, to)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), replace_strings(v, from, to)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `A.B[0].C` in a JSON value.
pub fn lookup<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    let mut current = value;
    for part in path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((key, rest)) => (
                key,
                rest.strip_suffix(']').and_then(|i| i.parse::<usize>().ok()),
            ),
            None => (part, None),
        };
        if !key.is_empty() {
            current = current.get(key)?;
        }
        if let Some(index) = index {
            current = current.get(index)?;
        }
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_reach_into_objects_and_arrays() {
        let value = json!({"Namespaces": [{"Id": "ns-1"}, {"Id": "ns-2"}], "Operation": {"Targets": {"NAMESPACE": "ns-3"}}});
        assert_eq!(lookup(&value, "Namespaces[1].Id"), Some(&json!("ns-2")));
        assert_eq!(
            lookup(&value, "Operation.Targets.NAMESPACE"),
            Some(&json!("ns-3"))
        );
        assert_eq!(lookup(&value, "Namespaces[5].Id"), None);
    }
}
