//! Case files: your own prompts, with what a good answer looks like.
//!
//! Three formats, picked by extension:
//! - **JSON Lines** (`.jsonl`): one case per line — `{"id", "category", "tags", "prompt", "system",
//!   "expected", "evaluators"}`, or a line as logging tools export it: an OpenAI chat request body
//!   (`model`, `messages`, `temperature`, `max_tokens`, `tools`, …), a chat log `{"messages": [...]}`
//!   whose trailing assistant turn becomes the case's reference answer, or OpenAI evals'
//!   `{"input", "ideal"}`. Fields bakeoff does not use are ignored and named once per file
//!   ([`CaseSet::ignored`]; `--strict` refuses them).
//! - **TOML** (`.toml`): the same fields in `[[cases]]` tables.
//! - **CSV** (`.csv`): a header row with `prompt` and optionally `expected`, `category`, `id`,
//!   `system`.
//!
//! A bad case is reported with file and line and the others still load; callers decide whether
//! that is fatal (`--strict`).

use crate::eval::Evaluator;
use crate::evaluator_spec::{EvaluatorSpec, OneOrMany};
use crate::provider::attach::Attachment;
use crate::provider::output::OutputSchema;
use crate::provider::tools::Tools;
use crate::provider::{Message, Role};
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One case, normalised: `messages` holds the whole conversation (system turns first).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Case {
    pub id: String,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub messages: Vec<Message>,
    pub expected: Option<String>,
    /// The case's own evaluators (added to, or replacing by name, the session's).
    pub evaluators: Vec<EvaluatorSpec>,
    /// Tools offered with this case (replacing `--tools` and the models' `tools_file`).
    pub tools: Option<Tools>,
    /// `expected_tool` / `expected_args`: the tool call the answer should make (`Some(None)`:
    /// none at all).
    pub expected_tool: Option<Option<ExpectedTool>>,
    /// Where the case came from, for messages: `file:line`.
    pub origin: String,
    /// A reference answer (a chat log's trailing assistant turn, `reference`): what a good answer
    /// looked like, not a pass criterion.
    pub reference: Option<String>,
    /// More reference answers (`references`): ROUGE, BLEU and chrF take the best match.
    pub references: Vec<String>,
    /// `max_ttft_ms`, `max_latency_ms`, `max_cost_usd`: limits on the answer's own figures,
    /// checked like evaluators (they count for acceptance).
    pub limits: CaseLimits,
    /// Sampling settings the case asks for, replacing the model's.
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    /// OpenAI evals' `ideal` given as a list: the answer should contain any of them.
    pub ideal_any: Vec<String>,
    /// Structured output the case asks for (replacing the model's); the answer is checked
    /// against it by an automatic `schema` evaluator.
    pub schema: Option<OutputSchema>,
    /// Follow-up prompts: each is asked after the model's own answer to the turns before it;
    /// the last turn's answer is the case's (its evaluators judge it).
    pub turns: Vec<String>,
}

impl Case {
    /// Puts what the case asks of a request into `req` (built from a model's settings): its
    /// tools, temperature and max tokens replace the model's.
    pub fn apply_to(&self, req: &mut crate::provider::ChatRequest) {
        if let Some(t) = &self.tools {
            req.tools = t.clone();
        }
        if self.temperature.is_some() {
            req.temperature = self.temperature;
        }
        if self.max_tokens.is_some() {
            req.max_tokens = self.max_tokens;
        }
        if self.schema.is_some() {
            req.schema = self.schema.clone();
        }
    }

    /// The last user turn — what the editor shows and tables quote.
    pub fn prompt(&self) -> &str {
        self.messages.iter().rev().find(|m| m.role == Role::User).map(|m| m.content.as_str()).unwrap_or("")
    }
}

/// The tool call a case expects.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExpectedTool {
    /// Any of these.
    pub names: Vec<String>,
    /// Arguments the call must contain.
    pub args: Option<serde_json::Value>,
}

/// A case that could not be read.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for CaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct CaseSet {
    pub cases: Vec<Case>,
    pub errors: Vec<CaseError>,
    /// Fields of the file's cases that bakeoff does not use (a logged request's `model`,
    /// `metadata`, …), each named once. They were ignored; `--strict` refuses them.
    pub ignored: std::collections::BTreeSet<String>,
}

impl CaseSet {
    /// The one warning about ignored fields for `file`, if any were.
    pub fn ignored_warning(&self, file: &Path) -> Option<String> {
        // A file of generated keys could name thousands: the first few say enough.
        const SHOWN: usize = 12;
        (!self.ignored.is_empty()).then(|| {
            let names: Vec<&str> = self.ignored.iter().take(SHOWN).map(String::as_str).collect();
            let more = self.ignored.len().saturating_sub(SHOWN);
            let more = if more > 0 { format!(" and {more} more") } else { String::new() };
            format!(
                "{}: ignored field(s) bakeoff does not use: {}{more} (--strict refuses them)",
                file.display(),
                crate::sanitize::one_line(&names.join(", "))
            )
        })
    }
}

/// A case's limits on its answer's own figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CaseLimits {
    pub max_ttft_ms: Option<f64>,
    pub max_latency_ms: Option<f64>,
    pub max_cost_usd: Option<f64>,
}

/// The fields a case may have, in any format.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    id: Option<String>,
    category: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    prompt: Option<String>,
    system: Option<String>,
    messages: Option<Vec<Message>>,
    expected: Option<String>,
    #[serde(default)]
    evaluators: Vec<EvaluatorSpec>,
    tools: Option<serde_json::Value>,
    tool_choice: Option<serde_json::Value>,
    /// A tool name, a list of acceptable names, or `false` for "no tool call".
    expected_tool: Option<serde_json::Value>,
    expected_args: Option<serde_json::Value>,
    /// A JSON tools file (relative to the case file; resolved by the readers).
    tools_file: Option<PathBuf>,
    reference: Option<String>,
    #[serde(default)]
    references: Vec<String>,
    max_ttft_ms: Option<f64>,
    max_latency_ms: Option<f64>,
    max_cost_usd: Option<f64>,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
    /// A JSON Schema object, or a JSON file's path (relative to the case file).
    schema: Option<serde_json::Value>,
    schema_name: Option<String>,
    schema_strict: Option<bool>,
    /// Images and files (paths relative to the case file, or URLs) sent with the prompt.
    #[serde(default)]
    images: Vec<String>,
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    turns: Vec<String>,
    #[serde(skip)]
    ideal_any: Vec<String>,
    /// `images` and `files`, read.
    #[serde(skip)]
    attachments: Vec<Attachment>,
}

