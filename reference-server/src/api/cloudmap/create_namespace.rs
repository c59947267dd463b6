//! What CreateHttpNamespace, CreatePrivateDnsNamespace and CreatePublicDnsNamespace share:
//! idempotency, the name clash rules, the namespace quota, and submitting CREATE_NAMESPACE.
//! A second private namespace of one name on one VPC is accepted and its operation fails, as on
//! AWS (see `same_zone_on_same_vpc`); every other clash is `NamespaceAlreadyExists` at once.

use super::common::{Context, NewOperation, duplicate_request, http_name_for, namespaces_clash};
use super::validate::{self, Validator};
use super::wire;
use crate::api::error::ApiError;
use crate::api::protocol::request_id;
use crate::model::{
    self, Mutation, Namespace, NamespaceId, NamespaceType, Operation, OperationType, Region, Tags,
    Timestamp,
};

/// The SOA TTL of a DNS namespace created without `Properties` (spec U2: 15 s, UNCONFIRMED).
pub const DEFAULT_SOA_TTL: i64 = 15;

/// What a create request asks for, once validated.
pub struct Draft {
    pub name: String,
    pub kind: NamespaceType,
    pub vpc: Option<String>,
    pub description: Option<String>,
    pub soa_ttl: Option<i64>,
    pub token: Option<String>,
    pub tags: Vec<(String, String)>,
}

/// Validates the members all three create operations have.
pub fn validate_common(
    v: &mut Validator,
    token: Option<&String>,
    description: Option<&String>,
    tags: Option<&Vec<wire::Tag>>,
) -> Vec<(String, String)> {
    validate::request_token(v, "creatorRequestId", token);
    validate::description(v, "description", description);
    tags.map(|tags| validate::tags(v, "tags", tags))
        .unwrap_or_default()
}

/// `Properties.DnsProperties.SOA.TTL`, each level required once its parent is given.
pub fn soa_ttl(
    v: &mut Validator,
    properties: Option<&wire::NamespacePropertiesInput>,
) -> Option<i64> {
    let properties = properties?;
    let dns = v.required("properties.dnsProperties", &properties.dns_properties)?;
    let soa = v.required("properties.dnsProperties.sOA", &dns.soa)?;
    let ttl = *v.required("properties.dnsProperties.sOA.tTL", &soa.ttl)?;
    v.range(
        "properties.dnsProperties.sOA.tTL",
        ttl,
        0,
        i64::from(i32::MAX),
    )
    .then_some(ttl)
}

pub async fn submit(ctx: &Context<'_>, draft: Draft) -> Result<wire::OperationIdOutput, ApiError> {
    let region = ctx.region.clone();
    let quota = ctx.state.config.quotas.namespaces;
    let state = ctx.state;
    let operations = ctx.state.operations.clone();
    let operation = ctx
        .state
        .store
        .write(move |registry| {
            if let Some(token) = &draft.token
                && let Some(previous) =
                    registry.operation_for_token(&region, OperationType::CreateNamespace, token)
            {
                let same = match previous.namespace_id.as_ref() {
                    Some(id) => {
                        let existing = registry.namespace(&region, id).or_else(|| {
                            registry
                                .pending_namespace_creations()
                                .find(|ns| &ns.id == id)
                        });
                        existing.is_none_or(|ns| ns.name == draft.name && ns.kind == draft.kind)
                    }
                    // Only a create accepted to fail (`conflicting_domain`) has no namespace: its
                    // replay returns that operation, as a replay of a finished one does.
                    None => true,
                };
                return if same {
                    Ok((previous.id.clone(), Vec::new()))
                } else {
                    Err(duplicate_request(registry, previous))
                };
            }
            if let Some(existing) = registry
                .namespaces(&region)
                .find(|ns| same_zone_on_same_vpc(ns, &draft))
            {
                let operation = conflicting_domain(&region, existing, draft.token);
                let id = operation.id.clone();
                let changes = operations.accept(registry, operation);
                return Ok((id, changes));
            }
            let existing = registry
                .namespaces(&region)
                .chain(
                    registry
                        .pending_namespace_creations()
                        .filter(|ns| ns.region == region),
                )
                .find(|ns| namespaces_clash(ns.kind, &ns.name, draft.kind, &draft.name));
            if let Some(existing) = existing {
                return Err(ApiError::new(
                    "NamespaceAlreadyExists",
                    format!("Namespace {} already exists: {}", draft.name, existing.id),
                )
                .with(
                    "CreatorRequestId",
                    existing.creator_request_id.clone().unwrap_or_default(),
                )
                .with("NamespaceId", existing.id.as_str()));
            }
            if let Some(limit) = quota {
                let count = registry.namespaces(&region).count()
                    + registry
                        .pending_namespace_creations()
                        .filter(|ns| ns.region == region)
                        .count();
                if count >= limit {
                    return Err(ApiError::new(
                        "ResourceLimitExceeded",
                        format!("The namespace quota of {limit} per region has been reached"),
                    ));
                }
            }
            let mut rng = rand::rng();
            let now = Timestamp::now();
            let namespace = Namespace {
                id: NamespaceId::generate(&mut rng),
                region: region.clone(),
                http_name: http_name_for(registry, &region, &draft.name),
                name: draft.name,
                kind: draft.kind,
                description: draft.description,
                vpc: draft.vpc,
                soa_ttl: if draft.kind.is_dns() {
                    Some(draft.soa_ttl.unwrap_or(DEFAULT_SOA_TTL))
                } else {
                    None
                },
                hosted_zone_id: draft
                    .kind
                    .is_dns()
                    .then(|| model::ids::hosted_zone_id(&mut rng)),
                creator_request_id: draft.token.clone(),
                create_date: now,
                tags: draft.tags.into_iter().collect::<Tags>(),
            };
            let operation = NewOperation {
                kind: OperationType::CreateNamespace,
                token: draft.token,
                namespace_id: Some(namespace.id.clone()),
                service_id: None,
                instance_id: None,
                mutation: Mutation::CreateNamespace(namespace),
            }
            .build(&region, now);
            let id = operation.id.clone();
            let changes = operations.accept(registry, operation);
            Ok((id, changes))
        })
        .await?;
    state.operations.submit(operation.clone());
    Ok(wire::OperationIdOutput {
        operation_id: operation.0,
    })
}

