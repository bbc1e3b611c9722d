//! Tool (function) definitions: one spelling for users, read leniently, written per format.
//!
//! Users write OpenAI's function tool — `{"type": "function", "function": {"name",
//! "description", "parameters"}}` — or the flat shape of the Responses API (`{"type":
//! "function", "name", …}`) or Anthropic's (`{"name", "input_schema"}`); `tool_choice` is
//! `auto`, `none`, `required` or a tool's name (or OpenAI's `{"type": "function", …}` object).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// A function the model may call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The arguments' JSON Schema (an object schema).
    pub parameters: Value,
}

/// Whether and which tool the model must call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    Auto,
    None,
    Required,
    /// This function and no other.
    Function(String),
}

/// The tools offered with a request, and the choice.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Tools {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<ToolChoice>,
}

impl Tools {
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty() && self.choice.is_none()
    }

    /// The tool named `name`.
    pub fn get(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.name == name)
    }

    /// Reads `tools` (an array) and `tool_choice` as users write them.
    pub fn parse(tools: Option<&Value>, choice: Option<&Value>) -> Result<Tools, String> {
        let list = match tools {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, t)| tool(t).map_err(|e| format!("tools[{i}]: {e}")))
                .collect::<Result<Vec<_>, _>>()?,
            Some(other) => return Err(format!("tools must be an array of tools, not {}", kind(other))),
        };
        for (i, t) in list.iter().enumerate() {
            if list[..i].iter().any(|u| u.name == t.name) {
                return Err(format!("tools: {:?} is defined twice", t.name));
            }
        }
        let choice = match choice {
            None | Some(Value::Null) => None,
            Some(v) => Some(tool_choice(v)?),
        };
        if let Some(ToolChoice::Function(name)) = &choice
            && !list.iter().any(|t| &t.name == name)
        {
            return Err(format!("tool_choice names {name:?}, which is not among the tools"));
        }
        Ok(Tools { tools: list, choice })
    }

    /// A tools file: a JSON array of tools, or `{"tools": […], "tool_choice": …}`. Errors name
    /// the file and the position.
    pub fn from_file(path: &std::path::Path) -> Result<Tools, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read tools file {}: {e}", path.display()))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{}:{}:{}: not JSON: {e}", path.display(), e.line(), e.column()))?;
        let parsed = match &v {
            Value::Array(_) => Tools::parse(Some(&v), None),
            Value::Object(o) => {
                if let Some(k) = o.keys().find(|k| !matches!(k.as_str(), "tools" | "tool_choice")) {
                    return Err(format!(
                        "{}: unknown field {k:?} (expected \"tools\" and \"tool_choice\")",
                        path.display()
                    ));
                }
                Tools::parse(o.get("tools"), o.get("tool_choice"))
            }
            other => Err(format!("expected an array of tools or an object with \"tools\", not {}", kind(other))),
        };
        parsed.map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Marks each call's arguments valid or not against the offered tool's schema (a call to a
    /// tool that was not offered, or with arguments that do not parse, is not valid). Leaves
    /// them unmarked when no tools were offered.
    pub fn check_calls(&self, calls: &mut [super::ToolCall]) {
        if self.tools.is_empty() {
            return;
        }
        for c in calls {
            let problem = self.call_problem(c);
            c.arguments_valid = Some(problem.is_none());
            c.schema_error = problem;
        }
    }

    /// What is wrong with a call against these tools: arguments that do not parse, a tool that
    /// was not offered (when any was), arguments that do not fit its schema (up to three
    /// places). One line; the model's values in it are cut short.
    pub fn call_problem(&self, c: &super::ToolCall) -> Option<String> {
        if let Some(e) = &c.arguments_error {
            return Some(e.clone());
        }
        let tool = match self.get(&c.name) {
            Some(t) => t,
            None if self.tools.is_empty() => return None,
            None => return Some(format!("{:?} was not offered", super::one_line(&c.name, 64))),
        };
        let validator = match jsonschema::validator_for(&tool.parameters) {
            Ok(v) => v,
            Err(e) => {
                return Some(format!("the tool's schema does not compile: {}", super::one_line(&e.to_string(), 100)));
            }
        };
        let errors = super::output::schema_problems(&validator, &c.arguments, 100);
        (!errors.is_empty()).then(|| format!("arguments do not fit the tool's schema: {}", errors.join("; ")))
    }

    /// OpenAI Chat Completions (and Ollama): `tools` of `{type: function, function: {…}}`.
    pub fn openai_chat(&self, body: &mut Map<String, Value>) {
        if !self.tools.is_empty() {
            let tools: Vec<Value> =
                self.tools.iter().map(|t| json!({"type": "function", "function": function(t, "parameters")})).collect();
            body.insert("tools".into(), Value::Array(tools));
        }
        if let Some(c) = &self.choice {
            body.insert(
                "tool_choice".into(),
                match c {
                    ToolChoice::Function(name) => json!({"type": "function", "function": {"name": name}}),
                    other => json!(other.word()),
                },
            );
        }
    }

    /// The Responses API: flat `{type: function, name, …}` tools.
    pub fn responses(&self, body: &mut Map<String, Value>) {
        if !self.tools.is_empty() {
            let tools: Vec<Value> = self
                .tools
                .iter()
                .map(|t| {
                    let mut f = function(t, "parameters");
                    f.insert("type".into(), json!("function"));
                    Value::Object(f)
                })
                .collect();
            body.insert("tools".into(), Value::Array(tools));
        }
        if let Some(c) = &self.choice {
            body.insert(
                "tool_choice".into(),
                match c {
                    ToolChoice::Function(name) => json!({"type": "function", "name": name}),
                    other => json!(other.word()),
                },
            );
        }
    }

    /// Anthropic Messages: `{name, description, input_schema}`; `tool_choice` `{type: auto | any
    /// | none | tool}`.
    pub fn anthropic(&self, body: &mut Map<String, Value>) {
        if !self.tools.is_empty() {
            let tools: Vec<Value> = self.tools.iter().map(|t| Value::Object(function(t, "input_schema"))).collect();
            body.insert("tools".into(), Value::Array(tools));
        }
        if let Some(c) = &self.choice {
            body.insert(
                "tool_choice".into(),
                match c {
                    ToolChoice::Auto => json!({"type": "auto"}),
                    ToolChoice::None => json!({"type": "none"}),
                    ToolChoice::Required => json!({"type": "any"}),
                    ToolChoice::Function(name) => json!({"type": "tool", "name": name}),
                },
            );
        }
    }

    /// Gemini: `tools: [{functionDeclarations: […]}]` and `toolConfig.functionCallingConfig`.
    pub fn gemini(&self, body: &mut Map<String, Value>) {
        if !self.tools.is_empty() {
            let decls: Vec<Value> = self.tools.iter().map(|t| Value::Object(function(t, "parameters"))).collect();
            body.insert("tools".into(), json!([{"functionDeclarations": decls}]));
        }
        if let Some(c) = &self.choice {
            let config = match c {
                ToolChoice::Auto => json!({"mode": "AUTO"}),
                ToolChoice::None => json!({"mode": "NONE"}),
                ToolChoice::Required => json!({"mode": "ANY"}),
                ToolChoice::Function(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
            };
            body.insert("toolConfig".into(), json!({"functionCallingConfig": config}));
        }
    }
}

impl ToolChoice {
    /// `auto`, `none`, `required` (a function's name for [`ToolChoice::Function`]).
    pub fn word(&self) -> &str {
        match self {
            ToolChoice::Auto => "auto",
            ToolChoice::None => "none",
            ToolChoice::Required => "required",
            ToolChoice::Function(name) => name,
        }
    }
}

/// `{name, description?, <schema key>: parameters}`.
fn function(t: &Tool, schema_key: &str) -> Map<String, Value> {
    let mut f = Map::new();
    f.insert("name".into(), json!(t.name));
    if let Some(d) = &t.description {
        f.insert("description".into(), json!(d));
    }
    f.insert(schema_key.into(), t.parameters.clone());
    f
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One tool in any of the accepted shapes.
fn tool(v: &Value) -> Result<Tool, String> {
    let Value::Object(o) = v else { return Err(format!("a tool is an object, not {}", kind(v))) };
    if let Some(t) = o.get("type").and_then(Value::as_str).filter(|t| *t != "function") {
        return Err(format!("type {t:?} is not supported (only function tools)"));
    }
    // OpenAI nests the function; the Responses API and Anthropic do not.
    let f = match o.get("function") {
        Some(Value::Object(f)) => f,
        Some(other) => return Err(format!("\"function\" must be an object, not {}", kind(other))),
        None => o,
    };
    let name = match f.get("name") {
        Some(Value::String(n)) if valid_name(n) => n.clone(),
        Some(Value::String(n)) => {
            return Err(format!("name {n:?}: use 1–64 letters, digits, '_' or '-' (what every provider accepts)"));
        }
        _ => return Err("\"name\" is required (a string)".into()),
    };
    let description = match f.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(d)) => Some(d.clone()),
        Some(other) => return Err(format!("{name}: \"description\" must be a string, not {}", kind(other))),
    };
    let parameters = match f.get("parameters").or_else(|| f.get("input_schema")) {
        None | Some(Value::Null) => json!({"type": "object", "properties": {}}),
        Some(p @ Value::Object(_)) => {
            jsonschema::meta::validate(p).map_err(|e| format!("{name}: \"parameters\" is not a JSON Schema: {e}"))?;
            p.clone()
        }
        Some(other) => return Err(format!("{name}: \"parameters\" must be a JSON Schema object, not {}", kind(other))),
    };
    Ok(Tool { name, description, parameters })
}

