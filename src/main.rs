//! The `bakeoff` binary: parses the command line, picks a mode, maps outcomes to exit codes
//! (0 all models succeeded, 1 a model failed, 2 usage or configuration error).

mod cli;

use anyhow::{Context, Result, bail};
use bakeoff::config::{self, Config, ModelSpec};
use bakeoff::engine::ModelClient;
use bakeoff::headless::{self, RunDocument};
use bakeoff::pricing::PriceTable;
use bakeoff::provider::Message;
use bakeoff::{demo, mock};
use clap::Parser;
use cli::{Cli, Command, RunArgs};
use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
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
            let config = config::load(cli.global.config.as_deref(), &prices)?;
            print_models(&config);
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Report(a)) => Ok(ExitCode::from(bakeoff::report::run_cli(a.into_command())?)),
        Some(Command::Load(args)) => {
            let config = config::load(cli.global.config.as_deref(), &prices)?;
            Ok(ExitCode::from(bakeoff::load::run_cli(*args, &config, &prices).await?))
        }
        Some(Command::Run(args)) => {
            let config = config::load(cli.global.config.as_deref(), &prices)?;
            run(args, &config, &prices).await
        }
        None => {
            if !std::io::stdout().is_terminal() {
                bail!(
                    "standard output is not a terminal, so the TUI cannot start; for scripts and pipes use \
                     `bakeoff run --prompt \"...\"` (add --demo to try it without keys)"
                );
            }
            bail!("the interactive TUI is not built yet; use `bakeoff run --demo --prompt \"...\"`")
        }
    }
}

fn load_prices(g: &cli::GlobalArgs) -> Result<PriceTable> {
    let mut prices = PriceTable::builtin();
    if let Some(path) = &g.pricing {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read --pricing {}", path.display()))?;
        prices.merge_litellm_json(&text, &path.display().to_string())?;
    }
    Ok(prices)
}

fn print_models(config: &Config) {
    match &config.path {
        Some(p) => println!("config: {}", p.display()),
        None => match config::config_path(None) {
            Some((p, _)) => println!("config: none found (looked for {})", p.display()),
            None => println!("config: none found"),
        },
    }
    if config.models.is_empty() {
        println!("no models configured. Use PRESET:MODEL_ID ad hoc (e.g. --models openai:gpt-4o) or --demo.");
        println!("presets: {}", config::PRESETS.iter().map(|p| p.name).collect::<Vec<_>>().join(", "));
        return;
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
        println!("{}", line.join("  ").trim_end());
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

async fn run(args: RunArgs, config: &Config, prices: &PriceTable) -> Result<ExitCode> {
    let prompt = read_prompt(&args)?;
    let mut server = None;
    let mut specs: Vec<ModelSpec> = if args.demo {
        let s = demo::start_server().await?;
        let all = demo::demo_specs(&s);
        server = Some(s);
        if args.models.is_empty() {
            all
        } else {
            let mut picked = Vec::new();
            for name in &args.models {
                match all.iter().find(|m| &m.name == name) {
                    Some(m) => picked.push(m.clone()),
                    None => bail!(
                        "--demo has no model {name:?}; demo models: {}",
                        all.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                }
            }
            picked
        }
    } else {
        config::select(config, &args.models, prices)?
    };
    if specs.is_empty() {
        let where_ = config::config_path(None).map(|(p, _)| p.display().to_string()).unwrap_or_default();
        bail!(
            "no models to run: pass --models PRESET:MODEL_ID (e.g. openai:gpt-4o), configure models in {where_}, \
             or try --demo"
        );
    }
    if let Some(n) = args.max_tokens {
        specs.iter_mut().for_each(|s| s.max_tokens = Some(n));
    }
    let system = args.system.clone().or_else(|| config.defaults.system.clone());
    let mut messages = Vec::new();
    if let Some(s) = system.filter(|s| !s.trim().is_empty()) {
        messages.push(Message::system(s));
    }
    messages.push(Message::user(prompt));

    let clients = specs.iter().cloned().map(ModelClient::new).collect::<Result<Vec<_>>>()?;
    let cancel = CancellationToken::new();
    let ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            ctrl_c.cancel();
        }
    });
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
    let results: Vec<_> = metrics.iter().zip(&specs).map(|(m, s)| m.result(&s.name, &s.provider)).collect();
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let doc = RunDocument {
            bakeoff_version: env!("CARGO_PKG_VERSION"),
            definitions: headless::DEFINITIONS,
            prices_as_of: &prices.as_of,
            results: &results,
        };
        serde_json::to_writer_pretty(&mut stdout, &doc)?;
        writeln!(stdout)?;
    } else {
        write!(stdout, "{}", headless::table(&specs, &results))?;
        if args.show_output {
            for r in &results {
                writeln!(stdout, "\n── {} ──\n{}", r.model, bakeoff::headless::printable(&r.output))?;
            }
        }
    }
    if let Some(s) = server {
        s.shutdown().await;
    }
    let all_ok = results.iter().all(|r| r.status == "ok");
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
