//! The seed document's `aws servicediscovery` commands, run verbatim (only the port differs)
//! through bash and the real aws CLI v1 against the real binary.

use std::collections::BTreeSet;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::ServerProcess;

/// The endpoint the seed document uses; replaced by the test server's.
const SEED_ENDPOINT: &str = "http://localhost:5373";

/// "1. Create a Private DNS Namespace".
const CREATE_NAMESPACE: &str = r#"aws servicediscovery create-private-dns-namespace \
  --name app.local \
  --vpc vpc-default \
  --region us-east-1 \
  --endpoint-url http://localhost:5373"#;

/// "2. Create a Service Discovery Service": the command inside `NAMESPACE_ID=$(...)`.
const NAMESPACE_ID_QUERY: &str = r#"aws servicediscovery list-namespaces \
  --query "Namespaces[?Name=='app.local'].Id" \
  --output text \
  --region us-east-1 \
  --endpoint-url http://localhost:5373"#;

/// "3. Deploy Services": backend service.
const CREATE_BACKEND: &str = r#"aws servicediscovery create-service \
  --name backend-api \
  --namespace-id $NAMESPACE_ID \
  --dns-config "NamespaceId=$NAMESPACE_ID,DnsRecords=[{Type=A,TTL=60}]" \
  --health-check-config "Type=HTTP,ResourcePath=/health,FailureThreshold=3" \
  --region us-east-1 \
  --endpoint-url http://localhost:5373"#;

/// "3. Deploy Services": frontend service.
const CREATE_FRONTEND: &str = r#"aws servicediscovery create-service \
  --name frontend-web \
  --namespace-id $NAMESPACE_ID \
  --dns-config "NamespaceId=$NAMESPACE_ID,DnsRecords=[{Type=A,TTL=60}]" \
  --health-check-config "Type=HTTP,ResourcePath=/health,FailureThreshold=3" \
  --region us-east-1 \
  --endpoint-url http://localhost:5373"#;

/// "Custom TTL".
const CREATE_CUSTOM_TTL: &str = r#"aws servicediscovery create-service \
  --name api-service \
  --namespace-id $NAMESPACE_ID \
  --dns-config "NamespaceId=$NAMESPACE_ID,DnsRecords=[{Type=A,TTL=30}]" \
  --region us-east-1 \
  --endpoint-url http://localhost:5373"#;

/// "List Namespaces".
const LIST_NAMESPACES: &str = r#"aws servicediscovery list-namespaces \
  --region us-east-1 \
  --endpoint-url http://localhost:5373"#;

/// "List Services".
const LIST_SERVICES: &str = r#"aws servicediscovery list-services \
  --region us-east-1 \
  --endpoint-url http://localhost:5373"#;

/// "Discover Instances".
const DISCOVER_BACKEND: &str = r#"aws servicediscovery discover-instances \
  --namespace-name app.local \
  --service-name backend-api \
  --region us-east-1 \
  --endpoint-url http://localhost:5373"#;

/// "3. Deploy Services" as one block, the way a user pastes it: every command back to back, with
/// no waiting between the asynchronous namespace creation and the lookup of its id.
const DEPLOY_SCRIPT: &str = r#"# Create namespace
aws servicediscovery create-private-dns-namespace \
  --name app.local \
  --vpc vpc-default \
  --region us-east-1 \
  --endpoint-url http://localhost:5373

