//! Settings: flags, then `LARAS_*` environment variables, then `laras.toml`, then defaults.

use crate::log_store::LogLocation;
use laras_adapters::postgres_log::is_postgres_url;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./laras-data";
pub const DEFAULT_GRAPH_URL: &str = "https://graph.facebook.com";
pub const DEFAULT_THREADS_GRAPH_URL: &str = "https://graph.threads.net";
pub const DEFAULT_GRAPH_VERSION: &str = "v21.0";
pub const DEFAULT_TREE_HEAD_EVERY_EVENTS: u64 = 1_000;
pub const DEFAULT_TREE_HEAD_EVERY_SECONDS: u64 = 60;
pub const DEFAULT_AI_CONFIDENCE_THRESHOLD: f64 = 0.5;
pub const DEFAULT_AI_CHAT_MODEL: &str = "gpt-4o-mini";
pub const DEFAULT_AI_CONCURRENCY: usize = 8;
pub const DEFAULT_READY_MAX_LAG: u64 = 10_000;
/// A dead node's once-only work moves within 4/3 of this: under 10 s (issue 11).
pub const DEFAULT_LEASE_TTL_SECONDS: f64 = 6.0;

/// What `laras.toml` may hold (every key optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub data_dir: Option<PathBuf>,
    pub master_key_file: Option<PathBuf>,
    pub signing_key_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub admin_token: Option<String>,
    pub tree_head_every_events: Option<u64>,
    pub tree_head_every_seconds: Option<u64>,
    pub ready_max_lag: Option<u64>,
    pub node_id: Option<String>,
    pub lease_ttl_seconds: Option<f64>,
    pub meta: Option<MetaFileSettings>,
    pub ai: Option<AiFileSettings>,
    pub limits: Option<crate::limits::LimitOverrides>,
    pub store: Option<StoreFileSettings>,
    pub outbox: Option<crate::outbox_settings::OutboxOverrides>,
    pub media: Option<MediaFileSettings>,
}

/// `[media]`: the largest file kept per kind (WhatsApp's own limits by default) and how
/// files are fetched.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaFileSettings {
    pub image_max_bytes: Option<u64>,
    pub audio_max_bytes: Option<u64>,
    pub video_max_bytes: Option<u64>,
    pub document_max_bytes: Option<u64>,
    pub sticker_max_bytes: Option<u64>,
    pub fetch_attempts: Option<u32>,
    pub fetch_concurrency: Option<usize>,
}

