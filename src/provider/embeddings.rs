//! Embedding requests and responses in each API that has them: OpenAI-compatible
//! `POST /embeddings`, Gemini `POST models/{model}:batchEmbedContents`, Ollama `POST /api/embed`.
//! Anthropic has no embeddings API.
//!
//! Pure wire code: the HTTP call, the cache and the spend are the embedder's
//! ([`crate::embedder`]).

use super::{HttpRequest, WireFormat, endpoint};
use serde_json::{Value, json};

/// Texts per request: under every API's limit (Gemini's is 100 a batch).
pub const MAX_BATCH: usize = 96;

/// What an embeddings response carried.
#[derive(Clone, Debug, PartialEq)]
pub struct Embedded {
    /// One vector per text, in the order the texts were sent.
    pub vectors: Vec<Vec<f32>>,
    /// Input tokens as the provider reported them; `None` when it did not (Gemini).
    pub input_tokens: Option<u64>,
}

/// The request for `texts`, or why `format` cannot embed.
pub fn build_request(
    format: WireFormat,
    base_url: &str,
    api_key: Option<&str>,
    model: &str,
    texts: &[&str],
    extra: &serde_json::Map<String, Value>,
    extra_headers: &[(String, String)],
) -> Result<HttpRequest, String> {
    let key = api_key.filter(|k| !k.is_empty());
    let mut headers = Vec::new();
    let (url, body) = match format {
        WireFormat::OpenAi | WireFormat::OpenAiResponses => {
            if let Some(k) = key {
                headers.push(("authorization".to_string(), format!("Bearer {k}")));
            }
            // Floats, not the base64 some SDKs ask for: one parser for every compatible server.
            let mut body = json!({"model": model, "input": texts, "encoding_format": "float"});
            merge(&mut body, extra);
            (endpoint(base_url, "embeddings"), body)
        }
        WireFormat::Gemini => {
            if let Some(k) = key {
                headers.push(("x-goog-api-key".to_string(), k.to_string()));
            }
            let model = model.strip_prefix("models/").unwrap_or(model);
            let requests: Vec<Value> = texts
                .iter()
                .map(|t| {
                    // Gemini's options (`outputDimensionality`, `taskType`) belong to each request.
                    let mut r = json!({"model": format!("models/{model}"), "content": {"parts": [{"text": t}]}});
                    merge(&mut r, extra);
                    r
                })
                .collect();
            (endpoint(base_url, &format!("models/{model}:batchEmbedContents")), json!({"requests": requests}))
        }
        WireFormat::Ollama => {
            if let Some(k) = key {
                headers.push(("authorization".to_string(), format!("Bearer {k}")));
            }
            let mut body = json!({"model": model, "input": texts});
            merge(&mut body, extra);
            (endpoint(base_url, "api/embed"), body)
        }
        WireFormat::Anthropic => {
            return Err("Anthropic has no embeddings API: use an OpenAI-compatible, Gemini or Ollama embedder".into());
        }
    };
    headers.push(("content-type".to_string(), "application/json".to_string()));
    for (k, v) in extra_headers {
        let k = k.to_ascii_lowercase();
        headers.retain(|(name, _)| *name != k);
        headers.push((k, v.clone()));
    }
    Ok(HttpRequest { url, headers, body: body.to_string().into_bytes() })
}

