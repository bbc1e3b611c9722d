//! Configuration: the TOML file, provider presets, ad-hoc `PRESET:MODEL_ID` models, and API keys
//! from the environment.
//!
//! Keys are only ever read from environment variables named in the config (or by a preset), and
//! are held in [`ApiKey`], whose `Debug` never prints them.

use crate::evaluator_spec::EvaluatorSpec;
use crate::pricing::{Price, PriceTable};
use crate::provider::WireFormat;
use crate::provider::tools::Tools;
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A provider preset: wire format, default endpoint and key variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preset {
    pub name: &'static str,
    pub format: WireFormat,
    pub base_url: &'static str,
    pub key_env: Option<&'static str>,
    /// Local servers work without a key; a key variable, when set, is still sent.
    pub key_required: bool,
    /// Local inference costs nothing per token (Ollama, LM Studio).
    pub free: bool,
}

const fn preset(
    name: &'static str,
    format: WireFormat,
    base_url: &'static str,
    key_env: Option<&'static str>,
    key_required: bool,
    free: bool,
) -> Preset {
    Preset { name, format, base_url, key_env, key_required, free }
}

pub const PRESETS: &[Preset] = &[
    preset("openai", WireFormat::OpenAi, "https://api.openai.com/v1", Some("OPENAI_API_KEY"), true, false),
    preset(
        "openai-responses",
        WireFormat::OpenAiResponses,
        "https://api.openai.com/v1",
        Some("OPENAI_API_KEY"),
        true,
        false,
    ),
    preset("anthropic", WireFormat::Anthropic, "https://api.anthropic.com", Some("ANTHROPIC_API_KEY"), true, false),
    preset(
        "gemini",
        WireFormat::Gemini,
        "https://generativelanguage.googleapis.com/v1beta",
        Some("GEMINI_API_KEY"),
        true,
        false,
    ),
    preset("ollama", WireFormat::Ollama, "http://localhost:11434", Some("OLLAMA_API_KEY"), false, true),
    preset("openrouter", WireFormat::OpenAi, "https://openrouter.ai/api/v1", Some("OPENROUTER_API_KEY"), true, false),
    preset("groq", WireFormat::OpenAi, "https://api.groq.com/openai/v1", Some("GROQ_API_KEY"), true, false),
    preset("together", WireFormat::OpenAi, "https://api.together.xyz/v1", Some("TOGETHER_API_KEY"), true, false),
    preset("deepseek", WireFormat::OpenAi, "https://api.deepseek.com/v1", Some("DEEPSEEK_API_KEY"), true, false),
    preset("mistral", WireFormat::OpenAi, "https://api.mistral.ai/v1", Some("MISTRAL_API_KEY"), true, false),
    preset("vllm", WireFormat::OpenAi, "http://localhost:8000/v1", Some("VLLM_API_KEY"), false, false),
    preset("lmstudio", WireFormat::OpenAi, "http://localhost:1234/v1", None, false, true),
    preset("litellm", WireFormat::OpenAi, "http://localhost:4000/v1", Some("LITELLM_API_KEY"), false, false),
];

pub fn find_preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

fn preset_names() -> String {
    PRESETS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
}

/// Per-request time limits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timeouts {
    /// TCP + TLS connect.
    pub connect: Duration,
    /// From sending the request to the first token (reasoning or text).
    pub first_token: Duration,
    /// Longest silence (no bytes) once tokens flow.
    pub idle: Duration,
    /// Whole request.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            first_token: Duration::from_secs(180),
            idle: Duration::from_secs(60),
            total: Duration::from_secs(900),
        }
    }
}

/// An API key read from the environment. Never printed: `Debug` shows only whether it is set.
#[derive(Clone, PartialEq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// Where a model's key comes from.
#[derive(Clone, Debug, PartialEq)]
pub struct KeySource {
    pub env: Option<String>,
    pub required: bool,
}

/// A model ready to be asked: everything resolved but the key's value.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// Label shown in panes and reports (unique).
    pub name: String,
    /// Preset name (`openai`, `groq`, …) or a bare wire format.
    pub provider: String,
    pub format: WireFormat,
    /// The provider's model id.
    pub model: String,
    pub base_url: String,
    pub key: KeySource,
    /// `None` when unknown — costs are then unknown, never 0.
    pub price: Option<Price>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub extra: serde_json::Map<String, serde_json::Value>,
    pub headers: Vec<(String, String)>,
    pub timeouts: Timeouts,
    /// Largest stream event read, bytes ([`crate::provider::MAX_EVENT_BYTES`] by default).
    pub max_event_bytes: usize,
    /// Tools offered with every request (`tools_file`); a case's or `--tools` replace them.
    pub tools: Tools,
    /// `cache = true`: mark prompt-cache breakpoints (Anthropic's `cache_control`).
    pub prompt_cache: bool,
    /// Structured output asked for with every request (a case's own replaces it).
    pub schema: Option<crate::provider::output::OutputSchema>,
}

impl ModelSpec {
    /// A model with everything optional at its default: no key, unknown price, no limits or
    /// extras, default timeouts. Callers set what they know.
    pub fn new(name: &str, provider: &str, format: WireFormat, model: &str, base_url: &str) -> ModelSpec {
        ModelSpec {
            name: name.to_string(),
            provider: provider.to_string(),
            format,
            model: model.to_string(),
            base_url: base_url.to_string(),
            key: KeySource { env: None, required: false },
            price: None,
            max_tokens: None,
            temperature: None,
            extra: serde_json::Map::new(),
            headers: Vec::new(),
            timeouts: Timeouts::default(),
            max_event_bytes: crate::provider::MAX_EVENT_BYTES,
            tools: Tools::default(),
            prompt_cache: false,
            schema: None,
        }
    }

