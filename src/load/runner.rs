//! Drives a load run: closed-loop workers or an open-loop dispatcher start requests through the
//! engine; each request's own task folds its stamped events into [`RequestMetrics`] and sends one
//! finished [`Record`]. The [`Monitor`] drains those records — once per frame in the live view —
//! into the [`Aggregate`]. Nothing here reads a clock to measure a request: the engine's network
//! task stamped every event; the only instants taken here are the *intended* send times.

use super::plan::{Plan, Shape};
use super::record::{Context, Record};
use super::summary::Aggregate;
use crate::engine::{DirectConn, ModelClient, Prepared, chat_request};
use crate::event::{EventKind, RequestId};
use crate::metrics::RequestMetrics;
use crate::provider::Message;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// One request body of the mix.
#[derive(Clone, Debug)]
pub struct MixItem {
    /// The case id (`--cases`), none for `--prompt`.
    pub id: Option<String>,
    pub messages: Vec<Message>,
    est_input: u64,
    /// The case it came from, whose tools and sampling settings replace the models'.
    case: Option<crate::cases::Case>,
}

impl MixItem {
    pub fn new(id: Option<String>, messages: Vec<Message>) -> MixItem {
        let est_input = crate::tokens::estimate_prompt(&messages);
        MixItem { id, messages, est_input, case: None }
    }

    /// A case's conversation, with its tools and sampling settings.
    pub fn from_case(case: crate::cases::Case) -> MixItem {
        let item = MixItem::new(Some(case.id.clone()), case.messages.clone());
        MixItem { case: Some(case), ..item }
    }

    fn request(&self, spec: &crate::config::ModelSpec) -> crate::provider::ChatRequest {
        let mut req = chat_request(spec, self.messages.clone());
        if let Some(c) = &self.case {
            c.apply_to(&mut req);
        }
        req
    }
}

/// The models and request bodies of a run. Request `g` goes to model `g mod M` with body
/// `(g div M) mod B`, so every model sees every body in turn.
pub struct Workload {
    pub clients: Vec<ModelClient>,
    pub mix: Vec<MixItem>,
    /// `prepared[m][b]`: body `b` built for model `m` once, not once per request.
    prepared: Vec<Vec<Prepared>>,
}

impl Workload {
    pub fn new(clients: Vec<ModelClient>, mix: Vec<MixItem>) -> Workload {
        let prepared =
            clients.iter().map(|c| mix.iter().map(|item| c.prepare(&item.request(c.spec()))).collect()).collect();
        Workload { clients, mix, prepared }
    }

    /// (model slot, body index, body) of request `g`.
    fn pick(&self, g: u64) -> (usize, usize, &MixItem) {
        let m = self.clients.len().max(1) as u64;
        let b = ((g / m) % self.mix.len().max(1) as u64) as usize;
        ((g % m) as usize, b, &self.mix[b])
    }
}

/// Counters the request tasks bump as they go; the monitor only reads them.
#[derive(Debug, Default)]
pub struct Live {
    pub started: AtomicU64,
    pub in_flight: AtomicU64,
    /// Output tokens streamed so far (estimated per delta), for the live tokens/s.
    pub tokens: AtomicU64,
    /// No more requests will be started.
    pub dispatch_done: AtomicBool,
}

/// A run in progress.
pub struct Running {
    pub start: Instant,
    pub started_wall: SystemTime,
    pub live: Arc<Live>,
    records: mpsc::UnboundedReceiver<Record>,
    /// Stops starting requests.
    stop: CancellationToken,
    /// Cancels requests in flight.
    cancel: CancellationToken,
    /// Fired when the monitor has seen everything (ends the duration timer).
    finished: CancellationToken,
    interrupted: Arc<AtomicBool>,
}

impl Running {
    /// Ctrl-C / `q`: start nothing more and cancel what is in flight (reported as cancelled).
    pub fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        self.stop.cancel();
        self.cancel.cancel();
    }

    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// A handle that interrupts the run from elsewhere (signal task, key thread).
    pub fn interrupter(&self) -> Interrupter {
        Interrupter { stop: self.stop.clone(), cancel: self.cancel.clone(), flag: self.interrupted.clone() }
    }

    pub fn stopping(&self) -> bool {
        self.stop.is_cancelled()
    }
}

