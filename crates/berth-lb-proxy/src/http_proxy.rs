//! An ALB listener's requests: the rules choose an action; a forward picks
//! a target group (by weight, or the one its `AWSALBTG` cookie names) and
//! a target, and the request goes there over a keep-alive connection of
//! the client connection's own ([`crate::upstream`]) with X-Forwarded-For
//! (appended), -Proto and -Port, its Host kept. When it cannot, the load
//! balancer answers as ALB does: 503 when the group has no target to take
//! it, 502 when the target refuses, resets or answers garbage, 504 when it
//! has not answered within the idle timeout. What is decided here is
//! shared by both client protocols: HTTP/1 clients are read and answered
//! by the proxy itself ([`crate::serve_h1`]), HTTP/2 clients by hyper's
//! server ([`handle`]).

use crate::answers::{self, Page};
use crate::body::{Guarded, InFlight, ProxyBody};
use crate::config::{FixedResponse, Redirect};
use crate::fields::Headers;
use crate::group::{Group, Pick};
use crate::h1::{self, RequestFraming};
use crate::redirect::{self, Original};
use crate::rules::{RequestView, RuleSet, host_without_port};
use crate::shared::LbShared;
use crate::sticky;
use crate::upstream::{Answer, SendBody, Upstreams};
use bytes::BytesMut;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::{Body, Incoming};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};
use tokio::time::Sleep;

/// What the requests of one client connection share.
#[derive(Debug)]
pub(crate) struct ClientConn {
    routes: RoutesCell,
    /// The routing as this connection last read it.
    cached: Mutex<Cached>,
    pub(crate) peer: SocketAddr,
    /// The peer's address as X-Forwarded-For writes it (formatted once).
    pub(crate) client_ip: HeaderValue,
    /// Its idle connections to targets.
    pub(crate) upstreams: Arc<Upstreams>,
    /// The 504 timer its requests re-arm in turn (a second one only for
    /// an HTTP/2 client's concurrent requests): moving a registered timer's
    /// deadline later is an atomic store, where a timer per request costs
    /// a registration and a removal under the timer wheel's lock.
    timer: Mutex<Option<Timer>>,
}

/// A reusable deadline.
pub(crate) type Timer = Pin<Box<Sleep>>;

impl ClientConn {
    pub(crate) fn new(routes: RoutesCell, peer: SocketAddr) -> ClientConn {
        let (generation, current) = routes.current();
        ClientConn {
            routes,
            cached: Mutex::new((generation, Arc::new(Held(current)))),
            peer,
            client_ip: client_ip(peer),
            upstreams: Arc::default(),
            timer: Mutex::new(None),
        }
    }

    /// The listener's routing now (a config applied while the connection
    /// is open takes effect at its next request).
    pub(crate) fn routes(&self) -> Arc<Held> {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if self.routes.generation.load(Acquire) != cached.0 {
            let (generation, current) = self.routes.current();
            *cached = (generation, Arc::new(Held(current)));
        }
        cached.1.clone()
    }

    /// A timer firing at `deadline`.
    fn timer(&self, deadline: Instant) -> Timer {
        let kept = self.timer.lock().unwrap_or_else(|p| p.into_inner()).take();
        match kept {
            Some(mut timer) => {
                timer.as_mut().reset(deadline.into());
                timer
            }
            None => Box::pin(tokio::time::sleep_until(deadline.into())),
        }
    }

    /// Keeps a timer for the next request.
    fn keep_timer(&self, timer: Timer) {
        *self.timer.lock().unwrap_or_else(|p| p.into_inner()) = Some(timer);
    }
}

