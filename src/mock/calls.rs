//! Scripted tool calls: which of the offered tools a mock model calls, and with which arguments.
//!
//! `tool_calls=auto` (the default) calls a tool when the request offers some and either requires
//! one (`tool_choice` required or named) or the prompt mentions one (a word of three letters or
//! more, not among the commonest, shared with a tool's name or description) — so a case set mixes answers that call a tool
//! with ones that should not. `tool_calls=N` calls N tools whenever any is offered (parallel
//! calls), `tool_calls=none` never does. Arguments are made from the tool's schema: required
//! properties (all of them when none is marked required), strings from the prompt's capitalised
//! words, numbers from its digits.

use serde_json::{Map, Value, json};

use super::script::ToolCalls;
use crate::provider::tools::{ToolChoice, Tools};

/// One call a mock stream makes.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedCall {
    pub id: String,
    pub name: String,
    /// The arguments' JSON text, as streamed (`{"city": "Paris"}`).
    pub arguments: String,
}

/// The calls for one request; `bad_args` truncates the first call's arguments (invalid JSON).
pub fn plan(mode: ToolCalls, offered: &Tools, prompt: &str, request_id: &str, bad_args: bool) -> Vec<PlannedCall> {
    if offered.tools.is_empty() || offered.choice == Some(ToolChoice::None) {
        return Vec::new();
    }
    let words = words(prompt);
    let mentioned = |t: &&crate::provider::tools::Tool| {
        let text = format!("{} {}", t.name.replace(['_', '-'], " "), t.description.as_deref().unwrap_or(""));
        let theirs = self::words(&text);
        words.iter().any(|w| theirs.contains(w))
    };
    let picked: Vec<&crate::provider::tools::Tool> = match (&offered.choice, mode) {
        (_, ToolCalls::Never) => Vec::new(),
        (Some(ToolChoice::Function(name)), _) => offered.get(name).into_iter().collect(),
        (_, ToolCalls::Count(n)) => offered.tools.iter().cycle().take(n as usize).collect(),
        (Some(ToolChoice::Required), ToolCalls::Auto) => {
            vec![offered.tools.iter().find(mentioned).unwrap_or(&offered.tools[0])]
        }
        (_, ToolCalls::Auto) => offered.tools.iter().find(mentioned).into_iter().collect(),
    };
    let suffix: String = request_id.chars().filter(char::is_ascii_alphanumeric).rev().take(12).collect();
    picked
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let mut arguments = arguments(&t.parameters, prompt);
            if bad_args && i == 0 {
                // Cut mid-value, as a model that ran out of budget would leave it.
                let keep = arguments.len().div_ceil(2).max(1);
                let keep = (0..=keep).rev().find(|&k| arguments.is_char_boundary(k)).unwrap_or(0);
                arguments.truncate(keep);
            }
            PlannedCall { id: format!("call_{suffix}{i}"), name: t.name.clone(), arguments }
        })
        .collect()
}

/// Lower-case words of three letters or more, without the commonest ones.
fn words(text: &str) -> Vec<String> {
    const COMMON: &[&str] = &[
        "the", "and", "for", "you", "your", "what", "with", "are", "how", "can", "this", "that", "from", "please",
        "tell", "give", "get", "who", "why", "when", "was", "were", "has", "have", "not", "but", "all", "any", "its",
        "our", "out", "one", "two", "some", "about", "into", "than", "then", "there", "which", "would", "could",
    ];
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .filter(|w| !COMMON.contains(&w.as_str()))
        .collect()
}

/// Arguments for `schema` (an object schema), compact JSON with a space after `:` and `,` as
/// models write it.
fn arguments(schema: &Value, prompt: &str) -> String {
    spaced(&value_for(schema, prompt).to_string())
}

/// A value that fits `schema`, made from the prompt: objects get their required properties (all
/// of them when none is marked required), arrays one item (or `minItems`), strings the prompt's
/// capitalised words in turn (else its topic), numbers its digits in turn (else 42, kept within
/// `minimum`/`maximum`), enums and consts their first value.
pub fn value_for(schema: &Value, prompt: &str) -> Value {
    let mut f = Filler {
        names: prompt_names(prompt),
        numbers: prompt
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter_map(|s| s.trim_matches('.').parse().ok())
            .collect(),
        next_name: 0,
        next_number: 0,
        prompt,
    };
    f.value(schema, 0)
}

struct Filler<'a> {
    names: Vec<String>,
    numbers: Vec<f64>,
    next_name: usize,
    next_number: usize,
    prompt: &'a str,
}