impl MediaFileSettings {
    fn settings(self) -> laras_commands::media::MediaSettings {
        use laras_domain::media::MediaKind;
        let mut media = laras_commands::media::MediaSettings::default();
        for (kind, limit) in [
            (MediaKind::Image, self.image_max_bytes),
            (MediaKind::Audio, self.audio_max_bytes),
            (MediaKind::Video, self.video_max_bytes),
            (MediaKind::Document, self.document_max_bytes),
            (MediaKind::Sticker, self.sticker_max_bytes),
        ] {
            if let Some(limit) = limit {
                media.limits.insert(kind, limit);
            }
        }
        media.attempts = self.fetch_attempts.unwrap_or(media.attempts).clamp(1, 20);
        media.concurrency = self.fetch_concurrency.unwrap_or(media.concurrency).clamp(1, 64);
        media
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreFileSettings {
    /// `postgres://…`; absent: the embedded log in the data dir.
    pub url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiFileSettings {
    pub confidence_threshold: Option<f64>,
    pub concurrency: Option<usize>,
    pub chat_url: Option<String>,
    pub chat_model: Option<String>,
    pub chat_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaFileSettings {
    pub app_secret: Option<String>,
    pub verify_token: Option<String>,
    pub graph_url: Option<String>,
    pub graph_version: Option<String>,
    pub threads_graph_url: Option<String>,
}

/// Settings after merging every source.
#[derive(Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    /// Where the event log is (the data dir's embedded log unless a PostgreSQL URL is set).
    pub log: LogLocation,
    /// The master key file when it lives outside the data dir (none: `<data_dir>/master.key`).
    pub master_key_file: Option<PathBuf>,
    /// The folder of signing-key secrets when it lives outside the data dir: one folder's
    /// contents given to every node on a shared store (ADR 011).
    pub signing_key_dir: Option<PathBuf>,
    pub listen: SocketAddr,
    /// Creates Partners and their keys through the API; none: only the CLI can.
    pub admin_token: Option<String>,
    /// A signed tree head every this many events of a Partner…
    pub tree_head_every_events: u64,
    /// …or this many seconds after the last one, when the tree grew.
    pub tree_head_every_seconds: u64,
    pub meta_app_secret: Option<String>,
    pub meta_verify_token: Option<String>,
    pub meta_graph_url: String,
    pub meta_graph_version: String,
    pub threads_graph_url: String,
    /// Below this confidence the AI worker proposes nothing (0..1).
    pub ai_confidence_threshold: f64,
    /// An OpenAI-compatible API base (e.g. `https://api.openai.com/v1`); none: the
    /// embedded generator, which needs no outside service.
    pub ai_chat_url: Option<String>,
    pub ai_chat_model: String,
    pub ai_chat_key: Option<String>,
    /// How many conversations the AI worker drafts for at once.
    pub ai_concurrency: usize,
    /// `/readyz` fails when a process is more than this many events behind the log.
    pub ready_max_lag: u64,
    /// This node's name in leases.
    pub node_id: String,
    /// How long a once-only process's lease lasts unrenewed; it is renewed every third of
    /// it, and a waiting node asks every third of it, so a dead holder's work moves to
    /// another node between 2/3 and 4/3 of this after its last renewal.
    pub lease_ttl: std::time::Duration,
    /// Connections, rates and what one request may cost.
    pub limits: crate::limits::ServerLimits,
    /// Concurrency, retries and in-doubt bounds of the outbox.
    pub outbox: laras_commands::outbox::OutboxSettings,
    /// Size limits per kind, retries and concurrency of the media fetcher.
    pub media: laras_commands::media::MediaSettings,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets are never printed.
        f.debug_struct("Settings")
            .field("data_dir", &self.data_dir)
            .field("log", &self.log)
            .field("master_key_file", &self.master_key_file)
            .field("signing_key_dir", &self.signing_key_dir)
            .field("listen", &self.listen)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "***"))
            .field("tree_head_every_events", &self.tree_head_every_events)
            .field("tree_head_every_seconds", &self.tree_head_every_seconds)
            .field("meta_app_secret", &self.meta_app_secret.as_ref().map(|_| "***"))
            .field("meta_verify_token", &self.meta_verify_token.as_ref().map(|_| "***"))
            .field("meta_graph_url", &self.meta_graph_url)
            .field("meta_graph_version", &self.meta_graph_version)
            .field("threads_graph_url", &self.threads_graph_url)
            .field("ai_confidence_threshold", &self.ai_confidence_threshold)
            .field("ai_chat_url", &self.ai_chat_url)
            .field("ai_chat_model", &self.ai_chat_model)
            .field("ai_chat_key", &self.ai_chat_key.as_ref().map(|_| "***"))
            .field("ai_concurrency", &self.ai_concurrency)
            .field("ready_max_lag", &self.ready_max_lag)
            .field("node_id", &self.node_id)
            .field("lease_ttl", &self.lease_ttl)
            .field("limits", &self.limits)
            .field("outbox", &self.outbox)
            .field("media", &self.media)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid laras.toml: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("invalid listen address {0:?}")]
    Listen(String),
    #[error("the store URL must start with postgres:// or postgresql://")]
    StoreUrl,
    #[error("the AI confidence threshold must be from 0 to 1, not {0}")]
    Threshold(f64),
    #[error("the lease TTL must be from 0.3 to 600 seconds, not {0}")]
    LeaseTtl(f64),
}

/// Values given on the command line or in the environment (clap fills both).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub store_url: Option<String>,
    pub master_key_file: Option<PathBuf>,
    pub signing_key_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub admin_token: Option<String>,
    pub tree_head_every_events: Option<u64>,
    pub tree_head_every_seconds: Option<u64>,
    pub meta_app_secret: Option<String>,
    pub meta_verify_token: Option<String>,
    pub meta_graph_url: Option<String>,
    pub meta_graph_version: Option<String>,
    pub threads_graph_url: Option<String>,
    pub ai_confidence_threshold: Option<f64>,
    pub ai_chat_url: Option<String>,
    pub ai_chat_model: Option<String>,
    pub ai_chat_key: Option<String>,
    pub ai_concurrency: Option<usize>,
    pub ready_max_lag: Option<u64>,
    pub node_id: Option<String>,
    pub lease_ttl_seconds: Option<f64>,
    pub limits: crate::limits::LimitOverrides,
    pub outbox: crate::outbox_settings::OutboxOverrides,
}

