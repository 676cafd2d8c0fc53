//! One server, several regions: each served region gets its own regional
//! services (ECS and its controllers, the ECR API and the `/v2/` registry,
//! KMS, SSM, Secrets Manager, CloudWatch Logs and metrics, Application Auto
//! Scaling, the audit trail and CloudTrail; ELBv2 when enabled), on its own part of the store ([`berth_store::RegionStore`])
//! and its own files, with its region in every ARN. IAM and STS are global
//! and shared. A request goes to the region its credential scope names;
//! a region not served was already refused by authentication.

use crate::config::Config;
use crate::regions::{HOME_REGION_KEY, Layout};
use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, Uri, header};
use axum::response::{IntoResponse, Response};
use berth_proto::JsonService;
use berth_proto::sigv4::{Endpoint, HttpRequestParts, UnsignedPayload};
use berth_store::{RegionStore, Store};
use std::collections::HashMap;
use std::sync::Arc;
use tower::ServiceExt;

/// One region's services.
pub struct Regional {
    pub region: String,
    /// The region's part of the store.
    pub store: Arc<dyn Store>,
    /// The awsJson services by target prefix.
    pub services: HashMap<&'static str, Arc<dyn JsonService>>,
    /// The region's own awsQuery services, by version (ELBv2, unless
    /// `BERTH_ELBV2=0`); IAM and STS are global ([`super::App::queries`]).
    pub queries: berth_proto::query::QueryServices,
    /// The region's load balancers (ELBv2 enabled): its controller runs
    /// in this process, its listeners bind `--lb-bind`.
    pub data_plane: Option<Arc<berth_lb::controller::DataPlane>>,
    /// ECS, for the agent session stream (`/agent/v1/session`).
    pub ecs: berth_ecs::Ecs,
    /// EC2 (VPCs, subnets, security groups), for the agents' filters.
    pub ec2: berth_ec2::Ec2,
    /// The registry: `/v2/` and the ECR API.
    pub registry: Arc<berth_registry::Registry>,
    pub audit: Arc<berth_audit::AuditLog>,
    /// CloudWatch metrics (also served over rpcv2Cbor and awsQuery: `App::start`).
    pub metrics: Arc<berth_metrics::Metrics>,
    /// `/v2/…` and download URLs of this region's registry.
    registry_router: Router,
}

/// The served regions' services; the first is the default.
pub struct RegionSet {
    regions: Vec<Arc<Regional>>,
}

/// What every region shares: the store, IAM.
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub auth: Arc<berth_iam::Authenticator>,
    pub iam: Arc<berth_iam::Iam>,
}

impl RegionSet {
    /// Builds every served region's services. The home region (recorded in
    /// the store on the first start: the first region served then) keeps
    /// the unprefixed keys and the top of the data dir, as before regions.
    pub async fn start(cfg: &Config, shared: &Shared) -> anyhow::Result<Self> {
        let home = home_region(&shared.store, cfg).await?;
        if !cfg.regions.contains(&home) {
            tracing::warn!(
                home,
                "the data dir's home region is not served: its resources are kept but not answered for"
            );
        }
        // The load balancers' worker threads (one set for every region) read
        // them when the first connection starts them.
        berth_lb_proxy::busy_poll::set_budget(cfg.lb_busy_poll);
        berth_lb_proxy::cpu_slice::set_slice(cfg.lb_slice);
        let mut regions = Vec::new();
        for region in cfg.regions.names() {
            let layout = Layout::of(region, &home);
            let regional = Regional::start(cfg, shared, region, &layout)
                .await
                .with_context(|| format!("starting the region {region}"))?;
            regions.push(Arc::new(regional));
        }
        // ECR replication: each region's registry replicates to the others.
        let registries: Vec<_> = regions.iter().map(|r| r.registry.clone()).collect();
        for r in &regions {
            let targets = berth_registry::replication::LocalRegions::new(&cfg.account_id, &registries)
                .with_peers(cfg.ecr_replication_peers.clone());
            r.registry.set_replication_targets(Arc::new(targets));
            r.registry.spawn_replicator();
        }
        Ok(Self { regions })
    }

    pub fn first(&self) -> &Arc<Regional> {
        &self.regions[0]
    }

