//! The HTTP server: accepts connections, routes requests to auth, control and ARM handlers, applies faults,
//! throttling and counters, and shuts down gracefully.

use crate::auth::{self, Issuer};
use crate::config::Config;
use crate::error::ArmError;
use crate::http::{Reply, Request};
use crate::ids::{parse_target, Target};
use crate::sim::Sim;
use crate::throttle::Kind;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running simulator.
pub struct Running {
    pub base_url: String,
    pub sim: Arc<Sim>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish, and flushes state.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Dropping a connection on purpose (fault injection) is an error for hyper, which then closes it unanswered.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// Binds, loads state and seed, and serves until stopped.
pub async fn start(config: Config) -> Result<Running, String> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let base_url = format!("http://{addr}");
    let restored = match &config.state {
        Some(path) => crate::persist::load(path)?,
        None => None,
    };
    let seed = crate::seed::load(&config)?;
    let sim = Arc::new(Sim::new(config, base_url.clone(), restored, seed)?);
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(serve(listener, sim.clone(), stopped));
    Ok(Running {
        base_url,
        sim,
        stop,
        task,
    })
}

async fn serve(listener: TcpListener, sim: Arc<Sim>, mut stopped: oneshot::Receiver<()>) {
    let graceful = GracefulShutdown::new();
    let saver = sim
        .config
        .state
        .clone()
        .map(|p| tokio::spawn(crate::persist::run(sim.clone(), p)));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let sim = sim.clone();
                let service = service_fn(move |req| {
                    let sim = sim.clone();
                    async move { respond(sim, req).await }
                });
                let conn = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = &mut stopped => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), graceful.shutdown()).await;
    if let Some(saver) = saver {
        saver.abort();
    }
    if let Some(path) = &sim.config.state {
        if let Err(e) = crate::persist::save(&sim, path) {
            eprintln!("largek8s-sim: final save to {} failed: {e}", path.display());
        }
    }
}

async fn respond(
    sim: Arc<Sim>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Dropped> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Dropped),
    };
    let query = parts
        .uri
        .query()
        .map(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default())
        .unwrap_or_default();
    let request = Request {
        method: parts.method.as_str().to_string(),
        path: percent_decode(parts.uri.path()),
        query,
        headers: parts.headers,
        body,
    };
    let reply = route(&sim, &request).await?;
    Ok(finish(reply, &request))
}

fn percent_decode(path: &str) -> String {
    if !path.contains('%') {
        return path.to_string();
    }
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn finish(reply: Reply, req: &Request) -> hyper::Response<Full<Bytes>> {
    let mut b = hyper::Response::builder().status(reply.status);
    if reply.body.is_some() {
        b = b.header("Content-Type", "application/json; charset=utf-8");
    }
    if let Some(id) = req.header("x-ms-client-request-id") {
        b = b.header("x-ms-client-request-id", id);
    }
    let request_id = crate::entropy::guid();
    b = b
        .header("x-ms-request-id", request_id.as_str())
        .header("x-ms-correlation-request-id", request_id.as_str());
    for (k, v) in &reply.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(Full::new(Bytes::from(reply.body.unwrap_or_default())))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
}

fn form(req: &Request) -> HashMap<String, String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(&req.body)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

async fn route(sim: &Arc<Sim>, req: &Request) -> Result<Reply, Dropped> {
    let path = req.path.as_str();
    if path.starts_with("/_sim/") || path == "/_sim" {
        return Ok(crate::control::handle(sim, req));
    }
    if path.starts_with("/subscriptions/") || path == "/subscriptions" {
        return arm(sim, req).await;
    }
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let reply = match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["metadata", "endpoints"]) => Reply::json(
            200,
            &auth::metadata(&sim.base_url, req.query("api-version"), sim.config.login),
        ),
        ("POST", [tenant, "oauth2", "v2.0", "token"]) => {
            let secret = sim.world().persisted.secret.clone();
            let issuer = Issuer {
                config: &sim.config,
                secret: &secret,
                now: sim.clock.now(),
            };
            let (status, body) = issuer.token_v2(tenant, &form(req));
            Reply::json(status, &body)
        }
        ("GET", ["metadata", "identity", "oauth2", "token"]) => {
            let secret = sim.world().persisted.secret.clone();
            let issuer = Issuer {
                config: &sim.config,
                secret: &secret,
                now: sim.clock.now(),
            };
            let (status, body) = issuer.token_imds(
                req.header("Metadata"),
                req.query("resource"),
                req.query("client_id"),
            );
            Reply::json(status, &body)
        }
        ("POST", ["adfs", "oauth2", "token"]) | ("POST", [_, "oauth2", "token"]) => {
            let secret = sim.world().persisted.secret.clone();
            let issuer = Issuer {
                config: &sim.config,
                secret: &secret,
                now: sim.clock.now(),
            };
            let (status, body) = issuer.token_adfs(&form(req));
            Reply::json(status, &body)
        }
        _ => Reply::error(&ArmError::new(
            404,
            "NotFound",
            format!("The simulator serves nothing at {} {path}.", req.method),
        )),
    };
    sim.stats().record(&req.method, "auth", reply.status);
    Ok(reply)
}