    /// Reads the key from the environment. `Ok(None)` when no key is needed or set;
    /// `Err` names the variable to set.
    pub fn api_key(&self) -> Result<Option<ApiKey>, String> {
        let Some(var) = &self.key.env else { return Ok(None) };
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => {
                // From here on, this value is replaced by `[redacted]` wherever it shows up.
                crate::redact::register(&v);
                Ok(Some(ApiKey(v.trim().to_string())))
            }
            _ if self.key.required => Err(format!("API key missing: set the environment variable {var}")),
            _ => Ok(None),
        }
    }

    /// A hash of everything that decides what this model is asked and how (provider, model id,
    /// URL unless `with_url` is false, key variable, price, limits, extras, header names,
    /// timeouts) — never a key's or a header's value. Equal fingerprints: the same model setup.
    pub fn fingerprint(&self, with_url: bool) -> String {
        let t = self.timeouts;
        let headers: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        let timeouts = [t.connect, t.first_token, t.idle, t.total].map(|d| d.as_secs_f64());
        let mut v = serde_json::json!([
            self.provider,
            self.format.as_str(),
            self.model,
            if with_url { self.base_url.as_str() } else { "" },
            self.key.env,
            self.price,
            self.max_tokens,
            self.temperature,
            self.extra,
            headers,
            timeouts,
        ]);
        // Only when set, so plans journaled before tools (and cache) existed still match.
        if let serde_json::Value::Array(a) = &mut v {
            if !self.tools.is_empty() {
                a.push(serde_json::json!(self.tools));
            }
            if self.prompt_cache {
                a.push(serde_json::json!({"cache": true}));
            }
            if let Some(s) = &self.schema {
                a.push(serde_json::json!({"schema": s.schema, "name": s.name, "strict": s.strict}));
            }
        }
        crate::files::content_hash(v.to_string().as_bytes())
    }

    /// Who made the model ([`family`]): a judge's own family is where self-preference shows.
    pub fn family(&self) -> String {
        family(&self.provider, &self.model)
    }

    /// `yes`, `no (set VAR)` or `not needed` — for `bakeoff models`; never the key.
    pub fn key_status(&self) -> String {
        match (&self.key.env, self.api_key()) {
            (None, _) => "not needed".into(),
            (Some(_), Ok(Some(_))) => "present".into(),
            (Some(var), Ok(None)) => format!("optional ({var} unset)"),
            (Some(var), Err(_)) => format!("MISSING (set {var})"),
        }
    }
}

/// The maker of a model (`openai`, `anthropic`, `google`, `meta`, `mistral`, …), from its id —
/// a router's vendor prefix (`anthropic/claude-sonnet-4-6`, `meta-llama/Llama-3.3-70B`) or the
/// name's own family (`gpt-`, `claude`, `gemini`, `llama`…) — else from the provider it is served
/// by (`demo-openai` is the demo's OpenAI-format model: `openai`). Judges favour their own
/// family's answers; reports compare a judge's scores of its family with everyone else's.
pub fn family(provider: &str, model_id: &str) -> String {
    const VENDORS: &[(&str, &str)] = &[
        ("openai", "openai"),
        ("anthropic", "anthropic"),
        ("google", "google"),
        ("meta-llama", "meta"),
        ("meta", "meta"),
        ("mistralai", "mistral"),
        ("mistral", "mistral"),
        ("deepseek-ai", "deepseek"),
        ("deepseek", "deepseek"),
        ("qwen", "alibaba"),
        ("x-ai", "xai"),
        ("xai", "xai"),
        ("cohere", "cohere"),
        ("microsoft", "microsoft"),
        ("amazon", "amazon"),
        ("moonshotai", "moonshot"),
    ];
    const NAMES: &[(&str, &str)] = &[
        ("claude", "anthropic"),
        ("gpt", "openai"),
        ("chatgpt", "openai"),
        ("text-embedding", "openai"),
        ("gemini", "google"),
        ("gemma", "google"),
        ("llama", "meta"),
        ("mistral", "mistral"),
        ("mixtral", "mistral"),
        ("magistral", "mistral"),
        ("codestral", "mistral"),
        ("ministral", "mistral"),
        ("pixtral", "mistral"),
        ("devstral", "mistral"),
        ("deepseek", "deepseek"),
        ("qwen", "alibaba"),
        ("qwq", "alibaba"),
        ("grok", "xai"),
        ("command", "cohere"),
        ("phi-", "microsoft"),
        ("nova-", "amazon"),
        ("kimi", "moonshot"),
    ];
    let id = model_id.trim().to_ascii_lowercase();
    // The mock's scripts (`swift-mini;ttft=180`) name no maker: only the part before `;`.
    let id = id.split(';').next().unwrap_or_default();
    if let Some((vendor, _)) = id.split_once('/')
        && let Some((_, f)) = VENDORS.iter().find(|(v, _)| *v == vendor)
    {
        return f.to_string();
    }
    let name = id.rsplit('/').next().unwrap_or(id);
    if let Some((_, f)) = NAMES.iter().find(|(n, _)| name.contains(n)) {
        return f.to_string();
    }
    // OpenAI's reasoning models: o1, o3-mini, o4-mini…
    let mut chars = name.chars();
    if chars.next() == Some('o') && chars.next().is_some_and(|c| c.is_ascii_digit()) {
        return "openai".into();
    }
    match provider.strip_prefix("demo-").unwrap_or(provider) {
        "openai" | "openai-responses" => "openai",
        "gemini" => "google",
        other => other,
    }
    .to_string()
}

/// The `[[models]]` entry as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelEntry {
    name: String,
    provider: String,
    model: Option<String>,
    /// `chat` (Chat Completions) or `responses` (the Responses API) for OpenAI-compatible presets.
    api: Option<String>,
    base_url: Option<String>,
    api_key_env: Option<String>,
    input_per_mtok: Option<f64>,
    output_per_mtok: Option<f64>,
    cached_input_per_mtok: Option<f64>,
    cache_write_per_mtok: Option<f64>,
    max_tokens: Option<u32>,
    temperature: Option<f64>,
    #[serde(default)]
    extra: toml::Table,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Largest stream event (SSE event, NDJSON line) read, MiB (1..=1024; default 16).
    max_event_mib: Option<u32>,
    /// A JSON file of tools offered with every request (relative to the config file).
    tools_file: Option<PathBuf>,
    /// Mark prompt-cache breakpoints (Anthropic `cache_control`).
    #[serde(default)]
    cache: bool,
    /// Structured output for every request: a JSON Schema (inline table, or a JSON file's path
    /// relative to the config file); a case's own `schema` replaces it.
    schema: Option<toml::Value>,
    schema_name: Option<String>,
    /// OpenAI's `strict` (default true).
    schema_strict: Option<bool>,
    connect_timeout_s: Option<f64>,
    first_token_timeout_s: Option<f64>,
    idle_timeout_s: Option<f64>,
    total_timeout_s: Option<f64>,
}

