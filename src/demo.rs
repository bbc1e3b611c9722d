//! The built-in demo: the in-process mock server and the demo models configured against it, so
//! bakeoff works with no keys and no network.

use crate::config::ModelSpec;
use crate::mock::{MockServer, demo_models};
use crate::pricing::Price;

/// Starts the mock server on a free loopback port (on the current tokio runtime).
pub async fn start_server() -> anyhow::Result<MockServer> {
    MockServer::start(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// The demo models, pointed at `server`.
pub fn demo_specs(server: &MockServer) -> Vec<ModelSpec> {
    demo_models()
        .into_iter()
        .map(|d| {
            let provider = format!("demo-{}", d.format.as_str());
            let mut m = ModelSpec::new(d.name, &provider, d.format, d.model_id, &server.base_url(d.format));
            m.price = Some(Price::per_mtok(d.input_per_mtok, d.output_per_mtok));
            m
        })
        .collect()
}

/// The demo's embedder, on `server`: the configured one's API and model id (so its requests take
/// the same path), else an OpenAI-compatible one; no key, the configured price or the demo's.
pub fn embedder(server: &MockServer, configured: Option<&ModelSpec>) -> ModelSpec {
    let (format, model) = match configured {
        Some(c) => (c.format, c.model.as_str()),
        None => (crate::provider::WireFormat::OpenAi, "demo-embed"),
    };
    let provider = format!("demo-{}", format.as_str());
    let name = configured.map_or("demo-embed", |c| c.name.as_str());
    let mut m = ModelSpec::new(name, &provider, format, model, &server.base_url(format));
    m.price = configured.and_then(|c| c.price).or(Some(Price::per_mtok(0.02, 0.0)));
    m
}

/// A demo model's name (they can be named as judges in a config used with `--demo`).
pub fn is_demo_model(name: &str) -> bool {
    demo_models().iter().any(|d| d.name == name)
}

/// The demo models named in `names` (all of them when empty), with an error listing the demo
/// models for a name that is not one.
pub fn pick(server: &MockServer, names: &[String]) -> anyhow::Result<Vec<ModelSpec>> {
    let all = demo_specs(server);
    if names.is_empty() {
        return Ok(all);
    }
    names
        .iter()
        .map(|name| {
            all.iter().find(|m| &m.name == name).cloned().ok_or_else(|| {
                anyhow::anyhow!(
                    "--demo has no model {name:?}; demo models: {}",
                    all.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
                )
            })
        })
        .collect()
}

/// What a good answer to `case` contains, as its checks say it: a refusal where one is expected,
/// the expected answer, the values `contains` and `equals` look for, the plainest text each
/// `regex` matches, and JSON that fits a `json_schema` check's schema (inline, or a file relative
/// to `dir`). `None` when its checks name nothing.
pub fn known_answer(case: &crate::cases::Case, dir: &std::path::Path) -> Option<String> {
    use crate::evaluator_spec::EvaluatorSpec;
    let mut parts: Vec<String> = Vec::new();
    parts.extend(case.expected.iter().map(|e| e.trim().to_string()));
    parts.extend(case.ideal_any.first().cloned());
    // The reference answer that ROUGE, BLEU, chrF and similarity compare with.
    if let Some(r) = case.reference_answers().into_iter().next().map(|r| r.trim().to_string())
        && !parts.contains(&r)
    {
        parts.push(r);
    }
    for spec in &case.evaluators {
        match spec {
            EvaluatorSpec::Contains { value, values, any, .. } => {
                parts.extend(value.clone());
                if *any {
                    parts.extend(values.first().cloned());
                } else {
                    parts.extend(values.iter().cloned());
                }
            }
            EvaluatorSpec::Equals { value, .. } => parts.push(value.clone()),
            // The plainest text the pattern matches, on a line of its own.
            EvaluatorSpec::Regex { pattern, .. } => parts.extend(crate::mock::example::example(pattern)),
            EvaluatorSpec::Refusal { expect: crate::evaluator_spec::Expect::Refuse, .. } => {
                parts.insert(0, "I can't help with that.".to_string())
            }
            EvaluatorSpec::JsonSchema { schema, schema_file, .. } => {
                let schema = match (schema, schema_file) {
                    (Some(s), _) => Some(s.clone()),
                    (None, Some(f)) => {
                        std::fs::read_to_string(dir.join(f)).ok().and_then(|t| serde_json::from_str(&t).ok())
                    }
                    _ => None,
                };
                if let Some(s) = schema {
                    let json = crate::mock::calls::value_for(&s, case.prompt());
                    parts.push(format!("```json\n{json}\n```"));
                }
            }
            _ => {}
        }
    }
    parts.retain(|p| !p.trim().is_empty());
    parts.dedup();
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// Teaches the demo's mock server the known answers of `cases` (see [`MockServer::teach`]), so
/// the demo models pass a case set in proportion to their quality instead of all failing it.
pub fn teach(server: &MockServer, cases: &[crate::cases::Case], dir: &std::path::Path) {
    for c in cases {
        if let Some(answer) = known_answer(c, dir) {
            server.teach_within(c.prompt(), &answer, max_chars(c));
        }
    }
}

/// The tightest length limit the case's checks set, in characters.
fn max_chars(case: &crate::cases::Case) -> Option<usize> {
    use crate::evaluator_spec::EvaluatorSpec;
    case.evaluators
        .iter()
        .filter_map(|e| match e {
            EvaluatorSpec::Length { max_chars, .. } => max_chars.and_then(|m| usize::try_from(m).ok()),
            _ => None,
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cases_known_answer_is_what_its_checks_look_for() {
        let set = crate::cases::parse_jsonl(
            r#"{"prompt":"Capital of France?","expected":"Paris","evaluators":[{"kind":"contains","values":["Paris","France"]}]}
{"prompt":"Extract","evaluators":[{"kind":"json_schema","schema":{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}}]}
{"prompt":"Anything","evaluators":[{"kind":"regex","pattern":"x"}]}"#,
            std::path::Path::new("c.jsonl"),
        );
        let dir = std::path::Path::new(".");
        assert_eq!(known_answer(&set.cases[0], dir).as_deref(), Some("Paris\nFrance"));
        assert_eq!(known_answer(&set.cases[1], dir).as_deref(), Some("```json\n{\"n\":42}\n```"));
        assert_eq!(known_answer(&set.cases[2], dir).as_deref(), Some("x"), "the plainest text the regex matches");
    }
}
