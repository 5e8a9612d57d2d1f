//! Every way a request can end other than with a page, and what each means for the run.

use std::time::{Duration, SystemTime};

use thiserror::Error;

use super::wire::ErrorBody;

#[derive(Clone, Debug, Error, PartialEq)]
pub enum FetchError {
    #[error("429 rate limited: {message}")]
    RateLimited { retry_after: Option<Duration>, message: String },
    /// 401, or a 403 that is not about history depth: no request can succeed.
    #[error("{status} not authorized: {message}")]
    Unauthorized { status: u16, message: String },
    /// 403 for history the plan does not cover: only the affected job fails.
    #[error("403 plan limit: {message}")]
    PlanLimit { message: String },
    /// 400, 404 and other 4xx: the request itself is wrong; retrying cannot help.
    #[error("{status} rejected: {message}")]
    Rejected { status: u16, message: String },
    #[error("{status} server error: {message}")]
    Server { status: u16, message: String },
    #[error("timed out after {0:.1}s")]
    Timeout(f64),
    #[error("connection failed: {0}")]
    Transport(String),
    #[error("malformed response: {0}")]
    Malformed(String),
    /// A well-formed answer whose bars cannot be right (checked before anything is stored).
    #[error("wrong data: {0}")]
    WrongData(String),
}

/// The kind of a failed request, for counters, the report and the dashboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    RateLimited,
    Auth,
    PlanLimit,
    Rejected,
    Server,
    Timeout,
    Connection,
    Malformed,
}

impl ErrorKind {
    /// The short label the report's `errors` keys and the dashboard use.
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::RateLimited => "429",
            ErrorKind::Auth => "auth",
            ErrorKind::PlanLimit => "plan",
            ErrorKind::Rejected => "4xx",
            ErrorKind::Server => "5xx",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connection => "conn",
            ErrorKind::Malformed => "malformed",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// What the engine does with an outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Wait and try again.
    Retry,
    /// This job cannot succeed; others may.
    FailJob,
    /// No job can succeed: stop the run.
    StopRun,
}

impl FetchError {
    pub fn disposition(&self) -> Disposition {
        match self {
            FetchError::RateLimited { .. }
            | FetchError::Server { .. }
            | FetchError::Timeout(_)
            | FetchError::Transport(_)
            | FetchError::Malformed(_)
            | FetchError::WrongData(_) => Disposition::Retry,
            FetchError::PlanLimit { .. } | FetchError::Rejected { .. } => Disposition::FailJob,
            FetchError::Unauthorized { .. } => Disposition::StopRun,
        }
    }

    pub fn is_rate_limit(&self) -> bool {
        matches!(self, FetchError::RateLimited { .. })
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            FetchError::RateLimited { .. } => ErrorKind::RateLimited,
            FetchError::Unauthorized { .. } => ErrorKind::Auth,
            FetchError::PlanLimit { .. } => ErrorKind::PlanLimit,
            FetchError::Rejected { .. } => ErrorKind::Rejected,
            FetchError::Server { .. } => ErrorKind::Server,
            FetchError::Timeout(_) => ErrorKind::Timeout,
            FetchError::Transport(_) => ErrorKind::Connection,
            FetchError::Malformed(_) | FetchError::WrongData(_) => ErrorKind::Malformed,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::RateLimited { .. } => Some(429),
            FetchError::Unauthorized { status, .. }
            | FetchError::Rejected { status, .. }
            | FetchError::Server { status, .. } => Some(*status),
            FetchError::PlanLimit { .. } => Some(403),
            _ => None,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Classifies a non-2xx answer from its status, body and `Retry-After`.
pub fn classify_status(status: u16, body: &[u8], retry_after: Option<&str>) -> FetchError {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let message = parsed.text().map(str::to_string).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() { "(no body)".to_string() } else { text.chars().take(200).collect() }
    });
    match status {
        429 => FetchError::RateLimited { retry_after: retry_after.and_then(parse_retry_after), message },
        401 => FetchError::Unauthorized { status, message },
        403 if is_plan_limit(&message) => FetchError::PlanLimit { message },
        403 => FetchError::Unauthorized { status, message },
        499..=599 => FetchError::Server { status, message },
        408 => FetchError::Timeout(0.0),
        _ => FetchError::Rejected { status, message },
    }
}

/// Free and Basic plans get 403 for history older than they cover; the message names the
/// "timeframe" (see the recorded 403 fixture). Any other 403 is about the key itself.
fn is_plan_limit(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("timeframe") || m.contains("history")
}

/// `Retry-After` is either delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses() {
        let body = br#"{"status":"ERROR","error":"You've exceeded the maximum requests per minute"}"#;
        let e = classify_status(429, body, Some("7"));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(e.disposition(), Disposition::Retry);
        assert!(e.to_string().contains("exceeded the maximum"));

        let e = classify_status(401, br#"{"status":"ERROR","error":"Unknown API Key"}"#, None);
        assert_eq!(e.disposition(), Disposition::StopRun);
        assert_eq!(e.to_string(), "401 not authorized: Unknown API Key");

        let plan = br#"{"status":"NOT_AUTHORIZED","message":"Your plan doesn't include this data timeframe. Please upgrade your plan at https://polygon.io/pricing"}"#;
        assert_eq!(classify_status(403, plan, None).disposition(), Disposition::FailJob);
        let entitled = br#"{"status":"NOT_AUTHORIZED","message":"You are not entitled to this data."}"#;
        assert_eq!(classify_status(403, entitled, None).disposition(), Disposition::StopRun);

        assert_eq!(classify_status(404, b"", None).disposition(), Disposition::FailJob);
        assert_eq!(classify_status(400, b"", None).disposition(), Disposition::FailJob);
        assert_eq!(classify_status(503, b"<html>busy</html>", None).disposition(), Disposition::Retry);
        assert_eq!(classify_status(499, b"", None).disposition(), Disposition::Retry);
        assert!(classify_status(502, b"", None).to_string().contains("(no body)"));
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after(" 12 "), Some(Duration::from_secs(12)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("1.5"), None);
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let d = parse_retry_after(&future).unwrap();
        assert!(d <= Duration::from_secs(30) && d >= Duration::from_secs(28), "{d:?}");
    }
}
