//! What muster asks of the operating system: memory handed back after a pass, systemd's
//! watchdog.

/// Hands memory a pass freed back to the system. muster's own allocations are jemalloc's,
/// which returns freed pages at once (`main.rs`); what C libraries allocate through glibc
/// (TLS, for one) stays in glibc's arenas without this.
pub(super) fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
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
