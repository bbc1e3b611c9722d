//! Command-line interface definitions (clap).

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "bakeoff",
    version,
    about = "Compare LLMs side by side on your own prompts: live streaming panes, true TTFT, latency, tokens/s and cost.",
    long_about = "Compare LLMs side by side on your own prompts.\n\n\
        With no subcommand, bakeoff opens the interactive TUI on the configured models (or on the built-in \
        demo when nothing is configured). `bakeoff run` does the same headless and prints a table or JSON.\n\n\
        Models are configured in bakeoff.toml (see README › Configure) or named ad hoc as PRESET:MODEL_ID, \
        e.g. openai:gpt-4o, anthropic:claude-sonnet-4-6, ollama:llama3.2. API keys are read only from \
        environment variables.",
    after_help = "Exit status: 0 when every model succeeded, 1 when any model failed, 2 for usage or configuration errors, 3 when an [[alerts]] rule fired."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(flatten)]
    pub tui: TuiArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    /// Config file (default: $BAKEOFF_CONFIG, else bakeoff.toml in the platform config dir).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Extra prices in LiteLLM's model_prices_and_context_window.json format (USD per token),
    /// layered over the built-in table.
    #[arg(long, global = true, value_name = "FILE")]
    pub pricing: Option<PathBuf>,

    /// Tools (functions) offered to every model: a JSON array of OpenAI function tools, or
    /// {"tools": [...], "tool_choice": ...}. A case's own tools replace them.
    #[arg(long, global = true, value_name = "FILE")]
    pub tools: Option<PathBuf>,

    /// Structured output asked of every model: a JSON file holding a JSON Schema (named after
    /// the file). A case's own schema replaces it.
    #[arg(long, global = true, value_name = "FILE")]
    pub schema: Option<PathBuf>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct TuiArgs {
    /// Models to use: configured names or PRESET:MODEL_ID, comma separated (default: all configured).
    #[arg(long, value_delimiter = ',', value_name = "A,B,…")]
    pub models: Vec<String>,

    /// Use the built-in demo models (in-process mock server; no keys, no network).
    #[arg(long)]
    pub demo: bool,

    /// Colour theme: dark, light, high-contrast, mono, or a file name in <config dir>/themes.
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,

    /// System prompt for every round.
    #[arg(long, value_name = "TEXT")]
    pub system: Option<String>,

    /// Capture the mouse (wheel scrolls panes; hold Shift to select text).
    #[arg(long)]
    pub mouse: bool,

    /// Blind rounds: models shown as A, B, C… in shuffled order until the round is rated
    /// (toggle with b).
    #[arg(long)]
    pub blind: bool,

    /// Continue a session journal (default: the newest one in <data dir>/sessions).
    #[arg(long, value_name = "FILE", num_args = 0..=1, conflicts_with = "journal")]
    pub resume: Option<Option<PathBuf>>,

    /// Write the session journal here (default: <data dir>/sessions/<timestamp>.jsonl).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,

    /// Step through a case file (.jsonl, .toml, .csv): the editor shows each case's prompt.
    #[arg(long, value_name = "FILE")]
    pub cases: Option<PathBuf>,

    /// Directory for saved reports (default: <data dir>/reports).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Do not record this session in the results history.
    #[arg(long)]
    pub no_history: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Send one prompt to the models concurrently and print the measurements (headless).
    Run(Box<RunArgs>),
    /// List configured models, their provider, endpoint and whether their key is set.
    Models,
    /// Serve the mock LLM API (OpenAI, Anthropic, Gemini and Ollama wire formats) for tests and demos.
    MockServer(MockServerArgs),
    /// Summarise a session journal (*.jsonl), saved report or load summary (*.json); `report diff`, `report merge`.
    Report(ReportArgs),
    /// Load-test endpoints with many concurrent streams (live view; bounded by --requests and/or --duration).
    Load(Box<bakeoff::load::LoadArgs>),
    /// The results history: list recorded runs; `history import` backfills saved journals.
    History(HistoryArgs),
    /// One metric per model run after run, from the results history, with each latest change
    /// marked when it is significant.
    Trend(TrendArgs),
}

