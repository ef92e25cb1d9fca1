//! The sandbox: an emulator of the Detective, Security Hub, Organizations and STS APIs that speaks
//! AWS's wire protocols on loopback, so that muster's real aws-sdk clients (and boto3, and the
//! aws CLI) work against it unchanged. It is muster's test world and a newcomer's demo.
//!
//! Layout:
//! - `world`: the simulated organization, graphs, hubs and memberships, and their rules;
//! - `fixture`: a `World` from YAML (`config/sandbox.yaml`) or generated from a seed;
//! - `server`: the HTTP listener, SigV4-scope routing, identity, faults, call log, control API;
//! - `detective`, `securityhub`, `organizations`, `sts`: one module per service and its operations;
//! - `wire`: error shapes, model-driven validation, pagination tokens, timestamps;
//! - `faults`, `calls`, `dump`: injected failures, the call log, the world as JSON.
//!
//! It must stay as strict as AWS: anything it accepts that AWS refuses lets a muster bug through.

pub mod calls;
pub mod central;
mod detective;
mod dump;
pub mod faults;
pub mod fixture;
pub mod model;
mod organizations;
mod securityhub;
mod server;
mod sts;
pub mod wire;
pub mod world;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Map, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use calls::{Call, CallCount, CallLogSnapshot};
pub use faults::{FailNext, FaultConfig, FaultError, FaultRule, GarbleNext};
pub use fixture::{Fixture, FixtureError, Generate};
pub use world::World;

use server::Inner;
use wire::Tokens;

/// One API request as the service modules see it: who calls, where, with what.
pub(crate) struct Req<'a> {
    pub caller: String,
    pub region: String,
    pub body: &'a Map<String, Value>,
    pub query: &'a [(String, String)],
    /// The request's path, percent-decoded (restJson1 puts identifiers in it).
    pub path: &'a str,
    pub now: SystemTime,
    /// The call's sequence number in the call log.
    pub call: u64,
    pub tokens: &'a Tokens,
}

impl Req<'_> {
    /// Adds a NextToken to a list answer when `next` says more items remain.
    pub fn with_token(&self, scope: &str, mut out: Value, next: Option<String>) -> Value {
        if let Some(after) = next {
            out["NextToken"] = Value::String(self.tokens.issue(scope, &after));
        }
        out
    }
}

/// An operation's JSON answer, already serialized: hot list operations serialize typed structs
/// straight from the world, the rest build a `Value`.
pub(crate) struct Reply(pub String);

impl Reply {
    pub fn typed<T: serde::Serialize>(t: &T) -> Reply {
        // Only strings, numbers and string-keyed maps: serializing cannot fail.
        Reply(serde_json::to_string(t).expect("a reply is plain JSON"))
    }
}

impl From<Value> for Reply {
    fn from(v: Value) -> Self {
        Reply(v.to_string())
    }
}

/// A running sandbox. Dropping it stops the listener; `shutdown` also waits for it.
pub struct Sandbox {
    inner: Arc<Inner>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Sandbox {
    /// Serves `fixture` on `listen` (use `127.0.0.1:0` for a free port).
    pub async fn start(fixture: Fixture, listen: SocketAddr) -> Result<Sandbox, StartError> {
        let faults = faults::Faults::new(fixture.faults).map_err(StartError::Faults)?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: listen,
            source,
        })?;
        let inner = Arc::new(Inner::new(fixture.world, faults));
        let app = server::router(inner.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        // TCP_NODELAY, as AWS's endpoints answer: without it a reply written in two parts
        // waits for the client's delayed ACK (about 40 ms) between them.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Sandbox {
            inner,
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to give clients as `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A copy of the call log.
    pub fn calls(&self) -> CallLogSnapshot {
        self.inner.lock().calls.snapshot()
    }

    pub fn reset_calls(&self) {
        self.inner.lock().calls.reset();
    }

    /// Replaces the faults; the random draws restart from the new seed.
    pub fn set_faults(&self, config: FaultConfig) -> Result<(), FaultError> {
        let f = faults::Faults::new(config)?;
        self.inner.lock().faults = f;
        Ok(())
    }

    /// Reads or changes the world between calls.
    pub fn with_world<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut self.inner.lock().world)
    }

    /// The world as `GET /_sandbox/world` returns it.
    pub fn world_json(&self) -> Value {
        dump::world_json(&self.inner.lock().world)
    }

    /// Stops accepting connections, lets in-flight requests finish, and waits.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The shell line that points AWS clients at a sandbox, acting as `account` in `region`. Both
/// region variables are set: the Rust SDK reads `AWS_REGION`, boto3 and the aws CLI
/// `AWS_DEFAULT_REGION`.
pub fn exports(endpoint: &str, account: &str, region: &str) -> String {
    format!(
        "export AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID={account} \
         AWS_SECRET_ACCESS_KEY=sandbox AWS_REGION={region} AWS_DEFAULT_REGION={region}"
    )
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Faults(FaultError),
}
