//! `bakeoff load`: how an endpoint holds up under many concurrent streams — live, bounded, and
//! measured honestly.
//!
//! - [`plan`]: the load shape (closed loop at concurrency C, open loop at R req/s constant or
//!   Poisson, ramp), the bounds, shards and SLOs, as data with pure maths.
//! - [`runner`]: workers / dispatcher start requests through the engine; each request's task
//!   folds its own stamped events and sends one [`record::Record`]; the monitor drains them.
//! - [`summary`]: exact counts and HDR histograms, the versioned summary document, exact merge.
//! - [`view`]: the live terminal view and the plain progress line.
//!
//! Open-loop runs also measure TTFT and latency from each request's *intended* start, so a
//! stalled server cannot hide its queue (coordinated omission).

pub mod args;
mod as_report;
pub mod hist;
pub mod plan;
pub mod record;
pub mod render;
pub mod runner;
pub mod summary;
pub mod view;

pub use args::{LoadArgs, LoadCommand};
pub use plan::{Arrival, Plan, Shape, Shard, Slo};
pub use runner::{MixItem, Monitor, Workload};
pub use summary::{Aggregate, Summary};

use crate::config::{self, Config, ModelSpec};
use crate::engine::ModelClient;
use crate::pricing::PriceTable;
use crate::provider::Message;
use anyhow::{Context, Result, bail};
use std::io::{IsTerminal, Write};
use std::sync::Arc;

/// Runs `bakeoff load …`; returns the exit status (0 all requests succeeded, 1 some failed or
/// were cancelled). Usage and configuration errors are `Err` (the caller exits 2).
/// `screen` takes over the terminal for the live view (given the run's interrupter for its stop
/// keys); it is called only when standard input and output are terminals and `--no-tui` is off.
pub async fn run_cli(
    args: LoadArgs,
    config: &Config,
    prices: &PriceTable,
    screen: impl FnOnce(&LoadArgs, runner::Interrupter) -> Result<Box<dyn view::LiveScreen>>,
) -> Result<u8> {
    match args.command.clone() {
        Some(LoadCommand::Merge(m)) => {
            let format = if m.json { crate::report::Format::Json } else { m.format };
            merge_files(&m.files, format, m.report.as_deref())?;
            return Ok(0);
        }
        Some(LoadCommand::Show(s)) => {
            let doc = summary::load(&s.file)?;
            emit(&doc, s.json, None)?;
            return Ok(0);
        }
        None => {}
    }
    let setup = Setup::from_args(&args, config, prices).await?;
    let out = match &args.out {
        Some(p) => Some(std::fs::File::create(p).with_context(|| format!("cannot create --out {}", p.display()))?),
        None => None,
    };
    let tui = !args.no_tui && std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    let mut setup = setup;
    let work = Arc::new(Workload::new(std::mem::take(&mut setup.clients), std::mem::take(&mut setup.mix)));
    let running = runner::start(work, &setup.plan);
    let intr = running.interrupter();
    let signal = crate::signals::on_stop(move |_| intr.interrupt()).context("cannot catch Ctrl-C")?;
    let mut mon = Monitor::new(running, Aggregate::new(&setup.model_names, setup.slo.clone()), out);
    let view_result = if tui {
        match screen(&args, mon.running.interrupter()) {
            Ok(mut screen) => view::run_live(&mut mon, &setup.view, screen.as_mut()).await,
            Err(e) => {
                // No live view (the terminal could not be set up): progress lines, and the run.
                eprintln!("no live view: {e:#}");
                view::run_plain(&mut mon, &setup.view, false).await;
                Ok(())
            }
        }
    } else {
        view::run_plain(&mut mon, &setup.view, false).await;
        Ok(())
    };
    signal.abort();
    let out_error = mon.finish();
    let mut doc = mon.agg.summary(setup.run_info(&mon), now());
    // Said before the run on stderr, and kept with the figures it explains.
    doc.warnings.splice(0..0, setup.warnings.iter().cloned());
    emit(&doc, args.json, args.report.as_deref())?;
    if let Some(server) = setup.server {
        server.shutdown().await;
    }
    if !args.record.no_history && !config.no_history {
        record_in_history(&doc, args.record.label.clone(), config.history_url.as_deref());
    }
    let mut push_failed = false;
    if let Some(url) = &args.record.push_gateway {
        use crate::history::export;
        let report = doc.to_report();
        let labels = export::RunLabels {
            cases: "load".into(),
            label: args.record.label.clone().unwrap_or_default(),
            started_at: doc.run.started_at.clone(),
        };
        let text = export::metrics_text(&[(labels, &report)], export::Dialect::Prometheus, None);
        match export::push(url, "bakeoff", "load", text).await {
            Ok(()) => eprintln!("pushed the load run's figures to the Pushgateway"),
            Err(e) => {
                eprintln!("error: pushing to the Pushgateway: {e}");
                push_failed = true;
            }
        }
    }
    view_result.context("the live view failed (the run itself completed)")?;
    if let Some(e) = out_error {
        bail!("cannot write --out: {e}");
    }
    let c = &doc.total.counts;
    Ok(if c.errors == 0 && c.cancelled == 0 && !push_failed { 0 } else { 1 })
}