/// Every field a case line may carry that bakeoff uses, its own and those of logged requests.
const CASE_FIELDS: &[&str] = &[
    "id",
    "category",
    "tags",
    "prompt",
    "system",
    "messages",
    "expected",
    "evaluators",
    "tools",
    "tool_choice",
    "expected_tool",
    "expected_args",
    "tools_file",
    "reference",
    "references",
    "max_ttft_ms",
    "max_latency_ms",
    "max_cost_usd",
    "temperature",
    "max_tokens",
    "max_completion_tokens",
    "input",
    "ideal",
    "schema",
    "schema_name",
    "schema_strict",
    "response_format",
    "images",
    "files",
    "turns",
];

/// Reads one case as written, in bakeoff's own shape or a logged one: drops (and names in
/// `ignored`) the fields bakeoff does not use, maps OpenAI evals' `input`/`ideal` and
/// `max_completion_tokens`, and joins text content parts.
fn from_value(
    v: serde_json::Value,
    ignored: &mut std::collections::BTreeSet<String>,
    dir: &Path,
) -> Result<RawCase, String> {
    use serde_json::Value;
    let Value::Object(mut o) = v else { return Err("not a case: a case is a JSON object".into()) };
    o.retain(|k, _| {
        let known = CASE_FIELDS.contains(&k.as_str());
        if !known {
            ignored.insert(k.clone());
        }
        known
    });
    if let Some(input) = o.remove("input") {
        if o.contains_key("prompt") || o.contains_key("messages") {
            return Err("give \"input\" (OpenAI evals) or \"prompt\"/\"messages\", not both".into());
        }
        let key = if input.is_array() { "messages" } else { "prompt" };
        o.insert(key.into(), input);
    }
    let mut ideal_any = Vec::new();
    match o.remove("ideal") {
        None => {}
        Some(_) if o.contains_key("expected") => return Err("give \"ideal\" or \"expected\", not both".into()),
        Some(Value::String(s)) => {
            o.insert("expected".into(), Value::String(s));
        }
        Some(Value::Array(a)) => {
            ideal_any = a
                .into_iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or("\"ideal\" is a string or a list of strings")?;
        }
        Some(_) => return Err("\"ideal\" is a string or a list of strings".into()),
    }
    if let Some(m) = o.remove("max_completion_tokens") {
        o.entry("max_tokens").or_insert(m);
    }
    if let Some(format) = o.remove("response_format") {
        response_format(format, &mut o, ignored)?;
    }
    let mut attached = Vec::new();
    if let Some(Value::Array(messages)) = o.get_mut("messages") {
        for (i, m) in messages.iter_mut().enumerate() {
            attached.push(normalise_message(m, dir).map_err(|e| format!("message {}: {e}", i + 1))?);
        }
    }
    let mut raw: RawCase = serde_json::from_value(Value::Object(o)).map_err(|e| format!("not a case: {e}"))?;
    raw.ideal_any = ideal_any;
    if let Some(messages) = raw.messages.as_mut() {
        for (i, (m, a)) in messages.iter_mut().zip(attached).enumerate() {
            if !a.is_empty() && m.role != Role::User {
                return Err(format!("message {}: images and files go in user turns", i + 1));
            }
            m.attachments = a;
        }
    }
    for (list, image) in [(&raw.images, true), (&raw.files, false)] {
        for spec in list {
            raw.attachments.push(Attachment::from_spec(spec, dir, image)?);
        }
    }
    Ok(raw)
}

/// A logged request's `response_format`: a `json_schema` one becomes the case's schema; `text`
/// is the default anyway; JSON mode (`json_object`, no schema to check) is ignored and named.
fn response_format(
    format: serde_json::Value,
    case: &mut serde_json::Map<String, serde_json::Value>,
    ignored: &mut std::collections::BTreeSet<String>,
) -> Result<(), String> {
    use serde_json::Value;
    match format.get("type").and_then(Value::as_str) {
        Some("json_schema") => {
            if case.contains_key("schema") {
                return Err("give \"response_format\" or \"schema\", not both".into());
            }
            let spec = format.get("json_schema").ok_or("response_format: json_schema needs \"json_schema\"")?;
            let schema = spec.get("schema").ok_or("response_format: json_schema needs \"json_schema.schema\"")?;
            case.insert("schema".into(), schema.clone());
            if let Some(name) = spec.get("name") {
                case.entry("schema_name").or_insert(name.clone());
            }
            // OpenAI's default is not strict.
            case.entry("schema_strict").or_insert(spec.get("strict").cloned().unwrap_or(Value::Bool(false)));
        }
        Some("text") => {}
        _ => {
            ignored.insert("response_format (only json_schema is used)".into());
        }
    }
    Ok(())
}

/// A logged message in the shape [`Message`] reads: `developer` is the system role under its
/// newer name, and content given as parts is split into its text (joined) and its images and
/// files (read, returned).
fn normalise_message(m: &mut serde_json::Value, dir: &Path) -> Result<Vec<Attachment>, String> {
    use serde_json::Value;
    if m.get("role").and_then(Value::as_str) == Some("developer") {
        m["role"] = Value::from("system");
    }
    let Some(Value::Array(parts)) = m.get("content") else { return Ok(Vec::new()) };
    let mut text = Vec::new();
    let mut attachments = Vec::new();
    for p in parts {
        let s = |ptr: &str| p.pointer(ptr).and_then(Value::as_str);
        let kind = p.get("type").and_then(Value::as_str).ok_or("a content part without a \"type\"")?;
        let loaded = match kind {
            "text" | "input_text" | "output_text" => {
                text.push(s("/text").ok_or_else(|| format!("a {kind:?} part without its \"text\""))?.to_string());
                continue;
            }
            // Chat: {image_url: {url}}; Responses: {image_url: "…"}.
            "image_url" | "input_image" => {
                let url = s("/image_url/url").or(s("/image_url")).or(s("/path"));
                Attachment::from_spec(url.ok_or_else(|| format!("a {kind:?} part without its URL"))?, dir, true)?
            }
            // Ours: {path}; Chat: {file: {file_data, filename}}; Responses: {file_data | file_url}.
            "file" | "input_file" => {
                if s("/file/file_id").or(s("/file_id")).is_some() {
                    return Err("a file part by \"file_id\" (uploaded to a provider): give the file's path".into());
                }
                let spec = s("/path").or(s("/file/file_data")).or(s("/file_data")).or(s("/file_url"));
                Attachment::from_spec(
                    spec.ok_or_else(|| format!("a {kind:?} part without \"path\" or file data"))?,
                    dir,
                    false,
                )?
            }
            other => {
                return Err(format!(
                    "a {:?} content part: use text, image_url or file parts",
                    crate::sanitize::one_line(other)
                ));
            }
        };
        attachments.push(loaded);
    }
    m["content"] = Value::String(text.join("\n"));
    Ok(attachments)
}

