//! muster's own HTTP endpoints: `/metrics` (Prometheus text format), `/healthz` (the process is
//! alive and serving) and `/readyz` (a pass has completed, the desired state is valid and the
//! event log can be written).
//! Anything else is 404; only GET (and HEAD) are answered.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::metrics::Metrics;

/// What the endpoints report; the daemon updates it.
#[derive(Debug, Default)]
pub struct Health {
    /// A pass has completed since start.
    pub passed: AtomicBool,
    /// The desired state on disk is valid.
    pub desired_valid: AtomicBool,
    /// Why the event log could not be written in the last pass, until a pass writes it again.
    pub eventlog_error: Mutex<Option<String>>,
}

impl Health {
    pub fn ready(&self) -> bool {
        self.passed.load(Ordering::SeqCst)
            && self.desired_valid.load(Ordering::SeqCst)
            && self.eventlog_error().is_none()
    }

    pub fn eventlog_error(&self) -> Option<String> {
        self.eventlog_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_eventlog_error(&self, error: Option<String>) {
        *self
            .eventlog_error
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = error;
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

pub fn router(metrics: Arc<Metrics>, health: Arc<Health>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AppState { metrics, health })
}

async fn metrics_text(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    if s.health.ready() {
        (StatusCode::OK, "ready\n".to_owned())
    } else if let Some(e) = s.health.eventlog_error() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: the event log cannot be written ({e}); nothing is sent to AWS until it can\n"),
        )
    } else if !s.health.desired_valid.load(Ordering::SeqCst) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the desired state is not valid (see the log)\n".to_owned(),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no pass has completed yet\n".to_owned(),
        )
    }
}

/// Binds `addr`, naming it in the error when it cannot.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {addr} (metrics_listen): {e}"),
        )
    })
}
