//! Batch runs: every case × model × repeat, with bounded concurrency (global and per provider),
//! retries with backoff that honour `Retry-After`, evaluators per response, and every attempt
//! journaled as it ends — so an interrupted run keeps everything finished and `--resume`
//! continues without redoing it.

use crate::cases::Case;
use crate::engine::{ModelClient, chat_request};
use crate::eval::{self, Evaluator, EvaluatorSpec};
use crate::event::RequestId;
use crate::metrics::{Phase, RequestMetrics, Status};
use crate::provider::{ErrorKind, Message};
use crate::session::{self, Entry, Journal, JournalWriter, RoundStart, Session};
use crate::tokens;
use anyhow::{Context, Result};
use rand::Rng;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// When and how often a failed request is tried again.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 = never retry).
    pub max_retries: u32,
    /// First backoff; doubles per retry.
    pub base: Duration,
    /// Longest backoff.
    pub cap: Duration,
    /// A server asking to wait longer than this is not retried.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Whether this failure is worth another attempt: 429 and 5xx (incl. 529 overloaded).
    pub fn retryable(e: &crate::provider::RequestError) -> bool {
        match e.kind {
            ErrorKind::RateLimited => true,
            // An error inside a stream counts as the status it stands for (overloaded → 529).
            ErrorKind::Http | ErrorKind::Provider => e.http_status.is_some_and(|s| s >= 500),
            _ => false,
        }
    }

    /// Why a retryable failure was not retried (the reason [`Self::delay`] said `None`).
    pub fn why_not(&self, retry: u32, retry_after_s: Option<f64>) -> String {
        if retry >= self.max_retries {
            return match self.max_retries {
                0 => "retries are off (--retries 0)".to_string(),
                n => format!("all {n} retries used"),
            };
        }
        match retry_after_s {
            Some(s) => format!(
                "the server asked to wait {}, over the {} limit",
                crate::format::secs(s),
                crate::format::secs(self.max_retry_after.as_secs_f64())
            ),
            None => "no retry was possible".to_string(),
        }
    }

    /// The wait before retry number `retry` (0-based): the server's `Retry-After` when given,
    /// else exponential backoff with ±25 % jitter. `None` = do not retry.
    pub fn delay(&self, retry: u32, retry_after_s: Option<f64>, rng: &mut impl Rng) -> Option<Duration> {
        if retry >= self.max_retries {
            return None;
        }
        if let Some(s) = retry_after_s {
            let d = Duration::from_secs_f64(s.max(0.0));
            return (d <= self.max_retry_after).then_some(d);
        }
        let exp = self.base.saturating_mul(1u32 << retry.min(20)).min(self.cap);
        let jitter = rng.random_range(0.75..=1.25);
        Some(exp.mul_f64(jitter))
    }
}

#[derive(Clone, Debug)]
pub struct BatchOptions {
    pub repeat: u32,
    /// Requests in flight at once, over all models.
    pub concurrency: usize,
    /// Requests in flight at once per provider (preset), if limited.
    pub per_provider: Option<usize>,
    pub retry: RetryPolicy,
    /// Prepended to every case that has no system turn of its own.
    pub system: Option<String>,
}

/// Progress as the batch goes, for a bar or a log line.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    /// Total items to run (after skipping finished ones on resume), and how many were skipped.
    Start { total: u64, skipped: u64 },
    /// One item ended (after its retries).
    Done { ok: bool, model: String, case: String },
    /// A request is being retried.
    Retry { model: String, case: String, attempt: u32, wait: Duration },
    /// Something went wrong beside the answers (a pairwise judge failed): already terminal-safe.
    Warning(String),
}

/// One case × repeat × model.
#[derive(Clone, Debug)]
struct Item {
    round: u64,
    case: usize,
    repeat: u32,
    slot: usize,
}

