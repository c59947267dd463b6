//! The `k3s` target: the reference server inside a k3s cluster, its ECS tasks as pods, the
//! namespaces resolved through the cluster's CoreDNS.
//!
//! k3s runs in a Docker container started from a local `rancher/k3s` image
//! (`CONFORMANCE_K3S_IMAGE`, default `rancher/k3s:latest`); nothing is pulled. When the image (or
//! Docker) is missing, every scenario is skipped, saying so. The cluster container is named
//! `cloudmap-conformance-k3s` and reused by later runs (k3s takes half a minute to start); remove
//! it with `docker rm -f cloudmap-conformance-k3s`. Scenarios share the one server, so run them one
//! at a time (`--test-threads 1`): the example scenarios use the same namespace names.
//!
//! Set-up: the reference server image is built from the workspace binary
//! (`reference-server/deploy/Dockerfile`) and imported into k3s's containerd with the images the
//! scenarios use; `reference-server/deploy/kubernetes.yaml` is applied with the server on the
//! node's network, whose API and DNS ports are published on loopback.
//!
//! Not run on the machine this was written on: no k3s image or binary can be obtained there.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub const CONTAINER: &str = "cloudmap-conformance-k3s";

pub fn image() -> String {
    std::env::var("CONFORMANCE_K3S_IMAGE").unwrap_or_else(|_| "rancher/k3s:latest".to_owned())
}

/// Why the k3s target cannot run here, if it cannot.
pub fn unavailable() -> Option<String> {
    if !crate::driver::docker_available() {
        return Some("no Docker engine to run k3s in".to_owned());
    }
    if !crate::driver::image_present(&image()) {
        return Some(format!(
            "no {} image on the Docker engine (set CONFORMANCE_K3S_IMAGE; images cannot be pulled everywhere)",
            image()
        ));
    }
    None
}

fn docker(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("docker")
        .args(args)
        .output()
        .context("cannot run the docker CLI")?;
    if !output.status.success() {
        bail!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn kubectl(args: &[&str]) -> anyhow::Result<String> {
    let mut full = vec!["exec", CONTAINER, "kubectl"];
    full.extend_from_slice(args);
    docker(&full)
}

fn wait(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while !ready() {
        if Instant::now() > deadline {
            bail!("{what} not ready within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(())
}

/// The loopback port published for `port` of the cluster container.
fn published(port: &str) -> anyhow::Result<u16> {
    let mapping = docker(&["port", CONTAINER, port])?;
    mapping
        .lines()
        .next()
        .and_then(|line| line.rsplit(':').next())
        .and_then(|p| p.trim().parse().ok())
        .with_context(|| format!("no published port for {port}: {mapping}"))
}

/// Starts (or finds) the cluster with the reference server deployed; returns the API and DNS
/// ports on 127.0.0.1.
pub fn ensure(reference_binary: &std::path::Path, images: &[String]) -> anyhow::Result<(u16, u16)> {
    let running =
        docker(&["inspect", "-f", "{{.State.Running}}", CONTAINER]).is_ok_and(|r| r == "true");
    if !running {
        let _ = docker(&["rm", "-f", CONTAINER]);
        let dns = crate::target::free_port()?;
        docker(&[
            "run",
            "-d",
            "--privileged",
            "--name",
            CONTAINER,
            "-p",
            "127.0.0.1::5373",
            "-p",
            &format!("127.0.0.1:{dns}:53/udp"),
            "-p",
            &format!("127.0.0.1:{dns}:53/tcp"),
            &image(),
            "server",
            "--disable",
            "traefik",
            "--disable",
            "metrics-server",
            "--disable",
            "servicelb",
        ])?;
        wait("the k3s API server", Duration::from_secs(180), || {
            kubectl(&["get", "--raw", "/readyz"]).is_ok()
        })?;
        deploy(reference_binary, images)?;
    }
    let api = published("5373/tcp")?;
    let dns = published("53/udp")?;
    Ok((api, dns))
}

fn deploy(reference_binary: &std::path::Path, images: &[String]) -> anyhow::Result<()> {
    let context = reference_binary
        .parent()
        .context("the binary has no directory")?;
    let base = ["debian:bookworm-slim", "cloudmap-base/debian:bookworm"]
        .into_iter()
        .find(|i| crate::driver::image_present(i))
        .context("no Debian base image for the server image (run ci/docker.sh)")?;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dockerfile = root.join("reference-server/deploy/Dockerfile");
    docker(&[
        "build",
        "-q",
        "-f",
        &dockerfile.display().to_string(),
        "--build-arg",
        &format!("RUNTIME_IMAGE={base}"),
        "-t",
        "cloudmap-reference-server:latest",
        &context.display().to_string(),
    ])?;
    let mut save = vec![
        "save".to_owned(),
        "cloudmap-reference-server:latest".to_owned(),
    ];
    save.extend(
        images
            .iter()
            .filter(|i| crate::driver::image_present(i))
            .cloned(),
    );
    let mut saver = Command::new("docker")
        .args(&save)
        .stdout(Stdio::piped())
        .spawn()
        .context("docker save")?;
    let stdout = saver.stdout.take().context("docker save has no output")?;
    let status = Command::new("docker")
        .args(["exec", "-i", CONTAINER, "ctr", "images", "import", "-"])
        .stdin(stdout)
        .status()
        .context("ctr images import")?;
    if !saver.wait()?.success() || !status.success() {
        bail!("importing the images into k3s failed");
    }
    let manifests = root.join("reference-server/deploy/kubernetes.yaml");
    let status = Command::new("docker")
        .args(["exec", "-i", CONTAINER, "kubectl", "apply", "-f", "-"])
        .stdin(std::fs::File::open(&manifests)?)
        .status()?;
    if !status.success() {
        bail!("kubectl apply {} failed", manifests.display());
    }
    // On the node's network, so its API and DNS are reachable through the published ports.
    kubectl(&[
        "-n",
        "cloudmap-system",
        "patch",
        "deployment",
        "cloudmap-reference-server",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/spec/template/spec/hostNetwork","value":true}]"#,
    ])?;
    kubectl(&[
        "-n",
        "cloudmap-system",
        "rollout",
        "status",
        "deployment/cloudmap-reference-server",
        "--timeout=180s",
    ])?;
    Ok(())
}
