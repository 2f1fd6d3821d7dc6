//! `laras`: the AI worker's signed compliance ledger. Parses arguments and wires crates.

use clap::{Parser, Subcommand};
use laras::settings::{Overrides, Settings};
use laras_domain::channel::ChannelKind;
use laras_domain::event::ApprovalMode;
use laras_domain::ids::{ConversationId, PartnerId, UserId};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "laras", version, about = "Laras: a Partner's AI worker with a signed compliance ledger")]
struct Cli {
    /// Settings file (default: ./laras.toml when present).
    #[arg(long, global = true, env = "LARAS_CONFIG")]
    config: Option<PathBuf>,
    /// Where the log, keys and read models live (default ./laras-data).
    #[arg(long, global = true, env = "LARAS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The event log on PostgreSQL (postgres://…) instead of the data dir's embedded log.
    /// Contact keys, API keys, channel credentials, the Merkle trees, checkpoints and
    /// leases then live in that database too; the data dir keeps only read models.
    #[arg(long = "store", global = true, env = "LARAS_STORE_URL", hide_env_values = true)]
    store_url: Option<String>,
    /// The master key file, kept outside the data dir (default: DATA_DIR/master.key).
    #[arg(long, global = true, env = "LARAS_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// The folder of signing-key secrets, kept outside the data dir (default:
    /// DATA_DIR/signing). Nodes on one shared store are given the same folder (ADR 011).
    #[arg(long, global = true, env = "LARAS_SIGNING_KEY_DIR")]
    signing_key_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "LARAS_LISTEN")]
    listen: Option<SocketAddr>,
    /// Token that creates Partners and their keys through GraphQL.
    #[arg(long, env = "LARAS_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Sign a Partner's tree head every this many of its events.
    #[arg(long, env = "LARAS_TREE_HEAD_EVERY_EVENTS")]
    tree_head_every_events: Option<u64>,
    /// …or this many seconds after the last head, when the tree grew.
    #[arg(long, env = "LARAS_TREE_HEAD_EVERY_SECONDS")]
    tree_head_every_seconds: Option<u64>,
    /// Seed a demo Partner with conversations on all four channels and print its owner key.
    #[arg(long)]
    demo: bool,
    /// Below this confidence (0..1) the AI worker proposes no draft.
    #[arg(long, env = "LARAS_AI_CONFIDENCE_THRESHOLD")]
    ai_confidence_threshold: Option<f64>,
    /// An OpenAI-compatible API base (e.g. https://api.openai.com/v1) for drafts;
    /// without it the embedded generator answers from the Partner's articles.
    #[arg(long, env = "LARAS_AI_CHAT_URL")]
    ai_chat_url: Option<String>,
    /// The chat model to ask.
    #[arg(long, env = "LARAS_AI_CHAT_MODEL")]
    ai_chat_model: Option<String>,
    /// The chat API key.
    #[arg(long, env = "LARAS_AI_CHAT_KEY", hide_env_values = true)]
    ai_chat_key: Option<String>,
    /// Meta app secret: webhook signatures are checked with it.
    #[arg(long, env = "LARAS_META_APP_SECRET", hide_env_values = true)]
    meta_app_secret: Option<String>,
    /// Token Meta echoes in the webhook verification handshake.
    #[arg(long, env = "LARAS_META_VERIFY_TOKEN", hide_env_values = true)]
    meta_verify_token: Option<String>,
    /// Graph API base URL (tests point it at a fake).
    #[arg(long, env = "LARAS_META_GRAPH_URL")]
    meta_graph_url: Option<String>,
    /// Graph API version (e.g. v21.0).
    #[arg(long, env = "LARAS_META_GRAPH_VERSION")]
    meta_graph_version: Option<String>,
    /// Threads API base URL.
    #[arg(long, env = "LARAS_THREADS_GRAPH_URL")]
    threads_graph_url: Option<String>,
    /// How many conversations the AI worker drafts for at once (default 8).
    #[arg(long, env = "LARAS_AI_CONCURRENCY")]
    ai_concurrency: Option<usize>,
    /// /readyz answers 503 when a process is more than this many events behind the log.
    #[arg(long, env = "LARAS_READY_MAX_LAG")]
    ready_max_lag: Option<u64>,
    /// This node's name in leases (default: host name and process id).
    #[arg(long, env = "LARAS_NODE_ID")]
    node_id: Option<String>,
    /// Seconds a once-only process's lease lasts unrenewed (renewed every third of it): a
    /// dead node's work moves to another within about 4/3 of this (default 6).
    #[arg(long, env = "LARAS_LEASE_TTL_SECONDS")]
    lease_ttl_seconds: Option<f64>,
    #[command(flatten)]
    limits: laras::limits::LimitOverrides,
    #[command(flatten)]
    outbox: laras::outbox_settings::OutboxOverrides,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (on the embedded store unless --store names PostgreSQL).
    Serve(Box<ServeArgs>),
    /// Partners: `partner create --name NAME`.
    Partner {
        #[command(subcommand)]
        action: PartnerAction,
    },
    /// Channels: `channel connect` (token from LARAS_CHANNEL_TOKEN).
    Channel {
        #[command(subcommand)]
        action: ChannelAction,
    },
    /// A Partner's conversations, one JSON line each.
    Conversations {
        #[arg(long)]
        partner: PartnerId,
    },
    /// Record a person's reply on a conversation; the server's outbox delivers it.
    /// Exits 3 when the policy refuses (the refusal is recorded).
    Reply {
        #[arg(long)]
        partner: PartnerId,
        #[arg(long)]
        conversation: ConversationId,
        /// The partner user replying.
        #[arg(long)]
        user: UserId,
        #[arg(long)]
        text: String,
        /// Instagram: send the one private reply to this comment.
        #[arg(long)]
        comment: Option<String>,
    },
    /// List signing keys; `keys rotate` adds a new one.
    Keys {
        #[command(subcommand)]
        action: Option<KeysAction>,
    },
    /// Read models: `projections rebuild` projects the whole log again (server stopped).
    Projections {
        #[command(subcommand)]
        action: ProjectionsAction,
    },
    /// Write one Partner's audit bundle: envelopes, key history, tree heads, proofs, erasure markers.
    Export {
        #[arg(long)]
        partner: PartnerId,
        /// A new or empty directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// A witness of a Partner's tree heads (ADR 013): `witness init`, then `witness run`.
    Witness {
        #[command(subcommand)]
        action: WitnessAction,
    },
    /// Offline checks of an export bundle (no data dir needed): `audit verify DIR`.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Online backup of the data dir into one tar file (the server may keep running).
    Backup {
        /// A new file; it holds key material and is written with mode 0600.
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup into --data-dir, which must be new or empty.
    Restore { file: PathBuf },
    /// Verify the whole log: hashes, chain links and signatures.
    Verify {
        /// Machine-readable report.
        #[arg(long)]
        json: bool,
    },
    /// The event log itself: `store copy --from DATA_DIR --to postgres://…`.
    Store {
        #[command(subcommand)]
        action: StoreAction,
    },
    /// Measurements (writes a bench partner into the data dir).
    #[command(hide = true)]
    Bench {
        #[command(subcommand)]
        action: BenchAction,
    },
}

#[derive(Subcommand)]
enum StoreAction {
    /// Copy an embedded log into PostgreSQL with every position, hash and signature intact.
    /// Rerunning it copies only what is new. Stop the server on the data dir first.
    Copy {
        /// The data dir whose ledger.sqlite is copied.
        #[arg(long)]
        from: PathBuf,
        /// The PostgreSQL database (postgres://…).
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum PartnerAction {
    /// Onboard a Partner; prints its id as JSON.
    Create {
        #[arg(long)]
        name: String,
        /// approval, autopilot or off.
        #[arg(long, default_value = "approval", value_parser = parse_approval)]
        approval: ApprovalMode,
    },
}

#[derive(Subcommand)]
enum ChannelAction {
    /// Connect a Partner's WhatsApp, Instagram, Messenger or Threads account.
    Connect {
        #[arg(long)]
        partner: PartnerId,
        /// whatsapp, instagram, messenger or threads.
        #[arg(long)]
        kind: ChannelKind,
        /// Phone number id, Instagram account id, Page id or Threads user id.
        #[arg(long)]
        account: String,
        /// Shown in the inbox; the platform's name for the account when empty.
        #[arg(long, default_value = "")]
        name: String,
        /// Graph API base URL, asked to prove the token controls the account (tests point it at a fake).
        #[arg(long, env = "LARAS_META_GRAPH_URL")]
        meta_graph_url: Option<String>,
        /// Threads API base URL.
        #[arg(long, env = "LARAS_THREADS_GRAPH_URL")]
        threads_graph_url: Option<String>,
    },
    /// Disconnect a channel: nothing more is sent on it and its token is forgotten.
    Disconnect {
        #[arg(long)]
        partner: PartnerId,
        #[arg(long)]
        kind: ChannelKind,
    },
}

fn parse_approval(text: &str) -> Result<ApprovalMode, String> {
    match text {
        "approval" => Ok(ApprovalMode::Approval),
        "autopilot" => Ok(ApprovalMode::Autopilot),
        "off" => Ok(ApprovalMode::Off),
        _ => Err("expected approval, autopilot or off".into()),
    }
}

#[derive(Subcommand)]
enum BenchAction {
    /// Durable appends/s for COUNT concurrent single-event commands, beside raw Ed25519 rates.
    Appends {
        #[arg(long, default_value_t = 10_000)]
        count: usize,
    },
    /// The latency of a conversation's LENGTH-th message beside its first (CUSTOMERS conversations).
    Conversation {
        #[arg(long, default_value_t = 1_000)]
        length: usize,
        #[arg(long, default_value_t = 20)]
        customers: usize,
    },
    /// Signed WhatsApp webhooks over loopback against an in-process `laras serve`, beside `/healthz`.
    Webhooks {
        /// Seconds each endpoint is driven.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        #[arg(long, default_value_t = 2_000)]
        customers: usize,
        /// Drive both endpoints with `wrk` (a separate process, two threads) instead of
        /// the in-process client (embedded store only).
        #[arg(long)]
        wrk: bool,
    },
    /// Raw Ed25519 sign, verify and batch-verify rates on this machine.
    Ed25519,
    /// RFC 9162 Merkle log: appends and proof times at LEAVES leaves.
    Merkle {
        #[arg(long, default_value_t = 1_000_000)]
        leaves: u64,
    },
    /// Read models at EVENTS events: rebuild, inbox and search latency, append-to-visible lag.
    ReadModels {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
    },
    /// Audit figures: Merkle catch-up, proof times, export, and `audit verify` beside raw batch verification.
    Audit {
        /// Fill the log to this many events first (the bench Partner's messages).
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// The embedded generator's draft latency with ARTICLES articles, beside bare BM25 search.
    Drafts {
        #[arg(long, default_value_t = 10_000)]
        articles: usize,
        #[arg(long, default_value_t = 1_000)]
        questions: usize,
    },
    /// Append without end, printing each acknowledged position (for the crash test).
    Burst {
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Check every signature, chain, key validity, tree head and consistency proof of a bundle.
    /// Exit 0 only when everything holds.
    Verify {
        dir: PathBuf,
        /// The Partner's published first signing key (hex); repeatable. Without it the
        /// bundle's own first key is the anchor, which proves integrity but not origin.
        #[arg(long = "trust-key")]
        trust_keys: Vec<String>,
        /// A tree head kept from earlier (GraphQL `treeHead` answer, or an earlier bundle's
        /// tree-heads.json); repeatable. The bundle must extend it, else
        /// `inconsistent_with_known_head` (a split view).
        #[arg(long = "known-head")]
        known_heads: Vec<PathBuf>,
        /// A witness's Ed25519 public key (hex) whose cosignatures count; repeatable.
        #[arg(long = "witness-key")]
        witness_keys: Vec<String>,
        /// How many of the --witness-key witnesses must have cosigned the covering head,
        /// else `not_witnessed` (default: 1 when a witness key is given, else 0).
        #[arg(long = "min-witnesses")]
        min_witnesses: Option<u64>,
        /// Machine-readable report.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum WitnessAction {
    /// Write a new witness key file (mode 0600) and print the public key to register.
    Init {
        #[arg(long)]
        key_file: PathBuf,
        /// The witness's name, a schema-less URL by convention (`witness.example.org/w1`).
        #[arg(long)]
        name: String,
    },
    /// Poll the Partner's latest tree head, check it extends the last one cosigned, cosign it.
    /// Exits 2 when it refuses a head (a fork), after logging it and keeping the head as evidence.
    Run {
        /// The server's GraphQL endpoint, e.g. https://laras.example/graphql.
        #[arg(long)]
        url: String,
        /// The Partner whose log is witnessed (the AUDITOR key must belong to it).
        #[arg(long)]
        partner: PartnerId,
        /// An AUDITOR API key of the Partner.
        #[arg(long, env = "LARAS_WITNESS_API_KEY", hide_env_values = true)]
        api_key: String,
        /// The ledger's public key (hex, from `laras keys`); repeatable, one per key in use.
        #[arg(long = "log-key", required = true)]
        log_keys: Vec<String>,
        #[arg(long)]
        key_file: PathBuf,
        /// The witness's own state: the last head it cosigned.
        #[arg(long)]
        state: PathBuf,
        /// Poll every this many seconds; without it, poll once and exit.
        #[arg(long)]
        every: Option<u64>,
    },
}

#[derive(Subcommand)]
enum ProjectionsAction {
    /// Empty every read model and the search index, and rebuild them from position 0.
    Rebuild,
}

#[derive(Subcommand)]
enum KeysAction {
    /// Generate a new signing key, record it in the log (signed by the current key) and make it active.
    Rotate,
}

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let mut overrides = Overrides {
        config: cli.config,
        data_dir: cli.data_dir,
        store_url: cli.store_url,
        master_key_file: cli.master_key_file,
        signing_key_dir: cli.signing_key_dir,
        ..Default::default()
    };
    if let Command::Serve(serve) = &cli.command {
        let ServeArgs {
            listen,
            admin_token,
            tree_head_every_events,
            tree_head_every_seconds,
            ai_confidence_threshold,
            ai_chat_url,
            ai_chat_model,
            ai_chat_key,
            meta_app_secret,
            meta_verify_token,
            meta_graph_url,
            meta_graph_version,
            threads_graph_url,
            ai_concurrency,
            ready_max_lag,
            node_id,
            lease_ttl_seconds,
            limits,
            outbox,
            ..
        } = serve.as_ref();
        overrides.lease_ttl_seconds = *lease_ttl_seconds;
        overrides.ai_concurrency = *ai_concurrency;
        overrides.ready_max_lag = *ready_max_lag;
        overrides.node_id = node_id.clone();
        overrides.limits = limits.clone();
        overrides.outbox = outbox.clone();
        overrides.admin_token = admin_token.clone();
        overrides.tree_head_every_events = *tree_head_every_events;
        overrides.tree_head_every_seconds = *tree_head_every_seconds;
        overrides.ai_confidence_threshold = *ai_confidence_threshold;
        overrides.ai_chat_url = ai_chat_url.clone();
        overrides.ai_chat_model = ai_chat_model.clone();
        overrides.ai_chat_key = ai_chat_key.clone();
        overrides.meta_graph_version = meta_graph_version.clone();
        overrides.listen = *listen;
        overrides.meta_app_secret = meta_app_secret.clone();
        overrides.meta_verify_token = meta_verify_token.clone();
        overrides.meta_graph_url = meta_graph_url.clone();
        overrides.threads_graph_url = threads_graph_url.clone();
    }
    if let Command::Channel { action: ChannelAction::Connect { meta_graph_url, threads_graph_url, .. } } = &cli.command
    {
        overrides.meta_graph_url = meta_graph_url.clone();
        overrides.threads_graph_url = threads_graph_url.clone();
    }
    let result = Settings::load(overrides).map_err(anyhow::Error::from).and_then(|settings| {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        runtime.block_on(async {
            match cli.command {
                Command::Serve(serve) => laras::cli::serve::run(settings, serve.demo).await,
                Command::Partner { action: PartnerAction::Create { name, approval } } => {
                    laras::cli::partner::create(&settings, &name, approval).await
                }
                Command::Channel { action: ChannelAction::Connect { partner, kind, account, name, .. } } => {
                    laras::cli::partner::connect(&settings, partner, kind, &account, &name).await
                }
                Command::Channel { action: ChannelAction::Disconnect { partner, kind } } => {
                    laras::cli::partner::disconnect(&settings, partner, kind).await
                }
                Command::Conversations { partner } => laras::cli::conversation::list(&settings, partner),
                Command::Reply { partner, conversation, user, text, comment } => {
                    laras::cli::conversation::reply(&settings, partner, conversation, user, &text, comment).await
                }
                Command::Keys { action: None } => laras::cli::keys::list(&settings).await,
                Command::Keys { action: Some(KeysAction::Rotate) } => laras::cli::keys::rotate(&settings).await,
                Command::Projections { action: ProjectionsAction::Rebuild } => {
                    laras::cli::projections::rebuild(&settings).await
                }
                Command::Export { partner, out } => laras::cli::audit::export(&settings, partner, &out),
                Command::Audit {
                    action: AuditAction::Verify { dir, trust_keys, known_heads, witness_keys, min_witnesses, json },
                } => {
                    let min = min_witnesses.unwrap_or(u64::from(!witness_keys.is_empty()));
                    laras::cli::audit::verify(&dir, &trust_keys, &known_heads, &witness_keys, min, json)
                }
                Command::Witness { action: WitnessAction::Init { key_file, name } } => {
                    laras::cli::witness::init(&key_file, &name)
                }
                Command::Witness {
                    action: WitnessAction::Run { url, partner, api_key, log_keys, key_file, state, every },
                } => {
                    let args =
                        laras::cli::witness::WitnessArgs { url, api_key, partner, log_keys, key_file, state, every };
                    laras::cli::witness::run(args).await
                }
                Command::Store { action: StoreAction::Copy { from, to } } => laras::cli::store::copy(&from, &to).await,
                Command::Backup { out } => laras::cli::backup::backup(&settings, &out),
                Command::Restore { file } => laras::cli::backup::restore(&file, &settings.data_dir),
                Command::Verify { json } => laras::cli::verify::run(&settings, json),
                Command::Bench { action: BenchAction::Appends { count } } => {
                    laras::cli::bench::appends(&settings, count).await
                }
                Command::Bench { action: BenchAction::ReadModels { events } } => {
                    laras::cli::bench_read::read_models(&settings.data_dir, events).await
                }
                Command::Bench { action: BenchAction::Audit { events, runs } } => {
                    laras::cli::bench_audit::audit(&settings.data_dir, events, runs).await
                }
                Command::Bench { action: BenchAction::Drafts { articles, questions } } => {
                    laras::cli::bench_drafts::drafts(articles, questions)
                }
                Command::Bench { action: BenchAction::Conversation { length, customers } } => {
                    laras::cli::bench_conversation::conversation(&settings.data_dir, length, customers).await
                }
                Command::Bench { action: BenchAction::Webhooks { seconds, connections, customers, wrk } } => {
                    laras::cli::bench_webhooks::webhooks(&settings, seconds, connections, customers, wrk).await
                }
                Command::Bench { action: BenchAction::Ed25519 } => laras::cli::bench::ed25519(),
                Command::Bench { action: BenchAction::Merkle { leaves } } => laras::cli::bench::merkle(leaves),
                Command::Bench { action: BenchAction::Burst { concurrency } } => {
                    laras::cli::bench::burst(&settings, concurrency).await
                }
            }
        })
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("laras: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr: coloured only on a terminal, one JSON object a line with
/// `LARAS_LOG_FORMAT=json` (for log shippers).
fn init_tracing() {
    use std::io::IsTerminal;
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("LARAS_LOG").unwrap_or_else(|_| "info,tantivy=warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("LARAS_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}
