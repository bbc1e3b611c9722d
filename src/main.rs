//! The `bakeoff` binary: parses the command line, picks a mode, maps outcomes to exit codes
//! (0 all models succeeded, 1 a model failed, 2 usage or configuration error).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;
mod report_cmd;

use anyhow::{Context, Result, bail};
use bakeoff::config::{self, Config, ModelSpec};
use bakeoff::engine::ModelClient;
use bakeoff::headless::{self, RunDocument};
use bakeoff::pricing::PriceTable;
use bakeoff::provider::Message;
use bakeoff::provider::attach::Attachment;
use bakeoff::session::{BatchPlan, PlannedModel};
use bakeoff::{demo, mock};
use clap::Parser;
use cli::{Cli, Command, RunArgs};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    // First, so hooks chained later (the TUI's) see caught request panics as such.
    bakeoff::panics::install();
    let cli = Cli::parse();
    // `run` and `load` estimate every request's tokens as they fold its events: load the
    // tokenizer in the background now, or the first request would wait for it. The TUI counts
    // roughly while streaming and loads it only for a final count no usage reported.
    if matches!(cli.command, Some(Command::Run(_) | Command::Load(_))) {
        std::thread::spawn(bakeoff::tokens::warm_up);
    }
    if cli.command.is_none() {
        bakeoff::footprint::prefer_small_pages();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        // Output cut short by a closed pipe: quiet, with the status of a tool SIGPIPE ended.
        Err(e) if is_broken_pipe(&e) => ExitCode::from(141),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    let prices = load_prices(&cli.global)?;
    match cli.command {
        Some(Command::MockServer(a)) => {
            mock::serve_until_ctrl_c(a.addr).await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Models) => {
            let config = load_config(&cli.global, &prices)?;
            print_models(&config)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Report(a)) => Ok(ExitCode::from(report_cmd::run(a.into_command())?)),
        Some(Command::Load(args)) => {
            let config = load_config(&cli.global, &prices)?;
            let screen = |args: &bakeoff::load::args::LoadArgs, stop| {
                let s = bakeoff::tui::load_view::LoadScreen::enter(args.theme.as_deref(), stop)?;
                Ok(Box::new(s) as Box<dyn bakeoff::load::view::LiveScreen>)
            };
            Ok(ExitCode::from(bakeoff::load::run_cli(*args, &config, &prices, screen).await?))
        }
        Some(Command::History(args)) => {
            let config = load_config(&cli.global, &prices)?;
            history_command(args, &config).await
        }
        Some(Command::Trend(args)) => {
            let config = load_config(&cli.global, &prices)?;
            trend_command(args, &config)
        }
        Some(Command::Run(args)) => {
            let config = load_config(&cli.global, &prices)?;
            run(*args, &config, &prices, cli.global.config.as_deref()).await
        }
        None => {
            // The interactive view (it refuses to start without a terminal): the configured
            // models, else the built-in demo.
            let config = load_config(&cli.global, &prices)?;
            let demo = cli.tui.demo || (config.models.is_empty() && cli.tui.models.is_empty());
            config.check_judges(|j| demo && demo::is_demo_model(j))?;
            let mut server = None;
            let models = if demo {
                let s = demo::start_server().await?;
                if let Some(path) = &cli.tui.cases {
                    // Read again by the TUI, which reports its errors; here only for the answers.
                    if let Ok(set) = bakeoff::cases::load(path) {
                        demo::teach(&s, &set.cases, path.parent().unwrap_or(Path::new(".")));
                    }
                }
                let specs = demo::demo_specs(&s);
                server = Some(s);
                specs
            } else {
                config::select(&config, &cli.tui.models, &prices)?
            };
            let mut models = models;
            config.apply_overrides(&mut models);
            let evaluators_dir = config
                .path
                .as_deref()
                .and_then(|p| p.parent())
                .map(std::path::Path::to_path_buf)
                .unwrap_or_else(|| ".".into());
            let opts = bakeoff::tui::TuiOptions {
                models,
                demo,
                theme: cli.tui.theme.clone(),
                system: cli.tui.system.clone().or(config.defaults.system.clone()),
                mouse: cli.tui.mouse,
                evaluators: config.evaluators.clone(),
                evaluators_dir,
                judge_models: config.models.clone(),
                embedder: match &server {
                    Some(s) => Some(demo::embedder(s, config.embedder.as_ref())),
                    None => config.embedder.clone(),
                },
                blind: cli.tui.blind,
                resume: cli.tui.resume.clone(),
                journal: cli.tui.journal.clone(),
                cases: cli.tui.cases.clone(),
                out: cli.tui.out.clone(),
                prices_as_of: prices.as_of.clone(),
                history: if config.no_history || cli.tui.no_history {
                    None
                } else {
                    Some(bakeoff::history::Location::resolve(None, config.history_url.as_deref())?)
                },
            };
            let result = bakeoff::tui::run(opts).await;
            if let Some(s) = server {
                s.shutdown().await;
            }
            Ok(match result? {
                Some(stop) => ExitCode::from(stop.exit_status()),
                None => ExitCode::SUCCESS,
            })
        }
    }
}