/// Whether `draft` asks for a second private zone of `existing`'s name on `existing`'s VPC.
///
/// Real AWS accepts such a CreatePrivateDnsNamespace and fails its operation with Route 53's
/// ConflictingDomainExists (aws/copilot-cli#2377: "The VPC vpc-… in region us-west-2 has already
/// been associated with the hosted zone Z… with the same domain name. (Service: AmazonRoute53;
/// Status Code: 400; Error Code: ConflictingDomainExists; …)"; hashicorp/terraform-provider-aws
/// PR #7118: GetOperation `ErrorCode: CANNOT_CREATE_HOSTED_ZONE` for an overlapping zone on the
/// VPC). That observation outranks spec §4.1, which left this UNCONFIRMED.
///
/// Every other clash stays a synchronous `NamespaceAlreadyExists` (`namespaces_clash`): the same
/// private name on another VPC, and public or HTTP namespaces of a taken name, were not observed,
/// and our DNS server has one view, so two zones of one name cannot both be served. Only a
/// namespace that exists counts; one whose create is still unfinished keeps the old answer too.
fn same_zone_on_same_vpc(existing: &Namespace, draft: &Draft) -> bool {
    existing.kind == NamespaceType::DnsPrivate
        && draft.kind == NamespaceType::DnsPrivate
        && existing.vpc.is_some()
        && existing.vpc == draft.vpc
        && namespaces_clash(existing.kind, &existing.name, draft.kind, &draft.name)
}

/// The CREATE_NAMESPACE operation that creates nothing and fails as AWS's does when the VPC
/// already has `existing`'s zone: `CANNOT_CREATE_HOSTED_ZONE` (terraform-provider-aws PR #7118)
/// with Route 53's text from aws/copilot-cli#2377, a fresh request id in it. Targets are left
/// empty: neither source shows a failed create's Targets, and no namespace id exists to name.
fn conflicting_domain(region: &Region, existing: &Namespace, token: Option<String>) -> Operation {
    let vpc = existing.vpc.as_deref().unwrap_or_default();
    let zone = existing.hosted_zone_id.as_deref().unwrap_or_default();
    let error_message = format!(
        "The VPC {vpc} in region {region} has already been associated with the hosted zone \
         {zone} with the same domain name. (Service: AmazonRoute53; Status Code: 400; \
         Error Code: ConflictingDomainExists; Request ID: {request_id}; Proxy: null)",
        region = region.as_str(),
        request_id = request_id(),
    );
    NewOperation {
        kind: OperationType::CreateNamespace,
        token,
        namespace_id: None,
        service_id: None,
        instance_id: None,
        mutation: Mutation::Fail {
            error_code: "CANNOT_CREATE_HOSTED_ZONE".to_owned(),
            error_message,
        },
    }
    .build(region, Timestamp::now())
}

/// Tags over the 50-per-resource quota fail with `TooManyTagsException` (spec §2.3).
pub fn check_tag_quota(resource: &str, count: usize) -> Result<(), ApiError> {
    if count > crate::api::cloudmap::MAX_TAGS {
        return Err(ApiError::new(
            "TooManyTagsException",
            format!(
                "A resource can have at most {} tags",
                crate::api::cloudmap::MAX_TAGS
            ),
        )
        .with("ResourceName", resource));
    }
    Ok(())
}
