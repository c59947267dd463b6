//! Configuration by flags and environment variables (every flag has a `CLOUDMAP_*` twin).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Parser)]
#[command(
    name = "reference-server",
    version,
    about = "A reference implementation of AWS Cloud Map"
)]
pub struct Config {
    /// Address of the AWS API (Cloud Map JSON 1.1), /health and /metrics.
    #[arg(long, env = "CLOUDMAP_LISTEN", default_value = "127.0.0.1:5373", value_parser = socket_address)]
    pub listen: SocketAddr,

    /// Directory of the SQLite state file. Default: $XDG_DATA_HOME/cloudmap-reference-server
    /// (or ~/.local/share/cloudmap-reference-server).
    #[arg(long, env = "CLOUDMAP_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Keep state in memory only (nothing survives a restart).
    #[arg(long, env = "CLOUDMAP_EPHEMERAL", conflicts_with = "data_dir")]
    pub ephemeral: bool,

    /// `process`: a committed write survives the process being killed (WAL, synchronous=NORMAL).
    /// `power`: it also survives power loss (fsync on every commit).
    #[arg(long, env = "CLOUDMAP_DURABILITY", value_enum, default_value_t = DurabilityArg::Process)]
    pub durability: DurabilityArg,

    /// The AWS account id that owns everything (ARNs, ResourceOwner).
    #[arg(long, env = "CLOUDMAP_ACCOUNT_ID", default_value = "123456789012", value_parser = account_id)]
    pub account_id: String,

    /// Region of unsigned requests (signed ones use their credential scope's region).
    #[arg(long, env = "CLOUDMAP_DEFAULT_REGION", default_value = "us-east-1")]
    pub default_region: String,

    /// Reject what real AWS rejects where the Cloud Map docs do otherwise (HealthCheckConfig in
    /// private DNS namespaces) and enforce AWS's count quotas (50 namespaces per region, 1,000
    /// instances per service, 2,000 per namespace) unless set explicitly.
    #[arg(long, env = "CLOUDMAP_STRICT")]
    pub strict: bool,

    /// How long an async operation stays SUBMITTED, and then PENDING, before it completes
    /// (e.g. `0`, `250ms`, `2s`). AWS takes seconds; the default, 0, finishes an operation in
    /// the request that starts it (it is already SUCCESS or FAIL when the answer arrives).
    #[arg(long, env = "CLOUDMAP_OPERATION_DELAY", default_value = "0", value_parser = duration)]
    pub operation_delay: Duration,

    /// How long a finished operation stays visible to GetOperation and ListOperations (`0`:
    /// forever). AWS's retention is not documented; a day keeps memory bounded under load.
    #[arg(long, env = "CLOUDMAP_OPERATION_RETENTION", default_value = "24h", value_parser = duration)]
    pub operation_retention: Duration,

    /// Namespaces per region (ResourceLimitExceeded beyond).
    #[arg(long, env = "CLOUDMAP_QUOTA_NAMESPACES")]
    pub quota_namespaces: Option<usize>,

    /// Instances per service.
    #[arg(long, env = "CLOUDMAP_QUOTA_INSTANCES_PER_SERVICE")]
    pub quota_instances_per_service: Option<usize>,

    /// Instances per namespace.
    #[arg(long, env = "CLOUDMAP_QUOTA_INSTANCES_PER_NAMESPACE")]
    pub quota_instances_per_namespace: Option<usize>,

    /// Allow `POST /_reset`, which empties the server (Cloud Map and ECS; tasks are stopped and
    /// deregistered first). Off by default, so a shared server cannot be wiped by accident.
    #[arg(long, env = "CLOUDMAP_ALLOW_RESET")]
    pub allow_reset: bool,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "CLOUDMAP_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,

