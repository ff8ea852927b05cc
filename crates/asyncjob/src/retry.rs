//! Retry policies: after a failed attempt, decide from the failure and the attempt number whether
//! to try again, and after how long.
//!
//! [`RetryPolicy`] is the trait; [`Retry`] builds the usual ones — fixed delay, linear and
//! exponential back-off, each with a maximum number of attempts, an optional cap on the delay,
//! optional jitter, and an optional filter on the failure.
//!
//! ```
//! use std::time::Duration;
//! use asyncjob::retry::{AttemptFailure, Retry, RetryPolicy};
//!
//! let policy = Retry::exponential(5, Duration::from_millis(10))
//!     .max_delay(Duration::from_millis(50))
//!     .when(|failure| !matches!(failure, AttemptFailure::Panic(_)));
//!
//! let io = std::io::Error::other("busy");
//! let failure = AttemptFailure::Error(&io);
//! assert_eq!(policy.retry_after(&failure, 1), Some(Duration::from_millis(10)));
//! assert_eq!(policy.retry_after(&failure, 3), Some(Duration::from_millis(40)));
//! assert_eq!(policy.retry_after(&failure, 4), Some(Duration::from_millis(50))); // capped
//! assert_eq!(policy.retry_after(&failure, 5), None); // five attempts made
//! assert_eq!(policy.retry_after(&AttemptFailure::Panic("boom"), 1), None); // filtered out
//! ```

use std::error::Error as StdError;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::Duration;

/// How one attempt of a step failed, as shown to a [`RetryPolicy`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum AttemptFailure<'a> {
    /// The step's future returned this error. Downcast it to decide by kind.
    Error(&'a (dyn StdError + Send + Sync + 'static)),
    /// The step panicked with this message.
    Panic(&'a str),
    /// The attempt ran longer than the step's timeout.
    TimedOut(Duration),
}

/// Decides whether a failed step is tried again.
pub trait RetryPolicy: Send + Sync + 'static {
    /// Called after attempt number `attempt` (1 for the first) failed with `failure`: `Some(delay)`
    /// to try again after `delay`, `None` to give up (the step then fails with this failure).
    fn retry_after(&self, failure: &AttemptFailure<'_>, attempt: u32) -> Option<Duration>;
}