# Create service discovery services
NAMESPACE_ID=$(aws servicediscovery list-namespaces \
  --query "Namespaces[?Name=='app.local'].Id" \
  --output text \
  --region us-east-1 \
  --endpoint-url http://localhost:5373)

# Backend service
aws servicediscovery create-service \
  --name backend-api \
  --namespace-id $NAMESPACE_ID \
  --dns-config "NamespaceId=$NAMESPACE_ID,DnsRecords=[{Type=A,TTL=60}]" \
  --health-check-config "Type=HTTP,ResourcePath=/health,FailureThreshold=3" \
  --region us-east-1 \
  --endpoint-url http://localhost:5373

# Frontend service
aws servicediscovery create-service \
  --name frontend-web \
  --namespace-id $NAMESPACE_ID \
  --dns-config "NamespaceId=$NAMESPACE_ID,DnsRecords=[{Type=A,TTL=60}]" \
  --health-check-config "Type=HTTP,ResourcePath=/health,FailureThreshold=3" \
  --region us-east-1 \
  --endpoint-url http://localhost:5373
"#;

/// "Multiple Namespaces". The seed gives neither `--region` (it comes from the user's
/// configuration, here `AWS_DEFAULT_REGION`) nor `--endpoint-url` (added: we must reach our
/// server).
const MULTIPLE_NAMESPACES: &str = r#"# Production namespace
aws servicediscovery create-private-dns-namespace \
  --name app.local \
  --vpc vpc-default \
  --endpoint-url http://localhost:5373

# Staging namespace
aws servicediscovery create-private-dns-namespace \
  --name staging.local \
  --vpc vpc-default \
  --endpoint-url http://localhost:5373

# Development namespace
aws servicediscovery create-private-dns-namespace \
  --name dev.local \
  --vpc vpc-default \
  --endpoint-url http://localhost:5373
"#;

/// How long an asynchronous operation may take to show its result through the CLI.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(20);

/// Fails with a clear message when the aws CLI v1 is missing: these tests must not pass without it.
fn require_aws_cli_v1() {
    let output = match Command::new("aws").arg("--version").output() {
        Ok(output) => output,
        Err(error) => panic!(
            "the aws CLI v1 is needed by the CLI tests and could not be run ({error}); \
             install it (`pip install awscli`) so that `aws` is on PATH"
        ),
    };
    // v1 prints its version on stderr, newer releases on stdout.
    let version = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        version.starts_with("aws-cli/1."),
        "the CLI tests need the aws CLI v1, found: {version}"
    );
}

/// The aws CLI pointed at one server, isolated from the user's AWS configuration.
struct Cli {
    endpoint: String,
}

impl Cli {
    fn new(server: &ServerProcess) -> Cli {
        require_aws_cli_v1();
        Cli {
            endpoint: format!("http://localhost:{}", server.address.port()),
        }
    }

    /// `bash -c script` (the seed's endpoint replaced by ours) with only our AWS settings.
    fn command(&self, script: &str) -> Command {
        let mut command = Command::new("bash");
        command
            .arg("-euo")
            .arg("pipefail")
            .arg("-c")
            .arg(script.replace(SEED_ENDPOINT, &self.endpoint));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AWS_") {
                command.env_remove(key);
            }
        }
        command
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_PAGER", "");
        command
    }

    /// Runs `script` with `env` added.
    fn run(&self, script: &str, env: &[(&str, &str)]) -> Output {
        self.command(script)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    /// Runs `script`, asserts it succeeded and returns its standard output.
    fn ok(&self, script: &str, env: &[(&str, &str)]) -> String {
        let output = self.run(script, env);
        assert!(
            output.status.success(),
            "{script}\nexited with {}\nstdout: {}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs `script`, asserts it succeeded and parses its standard output as JSON.
    fn json(&self, script: &str, env: &[(&str, &str)]) -> Value {
        let stdout = self.ok(script, env);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|error| panic!("{script}\nprinted no JSON ({error}): {stdout}"))
    }

    /// Runs `script` and asserts that the CLI reported the AWS error `code` for `operation`: exit
    /// status 255, nothing on stdout, the error code parsed from the response on stderr.
    fn fails_with(&self, script: &str, env: &[(&str, &str)], code: &str, operation: &str) {
        let output = self.run(script, env);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(255),
            "{script}\nstderr: {stderr}"
        );
        assert_eq!(String::from_utf8_lossy(&output.stdout), "", "{script}");
        let expected = format!("An error occurred ({code}) when calling the {operation} operation");
        assert!(
            stderr.contains(&expected),
            "{script}\nexpected {expected:?} on stderr: {stderr}"
        );
    }

    /// `discover-instances` goes to `data-<host>` unless host prefix injection is off.
    fn discover(&self, script: &str) -> Value {
        self.json(script, &[("AWS_DISABLE_HOST_PREFIX_INJECTION", "true")])
    }

    /// Polls `get-operation` until the operation succeeds (failing on FAIL or the deadline).
    fn wait_operation(&self, operation_id: &str) -> Value {
        let script = format!(
            "aws servicediscovery get-operation --operation-id {operation_id} \
             --region us-east-1 --endpoint-url {SEED_ENDPOINT}"
        );
        poll(OPERATION_TIMEOUT, || {
            let operation = self.json(&script, &[])["Operation"].clone();
            match operation["Status"].as_str() {
                Some("SUCCESS") => Some(operation),
                Some("FAIL") => panic!("operation {operation_id} failed: {operation}"),
                _ => None,
            }
        })
        .0
    }
}

