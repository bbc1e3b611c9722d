//! The mock's embeddings: OpenAI-compatible `POST /v1/embeddings`, Gemini
//! `POST /v1beta/models/{model}:batchEmbedContents`, Ollama `POST /api/embed`.
//!
//! Vectors are deterministic feature hashes of the text (its words, and their character
//! trigrams at a lower weight), normalised: texts that share words are close, texts that share
//! none are near orthogonal, the same text always gets the same vector. The model id is a script
//! like the chat routes' (`ttfb`, `fault=500|429|…`, `key=required`, `fail_first`); usage is
//! reported as the real APIs do (OpenAI `usage.prompt_tokens`, Ollama `prompt_eval_count`,
//! Gemini none), at ceil(characters / 4) tokens per text, at least 1.

use super::text::fnv1a;
use super::{ApiError, Reply, Shared, bad};
use crate::provider::WireFormat;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::time::Instant;

/// Dimensions when the request names none.
pub const DEFAULT_DIMENSIONS: usize = 256;
const MAX_DIMENSIONS: usize = 4096;
/// Texts per request, as Gemini's batch limit.
const MAX_INPUTS: usize = 2048;

/// The mock's vector for `text`.
pub fn vector(text: &str, dims: usize) -> Vec<f32> {
    let mut v = vec![0f32; dims.max(1)];
    let mut add = |feature: &[u8], kind: &[u8], weight: f32| {
        let h = fnv1a(&[kind, feature]);
        let i = (h % v.len() as u64) as usize;
        v[i] += if h >> 63 == 0 { weight } else { -weight };
    };
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let word = word.to_lowercase();
        add(word.as_bytes(), b"w", 1.0);
        let padded: Vec<char> = format!(" {word} ").chars().collect();
        for g in padded.windows(3) {
            add(g.iter().collect::<String>().as_bytes(), b"g", 0.25);
        }
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    } else {
        v[0] = 1.0; // no words at all: one fixed direction
    }
    v
}

/// Is this path an embeddings route (Gemini's shares its prefix with the chat route)?
pub fn is_embeddings(format: WireFormat, path: &str) -> bool {
    match format {
        WireFormat::Gemini => path.ends_with(":batchEmbedContents"),
        _ => false,
    }
}

pub(super) async fn serve(
    shared: &Arc<Shared>,
    format: WireFormat,
    req: Request,
    start: Instant,
    request_id: &str,
) -> Result<Response, Reply> {
    if req.method() != axum::http::Method::POST {
        return Err(ApiError::new(405, format!("method {} not allowed; use POST", req.method())).into());
    }
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), super::MAX_BODY)
        .await
        .map_err(|e| bad(format!("could not read request body: {e}")))?;
    let json: Value = serde_json::from_slice(&body).map_err(|e| bad(format!("request body is not valid JSON: {e}")))?;
    let (model, texts, dims) = parse(format, &path, &json)?;
    let mut script = super::script::parse(&model).map_err(|e| bad(e.0))?;
    super::before_answer(shared, format, &mut script, &model, (&headers, &query), start, request_id).await?;
    let vectors: Vec<Vec<f32>> = texts.iter().map(|t| vector(t, dims)).collect();
    let tokens: u64 = texts.iter().map(|t| t.chars().count().div_ceil(4).max(1) as u64).sum();
    let out = match format {
        WireFormat::Gemini => json!({"embeddings": vectors.iter().map(|v| json!({"values": v})).collect::<Vec<_>>()}),
        WireFormat::Ollama => json!({
            "model": model,
            "embeddings": vectors,
            "total_duration": start.elapsed().as_nanos() as u64,
            "load_duration": 0,
            "prompt_eval_count": tokens,
        }),
        _ => json!({
            "object": "list",
            "data": vectors.iter().enumerate()
                .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
                .collect::<Vec<_>>(),
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }),
    };
    let mut resp = Response::new(Body::from(out.to_string()));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

/// The model id, the texts and the dimensions a request asks for, or its 400.
fn parse(format: WireFormat, path: &str, json: &Value) -> Result<(String, Vec<String>, usize), ApiError> {
    let dims_of = |v: Option<&Value>, field: &str| -> Result<usize, ApiError> {
        match v {
            None => Ok(DEFAULT_DIMENSIONS),
            Some(d) => d
                .as_u64()
                .map(|d| d as usize)
                .filter(|d| (1..=MAX_DIMENSIONS).contains(d))
                .ok_or_else(|| bad(format!("`{field}` must be an integer from 1 to {MAX_DIMENSIONS}"))),
        }
    };
    let (model, texts, dims) = match format {
        WireFormat::Gemini => {
            let rest = path.strip_prefix("/v1beta/models/").unwrap_or(path);
            let model = rest.strip_suffix(":batchEmbedContents").unwrap_or(rest);
            let model = super::percent_decode(model).ok_or_else(|| bad("model in the URL is not valid UTF-8"))?;
            let requests = json.get("requests").and_then(Value::as_array).ok_or_else(|| bad("missing `requests`"))?;
            let mut texts = Vec::new();
            let mut dims = DEFAULT_DIMENSIONS;
            for (i, r) in requests.iter().enumerate() {
                let named = r.get("model").and_then(Value::as_str).unwrap_or_default();
                if named != format!("models/{model}") {
                    return Err(bad(format!(
                        "requests[{i}].model is {named:?}; every request must name models/{model}, as the URL does"
                    )));
                }
                let parts = r.pointer("/content/parts").and_then(Value::as_array);
                let text: String =
                    parts.into_iter().flatten().filter_map(|p| p.get("text").and_then(Value::as_str)).collect();
                texts.push(text);
                dims = dims_of(r.get("outputDimensionality"), "outputDimensionality")?;
            }
            (model, texts, dims)
        }
        _ => {
            let model = json.get("model").and_then(Value::as_str).ok_or_else(|| bad("missing `model`"))?.to_string();
            let texts = match json.get("input") {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|t| t.as_str().map(String::from).ok_or_else(|| bad("`input` must hold strings")))
                    .collect::<Result<_, _>>()?,
                _ => return Err(bad("`input` must be a string or a list of strings")),
            };
            (model, texts, dims_of(json.get("dimensions"), "dimensions")?)
        }
    };
    if texts.is_empty() || texts.len() > MAX_INPUTS {
        return Err(bad(format!("send 1 to {MAX_INPUTS} texts, not {}", texts.len())));
    }
    if texts.iter().any(|t| t.is_empty()) {
        return Err(bad("an input text is empty"));
    }
    Ok((model, texts, dims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::embeddings::cosine;

    #[test]
    fn similar_texts_are_close_and_different_ones_apart() {
        let d = DEFAULT_DIMENSIONS;
        let paris = vector("The capital of France is Paris.", d);
        assert_eq!(paris, vector("The capital of France is Paris.", d), "deterministic");
        let close = cosine(&paris, &vector("Paris is the capital of France", d));
        let near = cosine(&paris, &vector("France's capital city: Paris", d));
        let far = cosine(&paris, &vector("Photosynthesis turns light into sugar in plant leaves", d));
        assert!(close > 0.95, "{close}");
        assert!(near > 0.5 && near < close, "{near}");
        assert!(far.abs() < 0.3, "{far}");
        let n: f32 = paris.iter().map(|x| x * x).sum();
        assert!((n - 1.0).abs() < 1e-5);
        assert_eq!(vector("", 8).len(), 8);
    }
}
