"""ECS lifecycle latencies of reference-server against the bare Docker engine (the peer).

Ours, through the ECS and Cloud Map APIs (boto3): CreateService with desiredCount 2 until both
tasks are registered HEALTHY and DNS answers both addresses ("up"); docker kill of one task
until the replacement is registered and DNS answers two live addresses without the dead one
("failover"); UpdateService 0 + DeleteService until no container is left ("down").
Peer, through the docker CLI: the same containers on a bridge network — two `docker run` and
their addresses ("up"), `docker kill` + one `docker run` ("failover"), `docker rm -f` ("down").
The ratio ours/peer is what the ECS/Cloud Map/DNS layer costs on top of the engine.
"""
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import benchlib  # noqa: E402  (ci/benchlib.py)

import boto3
from botocore.config import Config

ENDPOINT = sys.argv[1]
DNS = (sys.argv[2].split(":")[0], int(sys.argv[2].split(":")[1]))
IMAGE = os.environ.get("IMAGE", "cloudmap-base/debian:bookworm")
ROUNDS = int(os.environ.get("ROUNDS", "5"))
POLL = 0.005

config = Config(region_name="us-east-1", retries={"max_attempts": 1}, inject_host_prefix=False)
session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test")
ecs = session.client("ecs", endpoint_url=ENDPOINT, config=config)
sd = session.client("servicediscovery", endpoint_url=ENDPOINT, config=config)


def dns_a(name):
    """The A records of `name` from the server's DNS (one UDP query)."""
    _, query = benchlib.dns_query(name)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1)
        s.sendto(query, DNS)
        return benchlib.a_records(s.recv(4096))[1]


def wait(condition, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(POLL)


def docker(*args):
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout.strip()


def healthy(service_id):
    status = sd.get_instances_health_status(ServiceId=service_id)["Status"]
    listed = sd.list_instances(ServiceId=service_id)["Instances"]
    return {i["Id"]: i["Attributes"]["AWS_INSTANCE_IPV4"] for i in listed if status.get(i["Id"]) == "HEALTHY"}


def running(cluster, service):
    arns = ecs.list_tasks(cluster=cluster, serviceName=service)["taskArns"]
    if not arns:
        return []
    return [t for t in ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if t["lastStatus"] == "RUNNING"]


def ours():
    op = sd.create_private_dns_namespace(Name="bench.local", Vpc="vpc-bench")["OperationId"]
    wait(lambda: sd.get_operation(OperationId=op)["Operation"]["Status"] == "SUCCESS")
    ns = sd.list_namespaces()["Namespaces"][0]["Id"]
    ecs.create_cluster(clusterName="bench")
    ecs.register_task_definition(
        family="bench", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": IMAGE, "command": ["sleep", "infinity"], "essential": True,
                               "portMappings": [{"containerPort": 8080}],
                               "linuxParameters": {"initProcessEnabled": True}}])
    results = {"up": [], "failover": [], "down": []}
    for round_ in range(ROUNDS):
        name = f"web{round_}"
        svc = sd.create_service(Name=name, NamespaceId=ns, DnsConfig={"DnsRecords": [{"Type": "A", "TTL": 10}]},
                                HealthCheckCustomConfig={})["Service"]
        fqdn = f"{name}.bench.local"
        t0 = time.monotonic()
        ecs.create_service(cluster="bench", serviceName=name, taskDefinition="bench", desiredCount=2,
                           launchType="FARGATE",
                           networkConfiguration={"awsvpcConfiguration": {"subnets": ["s"]}},
                           serviceRegistries=[{"registryArn": svc["Arn"], "containerName": "app", "containerPort": 8080}])
        up = wait(lambda: (lambda h: h if len(h) == 2 and dns_a(fqdn) == set(h.values()) else None)(healthy(svc["Id"])))
        results["up"].append(time.monotonic() - t0)
        victim = wait(lambda: [t for t in running("bench", name) if t["taskArn"].endswith(next(iter(up)))])[0]
        victim_id = next(iter(up))
        t1 = time.monotonic()
        docker("kill", victim["containers"][0]["runtimeId"])
        wait(lambda: (lambda h: len(h) == 2 and victim_id not in h and dns_a(fqdn) == set(h.values()))(healthy(svc["Id"])))
        results["failover"].append(time.monotonic() - t1)
        t2 = time.monotonic()
        ecs.update_service(cluster="bench", service=name, desiredCount=0)
        ecs.delete_service(cluster="bench", service=name)
        wait(lambda: ecs.describe_services(cluster="bench", services=[name])["services"][0]["status"] == "INACTIVE")
        results["down"].append(time.monotonic() - t2)
    return results


def peer():
    network = "cloudmap-bench-peer"
    subprocess.run(["docker", "network", "rm", network], capture_output=True)
    docker("network", "create", network)
    results = {"up": [], "failover": [], "down": []}
    ip = lambda c: docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", c)
    try:
        for _ in range(ROUNDS):
            t0 = time.monotonic()
            containers = [docker("run", "-d", "--init", "--network", network, IMAGE, "sleep", "infinity") for _ in range(2)]
            [ip(c) for c in containers]
            results["up"].append(time.monotonic() - t0)
            t1 = time.monotonic()
            docker("kill", containers[0])
            killed = containers[0]
            containers[0] = docker("run", "-d", "--init", "--network", network, IMAGE, "sleep", "infinity")
            ip(containers[0])
            results["failover"].append(time.monotonic() - t1)
            docker("rm", "-f", killed)
            t2 = time.monotonic()
            subprocess.run(["docker", "rm", "-f", *containers], check=True, capture_output=True)
            results["down"].append(time.monotonic() - t2)
    finally:
        subprocess.run(["docker", "network", "rm", network], capture_output=True)
    return results


mode = sys.argv[3]
print(json.dumps(ours() if mode == "ours" else peer()))
