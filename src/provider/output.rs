//! Structured output: a JSON Schema the answer must follow, asked for in each format's own way
//! and checked on the answer.
//!
//! One spelling for users — `schema` (a JSON Schema object), `schema_name`, `schema_strict` —
//! written per format: OpenAI Chat `response_format: {type: json_schema, json_schema: {name,
//! schema, strict}}`, Responses `text.format: {type: json_schema, name, schema, strict}`, Gemini
//! `generationConfig.responseMimeType: application/json` + `responseSchema`, Ollama `format`
//! (the schema), and Anthropic, which has no such field in every model, a forced tool whose
//! `input_schema` is the schema: the answer is that tool call's input, streamed as the answer's
//! text (see [`super::Decoder::answer_in_tool`]).

use serde_json::{Map, Value, json};

/// Where `value` does not fit `validator`: up to three places, `at /path: what`, each cut to
/// `width` characters (the messages quote the value, which may be model output). Shared by tool
/// arguments, structured output and the `json_schema` evaluator.
pub fn schema_problems(validator: &jsonschema::Validator, value: &Value, width: usize) -> Vec<String> {
    validator
        .iter_errors(value)
        .take(3)
        .map(|e| {
            let at = e.instance_path().as_str();
            format!("at {}: {}", if at.is_empty() { "/" } else { at }, super::one_line(&e.to_string(), width))
        })
        .collect()
}

/// The name used when none is given (OpenAI requires one; Anthropic's tool needs one).
pub const DEFAULT_NAME: &str = "response";

/// A JSON Schema the answer must follow.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputSchema {
    /// `[A-Za-z0-9_-]{1,64}`: OpenAI's schema name and Anthropic's tool name.
    pub name: String,
    /// The schema, as the user wrote it (checked locally in full; Gemini gets a subset).
    pub schema: Value,
    /// OpenAI's `strict` (the server enforces the schema; it then needs every property required
    /// and `additionalProperties: false`).
    pub strict: bool,
}

impl OutputSchema {
    /// Checks a schema as users write it: an object that compiles, a name OpenAI and Anthropic
    /// accept.
    pub fn new(name: Option<&str>, schema: Value, strict: bool) -> Result<OutputSchema, String> {
        let name = name.map(str::trim).filter(|n| !n.is_empty()).unwrap_or(DEFAULT_NAME);
        if name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(format!(
                "schema_name {:?}: use 1 to 64 letters, digits, '_' or '-'",
                crate::sanitize::one_line(name)
            ));
        }
        if !schema.is_object() {
            return Err("\"schema\" must be a JSON Schema object (or a path to a JSON file holding one)".into());
        }
        jsonschema::validator_for(&schema).map_err(|e| format!("\"schema\" is not a valid JSON Schema: {e}"))?;
        Ok(OutputSchema { name: name.to_string(), schema, strict })
    }

    /// `schema` as written in a case or a model: an object inline, or a path (relative to
    /// `base_dir`) to a JSON file holding one.
    pub fn read(value: &Value, base_dir: &std::path::Path) -> Result<Value, String> {
        match value {
            Value::Object(_) => Ok(value.clone()),
            Value::String(path) => {
                let path = base_dir.join(path);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read schema file {}: {e}", path.display()))?;
                serde_json::from_str(&text)
                    .map_err(|e| format!("schema file {}:{}:{}: not JSON: {e}", path.display(), e.line(), e.column()))
            }
            _ => Err("\"schema\" is a JSON Schema object or the path of a JSON file holding one".into()),
        }
    }

    /// Whether `answer` — the whole answer, surrounding whitespace aside, as structured output
    /// promises — is JSON that fits the schema. `Err` says what is wrong (up to three places).
    pub fn check(&self, answer: &str) -> Result<(), String> {
        let value: Value = serde_json::from_str(answer.trim()).map_err(|e| {
            if answer.trim().is_empty() { "the answer is empty".to_string() } else { format!("not JSON: {e}") }
        })?;
        let validator =
            jsonschema::validator_for(&self.schema).map_err(|e| format!("the schema does not compile: {e}"))?;
        let errors = schema_problems(&validator, &value, 100);
        if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
    }

    /// OpenAI Chat Completions (and every compatible server, Ollama's /v1 included).
    pub fn openai_chat(&self, body: &mut Map<String, Value>) {
        body.insert(
            "response_format".into(),
            json!({"type": "json_schema", "json_schema": {"name": self.name, "schema": self.schema, "strict": self.strict}}),
        );
    }

    /// OpenAI Responses: `text.format`.
    pub fn responses(&self, body: &mut Map<String, Value>) {
        let format = json!({"type": "json_schema", "name": self.name, "schema": self.schema, "strict": self.strict});
        match body.get_mut("text") {
            Some(Value::Object(text)) => {
                text.insert("format".into(), format);
            }
            _ => {
                body.insert("text".into(), json!({"format": format}));
            }
        }
    }

    /// Gemini: into `generationConfig`. `responseSchema` is an OpenAPI 3.0 subset; see
    /// [`gemini_schema`].
    pub fn gemini(&self, generation_config: &mut Map<String, Value>) {
        generation_config.insert("responseMimeType".into(), json!("application/json"));
        generation_config.insert("responseSchema".into(), gemini_schema(&self.schema));
    }

    /// Ollama's native API: `format` is the schema itself.
    pub fn ollama(&self, body: &mut Map<String, Value>) {
        body.insert("format".into(), self.schema.clone());
    }

    /// Anthropic: one more tool, `input_schema` the schema, and the model made to call it —
    /// by name when it is the only tool; with other tools offered, `any` (some tool must be
    /// called: a real one, or the answer), unless the request names the tool to call. With
    /// extended `thinking`, which the API allows only with `auto`, the choice is left to the model
    /// (the tool's description asks for it).
    pub fn anthropic(&self, body: &mut Map<String, Value>, thinking: bool) {
        let tool = json!({
            "name": self.name,
            "description": "Give your final answer by calling this tool: its input is the answer, following the schema.",
            "input_schema": self.schema,
        });
        let others = match body.get_mut("tools") {
            Some(Value::Array(tools)) => {
                tools.push(tool);
                true
            }
            _ => {
                body.insert("tools".into(), Value::Array(vec![tool]));
                false
            }
        };
        let named = body.get("tool_choice").and_then(|c| c.get("type")).and_then(Value::as_str) == Some("tool");
        if thinking {
            body.insert("tool_choice".into(), json!({"type": "auto"}));
        } else if !others {
            body.insert("tool_choice".into(), json!({"type": "tool", "name": self.name}));
        } else if !named {
            body.insert("tool_choice".into(), json!({"type": "any"}));
        }
    }
}