#[derive(Clone)]
pub struct Interrupter {
    stop: CancellationToken,
    cancel: CancellationToken,
    flag: Arc<AtomicBool>,
}

impl Interrupter {
    pub fn interrupt(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.stop.cancel();
        self.cancel.cancel();
    }
}

/// Starts the run on the current runtime.
pub fn start(work: Arc<Workload>, plan: &Plan) -> Running {
    let (tx, records) = mpsc::unbounded_channel();
    let start = Instant::now();
    let started_wall = SystemTime::now();
    let live = Arc::new(Live::default());
    let stop = CancellationToken::new();
    let cancel = CancellationToken::new();
    let finished = CancellationToken::new();

    if let Some(d) = plan.duration {
        // At the end of --duration nothing new starts; what is in flight gets --grace to finish
        // (cutting it off at once would drop exactly the slowest requests from the figures).
        let (stop, cancel, finished, grace) = (stop.clone(), cancel.clone(), finished.clone(), plan.grace);
        tokio::spawn(async move {
            tokio::select! {
                _ = finished.cancelled() => return,
                _ = tokio::time::sleep_until(start + d) => stop.cancel(),
            }
            tokio::select! {
                _ = finished.cancelled() => {}
                _ = tokio::time::sleep(grace) => cancel.cancel(),
            }
        });
    }

    let shared = Shared { work, live: live.clone(), start, stop: stop.clone(), cancel: cancel.clone(), tx };
    match plan.shape {
        Shape::Closed { concurrency } => closed(shared, plan, concurrency),
        Shape::Open { max_in_flight, .. } => {
            let plan = plan.clone();
            tokio::spawn(async move { open(shared, &plan, max_in_flight).await });
        }
    }
    Running {
        start,
        started_wall,
        live,
        records,
        stop,
        cancel,
        finished,
        interrupted: Arc::new(AtomicBool::new(false)),
    }
}

/// What every worker and request task shares. Holding `tx` keeps the record channel open, so
/// the channel closes exactly when the last of them is done.
#[derive(Clone)]
struct Shared {
    work: Arc<Workload>,
    live: Arc<Live>,
    start: Instant,
    stop: CancellationToken,
    cancel: CancellationToken,
    tx: mpsc::UnboundedSender<Record>,
}

fn closed(shared: Shared, plan: &Plan, concurrency: u32) {
    let next = Arc::new(AtomicU64::new(0));
    let done_workers = Arc::new(AtomicU64::new(0));
    let worker = |w: u32| {
        let s = shared.clone();
        let (next, done_workers) = (next.clone(), done_workers.clone());
        let begin = shared.start + plan.worker_start(w, concurrency);
        let (budget, deadline, shard) = (plan.requests, plan.duration.map(|d| shared.start + d), plan.shard);
        async move {
            // Each worker is one user with its own connection per model (where the model is
            // reached over plain HTTP; otherwise the client's pool).
            let mut conns: Vec<Option<DirectConn>> = s.work.clients.iter().map(ModelClient::direct_conn).collect();
            // Tokens of its own: checking and waiting on them takes no lock shared with other
            // workers (and threads).
            let cancel = s.cancel.child_token();
            let stop = s.stop.child_token();
            tokio::select! {
                biased;
                _ = stop.cancelled() => {}
                _ = tokio::time::sleep_until(begin) => loop {
                    if stop.is_cancelled() || deadline.is_some_and(|d| Instant::now() >= d) {
                        break;
                    }
                    let local = next.fetch_add(1, Ordering::SeqCst);
                    if budget.is_some_and(|b| local >= b) {
                        break;
                    }
                    // Awaited here, not spawned: a worker has at most one request open.
                    let rec = one(&s, shard.global(local), None, &mut conns, cancel.clone()).await;
                    let _ = s.tx.send(rec);
                },
            }
            if done_workers.fetch_add(1, Ordering::SeqCst) + 1 == u64::from(concurrency) {
                s.live.dispatch_done.store(true, Ordering::SeqCst);
            }
        }
    };
    let threads = plan.threads.min(concurrency as usize);
    if threads == 0 {
        for w in 0..concurrency {
            tokio::spawn(worker(w));
        }
        return;
    }
    for t in 0..threads {
        let mine: Vec<_> = (0..concurrency).filter(|w| *w as usize % threads == t).map(worker).collect();
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(_) => {
                // No runtime of its own: these workers share the caller's (slower, still right).
                mine.into_iter().for_each(|w| drop(tokio::spawn(w)));
                continue;
            }
        };
        // If the thread cannot start, its workers are dropped with it: their senders close and
        // the run ends with what the others did instead of waiting forever.
        let _ = std::thread::Builder::new().name(format!("load-{t}")).spawn(move || {
            rt.block_on(async {
                let tasks: Vec<_> = mine.into_iter().map(tokio::spawn).collect();
                for task in tasks {
                    let _ = task.await;
                }
            });
        });
    }
}