/// The peer's address for X-Forwarded-For (an IPv4-mapped one as IPv4).
fn client_ip(peer: SocketAddr) -> HeaderValue {
    HeaderValue::from_str(&peer.ip().to_canonical().to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// What a rule does, with its target groups resolved.
#[derive(Debug)]
pub(crate) enum Compiled {
    Forward(CompiledForward),
    Fixed(FixedResponse),
    Redirect(Redirect),
}

#[derive(Debug)]
pub(crate) struct CompiledForward {
    pub(crate) groups: Vec<(Arc<Group>, u32)>,
    pub(crate) stickiness: Option<Duration>,
    /// How many requests the weights have split (see `balance::even_roll`).
    pub(crate) turns: std::sync::atomic::AtomicU64,
}

/// One HTTP(S) listener's routing, swapped whole by `apply`.
#[derive(Debug)]
pub(crate) struct HttpRoutes {
    pub(crate) rules: RuleSet<Compiled>,
    pub(crate) lb: Arc<LbShared>,
    /// `https` or `http`.
    pub(crate) scheme: &'static str,
    /// The port bound (X-Forwarded-Port, `#{port}`).
    pub(crate) port: u16,
}

/// A listener's routing, swapped whole by `apply`. Its generation, read
/// by each request, tells a client connection whether its copy is still
/// current: only a read of a line no request writes, where taking the lock
/// and cloning the shared `Arc` are two writes to lines every thread's
/// requests share.
#[derive(Debug)]
pub(crate) struct Routing {
    generation: AtomicU64,
    routes: RwLock<Arc<HttpRoutes>>,
}

impl Routing {
    pub(crate) fn new(routes: Arc<HttpRoutes>) -> Routing {
        Routing {
            generation: AtomicU64::new(0),
            routes: RwLock::new(routes),
        }
    }

    /// Replaces the routing; open connections take it at their next request.
    pub(crate) fn set(&self, routes: Arc<HttpRoutes>) {
        *self.routes.write().unwrap_or_else(|p| p.into_inner()) = routes;
        self.generation.fetch_add(1, Release);
    }

    /// The routing now, with its generation.
    fn current(&self) -> (u64, Arc<HttpRoutes>) {
        let generation = self.generation.load(Acquire);
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner()).clone();
        (generation, routes)
    }
}

pub(crate) type RoutesCell = Arc<Routing>;

/// A client connection's copy of its listener's routing: the generation it
/// was read at, and the routes behind an `Arc` of the connection's own
/// (its requests clone that one, not the `Arc` every connection shares).
type Cached = (u64, Arc<Held>);

/// The routes a client connection holds.
#[derive(Debug)]
pub(crate) struct Held(Arc<HttpRoutes>);

impl std::ops::Deref for Held {
    type Target = HttpRoutes;

    fn deref(&self) -> &HttpRoutes {
        &self.0
    }
}

/// What the rules decided for a request, before any IO.
pub(crate) enum Decision<'r> {
    /// The load balancer answers (fixed response, redirect, or an error
    /// page: no target to take it).
    Answer(Page),
    /// To a target.
    Forward(Chosen<'r>),
}

/// A request's target, chosen.
pub(crate) struct Chosen<'r> {
    forward: &'r CompiledForward,
    group: &'r Arc<Group>,
    /// The `AWSALBTG` value to set (group stickiness).
    group_cookie: Option<String>,
    /// The `AWSALB` cookie's lifetime (target stickiness).
    stickiness: Option<Duration>,
    /// Counts the request against its target while it lasts.
    pub(crate) in_flight: InFlight,
    /// When the target was chosen (its answer is timed from then).
    now: Instant,
}

/// Routes a request: the rules' action; for a forward, its target group
/// and target (counted as in flight from here).
pub(crate) fn decide<'r>(routes: &'r HttpRoutes, view: &RequestView<'_>) -> Decision<'r> {
    let lb = &routes.lb;
    lb.metrics.requests.add(1);
    let page = match routes.rules.route(view) {
        Compiled::Fixed(action) => answers::fixed(action),
        Compiled::Redirect(action) => {
            let original = Original {
                protocol: routes.scheme,
                host: view.host.map(host_without_port).unwrap_or(""),
                port: routes.port,
                path: view.path,
                query: view.query,
            };
            answers::redirect(action.status.code(), &redirect::location(action, &original))
        }
        Compiled::Forward(forward) => return choose(forward, lb, &view.headers),
    };
    lb.metrics.elb_answered(page.status.as_u16());
    Decision::Answer(page)
}

fn choose<'r>(forward: &'r CompiledForward, lb: &LbShared, headers: &Headers<'_>) -> Decision<'r> {
    let Some((group, group_cookie)) = choose_group(forward, headers) else {
        return Decision::Answer(elb_error(lb, StatusCode::SERVICE_UNAVAILABLE));
    };
    let now = Instant::now();
    let (target, stickiness) = match group.pick(sticky::find(headers, sticky::TARGET_COOKIE), now) {
        Pick::Target(target, stickiness) => (target, stickiness),
        Pick::NoTargets => return Decision::Answer(elb_error(lb, StatusCode::SERVICE_UNAVAILABLE)),
    };
    let in_flight = InFlight::start(target);
    group.answers.request();
    if in_flight.target().uri_authority.is_none() {
        // A target id that makes no URI cannot be reached.
        return Decision::Answer(elb_error(lb, StatusCode::BAD_GATEWAY));
    }
    Decision::Forward(Chosen {
        forward,
        group,
        group_cookie,
        stickiness,
        in_flight,
        now,
    })
}