impl Settings {
    /// Merges overrides over the config file (explicit `--config`, else `./laras.toml` if present).
    pub fn load(overrides: Overrides) -> Result<Self, SettingsError> {
        let file = match &overrides.config {
            Some(path) => read_file(path)?,
            None if Path::new("laras.toml").exists() => read_file(Path::new("laras.toml"))?,
            None => FileSettings::default(),
        };
        let meta = file.meta.unwrap_or_default();
        let ai = file.ai.unwrap_or_default();
        let limits = crate::limits::ServerLimits::merge(&overrides.limits, &file.limits.unwrap_or_default());
        let outbox = overrides.outbox.merge(&file.outbox.unwrap_or_default());
        let threshold =
            overrides.ai_confidence_threshold.or(ai.confidence_threshold).unwrap_or(DEFAULT_AI_CONFIDENCE_THRESHOLD);
        if !(0.0..=1.0).contains(&threshold) {
            return Err(SettingsError::Threshold(threshold));
        }
        let lease_ttl = overrides.lease_ttl_seconds.or(file.lease_ttl_seconds).unwrap_or(DEFAULT_LEASE_TTL_SECONDS);
        // Below a few hundred milliseconds a renewal's round trip could outlast the lease.
        if !(0.3..=600.0).contains(&lease_ttl) {
            return Err(SettingsError::LeaseTtl(lease_ttl));
        }
        let log = match overrides.store_url.or(file.store.and_then(|s| s.url)).filter(|s| !s.is_empty()) {
            None => LogLocation::Embedded,
            Some(url) if is_postgres_url(&url) => LogLocation::Postgres(url),
            Some(_) => return Err(SettingsError::StoreUrl),
        };
        let listen = match overrides.listen.or(file.listen) {
            Some(addr) => addr,
            None => DEFAULT_LISTEN.parse().map_err(|_| SettingsError::Listen(DEFAULT_LISTEN.into()))?,
        };
        Ok(Self {
            data_dir: overrides.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            log,
            master_key_file: overrides.master_key_file.or(file.master_key_file),
            signing_key_dir: overrides.signing_key_dir.or(file.signing_key_dir),
            listen,
            admin_token: overrides.admin_token.or(file.admin_token).filter(|s| !s.is_empty()),
            tree_head_every_events: overrides
                .tree_head_every_events
                .or(file.tree_head_every_events)
                .unwrap_or(DEFAULT_TREE_HEAD_EVERY_EVENTS)
                .max(1),
            tree_head_every_seconds: overrides
                .tree_head_every_seconds
                .or(file.tree_head_every_seconds)
                .unwrap_or(DEFAULT_TREE_HEAD_EVERY_SECONDS)
                .max(1),
            meta_app_secret: overrides.meta_app_secret.or(meta.app_secret).filter(|s| !s.is_empty()),
            meta_verify_token: overrides.meta_verify_token.or(meta.verify_token).filter(|s| !s.is_empty()),
            meta_graph_url: overrides.meta_graph_url.or(meta.graph_url).unwrap_or_else(|| DEFAULT_GRAPH_URL.into()),
            meta_graph_version: overrides
                .meta_graph_version
                .or(meta.graph_version)
                .unwrap_or_else(|| DEFAULT_GRAPH_VERSION.into()),
            threads_graph_url: overrides
                .threads_graph_url
                .or(meta.threads_graph_url)
                .unwrap_or_else(|| DEFAULT_THREADS_GRAPH_URL.into()),
            ai_confidence_threshold: threshold,
            ai_chat_url: overrides.ai_chat_url.or(ai.chat_url).filter(|s| !s.is_empty()),
            ai_chat_model: overrides.ai_chat_model.or(ai.chat_model).unwrap_or_else(|| DEFAULT_AI_CHAT_MODEL.into()),
            ai_chat_key: overrides.ai_chat_key.or(ai.chat_key).filter(|s| !s.is_empty()),
            ai_concurrency: overrides.ai_concurrency.or(ai.concurrency).unwrap_or(DEFAULT_AI_CONCURRENCY).clamp(1, 256),
            ready_max_lag: overrides.ready_max_lag.or(file.ready_max_lag).unwrap_or(DEFAULT_READY_MAX_LAG),
            node_id: overrides.node_id.or(file.node_id).filter(|s| !s.is_empty()).unwrap_or_else(default_node_id),
            lease_ttl: std::time::Duration::from_secs_f64(lease_ttl),
            limits,
            outbox,
            media: file.media.unwrap_or_default().settings(),
        })
    }
}

/// The host name and process id: unique among the nodes sharing a store.
fn default_node_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    let host = if host.is_empty() { "laras".to_owned() } else { host };
    format!("{host}-{}", std::process::id())
}

