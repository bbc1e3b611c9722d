//! Memory the interactive view does not need. The allocator asks the kernel for transparent huge
//! pages (2 MiB) on its arenas, which pays off for a load run's large heap; the TUI's heap is a
//! few MiB spread over many threads, and each huge page it touches is 2 MiB of resident memory
//! for a few KiB used (8 panes: 29 MB peak with them, 16 MB without, on this project's VM).

/// Stops the kernel from backing this process's memory with transparent huge pages from now on
/// (pages already faulted in stay as they are). A no-op where the kernel has no such switch;
/// failing to set it costs memory, not correctness, so it is not an error.
pub fn prefer_small_pages() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let _ = rustix::thread::disable_transparent_huge_pages(true);
    }
}

#[cfg(test)]
mod tests {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn the_switch_is_set_for_the_process() {
        // In a child, so the test process keeps its own setting.
        let text = crate::child_test::run_ignored("footprint::tests::child_sets_and_reads_the_switch");
        assert!(text.contains("thp disabled: true"), "{text}");
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    #[ignore = "run by the_switch_is_set_for_the_process in a child process"]
    fn child_sets_and_reads_the_switch() {
        super::prefer_small_pages();
        println!("thp disabled: {}", rustix::thread::transparent_huge_pages_are_disabled().unwrap());
    }
}
