//! How scenarios talk to a target: the AWS JSON protocol over HTTP, the aws CLI, DNS over UDP or
//! TCP, and plain HTTP. Each returns an observation as JSON, the only thing expectations and
//! snapshots look at.

use std::net::SocketAddr;
use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::scenario::{ApiService, ContainerAction};
use crate::target::Target;

const CLOUDMAP_PREFIX: &str = "Route53AutoNaming_v20170314";
const ECS_PREFIX: &str = "AmazonEC2ContainerServiceV20141113";

/// An API call's result: HTTP status, error code (if any) and body.
pub struct ApiResult {
    pub status: u16,
    pub error: Option<String>,
    pub body: Value,
}

/// Sends one operation, signed with SigV4 (`sigv4.rs`; credentials from the environment, else
/// `test`/`test`), so that real AWS accepts it and emulators can route on the credential scope's
/// region. ECS requests go to the target's ECS endpoint; DiscoverInstances and
/// DiscoverInstancesRevision get the `data-` host prefix when the target asks for it (real AWS).
pub async fn api(
    client: &reqwest::Client,
    target: &Target,
    service: ApiService,
    operation: &str,
    params: &Value,
) -> anyhow::Result<ApiResult> {
    let (prefix, signing_name, endpoint) = match service {
        ApiService::Servicediscovery => (CLOUDMAP_PREFIX, "servicediscovery", &target.endpoint),
        ApiService::Ecs => (ECS_PREFIX, "ecs", &target.ecs_endpoint),
    };
    let body = if params.is_null() {
        json!({})
    } else {
        params.clone()
    };
    let payload = serde_json::to_vec(&body)?;
    let mut url = reqwest::Url::parse(&format!("{endpoint}/"))
        .with_context(|| format!("bad endpoint {endpoint}"))?;
    let Some(host) = url.host_str().map(str::to_owned) else {
        bail!("endpoint {endpoint} has no host");
    };
    // The signature covers the host the request goes to (reqwest sends it from the URL).
    if target.host_prefix && operation.starts_with("DiscoverInstances") {
        url.set_host(Some(&format!("data-{host}")))
            .with_context(|| format!("cannot prefix {endpoint}"))?;
    }
    let credentials = crate::sigv4::Credentials::from_env();
    let headers = vec![
        (
            "content-type".to_owned(),
            "application/x-amz-json-1.1".to_owned(),
        ),
        ("x-amz-target".to_owned(), format!("{prefix}.{operation}")),
    ];
    let signature = crate::sigv4::signature_headers(
        &crate::sigv4::Request {
            method: "POST",
            url: url.as_str(),
            headers: &headers,
            payload: &payload,
        },
        &credentials,
        &target.region,
        signing_name,
        std::time::SystemTime::now(),
    )?;
    let mut request = client.post(url);
    for (name, value) in headers.iter().chain(&signature) {
        request = request.header(name, value);
    }
    let response = request
        .body(payload)
        .send()
        .await
        .with_context(|| format!("{operation}: no answer from {endpoint}"))?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    let body: Value = if text.trim().is_empty() {
        json!({})
    } else {
        serde_json::from_str(&text).with_context(|| format!("{operation}: not JSON: {text}"))?
    };
    let error = (status >= 300).then(|| {
        let code = body
            .get("__type")
            .and_then(Value::as_str)
            .unwrap_or("<no __type>");
        code.rsplit('#')
            .next()
            .unwrap_or(code)
            .split(':')
            .next()
            .unwrap_or(code)
            .to_owned()
    });
    Ok(ApiResult {
        status,
        error,
        body,
    })
}