fn load_prices(g: &cli::GlobalArgs) -> Result<PriceTable> {
    let mut prices = PriceTable::builtin();
    if let Some(path) = &g.pricing {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read --pricing {}", path.display()))?;
        prices.merge_litellm_json(&text, &path.display().to_string())?;
        // The prices are now the file's, as of when it was last written (a price map carries no
        // date of its own); reports and journals say so instead of the built-in table's date.
        let when = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        prices.as_of = match when {
            Some(t) => format!("{} ({name})", &bakeoff::session::rfc3339(t)[..10]),
            None => format!("custom ({name})"),
        };
    }
    Ok(prices)
}

/// Set once standard output is found closed (`bakeoff run … | head -1`): later output is
/// dropped, the work (journal, report files) still completes.
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes `text` to standard output; a closed pipe is not an error (see [`STDOUT_CLOSED`]).
fn print_out(text: &str) -> Result<()> {
    if STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
        r => r.context("cannot write to standard output"),
    }
}

/// Streams output to stdout through `write`; a closed pipe ends it quietly, as [`print_out`].
fn write_out(write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    if STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match write(&mut out) {
        Err(e) if is_broken_pipe(&e) => {
            STDOUT_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
        r => r.context("cannot write to standard output"),
    }
}

/// Whether `e` is a write to a closed pipe somewhere down its chain.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

fn print_models(config: &Config) -> Result<()> {
    let mut text = String::new();
    match &config.path {
        Some(p) => text.push_str(&format!("config: {}\n", p.display())),
        None => match config::config_path(None) {
            Some((p, _)) => text.push_str(&format!("config: none found (looked for {})\n", p.display())),
            None => text.push_str("config: none found\n"),
        },
    }
    if config.models.is_empty() {
        text.push_str("no models configured. Use PRESET:MODEL_ID ad hoc (e.g. --models openai:gpt-4o) or --demo.\n");
        text.push_str(&format!("presets: {}\n", config::PRESETS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")));
        return print_out(&text);
    }
    let rows: Vec<[String; 6]> = config
        .models
        .iter()
        .map(|m| {
            let price =
                m.price.map(|p| format!("${}/${} per Mtok", p.input, p.output)).unwrap_or_else(|| "unknown".into());
            [m.name.clone(), m.provider.clone(), m.model.clone(), m.base_url.clone(), m.key_status(), price]
        })
        .collect();
    let head = ["name", "provider", "model", "endpoint", "key", "price"].map(String::from);
    let mut w = head.clone().map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in w.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in std::iter::once(&head).chain(&rows) {
        let line: Vec<String> = r.iter().zip(w).map(|(c, w)| format!("{c:w$}")).collect();
        text.push_str(line.join("  ").trim_end());
        text.push('\n');
    }
    print_out(&text)
}

/// The models `run` uses: the demo's (starting the in-process mock server into `server`) or the
/// configured / ad-hoc ones.
async fn pick_models(
    args: &RunArgs,
    config: &Config,
    prices: &PriceTable,
    server: &mut Option<mock::MockServer>,
) -> Result<Vec<ModelSpec>> {
    let specs = if args.demo {
        let s = demo::start_server().await?;
        let picked = demo::pick(&s, &args.models)?;
        *server = Some(s);
        picked
    } else {
        config::select(config, &args.models, prices)?
    };
    let mut specs = specs;
    config.apply_overrides(&mut specs);
    if specs.is_empty() {
        let where_ = config::config_path(None).map(|(p, _)| p.display().to_string()).unwrap_or_default();
        bail!(
            "no models to run: pass --models PRESET:MODEL_ID (e.g. openai:gpt-4o), configure models in {where_}, \
             or try --demo"
        );
    }
    Ok(specs)
}

/// The config (see [`config::load`]) with the `--tools` file, if given, read.
fn load_config(global: &cli::GlobalArgs, prices: &PriceTable) -> Result<Config> {
    let mut config = config::load(global.config.as_deref(), prices)?;
    if let Some(path) = &global.tools {
        config.tools =
            Some(bakeoff::provider::tools::Tools::from_file(path).map_err(|e| anyhow::anyhow!("--tools: {e}"))?);
    }
    if let Some(path) = &global.schema {
        use bakeoff::provider::output::OutputSchema;
        // Named after the file when its stem makes a valid name, else the default name.
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|s| OutputSchema::new(Some(s), serde_json::json!({}), true).is_ok());
        let schema =
            OutputSchema::read(&serde_json::Value::String(path.display().to_string()), std::path::Path::new(""))
                .and_then(|v| OutputSchema::new(stem, v, true))
                .map_err(|e| anyhow::anyhow!("--schema: {e}"))?;
        config.schema = Some(schema);
    }
    Ok(config)
}

/// Cancels `token` on Ctrl-C, SIGTERM or SIGHUP. The handlers are registered before this
/// returns, so a signal that arrives right after cannot kill the process uncleanly.
fn cancel_on_ctrl_c(token: &CancellationToken) {
    let t = token.clone();
    if let Err(e) = bakeoff::signals::on_stop(move |_| t.cancel()) {
        eprintln!("warning: cannot catch Ctrl-C ({e}); an interrupted run loses its report");
    }
}

/// The exit status after an interrupted run: 128 + the signal that stopped it.
fn interrupted_status() -> ExitCode {
    ExitCode::from(bakeoff::signals::received().map_or(130, bakeoff::signals::Stop::exit_status))
}

/// `--report PATH` → (directory, file stem).
fn report_target(path: &std::path::Path) -> (PathBuf, String) {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "report".into());
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).map(PathBuf::from).unwrap_or_else(|| ".".into());
    (dir, stem)
}