fn normalise(raw: RawCase, default_id: String, origin: String) -> Result<Case, String> {
    let mut messages = Vec::new();
    if let Some(s) = raw.system.filter(|s| !s.trim().is_empty()) {
        messages.push(Message::system(s));
    }
    match (raw.prompt, raw.messages) {
        (Some(_), Some(_)) => return Err("give either \"prompt\" or \"messages\", not both".into()),
        (None, None) => return Err("missing \"prompt\" (or \"messages\")".into()),
        (Some(p), None) => {
            if p.trim().is_empty() && raw.attachments.is_empty() {
                return Err("\"prompt\" is empty".into());
            }
            messages.push(Message::user(p));
        }
        (None, Some(ms)) => {
            if ms.is_empty() {
                return Err("\"messages\" is empty".into());
            }
            messages.extend(ms);
        }
    }
    // A chat-log export may end with the assistant's reply: that reply is what we ask for again,
    // and it is kept as the reference answer.
    let mut logged_reply = None;
    while messages.last().is_some_and(|m| m.role == Role::Assistant) {
        let reply = messages.pop().map(|m| m.content);
        logged_reply = logged_reply.or(reply.filter(|r| !r.trim().is_empty()));
    }
    if messages.last().is_none_or(|m| !matches!(m.role, Role::User | Role::Tool)) {
        return Err("the conversation must end with a user turn (or a tool's result)".into());
    }
    if !raw.attachments.is_empty() {
        // `images`/`files` go with the last user turn.
        match messages.iter_mut().rev().find(|m| m.role == Role::User) {
            Some(m) => m.attachments.extend(raw.attachments),
            None => return Err("\"images\"/\"files\" need a user turn to go with".into()),
        }
    }
    // Every tool result answers a call made earlier; its function's name is filled in from it.
    for i in 0..messages.len() {
        if messages[i].role != Role::Tool {
            continue;
        }
        let Some(id) = messages[i].tool_call_id.clone() else {
            return Err(format!("message {}: a \"tool\" turn needs the \"tool_call_id\" it answers", i + 1));
        };
        let Some(call) = messages[..i].iter().flat_map(|m| &m.tool_calls).find(|c| c.id == id) else {
            return Err(format!("message {}: no earlier assistant turn made the call {id:?}", i + 1));
        };
        if messages[i].name.is_none() {
            messages[i].name = Some(call.name.clone());
        }
    }
    let tools = match (raw.tools_file, raw.tools.is_some() || raw.tool_choice.is_some()) {
        (Some(_), true) => return Err("give \"tools\" (and \"tool_choice\") or \"tools_file\", not both".into()),
        (Some(f), false) => Some(Tools::from_file(&f)?),
        (None, true) => Some(Tools::parse(raw.tools.as_ref(), raw.tool_choice.as_ref())?),
        (None, false) => None,
    };
    let expected_tool = match (raw.expected_tool, raw.expected_args) {
        (None, None) => None,
        (None, Some(_)) => return Err("\"expected_args\" needs \"expected_tool\"".into()),
        (Some(serde_json::Value::Bool(false)), None) => Some(None),
        (Some(serde_json::Value::Bool(false)), Some(_)) => {
            return Err("\"expected_args\" with \"expected_tool\": false (no call) cannot match".into());
        }
        (Some(t), args) => {
            let names = match t {
                serde_json::Value::String(s) if !s.trim().is_empty() => vec![s],
                serde_json::Value::Array(a) if !a.is_empty() => a
                    .into_iter()
                    .map(|v| v.as_str().filter(|s| !s.trim().is_empty()).map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or("\"expected_tool\" lists must hold tool names")?,
                _ => return Err("\"expected_tool\" is a tool name, a list of names, or false (no call)".into()),
            };
            if args.as_ref().is_some_and(|a| !a.is_object()) {
                return Err("\"expected_args\" must be an object".into());
            }
            Some(Some(ExpectedTool { names, args }))
        }
    };
    if raw.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
        return Err("\"temperature\" must be between 0 and 2".into());
    }
    if raw.max_tokens == Some(0) {
        return Err("\"max_tokens\" must be at least 1".into());
    }
    if let Some(i) = raw.turns.iter().position(|t| t.trim().is_empty()) {
        return Err(format!("\"turns\": follow-up {} is empty", i + 1));
    }
    let schema = match (raw.schema, raw.schema_name.is_some() || raw.schema_strict.is_some()) {
        (None, false) => None,
        (None, true) => return Err("\"schema_name\" and \"schema_strict\" need a \"schema\"".into()),
        (Some(s), _) => {
            let s = OutputSchema::read(&s, Path::new(""))?;
            Some(OutputSchema::new(raw.schema_name.as_deref(), s, raw.schema_strict.unwrap_or(true))?)
        }
    };
    if let (Some(s), Some(t)) = (&schema, &tools)
        && t.get(&s.name).is_some()
    {
        return Err(format!("a tool is named {:?} like the schema: give the schema another schema_name", s.name));
    }
    for (field, v) in
        [("max_ttft_ms", raw.max_ttft_ms), ("max_latency_ms", raw.max_latency_ms), ("max_cost_usd", raw.max_cost_usd)]
    {
        if let Some(v) = v.filter(|v| !v.is_finite() || *v < 0.0) {
            return Err(format!("\"{field}\" must be a number of at least 0, not {v}"));
        }
    }
    let id = raw.id.filter(|s| !s.trim().is_empty()).unwrap_or(default_id);
    Ok(Case {
        id,
        category: raw.category.filter(|s| !s.trim().is_empty()),
        tags: raw.tags,
        messages,
        expected: raw.expected,
        evaluators: raw.evaluators,
        tools,
        expected_tool,
        origin,
        reference: raw.reference.or(logged_reply),
        references: raw.references,
        limits: CaseLimits {
            max_ttft_ms: raw.max_ttft_ms,
            max_latency_ms: raw.max_latency_ms,
            max_cost_usd: raw.max_cost_usd,
        },
        temperature: raw.temperature,
        max_tokens: raw.max_tokens,
        ideal_any: raw.ideal_any,
        schema,
        turns: raw.turns,
    })
}