    pub fn all(&self) -> &[Arc<Regional>] {
        &self.regions
    }

    pub fn names(&self) -> Vec<&str> {
        self.regions.iter().map(|r| r.region.as_str()).collect()
    }

    /// The region a credential scope names, when served; else the first
    /// (IAM and STS requests signed for their global `us-east-1`).
    pub fn for_scope(&self, region: Option<&str>) -> &Arc<Regional> {
        region
            .and_then(|name| self.regions.iter().find(|r| r.region == name))
            .unwrap_or_else(|| self.first())
    }

    /// The region of a request by its SigV4 credential scope (header or
    /// presigned query), as [`RegionSet::for_scope`].
    pub fn for_request(&self, headers: &HeaderMap, uri: &Uri) -> &Arc<Regional> {
        // The region the Authorization header names, read cheaply, when it
        // is served (the request is then authenticated in full there);
        // otherwise the full parse decides, as for a presigned request.
        if let Some(named) = berth_proto::sigv4::header_scope_region(headers)
            .and_then(|name| self.regions.iter().find(|r| r.region == name))
        {
            return named;
        }
        self.for_scope(scope_region(headers, uri).as_deref())
    }

    /// `/v2/…` and `/registry-blob/…`: the region whose credentials the
    /// request carries. SigV4 names its region; a `docker login` password
    /// and a download URL are signed with one region's registry key, so
    /// the registry that verifies them is the one. Without either (the
    /// anonymous `/v2/` ping), the first region answers.
    fn for_registry_request(&self, headers: &HeaderMap, uri: &Uri) -> &Arc<Regional> {
        if let Some(region) = scope_region(headers, uri) {
            return self.for_scope(Some(&region));
        }
        self.regions
            .iter()
            .find(|r| r.registry.issued_credentials_of(headers, uri))
            .unwrap_or_else(|| self.first())
    }

    /// The registry routes of every region, each request sent to its region's.
    pub fn registry_router(self: &Arc<Self>) -> Router {
        use axum::routing::any;
        Router::new()
            .route("/v2", any(to_registry))
            .route("/v2/", any(to_registry))
            .route("/v2/{*rest}", any(to_registry))
            .route("/registry-blob/{*rest}", any(to_registry))
            .with_state(self.clone())
    }
}

async fn to_registry(State(regions): State<Arc<RegionSet>>, req: Request<Body>) -> Response {
    let regional = regions.for_registry_request(req.headers(), req.uri());
    match regional.registry_router.clone().oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
    .into_response()
}

/// The region of a SigV4 credential scope, if the request carries one.
fn scope_region(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let signed = headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes().starts_with(b"AWS4-HMAC-SHA256"))
        || uri.query().is_some_and(|q| q.contains("X-Amz-Credential="));
    if !signed {
        return None;
    }
    let parts = HttpRequestParts {
        method: "GET",
        raw_path: uri.path(),
        raw_query: uri.query().unwrap_or(""),
        headers,
        payload_sha256_hex: "",
    };
    berth_proto::sigv4::parse(&parts).ok().map(|s| s.region)
}

/// Reads the home region the store records, recording the first region
/// served on the first start.
async fn home_region(store: &Arc<dyn Store>, cfg: &Config) -> anyhow::Result<String> {
    let read = |kv: Option<berth_store::KeyValue>| kv.map(|kv| String::from_utf8_lossy(&kv.value).into_owned());
    let recorded = read(store.get(HOME_REGION_KEY).await.context("reading the home region")?);
    let home = crate::regions::home_region(recorded.as_deref(), &cfg.regions);
    if recorded.is_none() && !store.create(HOME_REGION_KEY, home.clone().into_bytes()).await? {
        // Another start recorded one in between: that one holds.
        let again = read(store.get(HOME_REGION_KEY).await?);
        return Ok(crate::regions::home_region(again.as_deref(), &cfg.regions));
    }
    Ok(home)
}