/// Defaults of the case-set flags (`None` on the command line: not given).
const DEFAULT_REPEAT: u32 = 1;
const DEFAULT_CONCURRENCY: u64 = 4;
const DEFAULT_RETRIES: u32 = 3;

/// Flags that only mean something for a case set: an error without `--cases`/`--resume`, rather
/// than silently ignored.
fn refuse_case_flags_without_cases(args: &RunArgs) -> Result<()> {
    let given = [
        ("--repeat", args.repeat.is_some()),
        ("--concurrency", args.concurrency.is_some()),
        ("--per-provider", args.per_provider.is_some()),
        ("--retries", args.retries.is_some()),
        ("--strict", args.strict),
        ("--journal", args.journal.is_some()),
    ];

    match given.iter().find(|(_, g)| *g) {
        Some((flag, _)) => bail!("{flag} applies to case-set runs: pass --cases FILE (or --resume JOURNAL)"),
        None => Ok(()),
    }
}

/// `--resume J`: the plan recorded in J fills in every flag left out; a flag given that says
/// otherwise is refused (resuming must finish the same run, not a different one). Returns the
/// plan and the config it names.
fn apply_plan(
    args: &mut RunArgs,
    prior: Option<&bakeoff::session::Session>,
    config: &Config,
    prices: &PriceTable,
    config_flag: Option<&Path>,
) -> Result<Option<(BatchPlan, Config)>> {
    let (Some(journal), Some(prior)) = (args.resume.clone(), prior) else { return Ok(None) };
    let Some(plan) = prior.environment.plan.clone() else {
        if args.cases.is_none() {
            bail!(
                "{} records no plan (written by an older bakeoff): pass the original run's --cases, --models and \
                 other flags with --resume",
                journal.display()
            );
        }
        return Ok(None);
    };
    let refuse = |flag: &str, given: String, planned: String| -> Result<()> {
        bail!(
            "{flag} {given} contradicts the plan in {} ({planned}); leave it out to finish that run, or start a new one",
            journal.display()
        )
    };
    if let Some(c) = &args.cases {
        let given = std::fs::canonicalize(c).unwrap_or_else(|_| c.clone());
        if given.display().to_string() != plan.cases {
            refuse("--cases", c.display().to_string(), plan.cases.clone())?;
        }
    }
    if args.demo && !plan.demo {
        refuse("--demo", String::new(), "configured models".into())?;
    }
    if let Some(flag) = config_flag {
        let given = std::fs::canonicalize(flag).unwrap_or_else(|_| flag.to_path_buf()).display().to_string();
        if plan.config.as_deref() != Some(given.as_str()) {
            let planned = plan.config.clone().unwrap_or_else(|| "no config file".into());
            refuse("--config", flag.display().to_string(), planned)?;
        }
    }
    if !args.models.is_empty() && args.models != plan.selection {
        refuse("--models", args.models.join(","), plan.selection.join(","))?;
    }
    let text = |v: Option<String>| v.unwrap_or_else(|| "not set".into());
    let checks = [
        ("--repeat", args.repeat.map(|v| v.to_string()), plan.repeat.to_string()),
        ("--concurrency", args.concurrency.map(|v| v.to_string()), plan.concurrency.to_string()),
        ("--retries", args.retries.map(|v| v.to_string()), plan.retries.to_string()),
        ("--per-provider", args.per_provider.map(|v| v.to_string()), text(plan.per_provider.map(|v| v.to_string()))),
        ("--max-tokens", args.max_tokens.map(|v| v.to_string()), text(plan.max_tokens.map(|v| v.to_string()))),
        ("--system", args.system.clone(), text(plan.system.clone())),
    ];
    for (flag, given, planned) in checks {
        if let Some(g) = given
            && g != planned
        {
            refuse(flag, g, planned)?;
        }
    }
    let config = match (&plan.config, plan.demo) {
        (Some(path), false) if config.path.as_ref().is_none_or(|p| p.display().to_string() != *path) => {
            config::load(Some(Path::new(path)), prices)?
        }
        _ => config.clone(),
    };
    args.cases = Some(PathBuf::from(&plan.cases));
    args.demo = plan.demo;
    args.models = plan.selection.clone();
    args.repeat = Some(plan.repeat);
    args.concurrency = Some(plan.concurrency);
    args.retries = Some(plan.retries);
    args.per_provider = plan.per_provider;
    args.max_tokens = plan.max_tokens;
    args.system = plan.system.clone();
    Ok(Some((plan, config)))
}

