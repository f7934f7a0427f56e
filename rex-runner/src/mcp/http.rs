//! Streamable HTTP at `/mcp` (optionally over TLS): a bearer token is checked before any MCP
//! processing (HTTP 401 otherwise), then rmcp's service handles the request with the
//! authenticated agent attached to it. rmcp validates `Host` and `Origin` and bounds the body.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rex_runner::ExitStatus;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

use super::State;
use super::config::{Agent, authenticate};
use super::tools::RexMcp;

/// How to serve.
pub(crate) struct HttpOptions {
    pub addr: SocketAddr,
    pub agents: Vec<Arc<Agent>>,
    pub tls: Option<TlsAcceptor>,
    pub allowed_origins: Vec<String>,
    pub allowed_hosts: Vec<String>,
    pub max_body: usize,
    /// Most sessions one agent may hold (unless its entry sets `max_sessions`).
    pub max_sessions_per_agent: usize,
    /// A session unused this long is closed.
    pub session_idle: std::time::Duration,
    /// Most connections at once (`None`: from the open-file limit minus `reserve_fds`).
    pub max_connections: Option<usize>,
    /// How long a connection may take to send an authenticated request.
    pub request_timeout: std::time::Duration,
    /// File descriptors kept free for runs and the log.
    pub reserve_fds: usize,
}

type Body = BoxBody<Bytes, Infallible>;

fn plain(status: hyper::StatusCode, text: &'static str) -> hyper::Response<Body> {
    let mut r = hyper::Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed());
    *r.status_mut() = status;
    r
}

/// The answer to a request naming a session that is not the caller's (or not live).
fn no_such_session() -> hyper::Response<Body> {
    plain(
        hyper::StatusCode::NOT_FOUND,
        "404 Not Found: no such session\n",
    )
}

/// The connections that have not (yet) sent an authenticated request, oldest first: when
/// the connection bound is reached, the oldest of them is closed to make room, so that idle
/// or slow unauthenticated clients cannot lock agents out.
#[derive(Default)]
struct Unauthenticated {
    next: u64,
    waiting: std::collections::BTreeMap<u64, tokio_util::sync::CancellationToken>,
}

impl Unauthenticated {
    /// Registers a new connection; its token is cancelled if it is evicted.
    fn add(&mut self) -> (u64, tokio_util::sync::CancellationToken) {
        let id = self.next;
        self.next += 1;
        let token = tokio_util::sync::CancellationToken::new();
        self.waiting.insert(id, token.clone());
        (id, token)
    }

    /// Closes the oldest unauthenticated connection; whether there was one.
    fn evict_oldest(&mut self) -> bool {
        match self.waiting.pop_first() {
            Some((_, token)) => {
                token.cancel();
                true
            }
            None => false,
        }
    }
}

type Pending = Arc<std::sync::Mutex<Unauthenticated>>;

fn pending_lock(p: &Pending) -> std::sync::MutexGuard<'_, Unauthenticated> {
    p.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How long a new connection waits for the slot of an evicted one.