pub struct CliResult {
    pub exit: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs an aws CLI command line through bash, pointed at the target the way its docs tell users.
pub fn cli(target: &Target, command_line: &str) -> anyhow::Result<CliResult> {
    let output = Command::new("bash")
        .args(["-o", "pipefail", "-c", command_line])
        .envs(cli_credentials())
        .env("AWS_DEFAULT_REGION", &target.region)
        .env("AWS_PAGER", "")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // discover-instances goes to data-<host> unless told otherwise (README).
        .env("AWS_DISABLE_HOST_PREFIX_INJECTION", "true")
        .output()
        .context("cannot run bash")?;
    Ok(CliResult {
        exit: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// The aws CLI's credentials: the caller's (real AWS), else `test`/`test`.
fn cli_credentials() -> Vec<(&'static str, String)> {
    let credentials = crate::sigv4::Credentials::from_env();
    let mut env = vec![
        ("AWS_ACCESS_KEY_ID", credentials.access_key),
        ("AWS_SECRET_ACCESS_KEY", credentials.secret_key),
    ];
    if let Some(token) = credentials.session_token {
        env.push(("AWS_SESSION_TOKEN", token));
    }
    env
}

/// A DNS answer reduced to what expectations look at.
#[derive(Debug)]
pub struct DnsResult {
    pub rcode: String,
    pub answers: Vec<String>,
    pub ttls: Vec<u32>,
    pub soa_ttl: Option<u32>,
    pub authoritative: bool,
}

pub async fn dns(
    server: SocketAddr,
    name: &str,
    rtype: &str,
    tcp: bool,
    recursion_desired: bool,
) -> anyhow::Result<DnsResult> {
    let rtype = RecordType::from_str(&rtype.to_ascii_uppercase())
        .map_err(|e| anyhow::anyhow!("record type {rtype}: {e}"))?;
    let mut message = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = recursion_desired;
    let fqdn = if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    };
    message.add_query(Query::query(Name::from_str(&fqdn)?, rtype));
    let query = message.to_vec()?;
    let bytes = tokio::time::timeout(Duration::from_secs(5), exchange(server, &query, tcp))
        .await
        .context("DNS timeout")??;
    let response = Message::from_vec(&bytes)?;
    if response.metadata.id != message.metadata.id {
        bail!("DNS answer for another query");
    }
    let answers = response.answers.iter().map(|r| rdata(&r.data)).collect();
    let ttls = response.answers.iter().map(|r| r.ttl).collect();
    let soa_ttl = response
        .authorities
        .iter()
        .find(|r| matches!(r.data, RData::SOA(_)))
        .map(|r| r.ttl);
    Ok(DnsResult {
        rcode: format!("{:?}", response.metadata.response_code).to_ascii_uppercase(),
        answers,
        ttls,
        soa_ttl,
        authoritative: response.metadata.authoritative,
    })
}

fn rdata(data: &RData) -> String {
    match data {
        RData::A(a) => a.0.to_string(),
        RData::AAAA(a) => a.0.to_string(),
        RData::SRV(srv) => format!(
            "{} {} {} {}",
            srv.priority,
            srv.weight,
            srv.port,
            srv.target.to_string().to_ascii_lowercase()
        ),
        RData::CNAME(name) => name.0.to_string().to_ascii_lowercase(),
        other => other.to_string(),
    }
}

async fn exchange(server: SocketAddr, query: &[u8], tcp: bool) -> anyhow::Result<Vec<u8>> {
    if tcp {
        let mut stream = tokio::net::TcpStream::connect(server).await?;
        stream
            .write_all(&u16::try_from(query.len())?.to_be_bytes())
            .await?;
        stream.write_all(query).await?;
        let len = stream.read_u16().await?;
        let mut buffer = vec![0u8; usize::from(len)];
        stream.read_exact(&mut buffer).await?;
        Ok(buffer)
    } else {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        socket.send_to(query, server).await?;
        let mut buffer = vec![0u8; 65_535];
        let len = socket.recv(&mut buffer).await?;
        buffer.truncate(len);
        Ok(buffer)
    }
}

/// Acts on the Docker containers of an ECS task: DescribeTasks gives their `runtimeId`s, the
/// docker CLI does the rest.
pub async fn container(
    client: &reqwest::Client,
    target: &Target,
    cluster: Option<&str>,
    task: &str,
    action: ContainerAction,
) -> anyhow::Result<()> {
    let mut params = json!({"tasks": [task]});
    if let Some(cluster) = cluster {
        params["cluster"] = json!(cluster);
    }
    let described = api(client, target, ApiService::Ecs, "DescribeTasks", &params).await?;
    if let Some(code) = described.error {
        bail!("DescribeTasks {task}: {code}: {}", described.body);
    }
    let ids: Vec<String> = described.body["tasks"][0]["containers"]
        .as_array()
        .with_context(|| format!("no task {task}: {}", described.body))?
        .iter()
        .filter_map(|c| c["runtimeId"].as_str().map(str::to_owned))
        .collect();
    if ids.is_empty() {
        bail!("task {task} has no containers with a runtimeId (yet)");
    }
    for id in &ids {
        let output = Command::new("docker")
            .args(match action {
                ContainerAction::Removed => vec!["container", "inspect", "--format", "{{.Id}}"],
                ContainerAction::Hang => vec!["kill", "--signal", "SIGSTOP"],
                other => vec![other.as_str()],
            })
            .arg(id)
            .output()
            .context("cannot run the docker CLI")?;
        let ok = output.status.success();
        match action {
            ContainerAction::Removed if ok => bail!("container {id} of task {task} still exists"),
            ContainerAction::Removed => {}
            _ if !ok => bail!(
                "docker {} {id}: {}",
                action.as_str(),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            _ => {}
        }
    }
    Ok(())
}

/// Whether the Docker engine has `image`.
pub fn image_present(image: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether a Docker engine answers (asked once per run: every scenario's target wants to know).
pub fn docker_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}