/// The plan of a new case-set run, to be journaled.
fn new_plan(args: &RunArgs, case_file: &Path, case_bytes: &[u8], config: &Config, specs: &[ModelSpec]) -> BatchPlan {
    let absolute = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string();
    BatchPlan {
        cases: absolute(case_file),
        cases_hash: bakeoff::files::content_hash(case_bytes),
        demo: args.demo,
        config: config.path.as_deref().map(absolute),
        selection: args.models.clone(),
        models: specs
            .iter()
            .map(|s| PlannedModel {
                name: s.name.clone(),
                provider: s.provider.clone(),
                model: s.model.clone(),
                settings: s.fingerprint(!args.demo),
            })
            .collect(),
        repeat: args.repeat.unwrap_or(DEFAULT_REPEAT),
        concurrency: args.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
        per_provider: args.per_provider,
        retries: args.retries.unwrap_or(DEFAULT_RETRIES),
        system: args.system.clone(),
        max_tokens: args.max_tokens,
    }
}

/// A resumed run must be the planned one: same case file contents, same models set up the same way.
fn check_plan(old: &BatchPlan, now: &BatchPlan, journal: &Path) -> Result<()> {
    if old.cases_hash != now.cases_hash {
        bail!(
            "{} changed since the run in {} started; resuming would mix two case sets (start a new run instead)",
            old.cases,
            journal.display()
        );
    }
    for m in &old.models {
        match now.models.iter().find(|n| n.name == m.name) {
            None => bail!("model {} of the run in {} is no longer configured", m.name, journal.display()),
            Some(n) if n.settings != m.settings => bail!(
                "model {}'s settings (URL, model id, price, limits, extras, headers or timeouts) changed since the \
                 run in {} started; pass the same --config and --pricing, or start a new run",
                m.name,
                journal.display()
            ),
            Some(_) => {}
        }
    }
    Ok(())
}

/// The report options `run --cases` asks for (checked before the run starts).
fn batch_report_options(args: &RunArgs) -> Result<bakeoff::report::ReportOptions> {
    if !(0.0..=1.0).contains(&args.min_acceptance) {
        bail!("--min-acceptance must be between 0 and 1");
    }
    let mut opts = bakeoff::report::ReportOptions::default();
    opts.routing.min_acceptance = args.min_acceptance;
    opts.routing.max_p95_ttft_ms = args.max_ttft_p95;
    if let Some(seed) = args.seed {
        opts.bootstrap.seed = seed;
    }
    Ok(opts)
}

/// The case file of `--cases`: its path, its bytes (for the plan's hash) and its cases. Bad
/// cases are warned about, or refused under `--strict`.
fn read_case_set(args: &RunArgs) -> Result<(PathBuf, Vec<u8>, bakeoff::cases::CaseSet)> {
    let Some(case_file) = args.cases.clone() else { bail!("--cases is required") };
    let case_bytes = std::fs::read(&case_file).with_context(|| format!("cannot read {}", case_file.display()))?;
    let set = bakeoff::cases::load(&case_file)?;
    for e in &set.errors {
        eprintln!("warning: {e}");
    }
    if args.strict && !set.errors.is_empty() {
        bail!("{} bad case(s) in {} and --strict is set", set.errors.len(), case_file.display());
    }
    if let Some(w) = set.ignored_warning(&case_file) {
        if args.strict {
            bail!("{w}; --strict is set");
        }
        eprintln!("warning: {w}");
    }
    if set.cases.is_empty() {
        bail!("{}: no cases to run", case_file.display());
    }
    Ok((case_file, case_bytes, set))
}

/// Clients for the judges any evaluator names, built from the configured (or chosen) models,
/// and the embedder (the demo's, on `server`, under `--demo`).
fn graders(
    config: &Config,
    specs: &[bakeoff::config::ModelSpec],
    cases: &[bakeoff::cases::Case],
    server: Option<&mock::MockServer>,
) -> Result<bakeoff::eval::Graders> {
    let mut judge_names: Vec<String> =
        config.evaluators.iter().flat_map(|e| e.judge_models()).map(String::from).collect();
    for c in cases {
        judge_names.extend(c.evaluators.iter().flat_map(|e| e.judge_models()).map(String::from));
    }
    let mut judges = std::collections::HashMap::new();
    for name in judge_names {
        if judges.contains_key(&name) {
            continue;
        }
        match config.models.iter().chain(specs).find(|m| m.name == name) {
            Some(spec) => {
                judges.insert(name, ModelClient::new(spec.clone())?);
            }
            None => eprintln!("warning: judge model {name:?} is not configured; its evaluations will be errors"),
        }
    }
    let embedder = match server {
        Some(s) => Some(demo::embedder(s, config.embedder.as_ref())),
        None => config.embedder.clone(),
    };
    let wants_embedder = config
        .evaluators
        .iter()
        .chain(cases.iter().flat_map(|c| &c.evaluators))
        .any(|e| e.kind() == bakeoff::eval::EvaluatorKind::Similarity);
    if wants_embedder && embedder.is_none() {
        eprintln!(
            "warning: similarity evaluators need an embedder (set `embedder = \"openai:text-embedding-3-small\"` \
             in the config); their evaluations will be errors"
        );
    }
    let embedder = embedder.map(bakeoff::embedder::Embedder::new).transpose()?;
    Ok(bakeoff::eval::Graders { judges, embedder })
}

