//! Servers for the tests: in-process on a port-0 listener (most tests), or the real binary as a
//! child process (crash and CLI tests), plus AWS SDK clients pointed at them.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_servicediscovery::Client;
use aws_sdk_servicediscovery::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_servicediscovery::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use clap::Parser;
use reference_server::config::Config;
use tokio_util::sync::CancellationToken;

/// The Rust SDK always sends DiscoverInstances to `data-<host>` and has no opt-out; `data-127.0.0.1`
/// does not resolve, so strip the prefix before the request leaves.
#[derive(Debug)]
struct StripDataPrefix;

impl Intercept for StripDataPrefix {
    fn name(&self) -> &'static str {
        "StripDataPrefix"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_servicediscovery::error::BoxError> {
        let uri = context.request().uri().to_owned();
        if let Some(rest) = uri.strip_prefix("http://data-") {
            context.request_mut().set_uri(format!("http://{rest}"))?;
        }
        Ok(())
    }
}

pub fn client_for(address: SocketAddr, region: &str) -> Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
    let config = aws_sdk_servicediscovery::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(format!("http://{address}"))
        .http_client(http)
        .interceptor(StripDataPrefix)
        .build();
    Client::from_conf(config)
}

/// A server running inside the test process; stopped when dropped.
/// The real ECS SDK client against our endpoint (ECS has no host prefix to strip).
pub fn ecs_client_for(address: SocketAddr) -> aws_sdk_ecs::Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
    let config = aws_sdk_ecs::Config::builder()
        .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
        .region(aws_sdk_ecs::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ecs::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .endpoint_url(format!("http://{address}"))
        .http_client(http)
        .build();
    aws_sdk_ecs::Client::from_conf(config)
}

pub struct TestServer {
    pub address: SocketAddr,
    /// The DNS address (UDP and TCP), when DNS is on.
    pub dns: Option<SocketAddr>,
    pub client: Client,
    shutdown: CancellationToken,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// An ephemeral server with default settings plus `extra` flags.
    /// A server without a task runtime (`--ecs-runtime none`), unless `extra` asks for one.
    pub async fn start(extra: &[&str]) -> TestServer {
        let mut args = vec!["reference-server", "--ephemeral", "--log", "warn"];
        if !extra.contains(&"--ecs-runtime") {
            args.extend_from_slice(&["--ecs-runtime", "none"]);
        }
        args.extend_from_slice(extra);
        Self::with_config(Config::parse_from(args)).await
    }

    pub async fn with_config(config: Config) -> TestServer {
        Self::with_runtime(config, None).await
    }

    /// A server whose ECS tasks run on `runtime` (a scripted one, for scheduler tests).
    pub async fn with_runtime(
        mut config: Config,
        runtime: Option<std::sync::Arc<dyn reference_server::runtime::TaskRuntime>>,
    ) -> TestServer {
        // The flags' rules, as `main` checks them.
        config.validate().unwrap();
        // Port 0 for everything: the kernel picks, the test reads the addresses back.
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.dns_listen = vec!["127.0.0.1:0".parse().unwrap()];
        let listeners = reference_server::server::Listeners::bind(&config)
            .await
            .unwrap();
        let address = listeners.api.local_addr().unwrap();
        let dns = listeners.dns.as_ref().map(|sockets| sockets.addresses()[0]);
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let running = tokio::spawn(async move {
            reference_server::server::run_with_runtime(listeners, config, token, runtime)
                .await
                .unwrap();
        });
        TestServer {
            address,
            dns,
            client: client_for(address, "us-east-1"),
            shutdown,
            running: Some(running),
        }
    }

    /// Shuts the server down and waits until it has stopped (its ECS tasks and containers too).
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(running) = self.running.take() {
            running.await.unwrap();
        }
    }

    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        ecs_client_for(self.address)
    }

    pub fn client_in(&self, region: &str) -> Client {
        client_for(self.address, region)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The real `reference-server` binary as a child process; killed (SIGKILL) when dropped.
pub struct ServerProcess {
    pub address: SocketAddr,
    child: Child,
}

impl ServerProcess {
    /// A server process without a task runtime (`--ecs-runtime none`), unless `extra` asks for
    /// one.
    pub fn spawn(data_dir: &Path, extra: &[&str]) -> ServerProcess {
        Self::spawn_with_env(data_dir, extra, &[])
    }

    pub fn spawn_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        let mut extra = extra.to_vec();
        if !extra.contains(&"--ecs-runtime") {
            extra.extend_from_slice(&["--ecs-runtime", "none"]);
        }
        // Take a free port from the kernel, release it and hand it to the child.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_reference-server"))
            .arg("--listen")
            .arg(address.to_string())
            .arg("--data-dir")
            .arg(data_dir)
            // Children run side by side: DNS on a port of its own (the tests here use the API).
            .args(["--dns-listen", "127.0.0.1:0"])
            .args(["--log", "warn"])
            .args(&extra)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut process = ServerProcess { address, child };
        process.wait_ready();
        process
    }

    /// Polls `GET /health` until it answers, with a deadline.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("reference-server exited during start-up: {status}");
            }
            if health_ok(self.address) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "reference-server did not become ready"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn client(&self) -> Client {
        client_for(self.address, "us-east-1")
    }

    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        ecs_client_for(self.address)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits for a clean exit (ECS stops its tasks first).
    pub fn terminate(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "reference-server exited with {status}");
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill_hard(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary with `args` (and no task runtime) and waits for it to exit, with a deadline:
/// for starts that must be refused. Returns the exit status and what it wrote to stderr.
pub fn run_to_exit(args: &[&str]) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_reference-server"))
        .args(["--ecs-runtime", "none", "--log", "warn"])
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("reference-server {args:?} kept running; it should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

fn health_ok(address: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200))
    else {
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

/// Polls `probe` until it returns `Some`, failing the test after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