/// Calls `probe` until it returns `Some` (failing after `timeout`); returns the value and how many
/// calls it took. Each call runs the CLI, which takes a few hundred milliseconds by itself.
fn poll<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> (T, u32) {
    let deadline = Instant::now() + timeout;
    let mut calls = 0;
    loop {
        calls += 1;
        if let Some(value) = probe() {
            return (value, calls);
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {timeout:?} ({calls} tries)"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn is_namespace_id(id: &str) -> bool {
    id.strip_prefix("ns-").is_some_and(|rest| {
        rest.len() == 16
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

fn names(list: &Value) -> BTreeSet<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["Name"].as_str().unwrap())
        .collect()
}

fn find<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|item| item["Name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {list}"))
}

/// Asserts what the CLI printed for one of the seed's `create-service` commands.
fn assert_created_service(
    output: &Value,
    name: &str,
    namespace_id: &str,
    ttl: i64,
    health_checked: bool,
) -> String {
    let service = &output["Service"];
    let id = service["Id"].as_str().unwrap();
    assert!(id.starts_with("srv-") && id.len() == 20, "{id}");
    assert_eq!(service["Name"], name);
    assert_eq!(service["NamespaceId"], namespace_id);
    assert_eq!(
        service["Arn"],
        format!("arn:aws:servicediscovery:us-east-1:123456789012:service/{id}")
    );
    assert_eq!(
        service["Type"], "DNS_HTTP",
        "a service with DnsConfig answers DNS and API queries"
    );
    assert!(
        service.get("InstanceCount").is_none(),
        "not in AWS's create-service output (awscli examples/servicediscovery/create-service.rst)"
    );
    assert_eq!(
        service["DnsConfig"]["NamespaceId"], namespace_id,
        "the deprecated NamespaceId is echoed"
    );
    assert_eq!(
        service["DnsConfig"]["RoutingPolicy"], "MULTIVALUE",
        "the default routing policy"
    );
    assert_eq!(
        service["DnsConfig"]["DnsRecords"],
        json!([{ "Type": "A", "TTL": ttl }])
    );
    if health_checked {
        assert_eq!(
            service["HealthCheckConfig"],
            json!({ "Type": "HTTP", "ResourcePath": "/health", "FailureThreshold": 3 })
        );
    } else {
        assert!(service.get("HealthCheckConfig").is_none(), "{service}");
    }
    assert!(
        service.get("HealthCheckCustomConfig").is_none(),
        "{service}"
    );
    assert!(
        service["CreatorRequestId"].is_string(),
        "the CLI fills the idempotency token"
    );
    id.to_owned()
}

#[test]
fn the_seed_getting_started_flow_works_through_the_aws_cli() {
    let data = tempfile::tempdir().unwrap();
    // backend-api has an HTTP health check on /health: its instance gets a real endpoint.
    let server = ServerProcess::spawn(data.path(), &["--health-interval", "100ms"]);
    let backend_port = healthy_http_endpoint();
    let cli = Cli::new(&server);

    let created = cli.json(CREATE_NAMESPACE, &[]);
    let operation_id = created["OperationId"].as_str().unwrap();
    assert_eq!(
        created.as_object().unwrap().len(),
        1,
        "only OperationId: {created}"
    );

    // A user runs the capture right after the create: record whether the namespace is already
    // listed (the back-to-back script test below requires it), but poll so that this test
    // checks the rest of the flow either way.
    let (stdout, calls) = poll(OPERATION_TIMEOUT, || {
        let stdout = cli.ok(NAMESPACE_ID_QUERY, &[]);
        (!stdout.is_empty()).then_some(stdout)
    });
    println!("app.local was listed after {calls} list-namespaces call(s)");
    let namespace_id = stdout
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("no newline after the id: {stdout:?}"));
    assert!(
        is_namespace_id(namespace_id),
        "exactly one namespace id and a newline, got {stdout:?}"
    );
    let operation = cli.wait_operation(operation_id);
    assert_eq!(operation["Type"], "CREATE_NAMESPACE");
    assert_eq!(operation["Targets"]["NAMESPACE"], namespace_id);

    let env = [("NAMESPACE_ID", namespace_id)];
    let backend = assert_created_service(
        &cli.json(CREATE_BACKEND, &env),
        "backend-api",
        namespace_id,
        60,
        true,
    );
    assert_created_service(
        &cli.json(CREATE_FRONTEND, &env),
        "frontend-web",
        namespace_id,
        60,
        true,
    );
    assert_created_service(
        &cli.json(CREATE_CUSTOM_TTL, &env),
        "api-service",
        namespace_id,
        30,
        false,
    );

    let namespaces = &cli.json(LIST_NAMESPACES, &[])["Namespaces"];
    assert_eq!(names(namespaces), BTreeSet::from(["app.local"]));
    let app = find(namespaces, "app.local");
    assert_eq!(app["Id"], namespace_id);
    assert_eq!(app["Type"], "DNS_PRIVATE");
    assert_eq!(app["ServiceCount"], 3);
    assert_eq!(app["Properties"]["HttpProperties"]["HttpName"], "app.local");
    assert!(
        app["Properties"]["DnsProperties"]["HostedZoneId"]
            .as_str()
            .unwrap()
            .starts_with('Z')
    );

    let services = &cli.json(LIST_SERVICES, &[])["Services"];
    assert_eq!(
        names(services),
        BTreeSet::from(["api-service", "backend-api", "frontend-web"])
    );
    for (name, ttl, health_checked) in [
        ("backend-api", 60, true),
        ("frontend-web", 60, true),
        ("api-service", 30, false),
    ] {
        let service = find(services, name);
        assert_eq!(service["Type"], "DNS_HTTP", "{name}");
        assert_eq!(service["InstanceCount"], 0, "{name}");
        assert_eq!(
            service["DnsConfig"]["DnsRecords"],
            json!([{ "Type": "A", "TTL": ttl }]),
            "{name}"
        );
        assert_eq!(
            service.get("HealthCheckConfig").is_some(),
            health_checked,
            "{name}: {service}"
        );
    }
    assert_eq!(find(services, "backend-api")["Id"], backend);

    let before = cli.discover(DISCOVER_BACKEND);
    assert_eq!(before["Instances"], json!([]), "{before}");
    let revision_before = before["InstancesRevision"].as_i64().unwrap();

    let register = format!(
        "aws servicediscovery register-instance --service-id {backend} --instance-id i-1 \
         --attributes AWS_INSTANCE_IPV4=127.0.0.1,AWS_INSTANCE_PORT={backend_port} \
         --region us-east-1 --endpoint-url {SEED_ENDPOINT}"
    );
    let registered = cli.json(&register, &[]);
    let operation = cli.wait_operation(registered["OperationId"].as_str().unwrap());
    assert_eq!(operation["Type"], "REGISTER_INSTANCE");
    assert_eq!(operation["Targets"]["INSTANCE"], "i-1");
    assert_eq!(operation["Targets"]["SERVICE"], backend);

    // The health checker probes http://127.0.0.1:<port>/health; once it has, the instance is
    // HEALTHY (before that it is UNKNOWN, which counts as healthy too).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let after = loop {
        let after = cli.discover(DISCOVER_BACKEND);
        if after["Instances"][0]["HealthStatus"] == "HEALTHY" {
            break after;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never HEALTHY: {after}"
        );
    };
    assert_eq!(
        after["Instances"],
        json!([{
            "InstanceId": "i-1",
            "NamespaceName": "app.local",
            "ServiceName": "backend-api",
            "HealthStatus": "HEALTHY",
            "Attributes": { "AWS_INSTANCE_IPV4": "127.0.0.1", "AWS_INSTANCE_PORT": backend_port.to_string() },
        }])
    );
    assert!(
        after["InstancesRevision"].as_i64().unwrap() > revision_before,
        "{before} then {after}"
    );
    let services = &cli.json(LIST_SERVICES, &[])["Services"];
    assert_eq!(find(services, "backend-api")["InstanceCount"], 1);
}