    /// DNS addresses (UDP and TCP), comma-separated or repeated; port 53 needs root.
    #[arg(
        long,
        env = "CLOUDMAP_DNS_LISTEN",
        value_delimiter = ',',
        default_value = "127.0.0.1:1053",
        value_parser = socket_address
    )]
    pub dns_listen: Vec<SocketAddr>,

    /// Serve no DNS at all.
    #[arg(long, env = "CLOUDMAP_NO_DNS")]
    pub no_dns: bool,

    /// UDP worker threads per DNS address (default: one per core).
    #[arg(long, env = "CLOUDMAP_DNS_UDP_WORKERS")]
    pub dns_udp_workers: Option<usize>,

    /// Seed for the DNS answer selection (which records, in which order), for reproducible tests.
    #[arg(long, env = "CLOUDMAP_DNS_SEED")]
    pub dns_seed: Option<u64>,

    /// Upstream resolvers for names outside every namespace (`IP` or `IP:PORT`, comma-separated).
    /// Default: the nameservers of /etc/resolv.conf.
    #[arg(long, env = "CLOUDMAP_DNS_UPSTREAM", value_delimiter = ',', value_parser = upstream)]
    pub dns_upstream: Vec<SocketAddr>,

    /// Do not forward: names outside every namespace are REFUSED.
    #[arg(long, env = "CLOUDMAP_DNS_NO_FORWARD")]
    pub dns_no_forward: bool,

    /// Client networks that may use the server as a resolver (forwarding); everyone else gets
    /// only authoritative answers, so it is never an open resolver.
    #[arg(
        long,
        env = "CLOUDMAP_DNS_ALLOW_RECURSION",
        value_delimiter = ',',
        default_value = "127.0.0.0/8,::1/128"
    )]
    pub dns_allow_recursion: Vec<ipnet::IpNet>,

    /// Add the A/AAAA records of SRV targets to the additional section (Route 53's behaviour here
    /// is unconfirmed; off by default).
    #[arg(long, env = "CLOUDMAP_DNS_SRV_ADDITIONAL")]
    pub dns_srv_additional: bool,

    /// Regions whose DNS namespaces are served, in priority order for namespaces of the same name
    /// in several regions (comma-separated). Default: every region; on a clash the default
    /// region's namespace wins, then the oldest.
    #[arg(long, env = "CLOUDMAP_DNS_REGIONS", value_delimiter = ',')]
    pub dns_regions: Vec<String>,

    /// How often each instance of a service with a HealthCheckConfig is probed (`500ms`, `2s`,
    /// …). Route 53 probes every 30 s (10 s when fast); locally faster is more useful.
    #[arg(long, env = "CLOUDMAP_HEALTH_INTERVAL", default_value = "2s", value_parser = duration)]
    pub health_interval: Duration,

    /// How long one probe may take before it counts as a failure (more than 0, at most the
    /// interval). Default: 1s, or the interval when that is shorter.
    #[arg(long, env = "CLOUDMAP_HEALTH_TIMEOUT", value_parser = duration)]
    pub health_timeout: Option<Duration>,

    /// Probes in flight at once.
    #[arg(long, env = "CLOUDMAP_HEALTH_CONCURRENCY", default_value_t = 512)]
    pub health_concurrency: usize,

    /// How long UpdateInstanceCustomHealthStatus takes to change the status (AWS: about 30 s).
    #[arg(long, env = "CLOUDMAP_CUSTOM_HEALTH_DELAY", default_value = "0", value_parser = duration)]
    pub custom_health_delay: Duration,

    /// Where ECS tasks run: `docker` (the engine at DOCKER_HOST or /var/run/docker.sock),
    /// `kubernetes` (pods, through KUBECONFIG or the in-cluster service account) or `none` (the ECS
    /// API works, tasks stop at once with a stoppedReason saying so).
    #[arg(long, env = "CLOUDMAP_ECS_RUNTIME", value_enum, default_value_t = EcsRuntimeArg::Docker)]
    pub ecs_runtime: EcsRuntimeArg,

    /// Kubernetes runtime: how pods resolve the Cloud Map namespaces. `forward`: CoreDNS forwards
    /// each namespace to `--k8s-dns-forward` (this server's DNS, exact Cloud Map answers);
    /// `rewrite`: the docs' rewrite to headless Services of the region's `default` cluster.
    #[arg(long, env = "CLOUDMAP_K8S_DNS_MODE", value_enum, default_value_t = K8sDnsModeArg::Forward)]
    pub k8s_dns_mode: K8sDnsModeArg,

    /// Kubernetes runtime, forward mode: the address CoreDNS forwards to (this server's DNS as
    /// pods reach it, e.g. its Service's ClusterIP:53).
    #[arg(
        long,
        env = "CLOUDMAP_K8S_DNS_FORWARD",
        default_value = "127.0.0.1:1053",
        value_parser = socket_address
    )]
    pub k8s_dns_forward: SocketAddr,

    /// How often the containers of running tasks are inspected (exits, health checks).
    #[arg(long, env = "CLOUDMAP_ECS_POLL_INTERVAL", default_value = "1s", value_parser = duration)]
    pub ecs_poll_interval: Duration,

    /// SIGTERM-to-SIGKILL grace for containers without a `stopTimeout` (ECS: 30 s).
    #[arg(long, env = "CLOUDMAP_ECS_STOP_TIMEOUT", default_value = "30s", value_parser = duration)]
    pub ecs_stop_timeout: Duration,

    /// The longest pause between launches of a service whose tasks keep failing.
    #[arg(long, env = "CLOUDMAP_ECS_MAX_BACKOFF", default_value = "60s", value_parser = duration)]
    pub ecs_max_backoff: Duration,

    /// Docker runtime: the IPv4 range cluster networks take their subnets from, a `/24` per
    /// cluster not used by another network of the engine. The default, 172.30.0.0/16, is rarely
    /// used by home or office networks (Docker's own pools reach 192.168.0.0/16).
    #[arg(
        long,
        env = "CLOUDMAP_ECS_NETWORK_POOL",
        default_value = "172.30.0.0/16"
    )]
    pub ecs_network_pool: ipnet::Ipv4Net,

    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `reference_server=debug`.
    #[arg(long, env = "CLOUDMAP_LOG", default_value = "info")]
    pub log: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EcsRuntimeArg {
    Docker,
    Kubernetes,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum K8sDnsModeArg {
    Forward,
    Rewrite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DurabilityArg {
    Process,
    Power,
}

impl Config {
    /// The state directory, or `None` for in-memory state.
    pub fn state_dir(&self) -> Option<PathBuf> {
        if self.ephemeral {
            return None;
        }
        if let Some(dir) = &self.data_dir {
            return Some(dir.clone());
        }
        let base = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| {
                std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share"))
            })
            .unwrap_or_else(|| PathBuf::from("."));
        Some(base.join("cloudmap-reference-server"))
    }

    pub fn api_config(&self) -> crate::api::ApiConfig {
        let aws_default = |value: Option<usize>, aws: usize| value.or(self.strict.then_some(aws));
        crate::api::ApiConfig {
            account_id: self.account_id.clone(),
            default_region: self.default_region.clone(),
            strict: self.strict,
            quotas: crate::api::Quotas {
                namespaces: aws_default(self.quota_namespaces, 50),
                instances_per_service: aws_default(self.quota_instances_per_service, 1000),
                instances_per_namespace: aws_default(self.quota_instances_per_namespace, 2000),
            },
            max_body_bytes: self.max_body_bytes,
            allow_reset: self.allow_reset,
        }
    }

    pub fn dns_config(&self) -> Option<crate::dns::DnsConfig> {
        if self.no_dns {
            return None;
        }
        let upstreams = if self.dns_no_forward {
            None
        } else if self.dns_upstream.is_empty() {
            Some(crate::dns::system_upstreams())
        } else {
            Some(self.dns_upstream.clone())
        };
        let regions: Vec<crate::model::Region> = self
            .dns_regions
            .iter()
            .cloned()
            .map(crate::model::Region)
            .collect();
        let mut priority = regions.clone();
        if priority.is_empty() {
            priority.push(crate::model::Region(self.default_region.clone()));
        }
        Some(crate::dns::DnsConfig {
            udp_workers: self
                .dns_udp_workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            seed: self.dns_seed,
            upstreams,
            recursion: self.dns_allow_recursion.clone(),
            srv_additional: self.dns_srv_additional,
            regions: crate::dns::index::RegionPolicy {
                only: regions,
                priority,
            },
        })
    }

    /// The rules between flags that no single flag's parser can check; `main` reports a
    /// violation as a usage error. A `Config` that passes needs no clamping.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("--health-interval", self.health_interval),
            ("--health-timeout", self.health_timeout()),
            ("--ecs-poll-interval", self.ecs_poll_interval),
        ];
        for (flag, value) in positive {
            if value.is_zero() {
                return Err(format!("{flag} must be more than 0, e.g. {flag} 2s"));
            }
        }
        if self.health_timeout() > self.health_interval {
            return Err(format!(
                "--health-timeout ({}) must be at most --health-interval ({}): a probe ends \
                 before the next one starts, e.g. --health-interval 2s --health-timeout 1s",
                humantime::format_duration(self.health_timeout()),
                humantime::format_duration(self.health_interval)
            ));
        }
        Ok(())
    }

    /// `--health-timeout`, or its default: 1 s, or the interval when that is shorter.
    pub fn health_timeout(&self) -> Duration {
        self.health_timeout
            .unwrap_or_else(|| self.health_interval.min(Duration::from_secs(1)))
    }

    pub fn health_config(&self) -> crate::health::HealthConfig {
        crate::health::HealthConfig {
            interval: self.health_interval,
            timeout: self.health_timeout(),
            concurrency: self.health_concurrency,
            custom_delay: self.custom_health_delay,
        }
    }

    pub fn ecs_config(&self) -> crate::ecs::EcsConfig {
        crate::ecs::EcsConfig {
            account_id: self.account_id.clone(),
            poll_interval: self.ecs_poll_interval,
            stop_timeout: self.ecs_stop_timeout,
            max_backoff: self.ecs_max_backoff,
        }
    }

    /// A configuration with every default, for tests and embedding.
    pub fn defaults() -> Config {
        Config::parse_from(["reference-server"])
    }
}

