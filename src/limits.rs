//! Every limit of the server as a setting: a flag, a `LARAS_*` variable, a key of
//! `[limits]` in `laras.toml`, or its default.

use crate::connections::{default_max_connections, ConnectionLimits};
use laras_graphql::Limits;
use serde::Deserialize;
use std::time::Duration;

/// Limits as given by flags, the environment or `[limits]`; each one optional.
#[derive(Debug, Default, Clone, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// Open connections at most (default: the open-file limit less 256).
    #[arg(long, env = "LARAS_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds a client has to send a request's headers.
    #[arg(long, env = "LARAS_HEADER_READ_TIMEOUT_SECONDS")]
    pub header_read_timeout_seconds: Option<u64>,
    /// Seconds a connection may stay open without a request.
    #[arg(long, env = "LARAS_IDLE_TIMEOUT_SECONDS")]
    pub idle_timeout_seconds: Option<u64>,
    /// New connections per second from one IP address (0: no limit).
    #[arg(long, env = "LARAS_NEW_CONNECTIONS_PER_IP_PER_SECOND")]
    pub new_connections_per_ip_per_second: Option<u32>,
    /// `/graphql` requests per second from one IP address, before authentication (0: no limit).
    #[arg(long, env = "LARAS_REQUESTS_PER_IP_PER_SECOND")]
    pub requests_per_ip_per_second: Option<u32>,
    /// Failed authentications per minute from one IP address, then a minute's block (0: no limit).
    #[arg(long, env = "LARAS_FAILED_AUTH_PER_IP_PER_MINUTE")]
    pub failed_auth_per_ip_per_minute: Option<u32>,
    /// Requests per second per API key.
    #[arg(long, env = "LARAS_REQUESTS_PER_KEY_PER_SECOND")]
    pub requests_per_key_per_second: Option<u32>,
    /// Burst of requests per API key.
    #[arg(long, env = "LARAS_REQUEST_BURST_PER_KEY")]
    pub request_burst_per_key: Option<u32>,
    /// A request's cost at most (every field counts; paged lists by their page size).
    #[arg(long, env = "LARAS_MAX_QUERY_COST")]
    pub max_query_cost: Option<usize>,
    /// Nested fields at most.
    #[arg(long, env = "LARAS_MAX_QUERY_DEPTH")]
    pub max_query_depth: Option<usize>,
    /// Request body bytes at most.
    #[arg(long, env = "LARAS_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Bytes of a multipart request to `/graphql/upload` (a reply's file) at most.
    #[arg(long, env = "LARAS_MAX_UPLOAD_BYTES")]
    pub max_upload_bytes: Option<usize>,
    /// Answer bytes at most.
    #[arg(long, env = "LARAS_MAX_RESPONSE_BYTES")]
    pub max_response_bytes: Option<usize>,
    /// Seconds a new websocket has to send `connection_init`.
    #[arg(long, env = "LARAS_WS_INIT_TIMEOUT_SECONDS")]
    pub ws_init_timeout_seconds: Option<u64>,
    /// Operations running at once on one websocket.
    #[arg(long, env = "LARAS_MAX_OPERATIONS_PER_SOCKET")]
    pub max_operations_per_socket: Option<usize>,
    /// Operations running at once on all of one API key's websockets.
    #[arg(long, env = "LARAS_MAX_SUBSCRIPTIONS_PER_KEY")]
    pub max_subscriptions_per_key: Option<usize>,
}

/// The limits after merging every source.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    pub connections: ConnectionLimits,
    pub api: Limits,
}

pub const DEFAULT_HEADER_READ_TIMEOUT_SECONDS: u64 = 10;
pub const DEFAULT_IDLE_TIMEOUT_SECONDS: u64 = 60;
pub const DEFAULT_NEW_CONNECTIONS_PER_IP_PER_SECOND: u32 = 50;

impl ServerLimits {
    /// `flags` win over `file`, which wins over the defaults.
    pub fn merge(flags: &LimitOverrides, file: &LimitOverrides) -> Self {
        let api_default = Limits::default();
        macro_rules! pick {
            ($field:ident, $default:expr) => {
                flags.$field.or(file.$field).unwrap_or($default)
            };
        }
        let connections = ConnectionLimits {
            max_connections: pick!(max_connections, default_max_connections()).max(1),
            header_read_timeout: Duration::from_secs(
                pick!(header_read_timeout_seconds, DEFAULT_HEADER_READ_TIMEOUT_SECONDS).max(1),
            ),
            idle_timeout: Duration::from_secs(pick!(idle_timeout_seconds, DEFAULT_IDLE_TIMEOUT_SECONDS).max(1)),
            new_per_ip_per_second: pick!(new_connections_per_ip_per_second, DEFAULT_NEW_CONNECTIONS_PER_IP_PER_SECOND),
        };
        let api = Limits {
            per_ip_per_second: pick!(requests_per_ip_per_second, api_default.per_ip_per_second),
            failed_auth_per_ip_per_minute: pick!(
                failed_auth_per_ip_per_minute,
                api_default.failed_auth_per_ip_per_minute
            ),
            per_key_per_second: pick!(requests_per_key_per_second, api_default.per_key_per_second).max(1),
            burst: pick!(request_burst_per_key, api_default.burst).max(1),
            max_complexity: pick!(max_query_cost, api_default.max_complexity).max(1),
            max_depth: pick!(max_query_depth, api_default.max_depth).max(1),
            max_body_bytes: pick!(max_body_bytes, api_default.max_body_bytes).max(1024),
            max_upload_bytes: pick!(max_upload_bytes, api_default.max_upload_bytes).max(1024),
            max_response_bytes: pick!(max_response_bytes, api_default.max_response_bytes).max(1024),
            ws_init_timeout_ms: pick!(ws_init_timeout_seconds, api_default.ws_init_timeout_ms / 1000).max(1) * 1000,
            max_operations_per_socket: pick!(max_operations_per_socket, api_default.max_operations_per_socket).max(1),
            max_subscriptions_per_key: pick!(max_subscriptions_per_key, api_default.max_subscriptions_per_key).max(1),
            ..api_default
        };
        Self { connections, api }
    }
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self::merge(&LimitOverrides::default(), &LimitOverrides::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let flags = LimitOverrides { max_query_cost: Some(500), ..Default::default() };
        let file: LimitOverrides =
            toml::from_str("max_query_cost = 900\nidle_timeout_seconds = 5\nrequests_per_ip_per_second = 0\n")
                .expect("toml");
        let l = ServerLimits::merge(&flags, &file);
        assert_eq!(l.api.max_complexity, 500);
        assert_eq!(l.connections.idle_timeout, Duration::from_secs(5));
        assert_eq!(l.api.per_ip_per_second, 0, "0 turns the per-IP limit off");
        assert_eq!(l.connections.header_read_timeout, Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT_SECONDS));
        assert_eq!(l.api.max_depth, Limits::default().max_depth);
    }

    #[test]
    fn an_unknown_limit_in_the_file_is_an_error() {
        assert!(toml::from_str::<LimitOverrides>("max_conections = 5\n").is_err());
    }
}
