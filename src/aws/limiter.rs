//! A client-side token bucket: requests wait for a token instead of running into the service's
//! throttling. Security Hub documents 10 requests a second with bursts of 30 for its member
//! operations; its throttling error, LimitExceededException, also means real limits, so not
//! being throttled in the first place keeps the two apart.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Security Hub's documented rate for the operations muster calls.
pub const SECURITYHUB_PER_SECOND: f64 = 10.0;
pub const SECURITYHUB_BURST: f64 = 30.0;

#[derive(Debug)]
pub struct TokenBucket {
    per_second: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// A full bucket: `burst` requests at once, then `per_second`.
    pub fn new(per_second: f64, burst: f64) -> Self {
        TokenBucket {
            per_second,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Waits until a request may go. Waiters are served in the order they asked (the lock is
    /// fair), each taking one token.
    pub async fn acquire(&self) {
        let mut state = self.state.lock().await;
        let (tokens, at) = &mut *state;
        let now = Instant::now();
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - *tokens) / self.per_second);
            tokio::time::sleep(wait).await;
            *tokens = 1.0;
            *at = Instant::now();
        }
        *tokens -= 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_goes_at_once_and_the_rest_at_the_rate() {
        let bucket = TokenBucket::new(SECURITYHUB_PER_SECOND, SECURITYHUB_BURST);
        let start = Instant::now();
        for _ in 0..30 {
            bucket.acquire().await;
        }
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "the burst waits for nothing"
        );
        for _ in 0..30 {
            bucket.acquire().await;
        }
        // 30 more at 10 a second.
        let took = start.elapsed();
        assert!(
            (Duration::from_millis(2990)..=Duration::from_millis(3010)).contains(&took),
            "{took:?}"
        );
        // Idle time refills it, up to the burst.
        tokio::time::advance(Duration::from_secs(60)).await;
        let again = Instant::now();
        for _ in 0..30 {
            bucket.acquire().await;
        }
        assert_eq!(again.elapsed(), Duration::ZERO);
        bucket.acquire().await;
        assert_eq!(again.elapsed(), Duration::from_millis(100));
    }
}