/// Loads a case file, choosing the format by extension.
pub fn load(path: &Path) -> Result<CaseSet> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read case file {}", path.display()))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let mut set = match ext.as_str() {
        "jsonl" | "ndjson" => parse_jsonl(&text, path),
        "toml" => parse_toml(&text, path)?,
        "csv" => parse_csv(&text, path)?,
        _ => bail!("{}: unknown case file type; use .jsonl, .toml or .csv", path.display()),
    };
    // Duplicate ids would make results ambiguous: keep the first, report the rest.
    let mut seen = std::collections::HashSet::new();
    let mut kept = Vec::new();
    for c in set.cases.drain(..) {
        if seen.insert(c.id.clone()) {
            kept.push(c);
        } else {
            let line = c.origin.rsplit(':').next().and_then(|l| l.parse().ok()).unwrap_or(0);
            set.errors.push(CaseError { file: path.to_path_buf(), line, message: format!("duplicate id {:?}", c.id) });
        }
    }
    set.cases = kept;
    Ok(set)
}

/// A case's `tools_file` resolved next to its case file.
fn beside(mut raw: RawCase, case_file: &Path) -> RawCase {
    let dir = case_file.parent().unwrap_or(Path::new("."));
    raw.tools_file = raw.tools_file.map(|f| dir.join(f));
    if let Some(serde_json::Value::String(f)) = &raw.schema {
        raw.schema = Some(serde_json::Value::String(dir.join(f).to_string_lossy().into_owned()));
    }
    raw
}

pub fn parse_jsonl(text: &str, path: &Path) -> CaseSet {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut set = CaseSet::default();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        let err = |message: String| CaseError { file: path.to_path_buf(), line: n, message };
        let raw = serde_json::from_str::<serde_json::Value>(line)
            .map_err(|e| format!("not a case: {e}"))
            .and_then(|v| from_value(v, &mut set.ignored, dir))
            .map(|raw| beside(raw, path));
        match raw {
            Ok(raw) => match normalise(raw, format!("line-{n}"), format!("{}:{n}", path.display())) {
                Ok(c) => set.cases.push(c),
                Err(m) => set.errors.push(err(m)),
            },
            Err(m) => set.errors.push(err(m)),
        }
    }
    set
}

pub fn parse_toml(text: &str, path: &Path) -> Result<CaseSet> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        cases: Vec<toml::Spanned<toml::Value>>,
    }
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let file: File = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(s.start)).unwrap_or(0);
        anyhow::anyhow!("{}:{line}: {}", path.display(), e.message())
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut set = CaseSet::default();
    for (i, spanned) in file.cases.into_iter().enumerate() {
        let n = line_of(spanned.span().start);
        let err = |message: String| CaseError { file: path.to_path_buf(), line: n, message };
        // Each case is checked on its own so one bad table does not sink the file.
        let raw = serde_json::to_value(spanned.into_inner())
            .map_err(|e| format!("not a case: {e}"))
            .and_then(|v| from_value(v, &mut set.ignored, dir))
            .map(|raw| beside(raw, path));
        match raw {
            Ok(raw) => match normalise(raw, format!("case-{}", i + 1), format!("{}:{n}", path.display())) {
                Ok(c) => set.cases.push(c),
                Err(m) => set.errors.push(err(m)),
            },
            Err(m) => set.errors.push(err(m)),
        }
    }
    Ok(set)
}

pub fn parse_csv(text: &str, path: &Path) -> Result<CaseSet> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .with_context(|| format!("{}:1: cannot read the header row", path.display()))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let Some(prompt_col) = col("prompt") else {
        bail!("{}:1: the header row needs a \"prompt\" column (found: {})", path.display(), headers.join(", "));
    };
    for h in &headers {
        if !["prompt", "expected", "reference", "category", "id", "system", "tools_file"].contains(&h.as_str()) {
            bail!(
                "{}:1: unknown column {h:?}; use prompt, expected, reference, category, id, system, tools_file",
                path.display()
            );
        }
    }
    let mut set = CaseSet::default();
    for (i, record) in reader.records().enumerate() {
        let n = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize).unwrap_or(n);
                set.errors.push(CaseError { file: path.to_path_buf(), line, message: format!("bad CSV row: {e}") });
                continue;
            }
        };
        let line = record.position().map(|p| p.line() as usize).unwrap_or(n);
        let get = |c: Option<usize>| c.and_then(|c| record.get(c)).map(str::to_string).filter(|s| !s.is_empty());
        let raw = RawCase {
            id: get(col("id")),
            category: get(col("category")),
            tags: Vec::new(),
            prompt: Some(record.get(prompt_col).unwrap_or("").to_string()),
            system: get(col("system")),
            messages: None,
            expected: get(col("expected")),
            evaluators: Vec::new(),
            tools: None,
            tool_choice: None,
            expected_tool: None,
            expected_args: None,
            tools_file: get(col("tools_file")).map(PathBuf::from),
            reference: get(col("reference")),
            ..RawCase::default()
        };
        let raw = beside(raw, path);
        match normalise(raw, format!("row-{line}"), format!("{}:{line}", path.display())) {
            Ok(c) => set.cases.push(c),
            Err(m) => set.errors.push(CaseError { file: path.to_path_buf(), line, message: m }),
        }
    }
    Ok(set)
}