impl<F> RetryPolicy for F
where
    F: Fn(&AttemptFailure<'_>, u32) -> Option<Duration> + Send + Sync + 'static,
{
    fn retry_after(&self, failure: &AttemptFailure<'_>, attempt: u32) -> Option<Duration> {
        self(failure, attempt)
    }
}

impl<P: RetryPolicy + ?Sized> RetryPolicy for Arc<P> {
    fn retry_after(&self, failure: &AttemptFailure<'_>, attempt: u32) -> Option<Duration> {
        (**self).retry_after(failure, attempt)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Backoff {
    Fixed(Duration),
    Linear { initial: Duration, step: Duration },
    Exponential { initial: Duration, factor: f64 },
}

type Filter = Arc<dyn Fn(&AttemptFailure<'_>) -> bool + Send + Sync>;

/// The built-in retry policies: a back-off shape, a maximum number of attempts, and optional cap,
/// jitter and filter.
#[derive(Clone)]
pub struct Retry {
    max_attempts: u32,
    backoff: Backoff,
    max_delay: Option<Duration>,
    jitter: f64,
    filter: Option<Filter>,
}

impl fmt::Debug for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .field("max_delay", &self.max_delay)
            .field("jitter", &self.jitter)
            .field("filtered", &self.filter.is_some())
            .finish()
    }
}

impl Retry {
    fn new(max_attempts: u32, backoff: Backoff) -> Self {
        Retry {
            max_attempts,
            backoff,
            max_delay: None,
            jitter: 0.0,
            filter: None,
        }
    }

    /// At most `max_attempts` attempts in all (the first included), `delay` apart.
    pub fn fixed(max_attempts: u32, delay: Duration) -> Self {
        Self::new(max_attempts, Backoff::Fixed(delay))
    }

    /// At most `max_attempts` attempts; the delay is `initial`, then grows by `step` each time.
    pub fn linear(max_attempts: u32, initial: Duration, step: Duration) -> Self {
        Self::new(max_attempts, Backoff::Linear { initial, step })
    }

    /// At most `max_attempts` attempts; the delay is `initial`, then doubles each time.
    pub fn exponential(max_attempts: u32, initial: Duration) -> Self {
        Self::new(
            max_attempts,
            Backoff::Exponential {
                initial,
                factor: 2.0,
            },
        )
    }

    /// Multiplies an exponential back-off's delay by `factor` (instead of 2) each time.
    /// Ignored by fixed and linear back-off; a factor below 1 is taken as 1.
    pub fn factor(mut self, factor: f64) -> Self {
        if let Backoff::Exponential { factor: f, .. } = &mut self.backoff {
            *f = if factor.is_finite() {
                factor.max(1.0)
            } else {
                1.0
            };
        }
        self
    }

    /// Never waits longer than `cap` between attempts.
    pub fn max_delay(mut self, cap: Duration) -> Self {
        self.max_delay = Some(cap);
        self
    }

    /// Spreads each delay at random over `delay × (1 ± fraction)` (`fraction` is clamped to
    /// `0..=1`), so that many instances failing together do not retry in lockstep.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// Retries only failures for which `filter` returns `true`; others fail the step at once.
    pub fn when(
        mut self,
        filter: impl Fn(&AttemptFailure<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.filter = Some(Arc::new(filter));
        self
    }

    /// The most attempts this policy allows.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The delay before attempt `attempt + 1`, before jitter and cap.
    fn base_delay(&self, attempt: u32) -> Duration {
        let n = attempt.saturating_sub(1);
        match self.backoff {
            Backoff::Fixed(delay) => delay,
            Backoff::Linear { initial, step } => initial.saturating_add(step.saturating_mul(n)),
            Backoff::Exponential { initial, factor } => {
                let scaled =
                    initial.as_secs_f64() * factor.powi(i32::try_from(n).unwrap_or(i32::MAX));
                Duration::try_from_secs_f64(scaled).unwrap_or(Duration::MAX)
            }
        }
    }
}

impl RetryPolicy for Retry {
    fn retry_after(&self, failure: &AttemptFailure<'_>, attempt: u32) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        if let Some(filter) = &self.filter {
            if !filter(failure) {
                return None;
            }
        }
        let mut delay = self.base_delay(attempt);
        if self.jitter > 0.0 {
            // A uniform draw in [-1, 1) from std's randomly keyed hasher: no dependency needed.
            let random = RandomState::new().hash_one(attempt) as f64 / u64::MAX as f64;
            let spread = 1.0 + self.jitter * (2.0 * random - 1.0);
            delay = Duration::try_from_secs_f64(delay.as_secs_f64() * spread).unwrap_or(delay);
        }
        if let Some(cap) = self.max_delay {
            delay = delay.min(cap);
        }
        Some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io() -> std::io::Error {
        std::io::Error::other("x")
    }

    #[test]
    fn fixed_allows_max_attempts() {
        let p = Retry::fixed(3, Duration::from_millis(5));
        let e = io();
        let f = AttemptFailure::Error(&e);
        assert_eq!(p.retry_after(&f, 1), Some(Duration::from_millis(5)));
        assert_eq!(p.retry_after(&f, 2), Some(Duration::from_millis(5)));
        assert_eq!(p.retry_after(&f, 3), None);
        assert_eq!(Retry::fixed(1, Duration::ZERO).retry_after(&f, 1), None);
    }

    #[test]
    fn linear_grows_by_step() {
        let p = Retry::linear(10, Duration::from_millis(10), Duration::from_millis(5));
        let f = AttemptFailure::Panic("p");
        let delays: Vec<_> = (1..=4).map(|a| p.retry_after(&f, a)).collect();
        let ms = |n| Some(Duration::from_millis(n));
        assert_eq!(delays, [ms(10), ms(15), ms(20), ms(25)]);
    }

    #[test]
    fn exponential_doubles_and_caps() {
        let p = Retry::exponential(100, Duration::from_millis(1)).max_delay(Duration::from_secs(1));
        let f = AttemptFailure::TimedOut(Duration::from_secs(1));
        assert_eq!(p.retry_after(&f, 1), Some(Duration::from_millis(1)));
        assert_eq!(p.retry_after(&f, 4), Some(Duration::from_millis(8)));
        assert_eq!(p.retry_after(&f, 60), Some(Duration::from_secs(1)));
        let p = Retry::exponential(100, Duration::from_millis(1)).factor(3.0);
        assert_eq!(p.retry_after(&f, 3), Some(Duration::from_millis(9)));
    }

    #[test]
    fn huge_delays_saturate_instead_of_panicking() {
        let p = Retry::exponential(u32::MAX, Duration::MAX);
        let f = AttemptFailure::Panic("p");
        assert_eq!(p.retry_after(&f, 1_000), Some(Duration::MAX));
        let p = Retry::linear(u32::MAX, Duration::MAX, Duration::MAX);
        assert_eq!(p.retry_after(&f, 1_000), Some(Duration::MAX));
    }

    #[test]
    fn jitter_stays_within_its_spread() {
        let p = Retry::fixed(100, Duration::from_millis(100)).jitter(0.5);
        let f = AttemptFailure::Panic("p");
        for attempt in 1..50 {
            let d = p.retry_after(&f, attempt).expect("retries");
            assert!(
                d >= Duration::from_millis(50) && d <= Duration::from_millis(150),
                "{d:?}"
            );
        }
    }

    #[test]
    fn filter_refuses_some_failures() {
        #[derive(Debug)]
        struct Fatal;
        impl fmt::Display for Fatal {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("fatal")
            }
        }
        impl StdError for Fatal {}
        let p = Retry::fixed(5, Duration::ZERO).when(|f| match f {
            AttemptFailure::Error(e) => !e.is::<Fatal>(),
            _ => true,
        });
        assert_eq!(p.retry_after(&AttemptFailure::Error(&Fatal), 1), None);
        assert_eq!(
            p.retry_after(&AttemptFailure::Error(&io()), 1),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn closures_are_policies() {
        let p = |_: &AttemptFailure<'_>, attempt: u32| (attempt < 2).then_some(Duration::ZERO);
        assert_eq!(
            p.retry_after(&AttemptFailure::Panic("p"), 1),
            Some(Duration::ZERO)
        );
        assert_eq!(p.retry_after(&AttemptFailure::Panic("p"), 2), None);
    }
}
