//! The in-memory registry: every namespace, service, instance and operation, with the indexes
//! the API and DNS need. It changes only through [`Registry::apply`], called by the store's writer
//! after (or while) the same [`Change`] goes into SQLite, so memory and disk never disagree.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::{
    Instance, Mutation, Namespace, NamespaceId, Operation, OperationId, OperationType, Region,
    Service, ServiceId, Timestamp,
};

/// One durable change. Writers produce lists of these; the store persists and applies them.
#[derive(Debug, Clone)]
pub enum Change {
    PutNamespace(Namespace),
    DeleteNamespace(NamespaceId),
    PutService(Service),
    DeleteService(ServiceId),
    PutInstance(Instance),
    DeleteInstance {
        service_id: ServiceId,
        instance_id: String,
    },
    PutOperation(Operation),
    /// Forgets a finished operation (retention).
    DeleteOperation(OperationId),
}

#[derive(Debug, Default)]
pub struct Registry {
    namespaces: HashMap<NamespaceId, Namespace>,
    services: HashMap<ServiceId, Service>,
    /// Instances of each service, ordered by instance id (the pagination order of ListInstances).
    instances: HashMap<ServiceId, BTreeMap<String, Instance>>,
    operations: HashMap<OperationId, Operation>,
    /// Operations in creation order: the pagination order of ListOperations.
    operation_order: BTreeSet<(Timestamp, OperationId)>,
    services_by_namespace: HashMap<NamespaceId, BTreeSet<ServiceId>>,
    /// Idempotency tokens of async operations, per region and operation type.
    operation_tokens: HashMap<(Region, OperationType, String), OperationId>,
    /// Operations that have not finished, by what they touch.
    pending_by_namespace: HashMap<NamespaceId, OperationId>,
    pending_by_service: HashMap<ServiceId, OperationId>,
    pending_by_instance: HashMap<(ServiceId, String), OperationId>,
    pending_registrations: HashMap<ServiceId, usize>,
    instance_count: usize,
}

impl Registry {
    pub fn apply(&mut self, change: &Change) {
        match change {
            Change::PutNamespace(namespace) => {
                self.namespaces
                    .insert(namespace.id.clone(), namespace.clone());
            }
            Change::DeleteNamespace(id) => {
                self.namespaces.remove(id);
                self.services_by_namespace.remove(id);
            }
            Change::PutService(service) => {
                self.services_by_namespace
                    .entry(service.namespace_id.clone())
                    .or_default()
                    .insert(service.id.clone());
                self.services.insert(service.id.clone(), service.clone());
            }
            Change::DeleteService(id) => {
                if let Some(service) = self.services.remove(id)
                    && let Some(set) = self.services_by_namespace.get_mut(&service.namespace_id)
                {
                    set.remove(id);
                }
                if let Some(removed) = self.instances.remove(id) {
                    self.instance_count -= removed.len();
                }
            }
            Change::PutInstance(instance) => {
                let previous = self
                    .instances
                    .entry(instance.service_id.clone())
                    .or_default()
                    .insert(instance.id.clone(), instance.clone());
                if previous.is_none() {
                    self.instance_count += 1;
                }
            }
            Change::DeleteInstance {
                service_id,
                instance_id,
            } => {
                if let Some(map) = self.instances.get_mut(service_id) {
                    if map.remove(instance_id).is_some() {
                        self.instance_count -= 1;
                    }
                    if map.is_empty() {
                        self.instances.remove(service_id);
                    }
                }
            }
            Change::PutOperation(operation) => self.put_operation(operation),
            Change::DeleteOperation(id) => {
                if let Some(operation) = self.operations.remove(id) {
                    self.unindex_pending(&operation);
                    self.operation_order
                        .remove(&(operation.create_date, operation.id.clone()));
                    if let Some(token) = &operation.request_token {
                        let key = (operation.region.clone(), operation.kind, token.clone());
                        if self.operation_tokens.get(&key) == Some(id) {
                            self.operation_tokens.remove(&key);
                        }
                    }
                }
            }
        }
    }

    fn put_operation(&mut self, operation: &Operation) {
        if let Some(previous) = self.operations.get(&operation.id).cloned() {
            self.unindex_pending(&previous);
        } else {
            self.operation_order
                .insert((operation.create_date, operation.id.clone()));
            if let Some(token) = &operation.request_token {
                self.operation_tokens.insert(
                    (operation.region.clone(), operation.kind, token.clone()),
                    operation.id.clone(),
                );
            }
        }
        self.index_pending(operation);
        self.operations
            .insert(operation.id.clone(), operation.clone());
    }

