//! Accepting connections within bounds, so `/healthz` and the webhooks keep answering
//! while hostile clients hold sockets open: a cap on open connections below the
//! process's file limit (at the cap, the connection idle longest is closed to make
//! room), a header read timeout, an idle timeout, and a per-IP rate of new connections.

use axum::extract::ConnectInfo;
use axum::Router;
use governor::{DefaultKeyedRateLimiter, Quota};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Bounds on connections; every one is a setting.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    /// New connections per second from one IP address (0: no limit), with bursts of 10 times as many.
    pub new_per_ip_per_second: u32,
}

/// The open connections and whether each is busy.
#[derive(Default)]
struct Open {
    next: u64,
    by_id: HashMap<u64, Slot>,
}

struct Slot {
    in_flight: usize,
    idle_since: Instant,
    close: Arc<Notify>,
}

impl Open {
    /// The connection idle longest, if any is idle.
    fn longest_idle(&self) -> Option<u64> {
        self.by_id.iter().filter(|(_, s)| s.in_flight == 0).min_by_key(|(_, s)| s.idle_since).map(|(id, _)| *id)
    }

    fn close(&mut self, id: u64) {
        if let Some(slot) = self.by_id.remove(&id) {
            slot.close.notify_one();
        }
    }
}

type Shared = Arc<Mutex<Open>>;

fn lock(open: &Shared) -> std::sync::MutexGuard<'_, Open> {
    // A panic while holding the lock leaves only counters behind: keep serving.
    open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Serves `router` on `listener` until `shutdown`, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let open: Shared = Arc::default();
    let per_ip = NonZeroU32::new(limits.new_per_ip_per_second).map(|n| {
        let burst = n.saturating_mul(NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN));
        DefaultKeyedRateLimiter::<IpAddr>::keyed(Quota::per_second(n).allow_burst(burst))
    });
    let sweeper = tokio::spawn(sweep_idle(open.clone(), limits.idle_timeout));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors: wait for some to close rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if per_ip.as_ref().is_some_and(|l| l.check_key(&peer.ip()).is_err()) {
            drop(stream);
            continue;
        }
        let (id, close) = {
            let mut open = lock(&open);
            if open.by_id.len() >= limits.max_connections {
                match open.longest_idle() {
                    Some(idle) => open.close(idle),
                    None => {
                        // Every connection is busy: the newcomer waits for a later try.
                        drop(stream);
                        continue;
                    }
                }
            }
            let id = open.next;
            open.next += 1;
            let close = Arc::new(Notify::new());
            open.by_id.insert(id, Slot { in_flight: 0, idle_since: Instant::now(), close: close.clone() });
            (id, close)
        };
        let service = tracked(router.clone(), open.clone(), id, peer);
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        let open = open.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = connection => {}
                () = close.notified() => {}
            }
            lock(&open).by_id.remove(&id);
        });
    }
    sweeper.abort();
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The router as a hyper service that tells `open` when connection `id` is busy, and
/// gives handlers the peer's address.
fn tracked(
    router: Router,
    open: Shared,
    id: u64,
    peer: SocketAddr,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<axum::response::Response, std::convert::Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        let open = open.clone();
        async move {
            if let Some(slot) = lock(&open).by_id.get_mut(&id) {
                slot.in_flight += 1;
            }
            let response = tower::ServiceExt::oneshot(router, request).await;
            if let Some(slot) = lock(&open).by_id.get_mut(&id) {
                slot.in_flight = slot.in_flight.saturating_sub(1);
                slot.idle_since = Instant::now();
            }
            response
        }
    })
}

/// Closes connections idle longer than `idle` (including those that never sent a request).
async fn sweep_idle(open: Shared, idle: Duration) {
    let mut tick = tokio::time::interval(Duration::from_millis(250).min(idle));
    loop {
        tick.tick().await;
        let mut open = lock(&open);
        let now = Instant::now();
        let stale: Vec<u64> = open
            .by_id
            .iter()
            .filter(|(_, s)| s.in_flight == 0 && now.duration_since(s.idle_since) > idle)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            open.close(id);
        }
    }
}

/// The soft limit on open files (from `/proc/self/limits`), if it can be read.
pub fn open_file_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The default connection cap: the file limit less room for the stores, logs and
/// outgoing calls, never below 16.
pub fn default_max_connections() -> usize {
    let files = open_file_limit().unwrap_or(1024);
    files.saturating_sub(256).max(16).min(files * 3 / 4).max(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_idle_connection_is_chosen_and_busy_ones_never_are() {
        let mut open = Open::default();
        let t0 = Instant::now();
        for (id, in_flight, ago) in [(1, 0, 5), (2, 1, 9), (3, 0, 2)] {
            let slot = Slot { in_flight, idle_since: t0 - Duration::from_secs(ago), close: Arc::new(Notify::new()) };
            open.by_id.insert(id, slot);
        }
        assert_eq!(open.longest_idle(), Some(1));
        open.close(1);
        assert_eq!(open.longest_idle(), Some(3));
        open.close(3);
        assert_eq!(open.longest_idle(), None);
    }

    #[test]
    fn the_default_cap_stays_below_the_file_limit() {
        let cap = default_max_connections();
        if let Some(files) = open_file_limit() {
            assert!(cap < files, "{cap} connections with {files} files");
        }
        assert!(cap >= 16);
    }
}
