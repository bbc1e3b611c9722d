//! Panics inside one request stay that request's error.
//!
//! A bug reached by one server's odd answer must not take the run down, nor (in the TUI) tear
//! the screen: [`guarded`] runs a request's future, catches a panic at that boundary and hands
//! back its message and location, which the engine turns into the model's error (journaled like
//! any other). The process-wide hook ([`install`]) stays quiet for such panics — the message
//! goes into the error instead of onto the screen — and [`caught_here`] tells other hooks (the
//! TUI's, which restores the terminal) that this panic will be caught.

use futures_util::FutureExt;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::AssertUnwindSafe;

thread_local! {
    /// Set while this thread polls a guarded future.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
    /// The last guarded panic's message and location, recorded by the hook.
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Whether a panic raised on this thread now will be caught by [`guarded`].
pub fn caught_here() -> bool {
    GUARDED.with(Cell::get)
}

/// Installs the process-wide hook: guarded panics are recorded, not printed; any other goes to
/// the hook that was there before. Call once, before any other hook is chained on top.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if caught_here() {
                let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
                LAST.with(|l| *l.borrow_mut() = Some(format!("{}{at}", payload_text(info.payload()))));
            } else {
                prev(info);
            }
        }));
    });
}

fn payload_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string())
}

/// Runs `fut`; a panic inside it is returned as `Err(message)` instead of unwinding further.
pub async fn guarded<F: Future>(fut: F) -> Result<F::Output, String> {
    let mut fut = std::pin::pin!(AssertUnwindSafe(fut).catch_unwind());
    let result = std::future::poll_fn(|cx| {
        let was = GUARDED.with(|g| g.replace(true));
        let r = fut.as_mut().poll(cx);
        GUARDED.with(|g| g.set(was));
        r
    })
    .await;
    result.map_err(|payload| LAST.with(|l| l.borrow_mut().take()).unwrap_or_else(|| payload_text(payload.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_inside_becomes_its_message() {
        install();
        let r = guarded(async {
            tokio::task::yield_now().await;
            let v: Vec<u8> = Vec::new();
            v[3]
        })
        .await;
        let e = r.unwrap_err();
        assert!(e.contains("index out of bounds") && e.contains("src/panics.rs:"), "{e}");
        assert!(!caught_here(), "the flag is cleared after the guarded poll");
        assert_eq!(guarded(async { 7 }).await, Ok(7));
    }
}