/// Records the summary in the results history; trouble there is a warning, never a failure.
fn record_in_history(doc: &Summary, label: Option<String>, history_url: Option<&str>) {
    let recorded = serde_json::to_value(doc).map_err(anyhow::Error::from).and_then(|v| {
        let at = crate::history::Location::resolve(None, history_url)?;
        crate::history::Store::open(&at)?.record_load(&v, label)
    });
    if let Err(e) = recorded {
        eprintln!("warning: the results history did not record this load run: {e:#}");
    }
}

/// `bakeoff report merge`: combines shard summaries exactly, prints the result (text or JSON)
/// and saves it when asked.
pub fn merge_files(
    files: &[std::path::PathBuf],
    format: crate::report::Format,
    save: Option<&std::path::Path>,
) -> Result<()> {
    use crate::report::Format;
    let parts = files.iter().map(|f| summary::load(f)).collect::<Result<Vec<_>>>()?;
    let merged = summary::merge(&parts, now())?;
    match format {
        Format::Json | Format::Table => emit(&merged, format == Format::Json, save),
        Format::Markdown | Format::Html => {
            if let Some(p) = save {
                crate::files::write_atomic(p, (crate::sanitize::to_json_pretty(&merged)? + "\n").as_bytes())?;
            }
            let page =
                if format == Format::Html { render::render_html(&merged) } else { render::render_markdown(&merged) };
            std::io::stdout().lock().write_all(page.as_bytes())?;
            Ok(())
        }
    }
}

fn now() -> String {
    crate::session::rfc3339(std::time::SystemTime::now())
}

/// Prints the summary (JSON or text) and saves it if asked.
fn emit(doc: &Summary, json: bool, report: Option<&std::path::Path>) -> Result<()> {
    let text = crate::sanitize::to_json_pretty(doc)? + "\n";
    if let Some(p) = report {
        crate::files::write_atomic(p, text.as_bytes())?;
    }
    let mut stdout = std::io::stdout().lock();
    if json {
        stdout.write_all(text.as_bytes())?;
    } else {
        stdout.write_all(summary::render_text(doc).as_bytes())?;
    }
    Ok(())
}

/// A load run, resolved from the arguments.
pub struct Setup {
    /// This run's id in its summary ([`summary::RunInfo::run_ids`]).
    pub run_id: String,
    pub plan: Plan,
    pub clients: Vec<ModelClient>,
    pub model_names: Vec<String>,
    pub mix: Vec<MixItem>,
    pub slo: Option<Slo>,
    mix_size: u64,
    pub view: view::ViewInfo,
    /// The in-process mock server of `--demo`.
    pub server: Option<crate::mock::MockServer>,
    /// Said before the run and kept in its summary (an open-file limit too low).
    pub warnings: Vec<String>,
    args: LoadArgs,
    /// The price table's date, for the summary.
    prices_as_of: String,
}

