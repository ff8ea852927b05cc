//! [`Watchdog`]: a hang becomes a failure that names the test, not a CI time-out.

use std::sync::mpsc;
use std::time::Duration;

/// Ends the process (naming the test, exit code 101) if it is not dropped within `limit`: a
/// hang becomes a clear failure instead of a CI time-out.
///
/// Arm one at the top of a test that could hang, and let it drop at the end:
///
/// ```
/// use std::time::Duration;
/// use asyncjob_test::Watchdog;
///
/// let _watchdog = Watchdog::new("my_job_ends", Duration::from_secs(60));
/// // ... start the job and wait for it ...
/// ```
///
/// The limit is a bound on a hang, not a timing assertion: set it far above what the test
/// needs on a loaded machine.
#[derive(Debug)]
pub struct Watchdog {
    done: Option<mpsc::Sender<()>>,
}

impl Watchdog {
    /// Arms the watchdog for the test `name`.
    pub fn new(name: &'static str, limit: Duration) -> Self {
        let (done, rx) = mpsc::channel::<()>();
        let armed = std::thread::Builder::new()
            .name("asyncjob-test watchdog".to_owned())
            .spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                    eprintln!("test `{name}` hung for {limit:?}: aborting");
                    std::process::exit(101);
                }
            });
        if armed.is_err() {
            eprintln!("test `{name}`: no thread for its watchdog; running without one");
        }
        Watchdog { done: Some(done) }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }
}