impl Case {
    /// The evaluators for one case: the session's, with the case's own added (replacing any of the
    /// same name). A case with an `expected` answer and no evaluators of its own gets a
    /// case-insensitive `contains` check on it, named `expected`.
    pub fn evaluators_with(&self, session: &[EvaluatorSpec], base_dir: &Path) -> Vec<Evaluator> {
        let mut specs: Vec<EvaluatorSpec> = session.to_vec();
        let mut own = self.evaluators.clone();
        if own.is_empty()
            && let Some(expected) = self.expected.as_ref().filter(|e| !e.trim().is_empty())
        {
            own.push(EvaluatorSpec::Contains {
                name: Some("expected".into()),
                value: Some(expected.trim().to_string()),
                values: Vec::new(),
                any: false,
                case_insensitive: true,
            });
        }
        if own.is_empty() && !self.ideal_any.is_empty() {
            own.push(EvaluatorSpec::Contains {
                name: Some("ideal".into()),
                value: None,
                values: self.ideal_any.iter().map(|v| v.trim().to_string()).collect(),
                any: true,
                case_insensitive: true,
            });
        }
        match &self.expected_tool {
            Some(Some(t)) => own.push(EvaluatorSpec::ToolCall {
                name: Some("expected_tool".into()),
                tool: Some(OneOrMany::Many(t.names.clone())),
                args: t.args.clone(),
            }),
            Some(None) => own.push(EvaluatorSpec::NoToolCall { name: Some("expected_tool".into()) }),
            None => {}
        }
        if let Some(s) = &self.schema
            && !own.iter().any(|e| e.name() == "schema")
        {
            own.push(EvaluatorSpec::JsonSchema {
                name: Some("schema".into()),
                schema: Some(s.schema.clone()),
                schema_file: None,
                whole_answer: true,
            });
        }
        for spec in own {
            let name = spec.name();
            specs.retain(|s| s.name() != name);
            specs.push(spec);
        }
        let limits = [
            self.limits.max_ttft_ms.map(|max_ms| EvaluatorSpec::Ttft { name: Some("max_ttft_ms".into()), max_ms }),
            self.limits
                .max_latency_ms
                .map(|max_ms| EvaluatorSpec::Latency { name: Some("max_latency_ms".into()), max_ms }),
            self.limits.max_cost_usd.map(|max_usd| EvaluatorSpec::Cost { name: Some("max_cost_usd".into()), max_usd }),
        ];
        for spec in limits.into_iter().flatten() {
            let name = spec.name();
            specs.retain(|s| s.name() != name);
            specs.push(spec);
        }
        // Reference metrics without references of their own score against the case's.
        let answers = self.reference_answers();
        for spec in &mut specs {
            if let Some(refs) = spec.references_mut().filter(|r| r.is_empty()) {
                refs.clone_from(&answers);
            }
        }
        crate::eval::compile_all(&specs, base_dir)
    }

    /// What a good answer looks like, for ROUGE, BLEU and chrF: `references` and `reference`
    /// when given, else `expected`, else OpenAI evals' `ideal` list.
    pub fn reference_answers(&self) -> Vec<String> {
        let given: Vec<String> = self.reference.iter().chain(&self.references).cloned().collect();
        let nonempty = |v: Vec<String>| -> Vec<String> { v.into_iter().filter(|r| !r.trim().is_empty()).collect() };
        let given = nonempty(given);
        if !given.is_empty() {
            return given;
        }
        let expected = nonempty(self.expected.iter().cloned().collect());
        if !expected.is_empty() {
            return expected;
        }
        nonempty(self.ideal_any.clone())
    }

    /// The conversation for a case: the batch's system prompt first unless the case has its own.
    pub fn conversation(&self, system: Option<&str>) -> Vec<Message> {
        let mut messages = Vec::new();
        if let Some(s) = system.filter(|s| !s.trim().is_empty())
            && !self.messages.iter().any(|m| m.role == Role::System)
        {
            messages.push(Message::system(s));
        }
        messages.extend(self.messages.iter().cloned());
        messages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> PathBuf {
        PathBuf::from("cases.x")
    }

    #[test]
    fn jsonl_prompts_chat_logs_and_bad_lines() {
        let text = r#"{"id":"q1","category":"facts","prompt":"Capital of France?","expected":"Paris","evaluators":[{"kind":"contains","value":"Paris"}]}
{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"},{"role":"user","content":"Bye?"}]}
this is not json
{"prompt":""}
{"messages":[{"role":"user","content":"Q"},{"role":"assistant","content":"A"}]}
{"prompt":"x","colour":"red"}
"#;
        let set = parse_jsonl(text, &p());
        assert_eq!(set.cases.len(), 4, "{:?}", set.errors);
        assert_eq!(set.cases[0].id, "q1");
        assert_eq!(set.cases[0].expected.as_deref(), Some("Paris"));
        assert_eq!(set.cases[0].evaluators.len(), 1);
        assert_eq!(set.cases[1].id, "line-2");
        assert_eq!(set.cases[1].messages.len(), 4);
        assert_eq!(set.cases[1].prompt(), "Bye?");
        // A trailing assistant reply is asked for again, and kept as the reference answer.
        assert_eq!(set.cases[2].messages, vec![Message::user("Q")]);
        assert_eq!(set.cases[2].reference.as_deref(), Some("A"));
        // An unknown field is ignored and named once for the file.
        assert_eq!(set.cases[3].prompt(), "x");
        assert_eq!(set.ignored.iter().collect::<Vec<_>>(), ["colour"]);
        let lines: Vec<usize> = set.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4]);
        assert!(set.errors[0].to_string().starts_with("cases.x:3: not a case"));
        let warning = set.ignored_warning(&p()).unwrap();
        assert!(warning.contains("cases.x") && warning.contains("colour") && warning.contains("--strict"), "{warning}");
        let many: String = (0..100).map(|i| format!("{{\"prompt\":\"x\",\"k{i:03}\":1}}\n")).collect();
        let warning = parse_jsonl(&many, &p()).ignored_warning(&p()).unwrap();
        assert!(warning.contains("k011") && !warning.contains("k012") && warning.contains("and 88 more"), "{warning}");
    }

    #[test]
    fn logged_request_bodies_evals_samples_and_their_bad_lines() {
        let text = r#"{"model":"gpt-4o","messages":[{"role":"developer","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Weather"},{"type":"text","text":"in Paris?"}]}],"temperature":0.2,"max_completion_tokens":300,"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}],"tool_choice":"auto","metadata":{"user":"u1"},"stream":true}
{"input":[{"role":"system","content":"Answer with a number."},{"role":"user","content":"2+2?"}],"ideal":"4"}
{"input":"Name a primary colour.","ideal":["red","blue","yellow"]}
{"messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},{"type":"input_audio","input_audio":{"data":"x"}}]}]}
{"input":"x","prompt":"y"}
{"prompt":"x","ideal":3}
{"prompt":"x","temperature":7}
{"prompt":"x","max_tokens":0,"turns":["fine"]}
{"messages":[{"role":"user","content":[{"text":"no type"}]}]}
[1,2]
"#;
        let set = parse_jsonl(text, &p());
        assert_eq!(set.cases.len(), 3, "{:?}", set.errors);
        let logged = &set.cases[0];
        assert_eq!(logged.messages[0], Message::system("Be brief."), "developer is the system role");
        assert_eq!(logged.prompt(), "Weather\nin Paris?", "text parts are joined");
        assert_eq!((logged.temperature, logged.max_tokens), (Some(0.2), Some(300)));
        assert_eq!(logged.tools.as_ref().map(|t| t.tools.len()), Some(1));
        let names: Vec<&str> = set.ignored.iter().map(String::as_str).collect();
        assert_eq!(names, ["metadata", "model", "stream"]);
        // OpenAI evals: `input` is the conversation, `ideal` what the answer should contain.
        assert_eq!(set.cases[1].messages.len(), 2);
        assert_eq!(set.cases[1].expected.as_deref(), Some("4"));
        assert_eq!(set.cases[2].prompt(), "Name a primary colour.");
        assert_eq!(set.cases[2].ideal_any, ["red", "blue", "yellow"]);
        let ideal = set.cases[2].evaluators_with(&[], Path::new("."));
        assert_eq!(ideal.len(), 1);
        let lines: Vec<usize> = set.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![4, 5, 6, 7, 8, 9, 10]);
        let message = |line: usize| &set.errors.iter().find(|e| e.line == line).unwrap().message;
        assert!(message(4).contains("message 1") && message(4).contains("\"input_audio\""), "{}", message(4));
        assert!(message(5).contains("not both"));
        assert!(message(6).contains("\"ideal\""));
        assert!(message(7).contains("temperature"));
        assert!(message(8).contains("max_tokens"));
        assert!(message(9).contains("without a \"type\""));
        assert!(message(10).contains("JSON object"));
    }