/// Reads a 2xx response body: exactly `expected` vectors of one dimension, every number finite.
pub fn parse_response(format: WireFormat, body: &[u8], expected: usize) -> Result<Embedded, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("embeddings response is not JSON: {e}"))?;
    let (vectors, input_tokens) = match format {
        WireFormat::OpenAi | WireFormat::OpenAiResponses => {
            let data = v.get("data").and_then(Value::as_array).ok_or("embeddings response has no `data` list")?;
            // Each item says where it belongs (`index`); servers may list them in any order.
            let mut slots: Vec<Option<Vec<f32>>> = vec![None; data.len()];
            for (i, item) in data.iter().enumerate() {
                let at = match item.get("index") {
                    None => i,
                    Some(n) => n.as_u64().map(|n| n as usize).ok_or("an embedding's `index` is not a number")?,
                };
                let slot = slots.get_mut(at).ok_or_else(|| format!("embedding index {at} is out of range"))?;
                if slot.is_some() {
                    return Err(format!("embedding index {at} appears twice"));
                }
                *slot = Some(numbers(item.get("embedding"))?);
            }
            let tokens = v.pointer("/usage/prompt_tokens").and_then(Value::as_u64);
            (slots.into_iter().map(|s| s.ok_or("an embedding index is missing")).collect::<Result<_, _>>()?, tokens)
        }
        WireFormat::Gemini => {
            let list =
                v.get("embeddings").and_then(Value::as_array).ok_or("embeddings response has no `embeddings`")?;
            let vectors = list.iter().map(|e| numbers(e.get("values"))).collect::<Result<Vec<_>, _>>()?;
            (vectors, v.pointer("/usageMetadata/promptTokenCount").and_then(Value::as_u64))
        }
        WireFormat::Ollama => {
            let list =
                v.get("embeddings").and_then(Value::as_array).ok_or("embeddings response has no `embeddings`")?;
            let vectors = list.iter().map(|e| numbers(Some(e))).collect::<Result<Vec<_>, _>>()?;
            (vectors, v.get("prompt_eval_count").and_then(Value::as_u64))
        }
        WireFormat::Anthropic => return Err("Anthropic has no embeddings API".into()),
    };
    if vectors.len() != expected {
        return Err(format!("asked for {expected} embeddings, got {}", vectors.len()));
    }
    if let Some(first) = vectors.first() {
        if first.is_empty() {
            return Err("an embedding is empty".into());
        }
        if vectors.iter().any(|v| v.len() != first.len()) {
            return Err("the embeddings differ in dimension".into());
        }
    }
    Ok(Embedded { vectors, input_tokens })
}

/// The model's `extra` table (e.g. OpenAI's `dimensions`) over the request's own fields.
fn merge(body: &mut Value, extra: &serde_json::Map<String, Value>) {
    if let Value::Object(o) = body {
        super::merge_extra(o, extra);
    }
}

fn numbers(v: Option<&Value>) -> Result<Vec<f32>, String> {
    let list = v.and_then(Value::as_array).ok_or("an embedding is not a list of numbers")?;
    list.iter()
        .map(|x| {
            x.as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f as f32)
                .ok_or("an embedding holds a value that is not a finite number".to_string())
        })
        .collect()
}

