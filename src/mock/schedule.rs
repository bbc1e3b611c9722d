//! The format-neutral timeline of one mock stream: what happens, and at which offset from the
//! request's arrival.
//!
//! Every offset is computed up front from the script, so the body task only ever does
//! `sleep_until(start + offset)`: timing never drifts with scheduling delays, and a late wake-up
//! is caught up instead of pushing every later chunk back.

use std::time::Duration;

use super::calls::{self, PlannedCall};
use super::script::{Fault, Script};
use super::text::{self, SplitMix};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Reasoning,
    Answer,
    /// Arguments of tool call `n` (the first piece of a call starts it).
    Tool(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// The answer ended on its own.
    Stop,
    /// The request's max tokens cut it short.
    Length,
    /// The answer ended in tool calls.
    ToolCalls,
}

/// Running token counts after an event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    pub reasoning: u32,
    pub answer: u32,
}

impl Sent {
    pub fn total(self) -> u32 {
        self.reasoning + self.answer
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Response headers are out; formats send their token-free preamble here.
    Open,
    /// Tokens. `last` is set on the final chunk when a normal finish follows it.
    Chunk { phase: Phase, text: String, sent: Sent, last: bool },
    /// A chunk that is not valid JSON; the stream continues afterwards.
    Malformed,
    /// Normal end: finish reason, usage, terminator.
    Finish { reason: FinishReason, sent: Sent },
    /// In-stream error; the body ends cleanly afterwards.
    Error { sent: Sent },
    /// Close the connection abruptly.
    Cut,
    /// End the HTTP body cleanly but without the format's terminator.
    Eof,
}

#[derive(Clone, Debug)]
pub struct Schedule {
    pub ttfb: Duration,
    /// Offsets are non-decreasing.
    pub events: Vec<(Duration, Event)>,
    /// Keep-alive comments: every `every`, after `ttfb`, strictly before `until`.
    pub keepalive: Option<(Duration, Duration)>,
    /// Tokens the stream will carry if nothing fails (after the max-tokens cap).
    pub planned: Sent,
}

/// Builds the timeline. `max_tokens` is the request's cap (reasoning + answer, as every real API
/// counts it); `seed` drives jitter.
///
/// With `calls`, the answer is those tool calls (their arguments streamed in pieces) instead of
/// text.
// Long by design: the answer's timeline built front to back (reasoning, text or calls, usage,
// faults), every step shifting the same clock.
pub fn build(script: &Script, prompt: &str, max_tokens: Option<u64>, seed: u64, calls: &[PlannedCall]) -> Schedule {
    let mut reasoning = script.reasoning;
    // A scripted reply decides its own length; `tokens` is ignored then.
    let reply = script.reply.as_deref().map(text::reply_tokens);
    let call_pieces: Vec<(Phase, String)> = calls
        .iter()
        .enumerate()
        .flat_map(|(i, c)| calls::pieces(&c.arguments).into_iter().map(move |p| (Phase::Tool(i as u32), p)))
        .collect();
    let mut answer = match (&reply, call_pieces.is_empty()) {
        (_, false) => call_pieces.len() as u32,
        (Some(r), true) => r.len() as u32,
        (None, true) => script.tokens,
    };
    let mut reason = if call_pieces.is_empty() { FinishReason::Stop } else { FinishReason::ToolCalls };
    if let Some(max) = max_tokens {
        let max = u32::try_from(max).unwrap_or(u32::MAX);
        if reasoning.saturating_add(answer) > max {
            reason = FinishReason::Length;
            reasoning = reasoning.min(max);
            answer = max - reasoning;
        }
    }
    let mut tokens: Vec<(Phase, String)> = Vec::with_capacity((reasoning + answer) as usize);
    tokens.extend(text::reasoning(&script.name, prompt, reasoning as usize).into_iter().map(|t| (Phase::Reasoning, t)));
    if call_pieces.is_empty() {
        let answer_text = match reply {
            Some(r) => r.into_iter().take(answer as usize).collect(),
            None => text::answer(script.text, &script.name, script.quality, prompt, answer as usize),
        };
        tokens.extend(answer_text.into_iter().map(|t| (Phase::Answer, t)));
    } else {
        tokens.extend(call_pieces.into_iter().take(answer as usize));
    }
    let total = tokens.len() as u32;

    // In-stream faults. Everything "after N tokens" happens at the instant token N+1 would have
    // been sent; N beyond the end means "instead of the finish".
    let mut stalls: Vec<(u32, u64)> = Vec::new();
    let mut malformed: Vec<u32> = Vec::new();
    let mut terminal: Option<(u32, Fault)> = None;
    for f in &script.faults {
        match *f {
            Fault::Stall(n, ms) => stalls.push((n.min(total), ms)),
            Fault::Malformed(n) => malformed.push(n.min(total)),
            Fault::Error(n) | Fault::Cut(n) | Fault::Eof(n) => {
                let n = n.min(total);
                if terminal.is_none_or(|(m, _)| n < m) {
                    terminal = Some((n, *f));
                }
            }
            _ => {}
        }
    }
    let stall_before =
        |p: u32| -> Duration { Duration::from_millis(stalls.iter().filter(|(n, _)| *n <= p).map(|(_, ms)| ms).sum()) };

    // Chunk boundaries: every `chunk` tokens, at the reasoning→answer switch, and at every fault
    // position so a fault lands exactly after N tokens.
    let cuts: Vec<u32> =
        stalls.iter().map(|s| s.0).chain(malformed.iter().copied()).chain(terminal.map(|t| t.0)).collect();
    let mut chunks: Vec<(u32, u32)> = Vec::new();
    let mut start = 0u32;
    for i in 1..=total {
        let phase_switch = i < total && tokens[i as usize].0 != tokens[start as usize].0;
        if i == total || i - start >= script.chunk || phase_switch || cuts.contains(&i) {
            chunks.push((start, i));
            start = i;
        }
    }

    // Base times (without stalls): chunk j goes out when its first token is due, token i being
    // due at ttft + i/tps; jitter varies each gap by ±jitter×gap.
    let mut rng = SplitMix::new(seed);
    let ttft = Duration::from_millis(script.ttft_ms);
    let per_token = 1.0 / script.tps;
    let mut base = Vec::with_capacity(chunks.len());
    let mut t = ttft.as_secs_f64();
    for (j, (s, _)) in chunks.iter().enumerate() {
        if j > 0 {
            let gap = f64::from(s - chunks[j - 1].0) * per_token;
            t += (gap * (1.0 + script.jitter * rng.symmetric())).max(0.0);
        }
        base.push(Duration::from_secs_f64(t));
    }
    let end_base = base.last().copied().unwrap_or(ttft);
    // When "after p tokens" happens.
    let at = |p: u32| -> Duration {
        let b = chunks.iter().position(|c| c.0 == p).map(|j| base[j]).unwrap_or(end_base);
        b + stall_before(p)
    };

    let ttfb = Duration::from_millis(script.ttfb_ms);
    let mut events = vec![(ttfb, Event::Open)];
    let mut sent = Sent::default();
    let stop_at = terminal.map(|t| t.0).unwrap_or(u32::MAX);
    for &(s, e) in &chunks {
        if s >= stop_at {
            break;
        }
        let when = at(s);
        if malformed.contains(&s) {
            events.push((when, Event::Malformed));
        }
        let phase = tokens[s as usize].0;
        let text: String = tokens[s as usize..e as usize].iter().map(|t| t.1.as_str()).collect();
        match phase {
            Phase::Reasoning => sent.reasoning += e - s,
            Phase::Answer | Phase::Tool(_) => sent.answer += e - s,
        }
        events.push((when, Event::Chunk { phase, text, sent, last: false }));
    }
    let end = at(total.min(stop_at));
    if malformed.contains(&total) && stop_at >= total {
        events.push((end, Event::Malformed));
    }
    match terminal {
        Some((_, Fault::Error(_))) => events.push((end, Event::Error { sent })),
        Some((_, Fault::Cut(_))) => events.push((end, Event::Cut)),
        Some((_, _)) => events.push((end, Event::Eof)),
        None => {
            if let Some((_, Event::Chunk { last, .. })) = events.last_mut() {
                *last = true;
            }
            events.push((end, Event::Finish { reason, sent }));
        }
    }
    // Keep-alives fill the silence between the headers and the first thing after them.
    let keepalive = script.keepalive_ms.map(|k| {
        let until = events.get(1).map(|e| e.0).unwrap_or(ttfb);
        (Duration::from_millis(k), until)
    });
    Schedule { ttfb, events, keepalive, planned: Sent { reasoning, answer } }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::script::parse;

    fn chunks(s: &Schedule) -> Vec<(Duration, String)> {
        s.events
            .iter()
            .filter_map(|(t, e)| match e {
                Event::Chunk { text, .. } => Some((*t, text.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn infinite_rate_sends_every_chunk_with_the_first() {
        let s = build(&parse("m;ttfb=0;ttft=30;tps=inf;tokens=5").unwrap(), "p", None, 1, &[]);
        let c = chunks(&s);
        assert_eq!(c.len(), 5);
        assert!(s.events.iter().skip(1).all(|(t, _)| *t == Duration::from_millis(30)), "{:?}", s.events);
    }

    #[test]
    fn timing_is_scheduled_from_start() {
        let s = build(&parse("m;ttfb=10;ttft=200;tps=100;tokens=11").unwrap(), "p", None, 1, &[]);
        assert_eq!(s.events[0], (Duration::from_millis(10), Event::Open));
        let c = chunks(&s);
        assert_eq!(c.len(), 11);
        assert_eq!(c[0].0, Duration::from_millis(200));
        assert!((c[10].0.as_secs_f64() - 0.3).abs() < 1e-6);
        match s.events.last().unwrap() {
            (t, Event::Finish { reason: FinishReason::Stop, sent }) => {
                assert_eq!(*t, c[10].0);
                assert_eq!(sent.answer, 11);
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn chunking_splits_phases_and_caps() {
        let s = build(&parse("m;tokens=10;reasoning=5;chunk=4").unwrap(), "p", None, 1, &[]);
        let phases: Vec<(Phase, u32)> = s
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Chunk { phase, sent, .. } => Some((*phase, sent.total())),
                _ => None,
            })
            .collect();
        use Phase::*;
        assert_eq!(phases, vec![(Reasoning, 4), (Reasoning, 5), (Answer, 9), (Answer, 13), (Answer, 15)]);
        let capped = build(&parse("m;tokens=10;reasoning=5").unwrap(), "p", Some(7), 1, &[]);
        assert_eq!(capped.planned, Sent { reasoning: 5, answer: 2 });
        assert!(matches!(capped.events.last().unwrap().1, Event::Finish { reason: FinishReason::Length, .. }));
    }

    #[test]
    fn faults_land_after_n_tokens() {
        let s = build(&parse("m;tokens=10;chunk=3;fault=cut@4;tps=10;ttft=100").unwrap(), "p", None, 1, &[]);
        let c = chunks(&s);
        assert_eq!(c.iter().map(|c| text::tokenize(&c.1).len()).sum::<usize>(), 4);
        let (t, e) = s.events.last().unwrap();
        assert_eq!(*e, Event::Cut);
        assert!((t.as_secs_f64() - 0.5).abs() < 1e-6, "{t:?}");

        let s = build(&parse("m;tokens=5;fault=stall@2:1000;tps=10;ttft=100").unwrap(), "p", None, 1, &[]);
        let c = chunks(&s);
        assert!((c[1].0.as_secs_f64() - 0.2).abs() < 1e-6);
        assert!((c[2].0.as_secs_f64() - 1.3).abs() < 1e-6);

        let s = build(&parse("m;tokens=3;fault=malformed@1;fault=error@99").unwrap(), "p", None, 1, &[]);
        let kinds: Vec<&str> = s
            .events
            .iter()
            .map(|(_, e)| match e {
                Event::Open => "open",
                Event::Chunk { .. } => "chunk",
                Event::Malformed => "bad",
                Event::Error { .. } => "error",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, vec!["open", "chunk", "bad", "chunk", "chunk", "error"]);
    }

    #[test]
    fn jitter_is_bounded_and_reproducible() {
        let script = parse("m;tokens=50;tps=100;jitter=0.5;ttft=100").unwrap();
        let a = build(&script, "p", None, 42, &[]);
        let b = build(&script, "p", None, 42, &[]);
        assert_eq!(chunks(&a), chunks(&b));
        let c = chunks(&a);
        for w in c.windows(2) {
            let gap = (w[1].0 - w[0].0).as_secs_f64();
            assert!((0.005 - 1e-9..=0.015 + 1e-9).contains(&gap), "{gap}");
        }
    }

    #[test]
    fn zero_tokens_still_finish_and_keepalive_window() {
        let s = build(&parse("m;tokens=0;ttft=300;keepalive=50").unwrap(), "p", None, 1, &[]);
        assert_eq!(s.events.len(), 2);
        assert_eq!(s.keepalive, Some((Duration::from_millis(50), Duration::from_millis(300))));
    }
}