/// The figures alert rules and trends can name (`bakeoff trend --metric`); each is a report's
/// per-model figure.
pub const ALERT_METRICS: &[&str] = &[
    "ttft_p50",
    "ttft_p95",
    "latency_p50",
    "latency_p95",
    "tok_s",
    "acceptance",
    "quality",
    "cost_per_accept",
    "error_rate",
];

/// An `[[alerts]]` rule: checked on the latest run of a case set after every `bakeoff run` and
/// by `bakeoff history check`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum AlertRule {
    /// Another model is significantly better than `primary` on `by`.
    Best {
        primary: String,
        #[serde(default = "default_best_by")]
        by: String,
        /// Only runs of this case file (path, file name or content hash).
        #[serde(default)]
        cases: Option<String>,
    },
    /// `model`'s `metric` is worse than the median of its last `baseline_runs` runs by more than
    /// `threshold`, and the change is significant.
    Regression {
        model: String,
        metric: String,
        /// `"20%"` (relative to the baseline) or a number in the metric's own unit.
        threshold: Threshold,
        #[serde(default = "default_baseline_runs")]
        baseline_runs: u32,
        #[serde(default)]
        cases: Option<String>,
    },
    /// `metric` crosses `max` (or falls below `min`), in the metric's own unit; every model,
    /// or only `model`.
    Slo {
        #[serde(default)]
        model: Option<String>,
        metric: String,
        #[serde(default)]
        max: Option<f64>,
        #[serde(default)]
        min: Option<f64>,
        #[serde(default)]
        cases: Option<String>,
    },
}

fn default_best_by() -> String {
    "cost_per_accept".into()
}

fn default_baseline_runs() -> u32 {
    4
}

/// A regression threshold: relative (`"20%"`) or absolute (a number in the metric's unit).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Threshold {
    /// A share of the baseline (0.2 for `"20%"`).
    Relative(f64),
    Absolute(f64),
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Threshold, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        let bad =
            || serde::de::Error::custom("threshold is a percentage like \"20%\" or a number in the metric's unit");
        match Raw::deserialize(d)? {
            Raw::Number(n) if n.is_finite() && n >= 0.0 => Ok(Threshold::Absolute(n)),
            Raw::Text(t) => {
                let pct: f64 = t.trim().strip_suffix('%').ok_or_else(bad)?.trim().parse().map_err(|_| bad())?;
                if pct.is_finite() && pct >= 0.0 { Ok(Threshold::Relative(pct / 100.0)) } else { Err(bad()) }
            }
            _ => Err(bad()),
        }
    }
}

impl AlertRule {
    pub fn metric(&self) -> &str {
        match self {
            AlertRule::Best { by, .. } => by,
            AlertRule::Regression { metric, .. } | AlertRule::Slo { metric, .. } => metric,
        }
    }

    pub fn cases(&self) -> Option<&str> {
        match self {
            AlertRule::Best { cases, .. } | AlertRule::Regression { cases, .. } | AlertRule::Slo { cases, .. } => {
                cases.as_deref()
            }
        }
    }

    fn validate(&self) -> Result<(), String> {
        if !ALERT_METRICS.contains(&self.metric()) {
            return Err(format!("unknown metric {:?}; one of {}", self.metric(), ALERT_METRICS.join(", ")));
        }
        match self {
            AlertRule::Regression { baseline_runs, .. } if !(1..=100).contains(baseline_runs) => {
                Err("baseline_runs is 1..=100".into())
            }
            AlertRule::Slo { max: None, min: None, .. } => Err("an slo rule needs max or min".into()),
            AlertRule::Slo { max, min, .. }
                if max.is_some_and(|v| !v.is_finite()) || min.is_some_and(|v| !v.is_finite()) =>
            {
                Err("max and min are numbers".into())
            }
            _ => Ok(()),
        }
    }
}

/// Where alerts are delivered: a URL read from an environment variable (never written in the
/// config, never printed).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub url_env: String,
    #[serde(default)]
    pub format: WebhookFormat,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// `{"alerts": [...]}`, one object per alert.
    #[default]
    Json,
    /// Slack's incoming-webhook body, `{"text": "..."}`.
    Slack,
}

/// Session defaults in `[defaults]`.
#[derive(Debug, Default, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub system: Option<String>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    /// Tools for every model without its own `tools_file` (relative to the config file).
    pub tools_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    /// Record runs in the results history (`<data dir>/history.sqlite`); default true.
    history: Option<bool>,
    /// A shared PostgreSQL history (`postgres://user@host/db`, never with a password).
    history_url: Option<String>,
    /// The embedding model of `similarity` evaluators: a `[[models]]` name or `PRESET:MODEL_ID`.
    embedder: Option<toml::Spanned<String>>,
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    models: Vec<toml::Spanned<ModelEntry>>,
    #[serde(default)]
    evaluators: Vec<toml::Spanned<EvaluatorSpec>>,
    #[serde(default)]
    alerts: Vec<toml::Spanned<AlertRule>>,
    #[serde(default)]
    webhooks: Vec<toml::Spanned<Webhook>>,
}

/// A loaded configuration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    /// The file it came from, if any.
    pub path: Option<PathBuf>,
    pub defaults: Defaults,
    pub models: Vec<ModelSpec>,
    /// Session-level `[[evaluators]]`, validated (regexes, schemas, judge models) at load.
    /// Compile them with `eval::compile_all` against the config file's directory.
    pub evaluators: Vec<EvaluatorSpec>,
    /// `--tools FILE`: offered to every model, replacing their `tools_file`.
    pub tools: Option<Tools>,
    /// `--schema FILE`: structured output asked of every model, replacing their `schema`.
    pub schema: Option<crate::provider::output::OutputSchema>,
    /// `history = false`: runs are not recorded in the results history.
    pub no_history: bool,
    /// `history_url`: the history is on this PostgreSQL server (checked at load: no password).
    pub history_url: Option<String>,
    /// `[[alerts]]`, checked after each run and by `bakeoff history check`.
    pub alerts: Vec<AlertRule>,
    /// `[[webhooks]]` alerts are delivered to.
    pub webhooks: Vec<Webhook>,
    /// `embedder`: the embedding model `similarity` evaluators use.
    pub embedder: Option<ModelSpec>,
    /// Judges the evaluators name that are not `[[models]]`, each with the error that says so:
    /// an error unless the run is the demo's and they are demo models (see
    /// [`Config::check_judges`]).
    pub unconfigured_judges: Vec<(String, String)>,
}