async fn open(shared: Shared, plan: &Plan, max_in_flight: Option<u32>) {
    let cap = max_in_flight.map(|c| Arc::new(Semaphore::new(c as usize)));
    let mut arrivals = plan.arrivals().enumerate();
    let within = |local: u64, offset: Duration| {
        plan.requests.is_none_or(|b| local < b) && plan.duration.is_none_or(|d| offset < d)
    };
    while let Some((local, offset)) = arrivals.next() {
        let local = local as u64;
        if !within(local, offset) {
            break;
        }
        let intended = shared.start + offset;
        // Only a future arrival is waited for (and abandoned on stop); one already due — the
        // backlog behind the in-flight cap — is still sent after --duration ends.
        if intended > Instant::now() {
            tokio::select! {
                biased;
                _ = shared.stop.cancelled() => break,
                _ = tokio::time::sleep_until(intended) => {}
            }
        }
        // Over the in-flight cap a due request waits for a slot, until --grace or an interrupt
        // cancels; the wait counts in its response time.
        let permit = match &cap {
            _ if shared.cancel.is_cancelled() => None,
            Some(sem) => tokio::select! {
                biased;
                _ = shared.cancel.cancelled() => None,
                p = sem.clone().acquire_owned() => p.ok(),
            },
            None => None,
        };
        if shared.cancel.is_cancelled() {
            backlog(&shared, plan, local, offset);
            for (local, offset) in arrivals.by_ref() {
                let local = local as u64;
                if !within(local, offset) || shared.start + offset > Instant::now() {
                    break;
                }
                backlog(&shared, plan, local, offset);
            }
            break;
        }
        let s = shared.clone();
        let g = plan.shard.global(local);
        tokio::spawn(async move {
            let rec = one(&s, g, Some(intended), &mut [], s.cancel.clone()).await;
            drop(permit);
            let _ = s.tx.send(rec);
        });
    }
    shared.live.dispatch_done.store(true, Ordering::SeqCst);
}

/// A request that was due but never sent (stuck behind the in-flight cap when the run was
/// cancelled): reported as cancelled, so the backlog is not silently dropped.
fn backlog(s: &Shared, plan: &Plan, local: u64, offset: Duration) {
    let g = plan.shard.global(local);
    let (slot, _, item) = s.work.pick(g);
    let client = &s.work.clients[slot];
    let mut m = RequestMetrics::new(client.spec().price, item.est_input);
    m.apply_kind(Instant::now(), &EventKind::Cancelled);
    let cx = Context {
        i: g,
        model: &client.spec().name,
        case: item.id.as_deref(),
        start: s.start,
        intended: Some(s.start + offset),
    };
    let _ = s.tx.send(Record::from_metrics(&m, &cx));
}