    fn index_pending(&mut self, operation: &Operation) {
        let Some(mutation) = &operation.mutation else {
            return;
        };
        let id = operation.id.clone();
        match mutation {
            Mutation::CreateNamespace(namespace) => {
                self.pending_by_namespace.insert(namespace.id.clone(), id);
            }
            Mutation::DeleteNamespace { namespace_id }
            | Mutation::UpdateNamespace { namespace_id, .. } => {
                self.pending_by_namespace.insert(namespace_id.clone(), id);
            }
            Mutation::UpdateService { service_id, .. } => {
                self.pending_by_service.insert(service_id.clone(), id);
            }
            Mutation::RegisterInstance(instance) => {
                self.pending_by_instance
                    .insert((instance.service_id.clone(), instance.id.clone()), id);
                *self
                    .pending_registrations
                    .entry(instance.service_id.clone())
                    .or_default() += 1;
            }
            Mutation::DeregisterInstance {
                service_id,
                instance_id,
            } => {
                self.pending_by_instance
                    .insert((service_id.clone(), instance_id.clone()), id);
            }
            // A failing operation has no target to keep other requests away from.
            Mutation::Fail { .. } => {}
        }
    }

    fn unindex_pending(&mut self, operation: &Operation) {
        let Some(mutation) = &operation.mutation else {
            return;
        };
        match mutation {
            Mutation::CreateNamespace(namespace) => {
                self.pending_by_namespace.remove(&namespace.id);
            }
            Mutation::DeleteNamespace { namespace_id }
            | Mutation::UpdateNamespace { namespace_id, .. } => {
                self.pending_by_namespace.remove(namespace_id);
            }
            Mutation::UpdateService { service_id, .. } => {
                self.pending_by_service.remove(service_id);
            }
            Mutation::RegisterInstance(instance) => {
                self.pending_by_instance
                    .remove(&(instance.service_id.clone(), instance.id.clone()));
                if let Some(count) = self.pending_registrations.get_mut(&instance.service_id) {
                    *count -= 1;
                    if *count == 0 {
                        self.pending_registrations.remove(&instance.service_id);
                    }
                }
            }
            Mutation::DeregisterInstance {
                service_id,
                instance_id,
            } => {
                self.pending_by_instance
                    .remove(&(service_id.clone(), instance_id.clone()));
            }
            Mutation::Fail { .. } => {}
        }
    }

    /// The changes that empty the registry (`POST /_reset`): every instance, service,
    /// namespace and operation, in that order, so each follower sees a consistent removal.
    pub fn clear(&self) -> Vec<Change> {
        let instances = self.instances.iter().flat_map(|(service, instances)| {
            instances.keys().map(|id| Change::DeleteInstance {
                service_id: service.clone(),
                instance_id: id.clone(),
            })
        });
        let services = self.services.keys().cloned().map(Change::DeleteService);
        let namespaces = self.namespaces.keys().cloned().map(Change::DeleteNamespace);
        let operations = self.operations.keys().cloned().map(Change::DeleteOperation);
        instances
            .chain(services)
            .chain(namespaces)
            .chain(operations)
            .collect()
    }

    // ----- reads -----

    /// A namespace by id, only if it lives in `region` and its creation has completed.
    pub fn namespace(&self, region: &Region, id: &NamespaceId) -> Option<&Namespace> {
        self.namespaces.get(id).filter(|ns| &ns.region == region)
    }

