//! Where log lines (and, when exported, trace spans) go: a paced stderr writer on its own thread,
//! in the chosen format.

use super::options::LogFormat;
use crate::telemetry::Traces;

/// Stderr for the log thread: buffered, and paced. The thread flushes whenever it has emptied
/// its queue, and after each flush rests [`PacedStderr::PACE`]: under load, lines gather in the
/// queue meanwhile, so a burst costs one `write(2)` and one wake-up of the thread instead of one
/// per line (a request's thread only has to wake it when it waits on an empty queue). A line on
/// a quiet log is still written at once: the rest comes after the write.
struct PacedStderr {
    buffer: std::io::BufWriter<std::io::Stderr>,
}

impl PacedStderr {
    const PACE: std::time::Duration = std::time::Duration::from_millis(5);

    fn new() -> Self {
        Self {
            buffer: std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr()),
        }
    }
}

impl std::io::Write for PacedStderr {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.buffer.write(line)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.buffer.flush()?;
        std::thread::sleep(Self::PACE);
        Ok(())
    }
}

/// Logs go to stderr from a dedicated thread: a request never waits for a slow log consumer
/// (a pipe, journald) unless 128k lines are already queued, and then it waits rather than
/// losing lines.
///
/// With `traces`, spans also go to OpenTelemetry (each layer with its own filter: `RUST_LOG`
/// filters the log lines only); without, the subscriber is the plain log one. Either way the
/// trace-only spans (`bridge_queue::trace_context::TARGET`) never reach the log lines.
pub(super) fn init_tracing(
    format: LogFormat,
    traces: Option<&Traces>,
) -> tracing_appender::non_blocking::WorkerGuard {
    use tracing_subscriber::EnvFilter;
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if let Ok(trace_only) = format!("{}=off", bridge_queue::trace_context::TARGET).parse() {
        filter = filter.add_directive(trace_only);
    }
    // Unless RUST_LOG names the crate: PostgreSQL's notices (`relation "_sqlx_migrations"
    // already exists, skipping` on every start) are not news at INFO; and lapin logs an ERROR
    // for every channel the broker closes, including the throwaway channels of passive declares
    // (a missing legacy tier, a depth read) whose outcome the bridge handles and logs itself,
    // and its I/O loop logs an ERROR when the runtime stops under a connection still closing on
    // a clean shutdown; a lost connection is logged by the bridge's own supervisor.
    let asked = std::env::var("RUST_LOG").unwrap_or_default();
    for (krate, directive) in [
        ("sqlx", "sqlx::postgres::notice=warn"),
        ("lapin", "lapin::channel=off"),
        ("lapin", "lapin::io_loop=off"),
    ] {
        if let (false, Ok(quiet)) = (asked.contains(krate), directive.parse()) {
            filter = filter.add_directive(quiet);
        }
    }
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(PacedStderr::new());
    // Colours only for a person at a terminal: a file, a pipe or journald gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    if let Some(traces) = traces {
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        use tracing_subscriber::Layer as _;
        let logs = tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(writer);
        let registry = tracing_subscriber::registry().with(traces.layer());
        match format {
            LogFormat::Json => registry
                .with(logs.json().flatten_event(true).with_filter(filter))
                .init(),
            LogFormat::Text => registry.with(logs.with_filter(filter)).init(),
        }
        return guard;
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
    guard
}