fn account_id(value: &str) -> Result<String, String> {
    if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value.to_owned())
    } else {
        Err("an account id is 12 digits".to_owned())
    }
}

/// An upstream resolver: `IP:PORT`, or `IP` for port 53.
fn upstream(value: &str) -> Result<SocketAddr, String> {
    value
        .parse::<SocketAddr>()
        .or_else(|_| {
            value
                .parse::<std::net::IpAddr>()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .map_err(|_| format!("not an IP address or IP:PORT: {value:?}"))
}

/// `IP:PORT`. Host names are not resolved: the server binds exactly the address it is given.
fn socket_address(value: &str) -> Result<SocketAddr, String> {
    value.parse::<SocketAddr>().map_err(|_| {
        format!(
            "not an IP:PORT address: {value:?}; give an IP address and a port, e.g. \
             127.0.0.1:5373 or [::1]:5373 (host names such as localhost are not resolved)"
        )
    })
}

/// A duration with its unit (`250ms`, `2s`, `1m`, `24h`, `1m 30s`), or `0`. A bare number is
/// refused rather than guessed at: `2` could be seconds or milliseconds.
pub fn duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    if value.bytes().all(|b| b.is_ascii_digit()) && value.bytes().any(|b| b != b'0') {
        return Err(format!(
            "{value:?} has no unit; write e.g. {value}s or {value}ms (units: ms, s, m, h)"
        ));
    }
    humantime::parse_duration(value)
        .map_err(|error| format!("not a duration: {value:?} ({error}); e.g. 250ms, 2s, 1m, 24h"))
}

#[cfg(test)]
mod tests {
    use super::*;

    use rstest::rstest;

    #[rstest]
    #[case("250ms", Duration::from_millis(250))]
    #[case("2s", Duration::from_secs(2))]
    #[case("0", Duration::ZERO)]
    #[case("2h", Duration::from_secs(7200))]
    #[case("1m 30s", Duration::from_secs(90))]
    fn durations_with_units_parse(#[case] text: &str, #[case] expected: Duration) {
        assert_eq!(duration(text), Ok(expected));
    }

    #[rstest]
    #[case("2", "has no unit; write e.g. 2s or 2ms")]
    #[case("two", "e.g. 250ms, 2s, 1m, 24h")]
    #[case("2 parsecs", "e.g. 250ms, 2s, 1m, 24h")]
    fn bad_durations_say_what_a_valid_one_looks_like(#[case] text: &str, #[case] hint: &str) {
        let error = duration(text).unwrap_err();
        assert!(error.contains(hint), "{error}");
    }

    fn parse(args: &[&str]) -> Result<Config, String> {
        let config =
            Config::try_parse_from(std::iter::once("reference-server").chain(args.iter().copied()))
                .map_err(|e| e.to_string())?;
        config.validate().map(|()| config)
    }

    #[rstest]
    #[case(&["--operation-delay", "2"], "has no unit; write e.g. 2s or 2ms")]
    #[case(&["--health-interval", "two"], "e.g. 250ms, 2s, 1m, 24h")]
    #[case(&["--health-interval", "0"], "--health-interval must be more than 0")]
    #[case(&["--health-timeout", "0s"], "--health-timeout must be more than 0")]
    #[case(&["--ecs-poll-interval", "0ms"], "--ecs-poll-interval must be more than 0")]
    #[case(&["--health-interval", "2s", "--health-timeout", "5s"], "--health-timeout (5s) must be at most --health-interval (2s)")]
    #[case(&["--listen", "localhost:5373"], "e.g. 127.0.0.1:5373")]
    #[case(&["--dns-listen", "127.0.0.1"], "e.g. 127.0.0.1:5373")]
    fn bad_flags_get_an_error_that_shows_a_valid_value(#[case] args: &[&str], #[case] hint: &str) {
        let error = parse(args).err().unwrap_or_default();
        assert!(error.contains(hint), "{args:?}: {error}");
    }

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(parse(&[]).map(|_| ()), Ok(()));
        assert!(parse(&["--health-interval", "500ms", "--health-timeout", "500ms"]).is_ok());
        // Without --health-timeout, a short interval shortens the timeout with it.
        let short = parse(&["--health-interval", "100ms"]).unwrap();
        assert_eq!(short.health_timeout(), Duration::from_millis(100));
        assert_eq!(Config::defaults().health_timeout(), Duration::from_secs(1));
    }

    #[test]
    fn strict_mode_enforces_the_aws_quotas_unless_overridden() {
        let strict =
            Config::parse_from(["reference-server", "--strict", "--quota-namespaces", "7"])
                .api_config();
        assert_eq!(strict.quotas.namespaces, Some(7));
        assert_eq!(strict.quotas.instances_per_service, Some(1000));
        assert_eq!(
            Config::defaults().api_config().quotas.instances_per_service,
            None
        );
    }
}
