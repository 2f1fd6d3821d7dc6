//! The GraphQL request fuzzer: random valid and near-valid operations built from the
//! schema's own SDL, sent over HTTP to a test server with and without keys. Every answer
//! is below 500 and JSON, every error carries `extensions.code`, and each request is
//! answered within a time bound and a bounded heap.
//!
//! CI runs a short seeded run (`cargo test -p laras-graphql --test fuzz_requests`);
//! `LARAS_FUZZ_GRAPHQL_OPS=5000 LARAS_FUZZ_SEED=7 scripts/fuzz graphql` a longer one.
//! Add `-- --nocapture` for the figures. A failing operation is printed with its seed
//! and number; keep it in `REGRESSIONS` once fixed.

mod common;
#[path = "common/heap.rs"]
mod heap;

use async_graphql::parser::types::{
    BaseType, FieldDefinition, InputValueDefinition, Type, TypeKind, TypeSystemDefinition,
};
use async_graphql::parser::Positioned;
use common::{world_with, World};
use laras_commands::access::{ApiKeys, Role};
use laras_graphql::http::{routes, GraphqlState};
use laras_graphql::Limits;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Longest a request may take before it counts as a hang (a 2-core machine shared with
/// builds: the bound is for hangs and blow-ups, not for speed).
const TIME_BOUND: Duration = Duration::from_secs(5);
/// Most heap one request may hold at once, client and server together.
const HEAP_BOUND: usize = 64 << 20;
const DEFAULT_OPS: usize = 300;
const DEFAULT_SEED: u64 = 17;

/// Operations a fuzz run once answered wrongly, replayed first on every run:
/// (who asks, the body sent).
const REGRESSIONS: &[(Who, &str)] = &[
    // Seed 17, operation 131: an argument that passes validation as a variable but does
    // not fit its field answered an error without `extensions.code`.
    (
        Who::Agent,
        r#"{"query":"query Fuzz($v1: Int!) { r1: inclusionProof(eventId: \"x\", treeSize: $v1) { leafIndex } }","variables":{"v1":-1}}"#,
    ),
];

#[derive(Clone, Copy, Debug)]
enum Who {
    Nobody,
    Owner,
    Agent,
    Auditor,
    /// Another Partner's owner, asking about the first Partner's ids.
    Stranger,
    /// A key that does not exist.
    Forged,
    /// The owner's key under a lowercase scheme, which must work.
    LowercaseScheme,
    /// Not a bearer scheme at all.
    Basic,
}

const EVERYONE: [Who; 8] =
    [Who::Nobody, Who::Owner, Who::Agent, Who::Auditor, Who::Stranger, Who::Forged, Who::LowercaseScheme, Who::Basic];

/// The schema as the generator sees it: its types by name and its roots.
struct Model {
    types: HashMap<String, TypeKind>,
    one_of: Vec<String>,
    roots: Vec<(&'static str, String)>,
}

impl Model {
    fn of(sdl: &str) -> Self {
        let document = async_graphql::parser::parse_schema(sdl).expect("the schema's SDL parses");
        let mut types = HashMap::new();
        let mut one_of = Vec::new();
        let mut roots = vec![
            ("query", "QueryRoot".to_owned()),
            ("mutation", "MutationRoot".to_owned()),
            ("subscription", "SubscriptionRoot".to_owned()),
        ];
        for definition in document.definitions {
            match definition {
                TypeSystemDefinition::Type(t) => {
                    let t = t.node;
                    if t.directives.iter().any(|d| d.node.name.node.as_str() == "oneOf") {
                        one_of.push(t.name.node.to_string());
                    }
                    types.insert(t.name.node.to_string(), t.kind);
                }
                TypeSystemDefinition::Schema(s) => {
                    let s = s.node;
                    for (kind, name) in [("query", s.query), ("mutation", s.mutation), ("subscription", s.subscription)]
                    {
                        if let Some(name) = name {
                            roots.retain(|(k, _)| *k != kind);
                            roots.push((kind, name.node.to_string()));
                        }
                    }
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        roots.retain(|(_, name)| types.contains_key(name));
        Self { types, one_of, roots }
    }

    fn fields(&self, name: &str) -> &[Positioned<FieldDefinition>] {
        match self.types.get(name) {
            Some(TypeKind::Object(o)) => &o.fields,
            Some(TypeKind::Interface(i)) => &i.fields,
            _ => &[],
        }
    }
}

fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(n) => n.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

/// A GraphQL input value, written as a literal or sent as a variable.
#[derive(Clone, Debug)]
enum Lit {
    Null,
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Enum(String),
    List(Vec<Lit>),
    Object(Vec<(String, Lit)>),
}

impl Lit {
    fn graphql(&self) -> String {
        match self {
            Self::Null => "null".into(),
            Self::Int(i) => i.to_string(),
            Self::Float(f) => format!("{f:?}"),
            Self::Str(s) => Value::String(s.clone()).to_string(),
            Self::Bool(b) => b.to_string(),
            Self::Enum(e) => e.clone(),
            Self::List(items) => format!("[{}]", items.iter().map(Lit::graphql).collect::<Vec<_>>().join(", ")),
            Self::Object(fields) => format!(
                "{{{}}}",
                fields.iter().map(|(k, v)| format!("{k}: {}", v.graphql())).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    fn json(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Int(i) => json!(i),
            Self::Float(f) => json!(f),
            Self::Str(s) | Self::Enum(s) => json!(s),
            Self::Bool(b) => json!(b),
            Self::List(items) => Value::Array(items.iter().map(Lit::json).collect()),
            Self::Object(fields) => Value::Object(fields.iter().map(|(k, v)| (k.clone(), v.json())).collect()),
        }
    }
}

/// Builds one operation at a time from the model.
struct Gen<'m> {
    model: &'m Model,
    rng: StdRng,
    ids: Vec<String>,
    /// Variables of the operation being built: name, declared type, value.
    vars: Vec<(String, String, Value)>,
    /// Near-valid at generation: drop required arguments, give values of the wrong kind.
    sloppy: bool,
}

const STRINGS: &[&str] = &[
    "",
    "batik",
    "Rp 450.000, kak.",
    "IDR",
    "idr",
    "USD",
    "+6281234567890",
    "2026-01-01T00:00:00Z",
    "a\u{0}b",
    "line\nbreak",
    "🙂 ok",
    "<script>",
    "' OR 1=1 --",
    "lrs_x_y",
];
const INTS: &[i64] = &[0, 1, -1, 2, 20, 100, 200, 201, 1_000, 2_147_483_647, -2_147_483_648, 1_767_225_600_000];
const MAX_DEPTH: usize = 5;

impl Gen<'_> {
    fn chance(&mut self, percent: u32) -> bool {
        self.rng.gen_range(0..100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.gen_range(0..items.len())]
    }

    fn string(&mut self) -> String {
        match self.rng.gen_range(0..10) {
            0..=3 => self.pick(&self.ids.clone()).clone(),
            4 => "x".repeat(self.rng.gen_range(100..3_000)),
            5 => (0..self.rng.gen_range(1..12)).map(|_| self.rng.gen_range(b' '..=b'~') as char).collect(),
            _ => (*self.pick(STRINGS)).to_owned(),
        }
    }

    fn wrong(&mut self) -> Lit {
        match self.rng.gen_range(0..5) {
            0 => Lit::Str("nope".into()),
            1 => Lit::Int(9_007_199_254_740_993),
            2 => Lit::Bool(true),
            3 => Lit::List(vec![Lit::Null]),
            _ => Lit::Object(vec![("nope".into(), Lit::Int(1))]),
        }
    }

    fn lit(&mut self, ty: &Type, depth: usize) -> Lit {
        let model = self.model;
        if self.sloppy && self.chance(8) {
            return self.wrong();
        }
        if ty.nullable && self.chance(10) {
            return Lit::Null;
        }
        match &ty.base {
            BaseType::List(inner) => {
                let n = if depth > 3 { 0 } else { self.rng.gen_range(0..4) };
                Lit::List((0..n).map(|_| self.lit(inner, depth + 1)).collect())
            }
            BaseType::Named(name) => match name.as_str() {
                "Int" => Lit::Int(if self.chance(20) { self.rng.gen_range(-50..500) } else { *self.pick(INTS) }),
                "Float" => Lit::Float(*self.pick(&[0.0, -1.5, 1e300, 45_000.5])),
                "Boolean" => Lit::Bool(self.chance(50)),
                "ID" | "String" => Lit::Str(self.string()),
                other => match model.types.get(other) {
                    Some(TypeKind::Enum(e)) if !e.values.is_empty() => {
                        let values: Vec<String> = e.values.iter().map(|v| v.node.value.node.to_string()).collect();
                        Lit::Enum(self.pick(&values).clone())
                    }
                    Some(TypeKind::InputObject(i)) if depth < 4 => {
                        let fields = i.fields.clone();
                        let one_of = model.one_of.iter().any(|o| o == other);
                        Lit::Object(self.inputs(&fields, one_of, depth + 1))
                    }
                    _ => Lit::Str(self.string()),
                },
            },
        }
    }

    fn inputs(
        &mut self,
        fields: &[Positioned<InputValueDefinition>],
        one_of: bool,
        depth: usize,
    ) -> Vec<(String, Lit)> {
        if one_of && !fields.is_empty() && !(self.sloppy && self.chance(30)) {
            let f = &self.pick(fields).node;
            return vec![(f.name.node.to_string(), self.lit(&f.ty.node, depth))];
        }
        let mut out = Vec::new();
        for f in fields {
            let f = &f.node;
            let required = !f.ty.node.nullable && f.default_value.is_none();
            let keep = if required { !(self.sloppy && self.chance(25)) } else { self.chance(40) };
            if keep {
                out.push((f.name.node.to_string(), self.lit(&f.ty.node, depth)));
            }
        }
        out
    }

    fn arguments(&mut self, field: &FieldDefinition) -> String {
        let mut out = Vec::new();
        for (name, lit) in self.inputs(&field.arguments, false, 0) {
            let ty = field.arguments.iter().find(|a| a.node.name.node.as_str() == name).map(|a| a.node.ty.node.clone());
            match ty {
                Some(ty) if self.chance(25) => {
                    let var = format!("v{}", self.vars.len());
                    self.vars.push((var.clone(), ty.to_string(), lit.json()));
                    out.push(format!("{name}: ${var}"));
                }
                _ => out.push(format!("{name}: {}", lit.graphql())),
            }
        }
        if self.sloppy && self.chance(10) {
            out.push("nope: 1".into());
        }
        if out.is_empty() {
            String::new()
        } else {
            format!("({})", out.join(", "))
        }
    }

    fn selection(&mut self, type_name: &str, depth: usize) -> String {
        if let Some(TypeKind::Union(u)) = self.model.types.get(type_name) {
            let members: Vec<String> = u.members.iter().map(|m| m.node.to_string()).collect();
            let mut out = String::from("__typename");
            for _ in 0..self.rng.gen_range(1..=2) {
                let m = self.pick(&members).clone();
                out.push_str(&format!(" ... on {m} {{ {} }}", self.selection(&m, depth + 1)));
            }
            return out;
        }
        let fields = self.model.fields(type_name).to_vec();
        let mut out = Vec::new();
        for _ in 0..self.rng.gen_range(1..=4) {
            if fields.is_empty() {
                break;
            }
            let f = self.pick(&fields).node.clone();
            let target = named(&f.ty.node).to_owned();
            let leaf = !matches!(
                self.model.types.get(&target),
                Some(TypeKind::Object(_) | TypeKind::Interface(_) | TypeKind::Union(_))
            );
            if !leaf && depth >= MAX_DEPTH {
                continue;
            }
            let alias = if self.chance(10) { format!("a{}: ", self.rng.gen_range(0..1_000)) } else { String::new() };
            let args = self.arguments(&f);
            let name = if self.sloppy && self.chance(5) { "nope".to_owned() } else { f.name.node.to_string() };
            if leaf {
                out.push(format!("{alias}{name}{args}"));
            } else {
                out.push(format!("{alias}{name}{args} {{ {} }}", self.selection(&target, depth + 1)));
            }
        }
        if out.is_empty() || self.chance(5) {
            out.push("__typename".into());
        }
        out.join(" ")
    }

    /// One operation's body: `{query, variables}` as JSON text.
    fn operation(&mut self) -> String {
        self.vars.clear();
        self.sloppy = self.chance(35);
        let weights = [("query", 60), ("mutation", 35), ("subscription", 5)];
        let roll = self.rng.gen_range(0..100);
        let mut acc = 0;
        let kind = weights.iter().find(|(_, w)| {
            acc += w;
            roll < acc
        });
        let kind = kind.map_or("query", |(k, _)| *k);
        let root = self.model.roots.iter().find(|(k, _)| *k == kind).map(|(_, r)| r.clone());
        let Some(root) = root else { return json!({"query": "{ __typename }"}).to_string() };
        let fields = self.model.fields(&root).to_vec();
        let mut selections = Vec::new();
        for i in 0..self.rng.gen_range(1..=2) {
            let f = self.pick(&fields).node.clone();
            let target = named(&f.ty.node).to_owned();
            let args = self.arguments(&f);
            let leaf = !matches!(
                self.model.types.get(&target),
                Some(TypeKind::Object(_) | TypeKind::Interface(_) | TypeKind::Union(_))
            );
            let sub = if leaf { String::new() } else { format!(" {{ {} }}", self.selection(&target, 1)) };
            selections.push(format!("r{i}: {}{args}{sub}", f.name.node));
        }
        let declared: Vec<String> = self.vars.iter().map(|(n, t, _)| format!("${n}: {t}")).collect();
        let header = if declared.is_empty() { String::new() } else { format!("({})", declared.join(", ")) };
        let mut query = format!("{kind} Fuzz{header} {{ {} }}", selections.join(" "));
        let mut variables: Value = Value::Object(self.vars.iter().map(|(n, _, v)| (n.clone(), v.clone())).collect());
        if self.sloppy {
            self.spoil(&mut query, &mut variables);
        }
        json!({"query": query, "variables": variables}).to_string()
    }

    /// Near-valid at the text: one small damage to an otherwise valid document.
    fn spoil(&mut self, query: &mut String, variables: &mut Value) {
        match self.rng.gen_range(0..9) {
            0 => {
                let cut = self.rng.gen_range(0..query.len().max(1));
                let cut = (0..=cut).rev().find(|&i| query.is_char_boundary(i)).unwrap_or(0);
                query.truncate(cut);
            }
            1 => {
                let at = self.rng.gen_range(0..query.len().max(1));
                let at = (0..=at).rev().find(|&i| query.is_char_boundary(i)).unwrap_or(0);
                let c = *self.pick(&['{', '}', '(', ')', '[', ']', ':', '$', '@', '!', '.', '"', '#', ',', '\u{0}']);
                query.insert(at, c);
            }
            2 => *query = format!("{query} {query}"),
            3 => *query = format!("{query} fragment F on QueryRoot {{ ...F }}"),
            4 => *query = query.replacen("Fuzz", "Fuzz @include(if: $nope)", 1),
            5 => *variables = json!({"v0": [1, 2], "v1": {"nope": null}, "v9": "x"}),
            6 => *variables = json!("not an object"),
            7 => *query = format!("{}{}", "{ a ".repeat(40), "}".repeat(40)),
            _ => *query = query.replacen("r0: ", "r0: __schema { types { name } } r0: ", 1),
        }
    }

    /// Near-valid at HTTP: what a careless or hostile client sends instead of a request.
    fn transport(&mut self) -> (String, &'static str) {
        let valid = json!({"query": "{ me { role } }"}).to_string();
        match self.rng.gen_range(0..7) {
            0 => (valid, "text/plain"),
            1 => ("{\"query\": ".into(), "application/json"),
            2 => (json!([{"query": "{ __typename }"}, {"query": "{ me { role } }"}]).to_string(), "application/json"),
            3 => (json!({"query": "query A { __typename }", "operationName": "B"}).to_string(), "application/json"),
            4 => (json!({"query": 5}).to_string(), "application/json"),
            5 => (format!("{{\"query\": \"{}\"}}", "x".repeat(300 * 1024)), "application/json"),
            _ => (valid, "multipart/form-data; boundary=x"),
        }
    }
}

struct Rig {
    world: World,
    addr: SocketAddr,
    owner: String,
    agent: String,
    auditor: String,
    stranger: String,
    ids: Vec<String>,
}

async fn rig() -> Rig {
    // Limits high enough that the fuzzer's own pace is not what answers; the time a
    // `minPosition` may wait kept short so a far position is not mistaken for a hang.
    let limits = Limits {
        per_key_per_second: 100_000,
        burst: 100_000,
        per_ip_per_second: 0,
        failed_auth_per_ip_per_minute: 0,
        max_wait_ms: 200,
        ..Limits::default()
    };
    let world = world_with(limits);
    let a = world.tenant(1).await;
    let b = world.tenant(2).await;
    world.sync().await;
    let secret = |partner, role| world.keys.create(partner, role, "fuzz").expect("key").1.expose().to_owned();
    let (owner, agent, auditor, stranger) = (
        secret(a.partner, Role::Owner),
        secret(a.partner, Role::Agent),
        secret(a.partner, Role::Auditor),
        secret(b.partner, Role::Owner),
    );
    let ids = vec![
        a.conversation.to_string(),
        a.contact.to_string(),
        a.draft.to_string(),
        a.opportunity.to_string(),
        a.article.to_string(),
        a.first_event.to_string(),
        a.partner.to_string(),
        b.conversation.to_string(),
        b.contact.to_string(),
        "00000000-0000-0000-0000-000000000000".into(),
        "not-a-uuid".into(),
    ];
    let state = GraphqlState::new(world.schema.clone(), world.api.clone(), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = routes(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Rig { world, addr, owner, agent, auditor, stranger, ids }
}

impl Rig {
    fn authorization(&self, who: Who) -> Option<String> {
        match who {
            Who::Nobody => None,
            Who::Owner => Some(format!("Bearer {}", self.owner)),
            Who::Agent => Some(format!("Bearer {}", self.agent)),
            Who::Auditor => Some(format!("Bearer {}", self.auditor)),
            Who::Stranger => Some(format!("Bearer {}", self.stranger)),
            Who::Forged => Some("Bearer lrs_forged_0000000000000000".into()),
            Who::LowercaseScheme => Some(format!("bearer {}", self.owner)),
            Who::Basic => Some("Basic Zm9vOmJhcg==".into()),
        }
    }
}

/// What one request came to.
struct Answer {
    status: u16,
    body: Value,
    took: Duration,
    heap: usize,
}

async fn send(
    client: &reqwest::Client,
    rig: &Rig,
    who: Who,
    body: String,
    content_type: &str,
) -> Result<Answer, String> {
    let peak = heap::PeakSince::start();
    let started = Instant::now();
    let mut request = client
        .post(format!("http://{}/graphql", rig.addr))
        .header("content-type", content_type)
        .timeout(TIME_BOUND)
        .body(body);
    if let Some(a) = rig.authorization(who) {
        request = request.header("authorization", a);
    }
    let response = request.send().await.map_err(|e| format!("no answer: {e:?}"))?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(|e| format!("no whole body: {e}"))?;
    let took = started.elapsed();
    let heap = peak.bytes();
    let body = serde_json::from_slice(&bytes).map_err(|_| {
        format!("status {status}, not JSON: {:?}", String::from_utf8_lossy(&bytes[..bytes.len().min(200)]))
    })?;
    Ok(Answer { status, body, took, heap })
}

/// The contract every answer keeps, whatever was asked.
fn check(answer: &Answer) -> Result<(), String> {
    if answer.status >= 500 {
        return Err(format!("status {}", answer.status));
    }
    if answer.took > TIME_BOUND {
        return Err(format!("took {:?}", answer.took));
    }
    if answer.heap > HEAP_BOUND {
        return Err(format!("held {} MiB of heap", answer.heap >> 20));
    }
    let errors = match answer.body.get("errors") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(errors)) => errors,
        Some(other) => return Err(format!("errors is not a list: {other}")),
    };
    for e in errors {
        match e["extensions"]["code"].as_str() {
            None => return Err(format!("an error without extensions.code: {e}")),
            // A server fault, whatever the status says.
            Some("INTERNAL") => return Err(format!("an internal error: {e}")),
            Some(_) => {}
        }
        let message = e["message"].as_str().unwrap_or_default();
        if message.len() > 2_000 {
            return Err(format!("an error message of {} bytes", message.len()));
        }
    }
    Ok(())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn truncated(s: &str) -> String {
    let end = (0..=s.len().min(600)).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
    s[..end].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_valid_and_near_valid_operations_keep_the_contract() {
    let ops: usize = std::env::var("LARAS_FUZZ_GRAPHQL_OPS").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_OPS);
    let seed: u64 = std::env::var("LARAS_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_SEED);
    let rig = rig().await;
    let model = Model::of(&rig.world.schema.sdl());
    assert!(model.roots.len() == 3, "the schema has query, mutation and subscription roots");
    let mut gen =
        Gen { model: &model, rng: StdRng::seed_from_u64(seed), ids: rig.ids.clone(), vars: vec![], sloppy: false };
    let client = reqwest::Client::builder().build().expect("client");

    for (who, body) in REGRESSIONS {
        let answer = send(&client, &rig, *who, (*body).to_owned(), "application/json").await;
        if let Err(e) = answer.and_then(|a| check(&a)) {
            panic!("regression as {who:?}: {e}\nbody: {}", truncated(body));
        }
    }

    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    let (mut clean, mut times, mut reference) = (0, Vec::new(), Vec::new());
    let mut worst_heap = 0;
    for n in 0..ops {
        // The reference: the cheapest request with a key, measured beside the others.
        if n % 20 == 0 {
            let r = send(&client, &rig, Who::Owner, json!({"query": "{ __typename }"}).to_string(), "application/json")
                .await
                .expect("the reference request");
            reference.push(r.took);
        }
        let who = *gen.pick(&EVERYONE);
        let (body, content_type) = if gen.chance(5) { gen.transport() } else { (gen.operation(), "application/json") };
        let answer = send(&client, &rig, who, body.clone(), content_type).await;
        let answer = match answer.and_then(|a| check(&a).map(|()| a)) {
            Ok(a) => a,
            Err(e) => {
                panic!("operation {n} of seed {seed} as {who:?} ({content_type}): {e}\nbody: {}", truncated(&body))
            }
        };
        *statuses.entry(answer.status).or_default() += 1;
        match answer.body["errors"].as_array().and_then(|e| e.first()) {
            Some(e) => *codes.entry(e["extensions"]["code"].as_str().unwrap_or_default().to_owned()).or_default() += 1,
            None => clean += 1,
        }
        times.push(answer.took);
        worst_heap = worst_heap.max(answer.heap);
    }

    let (m, r) = (median(times.clone()), median(reference));
    let slowest = times.iter().max().copied().unwrap_or_default();
    println!(
        "graphql fuzz: {ops} operations (seed {seed}): {clean} answered without errors; statuses {statuses:?}; \
         first error codes {codes:?}; median {m:?} ({:.1}x the `{{ __typename }}` reference of {r:?}), \
         slowest {slowest:?}; most heap held by one request {} KiB",
        m.as_secs_f64() / r.as_secs_f64().max(1e-9),
        worst_heap >> 10
    );
    // Not a fuzzer that only ever hears refusals: valid operations run, near-valid ones
    // are told apart.
    if ops >= 100 {
        assert!(clean * 20 >= ops, "fewer than 1 in 20 operations ran cleanly: {clean} of {ops}");
        assert!(codes.contains_key("GRAPHQL_VALIDATION_FAILED"), "no near-valid operation failed validation");
        assert!(codes.contains_key("UNAUTHENTICATED"), "no request without a key was refused");
    }
}
