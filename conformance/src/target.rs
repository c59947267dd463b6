//! What is under test: where its API and DNS are, and what it declares it supports.
//!
//! - `reference`: our server, started from its binary on free loopback ports with in-memory
//!   state, a fast health interval and a fixed DNS seed.
//! - `endpoint`: any implementation already running: `CONFORMANCE_ENDPOINT` (API URL),
//!   `CONFORMANCE_ECS_ENDPOINT` (default: the same), `CONFORMANCE_DNS` (`IP:PORT`, optional),
//!   `CONFORMANCE_CAPABILITIES` (comma-separated), `CONFORMANCE_HOST_PREFIX=true` to send
//!   DiscoverInstances to `data-<host>` (real AWS).

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::scenario::Capability;

/// What the reference server always supports; `docker` is added when a Docker engine answers
/// (its ECS tasks then run as containers there).
pub const REFERENCE_CAPABILITIES: [Capability; 4] = [
    Capability::Dns,
    Capability::ActiveHealth,
    Capability::Cli,
    Capability::Ecs,
];

/// What the strict reference target declares: AWS's rules and timing, no containers, and no
/// active health checks (AWS refuses them in private namespaces, where the scenarios probe).
pub const STRICT_CAPABILITIES: [Capability; 5] = [
    Capability::Dns,
    Capability::Cli,
    Capability::Ecs,
    Capability::StrictAws,
    Capability::AsyncOperations,
];

/// What the k3s target declares: its tasks are pods, so there are no Docker `container` steps.
pub const K3S_CAPABILITIES: [Capability; 4] = [
    Capability::Dns,
    Capability::ActiveHealth,
    Capability::Cli,
    Capability::Ecs,
];

/// What the reference server will declare on this machine.
pub fn reference_capabilities() -> Vec<Capability> {
    REFERENCE_CAPABILITIES
        .into_iter()
        .chain(crate::driver::docker_available().then_some(Capability::Docker))
        .collect()
}

/// What an endpoint target declares in `CONFORMANCE_CAPABILITIES` (comma-separated); an unknown
/// name is an error, not silently dropped.
pub fn endpoint_capabilities() -> anyhow::Result<Vec<Capability>> {
    parse_capabilities(&std::env::var("CONFORMANCE_CAPABILITIES").unwrap_or_default())
}

fn parse_capabilities(list: &str) -> anyhow::Result<Vec<Capability>> {
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            Capability::parse(s.trim()).with_context(|| {
                format!(
                    "unknown capability {:?} in CONFORMANCE_CAPABILITIES; the capabilities are: {}",
                    s.trim(),
                    Capability::names()
                )
            })
        })
        .collect()
}

/// The kinds of target (`CONFORMANCE_TARGET`, `conformance run --target`).
pub const KINDS: [&str; 4] = ["reference", "reference-strict", "endpoint", "k3s"];

/// Checks the target before any scenario runs, so that a mistake is one error naming what is
/// valid rather than a failure per scenario: the kind, and for `endpoint` its variables and that
/// something answers at `CONFORMANCE_ENDPOINT`.
pub fn check(kind: &str) -> anyhow::Result<()> {
    check_with(kind, |name| std::env::var(name).ok())
}

fn unknown_target(kind: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "unknown target {kind:?}; the targets are: {}",
        KINDS.join(", ")
    )
}

/// `CONFORMANCE_DNS`: the DNS server's `IP:PORT`.
fn parse_dns(value: &str) -> anyhow::Result<SocketAddr> {
    value.parse().map_err(|_| {
        anyhow::anyhow!("CONFORMANCE_DNS={value:?} is not IP:PORT, e.g. 127.0.0.1:1053")
    })
}

