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
}

type Body = BoxBody<Bytes, Infallible>;

fn plain(status: hyper::StatusCode, text: &'static str) -> hyper::Response<Body> {
    let mut r = hyper::Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed());
    *r.status_mut() = status;
    r
}

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
    let mcp: StreamableHttpService<RexMcp, LocalSessionManager> = StreamableHttpService::new(
        move || {
            Ok(RexMcp {
                state: handler_state.clone(),
                http: true,
            })
        },
        Arc::new(LocalSessionManager::default()),
        config,
    );
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
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                Err(_) => continue,
            },
            () = super::terminated() => break,
        };
        let agents = agents.clone();
        let mcp = mcp.clone();
        let tls = options.tls.clone();
        let shutdown = state.shutdown.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                let agent = bearer(&req).and_then(|t| authenticate(&agents, t).cloned());
                let mut mcp = mcp.clone();
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
                    req.extensions_mut().insert(agent);
                    let delete = req.method() == hyper::Method::DELETE;
                    let mut response = mcp.call(req).await?;
                    // rmcp acknowledges a session's end with 202; the spec's clients expect
                    // 200 or 204 (Python's warns otherwise). The body is empty either way.
                    if delete && response.status() == hyper::StatusCode::ACCEPTED {
                        *response.status_mut() = hyper::StatusCode::NO_CONTENT;
                    }
                    Ok(response)
                }
            });
            let builder = hyper::server::conn::http1::Builder::new();
            match tls {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = conn => {}
                        () = shutdown.cancelled() => {}
                    }
                }
                Some(acceptor) => {
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = conn => {}
                        () = shutdown.cancelled() => {}
                    }
                }
            }
        });
    }
    ExitStatus::Success
}
