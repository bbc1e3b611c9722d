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
    after_help = "Exit status: 0 when every model succeeded, 1 when any model failed, 2 for usage or configuration errors."
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
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Send one prompt to the models concurrently and print the measurements (headless).
    Run(RunArgs),
    /// List configured models, their provider, endpoint and whether their key is set.
    Models,
    /// Serve the mock LLM API (OpenAI, Anthropic, Gemini and Ollama wire formats) for tests and demos.
    MockServer(MockServerArgs),
    /// Summarise a session journal (*.jsonl) or saved report (*.json), or compare two with `report diff`.
    Report(ReportArgs),
    /// Load-test endpoints with many concurrent streams (live view; bounded by --requests and/or --duration).
    Load(Box<bakeoff::load::LoadArgs>),
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
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: Option<ReportCommand>,

    /// A session journal (*.jsonl, replayed) or a saved report (*.json).
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
    pub fn into_command(self) -> bakeoff::report::Command {
        match self.command {
            Some(ReportCommand::Diff(d)) => bakeoff::report::Command::Diff {
                old: d.old,
                new: d.new,
                options: bakeoff::report::DiffOptions {
                    max_ttft_regression_pct: d.max_ttft_regression,
                    max_latency_regression_pct: d.max_latency_regression,
                    max_cost_regression_pct: d.max_cost_regression,
                    max_quality_drop: d.max_quality_drop,
                },
            },
            // clap requires FILE when there is no subcommand.
            None => bakeoff::report::Command::Show { file: self.file.unwrap_or_default(), format: self.format },
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
    fn parses_report() {
        let c = Cli::try_parse_from(["bakeoff", "report", "s.jsonl", "--format", "html"]).unwrap();
        let Some(Command::Report(r)) = c.command else { panic!("not report") };
        assert!(matches!(
            r.into_command(),
            bakeoff::report::Command::Show { format: bakeoff::report::Format::Html, .. }
        ));
        let c = Cli::try_parse_from(["bakeoff", "report", "diff", "a.json", "b.json", "--max-cost-regression", "5"])
            .unwrap();
        let Some(Command::Report(r)) = c.command else { panic!("not report") };
        let bakeoff::report::Command::Diff { options, .. } = r.into_command() else { panic!("not diff") };
        assert_eq!(options.max_cost_regression_pct, 5.0);
        assert_eq!(options.max_ttft_regression_pct, 20.0);
        assert!(Cli::try_parse_from(["bakeoff", "report"]).is_err());
        assert!(Cli::try_parse_from(["bakeoff", "report", "x.json", "--format", "pdf"]).is_err());
    }
}
