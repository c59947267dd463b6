//! The YAML scenario model. Unknown fields are errors, so a typo never silently skips a check.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// What an implementation must support for a scenario to run; a target declares what it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// An authoritative DNS server for the namespaces.
    Dns,
    /// HealthCheckConfig instances are actually probed.
    ActiveHealth,
    /// The aws CLI is installed where the suite runs.
    Cli,
    /// Rejects what AWS rejects (no docs-compatibility divergences).
    StrictAws,
    /// Async operations go through SUBMITTED/PENDING with a delay.
    AsyncOperations,
    /// The ECS API subset (clusters, task definitions, services, tasks).
    Ecs,
    /// ECS tasks run as Docker containers on the engine the suite can reach (`container` steps,
    /// scenario `images`).
    Docker,
}

impl Capability {
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Dns => "dns",
            Capability::ActiveHealth => "active-health",
            Capability::Cli => "cli",
            Capability::StrictAws => "strict-aws",
            Capability::AsyncOperations => "async-operations",
            Capability::Ecs => "ecs",
            Capability::Docker => "docker",
        }
    }

    pub const ALL: [Capability; 7] = [
        Capability::Dns,
        Capability::ActiveHealth,
        Capability::Cli,
        Capability::StrictAws,
        Capability::AsyncOperations,
        Capability::Ecs,
        Capability::Docker,
    ];

    pub fn parse(value: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.as_str() == value)
    }

    /// Every capability, by name, for error messages.
    pub fn names() -> String {
        Capability::ALL
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A scenario file under `scenarios/` (see the README, "Conformance suite"): what it shows, what
/// the target must support, and its steps. Unknown fields are errors.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Cloud Map conformance scenario")]
pub struct Scenario {
    pub description: String,
    #[serde(default)]
    pub requires: Vec<Capability>,
    /// Container images the scenario's tasks use; the scenario is skipped, saying which is
    /// missing, when the Docker engine lacks one (they cannot be pulled everywhere).
    #[serde(default)]
    pub images: Vec<String>,
    /// Why the scenario needs the target to itself (e.g. it creates the docs' fixed names
    /// `app.local` and the ECS cluster `default`). On a target shared by the whole run (an
    /// endpoint, k3s) such a scenario runs alone, and what it leaves behind is found by comparing
    /// the target's resources before and after it rather than by the run's `${unique}` names.
    #[serde(default)]
    pub exclusive: Option<String>,
    /// Why the scenario takes long (e.g. the docs' example run through its scripts, some thirty aws
    /// CLI processes): `cargo test -p conformance` reports it as ignored, with this reason, unless
    /// `CONFORMANCE_SLOW=true` or `--include-ignored`; `conformance run` and `./ci/test.sh` always
    /// run it.
    #[serde(default)]
    pub slow: Option<String>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    Api(ApiStep),
    Cli(CliStep),
    Dns(DnsStep),
    Http(HttpStep),
    Container(ContainerStep),
    WaitUntil(Box<WaitStep>),
}

/// Acts on the containers of an ECS task (found through DescribeTasks' `runtimeId`) on the
/// Docker engine: `kill` (the process dies), `stop` (SIGTERM), `hang` (SIGSTOP to the main
/// process, PID 1 — with `initProcessEnabled` that is the init, not the program: a stuck
/// backend — the kernel still accepts connections, nothing answers, and the container keeps
/// running, so its health check fails only after `retries` × `interval`),
/// `pause` (the cgroup freezer: Docker reports a paused container with a health check as
/// unhealthy at once, so ECS replaces it), `unpause`, or `removed` (asserts the containers no
/// longer exist).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerStep {
    #[serde(default)]
    pub cluster: Option<String>,
    pub task: String,
    pub action: ContainerAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContainerAction {
    Kill,
    Stop,
    Hang,
    Pause,
    Unpause,
    Removed,
}

impl ContainerAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerAction::Kill => "kill",
            ContainerAction::Stop => "stop",
            ContainerAction::Hang => "hang",
            ContainerAction::Pause => "pause",
            ContainerAction::Unpause => "unpause",
            ContainerAction::Removed => "removed",
        }
    }
}

/// Any Cloud Map operation with its JSON parameters (PascalCase, as in the API reference), or an
/// ECS one (`service: ecs`, camelCase parameters).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiStep {
    #[serde(default)]
    pub service: ApiService,
    pub operation: String,
    #[serde(default)]
    pub params: Value,
    /// Expected error code (`__type`); absent means success is expected.
    #[serde(default)]
    pub error: Option<String>,
    /// A subset of the response body that must match, each member a check of its own (see
    /// `check::judge_leaf`).
    #[serde(default)]
    pub expect: Option<Value>,
    /// Variables to take from the response: name → path like `Operation.Targets.NAMESPACE`.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// Record the redacted response as an insta snapshot under this name.
    #[serde(default)]
    pub snapshot: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApiService {
    #[default]
    Servicediscovery,
    Ecs,
}