/// Every case × repeat × model not finished yet, in order, made as they are needed rather than
/// up front: memory follows --concurrency, not cases × --repeat (a hundred million items once
/// aborted on a 2 GiB allocation). Rounds already in the journal (`known`, by case id and
/// repeat) keep their number; new ones are numbered from `next_round`.
fn items<'a>(
    cases: &'a [Case],
    repeat: u32,
    models: &'a [String],
    known: HashMap<(String, u32), u64>,
    finished: &'a HashSet<(u64, String)>,
    mut next_round: u64,
) -> impl Iterator<Item = Item> + 'a {
    let n_models = models.len();
    cases
        .iter()
        .enumerate()
        .flat_map(move |(ci, case)| (0..repeat).map(move |rep| (ci, case, rep)))
        .flat_map(move |(ci, case, rep)| {
            let round = known.get(&(case.id.clone(), rep)).copied().unwrap_or_else(|| {
                next_round += 1;
                next_round - 1
            });
            (0..n_models).map(move |slot| Item { round, case: ci, repeat: rep, slot })
        })
        .filter(move |item| !finished.contains(&(item.round, models[item.slot].clone())))
}

/// What a batch needs besides the cases.
pub struct Batch {
    pub clients: Vec<Arc<ModelClient>>,
    /// Judges and the embedder the evaluators call.
    pub graders: Arc<eval::Graders>,
    /// Session-level evaluator specs (from the config).
    pub evaluators: Vec<EvaluatorSpec>,
    /// Where relative schema files of case evaluators are found.
    pub cases_dir: PathBuf,
    pub options: BatchOptions,
}

pub struct Outcome {
    /// The whole session (earlier runs of a resumed journal included), replayed from the journal.
    pub session: Session,
    /// Stopped before every item ran.
    pub interrupted: bool,
    pub journal: PathBuf,
    /// Items that ended in an error after retries (this run only).
    pub failed: u64,
}

impl Batch {
    /// Runs every item not already finished in `prior`, journaling as it goes.
    pub async fn run(
        &self,
        cases: &[Case],
        journal: Journal,
        prior: &Session,
        cancel: CancellationToken,
        progress: impl Fn(Progress) + Send + Sync + 'static,
    ) -> Result<Outcome> {
        self.run_recorded(cases, journal, prior, Vec::new(), cancel, progress).await
    }

