//! What muster asks of the operating system: memory handed back after a pass, malloc tuned for
//! a pass's memory (every command that runs one), systemd's watchdog.

/// Hands memory a pass freed back to the system: glibc keeps freed heap in its arenas, so
/// without this a daemon idles at the size of its largest pass.
pub(super) fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// At most two malloc arenas: glibc otherwise keeps one per thread that ever allocated (up to
/// eight per core), each holding freed memory of its own. muster's passes are mostly waiting
/// on AWS; the arenas bought no speed and cost memory: at the largest organization a pass's
/// peak was the sum of each arena's own. And blocks of 1 MiB or more are mapped and unmapped on
/// their own (glibc otherwise raises that threshold to 32 MiB as large blocks are freed, and a
/// freed snapshot buffer or listing stays in the heap). Call it before the runtime's threads
/// start.
pub fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt sets allocator parameters; it takes no pointers.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
}

/// Pings systemd's watchdog at half its interval when the unit sets `WatchdogSec`.
pub(super) fn systemd_watchdog() -> Option<tokio::task::JoinHandle<()>> {
    let every = sd_notify::watchdog_enabled()? / 2;
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
        }
    }))
}