impl Config {
    /// Every judge the evaluators name is configured, or (`is_extra`) one of the run's own
    /// models — the demo's, under `--demo`; else the first unknown one's error.
    pub fn check_judges(&self, is_extra: impl Fn(&str) -> bool) -> Result<()> {
        match self.unconfigured_judges.iter().find(|(name, _)| !is_extra(name)) {
            Some((_, error)) => bail!("{error}"),
            None => Ok(()),
        }
    }

    /// Gives every model the `--tools` set and the `--schema`, when given.
    pub fn apply_overrides(&self, specs: &mut [ModelSpec]) {
        if let Some(t) = &self.tools {
            specs.iter_mut().for_each(|s| s.tools = t.clone());
        }
        if let Some(schema) = &self.schema {
            specs.iter_mut().for_each(|s| s.schema = Some(schema.clone()));
        }
    }
}

/// Where the config file is looked for: `--config`, then `$BAKEOFF_CONFIG`, then
/// `bakeoff.toml` in the platform config dir. Returns the path and whether it was asked for
/// explicitly (an explicit path that does not exist is an error; the default one is optional).
pub fn config_path(explicit: Option<&Path>) -> Option<(PathBuf, bool)> {
    if let Some(p) = explicit {
        return Some((p.to_path_buf(), true));
    }
    if let Some(p) = std::env::var_os("BAKEOFF_CONFIG").filter(|p| !p.is_empty()) {
        return Some((PathBuf::from(p), true));
    }
    default_config_dir().map(|d| (d.join("bakeoff.toml"), false))
}

pub fn default_config_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "bakeoff").map(|d| d.config_dir().to_path_buf())
}

/// Loads the config (see [`config_path`]). No file at the default location is not an error: the
/// result then has no models.
pub fn load(explicit: Option<&Path>, prices: &PriceTable) -> Result<Config> {
    let Some((path, explicit)) = config_path(explicit) else { return Ok(Config::default()) };
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text, &path, prices),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(Config::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read config file {}", path.display())),
    }
}

/// `file:line:column` for a byte offset.
fn position(text: &str, path: &Path, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    format!("{}:{line}:{col}", path.display())
}

pub fn parse(text: &str, path: &Path, prices: &PriceTable) -> Result<Config> {
    let file: ConfigFile = toml::from_str(text).map_err(|e| {
        let at = e.span().map(|s| position(text, path, s.start)).unwrap_or_else(|| path.display().to_string());
        anyhow::anyhow!("{at}: {}", e.message())
    })?;
    let mut models = Vec::new();
    for entry in file.models {
        let at = position(text, path, entry.span().start);
        let spec = resolve_entry(entry.into_inner(), &file.defaults, prices, base_dir(path))
            .with_context(|| format!("{at}: in [[models]]"))?;
        if models.iter().any(|m: &ModelSpec| m.name == spec.name) {
            bail!("{at}: model name {:?} is used twice; names must be unique", spec.name);
        }
        models.push(spec);
    }
    let base_dir = base_dir(path);
    let mut evaluators = Vec::new();
    let mut unconfigured_judges = Vec::new();
    for entry in file.evaluators {
        let at = position(text, path, entry.span().start);
        let spec = entry.into_inner();
        for judge in spec.judge_models().into_iter().filter(|j| !models.iter().any(|m| m.name == *j)) {
            let known: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
            unconfigured_judges.push((
                judge.to_string(),
                format!(
                    "{at}: in [[evaluators]]: judge model {judge:?} is not configured; configured: {}",
                    known.join(", ")
                ),
            ));
        }
        spec.compile(base_dir).map_err(|e| anyhow::anyhow!("{at}: in [[evaluators]]: {e}"))?;
        // Results are keyed by name in the journal, so two evaluators cannot share one.
        if evaluators.iter().any(|e: &EvaluatorSpec| e.name() == spec.name()) {
            bail!("{at}: evaluator name {:?} is used twice; set `name` to tell them apart", spec.name());
        }
        evaluators.push(spec);
    }
    let mut alerts = Vec::new();
    for entry in file.alerts {
        let at = position(text, path, entry.span().start);
        let rule = entry.into_inner();
        rule.validate().map_err(|e| anyhow::anyhow!("{at}: in [[alerts]]: {e}"))?;
        alerts.push(rule);
    }
    let mut webhooks = Vec::new();
    for entry in file.webhooks {
        let at = position(text, path, entry.span().start);
        let hook = entry.into_inner();
        if hook.url_env.trim().is_empty() {
            bail!("{at}: in [[webhooks]]: url_env names the environment variable that holds the URL");
        }
        webhooks.push(hook);
    }
    let embedder = match file.embedder {
        None => None,
        Some(e) => {
            let at = position(text, path, e.span().start);
            Some(resolve_embedder(e.get_ref(), &models, prices).with_context(|| format!("{at}: embedder"))?)
        }
    };
    let history_url = file
        .history_url
        .map(|u| check_history_url(&u).map(|()| u))
        .transpose()
        .with_context(|| path.display().to_string())?;
    Ok(Config {
        path: Some(path.to_path_buf()),
        defaults: file.defaults,
        models,
        evaluators,
        tools: None,
        schema: None,
        no_history: file.history == Some(false),
        history_url,
        alerts,
        webhooks,
        embedder,
        unconfigured_judges,
    })
}

/// `embedder = "…"`: a configured model (its URL, key, price, headers and `extra` such as
/// `dimensions`), else `PRESET:MODEL_ID`; an API without embeddings is refused.
fn resolve_embedder(name: &str, models: &[ModelSpec], prices: &PriceTable) -> Result<ModelSpec> {
    let name = name.trim();
    let spec = match models.iter().find(|m| m.name == name) {
        Some(m) => m.clone(),
        None if name.contains(':') => adhoc(name, prices)?,
        None => {
            bail!("{name:?} is neither a configured model nor PRESET:MODEL_ID (e.g. openai:text-embedding-3-small)")
        }
    };
    if spec.format == WireFormat::Anthropic {
        bail!("{name:?}: Anthropic has no embeddings API; use an OpenAI-compatible, Gemini or Ollama model");
    }
    Ok(spec)
}