#[derive(Args, Debug)]
pub struct TrendArgs {
    /// ttft_p50, ttft_p95, latency_p50, latency_p95, tok_s, acceptance, quality,
    /// cost_per_accept or error_rate.
    #[arg(long, default_value = "ttft_p95", value_name = "METRIC")]
    pub metric: bakeoff::history::trend::Metric,

    /// Only this model.
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,

    /// Runs of this case file (its path, file name or content hash; default: the latest run's).
    #[arg(long, value_name = "FILE")]
    pub cases: Option<String>,

    /// Only runs with this `--label`.
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,

    /// Only runs started within this long (`90d`, `12h`, `2w`) or since this date.
    #[arg(long, default_value = "90d", value_name = "AGE|DATE")]
    pub since: String,

    /// Print the series as JSON (the same as `--format json`).
    #[arg(long)]
    pub json: bool,

    /// table, json, or html (a self-contained page: a line per model with its 95% band).
    #[arg(long, default_value = "table", value_name = "FORMAT")]
    pub format: TrendFormat,

    /// The history: a file, or a postgres:// URL without password (default: $BAKEOFF_HISTORY_URL,
    /// then the config's history_url, then <data dir>/history.sqlite).
    #[arg(long, value_name = "FILE|URL")]
    pub db: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrendFormat {
    Table,
    Json,
    Html,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HistoryArgs {
    #[command(subcommand)]
    pub command: Option<HistoryCommand>,

    /// Only runs started within this long (`30d`, `12h`, `2w`) or since this date (`2026-11-01`).
    #[arg(long, global = true, value_name = "AGE|DATE")]
    pub since: Option<String>,

    /// Only runs in which this model answered.
    #[arg(long, global = true, value_name = "NAME")]
    pub model: Option<String>,

    /// Only runs with this `--label`.
    #[arg(long, global = true, value_name = "TEXT")]
    pub label: Option<String>,

    /// Only runs of this case file (its path, file name or content hash).
    #[arg(long, global = true, value_name = "FILE")]
    pub cases: Option<String>,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    /// The history: a file, or a postgres:// URL without password (default: $BAKEOFF_HISTORY_URL,
    /// then the config's history_url, then <data dir>/history.sqlite).
    #[arg(long, global = true, value_name = "FILE|URL")]
    pub db: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Jsonl,
    Openmetrics,
}

#[derive(Subcommand, Debug)]
pub enum HistoryCommand {
    /// Record saved session and batch journals (*.jsonl) in the history; ones already there are skipped.
    Import {
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
    },
    /// Export for dashboards: every request as csv or jsonl, or each case set's latest run as
    /// OpenMetrics text (and pushed to a Pushgateway with --push-gateway).
    Export {
        /// csv, jsonl or openmetrics.
        #[arg(long, default_value = "csv", value_name = "FORMAT")]
        format: ExportFormat,
        /// Also push each case set's latest run to this Prometheus Pushgateway (job "bakeoff").
        #[arg(long, value_name = "URL")]
        push_gateway: Option<String>,
    },
    /// Check the config's [[alerts]] on the latest run of every case set; exit status 3 when one
    /// fires (after delivering it to the [[webhooks]]).
    Check {
        /// Print what would be sent to each webhook instead of sending it.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Models to run: configured names or PRESET:MODEL_ID, comma separated (default: all configured).
    #[arg(long, value_delimiter = ',', value_name = "A,B,…")]
    pub models: Vec<String>,

    /// Use the built-in demo models (in-process mock server; no keys, no network).
    #[arg(long)]
    pub demo: bool,

    /// The prompt. Without it, the prompt is read from standard input.
    #[arg(long, short, value_name = "TEXT")]
    pub prompt: Option<String>,

    /// An image sent with the prompt: a PNG, JPEG, GIF or WebP file, or an http(s) URL
    /// (repeatable). Case files carry their own (`images`).
    #[arg(long, value_name = "FILE")]
    pub image: Vec<String>,

    /// A file sent with the prompt: a PDF (or an image), or an http(s) URL (repeatable).
    #[arg(long, value_name = "FILE")]
    pub file: Vec<String>,

    /// System prompt.
    #[arg(long, value_name = "TEXT")]
    pub system: Option<String>,

    /// Maximum output tokens (overrides the config).
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u32>,

    /// Print one JSON document {"results": [...]} instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Also print each model's answer after the table.
    #[arg(long)]
    pub show_output: bool,

    /// Save the report as PATH.json, PATH.md and PATH.html (written atomically).
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,

    /// Run every case of a case file (.jsonl, .toml or .csv) instead of one prompt.
    #[arg(long, value_name = "FILE", conflicts_with = "prompt")]
    pub cases: Option<PathBuf>,

    /// With --cases: run each case this many times per model (real requests, never cached; 1..=10000; default 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub repeat: Option<u32>,

    /// With --cases: requests in flight at once, over all models (1..=4096; default 4).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub concurrency: Option<u64>,

    /// With --cases: requests in flight at once per provider.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub per_provider: Option<u64>,

    /// With --cases: retries of a request that got 429 or 5xx (exponential backoff, honouring Retry-After; 0..=100; default 3).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=100))]
    pub retries: Option<u32>,

    /// With --cases: refuse to run when any case in the file is bad (default: report and skip it).
    #[arg(long)]
    pub strict: bool,

    /// With --cases: journal file for this run (default: <data dir>/sessions/<time>-batch.jsonl).
    #[arg(long, value_name = "FILE", conflicts_with = "resume")]
    pub journal: Option<PathBuf>,

    /// Continue an interrupted case-set run from its journal, skipping finished items. The journal
    /// holds the run's plan (cases, models, repeat, concurrency…): no other flag is needed, and a
    /// flag that contradicts the plan is refused.
    #[arg(long, value_name = "JOURNAL", conflicts_with = "prompt")]
    pub resume: Option<PathBuf>,

    /// Routing table: the lowest acceptance rate (0–1) a model needs in a category to be chosen.
    #[arg(long, default_value_t = 0.8, value_name = "RATE")]
    pub min_acceptance: f64,

    /// Routing table: the highest p95 TTFT (milliseconds) a model may have in a category.
    #[arg(long, value_name = "MS")]
    pub max_ttft_p95: Option<f64>,

    /// Seed for the bootstrap confidence intervals (same seed, same intervals).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    #[command(flatten)]
    pub record: bakeoff::history::RecordArgs,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: Option<ReportCommand>,

    /// A session journal (*.jsonl, replayed), a saved report or a load summary (*.json).
    #[arg(value_name = "FILE", required = true)]
    pub file: Option<PathBuf>,

    /// Output format: table, markdown, json or html.
    #[arg(long, default_value = "table", value_name = "FORMAT")]
    pub format: bakeoff::report::Format,
}

#[derive(Subcommand, Debug)]
pub enum ReportCommand {
    /// Compare two reports or journals per model. Exit status: 0 no regression, 1 regressions, 2 errors.
    Diff(ReportDiffArgs),
    /// Combine `bakeoff load --shard i/N` summaries exactly: counts and histogram buckets add,
    /// percentiles are recomputed from the merged buckets.
    Merge(bakeoff::load::args::MergeArgs),
}

#[derive(Args, Debug)]
pub struct ReportDiffArgs {
    /// The baseline report or journal.
    pub old: PathBuf,
    /// The report or journal to check against it.
    pub new: PathBuf,
    /// Percent increase of TTFT p50/p95 that counts as a regression.
    #[arg(long, default_value_t = 20.0, value_name = "PCT")]
    pub max_ttft_regression: f64,
    /// Percent increase of latency p50/p95 that counts as a regression.
    #[arg(long, default_value_t = 20.0, value_name = "PCT")]
    pub max_latency_regression: f64,
    /// Percent increase of cost per acceptable response that counts as a regression.
    #[arg(long, default_value_t = 10.0, value_name = "PCT")]
    pub max_cost_regression: f64,
    /// Drop of acceptance rate or mean quality (0–1 scale) that counts as a regression.
    #[arg(long, default_value_t = 0.05, value_name = "POINTS")]
    pub max_quality_drop: f64,
}

impl ReportArgs {
    /// What the library should do.
    pub fn into_command(self) -> crate::report_cmd::Command {
        match self.command {
            Some(ReportCommand::Diff(d)) => crate::report_cmd::Command::Diff {
                old: d.old,
                new: d.new,
                options: bakeoff::report::DiffOptions {
                    max_ttft_regression_pct: d.max_ttft_regression,
                    max_latency_regression_pct: d.max_latency_regression,
                    max_cost_regression_pct: d.max_cost_regression,
                    max_quality_drop: d.max_quality_drop,
                },
            },
            Some(ReportCommand::Merge(m)) => {
                let format = if m.json { bakeoff::report::Format::Json } else { m.format };
                crate::report_cmd::Command::Merge { files: m.files, format, save: m.report }
            }
            // clap requires FILE when there is no subcommand.
            None => crate::report_cmd::Command::Show { file: self.file.unwrap_or_default(), format: self.format },
        }
    }
}

#[derive(Args, Debug)]
pub struct MockServerArgs {
    /// Address to listen on; port 0 picks a free port (the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub addr: SocketAddr,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_run() {
        let c =
            Cli::try_parse_from(["bakeoff", "run", "--models", "a,openai:gpt-4o", "--prompt", "hi", "--json"]).unwrap();
        let Some(Command::Run(r)) = c.command else { panic!("not run") };
        assert_eq!(r.models, vec!["a", "openai:gpt-4o"]);
        assert!(r.json);
        let c = Cli::try_parse_from(["bakeoff", "--config", "x.toml", "models"]).unwrap();
        assert_eq!(c.global.config.as_deref(), Some(std::path::Path::new("x.toml")));
    }

    #[test]
    fn parses_tui_flags() {
        let c = Cli::try_parse_from(["bakeoff", "--blind", "--resume", "--cases", "c.jsonl", "--out", "r"]).unwrap();
        assert!(c.tui.blind && c.command.is_none());
        assert_eq!(c.tui.resume, Some(None));
        assert_eq!(c.tui.cases.as_deref(), Some(std::path::Path::new("c.jsonl")));
        let c = Cli::try_parse_from(["bakeoff", "--resume", "s.jsonl"]).unwrap();
        assert_eq!(c.tui.resume, Some(Some(PathBuf::from("s.jsonl"))));
        assert_eq!(Cli::try_parse_from(["bakeoff"]).unwrap().tui.resume, None);
        assert!(Cli::try_parse_from(["bakeoff", "--resume", "a", "--journal", "b"]).is_err());
    }

    #[test]
    fn parses_report() {
        let c = Cli::try_parse_from(["bakeoff", "report", "s.jsonl", "--format", "html"]).unwrap();
        let Some(Command::Report(r)) = c.command else { panic!("not report") };
        assert!(matches!(
            r.into_command(),
            crate::report_cmd::Command::Show { format: bakeoff::report::Format::Html, .. }
        ));
        let c = Cli::try_parse_from(["bakeoff", "report", "diff", "a.json", "b.json", "--max-cost-regression", "5"])
            .unwrap();
        let Some(Command::Report(r)) = c.command else { panic!("not report") };
        let crate::report_cmd::Command::Diff { options, .. } = r.into_command() else { panic!("not diff") };
        assert_eq!(options.max_cost_regression_pct, 5.0);
        assert_eq!(options.max_ttft_regression_pct, 20.0);
        let c = Cli::try_parse_from(["bakeoff", "report", "merge", "a.json", "b.json", "--report", "m.json"]).unwrap();
        let Some(Command::Report(r)) = c.command else { panic!("not report") };
        let crate::report_cmd::Command::Merge { files, format: bakeoff::report::Format::Table, save: Some(_) } =
            r.into_command()
        else {
            panic!("not merge")
        };
        assert_eq!(files.len(), 2);
        let c = Cli::try_parse_from(["bakeoff", "report", "merge", "a.json", "--format", "html"]).unwrap();
        let Some(Command::Report(r)) = c.command else { panic!("not report") };
        assert!(matches!(
            r.into_command(),
            crate::report_cmd::Command::Merge { format: bakeoff::report::Format::Html, .. }
        ));
        assert!(Cli::try_parse_from(["bakeoff", "report", "merge"]).is_err());
        assert!(Cli::try_parse_from(["bakeoff", "report"]).is_err());
        assert!(Cli::try_parse_from(["bakeoff", "report", "x.json", "--format", "pdf"]).is_err());
    }
}
