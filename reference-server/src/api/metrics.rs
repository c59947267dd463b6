//! Prometheus metrics: requests and latency per operation and outcome, plus registry sizes
//! (read at scrape time). Lock-free counters; the operation set is fixed at start.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::store::RegistrySizes;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

#[derive(Debug, Default)]
struct OperationMetrics {
    ok: AtomicU64,
    client_error: AtomicU64,
    server_error: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    sum_micros: AtomicU64,
}

#[derive(Debug)]
pub struct Metrics {
    names: Vec<&'static str>,
    operations: Vec<OperationMetrics>,
    probes_ok: AtomicU64,
    probes_failed: AtomicU64,
    became_healthy: AtomicU64,
    became_unhealthy: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    Ok,
    ClientError,
    ServerError,
}

impl Metrics {
    pub fn new(names: Vec<&'static str>) -> Self {
        let operations = names.iter().map(|_| OperationMetrics::default()).collect();
        Metrics {
            names,
            operations,
            probes_ok: AtomicU64::new(0),
            probes_failed: AtomicU64::new(0),
            became_healthy: AtomicU64::new(0),
            became_unhealthy: AtomicU64::new(0),
        }
    }

    pub fn health_probe(&self, ok: bool) {
        if ok {
            &self.probes_ok
        } else {
            &self.probes_failed
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    pub fn health_change(&self, to: crate::model::HealthStatus) {
        match to {
            crate::model::HealthStatus::Healthy => &self.became_healthy,
            _ => &self.became_unhealthy,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    pub fn record(&self, operation: &str, outcome: Outcome, elapsed: Duration) {
        let Some(index) = self.names.iter().position(|name| *name == operation) else {
            return;
        };
        let metrics = &self.operations[index];
        match outcome {
            Outcome::Ok => &metrics.ok,
            Outcome::ClientError => &metrics.client_error,
            Outcome::ServerError => &metrics.server_error,
        }
        .fetch_add(1, Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&metrics.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        metrics.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn render(&self, sizes: RegistrySizes) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP cloudmap_requests_total API requests by operation and outcome."
        );
        let _ = writeln!(out, "# TYPE cloudmap_requests_total counter");
        for (name, m) in self.names.iter().zip(&self.operations) {
            for (outcome, counter) in [
                ("ok", &m.ok),
                ("client_error", &m.client_error),
                ("server_error", &m.server_error),
            ] {
                let _ = writeln!(
                    out,
                    "cloudmap_requests_total{{operation=\"{name}\",outcome=\"{outcome}\"}} {}",
                    counter.load(Ordering::Relaxed)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP cloudmap_request_duration_seconds API request latency by operation."
        );
        let _ = writeln!(out, "# TYPE cloudmap_request_duration_seconds histogram");
        for (name, m) in self.names.iter().zip(&self.operations) {
            let count = m.ok.load(Ordering::Relaxed)
                + m.client_error.load(Ordering::Relaxed)
                + m.server_error.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            for (bound, bucket) in BUCKETS.iter().zip(&m.buckets) {
                let _ = writeln!(
                    out,
                    "cloudmap_request_duration_seconds_bucket{{operation=\"{name}\",le=\"{bound}\"}} {}",
                    bucket.load(Ordering::Relaxed)
                );
            }
            let _ = writeln!(
                out,
                "cloudmap_request_duration_seconds_bucket{{operation=\"{name}\",le=\"+Inf\"}} {count}"
            );
            let sum = m.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "cloudmap_request_duration_seconds_sum{{operation=\"{name}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "cloudmap_request_duration_seconds_count{{operation=\"{name}\"}} {count}"
            );
        }
        for (name, help, rows) in [
            (
                "cloudmap_health_probes_total",
                "Active health probes by result.",
                [
                    ("result=\"success\"", &self.probes_ok),
                    ("result=\"failure\"", &self.probes_failed),
                ],
            ),
            (
                "cloudmap_health_changes_total",
                "Instance health status changes by new status.",
                [
                    ("to=\"HEALTHY\"", &self.became_healthy),
                    ("to=\"UNHEALTHY\"", &self.became_unhealthy),
                ],
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for (labels, counter) in rows {
                let _ = writeln!(
                    out,
                    "{name}{{{labels}}} {}",
                    counter.load(Ordering::Relaxed)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP cloudmap_registry_size Resources in the registry, all regions."
        );
        let _ = writeln!(out, "# TYPE cloudmap_registry_size gauge");
        for (kind, value) in [
            ("namespaces", sizes.namespaces),
            ("services", sizes.services),
            ("instances", sizes.instances),
            ("operations", sizes.operations),
            ("pending_operations", sizes.pending_operations),
        ] {
            let _ = writeln!(out, "cloudmap_registry_size{{kind=\"{kind}\"}} {value}");
        }
        out
    }
}
