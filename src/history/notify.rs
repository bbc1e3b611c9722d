//! Delivering alerts to webhooks: a generic JSON POST (`{"alerts": [...]}`) or Slack's
//! incoming-webhook body (`{"text": "..."}`). The URL comes from an environment variable and is
//! never printed — a webhook is named by its variable in every message. A request has a timeout,
//! follows no redirect (a redirect could hand the alert, or a token in the URL, to another
//! origin), and is retried on connection errors, 429 and 5xx with a growing pause.

use super::alerts::Alert;
use crate::config::{Webhook, WebhookFormat};
use std::time::Duration;

/// Attempts per webhook.
const ATTEMPTS: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(10);

/// The body a webhook of `format` gets for `alerts`.
pub fn body(format: WebhookFormat, alerts: &[Alert]) -> serde_json::Value {
    match format {
        WebhookFormat::Json => serde_json::json!({
            "source": "bakeoff",
            "version": env!("CARGO_PKG_VERSION"),
            "alerts": alerts,
        }),
        WebhookFormat::Slack => {
            let lines: Vec<String> = alerts.iter().map(|a| format!("• {}", a.message)).collect();
            serde_json::json!({ "text": format!("bakeoff: {} alert(s)\n{}", alerts.len(), lines.join("\n")) })
        }
    }
}

/// What happened to one webhook.
#[derive(Debug)]
pub struct Delivery {
    /// The environment variable that names it.
    pub url_env: String,
    pub result: Result<(), String>,
}

/// Posts `alerts` to every webhook; never fails as a whole (each delivery says how it went).
pub async fn deliver(hooks: &[Webhook], alerts: &[Alert]) -> Vec<Delivery> {
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("bakeoff/", env!("CARGO_PKG_VERSION")))
        .build();
    let mut out = Vec::new();
    for hook in hooks {
        let result = match (&client, std::env::var(&hook.url_env)) {
            (Err(e), _) => Err(format!("cannot make an HTTP client: {e}")),
            (_, Err(_)) => Err(format!("${} is not set", hook.url_env)),
            (Ok(client), Ok(url)) => {
                // Whatever prints from now on has the URL (and any token in it) blanked.
                crate::redact::register(url.trim());
                post(client, url.trim(), &body(hook.format, alerts)).await
            }
        };
        out.push(Delivery { url_env: hook.url_env.clone(), result });
    }
    out
}

async fn post(client: &reqwest::Client, url: &str, body: &serde_json::Value) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
        }
        // `without_url`: the error's text must not carry the URL (it may hold a token).
        match client.post(url).json(body).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => {
                last = format!("HTTP {}", r.status().as_u16());
                let retry = r.status().is_server_error() || r.status().as_u16() == 429;
                if !retry {
                    return Err(last);
                }
            }
            Err(e) => {
                let e = e.without_url();
                if e.is_builder() {
                    return Err("the URL is not valid".into());
                }
                last = crate::redact::redact_owned(e.to_string());
            }
        }
    }
    Err(format!("{last} after {ATTEMPTS} attempts"))
}