    #[test]
    fn images_and_files_as_parts_lists_and_urls_with_their_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("img")).unwrap();
        std::fs::write(dir.path().join("img/dot.png"), crate::provider::attach::tests::PNG).unwrap();
        std::fs::write(dir.path().join("memo.pdf"), "%PDF-1.4\n%%EOF\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
        let file = dir.path().join("cases.jsonl");
        let text = r#"{"prompt":"What is it?","images":["img/dot.png","https://example.com/cat.jpg"],"files":["memo.pdf"]}
{"messages":[{"role":"user","content":[{"type":"text","text":"Compare"},{"type":"image_url","image_url":{"url":"img/dot.png"}},{"type":"input_image","image_url":"https://x/y.png"},{"type":"file","path":"memo.pdf"},{"type":"text","text":"them."}]}]}
{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"file","file":{"filename":"m.pdf","file_data":"data:application/pdf;base64,JVBERi0xLjQKJSVFT0YK"}}]}]}
{"images":["img/dot.png"]}
{"prompt":"x","images":["img/missing.png"]}
{"prompt":"x","images":["notes.txt"]}
{"prompt":"x","images":["memo.pdf"]}
{"messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"img/dot.png"}}]},{"role":"user","content":"x"}]}
{"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-abc"}}]}]}
"#;
        std::fs::write(&file, text).unwrap();
        let set = load(&file).unwrap();
        assert_eq!(set.cases.len(), 3, "{:?}", set.errors);
        let names = |c: &Case| -> Vec<String> {
            c.messages.iter().flat_map(|m| &m.attachments).map(|a| a.name.clone()).collect()
        };
        assert_eq!(names(&set.cases[0]), ["dot.png", "https://example.com/cat.jpg", "memo.pdf"]);
        assert_eq!(set.cases[0].prompt(), "What is it?");
        assert_eq!(names(&set.cases[1]), ["dot.png", "https://x/y.png", "memo.pdf"]);
        assert_eq!(set.cases[1].prompt(), "Compare\nthem.", "the text parts, joined");
        let logged = &set.cases[2].messages[0].attachments[0];
        assert_eq!((logged.image, logged.bytes), (false, 15), "a logged file's data is read");
        let lines: Vec<usize> = set.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![4, 5, 6, 7, 8, 9]);
        let message = |line: usize| &set.errors.iter().find(|e| e.line == line).unwrap().message;
        assert!(message(4).contains("missing \"prompt\""), "{}", message(4));
        assert!(message(5).contains("missing.png"), "{}", message(5));
        assert!(message(6).contains("notes.txt: not a PNG"), "{}", message(6));
        assert!(message(7).contains("memo.pdf is a PDF, not an image"), "{}", message(7));
        assert!(message(8).contains("message 1: images and files go in user turns"), "{}", message(8));
        assert!(message(9).contains("file_id"), "{}", message(9));
    }

    #[test]
    fn schemas_inline_from_files_and_from_logged_response_formats() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("city.json"), r#"{"type":"object","required":["city"]}"#).unwrap();
        let file = dir.path().join("cases.jsonl");
        let text = r#"{"prompt":"Oslo?","schema":{"type":"object","properties":{"city":{"type":"string"}}},"schema_name":"city"}
{"prompt":"Oslo?","schema":"city.json"}
{"model":"gpt-4o","messages":[{"role":"user","content":"Oslo?"}],"response_format":{"type":"json_schema","json_schema":{"name":"facts","schema":{"type":"object"},"strict":true}}}
{"messages":[{"role":"user","content":"Oslo?"}],"response_format":{"type":"json_schema","json_schema":{"name":"facts","schema":{"type":"object"}}}}
{"messages":[{"role":"user","content":"Oslo?"}],"response_format":{"type":"json_object"}}
{"prompt":"x","schema_name":"s"}
{"prompt":"x","schema":"missing.json"}
{"prompt":"x","schema":{"type":"object"},"schema_name":"has space"}
{"prompt":"x","schema":{"type":"object"},"schema_name":"f","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}
{"prompt":"x","schema":{"type":"object"},"response_format":{"type":"json_schema","json_schema":{"schema":{}}}}
"#;
        std::fs::write(&file, text).unwrap();
        let set = load(&file).unwrap();
        assert_eq!(set.cases.len(), 5, "{:?}", set.errors);
        let s = |i: usize| set.cases[i].schema.as_ref().unwrap();
        assert_eq!((s(0).name.as_str(), s(0).strict), ("city", true));
        assert_eq!(s(1).schema, serde_json::json!({"type":"object","required":["city"]}), "read beside the case file");
        assert_eq!(s(1).name, "response");
        assert_eq!((s(2).name.as_str(), s(2).strict), ("facts", true));
        assert!(!s(3).strict, "a logged json_schema without strict is not strict (OpenAI's default)");
        assert!(set.cases[4].schema.is_none());
        assert!(set.ignored.iter().any(|f| f.starts_with("response_format")), "{:?}", set.ignored);
        let lines: Vec<usize> = set.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![6, 7, 8, 9, 10]);
        let message = |line: usize| &set.errors.iter().find(|e| e.line == line).unwrap().message;
        assert!(message(6).contains("need a \"schema\""), "{}", message(6));
        assert!(message(7).contains("missing.json"), "{}", message(7));
        assert!(message(8).contains("schema_name"), "{}", message(8));
        assert!(message(9).contains("a tool is named \"f\""), "{}", message(9));
        assert!(message(10).contains("not both"), "{}", message(10));

        // The case's schema goes into the request, replacing the model's, and is checked by an
        // automatic `schema` evaluator on the whole answer.
        let mut spec =
            crate::config::ModelSpec::new("m", "openai", crate::provider::WireFormat::OpenAi, "m", "http://x");
        spec.schema = Some(s(1).clone());
        let mut req = crate::engine::chat_request(&spec, vec![Message::user("x")]);
        set.cases[0].apply_to(&mut req);
        assert_eq!(req.schema.as_ref().map(|s| s.name.as_str()), Some("city"));
        let evals = set.cases[0].evaluators_with(&[], dir.path());
        assert_eq!(evals.len(), 1);
        assert_eq!(evals[0].name(), "schema");
        let result = |output: &str| crate::eval::evaluate(&evals[0], output);
        assert_eq!(result("{\"city\": \"Oslo\"}").passed, Some(true));
        assert_eq!(result("Here: {\"city\": \"Oslo\"}").passed, Some(false), "structured output is the whole answer");
        assert_eq!(result("{\"city\": 5}").passed, Some(false));
    }

    #[test]
    fn follow_up_turns() {
        let set = parse_jsonl(
            "{\"prompt\":\"My name is Priya.\",\"turns\":[\"What is it?\",\"Spell it.\"]}\n{\"prompt\":\"x\",\"turns\":[\" \"]}\n",
            &p(),
        );
        assert_eq!(set.cases[0].turns, ["What is it?", "Spell it."]);
        assert_eq!(set.errors[0].line, 2);
        assert!(set.errors[0].message.contains("follow-up 1 is empty"), "{}", set.errors[0].message);
    }

    #[test]
    fn a_case_replaces_the_models_tools_and_sampling_settings() {
        let set = parse_jsonl(r#"{"prompt":"x","temperature":0,"max_tokens":64}"#, &p());
        let spec = crate::config::ModelSpec::new("m", "openai", crate::provider::WireFormat::OpenAi, "m", "http://x");
        let mut req = crate::engine::chat_request(&spec, vec![Message::user("x")]);
        req.temperature = Some(0.9);
        set.cases[0].apply_to(&mut req);
        assert_eq!((req.temperature, req.max_tokens), (Some(0.0), Some(64)));
        let plain = parse_jsonl(r#"{"prompt":"x"}"#, &p());
        plain.cases[0].apply_to(&mut req);
        assert_eq!((req.temperature, req.max_tokens), (Some(0.0), Some(64)), "a case without them changes nothing");
    }

    #[test]
    fn cases_carry_tools_in_every_format() {
        let text = r#"{"id":"w","prompt":"Weather in Paris?","tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],"tool_choice":"required"}
{"id":"bad","prompt":"x","tools":[{"type":"function","function":{"name":"a b"}}]}
{"id":"plain","prompt":"Hi"}
"#;
        let set = parse_jsonl(text, &p());
        assert_eq!(set.cases.len(), 2, "{:?}", set.errors);
        let t = set.cases[0].tools.as_ref().unwrap();
        assert_eq!(t.tools[0].name, "get_weather");
        assert_eq!(t.choice, Some(crate::provider::tools::ToolChoice::Required));
        assert_eq!(set.cases[1].tools, None);
        assert!(set.errors[0].message.contains("tools[0]") && set.errors[0].line == 2, "{:?}", set.errors);

        let toml = "[[cases]]\nprompt = \"Sum 2 and 3\"\ntool_choice = \"add\"\n[[cases.tools]]\nname = \"add\"\nparameters = { type = \"object\", properties = { a = { type = \"number\" } } }\n";
        let set = parse_toml(toml, &p()).unwrap();
        assert_eq!(set.errors, vec![]);
        assert_eq!(set.cases[0].tools.as_ref().unwrap().tools[0].parameters["properties"]["a"]["type"], "number");

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.json"), r#"{"tools":[{"name":"lookup"}],"tool_choice":"auto"}"#).unwrap();
        let csv = dir.path().join("c.csv");
        std::fs::write(&csv, "prompt,tools_file\nFind it,t.json\nMissing,nope.json\n").unwrap();
        let set = load(&csv).unwrap();
        assert_eq!(set.cases.len(), 1, "{:?}", set.errors);
        assert_eq!(set.cases[0].tools.as_ref().unwrap().tools[0].name, "lookup");
        assert!(set.errors[0].message.contains("nope.json"), "{:?}", set.errors);
    }

    #[test]
    fn a_conversation_can_continue_from_a_tool_result() {
        let text = r#"{"id":"step2","messages":[{"role":"user","content":"Weather in Paris?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"18 C, sunny"}]}
{"id":"orphan","messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"nope","content":"y"}]}
{"id":"noid","messages":[{"role":"user","content":"x"},{"role":"tool","content":"y"}]}
"#;
        let set = parse_jsonl(text, &p());
        assert_eq!(set.cases.len(), 1, "{:?}", set.errors);
        let m = &set.cases[0].messages;
        assert_eq!(m.len(), 3);
        assert_eq!(m[2].name.as_deref(), Some("get_weather"), "the result knows its function");
        assert_eq!(set.cases[0].prompt(), "Weather in Paris?");
        assert!(set.errors[0].message.contains("no earlier assistant turn made the call \"nope\""), "{:?}", set.errors);
        assert!(set.errors[1].message.contains("tool_call_id"), "{:?}", set.errors);
    }

    #[test]
    fn toml_cases_keep_going_past_a_bad_one() {
        let text = "[[cases]]\nid = \"a\"\nprompt = \"One\"\nsystem = \"S\"\ntags = [\"t\"]\n\n[[cases]]\nid = \"b\"\n\n[[cases]]\nprompt = \"Three\"\ncategory = \"c\"\n";
        let set = parse_toml(text, &p()).unwrap();
        assert_eq!(set.cases.len(), 2);
        assert_eq!(set.cases[0].messages, vec![Message::system("S"), Message::user("One")]);
        assert_eq!(set.cases[1].id, "case-3");
        assert_eq!(set.errors.len(), 1);
        assert_eq!(set.errors[0].line, 7);
        assert!(parse_toml("[[cases]\n", &p()).unwrap_err().to_string().starts_with("cases.x:1:"));
    }

    #[test]
    fn csv_with_quotes_and_bad_rows() {
        let text =
            "prompt,expected,category\n\"Say \"\"hi\"\", please\",hi,greet\nWhat is 2+2?,4,math\n,empty,x\nonly,two\n";
        let set = parse_csv(text, &p()).unwrap();
        assert_eq!(set.cases.len(), 2, "{:?}", set.errors);
        assert_eq!(set.cases[0].prompt(), "Say \"hi\", please");
        assert_eq!(set.cases[1].category.as_deref(), Some("math"));
        assert_eq!(set.cases[1].id, "row-3");
        assert_eq!(set.errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![4, 5]);
        assert!(parse_csv("question\nx\n", &p()).unwrap_err().to_string().contains("\"prompt\" column"));
    }

    #[test]
    fn load_picks_format_and_reports_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.jsonl");
        std::fs::write(&f, "{\"id\":\"a\",\"prompt\":\"1\"}\n{\"id\":\"a\",\"prompt\":\"2\"}\n").unwrap();
        let set = load(&f).unwrap();
        assert_eq!(set.cases.len(), 1);
        assert!(set.errors[0].message.contains("duplicate"));
        assert_eq!(set.errors[0].line, 2);
        assert!(load(&dir.path().join("c.txt")).is_err());
    }

    #[test]
    fn case_evaluators_merge_by_name_and_expected_becomes_contains() {
        let case = |evaluators: Vec<EvaluatorSpec>, expected: Option<&str>| Case {
            id: "c".into(),
            category: None,
            tags: vec![],
            messages: vec![Message::user("q")],
            expected: expected.map(String::from),
            evaluators,
            origin: "x:1".into(),
            tools: None,
            expected_tool: None,
            ..Default::default()
        };
        let session: Vec<EvaluatorSpec> =
            vec![serde_json::from_str(r#"{"kind":"length","name":"short","max_chars":10}"#).unwrap()];
        let dir = Path::new(".");
        let evs = case(vec![], Some("Paris")).evaluators_with(&session, dir);
        assert_eq!(evs.iter().map(|e| e.name()).collect::<Vec<_>>(), vec!["short", "expected"]);
        assert_eq!(crate::eval::evaluate(&evs[1], "it is paris").passed, Some(true));
        let own: EvaluatorSpec = serde_json::from_str(r#"{"kind":"length","name":"short","max_chars":99}"#).unwrap();
        let evs = case(vec![own], Some("Paris")).evaluators_with(&session, dir);
        assert_eq!(evs.len(), 1, "the case's own evaluator replaces the session's of the same name");
        assert_eq!(crate::eval::evaluate(&evs[0], &"x".repeat(50)).passed, Some(true));
    }

    #[test]
    fn conversation_keeps_a_cases_own_system_prompt() {
        let mut c = Case {
            id: "c".into(),
            category: None,
            tags: vec![],
            messages: vec![Message::user("q")],
            expected: None,
            evaluators: vec![],
            origin: "x:1".into(),
            tools: None,
            expected_tool: None,
            ..Default::default()
        };
        assert_eq!(c.conversation(Some("S"))[0], Message::system("S"));
        c.messages.insert(0, Message::system("own"));
        let conv = c.conversation(Some("S"));
        assert_eq!(conv.len(), 2);
        assert_eq!(conv[0], Message::system("own"));
    }
}

#[cfg(test)]
mod sample_tests {
    use super::*;

    /// Every shipped sample set loads without a single bad case, and every evaluator compiles.
    #[test]
    fn reference_answers_come_from_the_most_specific_field() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("r.jsonl");
        std::fs::write(
            &f,
            "{\"id\":\"a\",\"prompt\":\"p\",\"reference\":\"r1\",\"references\":[\"r2\",\" \"],\"expected\":\"e\"}\n\
             {\"id\":\"b\",\"prompt\":\"p\",\"expected\":\"e\"}\n\
             {\"id\":\"c\",\"input\":[{\"role\":\"user\",\"content\":\"p\"}],\"ideal\":[\"i1\",\"i2\"]}\n\
             {\"id\":\"d\",\"prompt\":\"p\"}\n",
        )
        .unwrap();
        let set = load(&f).unwrap();
        assert!(set.errors.is_empty(), "{:?}", set.errors);
        let answers: Vec<Vec<String>> = set.cases.iter().map(Case::reference_answers).collect();
        // A limit that cannot be met is a load error at its line, not a failure of every answer.
        let bad = dir.path().join("bad.jsonl");
        std::fs::write(&bad, "{\"prompt\":\"p\",\"max_latency_ms\":-5}\n").unwrap();
        let e = &load(&bad).unwrap().errors[0];
        assert_eq!(e.line, 1);
        assert!(e.message.contains("\"max_latency_ms\" must be a number of at least 0"), "{}", e.message);
        assert_eq!(answers, [vec!["r1", "r2"], vec!["e"], vec!["i1", "i2"], vec![]]);
        // A reference metric without references of its own takes the case's; one with its own keeps them.
        let session: Vec<EvaluatorSpec> = vec![
            toml::from_str("kind = \"bleu\"").unwrap(),
            toml::from_str("kind = \"chrf\"\nreferences = [\"own\"]").unwrap(),
        ];
        let evs = set.cases[0].evaluators_with(&session, dir.path());
        let bleu = evs.iter().find(|e| e.name() == "bleu").unwrap();
        assert_eq!(
            crate::eval::evaluate(bleu, "r2").score,
            Some(crate::eval::reference::sentence_bleu("r2", &["r1", "r2"]))
        );
        let chrf = evs.iter().find(|e| e.name() == "chrf").unwrap();
        assert_eq!(crate::eval::evaluate(chrf, "own").score, Some(1.0));
    }

    #[test]
    fn sample_sets_load_cleanly() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-cases");
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !["jsonl", "toml", "csv"].contains(&ext) {
                continue;
            }
            if path.file_name().is_some_and(|n| n == "judging.toml") {
                // A config to run the summaries with, not a case set: it must load as one.
                let config = crate::config::load(Some(&path), &crate::pricing::PriceTable::builtin()).unwrap();
                assert_eq!(config.evaluators.len(), 6);
                assert!(config.embedder.is_some());
                config.check_judges(|j| ["swift-mini", "steady-pro", "deep-think"].contains(&j)).unwrap();
                continue;
            }
            files += 1;
            let set = load(&path).unwrap();
            assert!(set.errors.is_empty(), "{}: {:?}", path.display(), set.errors);
            assert!(set.ignored.is_empty(), "{}: ignored {:?}", path.display(), set.ignored);
            assert!(set.cases.len() >= 15, "{}: only {} cases", path.display(), set.cases.len());
            for case in &set.cases {
                for spec in &case.evaluators {
                    if let Err(e) = spec.compile(&dir) {
                        panic!("{}: case {}: evaluator {}: {e}", path.display(), case.id, spec.name());
                    }
                }
            }
        }
        assert!(files >= 4, "expected the four sample sets");
    }
}