    /// [`run`](Self::run), every journaled entry also handed to `sinks` (the results history).
    pub async fn run_recorded(
        &self,
        cases: &[Case],
        journal: Journal,
        prior: &Session,
        sinks: Vec<Box<dyn crate::session::EntrySink>>,
        cancel: CancellationToken,
        progress: impl Fn(Progress) + Send + Sync + 'static,
    ) -> Result<Outcome> {
        let journal_path = journal.path().to_path_buf();
        let models: Vec<String> = self.clients.iter().map(|c| c.spec().name.clone()).collect();

        // Rounds already in the journal, by (case id, repeat); their finished models are skipped.
        let mut known: HashMap<(String, u32), u64> = HashMap::new();
        let mut finished: HashSet<(u64, String)> = HashSet::new();
        for r in &prior.rounds {
            if let (Some(id), Some(rep)) = (&r.start.case_id, r.start.repeat) {
                known.insert((id.clone(), rep), r.start.round);
            }
            for (m, res) in &r.results {
                if res.status != Status::Cancelled {
                    finished.insert((r.start.round, m.clone()));
                }
            }
        }
        let repeat = self.options.repeat;
        // Rounds of this plan already in the journal, and their models already finished.
        let case_ids: HashSet<&str> = cases.iter().map(|c| c.id.as_str()).collect();
        let started_rounds: HashSet<u64> = known
            .iter()
            .filter(|((id, rep), _)| case_ids.contains(id.as_str()) && *rep < repeat)
            .map(|(_, r)| *r)
            .collect();
        let skipped = finished.iter().filter(|(r, m)| started_rounds.contains(r) && models.contains(m)).count() as u64;
        let planned = cases.len() as u64 * u64::from(repeat) * models.len() as u64;
        progress(Progress::Start { total: planned - skipped, skipped });
        let items = items(cases, repeat, &models, known, &finished, prior.next_round_number());

        // Pairwise judging waits for every model's answer to a round: the answers a resumed
        // journal already has count, and how many models are still to answer.
        let mut prior_answers: HashMap<u64, PairRound> = HashMap::new();
        for r in prior.rounds.iter().filter(|r| started_rounds.contains(&r.start.round)) {
            let round = prior_answers.entry(r.start.round).or_default();
            for (m, res) in r.results.iter().filter(|(m, res)| models.contains(m) && res.status != Status::Cancelled) {
                round.finished += 1;
                if res.status.is_ok() && !res.output.trim().is_empty() {
                    round.answers.push((m.clone(), res.output.clone()));
                }
            }
        }
        let writer = JournalWriter::spawn_with(journal, sinks, |_| {});
        let shared = Arc::new(Shared {
            pair_rounds: Mutex::new(prior_answers),
            journal: Mutex::new(writer.sender()),
            started_rounds: Mutex::new(started_rounds),
            global: Semaphore::new(self.options.concurrency.max(1)),
            per_provider: self.per_provider_semaphores(),
            progress: Box::new(progress),
            failed: Mutex::new(0),
        });
        let evaluators: Vec<Arc<Vec<Evaluator>>> =
            cases.iter().map(|c| Arc::new(c.evaluators_with(&self.evaluators, &self.cases_dir))).collect();
        let cases: Arc<Vec<Case>> = Arc::new(cases.to_vec());
        let mut tasks = tokio::task::JoinSet::new();
        // Enough items waiting that every provider's slots can be filled while one provider is
        // throttled by --per-provider; bounded all the same.
        let providers: HashSet<&str> = self.clients.iter().map(|c| c.spec().provider.as_str()).collect();
        let window = self.options.concurrency.max(1) * providers.len().max(1);
        for item in items {
            while tasks.len() >= window {
                tasks.join_next().await;
            }
            if cancel.is_cancelled() {
                break;
            }
            let shared = shared.clone();
            let client = self.clients[item.slot].clone();
            let graders = self.graders.clone();
            let evals = evaluators[item.case].clone();
            let cases = cases.clone();
            let models = models.clone();
            let cancel = cancel.clone();
            let opts = self.options.clone();
            tasks.spawn(async move {
                run_item(&shared, &client, &graders, &evals, &cases[item.case], &models, &item, &opts, cancel).await
            });
        }
        while tasks.join_next().await.is_some() {}
        let failed = *shared.failed.lock().unwrap_or_else(|e| e.into_inner());
        drop(shared);
        writer
            .finish_run(cancel.is_cancelled())
            .with_context(|| format!("writing the journal {}", journal_path.display()))?;
        let session = session::read(&journal_path)?;
        Ok(Outcome { session, interrupted: cancel.is_cancelled(), journal: journal_path, failed })
    }

    fn per_provider_semaphores(&self) -> HashMap<String, Semaphore> {
        let Some(k) = self.options.per_provider else { return HashMap::new() };
        self.clients.iter().map(|c| (c.spec().provider.clone(), Semaphore::new(k.max(1)))).collect()
    }
}

/// A round's answers so far, for pairwise judging once every model has answered.
#[derive(Default)]
struct PairRound {
    /// Models done with this round (answered, or failed).
    finished: usize,
    /// The successful answers: model, text.
    answers: Vec<(String, String)>,
}

struct Shared {
    journal: Mutex<std::sync::mpsc::Sender<Entry>>,
    /// Rounds waiting for their last answer before pairwise judging (only with a pairwise judge).
    pair_rounds: Mutex<HashMap<u64, PairRound>>,
    started_rounds: Mutex<HashSet<u64>>,
    global: Semaphore,
    per_provider: HashMap<String, Semaphore>,
    progress: Box<dyn Fn(Progress) + Send + Sync>,
    failed: Mutex<u64>,
}