#[test]
fn the_seed_deploy_script_works_when_run_back_to_back() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::spawn(data.path(), &[]);
    let cli = Cli::new(&server);
    // `set -eu`: an empty NAMESPACE_ID (namespace not listed yet) makes create-service fail.
    cli.ok(DEPLOY_SCRIPT, &[]);

    let namespace_id = cli.ok(NAMESPACE_ID_QUERY, &[]);
    let namespace_id = namespace_id.trim_end();
    assert!(is_namespace_id(namespace_id), "{namespace_id:?}");
    let in_namespace = cli.json(
        &format!(
            "aws servicediscovery list-services --filters Name=NAMESPACE_ID,Values={namespace_id},Condition=EQ \
             --region us-east-1 --endpoint-url {SEED_ENDPOINT}"
        ),
        &[],
    );
    assert_eq!(
        names(&in_namespace["Services"]),
        BTreeSet::from(["backend-api", "frontend-web"])
    );
}

#[test]
fn the_seed_multiple_namespaces_example_uses_the_configured_region() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::spawn(data.path(), &[]);
    let cli = Cli::new(&server);
    let region = [("AWS_DEFAULT_REGION", "us-east-1")];
    let stdout = cli.ok(MULTIPLE_NAMESPACES, &region);
    // Three JSON documents, one per command.
    let operations: Vec<Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(operations.len(), 3, "{stdout}");
    let mut ids = BTreeSet::new();
    for created in &operations {
        let operation = cli.wait_operation(created["OperationId"].as_str().unwrap());
        ids.insert(
            operation["Targets"]["NAMESPACE"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(ids.len(), 3, "three distinct namespaces: {ids:?}");

    let list = format!("aws servicediscovery list-namespaces --endpoint-url {SEED_ENDPOINT}");
    let namespaces = &cli.json(&list, &region)["Namespaces"];
    assert_eq!(
        names(namespaces),
        BTreeSet::from(["app.local", "dev.local", "staging.local"])
    );
    for namespace in namespaces.as_array().unwrap() {
        let id = namespace["Id"].as_str().unwrap();
        assert!(ids.contains(id), "{namespace}");
        assert_eq!(namespace["Type"], "DNS_PRIVATE");
        assert_eq!(
            namespace["Arn"],
            format!("arn:aws:servicediscovery:us-east-1:123456789012:namespace/{id}"),
            "the region comes from the CLI's configuration"
        );
    }
}

#[test]
fn errors_come_back_aws_shaped_through_the_cli() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::spawn(data.path(), &[]);
    let cli = Cli::new(&server);
    let get_namespace = format!(
        "aws servicediscovery get-namespace --id ns-doesnotexist0000 \
         --region us-east-1 --endpoint-url {SEED_ENDPOINT}"
    );
    cli.fails_with(&get_namespace, &[], "NamespaceNotFound", "GetNamespace");
    // The seed's create-service, pointed at a namespace that does not exist.
    let missing = [("NAMESPACE_ID", "ns-doesnotexist0000")];
    cli.fails_with(
        CREATE_BACKEND,
        &missing,
        "NamespaceNotFound",
        "CreateService",
    );

    // The seed's create-service run twice (the CLI sends a new CreatorRequestId each time).
    let created = cli.json(CREATE_NAMESPACE, &[]);
    let operation = cli.wait_operation(created["OperationId"].as_str().unwrap());
    let env = [(
        "NAMESPACE_ID",
        operation["Targets"]["NAMESPACE"].as_str().unwrap(),
    )];
    cli.json(CREATE_BACKEND, &env);
    cli.fails_with(
        CREATE_BACKEND,
        &env,
        "ServiceAlreadyExists",
        "CreateService",
    );
    // And the namespace twice, on another VPC (on the same VPC AWS accepts the call and fails
    // its operation: tests/it/namespaces.rs).
    cli.fails_with(
        &CREATE_NAMESPACE.replace("vpc-default", "vpc-other"),
        &[],
        "NamespaceAlreadyExists",
        "CreatePrivateDnsNamespace",
    );
}

/// A minimal HTTP server on 127.0.0.1 answering 200 to everything (the backend's /health);
/// returns its port. It lives until the test process ends.
fn healthy_http_endpoint() -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    port
}