/// `history_url`: a PostgreSQL URL without a password (a config file is readable by others; the
/// password goes in `PGPASSWORD` or the whole URL in `$BAKEOFF_HISTORY_URL`). The URL itself is
/// never repeated in an error, in case it holds one.
fn check_history_url(text: &str) -> Result<()> {
    let url = url::Url::parse(text.trim()).map_err(|e| anyhow::anyhow!("history_url does not read as a URL: {e}"))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        bail!("history_url must be a postgres:// URL (the file history needs no setting)");
    }
    if url.password().is_some() || url.query_pairs().any(|(k, _)| k == "password") {
        bail!(
            "history_url holds a password, and a config file is readable by others: put the password in \
             PGPASSWORD, or the whole URL in $BAKEOFF_HISTORY_URL"
        );
    }
    Ok(())
}

/// The directory relative paths in the file at `path` start from.
fn base_dir(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// The longest timeout a config may set: a day. Far beyond any real request, and far from the
/// values (1e19, 1e300) that overflow a deadline.
pub const MAX_TIMEOUT_S: f64 = 86_400.0;

fn secs(v: Option<f64>, default: Duration, key: &str) -> Result<Duration> {
    match v {
        None => Ok(default),
        Some(s) if s.is_finite() && s > 0.0 && s <= MAX_TIMEOUT_S => Ok(Duration::from_secs_f64(s)),
        Some(s) => bail!("{key} = {s}: must be a number of seconds above 0 and at most {MAX_TIMEOUT_S} (a day)"),
    }
}

fn resolve_entry(e: ModelEntry, defaults: &Defaults, prices: &PriceTable, base_dir: &Path) -> Result<ModelSpec> {
    if e.name.trim().is_empty() {
        bail!("name is empty");
    }
    let (format, preset) = match find_preset(&e.provider) {
        Some(p) => (p.format, Some(p)),
        None => bail!("provider {:?} is not known; use one of: {}", e.provider, preset_names()),
    };
    let openai_like = matches!(format, WireFormat::OpenAi | WireFormat::OpenAiResponses);
    let format = match e.api.as_deref() {
        None => format,
        Some("chat") if openai_like => WireFormat::OpenAi,
        Some("responses") if openai_like => WireFormat::OpenAiResponses,
        Some(api @ ("chat" | "responses")) => {
            bail!("api = {api:?} applies to OpenAI-compatible providers; {:?} speaks its own API", e.provider)
        }
        Some(api) => bail!("api = {api:?}: use \"chat\" (Chat Completions) or \"responses\" (the Responses API)"),
    };
    let model = e.model.unwrap_or_else(|| e.name.clone());
    let base_url = e.base_url.or_else(|| preset.map(|p| p.base_url.to_string())).unwrap_or_default();
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        bail!("base_url {base_url:?} must start with http:// or https://");
    }
    let key = match (e.api_key_env, preset) {
        (Some(var), _) if var.is_empty() => KeySource { env: None, required: false },
        (Some(var), _) => KeySource { env: Some(var), required: true },
        (None, Some(p)) => KeySource { env: p.key_env.map(String::from), required: p.key_required },
        (None, None) => KeySource { env: None, required: false },
    };
    let price = match (e.input_per_mtok, e.output_per_mtok) {
        (Some(input), Some(output)) => {
            let all = [Some(input), Some(output), e.cached_input_per_mtok, e.cache_write_per_mtok];
            if all.into_iter().flatten().any(|p| !(p.is_finite() && p >= 0.0)) {
                bail!("prices must be finite numbers of dollars, not negative");
            }
            Some(Price { input, output, cached_input: e.cached_input_per_mtok, cache_write: e.cache_write_per_mtok })
        }
        (None, None) => default_price(preset, &e.provider, &model, prices),
        _ => bail!("set both input_per_mtok and output_per_mtok, or neither"),
    };
    if let Some(t) = e.temperature.or(defaults.temperature).filter(|t| !(t.is_finite() && (0.0..=10.0).contains(t))) {
        bail!("temperature = {t}: must be between 0 and 10");
    }
    let max_event_bytes = match e.max_event_mib {
        None => crate::provider::MAX_EVENT_BYTES,
        Some(m @ 1..=1024) => (m as usize) << 20,
        Some(m) => bail!("max_event_mib = {m}: must be between 1 and 1024"),
    };
    let defaults_t = Timeouts::default();
    let timeouts = Timeouts {
        connect: secs(e.connect_timeout_s, defaults_t.connect, "connect_timeout_s")?,
        first_token: secs(e.first_token_timeout_s, defaults_t.first_token, "first_token_timeout_s")?,
        idle: secs(e.idle_timeout_s, defaults_t.idle, "idle_timeout_s")?,
        total: secs(e.total_timeout_s, defaults_t.total, "total_timeout_s")?,
    };
    let tools = match e.tools_file.as_ref().or(defaults.tools_file.as_ref()) {
        Some(f) => Tools::from_file(&base_dir.join(f)).map_err(|e| anyhow::anyhow!("tools_file: {e}"))?,
        None => Tools::default(),
    };
    let schema = match (&e.schema, e.schema_name.is_some() || e.schema_strict.is_some()) {
        (None, false) => None,
        (None, true) => bail!("schema_name and schema_strict need a schema"),
        (Some(s), _) => {
            let written = serde_json::to_value(s)?;
            let schema = crate::provider::output::OutputSchema::read(&written, base_dir)
                .and_then(|v| {
                    crate::provider::output::OutputSchema::new(
                        e.schema_name.as_deref(),
                        v,
                        e.schema_strict.unwrap_or(true),
                    )
                })
                .map_err(|e| anyhow::anyhow!("schema: {e}"))?;
            Some(schema)
        }
    };
    let extra = match serde_json::to_value(&e.extra)? {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    Ok(ModelSpec {
        name: e.name,
        provider: e.provider,
        format,
        model,
        base_url,
        key,
        price,
        max_tokens: e.max_tokens.or(defaults.max_tokens),
        temperature: e.temperature.or(defaults.temperature),
        extra,
        headers: e.headers.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect(),
        timeouts,
        max_event_bytes,
        tools,
        prompt_cache: e.cache,
        schema,
    })
}

fn default_price(preset: Option<&Preset>, provider: &str, model: &str, prices: &PriceTable) -> Option<Price> {
    if preset.is_some_and(|p| p.free) {
        return Some(Price { input: 0.0, output: 0.0, cached_input: None, cache_write: None });
    }
    // The Responses API bills as OpenAI does.
    let provider = if provider == "openai-responses" { "openai" } else { provider };
    prices.lookup(provider, model)
}

/// Resolves an ad-hoc `PRESET:MODEL_ID` (e.g. `openai:gpt-4o`, `ollama:llama3.2`,
/// `openrouter:meta-llama/llama-3.1-8b-instruct`) to a model with the preset's defaults.
pub fn adhoc(spec: &str, prices: &PriceTable) -> Result<ModelSpec> {
    let Some((provider, model)) = spec.split_once(':') else {
        bail!("{spec:?} is neither a configured model nor PRESET:MODEL_ID (presets: {})", preset_names());
    };
    let Some(p) = find_preset(provider) else {
        bail!("{spec:?}: unknown preset {provider:?}; use one of: {}", preset_names());
    };
    if model.is_empty() {
        bail!("{spec:?}: the model id after ':' is empty");
    }
    let mut m = ModelSpec::new(spec, provider, p.format, model, p.base_url);
    m.key = KeySource { env: p.key_env.map(String::from), required: p.key_required };
    m.price = default_price(Some(p), provider, model, prices);
    Ok(m)
}

/// Picks models by the `--models` list: each item is a configured name or `PRESET:MODEL_ID`.
/// An empty selection means every configured model.
pub fn select(config: &Config, wanted: &[String], prices: &PriceTable) -> Result<Vec<ModelSpec>> {
    if wanted.is_empty() {
        return Ok(config.models.clone());
    }
    let mut out: Vec<ModelSpec> = Vec::new();
    for w in wanted {
        let w = w.trim();
        if w.is_empty() {
            continue;
        }
        let spec = match config.models.iter().find(|m| m.name == w) {
            Some(m) => m.clone(),
            None if w.contains(':') => adhoc(w, prices)?,
            None => {
                let known: Vec<&str> = config.models.iter().map(|m| m.name.as_str()).collect();
                if known.is_empty() {
                    bail!(
                        "model {w:?} is not configured (no config file found); use PRESET:MODEL_ID such as openai:gpt-4o"
                    );
                }
                bail!("model {w:?} is not configured; configured: {}", known.join(", "));
            }
        };
        if out.iter().any(|m| m.name == spec.name) {
            bail!("model {w:?} is listed twice");
        }
        out.push(spec);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Config> {
        parse(s, Path::new("bakeoff.toml"), &PriceTable::builtin())
    }

    #[test]
    fn families_come_from_the_model_id_else_the_provider() {
        for (provider, id, want) in [
            ("openai", "gpt-4o", "openai"),
            ("openai", "o3-mini", "openai"),
            ("openai-responses", "o4-mini", "openai"),
            ("anthropic", "claude-sonnet-4-6", "anthropic"),
            ("openrouter", "anthropic/claude-3.5-sonnet", "anthropic"),
            ("openrouter", "meta-llama/llama-3.1-8b-instruct", "meta"),
            ("together", "meta-llama/Llama-3.3-70B-Instruct-Turbo", "meta"),
            ("groq", "llama-3.3-70b-versatile", "meta"),
            ("gemini", "gemini-2.5-flash", "google"),
            ("gemini", "models/gemini-embedding-001", "google"),
            ("ollama", "gemma3:4b", "google"),
            ("ollama", "qwen2.5:7b", "alibaba"),
            ("mistral", "mistral-large-latest", "mistral"),
            ("deepseek", "deepseek-chat", "deepseek"),
            ("openrouter", "x-ai/grok-4", "xai"),
            ("vllm", "my-finetune", "vllm"),
            ("demo-openai", "swift-mini;ttft=180;quality=2", "openai"),
            ("demo-anthropic", "steady-pro;ttfb=120", "anthropic"),
            ("demo-gemini", "deep-think;ttft=300", "google"),
            ("demo-ollama", "local-llama;ttfb=650", "meta"),
            ("demo-ollama", "tiny;ttfb=650", "ollama"),
        ] {
            assert_eq!(family(provider, id), want, "{provider} {id}");
        }
    }

    #[test]
    fn a_judge_that_is_not_configured_is_an_error_unless_the_run_brings_it() {
        let c = parse_str(
            "[[models]]\nname = \"a\"\nprovider = \"openai\"\nmodel = \"gpt-4o\"\n\n\
             [[evaluators]]\nkind = \"judge\"\njudges = [\"a\", \"swift-mini\"]\nrubric = \"r\"\n",
        )
        .unwrap();
        let e = c.check_judges(|_| false).unwrap_err().to_string();
        assert_eq!(
            e,
            "bakeoff.toml:6:1: in [[evaluators]]: judge model \"swift-mini\" is not configured; configured: a"
        );
        assert!(c.check_judges(|j| j == "swift-mini").is_ok(), "the demo's models under --demo");
    }

    #[test]
    fn the_embedder_is_a_configured_model_or_a_preset_id() {
        let c = parse_str("embedder = \"openai:text-embedding-3-small\"").unwrap();
        let e = c.embedder.unwrap();
        assert_eq!((e.format, e.model.as_str()), (WireFormat::OpenAi, "text-embedding-3-small"));
        assert_eq!(e.key.env.as_deref(), Some("OPENAI_API_KEY"));
        assert_eq!(e.price.map(|p| p.input), Some(0.02), "the built-in price");
        let c = parse_str(
            "embedder = \"local\"\n[[models]]\nname = \"local\"\nprovider = \"ollama\"\nmodel = \"nomic-embed-text\"\n\
             [models.extra]\ndimensions = 64\n",
        )
        .unwrap();
        let e = c.embedder.unwrap();
        assert_eq!(
            (e.format, e.model.as_str(), e.extra["dimensions"].as_u64()),
            (WireFormat::Ollama, "nomic-embed-text", Some(64))
        );
        for (text, want) in [
            ("embedder = \"anthropic:claude-haiku-4-5\"", "no embeddings API"),
            ("embedder = \"nobody\"", "neither a configured model"),
            ("embedder = \"nope:x\"", "unknown preset"),
        ] {
            let e = format!("{:#}", parse_str(text).unwrap_err());
            assert!(e.contains("bakeoff.toml:1:12: embedder") && e.contains(want), "{e}");
        }
    }

    #[test]
    fn alerts_and_webhooks_read_and_bad_ones_say_why() {
        let c = parse_str(
            "history = false\n[[alerts]]\nrule = \"regression\"\nmodel = \"gpt-4o\"\nmetric = \"ttft_p50\"\nthreshold = \"20%\"\nbaseline_runs = 4\n\n\
             [[alerts]]\nrule = \"best\"\nprimary = \"gpt-4o\"\n\n[[alerts]]\nrule = \"slo\"\nmetric = \"latency_p95\"\nmax = 2000\n\n\
             [[webhooks]]\nurl_env = \"BAKEOFF_ALERT_WEBHOOK\"\nformat = \"slack\"\n",
        )
        .unwrap();
        assert!(c.no_history);
        assert_eq!(c.alerts.len(), 3);
        assert!(matches!(
            c.alerts[0],
            AlertRule::Regression { threshold: Threshold::Relative(t), baseline_runs: 4, .. } if (t - 0.2).abs() < 1e-12
        ));
        assert!(matches!(&c.alerts[1], AlertRule::Best { by, .. } if by == "cost_per_accept"), "the default");
        assert_eq!(c.webhooks[0].format, WebhookFormat::Slack);
        for (bad, why) in [
            ("[[alerts]]\nrule = \"slo\"\nmetric = \"speed\"\nmax = 1\n", "unknown metric \"speed\""),
            ("[[alerts]]\nrule = \"slo\"\nmetric = \"ttft_p50\"\n", "needs max or min"),
            (
                "[[alerts]]\nrule = \"regression\"\nmodel = \"m\"\nmetric = \"ttft_p50\"\nthreshold = \"lots\"\n",
                "percentage",
            ),
            (
                "[[alerts]]\nrule = \"regression\"\nmodel = \"m\"\nmetric = \"ttft_p50\"\nthreshold = 1\nbaseline_runs = 0\n",
                "baseline_runs",
            ),
            ("[[alerts]]\nrule = \"drift\"\n", "drift"),
            ("[[webhooks]]\nurl = \"https://hooks.example/x\"\n", "url"),
        ] {
            let err = format!("{:#}", parse_str(bad).unwrap_err());
            assert!(err.contains(why) && err.contains("bakeoff.toml:"), "{bad}: {err}");
        }
    }

    #[test]
    fn full_entry_parses() {
        let c = parse_str(
            r#"
[defaults]
max_tokens = 512

[[models]]
name = "gpt"
provider = "openai"
model = "gpt-4o-mini"
api_key_env = "MY_KEY"
temperature = 0.0
extra = { reasoning_effort = "low", response_format = { type = "text" } }
headers = { "X-Team" = "a" }
first_token_timeout_s = 30
max_event_mib = 64

[[models]]
name = "claude-sonnet-4-6"
provider = "anthropic"
input_per_mtok = 1
output_per_mtok = 2
cache = true
"#,
        )
        .unwrap();
        let g = &c.models[0];
        assert_eq!(g.format, WireFormat::OpenAi);
        assert_eq!(g.model, "gpt-4o-mini");
        assert_eq!(g.max_tokens, Some(512));
        assert_eq!(g.key, KeySource { env: Some("MY_KEY".into()), required: true });
        assert_eq!(g.price.unwrap().output, 0.60);
        assert_eq!(g.extra["response_format"]["type"], "text");
        assert_eq!(g.headers, vec![("x-team".to_string(), "a".to_string())]);
        assert_eq!(g.timeouts.first_token, Duration::from_secs(30));
        assert_eq!(g.max_event_bytes, 64 << 20);
        let a = &c.models[1];
        assert_eq!(a.max_event_bytes, crate::provider::MAX_EVENT_BYTES);
        assert_eq!(a.model, "claude-sonnet-4-6");
        assert_eq!(a.base_url, "https://api.anthropic.com");
        assert_eq!(a.price.unwrap().input, 1.0);
        assert!(a.prompt_cache && !g.prompt_cache);
        // Cache breakpoints change what is sent: part of the model's fingerprint.
        let uncached = ModelSpec { prompt_cache: false, ..a.clone() };
        assert_ne!(a.fingerprint(true), uncached.fingerprint(true));
    }

    #[test]
    fn a_model_asks_for_structured_output() {
        let c = parse_str(
            r#"
[[models]]
name = "g"
provider = "openai"
model = "gpt-4o-mini"
schema_name = "city"
schema = { type = "object", properties = { city = { type = "string" } }, required = ["city"] }

[[models]]
name = "loose"
provider = "openai"
model = "gpt-4o-mini"
schema = { type = "object" }
schema_strict = false
"#,
        )
        .unwrap();
        let s = c.models[0].schema.as_ref().unwrap();
        assert_eq!((s.name.as_str(), s.strict), ("city", true));
        assert_eq!(s.schema["properties"]["city"]["type"], "string");
        assert!(!c.models[1].schema.as_ref().unwrap().strict);
        // What is asked for is part of the model's fingerprint.
        let plain = ModelSpec { schema: None, ..c.models[0].clone() };
        assert_ne!(c.models[0].fingerprint(true), plain.fingerprint(true));
        for (bad, says) in [
            ("schema_name = \"x\"", "need a schema"),
            ("schema = \"nope.json\"", "nope.json"),
            ("schema = { type = 3 }", "not a valid JSON Schema"),
        ] {
            let e = parse_str(&format!("[[models]]\nname = \"m\"\nprovider = \"openai\"\nmodel = \"x\"\n{bad}\n"))
                .unwrap_err();
            assert!(format!("{e:#}").contains(says), "{bad}: {e:#}");
        }
    }

    #[test]
    fn the_responses_api_by_preset_api_key_or_ad_hoc() {
        let c = parse_str(
            r#"
[[models]]
name = "gpt5"
provider = "openai-responses"
model = "gpt-4o-mini"

[[models]]
name = "local"
provider = "vllm"
api = "responses"
model = "openai/gpt-oss-20b"

[[models]]
name = "chat"
provider = "openai-responses"
api = "chat"
"#,
        )
        .unwrap();
        let [r, v, chat] = &c.models[..] else { panic!("{:?}", c.models) };
        assert_eq!((r.format, r.base_url.as_str()), (WireFormat::OpenAiResponses, "https://api.openai.com/v1"));
        assert_eq!(r.key, KeySource { env: Some("OPENAI_API_KEY".into()), required: true });
        assert!(r.price.is_some(), "priced as OpenAI");
        assert_eq!((v.format, v.base_url.as_str()), (WireFormat::OpenAiResponses, "http://localhost:8000/v1"));
        assert_eq!(chat.format, WireFormat::OpenAi);
        let m = adhoc("openai-responses:gpt-4o-mini", &PriceTable::builtin()).unwrap();
        assert_eq!(m.format, WireFormat::OpenAiResponses);
        let e = format!(
            "{:#}",
            parse_str("[[models]]\nname=\"a\"\nprovider=\"anthropic\"\napi=\"responses\"\n").unwrap_err()
        );
        assert!(e.contains("OpenAI-compatible"), "{e}");
        let e = format!(
            "{:#}",
            parse_str("[[models]]\nname=\"a\"\nprovider=\"openai\"\napi=\"completions\"\n").unwrap_err()
        );
        assert!(e.contains("\"chat\"") && e.contains("\"responses\""), "{e}");
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let e = parse_str("[[models]]\nname = \"x\"\nprovider = \n").unwrap_err().to_string();
        assert!(e.starts_with("bakeoff.toml:3:"), "{e}");
        let e = parse_str("[[models]]\nname = \"x\"\nprovider = \"nope\"\n").unwrap_err();
        let e = format!("{e:#}");
        assert!(e.contains("bakeoff.toml:1:1") && e.contains("nope") && e.contains("openrouter"), "{e}");
        let e = parse_str("[[models]]\nname = \"x\"\nprovider = \"openai\"\ncolour = 1\n").unwrap_err().to_string();
        assert!(e.contains("bakeoff.toml:4:1") && e.contains("colour"), "{e}");
        let e = parse_str("[[models]]\nname=\"a\"\nprovider=\"openai\"\n[[models]]\nname=\"a\"\nprovider=\"groq\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bakeoff.toml:4:1") && e.contains("twice"), "{e}");
        let e = parse_str("[[models]]\nname=\"a\"\nprovider=\"openai\"\ninput_per_mtok=1\n").unwrap_err();
        assert!(format!("{e:#}").contains("both"));
    }

    #[test]
    fn evaluators_parse_and_errors_name_the_place() {
        let c = parse_str(
            r#"
[[models]]
name = "judge"
provider = "openai"

[[evaluators]]
kind = "contains"
values = ["Paris", "France"]
case_insensitive = true

[[evaluators]]
kind = "json_schema"
name = "schema:city"
schema = { type = "object", required = ["city"] }

[[evaluators]]
kind = "judge"
model = "judge"
rubric = "Correct and concise."
threshold = 3
"#,
        )
        .unwrap();
        assert_eq!(c.evaluators.len(), 3);
        assert_eq!(c.evaluators[0].name(), "contains");
        assert_eq!(c.evaluators[1].name(), "schema:city");
        assert_eq!(c.evaluators[2].name(), "judge:judge");
        // An unknown judge is an error when the run starts (the demo's models are known then).
        let c = parse_str("[[evaluators]]\nkind = \"judge\"\nmodel = \"ghost\"\nrubric = \"x\"\n").unwrap();
        let e = format!("{:#}", c.check_judges(|_| false).unwrap_err());
        assert!(e.contains("bakeoff.toml:1:1") && e.contains("\"ghost\""), "{e}");
        let e = format!("{:#}", parse_str("[[evaluators]]\nkind = \"regex\"\npattern = \"(\"\n").unwrap_err());
        assert!(e.contains("bakeoff.toml:1:1") && e.contains("invalid regex"), "{e}");
        let e = format!("{:#}", parse_str("\n[[evaluators]]\nkind = \"nope\"\n").unwrap_err());
        assert!(e.contains("bakeoff.toml:3:8") && e.contains("nope"), "{e}");
        let e = format!("{:#}", parse_str("[[evaluators]]\nkind = \"regex\"\npatern = \"x\"\n").unwrap_err());
        assert!(e.contains("bakeoff.toml:") && e.contains("patern"), "{e}");
        let e = format!(
            "{:#}",
            parse_str("[[evaluators]]\nkind = \"json_valid\"\n[[evaluators]]\nkind = \"json_valid\"\n").unwrap_err()
        );
        assert!(e.contains("bakeoff.toml:3:1") && e.contains("twice"), "{e}");
    }

    #[test]
    fn unknown_price_stays_unknown_and_local_is_free() {
        let c = parse_str("[[models]]\nname=\"x\"\nprovider=\"openai\"\nmodel=\"brand-new\"\n[[models]]\nname=\"l\"\nprovider=\"ollama\"\nmodel=\"llama3.2\"\n").unwrap();
        assert_eq!(c.models[0].price, None);
        assert_eq!(c.models[1].price.unwrap().output, 0.0);
    }

    #[test]
    fn adhoc_models_resolve_through_presets() {
        let p = PriceTable::builtin();
        let m = adhoc("openrouter:meta-llama/llama-3.1-8b-instruct", &p).unwrap();
        assert_eq!(m.model, "meta-llama/llama-3.1-8b-instruct");
        assert_eq!(m.base_url, "https://openrouter.ai/api/v1");
        assert_eq!(m.key.env.as_deref(), Some("OPENROUTER_API_KEY"));
        let m = adhoc("anthropic:claude-sonnet-4-6", &p).unwrap();
        assert_eq!(m.format, WireFormat::Anthropic);
        assert!(m.price.is_some());
        let m = adhoc("ollama:llama3.2", &p).unwrap();
        assert!(!m.key.required);
        assert!(adhoc("nope:x", &p).unwrap_err().to_string().contains("unknown preset"));
        assert!(adhoc("gpt-4o", &p).is_err());
        let cfg = Config::default();
        assert_eq!(select(&cfg, &["openai:gpt-4o".into(), "groq:llama-3.1-8b-instant".into()], &p).unwrap().len(), 2);
        assert!(select(&cfg, &["gpt".into()], &p).unwrap_err().to_string().contains("PRESET:MODEL_ID"));
    }

    #[test]
    fn missing_key_names_the_variable_and_debug_hides_keys() {
        let mut m = adhoc("openai:gpt-4o", &PriceTable::builtin()).unwrap();
        m.key.env = Some("BAKEOFF_TEST_SURELY_UNSET_VAR".into());
        let e = m.api_key().unwrap_err();
        assert!(e.contains("BAKEOFF_TEST_SURELY_UNSET_VAR"));
        assert!(m.key_status().contains("MISSING"));
        assert_eq!(format!("{:?}", ApiKey("sk-secret".into())), "ApiKey(***)");
    }
}