impl Shared {
    /// Records one model's answer to `round` (`None`: it failed); when it was the last of the
    /// `models`, returns every answer, in the models' order.
    fn round_answered(
        &self,
        round: u64,
        answer: Option<(String, String)>,
        models: &[String],
    ) -> Option<Vec<(String, String)>> {
        let mut rounds = self.pair_rounds.lock().unwrap_or_else(|e| e.into_inner());
        let r = rounds.entry(round).or_default();
        r.finished += 1;
        r.answers.extend(answer);
        if r.finished < models.len() {
            return None;
        }
        let mut answers = rounds.remove(&round)?.answers;
        answers.sort_by_key(|(m, _)| models.iter().position(|x| x == m));
        Some(answers)
    }

    fn write(&self, e: Entry) {
        // The writer thread only stops when every sender is gone, so a send cannot fail while
        // the batch runs; if it ever did, the error surfaces from `Writer::finish`.
        let _ = self.journal.lock().unwrap_or_else(|e| e.into_inner()).send(e);
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_item(
    shared: &Shared,
    client: &ModelClient,
    graders: &eval::Graders,
    evaluators: &[Evaluator],
    case: &Case,
    models: &[String],
    item: &Item,
    opts: &BatchOptions,
    cancel: CancellationToken,
) {
    let spec = client.spec();
    let provider_permit = match shared.per_provider.get(&spec.provider) {
        Some(sem) => tokio::select! {
            _ = cancel.cancelled() => return,
            p = sem.acquire() => p.ok(),
        },
        None => None,
    };
    let _global = tokio::select! {
        _ = cancel.cancelled() => return,
        p = shared.global.acquire() => p,
    };
    let messages = case.conversation(opts.system.as_deref());
    {
        // Under the lock, so the round's start is journaled before any of its results.
        let mut started = shared.started_rounds.lock().unwrap_or_else(|e| e.into_inner());
        if started.insert(item.round) {
            shared.write(Entry::Round(RoundStart {
                round: item.round,
                started_at: session::rfc3339(std::time::SystemTime::now()),
                messages: messages.clone(),
                models: models.to_vec(),
                case_id: Some(case.id.clone()),
                category: case.category.clone(),
                repeat: Some(item.repeat),
                blind: None,
                theme: None,
                turn: None,
                context: Default::default(),
                follow_ups: case.turns.clone(),
            }));
        }
    }
    // A multi-turn case goes on from each answer of the model's own to the next follow-up; the
    // last turn's answer is the case's.
    let total = 1 + case.turns.len() as u32;
    let mut messages = messages;
    let mut turn = 1u32;
    let result = loop {
        let Some(mut result) =
            ask(shared, client, case, item, opts, &messages, (total > 1).then_some(turn), &cancel).await
        else {
            return;
        };
        if turn == total {
            break result;
        }
        let why_not = if !result.status.is_ok() {
            Some("its answer failed")
        } else if !result.tool_calls.is_empty() {
            Some("its answer called tools, which need results to go on")
        } else if result.output.trim().is_empty() {
            Some("its answer was empty")
        } else {
            None
        };
        if let Some(why) = why_not {
            let note = format!("the conversation stopped at turn {turn} of {total}: {why}");
            result.warning = Some(match result.warning.take() {
                Some(w) => format!("{w}; {note}"),
                None => note,
            });
            break result;
        }
        result.intermediate = true;
        shared.write(Entry::Result { round: item.round, result: Box::new(result.clone()) });
        messages.push(Message::assistant(result.output.clone()));
        messages.push(Message::user(case.turns[turn as usize - 1].clone()));
        turn += 1;
    };
    drop(provider_permit);
    let ok = result.status.is_ok();
    shared.write(Entry::Result { round: item.round, result: Box::new(result.clone()) });
    let offered = case.tools.as_ref().unwrap_or(&spec.tools);
    let evals = eval::evaluate_response(evaluators, graders, &messages, offered, &result).await;
    for r in evals {
        shared.write(Entry::Eval { round: item.round, model: spec.name.clone(), result: r });
    }
    if !ok {
        *shared.failed.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }
    // Pairwise judges compare the round's answers two at a time once the last model answered
    // (both orders; records feed the report's Bradley–Terry ratings), as in the TUI.
    if evaluators.iter().any(Evaluator::is_pairwise) {
        let answer = (ok && !result.output.trim().is_empty()).then(|| (spec.name.clone(), result.output.clone()));
        if let Some(answers) = shared.round_answered(item.round, answer, models).filter(|a| a.len() >= 2) {
            let conversation = pair_conversation(case, opts.system.as_deref());
            for p in eval::pairwise_all(evaluators, graders, &conversation, &answers).await {
                // Said, not dropped: a judge that failed or whose reply did not read is a warning
                // (and its record, without a verdict, keeps what it spent).
                let warn = |e: &str| {
                    (shared.progress)(Progress::Warning(format!(
                        "case {}: pairwise judging: {}",
                        case.id,
                        crate::sanitize::one_line(e)
                    )))
                };
                match p {
                    Ok(pair) => {
                        if let Some(e) = &pair.error {
                            warn(e);
                        }
                        shared.write(Entry::Pairwise { round: item.round, pair });
                    }
                    Err(e) => warn(&e),
                }
            }
        }
    }
    (shared.progress)(Progress::Done { ok, model: spec.name.clone(), case: case.id.clone() });
}

/// What a pairwise judge is shown of a case: its conversation and, for a multi-turn case, every
/// follow-up turn — each model's own earlier answers differ, so in their place a note says so.
fn pair_conversation(case: &Case, system: Option<&str>) -> Vec<Message> {
    let mut conversation = case.conversation(system);
    for turn in &case.turns {
        conversation
            .push(Message::assistant("[this model's own earlier answer, which differs between the answers compared]"));
        conversation.push(Message::user(turn.clone()));
    }
    conversation
}

/// Asks `messages` of one model, retrying as the options say (each failed attempt journaled).
/// Returns the final attempt's result, or `None` when cancelled (a resumed run asks again).
#[allow(clippy::too_many_arguments)]
async fn ask(
    shared: &Shared,
    client: &ModelClient,
    case: &Case,
    item: &Item,
    opts: &BatchOptions,
    messages: &[Message],
    turn: Option<u32>,
    cancel: &CancellationToken,
) -> Option<crate::metrics::RequestResult> {
    let spec = client.spec();
    let mut attempt = 0u32;
    let result = loop {
        let id = RequestId { run: item.round, slot: item.slot };
        let m = run_once(client, messages, Some(case), id, cancel.clone()).await;
        let mut result = m.result(&spec.name, &spec.provider);
        result.family = Some(spec.family());
        let attachments = messages.iter().map(|m| m.attachments.len()).sum();
        result.check_output(
            case.tools.as_ref().unwrap_or(&spec.tools),
            case.schema.as_ref().or(spec.schema.as_ref()),
            attachments,
        );
        result.turn = turn;
        if m.phase == Phase::Cancelled {
            // Not journaled: a resumed run does this item again.
            return None;
        }
        let wait = match &m.phase {
            Phase::Failed(e) if RetryPolicy::retryable(e) => {
                opts.retry.delay(attempt, e.retry_after_s, &mut rand::rng())
            }
            _ => None,
        };
        let Some(wait) = wait else {
            break match &m.phase {
                Phase::Failed(e) if RetryPolicy::retryable(e) => {
                    let mut result = result;
                    let why = opts.retry.why_not(attempt, e.retry_after_s);
                    result.error = result.error.map(|msg| format!("{msg} (not retried: {why})"));
                    result
                }
                _ => result,
            };
        };
        shared.write(Entry::Result { round: item.round, result: Box::new(result) });
        attempt += 1;
        (shared.progress)(Progress::Retry { model: spec.name.clone(), case: case.id.clone(), attempt, wait });
        tokio::select! {
            _ = cancel.cancelled() => return None,
            _ = tokio::time::sleep(wait) => {}
        }
    };
    Some(result)
}

/// One request, folded to its metrics. `case`: whose tools and sampling settings replace the
/// model's.
pub async fn run_once(
    client: &ModelClient,
    messages: &[Message],
    case: Option<&Case>,
    id: RequestId,
    cancel: CancellationToken,
) -> RequestMetrics {
    let mut m = RequestMetrics::new(client.spec().price, 0);
    let mut req = chat_request(client.spec(), messages.to_vec());
    if let Some(c) = case {
        c.apply_to(&mut req);
    }
    client.run(id, req, cancel, |ev| m.apply(&ev)).await;
    // Estimated only after the request: the first call loads the tokenizer, which must not
    // delay sending. (Used only when the provider reports no usage.)
    m.est_input_tokens = tokens::estimate_prompt(messages);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str) -> Case {
        Case {
            id: id.into(),
            category: None,
            tags: Vec::new(),
            messages: vec![Message::user(id)],
            expected: None,
            evaluators: Vec::new(),
            origin: String::new(),
            tools: None,
            expected_tool: None,
            ..Default::default()
        }
    }

    #[test]
    fn items_are_made_lazily_in_order_skipping_finished_ones() {
        let cases = [case("a"), case("b")];
        let models = ["m1".to_string(), "m2".to_string()];
        // Round 1 (case a, repeat 0) is in the journal with m1 finished.
        let known = HashMap::from([(("a".to_string(), 0), 1)]);
        let finished = HashSet::from([(1, "m1".to_string())]);
        let got: Vec<(u64, usize, u32, usize)> =
            items(&cases, 2, &models, known, &finished, 2).map(|i| (i.round, i.case, i.repeat, i.slot)).collect();
        assert_eq!(
            got,
            [(1, 0, 0, 1), (2, 0, 1, 0), (2, 0, 1, 1), (3, 1, 0, 0), (3, 1, 0, 1), (4, 1, 1, 0), (4, 1, 1, 1)]
        );
        // Four billion repeats: the first items come at once, nothing is made ahead of need.
        let none = HashSet::new();
        let first: Vec<u64> =
            items(&cases, u32::MAX, &models, HashMap::new(), &none, 1).take(4).map(|i| i.round).collect();
        assert_eq!(first, [1, 1, 2, 2]);
    }
    use crate::provider::RequestError;
    use rand::SeedableRng;

    #[test]
    fn retry_policy_honours_retry_after_and_backs_off() {
        let p = RetryPolicy::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        assert_eq!(p.delay(0, Some(2.0), &mut rng), Some(Duration::from_secs(2)));
        assert_eq!(p.delay(0, Some(500.0), &mut rng), None, "too long a wait is not retried");
        assert_eq!(p.why_not(0, Some(500.0)), "the server asked to wait 8m20s, over the 2m00s limit");
        assert_eq!(p.why_not(p.max_retries, None), format!("all {} retries used", p.max_retries));
        assert_eq!(p.delay(3, None, &mut rng), None, "retries are limited");
        for retry in 0..3 {
            let d = p.delay(retry, None, &mut rng).unwrap();
            let base = 0.5 * f64::from(1u32 << retry);
            assert!(d.as_secs_f64() >= base * 0.75 && d.as_secs_f64() <= base * 1.25, "{retry}: {d:?}");
        }
        let mut e = RequestError::new(ErrorKind::RateLimited, "429");
        assert!(RetryPolicy::retryable(&e));
        e.kind = ErrorKind::Http;
        e.http_status = Some(503);
        assert!(RetryPolicy::retryable(&e));
        e.http_status = Some(400);
        assert!(!RetryPolicy::retryable(&e));
        assert!(!RetryPolicy::retryable(&RequestError::new(ErrorKind::Cut, "cut")));
    }
}

#[cfg(test)]
mod pair_conversation_tests {
    use super::*;

    #[test]
    fn a_multi_turn_case_shows_the_judge_every_user_turn() {
        let case = Case {
            id: "c".into(),
            messages: vec![Message::user("My name is Ada.")],
            turns: vec!["What is my name?".into()],
            ..Default::default()
        };
        let c = pair_conversation(&case, Some("Be brief."));
        let roles: Vec<&str> = c.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert_eq!(c[3].content, "What is my name?");
        assert!(c[2].content.contains("own earlier answer"));
        let one = Case { turns: vec![], ..case };
        assert_eq!(pair_conversation(&one, None).len(), 1);
    }
}
