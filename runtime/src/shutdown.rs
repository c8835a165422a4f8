//! Turning SIGINT and SIGTERM into a flag the main loop polls, so shutdown
//! runs on the main thread, where the attached programs are owned.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};

use crate::RunError;

/// Set once SIGINT or SIGTERM arrives.
#[derive(Clone)]
pub struct ShutdownFlag(Arc<AtomicBool>);

impl ShutdownFlag {
    pub fn install() -> Result<ShutdownFlag, RunError> {
        let flag = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM] {
            signal_hook::flag::register(signal, Arc::clone(&flag)).map_err(RunError::Signals)?;
        }
        Ok(ShutdownFlag(flag))
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