impl Setup {
    /// Checks every argument before anything is sent (errors here exit 2).
    pub async fn from_args(args: &LoadArgs, config: &Config, prices: &PriceTable) -> Result<Setup> {
        let shard = match &args.shard {
            Some(s) => Shard::parse(s)?,
            None => Shard::default(),
        };
        let mut plan = Plan::new(
            args.concurrency,
            args.rate,
            args.arrival,
            args.ramp,
            args.requests,
            args.duration,
            args.grace,
            shard,
            args.seed.unwrap_or_else(rand::random),
        )?;
        plan.threads = args.threads.map_or(0, usize::from);
        let slo = args.slo.as_deref().map(Slo::parse).transpose()?;
        let mix = mix(args, config)?;
        let mut server = None;
        let mut specs: Vec<ModelSpec> = if args.demo {
            let s = crate::demo::start_server().await?;
            let picked = crate::demo::pick(&s, &args.models)?;
            server = Some(s);
            picked
        } else {
            config::select(config, &args.models, prices)?
        };
        config.apply_overrides(&mut specs);
        if specs.is_empty() {
            bail!(
                "no models to load: pass --models PRESET:MODEL_ID (e.g. openai:gpt-4o), configure models, or try --demo"
            );
        }
        if let Some(n) = args.max_tokens {
            specs.iter_mut().for_each(|s| s.max_tokens = Some(n));
        }
        let model_names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
        let clients = specs.into_iter().map(ModelClient::new).collect::<Result<Vec<_>>>()?;
        // One socket per open request (closed loop: per worker and model, kept between requests).
        let sockets = match plan.shape {
            Shape::Closed { concurrency } => Some(u64::from(concurrency) * model_names.len() as u64),
            Shape::Open { max_in_flight, .. } => max_in_flight.map(u64::from),
        };
        let mut warnings = Vec::new();
        if let Some((limit, _)) = crate::fd_limit::raise_to_hard()
            && let Some(warning) =
                sockets.and_then(|s| crate::fd_limit::shortfall(limit, crate::fd_limit::needed(s, server.is_some())))
        {
            eprintln!("warning: {warning}");
            warnings.push(warning);
        }
        let shape = match plan.shape {
            Shape::Closed { concurrency } => format!("closed loop, concurrency {concurrency}"),
            Shape::Open { rate, arrival, max_in_flight } => format!(
                "open loop, {rate} req/s {}{}",
                if arrival == Arrival::Poisson { "poisson" } else { "constant" },
                max_in_flight.map(|c| format!(", ≤{c} in flight")).unwrap_or_default()
            ),
        };
        let shard_note =
            if shard.is_whole() { String::new() } else { format!(" · shard {}/{}", shard.index, shard.count) };
        let view = view::ViewInfo {
            title: format!("{shape} · {} model(s){shard_note}", model_names.len()),
            requests: plan.requests,
            duration: plan.duration,
            open_loop: matches!(plan.shape, Shape::Open { .. }),
        };
        // Time, process and a random part: unique even for shards started at once on one host.
        let run_id = format!(
            "{}-p{}-{:08x}",
            crate::session::file_stamp(std::time::SystemTime::now()),
            std::process::id(),
            rand::random::<u32>()
        );
        Ok(Setup {
            plan,
            clients,
            model_names,
            mix_size: mix.len() as u64,
            mix,
            slo,
            view,
            server,
            warnings,
            args: args.clone(),
            run_id,
            prices_as_of: prices.as_of.clone(),
        })
    }

    /// The run's description for the summary (the totals as given, not the shard's part).
    pub fn run_info(&self, mon: &Monitor) -> summary::RunInfo {
        let a = &self.args;
        summary::RunInfo {
            started_at: crate::session::rfc3339(mon.running.started_wall),
            run_ids: vec![self.run_id.clone()],
            elapsed_s: (mon.run_elapsed_s() * 1e6).round() / 1e6,
            interrupted: mon.running.interrupted(),
            mode: if a.rate.is_some() { summary::LoopMode::Open } else { summary::LoopMode::Closed },
            concurrency: a.concurrency,
            rate: a.rate,
            arrival: a.rate.is_some().then_some(a.arrival),
            ramp_s: a.ramp.map(|d| d.as_secs_f64()),
            requests: a.requests,
            duration_s: a.duration.map(|d| d.as_secs_f64()),
            grace_s: a.grace.as_secs_f64(),
            shard: self.plan.shard,
            shards: vec![self.plan.shard.index],
            models: self.model_names.clone(),
            mix_size: self.mix_size,
            slo: self.slo.clone(),
            prices_as_of: self.prices_as_of.clone(),
        }
    }
}

/// The request bodies: `--cases` (each case's conversation) or `--prompt` (with `--system`).
fn mix(args: &LoadArgs, config: &Config) -> Result<Vec<MixItem>> {
    if let Some(path) = &args.cases {
        let set = crate::cases::load(path)?;
        if let Some(e) = set.errors.first() {
            bail!("{e} ({} bad case(s) in the file; a load run needs a clean mix)", set.errors.len());
        }
        if set.cases.is_empty() {
            bail!("{}: no cases", path.display());
        }
        if let Some(w) = set.ignored_warning(path) {
            eprintln!("warning: {w}");
        }
        let multi = set.cases.iter().filter(|c| !c.turns.is_empty()).count();
        if multi > 0 {
            // A load request is one request: a conversation would measure the next turn's
            // wait on the previous answer, not the server.
            eprintln!(
                "warning: {}: {multi} case(s) have follow-up turns; a load run sends each case's first turn only",
                path.display()
            );
        }
        return Ok(set.cases.into_iter().map(MixItem::from_case).collect());
    }
    let Some(prompt) = args.prompt.clone().filter(|p| !p.trim().is_empty()) else {
        if args.demo {
            return Ok(vec![MixItem::new(None, vec![Message::user("Explain what a load test measures, briefly.")])]);
        }
        bail!("no request to send: pass --prompt TEXT or --cases FILE");
    };
    let mut messages = Vec::new();
    if let Some(s) = args.system.clone().or_else(|| config.defaults.system.clone()).filter(|s| !s.trim().is_empty()) {
        messages.push(Message::system(s));
    }
    messages.push(Message::user(prompt));
    Ok(vec![MixItem::new(None, messages)])
}
