//! The open-file limit. A load run holds a socket per open request (in closed loop one connection
//! per worker and model, kept open between requests), and a common soft limit is 1,024: the
//! run raises its soft limit to the hard one at start, and says so when even that is too few.

/// Raises the soft open-file limit to the hard limit. Returns (the limit now, the limit before);
/// `None` where there is no such limit or it cannot be read or changed.
pub fn raise_to_hard() -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let now = getrlimit(Resource::Nofile);
        let before = now.current?;
        let Some(hard) = now.maximum else {
            // No hard limit: ask for a generous one; keep the old one if refused.
            let wanted = before.max(1 << 20);
            let raised = setrlimit(Resource::Nofile, rustix::process::Rlimit { current: Some(wanted), maximum: None });
            return Some((if raised.is_ok() { wanted } else { before }, before));
        };
        if before >= hard {
            return Some((before, before));
        }
        match setrlimit(Resource::Nofile, rustix::process::Rlimit { current: Some(hard), maximum: Some(hard) }) {
            Ok(()) => Some((hard, before)),
            Err(_) => Some((before, before)),
        }
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// File descriptors a run needs with `sockets` connections open at once: each one, its server
/// side too when the server runs in this process (`--demo`), and room for the runtime, the
/// terminal, the journal and output files.
pub fn needed(sockets: u64, in_process_server: bool) -> u64 {
    sockets.saturating_mul(if in_process_server { 2 } else { 1 }).saturating_add(64)
}

/// What to tell the user when `limit` is below `need`.
pub fn shortfall(limit: u64, need: u64) -> Option<String> {
    (limit < need).then(|| {
        format!(
            "the open-file limit is {limit} (the hard limit) but this run needs about {need}: requests beyond it \
             fail to connect; raise it (e.g. `ulimit -Hn {need}` as root, or LimitNOFILE= in a systemd unit) or \
             lower --concurrency"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let Some((now, before)) = raise_to_hard() else { return }; // no limit on this platform
        assert!(now >= before);
        #[cfg(unix)]
        {
            let l = rustix::process::getrlimit(rustix::process::Resource::Nofile);
            assert_eq!(l.current, Some(now));
            if let Some(hard) = l.maximum {
                assert_eq!(now, hard, "soft = hard after raising");
            }
        }
        assert_eq!(raise_to_hard(), Some((now, now)), "a second call has nothing to raise");
    }

    #[test]
    fn the_need_counts_both_ends_of_in_process_connections() {
        assert_eq!(needed(1000, false), 1064);
        assert_eq!(needed(1000, true), 2064);
        assert_eq!(needed(u64::MAX, true), u64::MAX);
        assert_eq!(shortfall(4096, 2064), None);
        let w = shortfall(1024, 2064).expect("too few");
        assert!(w.contains("1024") && w.contains("2064") && w.contains("--concurrency"), "{w}");
    }
}