/// Schema keywords Gemini's `Schema` object has (an OpenAPI 3.0 subset). Its REST API refuses
/// a field it does not know (`additionalProperties`, `$schema`, …) with a 400, so the others
/// are left out; the answer is still checked against the whole schema here.
const GEMINI_KEYWORDS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];

/// A JSON Schema as Gemini's `responseSchema` takes it: the keywords it knows, kept at every
/// level; `type: [T, "null"]` becomes `type: T` + `nullable: true`; `const` becomes a one-value
/// `enum`.
pub fn gemini_schema(schema: &Value) -> Value {
    let Value::Object(o) = schema else { return schema.clone() };
    let mut out = Map::new();
    for (k, v) in o {
        match k.as_str() {
            "type" => match v {
                Value::Array(types) => {
                    let real: Vec<&Value> = types.iter().filter(|t| t.as_str() != Some("null")).collect();
                    if real.len() < types.len() {
                        out.insert("nullable".into(), json!(true));
                    }
                    if let Some(t) = real.first() {
                        out.insert("type".into(), (*t).clone());
                    }
                }
                _ => {
                    out.insert(k.clone(), v.clone());
                }
            },
            "const" => {
                out.insert("enum".into(), json!([v]));
            }
            "properties" => {
                let props: Map<String, Value> =
                    v.as_object().into_iter().flatten().map(|(name, s)| (name.clone(), gemini_schema(s))).collect();
                out.insert(k.clone(), Value::Object(props));
            }
            "items" => {
                out.insert(k.clone(), gemini_schema(v));
            }
            "anyOf" => {
                let options: Vec<Value> = v.as_array().into_iter().flatten().map(gemini_schema).collect();
                out.insert(k.clone(), Value::Array(options));
            }
            _ if GEMINI_KEYWORDS.contains(&k.as_str()) => {
                out.insert(k.clone(), v.clone());
            }
            _ => {}
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn city() -> OutputSchema {
        OutputSchema::new(
            Some("city"),
            json!({
                "type": "object",
                "properties": {"name": {"type": "string"}, "population": {"type": ["integer", "null"]}},
                "required": ["name", "population"],
                "additionalProperties": false,
            }),
            true,
        )
        .unwrap()
    }

    #[test]
    fn names_and_schemas_are_checked() {
        assert_eq!(OutputSchema::new(None, json!({"type": "object"}), true).unwrap().name, "response");
        assert!(OutputSchema::new(Some("a b"), json!({}), true).unwrap_err().contains("schema_name"));
        assert!(OutputSchema::new(Some(&"x".repeat(65)), json!({}), true).is_err());
        assert!(OutputSchema::new(None, json!("object"), true).unwrap_err().contains("JSON Schema object"));
        assert!(OutputSchema::new(None, json!({"type": 5}), true).unwrap_err().contains("not a valid JSON Schema"));
    }

    #[test]
    fn the_whole_answer_must_be_json_that_fits() {
        let s = city();
        assert_eq!(s.check(" {\"name\": \"Oslo\", \"population\": 709000}\n"), Ok(()));
        assert_eq!(s.check("{\"name\": \"Oslo\", \"population\": null}"), Ok(()));
        let missing = s.check("{\"name\": \"Oslo\"}").unwrap_err();
        assert!(missing.contains("population"), "{missing}");
        assert!(s.check("Sure! {\"name\": \"Oslo\", \"population\": 1}").unwrap_err().starts_with("not JSON"));
        assert!(s.check("```json\n{\"name\": \"Oslo\", \"population\": 1}\n```").is_err());
        assert_eq!(s.check("  ").unwrap_err(), "the answer is empty");
    }

    #[test]
    fn each_format_gets_its_own_spelling() {
        let s = city();
        let mut chat = Map::new();
        s.openai_chat(&mut chat);
        assert_eq!(chat["response_format"]["type"], "json_schema");
        assert_eq!(chat["response_format"]["json_schema"]["name"], "city");
        assert_eq!(chat["response_format"]["json_schema"]["strict"], true);
        assert_eq!(chat["response_format"]["json_schema"]["schema"], s.schema);

        let mut responses = Map::new();
        responses.insert("text".into(), json!({"verbosity": "low"}));
        s.responses(&mut responses);
        assert_eq!(responses["text"]["verbosity"], "low", "other text settings stay");
        assert_eq!(responses["text"]["format"]["type"], "json_schema");
        assert_eq!(responses["text"]["format"]["name"], "city");
        assert_eq!(responses["text"]["format"]["schema"], s.schema);

        let mut config = Map::new();
        s.gemini(&mut config);
        assert_eq!(config["responseMimeType"], "application/json");
        assert_eq!(
            config["responseSchema"],
            json!({
                "type": "object",
                "properties": {"name": {"type": "string"}, "population": {"type": "integer", "nullable": true}},
                "required": ["name", "population"],
            }),
            "additionalProperties is not a Gemini schema field"
        );

        let mut ollama = Map::new();
        s.ollama(&mut ollama);
        assert_eq!(ollama["format"], s.schema);
    }

    #[test]
    fn anthropic_gets_a_forced_tool() {
        let s = city();
        let mut thinking = Map::new();
        s.anthropic(&mut thinking, true);
        assert_eq!(thinking["tool_choice"], json!({"type": "auto"}), "thinking refuses forced tools");

        let mut alone = Map::new();
        s.anthropic(&mut alone, false);
        assert_eq!(alone["tools"][0]["name"], "city");
        assert_eq!(alone["tools"][0]["input_schema"], s.schema);
        assert_eq!(alone["tool_choice"], json!({"type": "tool", "name": "city"}));

        let mut with_tools = Map::new();
        with_tools.insert("tools".into(), json!([{"name": "lookup", "input_schema": {"type": "object"}}]));
        with_tools.insert("tool_choice".into(), json!({"type": "auto"}));
        s.anthropic(&mut with_tools, false);
        assert_eq!(with_tools["tools"].as_array().unwrap().len(), 2);
        assert_eq!(with_tools["tool_choice"], json!({"type": "any"}));

        let mut named = Map::new();
        named.insert("tools".into(), json!([{"name": "lookup", "input_schema": {"type": "object"}}]));
        named.insert("tool_choice".into(), json!({"type": "tool", "name": "lookup"}));
        s.anthropic(&mut named, false);
        assert_eq!(named["tool_choice"], json!({"type": "tool", "name": "lookup"}));
    }

    #[test]
    fn gemini_schema_keeps_nested_known_fields_only() {
        let s = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "tags": {"type": "array", "items": {"type": "string", "const": "x", "additionalProperties": false}, "minItems": 1},
                "kind": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            },
        });
        assert_eq!(
            gemini_schema(&s),
            json!({
                "type": "object",
                "properties": {
                    "tags": {"type": "array", "items": {"type": "string", "enum": ["x"]}, "minItems": 1},
                    "kind": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                },
            })
        );
    }
}
