//! The tokio runtime WASI I/O and timers run on (module docs, "Workers never block").

use std::sync::OnceLock;

/// The tokio runtime WASI I/O and timers run on, started on first use. Shut down in the
/// background when the Shoal runtime goes, so dropping a Shoal runtime inside someone
/// else's async context does not panic.
#[derive(Default)]
pub(crate) struct WasiIo {
    runtime: OnceLock<tokio::runtime::Runtime>,
}

/// Threads of the WASI I/O runtime: one, for timers and for handing file I/O to tokio's
/// blocking pool, which grows as needed. Shoal's workers do the computing.
const WASI_IO_THREADS: usize = 1;

impl WasiIo {
    /// The runtime's handle, starting it if needed.
    pub(crate) fn handle(&self) -> std::io::Result<tokio::runtime::Handle> {
        if let Some(rt) = self.runtime.get() {
            return Ok(rt.handle().clone());
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WASI_IO_THREADS)
            .thread_name("shoal-wasi-io")
            .enable_time()
            .enable_io()
            .build()?;
        // A racing first use builds a second runtime, which is shut down here unused.
        if let Err(spare) = self.runtime.set(rt) {
            spare.shutdown_background();
        }
        Ok(self.runtime.get().expect("just set").handle().clone())
    }
}

impl Drop for WasiIo {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