const EVICTION_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The TLS acceptor for a PEM certificate chain and key.
pub(crate) fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let cert_pem = rex_runner::read_input("TLS certificate", cert).map_err(|e| e.to_string())?;
    let key_pem = rex_runner::read_input("TLS key", key).map_err(|e| e.to_string())?;
    let chain = CertificateDer::pem_slice_iter(cert_pem.text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("TLS certificate {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "TLS certificate {}: no certificate",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.text.as_bytes())
        .map_err(|e| format!("TLS key {}: {e}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| format!("TLS certificate and key: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The bearer token of a request, if it has one.
fn bearer(req: &hyper::Request<Incoming>) -> Option<&str> {
    let value = req
        .headers()
        .get(hyper::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// Takes a connection off the eviction list when it ends.
struct Listed {
    pending: Pending,
    id: u64,
}

impl Drop for Listed {
    fn drop(&mut self) {
        pending_lock(&self.pending).waiting.remove(&self.id);
    }
}

/// Serves until SIGTERM/SIGINT.
pub(crate) async fn serve(state: Arc<State>, options: HttpOptions) -> ExitStatus {
    let listener = match tokio::net::TcpListener::bind(options.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("rex-runner mcp: cannot listen on {}: {e}", options.addr);
            return ExitStatus::InvalidInput;
        }
    };
    let local = listener.local_addr().unwrap_or(options.addr);
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    hosts.push(local.ip().to_string());
    hosts.extend(options.allowed_hosts.iter().cloned());
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(options.allowed_origins.clone())
        .enforce_origin_validation()
        .with_max_request_body_bytes(options.max_body)
        .with_cancellation_token(state.shutdown.child_token());
    let handler_state = state.clone();
    let mut manager = LocalSessionManager::default();
    // Sessions unused for the idle timeout are closed (rmcp's keep-alive).
    manager.session_config.keep_alive = Some(options.session_idle);
    let manager = Arc::new(manager);
    let owners: Arc<std::sync::Mutex<std::collections::HashMap<String, String>>> = Arc::default();
    let mcp: StreamableHttpService<RexMcp, LocalSessionManager> = StreamableHttpService::new(
        move || {
            Ok(RexMcp {
                state: handler_state.clone(),
                http: true,
            })
        },
        manager.clone(),
        config,
    );
    let max_connections = options.max_connections.unwrap_or_else(|| {
        usize::try_from(rust_sdk::runtime::child::open_file_limit().unwrap_or(1024))
            .unwrap_or(1024)
            .saturating_sub(options.reserve_fds)
            .max(8)
    });
    let connections = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let default_sessions = options.max_sessions_per_agent;
    let request_timeout = options.request_timeout;
    // Tests and operators read the bound address (useful with port 0) from stderr.
    eprintln!(
        "rex-runner mcp: listening on {}://{local}/mcp",
        if options.tls.is_some() {
            "https"
        } else {
            "http"
        }
    );
    let agents = Arc::new(options.agents);
    let pending: Pending = Arc::default();
    let mut backoff = std::time::Duration::from_millis(10);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(s) => {
                    backoff = std::time::Duration::from_millis(10);
                    s
                }
                Err(e) => {
                    // Out of descriptors or memory: accepting again at once would fail the
                    // same way in a tight loop. Wait (growing up to 1 s) for some to be freed.
                    if matches!(e.raw_os_error(), Some(23 | 24 | 105 | 12)) {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(std::time::Duration::from_secs(1));
                    }
                    continue;
                }
            },
            () = super::terminated() => break,
        };
        // Bounded connections, so the reserve of descriptors stays free for the runs' pipes
        // and the log. Past the bound, the oldest connection that has not authenticated is
        // closed for the new one; when every connection has authenticated, the new one is
        // closed at once (its descriptor freed).
        let permit = match connections.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if !pending_lock(&pending).evict_oldest() {
                    drop(stream);
                    continue;
                }
                match tokio::time::timeout(EVICTION_WAIT, connections.clone().acquire_owned()).await
                {
                    Ok(Ok(p)) => p,
                    _ => {
                        drop(stream);
                        continue;
                    }
                }
            }
        };
        let (conn_id, evicted) = pending_lock(&pending).add();
        let pending_conn = pending.clone();
        let agents = agents.clone();
        let mcp = mcp.clone();
        let tls = options.tls.clone();
        let shutdown = state.shutdown.clone();
        let owners = owners.clone();
        let manager = manager.clone();
        let audit_state = state.clone();
        let authed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let authed_conn = authed.clone();
        let pending_req = pending.clone();
        tokio::spawn(async move {
            let _permit = permit;
            // However the connection ends, it leaves the eviction list.
            let _listed = Listed {
                pending: pending_conn,
                id: conn_id,
            };
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                let agent = bearer(&req).and_then(|t| authenticate(&agents, t).cloned());
                let mut mcp = mcp.clone();
                let owners = owners.clone();
                let manager = manager.clone();
                let audit_state = audit_state.clone();
                let authed = authed.clone();
                let pending = pending_req.clone();
                async move {
                    let Some(agent) = agent else {
                        let mut r = plain(
                            hyper::StatusCode::UNAUTHORIZED,
                            "401 Unauthorized: send Authorization: Bearer <token>\n",
                        );
                        r.headers_mut().insert(
                            hyper::header::WWW_AUTHENTICATE,
                            hyper::header::HeaderValue::from_static("Bearer realm=\"rex\""),
                        );
                        return Ok::<_, Infallible>(r);
                    };
                    if req.uri().path() != "/mcp" {
                        return Ok(plain(
                            hyper::StatusCode::NOT_FOUND,
                            "404 Not Found: use /mcp\n",
                        ));
                    }
                    // Authenticated: this connection is no longer evictable.
                    if !authed.swap(true, std::sync::atomic::Ordering::SeqCst) {
                        pending_lock(&pending).waiting.remove(&conn_id);
                    }
                    let session = req
                        .headers()
                        .get("mcp-session-id")
                        .and_then(|v| v.to_str().ok())
                        .map(String::from);
                    if let Some(id) = &session {
                        let owner = owners.lock().ok().and_then(|o| o.get(id).cloned());
                        // A session belongs to the agent that opened it: another agent's
                        // token on it gets the answer for an unknown session, and is logged.
                        // Every session is registered with its owner before its id reaches
                        // the client, so an id without an owner is not a live session of
                        // this server (or the table is unusable): refused too (fail closed).
                        match owner {
                            Some(o) if o == agent.name => {}
                            Some(_) => {
                                audit_state.audit.write(
                                    &super::audit::CallRecord::session_refused(
                                        &agent.name,
                                        "another agent's session",
                                    ),
                                );
                                return Ok(no_such_session());
                            }
                            None => return Ok(no_such_session()),
                        }
                    }
                    let agent_name = agent.name.clone();
                    let cap = agent.max_sessions.unwrap_or(default_sessions);
                    req.extensions_mut().insert(agent);
                    let delete = req.method() == hyper::Method::DELETE;
                    let mut response = mcp.call(req).await?;
                    if delete
                        && let Some(id) = &session
                        && let Ok(mut o) = owners.lock()
                    {
                        o.remove(id);
                    }
                    let created = response
                        .headers()
                        .get("mcp-session-id")
                        .and_then(|v| v.to_str().ok())
                        .map(String::from)
                        .filter(|id| session.as_deref() != Some(id.as_str()));
                    if let Some(id) = created {
                        let live: std::collections::HashSet<String> = manager
                            .sessions
                            .read()
                            .await
                            .keys()
                            .map(|k| k.to_string())
                            .collect();
                        let over = match owners.lock() {
                            Ok(mut o) => {
                                // Sessions rmcp closed (idle, ended) no longer count.
                                o.retain(|k, _| live.contains(k));
                                let held = o.values().filter(|a| **a == agent_name).count();
                                if held >= cap {
                                    true
                                } else {
                                    o.insert(id.clone(), agent_name.clone());
                                    false
                                }
                            }
                            Err(_) => true,
                        };
                        if over {
                            let sid: rmcp::transport::streamable_http_server::session::SessionId =
                                id.into();
                            let _ = rmcp::transport::streamable_http_server::SessionManager::close_session(&*manager, &sid).await;
                            audit_state
                                .audit
                                .write(&super::audit::CallRecord::session_refused(
                                    &agent_name,
                                    "too many sessions",
                                ));
                            let mut r = plain(
                                hyper::StatusCode::TOO_MANY_REQUESTS,
                                "429 Too Many Requests: this agent holds its most sessions; end one (DELETE) or wait for one to expire\n",
                            );
                            r.headers_mut().insert(
                                hyper::header::RETRY_AFTER,
                                hyper::header::HeaderValue::from_static("30"),
                            );
                            return Ok(r);
                        }
                    }
                    // rmcp acknowledges a session's end with 202; the spec's clients expect
                    // 200 or 204 (Python's warns otherwise). The body is empty either way.
                    if delete && response.status() == hyper::StatusCode::ACCEPTED {
                        *response.status_mut() = hyper::StatusCode::NO_CONTENT;
                    }
                    Ok(response)
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            // Every request's header must arrive within the request timeout (slow clients,
            // authenticated or not, cannot hold a connection by trickling a header).
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(request_timeout);
            // A connection that sends no authenticated request within the request timeout
            // is closed (slow or idle clients cannot hold connections before auth).
            let unauthenticated_for_too_long = async {
                tokio::time::sleep(request_timeout).await;
                if authed_conn.load(std::sync::atomic::Ordering::SeqCst) {
                    std::future::pending::<()>().await;
                }
            };
            match tls {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = conn => {}
                        () = unauthenticated_for_too_long => {}
                        () = evicted.cancelled() => {}
                        () = shutdown.cancelled() => {}
                    }
                }
                Some(acceptor) => {
                    let handshake = tokio::select! {
                        r = tokio::time::timeout(request_timeout, acceptor.accept(stream)) => r,
                        () = evicted.cancelled() => return,
                    };
                    let Ok(Ok(stream)) = handshake else {
                        return;
                    };
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = conn => {}
                        () = unauthenticated_for_too_long => {}
                        () = evicted.cancelled() => {}
                        () = shutdown.cancelled() => {}
                    }
                }
            }
        });
    }
    ExitStatus::Success
}
