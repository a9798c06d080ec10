//! Ctrl-C and SIGTERM: the first one asks the benchmark to stop at the next step (it then
//! removes what it created); a second one exits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::SigId;

use crate::error::BenchError;

/// The stop request, watched between benchmark steps. Unregisters its handlers on drop.
pub struct Interrupt {
    flag: Arc<AtomicBool>,
    ids: Vec<SigId>,
}

impl Interrupt {
    /// Install the handlers.
    pub fn install() -> Result<Interrupt, BenchError> {
        let flag = Arc::new(AtomicBool::new(false));
        let mut ids = Vec::new();
        for signal in [SIGINT, SIGTERM] {
            let ctx = |e| BenchError::io(format!("installing the handler of signal {signal}"), e);
            // Order matters: the conditional exit runs before the flag is set, so only a
            // second signal (flag already set) exits.
            ids.push(
                signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&flag))
                    .map_err(ctx)?,
            );
            ids.push(signal_hook::flag::register(signal, Arc::clone(&flag)).map_err(ctx)?);
        }
        Ok(Interrupt { flag, ids })
    }

    /// `Err(Interrupted)` once a stop was asked for.
    pub fn check(&self) -> Result<(), BenchError> {
        if self.flag.load(Ordering::Relaxed) {
            Err(BenchError::Interrupted)
        } else {
            Ok(())
        }
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}
