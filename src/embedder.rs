//! The embedding model `similarity` evaluators use: one client per run, requests batched, every
//! distinct text embedded once per run (cached, with concurrent askers of the same text waiting
//! for the one request in flight), and what each request used counted for evaluation spend.
//!
//! Same rules as model requests: the key comes from the environment, goes only to the configured
//! origin (a redirect is an error, never followed), and is redacted from every error.

use crate::config::ModelSpec;
use crate::provider::{WireFormat, embeddings};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Largest response body read (96 vectors of 3072 floats as JSON are ~6 MB).
const MAX_BODY: usize = 64 << 20;
/// Texts kept per run (their vectors: at 3072 dimensions, ~50 MB).
const MAX_CACHED: usize = 4096;
/// A whole embeddings request, from sending to the last byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// What the embedder's requests used.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EmbedUsage {
    pub requests: u64,
    pub input_tokens: u64,
    /// Some tokens are estimates (the provider reported none).
    pub tokens_estimated: bool,
    /// `None`: the embedding model's price is unknown.
    pub cost_usd: Option<f64>,
}

type Vector = Arc<[f32]>;
type Slot = Shared<BoxFuture<'static, Result<Vector, String>>>;

impl EmbedUsage {
    /// Adds `o`; one unknown cost makes the sum's cost unknown.
    fn add(&mut self, o: &EmbedUsage) {
        self.requests += o.requests;
        self.input_tokens += o.input_tokens;
        self.tokens_estimated |= o.tokens_estimated;
        self.cost_usd = self.cost_usd.zip(o.cost_usd).map(|(a, b)| a + b);
    }
}

/// An embedding model, cheap to clone (clones share the cache).
#[derive(Clone)]
pub struct Embedder {
    inner: Arc<Inner>,
}

struct Inner {
    spec: ModelSpec,
    http: reqwest::Client,
    key: Result<Option<crate::config::ApiKey>, String>,
    cache: Mutex<HashMap<String, Slot>>,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder").field("model", &self.inner.spec.name).finish()
    }
}

impl Embedder {
    /// A client for `spec`; an API that has no embeddings (Anthropic) is refused here.
    pub fn new(spec: ModelSpec) -> anyhow::Result<Embedder> {
        if spec.format == WireFormat::Anthropic {
            anyhow::bail!(
                "embedder {:?}: Anthropic has no embeddings API; use an OpenAI-compatible, Gemini or Ollama model",
                spec.name
            );
        }
        let http = reqwest::Client::builder()
            .connect_timeout(spec.timeouts.connect)
            .user_agent(concat!("bakeoff/", env!("CARGO_PKG_VERSION")))
            // The key goes to the configured origin only (see `engine::ModelClient::new`).
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the HTTP client for embedder {}: {e}", spec.name))?;
        let key = spec.api_key();
        Ok(Embedder { inner: Arc::new(Inner { spec, http, key, cache: Mutex::new(HashMap::new()) }) })
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.inner.spec
    }

    /// The vectors of `texts`, in order, and what this call's own requests used (texts already
    /// embedded in this run, or being embedded for another caller, cost this call nothing).
    pub async fn embed(&self, texts: &[&str]) -> Result<(Vec<Vector>, EmbedUsage), String> {
        let mut slots = Vec::with_capacity(texts.len());
        let mut owned: Vec<(String, tokio::sync::oneshot::Sender<Result<Vector, String>>)> = Vec::new();
        {
            let mut cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
            for &t in texts {
                if let Some(s) = cache.get(t) {
                    slots.push(s.clone());
                    continue;
                }
                if let Some((_, _)) = owned.iter().find(|(o, _)| o == t) {
                    // Asked twice in one call: the first slot serves both.
                    let i = texts.iter().position(|x| *x == t).unwrap_or(0);
                    slots.push(slots[i].clone());
                    continue;
                }
                let (tx, rx) = tokio::sync::oneshot::channel();
                let slot: Slot =
                    rx.map(|r| r.unwrap_or_else(|_| Err("the embeddings request was dropped".into()))).boxed().shared();
                if cache.len() < MAX_CACHED {
                    cache.insert(t.to_string(), slot.clone());
                }
                slots.push(slot);
                owned.push((t.to_string(), tx));
            }
        }
        let mut usage = EmbedUsage { cost_usd: Some(0.0), ..EmbedUsage::default() };
        if !owned.is_empty() {
            // Its own task: a caller that gives up (a cancelled round) cannot strand the others
            // waiting on the same texts.
            let this = self.clone();
            usage = tokio::spawn(async move { this.fetch(owned).await })
                .await
                .map_err(|e| format!("the embeddings request failed: {e}"))?;
        }
        let mut out = Vec::with_capacity(slots.len());
        for s in slots {
            out.push(s.await?);
        }
        Ok((out, usage))
    }