/// Sends the request to the chosen target (its head written by
/// `write_head` for the body's framing, with the forwarded headers) and
/// reads the answer's head within the idle timeout: the answer, or the
/// load balancer's error page (502, 504), counted.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn exchange<B: SendBody>(
    conn: &ClientConn,
    routes: &HttpRoutes,
    chosen: &Chosen<'_>,
    method: &Method,
    write_head: impl Fn(&mut BytesMut, RequestFraming, &h1::Forwarded<'_>),
    body: &mut B,
    framing: Option<RequestFraming>,
    reuse: bool,
) -> Result<Answer, Page> {
    let lb = &routes.lb;
    let target = chosen.in_flight.target();
    let idle = lb.idle_timeout();
    // The clock read for the target's choice (slow start) times the
    // answer too: the request leaves within microseconds of it.
    let started = chosen.now;
    let trace_id = trace_id();
    let forwarded = h1::Forwarded {
        client_ip: conn.client_ip.as_bytes(),
        proto: routes.scheme,
        port: routes.port,
        trace_id: &trace_id,
    };
    let mut timer = conn.timer(started + idle);
    let answer = tokio::select! {
        biased;
        answer = conn.upstreams.send(
            target,
            method,
            |out, framing| write_head(out, framing, &forwarded),
            body,
            framing,
            reuse,
        ) => Some(answer),
        () = timer.as_mut() => None,
    };
    conn.keep_timer(timer);
    let answer = match answer {
        None => return Err(elb_error(lb, StatusCode::GATEWAY_TIMEOUT)),
        Some(Err(e)) => {
            tracing::debug!(target = %target.authority, error = %e, "target failed");
            return Err(elb_error(lb, StatusCode::BAD_GATEWAY));
        }
        Some(Ok(answer)) => answer,
    };
    let took = started.elapsed();
    let status = answer.head.status.as_u16();
    lb.metrics.targets.answered(status, took);
    chosen.group.answers.answered(status, took);
    Ok(answer)
}

/// The `Set-Cookie` values a forwarded answer carries: the target's and
/// the target group's stickiness cookies (the wall clock is read only for
/// their expiry).
pub(crate) fn cookies(chosen: &Chosen<'_>) -> Vec<String> {
    let mut cookies = Vec::new();
    if let Some(life) = chosen.stickiness {
        let target = chosen.in_flight.target();
        cookies.extend(sticky::set_cookies(
            sticky::TARGET_COOKIE,
            &target.cookie,
            life,
            SystemTime::now(),
        ));
    }
    if let (Some(life), Some(value)) = (chosen.forward.stickiness, &chosen.group_cookie) {
        cookies.extend(sticky::set_cookies(
            sticky::GROUP_COOKIE,
            value,
            life,
            SystemTime::now(),
        ));
    }
    cookies
}

/// Answers one request of an HTTP/2 client connection `conn` (hyper's
/// server; HTTP/1 clients are served by [`crate::serve_h1`]).
pub(crate) async fn handle(request: Request<Incoming>, conn: &ClientConn) -> Result<Response<ProxyBody>, Infallible> {
    let routes = conn.routes();
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    let view = RequestView {
        method: request.method().as_str(),
        path: request.uri().path(),
        query: request.uri().query(),
        host,
        headers: Headers::from(request.headers()),
        source: conn.peer.ip(),
    };
    let chosen = match decide(&routes, &view) {
        Decision::Answer(page) => return Ok(page.into_response()),
        Decision::Forward(chosen) => chosen,
    };
    Ok(forward_h2(request, chosen, &routes, conn)
        .await
        .unwrap_or_else(Page::into_response))
}

async fn forward_h2(
    request: Request<Incoming>,
    chosen: Chosen<'_>,
    routes: &HttpRoutes,
    conn: &ClientConn,
) -> Result<Response<ProxyBody>, Page> {
    let target = chosen.in_flight.target();
    let authority = target
        .uri_authority
        .as_ref()
        .ok_or_else(|| elb_error(&routes.lb, StatusCode::BAD_GATEWAY))?;
    let upstream =
        upstream_request(request, authority).ok_or_else(|| elb_error(&routes.lb, StatusCode::BAD_REQUEST))?;
    let (parts, mut body) = upstream.into_parts();
    let framing = if body.is_end_stream() {
        None
    } else if parts.headers.contains_key(header::CONTENT_LENGTH) {
        Some(RequestFraming::AsIs)
    } else {
        Some(RequestFraming::Chunked)
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let write_head = |out: &mut BytesMut, framing: RequestFraming, forwarded: &h1::Forwarded<'_>| {
        h1::write_request_head(
            out,
            &parts.method,
            path,
            h1::map_fields(&parts.headers),
            b"",
            framing,
            forwarded,
        );
    };
    let Answer {
        head,
        body: target_body,
    } = exchange(
        conn,
        routes,
        &chosen,
        &parts.method,
        write_head,
        &mut body,
        framing,
        true,
    )
    .await?;
    let mut headers = head
        .header_map()
        .map_err(|_| elb_error(&routes.lb, StatusCode::BAD_GATEWAY))?;
    strip_hop_by_hop(&mut headers);
    for cookie in cookies(&chosen) {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, v);
        }
    }
    let mut response = Response::new(Guarded::new(target_body, chosen.in_flight));
    *response.status_mut() = head.status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// The forward's target group: the one the `AWSALBTG` cookie names when