fn valid_name(n: &str) -> bool {
    (1..=64).contains(&n.len()) && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn tool_choice(v: &Value) -> Result<ToolChoice, String> {
    match v {
        Value::String(s) => Ok(match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" | "any" => ToolChoice::Required,
            name if valid_name(name) => ToolChoice::Function(name.to_string()),
            other => return Err(format!("tool_choice {other:?}: use auto, none, required or a tool's name")),
        }),
        // {"type":"function","function":{"name":…}} or {"type":"function","name":…}
        Value::Object(o) => {
            let name = o.get("function").and_then(|f| f.get("name")).or_else(|| o.get("name")).and_then(Value::as_str);
            match name {
                Some(n) => Ok(ToolChoice::Function(n.to_string())),
                None => Err("tool_choice object needs the function's name".into()),
            }
        }
        other => Err(format!("tool_choice must be a string, not {}", kind(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weather() -> Value {
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
    }

    #[test]
    fn every_shape_reads_as_one_tool() {
        let shapes = json!([
            {"type": "function", "function": {"name": "a", "description": "A", "parameters": weather()}},
            {"type": "function", "name": "b", "description": "B", "parameters": weather()},
            {"name": "c", "description": "C", "input_schema": weather()},
            {"type": "function", "function": {"name": "d"}}
        ]);
        let t = Tools::parse(Some(&shapes), Some(&json!("b"))).unwrap();
        assert_eq!(t.tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["a", "b", "c", "d"]);
        assert_eq!(t.tools[2].parameters, weather());
        assert_eq!(t.tools[3].parameters, json!({"type": "object", "properties": {}}));
        assert_eq!(t.choice, Some(ToolChoice::Function("b".into())));
        let c = |v: Value| Tools::parse(Some(&shapes), Some(&v)).unwrap().choice.unwrap();
        assert_eq!(c(json!("required")), ToolChoice::Required);
        assert_eq!(c(json!({"type": "function", "function": {"name": "a"}})), ToolChoice::Function("a".into()));
        assert_eq!(c(json!({"type": "function", "name": "c"})), ToolChoice::Function("c".into()));
    }

    #[test]
    fn bad_tools_say_what_is_wrong() {
        let err = |tools: Value, choice: Option<Value>| Tools::parse(Some(&tools), choice.as_ref()).unwrap_err();
        assert!(err(json!({"name": "a"}), None).contains("array"));
        assert!(err(json!([{"type": "web_search"}]), None).contains("only function tools"));
        assert!(err(json!([{"function": {"description": "x"}}]), None).contains("tools[0]: \"name\" is required"));
        assert!(err(json!([{"name": "has space"}]), None).contains("letters, digits"));
        assert!(err(json!([{"name": "a", "parameters": {"type": 5}}]), None).contains("not a JSON Schema"));
        assert!(err(json!([{"name": "a"}, {"name": "a"}]), None).contains("twice"));
        assert!(err(json!([{"name": "a"}]), Some(json!("b"))).contains("not among the tools"));
        assert!(err(json!([{"name": "a"}]), Some(json!(3))).contains("must be a string"));
    }

    #[test]
    fn calls_are_checked_against_the_offered_schema() {
        let t = Tools::parse(Some(&json!([{"name": "get_weather", "parameters": weather()}])), None).unwrap();
        let mut calls = vec![
            crate::provider::ToolCall::new(None, "get_weather".into(), r#"{"city": "Paris"}"#.into()),
            crate::provider::ToolCall::new(None, "get_weather".into(), r#"{"city": 3}"#.into()),
            crate::provider::ToolCall::new(None, "get_weather".into(), r#"{"city": "#.into()),
            crate::provider::ToolCall::new(None, "rm_rf".into(), "{}".into()),
        ];
        t.check_calls(&mut calls);
        let valid: Vec<Option<bool>> = calls.iter().map(|c| c.arguments_valid).collect();
        assert_eq!(valid, [Some(true), Some(false), Some(false), Some(false)]);
        assert!(calls[1].schema_error.as_deref().unwrap().contains("schema: at /city"), "{:?}", calls[1]);
        assert!(calls[2].schema_error.as_deref().unwrap().contains("not JSON"), "{:?}", calls[2]);
        assert!(calls[3].schema_error.as_deref().unwrap().contains("\"rm_rf\" was not offered"), "{:?}", calls[3]);
        // Nothing offered: nothing to check against.
        let mut c = vec![crate::provider::ToolCall::new(None, "x".into(), "{}".into())];
        Tools::default().check_calls(&mut c);
        assert_eq!((c[0].arguments_valid, c[0].schema_error.as_deref()), (None, None));
    }

    #[test]
    fn each_format_gets_its_own_spelling() {
        let t = Tools {
            tools: vec![Tool {
                name: "get_weather".into(),
                description: Some("Weather".into()),
                parameters: weather(),
            }],
            choice: Some(ToolChoice::Function("get_weather".into())),
        };
        let body = |f: fn(&Tools, &mut Map<String, Value>)| {
            let mut m = Map::new();
            f(&t, &mut m);
            Value::Object(m)
        };
        assert_eq!(
            body(Tools::openai_chat),
            json!({
                "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": weather()}}],
                "tool_choice": {"type": "function", "function": {"name": "get_weather"}}
            })
        );
        assert_eq!(
            body(Tools::responses),
            json!({
                "tools": [{"type": "function", "name": "get_weather", "description": "Weather", "parameters": weather()}],
                "tool_choice": {"type": "function", "name": "get_weather"}
            })
        );
        assert_eq!(
            body(Tools::anthropic),
            json!({
                "tools": [{"name": "get_weather", "description": "Weather", "input_schema": weather()}],
                "tool_choice": {"type": "tool", "name": "get_weather"}
            })
        );
        assert_eq!(
            body(Tools::gemini),
            json!({
                "tools": [{"functionDeclarations": [{"name": "get_weather", "description": "Weather", "parameters": weather()}]}],
                "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}
            })
        );
        let required = Tools { choice: Some(ToolChoice::Required), ..t.clone() };
        let mut m = Map::new();
        required.anthropic(&mut m);
        assert_eq!(m["tool_choice"], json!({"type": "any"}));
        let mut m = Map::new();
        required.openai_chat(&mut m);
        assert_eq!(m["tool_choice"], json!("required"));
    }
}