    pub fn namespaces<'a>(
        &'a self,
        region: &'a Region,
    ) -> impl Iterator<Item = &'a Namespace> + 'a {
        self.namespaces
            .values()
            .filter(move |ns| &ns.region == region)
    }

    pub fn all_namespaces(&self) -> impl Iterator<Item = &Namespace> {
        self.namespaces.values()
    }

    pub fn namespace_by_http_name(&self, region: &Region, http_name: &str) -> Option<&Namespace> {
        self.namespaces
            .values()
            .find(|ns| &ns.region == region && ns.http_name == http_name)
    }

    pub fn service(&self, region: &Region, id: &ServiceId) -> Option<&Service> {
        self.services
            .get(id)
            .filter(|service| &service.region == region)
    }

    pub fn services<'a>(&'a self, region: &'a Region) -> impl Iterator<Item = &'a Service> + 'a {
        self.services
            .values()
            .filter(move |service| &service.region == region)
    }

    /// A service in any region (for followers, which serve every region).
    pub fn service_by_id(&self, id: &ServiceId) -> Option<&Service> {
        self.services.get(id)
    }

    pub fn namespace_by_id(&self, id: &NamespaceId) -> Option<&Namespace> {
        self.namespaces.get(id)
    }

    pub fn all_services(&self) -> impl Iterator<Item = &Service> {
        self.services.values()
    }

    pub fn services_in_namespace(&self, namespace: &NamespaceId) -> impl Iterator<Item = &Service> {
        self.services_by_namespace
            .get(namespace)
            .into_iter()
            .flatten()
            .filter_map(|id| self.services.get(id))
    }

    pub fn service_count(&self, namespace: &NamespaceId) -> usize {
        self.services_by_namespace
            .get(namespace)
            .map_or(0, BTreeSet::len)
    }

    pub fn instances(&self, service: &ServiceId) -> impl Iterator<Item = &Instance> {
        self.instances
            .get(service)
            .into_iter()
            .flat_map(BTreeMap::values)
    }

    /// Instances whose id is greater than `after`, in id order.
    pub fn instances_after<'a>(
        &'a self,
        service: &ServiceId,
        after: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Instance> + 'a {
        use std::ops::Bound;
        let lower = match after {
            Some(key) => Bound::Excluded(key.to_owned()),
            None => Bound::Unbounded,
        };
        self.instances
            .get(service)
            .into_iter()
            .flat_map(move |map| map.range((lower.clone(), Bound::Unbounded)).map(|(_, i)| i))
    }

    pub fn instance(&self, service: &ServiceId, id: &str) -> Option<&Instance> {
        self.instances.get(service).and_then(|map| map.get(id))
    }

    pub fn instance_count_of(&self, service: &ServiceId) -> usize {
        self.instances.get(service).map_or(0, BTreeMap::len)
    }

    pub fn operation(&self, region: &Region, id: &OperationId) -> Option<&Operation> {
        self.operations.get(id).filter(|op| &op.region == region)
    }

    pub fn operation_by_id(&self, id: &OperationId) -> Option<&Operation> {
        self.operations.get(id)
    }

    /// Operations in creation order, starting after `after`.
    pub fn operations_after<'a>(
        &'a self,
        after: Option<&(Timestamp, OperationId)>,
    ) -> impl Iterator<Item = &'a Operation> + 'a {
        use std::ops::Bound;
        let lower = match after {
            Some(key) => Bound::Excluded(key.clone()),
            None => Bound::Unbounded,
        };
        self.operation_order
            .range((lower, Bound::Unbounded))
            .filter_map(|(_, id)| self.operations.get(id))
    }

    pub fn operation_for_token(
        &self,
        region: &Region,
        kind: OperationType,
        token: &str,
    ) -> Option<&Operation> {
        self.operation_tokens
            .get(&(region.clone(), kind, token.to_owned()))
            .and_then(|id| self.operations.get(id))
    }

    /// The unfinished operation on a namespace (create, update or delete), if any.
    pub fn pending_on_namespace(&self, id: &NamespaceId) -> Option<&Operation> {
        self.pending_by_namespace
            .get(id)
            .and_then(|op| self.operations.get(op))
    }

    pub fn pending_on_service(&self, id: &ServiceId) -> Option<&Operation> {
        self.pending_by_service
            .get(id)
            .and_then(|op| self.operations.get(op))
    }

    pub fn pending_on_instance(&self, service: &ServiceId, instance: &str) -> Option<&Operation> {
        self.pending_by_instance
            .get(&(service.clone(), instance.to_owned()))
            .and_then(|op| self.operations.get(op))
    }

    pub fn pending_registrations(&self, service: &ServiceId) -> usize {
        self.pending_registrations
            .get(service)
            .copied()
            .unwrap_or(0)
    }

    /// Namespaces whose creation has been accepted but not completed.
    pub fn pending_namespace_creations(&self) -> impl Iterator<Item = &Namespace> {
        self.pending_by_namespace.values().filter_map(|op| {
            match self.operations.get(op).and_then(|op| op.mutation.as_ref()) {
                Some(Mutation::CreateNamespace(namespace)) => Some(namespace),
                _ => None,
            }
        })
    }

    /// Finished operations last updated before `cutoff`, oldest first, at most `limit`.
    pub fn expired_operations(&self, cutoff: Timestamp, limit: usize) -> Vec<OperationId> {
        self.operation_order
            .iter()
            .take_while(|(created, _)| *created < cutoff)
            .filter_map(|(_, id)| self.operations.get(id))
            .filter(|op| op.status.is_terminal() && op.update_date < cutoff)
            .take(limit)
            .map(|op| op.id.clone())
            .collect()
    }

    /// Every operation that has not finished, oldest first (resumed at start-up).
    pub fn unfinished_operations(&self) -> Vec<OperationId> {
        let mut pending: Vec<&Operation> = self
            .operations
            .values()
            .filter(|op| op.mutation.is_some())
            .collect();
        pending.sort_by_key(|op| (op.create_date, op.id.clone()));
        pending.into_iter().map(|op| op.id.clone()).collect()
    }

    pub fn sizes(&self) -> RegistrySizes {
        RegistrySizes {
            namespaces: self.namespaces.len(),
            services: self.services.len(),
            instances: self.instance_count,
            operations: self.operations.len(),
            pending_operations: self.pending_by_namespace.len()
                + self.pending_by_service.len()
                + self.pending_by_instance.len(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RegistrySizes {
    pub namespaces: usize,
    pub services: usize,
    pub instances: usize,
    pub operations: usize,
    pub pending_operations: usize,
}