    /// Embeds the owned texts batch by batch and hands each waiter its vector or the error; a
    /// failed text leaves the cache, so a later evaluation asks again.
    async fn fetch(&self, owned: Vec<(String, tokio::sync::oneshot::Sender<Result<Vector, String>>)>) -> EmbedUsage {
        let mut usage = EmbedUsage { cost_usd: Some(0.0), ..EmbedUsage::default() };
        let mut owned = owned.into_iter().peekable();
        while owned.peek().is_some() {
            let batch: Vec<_> = owned.by_ref().take(embeddings::MAX_BATCH).collect();
            let texts: Vec<&str> = batch.iter().map(|(t, _)| t.as_str()).collect();
            let result = self.request(&texts).await;
            match result {
                Ok((vectors, u)) => {
                    usage.add(&u);
                    for ((_, tx), v) in batch.into_iter().zip(vectors) {
                        let _ = tx.send(Ok(v.into()));
                    }
                }
                Err(e) => {
                    usage.requests += 1;
                    let mut cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
                    for (t, tx) in batch {
                        cache.remove(&t);
                        let _ = tx.send(Err(e.clone()));
                    }
                }
            }
        }
        usage
    }

    /// One request: the vectors and what it used.
    async fn request(&self, texts: &[&str]) -> Result<(Vec<Vec<f32>>, EmbedUsage), String> {
        let spec = &self.inner.spec;
        let fail = |e: String| crate::redact::redact_owned(format!("embedder {}: {e}", spec.name));
        let key = self.inner.key.as_ref().map_err(|e| fail(e.clone()))?;
        let http = embeddings::build_request(
            spec.format,
            &spec.base_url,
            key.as_ref().map(crate::config::ApiKey::expose),
            &spec.model,
            texts,
            &spec.extra,
            &spec.headers,
        )
        .map_err(fail)?;
        crate::redact::register_request(&http.url, http.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let mut req = self.inner.http.post(&http.url).body(http.body);
        for (k, v) in &http.headers {
            req = req.header(k, v);
        }
        let call = async {
            let mut resp = req.send().await.map_err(|e| format!("request failed: {}", without_url(&e)))?;
            let status = resp.status().as_u16();
            if (300..400).contains(&status) {
                return Err(format!(
                    "{status} redirect not followed: API keys are sent only to the configured base_url"
                ));
            }
            let mut body = Vec::new();
            while let Some(chunk) =
                resp.chunk().await.map_err(|e| format!("reading the response: {}", without_url(&e)))?
            {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(format!("the response is larger than {} MiB", MAX_BODY >> 20));
                }
                body.extend_from_slice(&chunk);
            }
            if !(200..300).contains(&status) {
                return Err(crate::provider::http_error(spec.format, status, None, &body).message);
            }
            embeddings::parse_response(spec.format, &body, texts.len())
        };
        let embedded = match tokio::time::timeout(REQUEST_TIMEOUT, call).await {
            Err(_) => return Err(fail(format!("no complete answer within {} s", REQUEST_TIMEOUT.as_secs()))),
            Ok(r) => r.map_err(fail)?,
        };
        let (input_tokens, estimated) = match embedded.input_tokens {
            Some(n) => (n, false),
            None => (texts.iter().map(|t| crate::tokens::estimate(t)).sum(), true),
        };
        let cost_usd = spec
            .price
            .map(|p| p.cost(crate::pricing::Billable { input: input_tokens, output: 0, cached: 0, cache_write: 0 }));
        let usage = EmbedUsage { requests: 1, input_tokens, tokens_estimated: estimated, cost_usd };
        Ok((embedded.vectors, usage))
    }
}

/// A reqwest error's text without the URL it names (which may carry a `?key=`); the redactor
/// would catch a registered key, this keeps the message short too.
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), "the embeddings endpoint");
    }
    s
}
