//! Prices and cost: the built-in table (compiled from `src/pricing/prices.toml`), LiteLLM's JSON
//! price map as a bulk override, and the cost arithmetic.
//!
//! An unknown price stays unknown: lookups return `None` and costs become `None` (shown as `—`),
//! never 0.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

const BUILTIN: &str = include_str!("pricing/prices.toml");

/// USD per 1 million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Price of a prompt-cache hit; the input price when not published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
    /// Price of writing to the prompt cache (Anthropic 5-minute TTL); the input price when not
    /// published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
}

/// Token counts to price. `input` is the whole prompt; `cached` and `cache_write` are parts of it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Billable {
    pub input: u64,
    pub output: u64,
    pub cached: u64,
    pub cache_write: u64,
}

impl Price {
    /// Input and output prices only (cache tokens at the input price).
    pub fn per_mtok(input: f64, output: f64) -> Price {
        Price { input, output, cached_input: None, cache_write: None }
    }

    pub fn cost(&self, t: Billable) -> f64 {
        let special = t.cached.saturating_add(t.cache_write).min(t.input);
        let plain = t.input - special;
        let cached = t.cached.min(special);
        let write = special - cached;
        (plain as f64 * self.input
            + cached as f64 * self.cached_input.unwrap_or(self.input)
            + write as f64 * self.cache_write.unwrap_or(self.input)
            + t.output as f64 * self.output)
            / 1_000_000.0
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PriceTable {
    /// Date the built-in prices were taken (recorded in reports).
    pub as_of: String,
    pub source: String,
    entries: HashMap<String, Price>,
}

#[derive(Deserialize)]
struct TableFile {
    as_of: String,
    source: String,
    models: HashMap<String, Price>,
}

impl PriceTable {
    pub fn builtin() -> PriceTable {
        // The file is ours and compiled in; a unit test parses it, so this cannot fail at run time.
        let file: TableFile = toml::from_str(BUILTIN).expect("built-in prices.toml parses");
        PriceTable { as_of: file.as_of, source: file.source, entries: file.models }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Layers entries from LiteLLM's `model_prices_and_context_window.json` (USD per token) over
    /// the table. Entries without both input and output prices (images, embeddings…) are
    /// skipped. Returns how many were taken.
    pub fn merge_litellm_json(&mut self, text: &str, origin: &str) -> Result<usize> {
        let map: HashMap<String, serde_json::Value> = serde_json::from_str(text)
            .with_context(|| format!("{origin}: not a LiteLLM price map (expected a JSON object keyed by model)"))?;
        let per_m = |v: &serde_json::Value, key: &str| v.get(key).and_then(|x| x.as_f64()).map(|x| x * 1e6);
        let mut taken = 0;
        for (name, v) in &map {
            if name == "sample_spec" {
                continue;
            }
            let (Some(input), Some(output)) = (per_m(v, "input_cost_per_token"), per_m(v, "output_cost_per_token"))
            else {
                continue;
            };
            let price = Price {
                input,
                output,
                cached_input: per_m(v, "cache_read_input_token_cost")
                    .or_else(|| per_m(v, "input_cost_per_token_cache_hit")),
                cache_write: per_m(v, "cache_creation_input_token_cost"),
            };
            self.entries.insert(name.clone(), price);
            taken += 1;
        }
        self.source = format!("{}; overridden by {origin}", self.source);
        Ok(taken)
    }

    /// Finds the price for `model` served through `provider` (a preset name such as `openai`,
    /// `gemini`, `openrouter`). Tries, in order: `provider/model`, `model`, the id without a
    /// vendor prefix (`anthropic/claude-sonnet-4-6` on OpenRouter), and each of those without a
    /// trailing date (`-20250929`, `-2024-08-06`).
    pub fn lookup(&self, provider: &str, model: &str) -> Option<Price> {
        let mut candidates = vec![format!("{provider}/{model}"), model.to_string()];
        if let Some((vendor, rest)) = model.split_once('/') {
            let vendor = if vendor == "google" { "gemini" } else { vendor };
            candidates.push(format!("{vendor}/{rest}"));
            candidates.push(rest.to_string());
        }
        let undated: Vec<String> = candidates.iter().filter_map(|c| strip_date(c)).collect();
        candidates.extend(undated);
        candidates.iter().find_map(|c| self.entries.get(c).copied())
    }
}

/// `claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`; `gpt-4o-2024-08-06` → `gpt-4o`.
fn strip_date(id: &str) -> Option<String> {
    let b = id.as_bytes();
    let is_digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if b.len() > 9 && b[b.len() - 9] == b'-' && is_digits(&b[b.len() - 8..]) {
        return Some(id[..id.len() - 9].to_string());
    }
    if b.len() > 11 {
        let tail = &b[b.len() - 11..];
        if tail[0] == b'-'
            && is_digits(&tail[1..5])
            && tail[5] == b'-'
            && is_digits(&tail[6..8])
            && tail[8] == b'-'
            && is_digits(&tail[9..])
        {
            return Some(id[..id.len() - 11].to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_parses_and_has_major_vendors() {
        let t = PriceTable::builtin();
        assert!(t.len() >= 25);
        assert!(t.as_of.starts_with("20"));
        assert_eq!(t.lookup("openai", "gpt-4o-mini").map(|p| p.output), Some(0.60));
        assert_eq!(t.lookup("anthropic", "claude-sonnet-4-6").map(|p| p.input), Some(3.0));
        assert_eq!(t.lookup("gemini", "gemini-2.5-pro").map(|p| p.input), Some(1.25));
        assert_eq!(t.lookup("deepseek", "deepseek-chat").map(|p| p.output), Some(0.42));
        assert_eq!(t.lookup("mistral", "mistral-large-latest").map(|p| p.input), Some(0.50));
    }

    #[test]
    fn lookup_variants() {
        let t = PriceTable::builtin();
        assert!(t.lookup("openrouter", "anthropic/claude-sonnet-4-6").is_some());
        assert!(t.lookup("openrouter", "google/gemini-2.5-flash").is_some());
        assert!(t.lookup("anthropic", "claude-haiku-4-5-20251001").is_some());
        assert!(t.lookup("openai", "gpt-4o-2024-08-06").is_some());
        assert_eq!(t.lookup("openai", "no-such-model"), None);
        assert_eq!(strip_date("gpt-4o"), None);
    }

    #[test]
    fn cost_prices_cache_tokens_at_their_rates() {
        let p = Price { input: 3.0, output: 15.0, cached_input: Some(0.3), cache_write: Some(3.75) };
        let c = p.cost(Billable { input: 1_000_000, output: 0, cached: 0, cache_write: 0 });
        assert!((c - 3.0).abs() < 1e-12);
        // 600k plain, 300k cache hits, 100k cache writes, 200k out.
        let c = p.cost(Billable { input: 1_000_000, output: 200_000, cached: 300_000, cache_write: 100_000 });
        let want = 0.6 * 3.0 + 0.3 * 0.3 + 0.1 * 3.75 + 0.2 * 15.0;
        assert!((c - want).abs() < 1e-12, "{c} vs {want}");
        // Missing cache prices fall back to the input price.
        let p = Price { input: 1.0, output: 2.0, cached_input: None, cache_write: None };
        assert!((p.cost(Billable { input: 10, output: 0, cached: 5, cache_write: 0 }) - 10e-6).abs() < 1e-15);
    }

    #[test]
    fn litellm_import() {
        let mut t = PriceTable::builtin();
        let json = r#"{
            "sample_spec": {"input_cost_per_token": 0},
            "my-model": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6, "cache_read_input_token_cost": 1e-7, "litellm_provider": "openai", "mode": "chat"},
            "dall-e-3": {"output_cost_per_image": 0.04},
            "gpt-4o-mini": {"input_cost_per_token": 9e-6, "output_cost_per_token": 9e-6}
        }"#;
        assert_eq!(t.merge_litellm_json(json, "prices.json").unwrap(), 2);
        let p = t.lookup("openai", "my-model").unwrap();
        assert!((p.input - 1.0).abs() < 1e-9 && (p.output - 2.0).abs() < 1e-9);
        assert!((p.cached_input.unwrap() - 0.1).abs() < 1e-9);
        assert!((t.lookup("openai", "gpt-4o-mini").unwrap().input - 9.0).abs() < 1e-9);
        assert!(t.merge_litellm_json("[1,2]", "bad.json").unwrap_err().to_string().contains("bad.json"));
    }
}
