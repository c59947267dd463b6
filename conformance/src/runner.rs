//! Runs a scenario against a target: templating, steps, captures, expectations, waits with
//! deadlines, snapshots of redacted observations.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::cleanup::{Cleaner, Inventory};
use crate::driver;
use crate::redact::Refs;
use crate::scenario::{
    ApiService, ApiStep, Capability, CliStep, DnsStep, HttpStep, Scenario, Step, parse_duration,
};
use crate::target::Target;

pub enum Outcome {
    Passed,
    Skipped(String),
}

pub struct Runner<'t> {
    target: &'t Target,
    client: reqwest::Client,
    vars: BTreeMap<String, String>,
    refs: Refs,
    /// Where this scenario's snapshots live, and its name (their prefix).
    snapshots: Option<(PathBuf, String)>,
    /// The operations the scenario's API steps started: cleanup waits for them, so that a
    /// namespace still being created, or an instance still being registered, when the steps
    /// ended is found and removed too.
    operations: Vec<String>,
}

impl<'t> Runner<'t> {
    pub fn new(target: &'t Target, snapshots: Option<(PathBuf, String)>) -> Self {
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
            vars,
            refs: Refs::default(),
            snapshots,
            operations: Vec::new(),
        }
    }

    pub async fn run(&mut self, scenario: &Scenario) -> anyhow::Result<Outcome> {
        let missing: Vec<&str> = scenario
            .requires
            .iter()
            .filter(|c| !self.target.has(**c))
            .map(|c| c.as_str())
            .collect();
        if !missing.is_empty() {
            return Ok(Outcome::Skipped(format!(
                "target {} lacks: {}",
                self.target.name,
                missing.join(", ")
            )));
        }
        if let Some(image) = scenario.images.iter().find(|i| !driver::image_present(i)) {
            return Ok(Outcome::Skipped(format!(
                "the Docker engine has no image {image} (examples/service-to-service-communication/build-images.sh builds the example's, its resolvers/build-images.sh the resolver matrix's)"
            )));
        }
        let cleaner = Cleaner::new(self.target, self.client.clone());
        let before = match &scenario.exclusive {
            Some(_) => Some(
                cleaner
                    .inventory(true, "")
                    .await
                    .context("listing the target's resources before the scenario")?,
            ),
            None => None,
        };
        let result = self.steps(scenario).await;
        if std::env::var("CONFORMANCE_KEEP").is_ok_and(|v| v == "true" || v == "1") {
            return result.map(|()| Outcome::Passed);
        }
        let cleanup = self.clean_up(&cleaner, before.as_ref()).await;
        match (result, cleanup) {
            (Ok(()), Ok(())) => Ok(Outcome::Passed),
            (Err(error), Ok(())) => Err(error),
            (Ok(()), Err(cleanup)) => {
                Err(cleanup.context("the steps passed, but cleaning up after them failed"))
            }
            (Err(error), Err(cleanup)) => Err(anyhow::anyhow!(
                "{error:#}\n(cleaning up after the failure failed too: {cleanup:#})"
            )),
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
                bail!(
                    "left behind after cleanup (name what you create with ${{unique}}, or declare the scenario exclusive): {}",
                    left.describe()
                );
            }
        }
        Ok(())
    }

    /// The steps in order, up to the first that fails.
    async fn steps(&mut self, scenario: &Scenario) -> anyhow::Result<()> {
        for (index, step) in scenario.steps.iter().enumerate() {
            self.step(step)
                .await
                .with_context(|| format!("step {} ({})", index + 1, describe(step)))?;
        }
        Ok(())
    }

    async fn step(&mut self, step: &Step) -> anyhow::Result<()> {
        match step {
            Step::Api(api) => self.api(api).await,
            Step::Cli(cli) => self.cli(cli),
            Step::Dns(dns) => self.dns(dns).await,
            Step::Http(http) => self.http(http).await,
            Step::Container(step) => {
                if !self.target.has(Capability::Docker) {
                    bail!("a container step needs a target with the docker capability");
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
                .await
            }
            Step::WaitUntil(wait) => {
                let inner = wait.inner()?;
                let deadline = Instant::now() + parse_duration(&wait.timeout)?;
                loop {
                    match Box::pin(self.step(&inner)).await {
                        Ok(()) => return Ok(()),
                        Err(error) if Instant::now() >= deadline => {
                            return Err(
                                error.context(format!("still failing after {}", wait.timeout))
                            );
                        }
                        // Polling with a deadline: a short pause between attempts.
                        Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            }
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

    async fn api(&mut self, step: &ApiStep) -> anyhow::Result<()> {
        let params = self.expand_value(&step.params)?;
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
        match (&step.error, &result.error) {
            (None, Some(code)) => bail!(
                "{} failed with {code} (HTTP {}): {}",
                step.operation,
                result.status,
                result.body
            ),
            (Some(expected), None) => bail!(
                "{} succeeded, expected {expected}: {}",
                step.operation,
                result.body
            ),
            (Some(expected), Some(code)) if expected != code => {
                bail!(
                    "{} failed with {code}, expected {expected}: {}",
                    step.operation,
                    result.body
                )
            }
            _ => {}
        }
        if let Some(expect) = &step.expect {
            matches(&self.expand_value(expect)?, &result.body, "")?;
        }
        for (name, path) in &step.capture {
            let value = lookup(&result.body, path)
                .with_context(|| format!("no {path} in {}", result.body))?;
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            self.vars.insert(name.clone(), text);
        }
        if let Some(name) = &step.snapshot {
            let observed = serde_json::json!({ "status": result.status, "error": result.error, "body": result.body });
            self.snapshot(name, &observed)?;
        }
        Ok(())
    }

    fn snapshot(&mut self, name: &str, observed: &Value) -> anyhow::Result<()> {
        let Some((directory, scenario)) = &self.snapshots else {
            return Ok(());
        };
        // Names made unique per run go back to their placeholder, so snapshots compare across runs.
        let unique = self.vars.get("unique").cloned().unwrap_or_default();
        let redacted = replace_strings(&self.refs.redact(observed), &unique, "${unique}");
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(directory);
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        let snapshot_name = format!("{scenario}__{name}");
        crate::suite::note_snapshot(&directory.join(format!("{snapshot_name}.snap")));
        // insta reports a mismatch by panicking; caught here, so that cleanup still runs after it.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            settings.bind(|| insta::assert_json_snapshot!(snapshot_name.as_str(), redacted));
        }))
        .map_err(|panic| {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            anyhow::anyhow!("snapshot {snapshot_name} does not match (diff above): {message}")
        })
    }

    fn cli(&mut self, step: &CliStep) -> anyhow::Result<()> {
        let command = self.expand(&step.run)?;
        let result = driver::cli(self.target, &command)?;
        if result.exit != step.exit {
            bail!(
                "exit {} (expected {}); stderr: {}; stdout: {}",
                result.exit,
                step.exit,
                result.stderr.trim(),
                result.stdout.trim()
            );
        }
        if let Some(expected) = &step.stdout {
            let expected = self.expand(expected)?;
            if result.stdout.trim() != expected.trim() {
                bail!(
                    "stdout {:?}, expected {:?}",
                    result.stdout.trim(),
                    expected.trim()
                );
            }
        }
        if let Some(expected) = &step.stdout_json {
            let actual: Value = serde_json::from_str(&result.stdout)
                .with_context(|| format!("stdout is not JSON: {}", result.stdout))?;
            matches(&self.expand_value(expected)?, &actual, "")?;
        }
        if let Some(fragment) = &step.stderr_contains
            && !result.stderr.contains(fragment.as_str())
        {
            bail!("stderr lacks {fragment:?}: {}", result.stderr);
        }
        if let Some(name) = &step.capture_stdout {
            self.vars
                .insert(name.clone(), result.stdout.trim().to_owned());
        }
        if let Some(name) = &step.snapshot {
            let stdout = serde_json::from_str::<Value>(&result.stdout)
                .unwrap_or_else(|_| Value::String(result.stdout.trim().to_owned()));
            self.snapshot(
                name,
                &serde_json::json!({ "exit": result.exit, "stdout": stdout }),
            )?;
        }
        Ok(())
    }

    async fn dns(&mut self, step: &DnsStep) -> anyhow::Result<()> {
        let server = self.target.dns.context("the target has no DNS server")?;
        let name = self.expand(&step.name)?;
        let result =
            driver::dns(server, &name, &step.rtype, step.tcp, step.recursion_desired).await?;
        if let Some(rcode) = &step.rcode
            && !result.rcode.eq_ignore_ascii_case(rcode)
        {
            bail!("rcode {} (expected {rcode}): {result:?}", result.rcode);
        }
        if let Some(expected) = &step.answers {
            let mut expected: Vec<String> = expected
                .iter()
                .map(|a| self.expand(a))
                .collect::<anyhow::Result<_>>()?;
            expected.sort();
            let mut actual = result.answers.clone();
            actual.sort();
            if actual != expected {
                bail!("answers {actual:?}, expected {expected:?}");
            }
        }
        if let Some(allowed) = &step.answers_within {
            let allowed: Vec<String> = allowed
                .iter()
                .map(|a| self.expand(a))
                .collect::<anyhow::Result<_>>()?;
            if let Some(stray) = result.answers.iter().find(|a| !allowed.contains(a)) {
                bail!("answer {stray} is not among {allowed:?}");
            }
        }
        if let Some(count) = step.count
            && result.answers.len() != count
        {
            bail!(
                "{} answers, expected {count}: {:?}",
                result.answers.len(),
                result.answers
            );
        }
        if let Some(ttl) = step.ttl
            && let Some(other) = result.ttls.iter().find(|t| **t != ttl)
        {
            bail!("TTL {other}, expected {ttl}");
        }
        if let Some(ttl) = step.soa_ttl
            && result.soa_ttl != Some(ttl)
        {
            bail!("SOA TTL {:?} in AUTHORITY, expected {ttl}", result.soa_ttl);
        }
        if let Some(name) = &step.snapshot {
            let mut answers = result.answers.clone();
            answers.sort();
            let observed = serde_json::json!({
                "rcode": result.rcode, "authoritative": result.authoritative,
                "answers": answers, "ttls": result.ttls, "soa_ttl": result.soa_ttl,
            });
            self.snapshot(name, &observed)?;
        }
        Ok(())
    }

    async fn http(&mut self, step: &HttpStep) -> anyhow::Result<()> {
        let url = self.expand(&step.get)?;
        let response = self
            .client
            .get(&url)
            .timeout(Duration::from_secs(5))
            .send()
            .await?;
        let status = response.status().as_u16();
        if let Some(expected) = step.status
            && status != expected
        {
            bail!("HTTP {status}, expected {expected}");
        }
        if let Some(expected) = &step.body_json {
            let body: Value = response.json().await?;
            matches(&self.expand_value(expected)?, &body, "")?;
        }
        Ok(())
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

fn describe(step: &Step) -> String {
    match step {
        Step::Api(api) => format!("api {}", api.operation),
        Step::Cli(cli) => format!("cli {}", cli.run.lines().next().unwrap_or_default()),
        Step::Dns(dns) => format!("dns {} {}", dns.name, dns.rtype),
        Step::Http(http) => format!("http GET {}", http.get),
        Step::Container(step) => format!("container {} {}", step.action.as_str(), step.task),
        Step::WaitUntil(wait) => format!(
            "wait_until ({})",
            wait.inner().map(|s| describe(&s)).unwrap_or_default()
        ),
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

/// `expected` is contained in `actual`: objects by key (other keys may exist; `"<absent>"` says a
/// key must not), arrays element by element with the same length, `"<any>"` matches any non-null
/// value, numbers by value.
pub fn matches(expected: &Value, actual: &Value, path: &str) -> anyhow::Result<()> {
    match (expected, actual) {
        (Value::String(s), actual) if s == "<any>" => {
            if actual.is_null() {
                bail!("{path}: expected a value, found none");
            }
        }
        (Value::Object(expected), Value::Object(actual)) => {
            for (key, value) in expected {
                let here = format!("{path}.{key}");
                match (value, actual.get(key)) {
                    (Value::String(s), found) if s == "<absent>" => {
                        if let Some(found) = found {
                            bail!("{here}: expected absent, found {found}");
                        }
                    }
                    (value, Some(found)) => matches(value, found, &here)?,
                    (_, None) => bail!("{here}: missing"),
                }
            }
        }
        (Value::Array(expected), Value::Array(actual)) => {
            if expected.len() != actual.len() {
                bail!(
                    "{path}: {} items, expected {}: {}",
                    actual.len(),
                    expected.len(),
                    Value::Array(actual.clone())
                );
            }
            for (index, (e, a)) in expected.iter().zip(actual).enumerate() {
                matches(e, a, &format!("{path}[{index}]"))?;
            }
        }
        // A captured or templated value is a string; it matches the number it was taken from.
        (Value::String(e), Value::Number(a)) if *e == a.to_string() => {}
        (Value::Number(e), Value::Number(a)) => {
            if e.as_f64() != a.as_f64() {
                bail!("{path}: {a}, expected {e}");
            }
        }
        (e, a) => {
            if e != a {
                bail!("{path}: {a}, expected {e}");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expectations_are_subsets_with_any_and_absent() {
        let actual = json!({"A": 1, "B": {"C": "x", "D": [1, 2]}, "E": null});
        assert!(
            matches(&json!({"A": 1.0}), &actual, "").is_ok(),
            "numbers by value"
        );
        assert!(matches(&json!({"B": {"C": "<any>"}}), &actual, "").is_ok());
        assert!(matches(&json!({"Z": "<absent>"}), &actual, "").is_ok());
        assert!(matches(&json!({"A": "<absent>"}), &actual, "").is_err());
        assert!(
            matches(&json!({"E": "<any>"}), &actual, "").is_err(),
            "null is not a value"
        );
        assert!(
            matches(&json!({"B": {"D": [1]}}), &actual, "").is_err(),
            "arrays keep their length"
        );
        assert!(
            matches(&json!({"B": {"D": [2, 1]}}), &actual, "").is_err(),
            "arrays keep their order"
        );
        let err = matches(&json!({"B": {"C": "y"}}), &actual, "").unwrap_err();
        assert!(err.to_string().contains(".B.C"), "{err}");
    }

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