impl Regional {
    async fn start(cfg: &Config, shared: &Shared, region: &str, layout: &Layout) -> anyhow::Result<Self> {
        let store: Arc<dyn Store> = Arc::new(match layout {
            Layout::Home => RegionStore::home(shared.store.clone()),
            Layout::Prefixed => RegionStore::prefixed(shared.store.clone(), region),
        });
        let data_dir = layout.data_dir(&cfg.data_dir, region);
        private_dir(&data_dir)?;
        let account = cfg.account_id.as_str();
        let scope = berth_core::arn::Scope::new(region, account);
        let mut services: HashMap<&'static str, Arc<dyn JsonService>> = HashMap::new();
        // What clients and agents reach this server at (DiscoverPollEndpoint).
        let scheme = if matches!(cfg.tls, crate::config::Tls::Off) {
            "http"
        } else {
            "https"
        };
        let advertised = cfg.registry_host.clone().unwrap_or_else(|| cfg.listen.to_string());
        let mut queries = berth_proto::query::QueryServices::new();
        let data_plane = cfg.elbv2.then(|| {
            // `berth up`: every container instance is this host.
            let feed = berth_lb::feed::Feed {
                bind: cfg.lb_bind,
                instance_host: std::net::IpAddr::from([127, 0, 0, 1]),
            };
            let data_plane = berth_lb::controller::DataPlane::new(feed);
            tokio::spawn(data_plane.clone().run(store.clone()));
            data_plane
        });
        let elbv2 = data_plane
            .as_ref()
            .map(|d| berth_lb::Elbv2::new(store.clone(), scope.clone()).with_data_plane(d.clone()));
        // Alarm actions run Application Auto Scaling policies (started below).
        let policy_runner = Arc::new(super::autoscaling::PolicyRunner::default());
        let metrics = Arc::new(
            berth_metrics::Metrics::open(&data_dir.join("metrics"), region, account)
                .context("opening the metric store")?
                .with_time_scale(cfg.time_scale)
                .with_action_runner(policy_runner.clone()),
        );
        let mut ecs = berth_ecs::Ecs::new(store.clone(), scope.clone())
            .with_iam(shared.iam.clone())
            .with_endpoint(format!("{scheme}://{advertised}"))
            // Deployments watch the region's CloudWatch alarms.
            .with_alarms(
                Arc::new(super::ecs_alarms::EcsAlarmStates(metrics.clone())),
                cfg.time_scale,
            );
        // awsvpc launches check their security groups against EC2's
        // records (an EC2 reading no interfaces: it only resolves groups).
        let groups = berth_ec2::Ec2::new(
            store.clone(),
            scope.clone(),
            Arc::new(berth_ec2::interfaces::NoInterfaces),
        );
        ecs = ecs.with_security_groups(Arc::new(super::ec2_network::Ec2Directory(groups)));
        let ec2 = berth_ec2::Ec2::new(
            store.clone(),
            scope.clone(),
            Arc::new(super::ec2_network::EcsInterfaces(ecs.clone())),
        );
        queries.register(Arc::new(ec2.clone()));
        if let Some(elbv2) = &elbv2 {
            // ECS services register their tasks in ELBv2's target groups.
            ecs = ecs.with_target_registry(Arc::new(super::lb_targets::Elbv2Targets(elbv2.clone())));
            queries.register(Arc::new(elbv2.clone()));
        }
        ecs = ecs.with_capacity_hooks(cfg.capacity_hooks.clone());
        let grace = cfg.agent_grace_period;
        berth_ecs::spawn_controllers(&ecs, berth_ecs::ControllerConfig::with_grace_period(grace));
        berth_ecs::spawn_capacity_controllers(&ecs);
        berth_ecs::spawn_spot_chaos(&ecs, cfg.fargate_spot_interruption_rate);
        let ecs_service: Arc<dyn JsonService> = Arc::new(ecs.clone());
        services.insert(ecs_service.target_prefix(), ecs_service);
        let registry = open_registry(cfg, shared, store.clone(), region, &data_dir).await?;
        services.insert(berth_registry::TARGET_PREFIX, registry.clone());
        registry.spawn_lifecycle(cfg.registry_schedule.lifecycle_interval);
        registry.spawn_scanner();
        if let Some(every) = cfg.registry_schedule.gc_interval {
            registry.spawn_gc(every);
        }
        let logs = berth_logs::Logs::open(&data_dir.join("logs"), region, account).context("opening the log store")?;
        logs.spawn_retention_sweeper(std::time::Duration::from_secs(60));
        services.insert(berth_logs::TARGET_PREFIX, Arc::new(logs.clone()));
        let audit = Arc::new(
            berth_audit::AuditLog::open(&data_dir.join("audit.db"), region, account)
                .context("opening the audit trail")?,
        );
        // One master key (DATA_DIR/kms-master.key) for every region's KMS.
        let kms = berth_secrets::Kms::open(
            store.clone(),
            region,
            account,
            &cfg.data_dir,
            std::env::var("BERTH_KMS_MASTER_KEY").ok().as_deref(),
        )
        .context("opening KMS")?;
        services.insert(berth_secrets::kms::TARGET_PREFIX, Arc::new(kms.clone()));
        let events = berth_events::Events::new(
            store.clone(),
            region,
            account,
            Arc::new(super::events_delivery::EventTargets::new(
                logs.clone(),
                region,
                account,
            )?),
        )
        .with_sealer(Arc::new(super::events_delivery::KmsSealer { kms: kms.clone() }));
        events.spawn_delivery();
        super::ecs_events::spawn(store.clone(), events.clone());
        registry.set_image_events(Arc::new(super::ecr_events::EcrEvents::start(events.clone())));
        services.insert(berth_events::TARGET_PREFIX, Arc::new(events));
        registry.set_data_keys(Arc::new(super::ecr_kms::KmsDataKeys { kms: kms.clone() }));
        let ssm = berth_secrets::Ssm::new(store.clone(), kms.clone(), region, account);
        services.insert(berth_secrets::ssm::TARGET_PREFIX, Arc::new(ssm));
        let secrets = berth_secrets::SecretsManager::new(store.clone(), kms, region, account);
        registry.set_secret_reader(super::ecr_pull_through::secret_reader(secrets.clone(), region, account));
        services.insert(berth_secrets::sm::TARGET_PREFIX, Arc::new(secrets));
        metrics.spawn_roll_up(std::time::Duration::from_secs(300));
        metrics.spawn_alarm_evaluator();
        berth_ecs::spawn_usage_publisher(
            &ecs,
            cfg.ecs_metrics_interval,
            Arc::new(super::ecs_metrics::EcsMetricsSink(metrics.clone())),
        );
        if let Some(d) = &data_plane {
            super::elb_metrics::spawn_publisher(d.clone(), store.clone(), metrics.clone(), cfg.ecs_metrics_interval);
        }
        services.insert(berth_metrics::TARGET_PREFIX, metrics.clone());
        let autoscaling = super::autoscaling::start(
            store.clone(),
            scope.clone(),
            &ecs,
            metrics.clone(),
            cfg.time_scale,
            &policy_runner,
        );
        services.insert(berth_autoscaling::TARGET_PREFIX, Arc::new(autoscaling));
        let cloudtrail = Arc::new(berth_audit::CloudTrail::new(audit.clone()));
        services.insert(berth_audit::TARGET_PREFIX, cloudtrail);
        let registry_router = berth_registry::router(registry.clone());
        Ok(Self {
            region: region.to_string(),
            store,
            services,
            queries,
            data_plane,
            ecs,
            ec2,
            registry,
            audit,
            metrics,
            registry_router,
        })
    }
}