fn check_with(kind: &str, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
    if !KINDS.contains(&kind) {
        return Err(unknown_target(kind));
    }
    if kind != "endpoint" {
        return Ok(());
    }
    let endpoint = var("CONFORMANCE_ENDPOINT").ok_or_else(|| {
        anyhow::anyhow!(
            "the endpoint target needs CONFORMANCE_ENDPOINT, the URL of the implementation's API, e.g. http://127.0.0.1:5373"
        )
    })?;
    let url = reqwest::Url::parse(&endpoint)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some())
        .with_context(|| {
            format!("CONFORMANCE_ENDPOINT={endpoint:?} is not an http(s) URL, e.g. http://127.0.0.1:5373")
        })?;
    if let Some(dns) = var("CONFORMANCE_DNS") {
        parse_dns(&dns)?;
    }
    parse_capabilities(&var("CONFORMANCE_CAPABILITIES").unwrap_or_default())?;
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(80);
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .map(|mut addresses| {
            addresses.any(|address| {
                std::net::TcpStream::connect_timeout(&address, Duration::from_secs(5)).is_ok()
            })
        })
        .unwrap_or(false);
    if !reachable {
        bail!(
            "nothing answers at CONFORMANCE_ENDPOINT={endpoint}: start the implementation first (ours: cargo run --release -p reference-server)"
        );
    }
    Ok(())
}

pub struct Target {
    pub name: String,
    pub endpoint: String,
    /// Where ECS requests go (the same endpoint for emulators; `ecs.<region>.amazonaws.com` on AWS).
    pub ecs_endpoint: String,
    /// Send DiscoverInstances* to `data-<host>`, as AWS SDKs do (real AWS needs it).
    pub host_prefix: bool,
    pub dns: Option<SocketAddr>,
    pub region: String,
    pub capabilities: Vec<Capability>,
    process: Option<Child>,
}

impl Drop for Target {
    /// The reference server is asked to stop (SIGTERM), so that it stops its ECS tasks and removes
    /// their containers and networks; SIGKILL only if it has not exited after a minute.
    fn drop(&mut self) {
        if let Some(child) = &mut self.process {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => return,
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field("dns", &self.dns)
            .finish()
    }
}

impl Target {
    /// A target of `kind` (`reference` or `endpoint`), called `name` in reports.
    pub fn open(kind: &str, name: &str) -> anyhow::Result<Target> {
        let mut target = match kind {
            "reference" => Target::reference(false)?,
            "reference-strict" => Target::reference(true)?,
            "endpoint" => Target::endpoint()?,
            "k3s" => Target::k3s()?,
            other => return Err(unknown_target(other)),
        };
        target.name = name.to_owned();
        Ok(target)
    }

    pub fn has(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }

    /// A server started for this scenario alone, empty: whatever it holds afterwards, the
    /// scenario left there.
    pub fn started_empty(&self) -> bool {
        self.process.is_some()
    }

    fn endpoint() -> anyhow::Result<Target> {
        let endpoint =
            std::env::var("CONFORMANCE_ENDPOINT").context("CONFORMANCE_ENDPOINT is not set")?;
        let dns = std::env::var("CONFORMANCE_DNS")
            .ok()
            .map(|v| parse_dns(&v))
            .transpose()?;
        let capabilities = endpoint_capabilities()?;
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        Ok(Target {
            name: "endpoint".to_owned(),
            ecs_endpoint: std::env::var("CONFORMANCE_ECS_ENDPOINT")
                .map(|e| e.trim_end_matches('/').to_owned())
                .unwrap_or_else(|_| endpoint.clone()),
            host_prefix: std::env::var("CONFORMANCE_HOST_PREFIX")
                .is_ok_and(|v| v == "true" || v == "1"),
            endpoint,
            dns,
            region: std::env::var("CONFORMANCE_REGION").unwrap_or_else(|_| "us-east-1".to_owned()),
            capabilities,
            process: None,
        })
    }

