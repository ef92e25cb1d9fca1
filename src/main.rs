//! The muster binary: parse the command line, set up logging, run the command.

mod commands;

use clap::Parser;
use muster::cli::{Cli, Command, LogFormat, LogStyle};

/// jemalloc, not glibc's malloc: at the largest organization a pass allocates and frees
/// millions of small values (listings, events, the projection), and glibc spent a fifth of a
/// pass's CPU in malloc, much of it merging freed chunks each time a larger block was asked
/// for (docs/BENCHMARKS.md).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read when it starts:
/// - pages freed go back to the system at once, not after a decay of seconds, so a pass's
///   peak is what it holds, not also what it held a moment before (measured: 7 MiB less at
///   the busiest pass, for 0.1-0.3 s more CPU);
/// - each thread keeps one freed block of every size up to 512 KiB for its next request of
///   that size. sled's start reads the log a 512 KiB segment at a time, each into a new
///   buffer; without this every buffer was fresh pages from the system, faulted in and
///   zeroed, and the start after a large pass took 0.45 s instead of 0.19 s (measured: the
///   steady pass 1.4 s of CPU instead of 1.7, for at most 4 MiB more at the peak).
#[export_name = "_rjem_malloc_conf"]
static MALLOC_CONF: MallocConf = MallocConf(
    c"dirty_decay_ms:0,muzzy_decay_ms:0,tcache_max:524288,tcache_nslots_large:1".as_ptr(),
);

/// A C string jemalloc reads at start, as the `const char *` it expects.
#[repr(transparent)]
struct MallocConf(*const std::ffi::c_char);

// SAFETY: it points at a static, immutable C string.
unsafe impl Sync for MallocConf {}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    if matches!(
        cli.command,
        Command::Validate(_) | Command::Plan(_) | Command::Events(_) | Command::Import(_)
    ) {
        quiet_on_closed_pipe();
    }
    let runtime = match runtime_for(&cli.command) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Validate(args) => commands::validate::validate(&args),
            Command::Plan(args) => commands::plan::plan(args).await,
            Command::Apply(args) => commands::apply::apply(args).await,
            Command::Run(args) => commands::run::run(args).await.map(|()| commands::EXIT_OK),
            Command::Events(args) => commands::events::events(args),
            Command::Import(args) => commands::import::import(args).await,
            #[cfg(feature = "sandbox")]
            Command::Sandbox(args) => commands::sandbox::run_sandbox(args)
                .await
                .map(|()| commands::EXIT_OK),
        }
    });
    match result {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The async runtime a command runs on. A one-shot command waits on AWS nearly all its time:
/// a second worker thread buys it nothing but a hand-over between threads at every request
/// (about nine futex calls a request, measured at 160,000 members; see docs/BENCHMARKS.md).
/// The daemon and the sandbox answer HTTP while a pass computes, so they keep a worker per
/// core.
fn runtime_for(command: &Command) -> std::io::Result<tokio::runtime::Runtime> {
    match command {
        Command::Run(_) => tokio::runtime::Runtime::new(),
        #[cfg(feature = "sandbox")]
        Command::Sandbox(_) => tokio::runtime::Runtime::new(),
        Command::Validate(_)
        | Command::Plan(_)
        | Command::Apply(_)
        | Command::Events(_)
        | Command::Import(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    }
}

/// Read-only commands end quietly when their output pipe closes (`muster events | head`), as
/// Unix tools do, instead of panicking on the failed write. Commands that write to AWS keep
/// Rust's default (the write fails, the work in flight finishes).
fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: called before any thread is started; restores the default disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MUSTER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tokio_cron_scheduler=warn"));
    let style = LogStyle::of_stderr();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(style.ansi)
        .with_writer(std::io::stderr);
    match (format, style.timestamp) {
        (LogFormat::Text, true) => builder.init(),
        (LogFormat::Text, false) => builder.without_time().init(),
        (LogFormat::Json, _) => builder.json().init(),
    }
}