/// A region's directory, private as the data dir is (0700).
fn private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

/// The region's registry: its store part, its blobs and token key under
/// its data dir, SigV4 for its region only, IAM and repository policies.
async fn open_registry(
    cfg: &Config,
    shared: &Shared,
    store: Arc<dyn Store>,
    region: &str,
    data_dir: &std::path::Path,
) -> anyhow::Result<Arc<berth_registry::Registry>> {
    let sigv4 = shared.auth.clone();
    let current = shared.auth.clone();
    let authz = shared.auth.clone();
    let registry_region = region.to_string();
    // Repository policies, followed through a store watch, are the
    // registry's resource policies.
    let repo_policies = Arc::new(berth_iam::ResourcePolicies::new());
    let scope_for_policies = berth_core::arn::Scope::new(region, &cfg.account_id);
    let scope_for_deletes = scope_for_policies.clone();
    repo_policies.spawn_watch(
        store.clone(),
        berth_registry::keys::REPOSITORIES,
        Arc::new(move |key: &str, value: &[u8]| {
            let name = key.strip_prefix(berth_registry::keys::REPOSITORIES)?;
            let rec: berth_registry::records::RepositoryRecord = serde_json::from_slice(value).ok()?;
            Some((
                scope_for_policies.arn("ecr", format!("repository/{name}")),
                rec.policy_text,
            ))
        }),
        Arc::new(move |key: &str| {
            let name = key.strip_prefix(berth_registry::keys::REPOSITORIES)?;
            Some(scope_for_deletes.arn("ecr", format!("repository/{name}")))
        }),
    );
    let registry_cfg = berth_registry::RegistryConfig {
        data_dir: data_dir.to_path_buf(),
        region: region.to_string(),
        account_id: cfg.account_id.clone(),
        registry_host: cfg.registry_host.clone().unwrap_or_else(|| cfg.listen.to_string()),
    };
    Ok(Arc::new(
        berth_registry::Registry::open(store, registry_cfg)
            .await
            .context("opening the registry")?
            .with_tls(!matches!(cfg.tls, crate::config::Tls::Off))
            .with_lifecycle_clock_offset(cfg.registry_schedule.lifecycle_clock_offset_secs)
            .with_gc_grace(cfg.registry_schedule.gc_grace)
            .with_pull_through(cfg.registry_pull_through.clone())
            // One vulnerability database for every region (`berth scan-db import`).
            .with_scan_database(berth_registry::scan_database_path(&cfg.data_dir))
            .with_sigv4(Arc::new(
                move |req: &HttpRequestParts<'_>, unsigned_payload: UnsignedPayload| {
                    // `/v2/` is ECR's: the scope must say `ecr` and this region.
                    let endpoint = Endpoint {
                        service: Some("ecr"),
                        regions: &[registry_region.as_str()],
                        unsigned_payload,
                    };
                    sigv4.authenticate(req, &endpoint)
                },
            ))
            // Registry tokens name the principal's unique id: one deleted
            // (or re-created under the same name) no longer logs in.
            .with_principal_check(Arc::new(move |p: &berth_proto::Principal| current.is_current(p)))
            .with_authorizer(Arc::new(
                move |who: &berth_proto::Principal, action: &str, resource: &str, tags: &[(String, String)]| {
                    if who.is_root {
                        return Ok(());
                    }
                    let facts = berth_iam::RequestFacts {
                        resource_tags: tags.to_vec(),
                        ..Default::default()
                    };
                    let policy = repo_policies.get(resource);
                    authz
                        .authorize(who, action, &[resource.to_string()], policy.as_deref(), &facts)
                        // The registry words the refusal itself; keep only the why.
                        .map_err(|e| match e.message.split_once(&format!(" on resource: {resource} ")) {
                            Some((_, why)) => why.to_string(),
                            None => e.message,
                        })
                },
            )),
    ))
}

/// The master key IAM seals its secrets with (DATA_DIR/kms-master.key, or
/// the operator's), shared with every region's KMS.
pub fn iam_sealer(cfg: &Config, store: Arc<dyn Store>) -> anyhow::Result<Arc<dyn berth_iam::SecretSealer>> {
    let kms = berth_secrets::Kms::open(
        store,
        cfg.regions.first(),
        &cfg.account_id,
        &cfg.data_dir,
        std::env::var("BERTH_KMS_MASTER_KEY").ok().as_deref(),
    )
    .context("opening KMS")?;
    Ok(Arc::new(MasterKeySealer(kms.master_key())))
}

/// IAM's access-key and session secrets, sealed under the KMS master key
/// (AES-256-GCM, as KMS seals its key material).
struct MasterKeySealer(Arc<Vec<u8>>);

impl berth_iam::SecretSealer for MasterKeySealer {
    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        berth_secrets::crypto::seal(&self.0, plaintext, aad)
    }
    fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, berth_iam::SealError> {
        berth_secrets::crypto::open(&self.0, sealed, aad).map_err(|_| berth_iam::SealError::Open)
    }
}