fn unauthorized(sim: &Sim, code: &str, message: &str) -> Reply {
    let challenge = format!(
        "Bearer authorization_uri=\"{}/{}\", error=\"invalid_token\", error_description=\"{}\"",
        sim.base_url, sim.config.tenant, message
    );
    Reply::error(&ArmError::new(401, code, message)).header("WWW-Authenticate", challenge)
}

/// The resource type a request is counted and throttled under.
fn resource_type_of(target: &Result<Target, ArmError>) -> String {
    match target {
        Ok(Target::Resource(r)) => {
            let t = r.resource_type.to_ascii_lowercase();
            if t.ends_with("/locations/operations") || t.ends_with("/locations/operationresults") {
                format!("{}/operations", r.namespace())
            } else {
                crate::api_versions::served(&r.resource_type)
                    .map(|s| s.resource_type.to_string())
                    .unwrap_or_else(|| r.resource_type.clone())
            }
        }
        Ok(Target::Collection { resource_type, .. }) => crate::api_versions::served(resource_type)
            .map(|s| s.resource_type.to_string())
            .unwrap_or_else(|| resource_type.clone()),
        Err(_) => "invalid".to_string(),
    }
}

async fn arm(sim: &Arc<Sim>, req: &Request) -> Result<Reply, Dropped> {
    sim.stats().run.request(sim.clock.now());
    let target = parse_target(&req.path);
    let rtype = resource_type_of(&target);
    let key = match &target {
        Ok(Target::Resource(rid)) => Some(rid.key()),
        _ => None,
    };
    let reply = arm_inner(sim, req, target, &rtype).await;
    let status = match &reply {
        Ok(r) => r.status,
        Err(_) => 0,
    };
    let now = sim.clock.now();
    let accepted_write = Kind::of_method(&req.method) != Kind::Read && (200..300).contains(&status);
    let latency = match (&key, accepted_write) {
        (Some(key), true) => Some(started_latency(sim, key)),
        _ => None,
    };
    let mut stats = sim.stats();
    stats.record(&req.method, &rtype, status);
    if let Some(latency) = latency {
        stats.run.write_accepted(now, latency);
    }
    stats.run.response(now);
    reply
}

/// The provisioning latency of the operation a write just started on the resource at `key` (0 when the write
/// finished at once).
fn started_latency(sim: &Sim, key: &str) -> f64 {
    let w = sim.world();
    w.get(key)
        .and_then(|r| r.pending.as_ref())
        .and_then(|id| w.ops.get(id))
        .map_or(0.0, |op| op.due - op.started)
}

async fn arm_inner(
    sim: &Arc<Sim>,
    req: &Request,
    target: Result<Target, ArmError>,
    rtype: &str,
) -> Result<Reply, Dropped> {
    let now = sim.clock.now();
    let checked = {
        let w = sim.world();
        auth::check_bearer(
            req.header("authorization"),
            &w.persisted.secret,
            &sim.config.tenant,
            now,
        )
    };
    if let Err(e) = checked {
        return Ok(unauthorized(sim, e.code, &e.message));
    }
    let target = match target {
        Ok(t) => t,
        Err(e) => return Ok(Reply::error(&e)),
    };
    let subscription = match &target {
        Target::Resource(r) => &r.subscription,
        Target::Collection { subscription, .. } => subscription,
    };
    if !subscription.eq_ignore_ascii_case(&sim.config.subscription) {
        return Ok(Reply::error(&ArmError::new(
            404,
            "SubscriptionNotFound",
            format!("The subscription '{subscription}' could not be found."),
        )));
    }
    let effect = {
        let mut faults = sim.faults();
        if faults.is_empty() {
            None
        } else {
            faults.apply(&req.method, &req.path)
        }
    };
    let mut outcome = None;
    if let Some(effect) = effect {
        if let Some(latency) = effect.latency {
            tokio::time::sleep(latency).await;
        }
        if effect.drop {
            return Err(Dropped);
        }
        if let Some(e) = effect.respond {
            return Ok(Reply::error(&e));
        }
        outcome = effect.outcome;
    }
    let kind = Kind::of_method(&req.method);
    let admitted = sim.throttle().admit(
        sim.clock.now(),
        kind,
        rtype,
        &sim.config.subscription,
        sim.clock.scale(),
    );
    let headers = match admitted {
        Ok(h) => h,
        Err(refusal) => {
            let headers = sim.throttle().headers(kind, rtype);
            let mut reply = Reply::error(&refusal.error);
            for (k, v) in headers {
                reply = reply.header(k, v);
            }
            return Ok(reply);
        }
    };
    let mut reply = crate::arm::handle(sim, req, &target, outcome);
    for (k, v) in headers {
        reply = reply.header(k, v);
    }
    Ok(reply)
}