/// An aws CLI command line, run by bash as a user would type it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CliStep {
    pub run: String,
    #[serde(default)]
    pub exit: i32,
    #[serde(default)]
    pub stdout: Option<String>,
    #[serde(default)]
    pub stdout_json: Option<Value>,
    #[serde(default)]
    pub stderr_contains: Option<String>,
    /// Store the trimmed stdout in this variable.
    #[serde(default)]
    pub capture_stdout: Option<String>,
    /// Record exit code and stdout (JSON when it parses) as an insta snapshot under this name.
    #[serde(default)]
    pub snapshot: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsStep {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    #[serde(default)]
    pub rcode: Option<String>,
    /// The answer section's data, as a set (order is the server's choice).
    #[serde(default)]
    pub answers: Option<Vec<String>>,
    /// Every answer must be one of these.
    #[serde(default)]
    pub answers_within: Option<Vec<String>>,
    #[serde(default)]
    pub count: Option<usize>,
    #[serde(default)]
    pub ttl: Option<u32>,
    /// The TTL of the SOA in the authority section (negative answers).
    #[serde(default)]
    pub soa_ttl: Option<u32>,
    #[serde(default)]
    pub tcp: bool,
    /// The RD (recursion desired) bit of the query; on by default, as `dig` sends it. Off, the
    /// question is one for an authoritative server only: a name outside its zones is REFUSED
    /// whether or not the server would otherwise forward it to an upstream resolver.
    #[serde(default = "yes")]
    pub recursion_desired: bool,
    /// Record rcode, sorted answers and TTLs as an insta snapshot under this name.
    #[serde(default)]
    pub snapshot: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpStep {
    pub get: String,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub body_json: Option<Value>,
}

/// Repeats one step until it passes or the deadline runs out.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitStep {
    #[serde(default = "default_timeout")]
    pub timeout: String,
    #[serde(default)]
    pub api: Option<ApiStep>,
    #[serde(default)]
    pub dns: Option<DnsStep>,
    #[serde(default)]
    pub cli: Option<CliStep>,
    #[serde(default)]
    pub http: Option<HttpStep>,
}

fn yes() -> bool {
    true
}

fn default_timeout() -> String {
    "30s".to_owned()
}

impl WaitStep {
    pub fn inner(&self) -> anyhow::Result<Step> {
        let steps: Vec<Step> = [
            self.api.clone().map(Step::Api),
            self.dns.clone().map(Step::Dns),
            self.cli.clone().map(Step::Cli),
            self.http.clone().map(Step::Http),
        ]
        .into_iter()
        .flatten()
        .collect();
        match <[Step; 1]>::try_from(steps) {
            Ok([step]) => Ok(step),
            Err(_) => anyhow::bail!("wait_until takes exactly one of api, dns, cli, http"),
        }
    }
}

/// A duration with its unit (`250ms`, `30s`, `2m`, `1m 30s`), read by humantime as the server
/// reads its flags; a bare number other than 0 is refused rather than guessed at.
pub fn parse_duration(text: &str) -> anyhow::Result<std::time::Duration> {
    let text = text.trim();
    if text.bytes().all(|b| b.is_ascii_digit()) && text.bytes().any(|b| b != b'0') {
        anyhow::bail!("duration {text:?} has no unit; write e.g. {text}s or {text}ms");
    }
    humantime::parse_duration(text)
        .map_err(|e| anyhow::anyhow!("not a duration: {text:?} ({e}); e.g. 500ms, 30s, 2m"))
}

/// The JSON Schema of a scenario file, generated from these types (their serde attributes and doc
/// comments); `conformance/scenario.schema.json` is this, written by `conformance schema`.
pub fn schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Scenario)).unwrap_or_default();
    schema["$id"] = "https://example.invalid/cloudmap-conformance/scenario.schema.json".into();
    schema
}

/// Reads a scenario. YAML is read as a plain document first and then mapped onto the model, so
/// steps can be written as one-key maps (`- api: {...}`) rather than YAML tags.
pub fn load(path: &std::path::Path) -> anyhow::Result<Scenario> {
    let text = std::fs::read_to_string(path)?;
    let document: serde_norway::Value =
        serde_norway::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let document = serde_json::to_value(document)?;
    serde_json::from_value(document).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Editors validate scenarios with the committed schema; it must be the one the types give.
    #[test]
    fn the_committed_schema_is_generated_from_the_scenario_types() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenario.schema.json");
        let committed: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(
            committed == schema(),
            "{} is not the schema of the scenario types: regenerate it with\n  cargo run -q -p conformance -- schema > conformance/scenario.schema.json",
            path.display()
        );
    }

    #[test]
    fn every_scenario_file_loads() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let files = crate::suite::discover(&root);
        assert!(files.len() > 40, "{} scenario files", files.len());
        for file in files {
            if let Err(error) = load(&file.path) {
                panic!("{error:#}");
            }
        }
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1m 30s").unwrap(), Duration::from_secs(90));
        let error = parse_duration("30").unwrap_err().to_string();
        assert!(error.contains("no unit; write e.g. 30s"), "{error}");
        let error = parse_duration("soon").unwrap_err().to_string();
        assert!(error.contains("e.g. 500ms, 30s, 2m"), "{error}");
    }
}