fn read_file(path: &Path) -> Result<FileSettings, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read { path: path.into(), source })?;
    toml::from_str(&text).map_err(|source| SettingsError::Parse { path: path.into(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("laras.toml");
        std::fs::write(
            &path,
            "data_dir = \"/from/file\"\nlisten = \"127.0.0.1:9000\"\n[meta]\nverify_token = \"s3cr3t-verify\"\n",
        )
        .unwrap();
        let s = Settings::load(Overrides {
            config: Some(path.clone()),
            data_dir: Some("/from/flag".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.meta_verify_token.as_deref(), Some("s3cr3t-verify"));
        assert_eq!(s.meta_graph_url, DEFAULT_GRAPH_URL);
        assert!(!format!("{s:?}").contains("s3cr3t-verify"));
    }

    #[test]
    fn ai_settings_come_from_the_file_and_a_bad_threshold_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("laras.toml");
        std::fs::write(&path, "[ai]\nchat_url = \"http://127.0.0.1:1/v1\"\nchat_key = \"sk-s3cret\"\n").unwrap();
        let s = Settings::load(Overrides { config: Some(path.clone()), ..Default::default() }).unwrap();
        assert_eq!(s.ai_chat_url.as_deref(), Some("http://127.0.0.1:1/v1"));
        assert_eq!((s.ai_chat_model.as_str(), s.ai_confidence_threshold), (DEFAULT_AI_CHAT_MODEL, 0.5));
        assert!(!format!("{s:?}").contains("sk-s3cret"));
        let bad = Overrides { config: Some(path), ai_confidence_threshold: Some(1.5), ..Default::default() };
        assert!(matches!(Settings::load(bad), Err(SettingsError::Threshold(_))));
    }

    #[test]
    fn the_store_url_comes_from_flag_or_file_is_never_printed_and_must_be_postgres() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("laras.toml");
        std::fs::write(&path, "[store]\nurl = \"postgres://laras:pa55word@db:5432/laras\"\n").unwrap();
        let s = Settings::load(Overrides { config: Some(path.clone()), ..Default::default() }).unwrap();
        assert_eq!(s.log, LogLocation::Postgres("postgres://laras:pa55word@db:5432/laras".into()));
        assert!(!format!("{s:?}").contains("pa55word"));
        let flag = Overrides {
            config: Some(path.clone()),
            store_url: Some("postgresql://other/db".into()),
            ..Default::default()
        };
        assert_eq!(Settings::load(flag).unwrap().log, LogLocation::Postgres("postgresql://other/db".into()));
        let none = Settings::load(Overrides::default()).unwrap();
        assert_eq!(none.log, LogLocation::Embedded, "the embedded log stays the default");
        let bad = Overrides { store_url: Some("mysql://db".into()), ..Default::default() };
        assert!(matches!(Settings::load(bad), Err(SettingsError::StoreUrl)));
    }

    #[test]
    fn the_master_key_file_comes_from_the_flag_or_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("laras.toml");
        std::fs::write(&path, "master_key_file = \"/secrets/from-file.key\"\n").unwrap();
        let s = Settings::load(Overrides { config: Some(path.clone()), ..Default::default() }).unwrap();
        assert_eq!(s.master_key_file, Some(PathBuf::from("/secrets/from-file.key")));
        let flag = Overrides { config: Some(path), master_key_file: Some("/run/k".into()), ..Default::default() };
        assert_eq!(Settings::load(flag).unwrap().master_key_file, Some(PathBuf::from("/run/k")));
        assert_eq!(Settings::load(Overrides::default()).unwrap().master_key_file, None);
    }

    #[test]
    fn the_signing_key_dir_comes_from_the_flag_or_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("laras.toml");
        std::fs::write(&path, "signing_key_dir = \"/secrets/signing\"\n").unwrap();
        let s = Settings::load(Overrides { config: Some(path.clone()), ..Default::default() }).unwrap();
        assert_eq!(s.signing_key_dir, Some(PathBuf::from("/secrets/signing")));
        let flag = Overrides { config: Some(path), signing_key_dir: Some("/run/s".into()), ..Default::default() };
        assert_eq!(Settings::load(flag).unwrap().signing_key_dir, Some(PathBuf::from("/run/s")));
        assert_eq!(Settings::load(Overrides::default()).unwrap().signing_key_dir, None);
    }

    #[test]
    fn an_unknown_key_in_the_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("laras.toml");
        std::fs::write(&path, "data_dri = \"x\"\n").unwrap();
        assert!(matches!(
            Settings::load(Overrides { config: Some(path), ..Default::default() }),
            Err(SettingsError::Parse { .. })
        ));
    }
}