/// `config_flag`: the `--config` given on the command line, which a resumed plan must agree with.
async fn run_cases(
    mut args: RunArgs,
    config: &Config,
    prices: &PriceTable,
    config_flag: Option<&Path>,
) -> Result<ExitCode> {
    // The journal is locked before it is read: what the plan says is what this process continues.
    let resumed = args.resume.as_deref().map(bakeoff::session::Journal::resume).transpose()?;
    let planned = apply_plan(&mut args, resumed.as_ref().map(|(_, s)| s), config, prices, config_flag)?;
    let config = planned.as_ref().map_or(config, |(_, c)| c);
    // Every flag is checked before anything runs.
    let report_opts = batch_report_options(&args)?;
    config.check_judges(|j| args.demo && demo::is_demo_model(j))?;
    let (case_file, case_bytes, set) = read_case_set(&args)?;
    let mut server = None;
    let mut specs = pick_models(&args, config, prices, &mut server).await?;
    if let Some(s) = &server {
        // The demo models know the set's answers in proportion to their quality.
        demo::teach(s, &set.cases, case_file.parent().unwrap_or(Path::new(".")));
    }
    if let Some(n) = args.max_tokens {
        specs.iter_mut().for_each(|s| s.max_tokens = Some(n));
    }
    let graders = graders(config, &specs, &set.cases, server.as_ref())?;
    let clients =
        specs.iter().cloned().map(|s| ModelClient::new(s).map(std::sync::Arc::new)).collect::<Result<Vec<_>>>()?;
    let plan = new_plan(&args, &case_file, &case_bytes, config, &specs);
    if let (Some((old, _)), Some(journal)) = (&planned, &args.resume) {
        check_plan(old, &plan, journal)?;
    }
    let concurrency = args.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    let mut env = bakeoff::session::Environment::here("batch", concurrency as usize, &prices.as_of);
    env.plan = Some(plan);
    let (journal, prior) = match (resumed, &args.journal) {
        (Some(resumed), _) => resumed,
        (None, Some(path)) => bakeoff::session::open_journal(None, path, env)?,
        (None, None) => {
            let dir =
                bakeoff::session::sessions_dir().context("no data directory on this platform: pass --journal FILE")?;
            bakeoff::session::begin_journal(bakeoff::session::Journal::create_unique(&dir, "-batch")?, env)?
        }
    };
    let journal_path = journal.path().to_path_buf();
    let batch = bakeoff::batch::Batch {
        clients,
        graders: std::sync::Arc::new(graders),
        evaluators: config.evaluators.clone(),
        cases_dir: case_file.parent().map(PathBuf::from).unwrap_or_else(|| ".".into()),
        options: bakeoff::batch::BatchOptions {
            repeat: args.repeat.unwrap_or(DEFAULT_REPEAT),
            concurrency: concurrency as usize,
            per_provider: args.per_provider.map(|k| k as usize),
            retry: bakeoff::batch::RetryPolicy {
                max_retries: args.retries.unwrap_or(DEFAULT_RETRIES),
                ..Default::default()
            },
            system: args.system.clone().or_else(|| config.defaults.system.clone()),
        },
    };
    let cancel = CancellationToken::new();
    cancel_on_ctrl_c(&cancel);
    let bar = headless::BatchProgress::new(std::io::stderr().is_terminal());
    eprintln!("journal: {}", journal_path.display());
    let progress = bar.clone();
    let meta = bakeoff::history::RunMeta::for_journal(&prior, &journal_path, args.record.label.clone());
    let recorder = history_recorder(args.record.no_history, config, &meta);
    let recorded_run = recorder.as_ref().and_then(|r| r.run_id());
    let sinks: Vec<Box<dyn bakeoff::session::EntrySink>> = recorder.map(|r| Box::new(r) as _).into_iter().collect();
    let outcome = batch.run_recorded(&set.cases, journal, &prior, sinks, cancel, move |p| progress.update(&p)).await?;
    bar.finish();
    if let Some(s) = server {
        s.shutdown().await;
    }
    let opts = bakeoff::report::ReportOptions { partial: outcome.interrupted, ..report_opts };
    let report = bakeoff::report::build(&outcome.session, &opts);
    if args.json {
        print_out(&(bakeoff::report::render(&report, bakeoff::report::Format::Json) + "\n"))?;
    } else {
        print_out(&bakeoff::report::render(&report, bakeoff::report::Format::Table))?;
    }
    if let Some(path) = &args.report {
        let (dir, stem) = report_target(path);
        for p in bakeoff::report::save(&report, &dir, &stem)? {
            eprintln!("wrote {}", p.display());
        }
    }
    if outcome.interrupted {
        eprintln!(
            "interrupted: the report is marked partial; continue with `bakeoff run --resume {}`",
            shell_word(&journal_path.display().to_string())
        );
        return Ok(interrupted_status());
    }
    let mut status = if outcome.failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) };
    if let Some(url) = &args.record.push_gateway {
        let labels = bakeoff::history::export::RunLabels {
            cases: case_file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            label: args.record.label.clone().unwrap_or_default(),
            started_at: outcome.session.started_at.clone(),
        };
        if !push_run(url, labels, &report).await {
            status = ExitCode::from(1);
        }
    }
    alerts_after_run(config, recorded_run, status).await
}

