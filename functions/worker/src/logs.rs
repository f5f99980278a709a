//! The handlers' logs (`tracing`) as JSON lines on the Worker's console,
//! which Workers Logs collects: the same shape as the Lambda host's. No
//! timestamps from here (the platform stamps each line; reading the clock
//! through `std` would fail on wasm32).

use std::io::Write;
use tracing_subscriber::fmt::MakeWriter;

/// Buffers one event's line and logs it when the event is done.
pub struct ConsoleLine(Vec<u8>);

impl Write for ConsoleLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for ConsoleLine {
    fn drop(&mut self) {
        let line = String::from_utf8_lossy(&self.0);
        let line = line.trim_end();
        if !line.is_empty() {
            worker::console_log!("{line}");
        }
    }
}

pub struct Console;

impl<'a> MakeWriter<'a> for Console {
    type Writer = ConsoleLine;

    fn make_writer(&'a self) -> Self::Writer {
        ConsoleLine(Vec::with_capacity(256))
    }
}

/// Installs the subscriber once per isolate; `info` and above.
pub fn init() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_ansi(false)
        .without_time()
        .with_current_span(false)
        .with_target(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(Console)
        .try_init();
}