impl Filler<'_> {
    fn value(&mut self, schema: &Value, depth: u32) -> Value {
        // Deep enough for any real answer; stops a self-nesting schema.
        if depth > 16 {
            return Value::Null;
        }
        if let Some(first) = schema.get("enum").and_then(Value::as_array).and_then(|e| e.first()) {
            return first.clone();
        }
        if let Some(c) = schema.get("const") {
            return c.clone();
        }
        if let Some(first) =
            ["anyOf", "oneOf"].iter().find_map(|k| schema.get(*k).and_then(Value::as_array).and_then(|o| o.first()))
        {
            return self.value(first, depth + 1);
        }
        let kind = match schema.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(types)) => {
                types.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("null")
            }
            _ if schema.get("properties").is_some() => "object",
            _ => "string",
        };
        match kind {
            "object" => {
                let props = schema.get("properties").and_then(Value::as_object);
                let required: Vec<&str> = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let mut out = Map::new();
                for (key, prop) in props.into_iter().flatten() {
                    if required.is_empty() || required.contains(&key.as_str()) {
                        let v = self.value(prop, depth + 1);
                        out.insert(key.clone(), v);
                    }
                }
                Value::Object(out)
            }
            "array" => match schema.get("items") {
                Some(items) if items.is_object() => {
                    let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(1).max(1);
                    let n = min.min(schema.get("maxItems").and_then(Value::as_u64).unwrap_or(u64::MAX)).min(8);
                    Value::Array((0..n).map(|_| self.value(items, depth + 1)).collect())
                }
                _ => json!([]),
            },
            "number" | "integer" => {
                let mut n = self.numbers.get(self.next_number).copied().unwrap_or(42.0);
                self.next_number += 1;
                if let Some(lo) = schema.get("minimum").and_then(Value::as_f64) {
                    n = n.max(lo);
                }
                if let Some(hi) = schema.get("maximum").and_then(Value::as_f64) {
                    n = n.min(hi);
                }
                if kind == "integer" || n.fract() == 0.0 { json!(n as i64) } else { json!(n) }
            }
            "boolean" => json!(true),
            "null" => Value::Null,
            _ => {
                // A pattern-constrained string: the value the prompt holds (an extraction), else
                // the plainest text the pattern takes.
                let pattern = schema.get("pattern").and_then(Value::as_str);
                if let Some(s) =
                    pattern.and_then(|p| super::example::find(p, self.prompt).or_else(|| super::example::example(p)))
                {
                    return json!(s);
                }
                let s = self.names.get(self.next_name).cloned().unwrap_or_else(|| super::text::topic(self.prompt));
                self.next_name += 1;
                json!(s)
            }
        }
    }
}

/// `{"a":1,"b":"x, y"}` → `{"a": 1, "b": "x, y"}`: a space after structural `:` and `,` only.
fn spaced(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 8);
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        out.push(c);
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if c == ':' || c == ',' {
            out.push(' ');
        }
    }
    out
}

/// Capitalised words of the prompt not at its start (names of places, people, things).
fn prompt_names(prompt: &str) -> Vec<String> {
    let words: Vec<&str> = prompt.split_whitespace().collect();
    words
        .iter()
        .enumerate()
        .filter(|(i, w)| *i > 0 && w.chars().next().is_some_and(char::is_uppercase))
        .map(|(_, w)| w.trim_matches(|c: char| !c.is_alphanumeric()).to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Splits arguments into the pieces a model streams them in (about four bytes each).
pub fn pieces(arguments: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in arguments.chars() {
        cur.push(c);
        if cur.len() >= 4 && (c == ' ' || c == '"' || c == ',' || cur.len() >= 8) {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools(choice: Option<Value>) -> Tools {
        let t = json!([
            {"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city", "unit"]}}},
            {"type": "function", "function": {"name": "add", "description": "Add two numbers",
                "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}}}}
        ]);
        Tools::parse(Some(&t), choice.as_ref()).unwrap()
    }

    #[test]
    fn calls_what_the_prompt_mentions_with_arguments_from_it() {
        let c = plan(ToolCalls::Auto, &tools(None), "What is the weather in Paris today?", "req_abc123", false);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].name, "get_weather");
        assert_eq!(c[0].arguments, r#"{"city": "Paris", "unit": "c"}"#);
        let c = plan(ToolCalls::Auto, &tools(None), "Please add 2 and 3.5", "r", false);
        assert_eq!((c[0].name.as_str(), c[0].arguments.as_str()), ("add", r#"{"a": 2, "b": 3.5}"#));
        // Nothing mentioned: a plain answer; required: the first tool anyway; none: never.
        assert!(plan(ToolCalls::Auto, &tools(None), "Tell me a joke", "r", false).is_empty());
        assert_eq!(plan(ToolCalls::Auto, &tools(Some(json!("required"))), "Tell me a joke", "r", false).len(), 1);
        assert!(plan(ToolCalls::Auto, &tools(Some(json!("none"))), "weather in Paris", "r", false).is_empty());
        assert!(plan(ToolCalls::Never, &tools(None), "weather in Paris", "r", false).is_empty());
        assert_eq!(plan(ToolCalls::Auto, &tools(Some(json!("add"))), "weather", "r", false)[0].name, "add");
        let three = plan(ToolCalls::Count(3), &tools(None), "x", "r", false);
        assert_eq!(three.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["get_weather", "add", "get_weather"]);
        assert_ne!(three[0].id, three[2].id);
        assert!(plan(ToolCalls::Count(2), &Tools::default(), "x", "r", false).is_empty());
        // Bad arguments: cut mid-way, not JSON.
        let bad = plan(ToolCalls::Auto, &tools(None), "weather in Paris", "r", true);
        assert!(serde_json::from_str::<Value>(&bad[0].arguments).is_err(), "{}", bad[0].arguments);
    }

    #[test]
    fn pieces_join_back() {
        for s in [r#"{"city": "Paris", "unit": "c"}"#, "{}", "", "é東京🚀"] {
            assert_eq!(pieces(s).concat(), s);
        }
        assert!(pieces(r#"{"city": "Paris", "unit": "c"}"#).len() >= 4);
    }
}