/// group stickiness is on, else by weight; with the cookie value to set.
fn choose_group<'f>(forward: &'f CompiledForward, headers: &Headers<'_>) -> Option<(&'f Arc<Group>, Option<String>)> {
    if let [(only, _)] = forward.groups.as_slice() {
        return Some((only, None));
    }
    if forward.stickiness.is_some()
        && let Some(arn) = sticky::find(headers, sticky::GROUP_COOKIE).and_then(sticky::parse_group_value)
        && let Some((group, _)) = forward.groups.iter().find(|(g, w)| *w > 0 && g.arn == arn)
    {
        return Some((group, Some(sticky::group_value(&group.arn))));
    }
    let total: u64 = forward.groups.iter().map(|(_, w)| u64::from(*w)).sum();
    let turn = forward.turns.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let roll = crate::balance::even_roll(turn, total);
    let i = crate::balance::weighted_group(forward.groups.iter().map(|(_, w)| *w), roll)?;
    let group = &forward.groups[i].0;
    Some((group, forward.stickiness.map(|_| sticky::group_value(&group.arn))))
}

/// The load balancer's error page for `status`, counted.
pub(crate) fn elb_error(lb: &LbShared, status: StatusCode) -> Page {
    lb.metrics.elb_answered(status.as_u16());
    answers::error_page(status)
}

/// The request as the target receives it: HTTP/1.1 in origin form (the
/// path and query), its Host kept (from `:authority` for an HTTP/2 client,
/// else the target's `authority`), hop-by-hop headers dropped. The
/// X-Forwarded headers and X-Amzn-Trace-Id are written with its head
/// ([`h1::Forwarded`]).
fn upstream_request<B>(request: Request<B>, authority: &Authority) -> Option<Request<B>> {
    let (mut parts, body) = request.into_parts();
    if !parts.headers.contains_key(header::HOST) {
        let host = match parts.uri.authority() {
            Some(a) => HeaderValue::from_str(a.as_str()).ok()?,
            None => HeaderValue::from_str(authority.as_str()).ok()?,
        };
        parts.headers.insert(header::HOST, host);
    }
    // The request's own path and query (shared bytes, not a copy).
    let path = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    parts.uri = Uri::from(path);
    parts.version = Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    Some(Request::from_parts(parts, body))
}

/// `1-`, 8 hex digits, `-`, 24 hex digits.
const TRACE_ID_LEN: usize = 35;

/// A trace id as ALB writes it: `1-` the time in hex seconds `-` 96
/// random bits in hex.
pub(crate) fn trace_id() -> [u8; TRACE_ID_LEN] {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (high, low) = (rand::random::<u32>(), rand::random::<u64>());
    let mut id = [0u8; TRACE_ID_LEN];
    id[..2].copy_from_slice(b"1-");
    put_hex(&mut id[2..10], secs & 0xffff_ffff);
    id[10] = b'-';
    put_hex(&mut id[11..19], u64::from(high));
    put_hex(&mut id[19..], low);
    id
}

/// `value`'s lowest `out.len()` hex digits (lower case), the most
/// significant first.
fn put_hex(out: &mut [u8], value: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = out.len();
    for (i, d) in out.iter_mut().enumerate() {
        *d = HEX[((value >> (4 * (digits - 1 - i))) & 0xf) as usize];
    }
}

/// Headers that belong to one connection, not to the message.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: one pass over the names, no lookups.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    if let Some(named) = headers.get(header::CONNECTION).and_then(|v| v.to_str().ok()) {
        let named: Vec<HeaderName> = named
            .split(',')
            .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in [
        header::CONNECTION,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    [
        header::CONNECTION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ]
    .contains(name)
        || matches!(name.as_str(), "keep-alive" | "proxy-connection")
}

#[cfg(test)]
mod tests;