/// Runs request `g` to its end and returns its record. `conns`: the worker's own connections by
/// model slot (empty for open-loop requests, which use the pool).
async fn one(
    s: &Shared,
    g: u64,
    intended: Option<Instant>,
    conns: &mut [Option<DirectConn>],
    cancel: CancellationToken,
) -> Record {
    let (slot, body, item) = s.work.pick(g);
    let client = &s.work.clients[slot];
    s.live.started.fetch_add(1, Ordering::Relaxed);
    s.live.in_flight.fetch_add(1, Ordering::Relaxed);
    let mut m = RequestMetrics::new(client.spec().price, item.est_input);
    // Folded as the network task stamps them: no extra task or channel per request.
    client
        .run_prepared(
            RequestId { run: g, slot },
            &s.work.prepared[slot][body],
            conns.get_mut(slot).and_then(Option::as_mut),
            cancel,
            |ev| {
                let before = m.est_output_tokens;
                m.apply(&ev);
                if matches!(ev.kind, EventKind::Text(_) | EventKind::Reasoning(_)) {
                    s.live.tokens.fetch_add(m.est_output_tokens.saturating_sub(before), Ordering::Relaxed);
                }
            },
        )
        .await;
    s.live.in_flight.fetch_sub(1, Ordering::Relaxed);
    let cx = Context { i: g, model: &client.spec().name, case: item.id.as_deref(), start: s.start, intended };
    Record::from_metrics(&m, &cx)
}

/// Drains records into the aggregate (and the `--out` file).
pub struct Monitor {
    pub agg: Aggregate,
    pub running: Running,
    out: Option<std::io::BufWriter<std::fs::File>>,
    out_error: Option<String>,
    closed: bool,
    /// Every record, when asked to keep them (tests, benchmarks).
    kept: Option<Vec<Record>>,
}

impl Monitor {
    pub fn new(running: Running, agg: Aggregate, out: Option<std::fs::File>) -> Monitor {
        Monitor { agg, running, out: out.map(std::io::BufWriter::new), out_error: None, closed: false, kept: None }
    }

    /// Keeps every record in memory as well (for tests and benchmarks; a long run would grow).
    pub fn keep_records(&mut self) {
        self.kept.get_or_insert_with(Vec::new);
    }

    pub fn records(&self) -> &[Record] {
        self.kept.as_deref().unwrap_or_default()
    }

    fn fold(&mut self, mut rec: Record) {
        self.agg.add(&mut rec);
        if let Some(w) = &mut self.out
            && self.out_error.is_none()
        {
            let line = crate::sanitize::write_json(&mut *w, &rec)
                .map_err(std::io::Error::from)
                .and_then(|_| w.write_all(b"\n"));
            if let Err(e) = line {
                self.out_error = Some(e.to_string());
            }
        }
        if let Some(k) = &mut self.kept {
            k.push(rec);
        }
    }

    /// Folds everything queued without waiting; true once every request has reported.
    pub fn drain(&mut self) -> bool {
        while !self.closed {
            match self.running.records.try_recv() {
                Ok(rec) => self.fold(rec),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => self.closed = true,
            }
        }
        self.closed
    }

    /// Waits for the next record or the end; true at the end.
    pub async fn next(&mut self) -> bool {
        if self.closed {
            return true;
        }
        match self.running.records.recv().await {
            Some(rec) => {
                self.fold(rec);
                false
            }
            None => {
                self.closed = true;
                true
            }
        }
    }

    /// Folds until every request has reported (no view).
    pub async fn run_to_end(&mut self) {
        while !self.next().await {}
        self.finish();
    }

    /// Seconds since the start.
    pub fn elapsed_s(&self) -> f64 {
        self.running.start.elapsed().as_secs_f64()
    }

    /// Ends the run's timers and flushes `--out`; returns a write error, if any happened.
    pub fn finish(&mut self) -> Option<String> {
        self.running.finished.cancel();
        if let Some(w) = &mut self.out
            && self.out_error.is_none()
            && let Err(e) = w.flush().and_then(|_| w.get_ref().sync_all())
        {
            self.out_error = Some(e.to_string());
        }
        self.out_error.clone()
    }

    /// First send → last completion (or now, if nothing completed).
    pub fn run_elapsed_s(&self) -> f64 {
        if self.agg.last_end_s > 0.0 { self.agg.last_end_s } else { self.elapsed_s() }
    }
}

/// How long the monitor waits between frames of the plain progress line.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(2);
