//! The signals that ask bakeoff to stop: Ctrl-C (SIGINT), SIGTERM (`kill`, a supervisor, a CI
//! timeout) and SIGHUP (the terminal or SSH session went away, `tmux kill-session`). All three
//! do the same thing — cancel what is in flight, journal it as cancelled, write what a Ctrl-C
//! writes, restore the terminal — and the process then exits with 128 + the signal's number,
//! as a shell reports a process that signal ended.

use std::sync::OnceLock;

/// Which stop signal arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Interrupt,
    Terminate,
    Hangup,
}

impl Stop {
    /// 128 + the signal number: 130, 143 or 129.
    pub fn exit_status(self) -> u8 {
        match self {
            Stop::Interrupt => 130,
            Stop::Terminate => 143,
            Stop::Hangup => 129,
        }
    }
}

static RECEIVED: OnceLock<Stop> = OnceLock::new();

/// The first stop signal this process received, if any.
pub fn received() -> Option<Stop> {
    RECEIVED.get().copied()
}

/// Listens for the stop signals from the moment it is made (a signal arriving before the first
/// [`Signals::recv`] is not lost).
pub struct Signals {
    #[cfg(unix)]
    streams: [(Stop, tokio::signal::unix::Signal); 3],
}

impl Signals {
    /// Needs a Tokio runtime.
    pub fn new() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                streams: [
                    (Stop::Interrupt, signal(SignalKind::interrupt())?),
                    (Stop::Terminate, signal(SignalKind::terminate())?),
                    (Stop::Hangup, signal(SignalKind::hangup())?),
                ],
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next stop signal (remembered for [`received`]).
    pub async fn recv(&mut self) -> Stop {
        #[cfg(unix)]
        let stop = {
            let [(a, sa), (b, sb), (c, sc)] = &mut self.streams;
            tokio::select! {
                Some(()) = sa.recv() => *a,
                Some(()) = sb.recv() => *b,
                Some(()) = sc.recv() => *c,
            }
        };
        #[cfg(not(unix))]
        let stop = {
            let _ = tokio::signal::ctrl_c().await;
            Stop::Interrupt
        };
        let _ = RECEIVED.set(stop);
        stop
    }
}

/// Calls `on_stop` (once) when a stop signal arrives; runs in its own task.
pub fn on_stop(on_stop: impl FnOnce(Stop) + Send + 'static) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let mut signals = Signals::new()?;
    Ok(tokio::spawn(async move { on_stop(signals.recv().await) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_are_128_plus_the_signal() {
        assert_eq!(Stop::Interrupt.exit_status(), 128 + 2);
        assert_eq!(Stop::Hangup.exit_status(), 128 + 1);
        assert_eq!(Stop::Terminate.exit_status(), 128 + 15);
    }
}
