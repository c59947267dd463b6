//! Keeps the cluster's CoreDNS in step with the Cloud Map DNS namespaces: whenever the set of
//! namespaces changes, the `coredns-custom` ConfigMap is applied again with one server block per
//! namespace, and CoreDNS's `reload` plugin picks it up (k3s's CoreDNS imports
//! `coredns-custom`'s `*.server` keys). DNS pods are never restarted or deleted.

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};
use tokio_util::sync::CancellationToken;

use super::render::{self, DnsMode, Zone};
use crate::model::NamespaceType;
use crate::store::Store;

const PERIOD: Duration = Duration::from_secs(2);

/// The DNS namespaces of the registry, every region.
pub fn zones(store: &Store) -> Vec<Zone> {
    let registry = store.read();
    let mut zones: Vec<Zone> = registry
        .all_namespaces()
        .filter(|n| matches!(n.kind, NamespaceType::DnsPrivate | NamespaceType::DnsPublic))
        .map(|n| Zone {
            name: n.name.clone(),
            region: n.region.0.clone(),
        })
        .collect();
    zones.sort();
    zones
}

/// Applies the ConfigMap whenever the zones change, until `shutdown`.
pub async fn sync(client: kube::Client, mode: DnsMode, store: Store, shutdown: CancellationToken) {
    let api: Api<ConfigMap> = Api::namespaced(client, "kube-system");
    let mut applied: Option<Vec<Zone>> = None;
    loop {
        let current = zones(&store);
        if applied.as_ref() != Some(&current) {
            let object = render::coredns_custom(&current, &mode);
            match api
                .patch(
                    "coredns-custom",
                    &PatchParams::apply("cloudmap-reference-server").force(),
                    &Patch::Apply(&object),
                )
                .await
            {
                Ok(_) => {
                    tracing::info!(zones = current.len(), "coredns-custom applied");
                    applied = Some(current);
                }
                Err(error) => tracing::warn!(%error, "coredns-custom not applied; retrying"),
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(PERIOD) => {}
        }
    }
}