    /// The reference server inside k3s (see `k3s.rs`); one cluster serves every scenario.
    fn k3s() -> anyhow::Result<Target> {
        if let Some(reason) = crate::k3s::unavailable() {
            bail!("the k3s target cannot run: {reason}");
        }
        let images = [
            "cloudmap-base/debian:bookworm",
            "backend-api:latest",
            "frontend-web:latest",
            "backend-api:nocgo",
            "frontend-web:nocgo",
        ]
        .map(str::to_owned);
        let (api, dns) = crate::k3s::ensure(&reference_binary()?, &images)?;
        let endpoint = format!("http://127.0.0.1:{api}");
        Ok(Target {
            name: "k3s".to_owned(),
            ecs_endpoint: endpoint.clone(),
            host_prefix: false,
            endpoint,
            dns: Some(format!("127.0.0.1:{dns}").parse()?),
            region: "us-east-1".to_owned(),
            capabilities: K3S_CAPABILITIES.to_vec(),
            process: None,
        })
    }

    /// Starts our reference server from its binary (`REFERENCE_SERVER_BIN`, or next to this test
    /// executable in the cargo target directory).
    /// `strict`: the server as AWS behaves rather than as the docs describe (`--strict`), with
    /// seconds-like operation and custom-health delays; it declares `strict-aws` and
    /// `async-operations` and runs no containers (the docs' example needs the docs' behaviour).
    fn reference(strict: bool) -> anyhow::Result<Target> {
        let binary = reference_binary()?;
        let api = free_port()?;
        let dns_port = free_port()?;
        let dns: SocketAddr = format!("127.0.0.1:{dns_port}").parse()?;
        let docker = crate::driver::docker_available();
        let child = Command::new(&binary)
            .args(["--listen", &format!("127.0.0.1:{api}")])
            .args(["--dns-listen", &dns.to_string()])
            .args([
                "--ephemeral",
                "--log",
                "warn",
                "--dns-no-forward",
                "--dns-seed",
                "1",
            ])
            .args(["--health-interval", "200ms", "--health-timeout", "150ms"])
            .args(["--ecs-runtime", if docker { "docker" } else { "none" }])
            .args(["--ecs-poll-interval", "200ms", "--ecs-stop-timeout", "2s"])
            .args(if strict {
                &[
                    "--strict",
                    "--operation-delay",
                    "300ms",
                    "--custom-health-delay",
                    "1s",
                ][..]
            } else {
                &[][..]
            })
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let endpoint = format!("http://127.0.0.1:{api}");
        let mut target = Target {
            name: if strict {
                "reference-strict"
            } else {
                "reference"
            }
            .to_owned(),
            ecs_endpoint: endpoint.clone(),
            host_prefix: false,
            endpoint,
            dns: Some(dns),
            region: "us-east-1".to_owned(),
            capabilities: if strict {
                STRICT_CAPABILITIES.to_vec()
            } else {
                REFERENCE_CAPABILITIES
                    .into_iter()
                    .chain(docker.then_some(Capability::Docker))
                    .collect()
            },
            process: Some(child),
        };
        target.wait_ready()?;
        Ok(target)
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let address = self.endpoint.trim_start_matches("http://").to_owned();
        loop {
            if let Some(child) = &mut self.process
                && let Some(status) = child.try_wait()?
            {
                bail!("the reference server exited during start-up: {status}");
            }
            if health_ok(&address) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the reference server did not become ready at {}",
                    self.endpoint
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn health_ok(address: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(address) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200")
}

/// A port free for both TCP and UDP right now (released for the server to take).
pub fn free_port() -> anyhow::Result<u16> {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0")?;
        let port = tcp.local_addr()?.port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port")
}

fn reference_binary() -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var("REFERENCE_SERVER_BIN") {
        return Ok(PathBuf::from(path));
    }
    // Under cargo (tests, `cargo run -p conformance`), make sure the binary exists and is current:
    // the reference server is not a build dependency of this crate.
    static BUILT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    if let Ok(cargo) = std::env::var("CARGO") {
        BUILT
            .get_or_init(|| {
                eprintln!(
                    "building the reference server for this target: cargo build -p reference-server (set REFERENCE_SERVER_BIN to use another binary)"
                );
                let mut build = Command::new(cargo);
                build.args(["build", "--quiet", "-p", "reference-server"]);
                // Cargo gives a test the package's own variables (CARGO_PKG_NAME=conformance,
                // CARGO_MANIFEST_DIR …); build scripts such as ring's rerun when those change,
                // so passing them on rebuilt ring here and again in the next `cargo test`
                // (measured: ~18 s each time). Only those are removed: the user's own cargo
                // settings stay.
                for (name, _) in std::env::vars_os() {
                    let name = name.to_string_lossy();
                    let set_by_cargo_for_the_test = name == "OUT_DIR"
                        || [
                            "CARGO_PKG_",
                            "CARGO_MANIFEST_",
                            "CARGO_BIN_",
                            "CARGO_CRATE_NAME",
                            "CARGO_PRIMARY_PACKAGE",
                            "CARGO_TARGET_TMPDIR",
                            "CARGO_RUSTC_CURRENT_DIR",
                        ]
                        .iter()
                        .any(|prefix| name.starts_with(prefix));
                    if set_by_cargo_for_the_test {
                        build.env_remove(name.as_ref());
                    }
                }
                let status = build.status();
                match status {
                    Ok(status) if status.success() => Ok(()),
                    Ok(status) => Err(format!("cargo build -p reference-server: {status}")),
                    Err(error) => Err(format!("cargo build -p reference-server: {error}")),
                }
            })
            .clone()
            .map_err(anyhow::Error::msg)?;
    }
    // Tests run from <target>/<profile>/deps/<test>, `cargo run` from <target>/<profile>/<bin>;
    // cargo builds the workspace's binaries into <target>/<profile>.
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("cannot locate the target directory")?;
    let candidate = [
        dir.join("reference-server"),
        dir.parent()
            .map(|p| p.join("reference-server"))
            .unwrap_or_default(),
    ]
    .into_iter()
    .find(|path| path.is_file())
    .unwrap_or_else(|| dir.join("reference-server"));
    if candidate.exists() {
        Ok(candidate)
    } else {
        bail!(
            "{} does not exist: run `cargo build -p reference-server` or set REFERENCE_SERVER_BIN",
            candidate.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(kind: &str, vars: &[(&str, &str)]) -> String {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        format!("{:#}", check_with(kind, lookup).unwrap_err())
    }

    #[test]
    fn a_bad_target_is_one_error_that_names_what_is_valid() {
        assert!(
            error("bogus", &[])
                .contains("the targets are: reference, reference-strict, endpoint, k3s")
        );
        assert!(error("endpoint", &[]).contains("needs CONFORMANCE_ENDPOINT"));
        assert!(
            error("endpoint", &[("CONFORMANCE_ENDPOINT", "localhost:5373")])
                .contains("is not an http(s) URL, e.g. http://127.0.0.1:5373")
        );
        let listening = TcpListener::bind("127.0.0.1:0").unwrap();
        let up = format!("http://{}", listening.local_addr().unwrap());
        assert!(
            error(
                "endpoint",
                &[
                    ("CONFORMANCE_ENDPOINT", &up),
                    ("CONFORMANCE_DNS", "localhost:53")
                ]
            )
            .contains("is not IP:PORT, e.g. 127.0.0.1:1053")
        );
        let capability = error(
            "endpoint",
            &[
                ("CONFORMANCE_ENDPOINT", &up),
                ("CONFORMANCE_CAPABILITIES", "dns, bogus"),
            ],
        );
        assert!(
            capability.contains("unknown capability \"bogus\""),
            "{capability}"
        );
        assert!(
            capability
                .contains("dns, active-health, cli, strict-aws, async-operations, ecs, docker"),
            "{capability}"
        );
        assert!(
            check_with("endpoint", |name| (name == "CONFORMANCE_ENDPOINT")
                .then(|| up.clone()))
            .is_ok()
        );
        drop(listening);
        assert!(error("endpoint", &[("CONFORMANCE_ENDPOINT", &up)]).contains("nothing answers at"));
        assert!(check_with("reference", |_| None).is_ok());
    }
}