/// `--push-gateway`: this run's figures to a Pushgateway; says how it went (never the URL).
async fn push_run(url: &str, labels: bakeoff::history::export::RunLabels, report: &bakeoff::report::Report) -> bool {
    use bakeoff::history::export;
    let text = export::metrics_text(&[(labels.clone(), report)], export::Dialect::Prometheus, None);
    match export::push(url, "bakeoff", &labels.cases, text).await {
        Ok(()) => {
            eprintln!("pushed the run's figures to the Pushgateway");
            true
        }
        Err(e) => {
            eprintln!("error: pushing to the Pushgateway: {e}");
            false
        }
    }
}

/// `bakeoff trend`: one metric per model over the recorded runs.
fn trend_command(args: cli::TrendArgs, config: &Config) -> Result<ExitCode> {
    let at = bakeoff::history::Location::resolve(args.db.as_deref(), config.history_url.as_deref())?;
    let store = bakeoff::history::Store::open(&at)?;
    let filter = bakeoff::history::RunFilter {
        since: Some(bakeoff::history::parse_since(&args.since)?),
        model: args.model.clone(),
        label: args.label,
        cases: args.cases,
    };
    let trend = bakeoff::history::trend::trend(&store, args.metric, &filter, args.model.as_deref())?;
    let format = if args.json { cli::TrendFormat::Json } else { args.format };
    match format {
        cli::TrendFormat::Json => print_out(&(bakeoff::sanitize::to_json_pretty(&trend)? + "\n"))?,
        cli::TrendFormat::Html => print_out(&bakeoff::history::trend::to_html(&trend))?,
        cli::TrendFormat::Table => print_out(&bakeoff::history::trend::render(&trend))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Exit status when an alert fired.
const ALERT_STATUS: u8 = 3;

/// Checks the config's alert rules on `scope`, prints what fired (on stdout for `history check`,
/// stderr after a run) and delivers it to the webhooks, or with `dry_run` prints the bodies it
/// would send. Returns whether any fired.
async fn fire_alerts(
    config: &Config,
    store: &bakeoff::history::Store,
    scope: bakeoff::history::alerts::Scope,
    dry_run: bool,
    to_stdout: bool,
) -> Result<bool> {
    let alerts = bakeoff::history::alerts::check(store, &config.alerts, scope)?;
    if alerts.is_empty() {
        return Ok(false);
    }
    let mut text = String::new();
    for a in &alerts {
        text.push_str(&format!("ALERT {}\n", bakeoff::sanitize::one_line(&a.message)));
    }
    if dry_run {
        for hook in &config.webhooks {
            let body = bakeoff::history::notify::body(hook.format, &alerts);
            text.push_str(&format!("would POST to ${}: {}\n", hook.url_env, bakeoff::sanitize::to_json_pretty(&body)?));
        }
    } else {
        for d in bakeoff::history::notify::deliver(&config.webhooks, &alerts).await {
            match d.result {
                Ok(()) => text.push_str(&format!("alert sent to ${}\n", d.url_env)),
                Err(e) => text.push_str(&format!("warning: alert not delivered to ${}: {e}\n", d.url_env)),
            }
        }
    }
    if to_stdout {
        print_out(&text)?;
    } else {
        eprint!("{text}");
    }
    Ok(true)
}

/// After a recorded run: its alerts (exit status 3 when one fired).
async fn alerts_after_run(config: &Config, run: Option<i64>, status: ExitCode) -> Result<ExitCode> {
    if config.alerts.is_empty() {
        return Ok(status);
    }
    let Some(run) = run else {
        // Said, not skipped silently: the rules read what the history holds.
        eprintln!("warning: the [[alerts]] were not checked: the results history is off for this run");
        return Ok(status);
    };
    let at = bakeoff::history::Location::resolve(None, config.history_url.as_deref())?;
    let store = bakeoff::history::Store::open(&at)?;
    let scope = bakeoff::history::alerts::Scope::Run(run);
    Ok(if fire_alerts(config, &store, scope, false, false).await? { ExitCode::from(ALERT_STATUS) } else { status })
}

/// `bakeoff history`: list runs, import journals, or check the alert rules.
async fn history_command(args: cli::HistoryArgs, config: &Config) -> Result<ExitCode> {
    let at = bakeoff::history::Location::resolve(args.db.as_deref(), config.history_url.as_deref())?;
    let mut store = bakeoff::history::Store::open(&at)?;
    let filter = bakeoff::history::RunFilter {
        since: args.since.as_deref().map(bakeoff::history::parse_since).transpose()?,
        model: args.model.clone(),
        label: args.label.clone(),
        cases: args.cases.clone(),
    };
    match args.command {
        Some(cli::HistoryCommand::Export { format, push_gateway }) => {
            use bakeoff::history::export;
            match format {
                // Streamed: rows go out as the database yields them.
                cli::ExportFormat::Csv => {
                    write_out(|out| export::write_csv(out, &mut |each| store.each_request(&filter, false, each)))?
                }
                cli::ExportFormat::Jsonl => {
                    write_out(|out| export::write_jsonl(out, &mut |each| store.each_request(&filter, true, each)))?
                }
                cli::ExportFormat::Openmetrics => {
                    let runs = store.runs(&filter)?;
                    let latest = export::latest_of_each_case_set(&runs);
                    print_out(&export::metrics(&store, &latest, export::Dialect::OpenMetrics, Some("bakeoff"))?)?;
                }
            }
            if let Some(url) = push_gateway {
                let runs = store.runs(&filter)?;
                let mut failed = false;
                for run in export::latest_of_each_case_set(&runs) {
                    let text = export::metrics(&store, &[run], export::Dialect::Prometheus, None)?;
                    let set = export::case_set_name(run);
                    match export::push(&url, "bakeoff", &set, text).await {
                        Ok(()) => eprintln!("pushed run {} ({set}) to the Pushgateway", run.id),
                        Err(e) => {
                            eprintln!("error: pushing run {} to the Pushgateway: {e}", run.id);
                            failed = true;
                        }
                    }
                }
                if failed {
                    return Ok(ExitCode::from(1));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(cli::HistoryCommand::Check { dry_run }) => {
            if config.alerts.is_empty() {
                bail!("no [[alerts]] in the config: nothing to check (see README › Results history)");
            }
            let scope = bakeoff::history::alerts::Scope::LatestOfEachCaseSet;
            if fire_alerts(config, &store, scope, dry_run, true).await? {
                Ok(ExitCode::from(ALERT_STATUS))
            } else {
                print_out(&format!("no alert fired ({} rule(s))\n", config.alerts.len()))?;
                Ok(ExitCode::SUCCESS)
            }
        }
        Some(cli::HistoryCommand::Import { files }) => {
            let mut failed = false;
            for f in &files {
                match store.import_journal(f) {
                    Ok((id, true)) => println!("imported {} as run {id}", f.display()),
                    Ok((id, false)) => println!("skipped {}: already recorded as run {id}", f.display()),
                    Err(e) => {
                        eprintln!("error: {}: {e:#}", f.display());
                        failed = true;
                    }
                }
            }
            Ok(if failed { ExitCode::from(2) } else { ExitCode::SUCCESS })
        }
        None => {
            let runs = store.runs(&filter)?;
            if args.json {
                print_out(&(bakeoff::sanitize::to_json_pretty(&serde_json::json!({ "runs": runs }))? + "\n"))?;
            } else {
                print_out(&bakeoff::history::render_runs(&runs, store.location()))?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The results history's recorder for this run, unless it is turned off (`--no-history`,
/// `history = false`). Trouble with the history is a warning: the run goes on without it.
fn history_recorder(
    no_history: bool,
    config: &Config,
    meta: &bakeoff::history::RunMeta,
) -> Option<bakeoff::history::Recorder> {
    if no_history || config.no_history {
        return None;
    }
    let at = match bakeoff::history::Location::resolve(None, config.history_url.as_deref()) {
        Ok(at) => at,
        Err(e) => {
            eprintln!("warning: the run is not recorded in the history: {e:#}");
            return None;
        }
    };
    Some(bakeoff::history::Recorder::start(&at, meta, |e| eprintln!("warning: {e:#}")))
}

/// `s` as one shell word (quoted when it has anything a shell would split or expand), so a
/// printed command can be pasted as it is.
fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:,@%=".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Reads the prompt from `--prompt` or standard input.
fn read_prompt(args: &RunArgs) -> Result<String> {
    let prompt = match &args.prompt {
        Some(p) => p.clone(),
        None => {
            if std::io::stdin().is_terminal() {
                bail!("no prompt: pass --prompt TEXT or pipe the prompt on standard input");
            }
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("cannot read the prompt from standard input")?;
            s
        }
    };
    if prompt.trim().is_empty() {
        bail!("the prompt is empty");
    }
    Ok(prompt)
}

async fn run(args: RunArgs, config: &Config, prices: &PriceTable, config_flag: Option<&Path>) -> Result<ExitCode> {
    if args.cases.is_some() || args.resume.is_some() {
        let one_prompt = [("--image", !args.image.is_empty()), ("--file", !args.file.is_empty())];
        if let Some((flag, _)) = one_prompt.iter().find(|(_, given)| *given) {
            bail!("{flag} goes with one prompt; a case file gives its cases' own (\"images\", \"files\")");
        }
        return run_cases(args, config, prices, config_flag).await;
    }
    refuse_case_flags_without_cases(&args)?;
    config.check_judges(|j| args.demo && demo::is_demo_model(j))?;
    let prompt = read_prompt(&args)?;
    // Read (and identified) once, before any model is asked.
    let mut attachments = Vec::new();
    for (list, image, flag) in [(&args.image, true, "--image"), (&args.file, false, "--file")] {
        for spec in list {
            let a = Attachment::from_spec(spec, Path::new(""), image);
            attachments.push(a.map_err(|e| anyhow::anyhow!("{flag}: {e}"))?);
        }
    }
    let mut server = None;
    let mut specs = pick_models(&args, config, prices, &mut server).await?;
    if let Some(n) = args.max_tokens {
        specs.iter_mut().for_each(|s| s.max_tokens = Some(n));
    }
    let system = args.system.clone().or_else(|| config.defaults.system.clone());
    let mut messages = Vec::new();
    if let Some(s) = system.filter(|s| !s.trim().is_empty()) {
        messages.push(Message::system(s));
    }
    messages.push(Message { attachments, ..Message::user(prompt) });

    let clients = specs.iter().cloned().map(ModelClient::new).collect::<Result<Vec<_>>>()?;
    let cancel = CancellationToken::new();
    cancel_on_ctrl_c(&cancel);
    let live = std::io::stderr().is_terminal();
    if live {
        eprintln!("sending to {} model(s)…", clients.len());
    }
    let metrics = headless::run_round(&clients, &messages, 1, cancel, |slot, m| {
        if live {
            let elapsed = m.sent.zip(m.end).map(|(s, e)| bakeoff::format::ms(e - s)).unwrap_or_default();
            eprintln!("  {} {} {elapsed}", specs[slot].name, m.phase.label());
        }
    })
    .await;
    let results: Vec<_> = metrics
        .iter()
        .zip(&specs)
        .map(|(m, s)| {
            let mut r = m.result(&s.name, &s.provider);
            r.family = Some(s.family());
            r.check_output(&s.tools, s.schema.as_ref(), messages.iter().map(|m| m.attachments.len()).sum());
            r
        })
        .collect();
    if args.json {
        let doc = RunDocument {
            bakeoff_version: env!("CARGO_PKG_VERSION"),
            definitions: bakeoff::metrics::DEFINITIONS,
            prices_as_of: &prices.as_of,
            results: &results,
        };
        print_out(&(bakeoff::sanitize::to_json_pretty(&doc)? + "\n"))?;
    } else {
        let mut text = headless::table(&specs, &results);
        if args.show_output {
            for r in &results {
                text.push_str(&format!("\n── {} ──\n{}\n", r.model, bakeoff::sanitize::sanitize(&r.output)));
                // An answer that is all reasoning (cut by max tokens, say) still shows what it thought.
                if let Some(reasoning) = r.reasoning.as_deref().filter(|_| r.output.trim().is_empty()) {
                    text.push_str(&format!(
                        "(no answer text; its reasoning:)\n{}\n",
                        bakeoff::sanitize::sanitize(reasoning)
                    ));
                }
                for c in &r.tool_calls {
                    text.push_str(&bakeoff::sanitize::sanitize(&c.one_line()));
                    text.push('\n');
                }
            }
        }
        print_out(&text)?;
    }
    if let Some(s) = server {
        s.shutdown().await;
    }
    let env = bakeoff::session::Environment::here("run", specs.len(), &prices.as_of);
    let meta = bakeoff::history::RunMeta::unjournaled(env.clone(), args.record.label.clone());
    let mut recorded_run = None;
    if let Some(mut recorder) = history_recorder(args.record.no_history, config, &meta) {
        for e in headless::single_round_entries(&specs, &messages, &results, env.clone()) {
            recorder.record(&e);
        }
        recorded_run = recorder.run_id();
        recorder.finish(false);
    }
    if let Some(path) = &args.report {
        let session = headless::single_round_session(&specs, &messages, &results, env);
        let report = bakeoff::report::build(&session, &Default::default());
        let (dir, stem) = report_target(path);
        for p in bakeoff::report::save(&report, &dir, &stem)? {
            eprintln!("wrote {}", p.display());
        }
    }
    let all_ok = results.iter().all(|r| r.status.is_ok());
    let mut status = if all_ok { ExitCode::SUCCESS } else { ExitCode::from(1) };
    if let Some(url) = &args.record.push_gateway {
        let session = headless::single_round_session(&specs, &messages, &results, meta.environment.clone());
        let report = bakeoff::report::build(&session, &Default::default());
        let labels = bakeoff::history::export::RunLabels {
            cases: "none".into(),
            label: args.record.label.clone().unwrap_or_default(),
            started_at: session.started_at.clone(),
        };
        if !push_run(url, labels, &report).await {
            status = ExitCode::from(1);
        }
    }
    alerts_after_run(config, recorded_run, status).await
}