/// Cosine similarity of two vectors of one dimension (0 when either is all zeros).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 { 0.0 } else { (dot / (na.sqrt() * nb.sqrt())).clamp(-1.0, 1.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_follow_each_api() {
        let texts = ["a cat", "a dog"];
        let r = build_request(
            WireFormat::OpenAi,
            "https://api.openai.com/v1/",
            Some("sk-1"),
            "text-embedding-3-small",
            &texts,
            &Default::default(),
            &[],
        )
        .unwrap();
        assert_eq!(r.url, "https://api.openai.com/v1/embeddings");
        assert!(r.headers.contains(&("authorization".into(), "Bearer sk-1".into())));
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            body,
            json!({"model": "text-embedding-3-small", "input": ["a cat", "a dog"], "encoding_format": "float"})
        );

        let r = build_request(
            WireFormat::Gemini,
            "https://g/v1beta",
            Some("k"),
            "models/gemini-embedding-001",
            &texts,
            &Default::default(),
            &[],
        )
        .unwrap();
        assert_eq!(r.url, "https://g/v1beta/models/gemini-embedding-001:batchEmbedContents");
        assert!(r.headers.contains(&("x-goog-api-key".into(), "k".into())));
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            body["requests"][1],
            json!({"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a dog"}]}})
        );

        let r = build_request(
            WireFormat::Ollama,
            "http://localhost:11434",
            None,
            "nomic-embed-text",
            &texts,
            &Default::default(),
            &[],
        )
        .unwrap();
        assert_eq!(r.url, "http://localhost:11434/api/embed");
        assert!(!r.headers.iter().any(|(k, _)| k == "authorization"));
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body, json!({"model": "nomic-embed-text", "input": ["a cat", "a dog"]}));

        let e = build_request(
            WireFormat::Anthropic,
            "https://api.anthropic.com",
            None,
            "x",
            &texts,
            &Default::default(),
            &[],
        )
        .unwrap_err();
        assert!(e.contains("no embeddings API"), "{e}");
        // A configured header replaces the format's own.
        let r = build_request(
            WireFormat::OpenAi,
            "http://h/v1",
            Some("k"),
            "m",
            &texts,
            &Default::default(),
            &[("Authorization".into(), "Token t".into())],
        )
        .unwrap();
        assert_eq!(r.headers.iter().filter(|(k, _)| k == "authorization").count(), 1);
        assert!(r.headers.contains(&("authorization".into(), "Token t".into())));
    }

    #[test]
    fn responses_are_read_in_input_order_with_their_usage() {
        let body = br#"{"object":"list","data":[{"object":"embedding","index":1,"embedding":[0,1]},{"object":"embedding","index":0,"embedding":[1,0.5]}],"model":"m","usage":{"prompt_tokens":7,"total_tokens":7}}"#;
        let e = parse_response(WireFormat::OpenAi, body, 2).unwrap();
        assert_eq!(e.vectors, vec![vec![1.0, 0.5], vec![0.0, 1.0]]);
        assert_eq!(e.input_tokens, Some(7));

        let body = br#"{"embeddings":[{"values":[0.1,0.2]},{"values":[0.3,0.4]}]}"#;
        let e = parse_response(WireFormat::Gemini, body, 2).unwrap();
        assert_eq!(e.vectors.len(), 2);
        assert_eq!(e.input_tokens, None);

        let body = br#"{"model":"nomic-embed-text","embeddings":[[0.01,-0.2,0.05]],"total_duration":14143917,"prompt_eval_count":8}"#;
        let e = parse_response(WireFormat::Ollama, body, 1).unwrap();
        assert_eq!(e.vectors, vec![vec![0.01, -0.2, 0.05]]);
        assert_eq!(e.input_tokens, Some(8));
    }

    #[test]
    fn bad_responses_are_errors_never_vectors() {
        for (body, want) in [
            (&b"not json"[..], "not JSON"),
            (br#"{"data":[{"index":0,"embedding":[1]}]}"#, "asked for 2"),
            (br#"{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[1]}]}"#, "twice"),
            (br#"{"data":[{"index":5,"embedding":[1]},{"index":0,"embedding":[1]}]}"#, "out of range"),
            (br#"{"data":[{"index":0,"embedding":[1]},{"index":1,"embedding":[1,2]}]}"#, "dimension"),
            (br#"{"data":[{"index":0,"embedding":"AAAA"},{"index":1,"embedding":[1]}]}"#, "not a list"),
            (br#"{"data":[{"index":0,"embedding":[]},{"index":1,"embedding":[]}]}"#, "empty"),
            (br#"{"data":[{"index":0,"embedding":[null]},{"index":1,"embedding":[1]}]}"#, "finite"),
            (br#"{"error":{"message":"x"}}"#, "no `data`"),
        ] {
            let e = parse_response(WireFormat::OpenAi, body, 2).unwrap_err();
            assert!(e.contains(want), "{e} should say {want}");
        }
    }

    #[test]
    fn cosine_is_the_normalised_dot_product() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-12);
        assert!(cosine(&[1.0, 0.0], &[0.0, 3.0]).abs() < 1e-12);
        assert!((cosine(&[1.0, 1.0], &[-2.0, -2.0]) + 1.0).abs() < 1e-12);
        assert!((cosine(&[3.0, 4.0], &[4.0, 3.0]) - 24.0 / 25.0).abs() < 1e-7);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 2.0]), 0.0);
    }
}
