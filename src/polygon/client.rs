//! The HTTP client. The key travels only in the `Authorization` header; URLs never carry
//! it, and what is shown of a URL (`Client::show`) is its path without the query.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use super::outcome::{FetchError, classify_status};
use super::wire::AggsBody;
use crate::bar::Bar;
use crate::calendar::{self, Day};
use crate::clock;
use crate::markets::{Class, DayZone, Grouped};
use crate::secret::ApiKey;
use crate::timeframe::Timeframe;

/// The API's page size when `limit` is not sent; what the original pipeline used.
pub const DEFAULT_LIMIT: u32 = 5_000;
pub const MAX_LIMIT: u32 = 50_000;

#[derive(Clone)]
pub struct Client {
    transport: Transport,
    base: Url,
    key: Option<ApiKey>,
    /// `Bearer <key>`, built once and marked sensitive so no debug output shows it.
    auth: Option<HeaderValue>,
    timeout: Duration,
    /// Room for pages in memory: a body is read and decoded only with a permit, held
    /// until the page is handed on, so memory stays bounded at any worker count while
    /// requests waiting on the server's latency need none.
    room: Option<Arc<Semaphore>>,
}

/// Where requests go: the network, or in unit tests a scripted server that answers by URL
/// (`super::fake`), so the engine's tests run without sockets and on paused time.
#[derive(Clone)]
enum Transport {
    Http(reqwest::Client),
    #[cfg(test)]
    Fake(Arc<super::fake::FakeServer>),
}

/// A decoded answer, its body's size, and the room it holds until it is handed on.
pub struct Answered<T> {
    pub value: T,
    pub bytes: usize,
    pub room: Option<OwnedSemaphorePermit>,
}

/// One answered request.
#[derive(Debug)]
pub struct Page {
    pub bars: Vec<Bar>,
    /// Base bars the server counted against `limit` (`queryCount`): minute bars for
    /// minute and hour bars, day bars otherwise.
    pub base: u64,
    /// For grouped-daily pages, the ticker of each bar in `bars`.
    pub tickers: Vec<String>,
    pub next_url: Option<String>,
    pub status: String,
    pub request_id: Option<String>,
    pub bytes: usize,
    pub elapsed: Duration,
}

#[derive(Clone, Debug)]
pub struct RangeRequest<'a> {
    pub ticker: &'a str,
    /// The ticker's class: how its days are bounded and whether it takes `adjusted`.
    pub class: Class,
    pub timeframe: Timeframe,
    pub from: Day,
    /// Starts the range at this instant instead of `from`'s midnight: just after a bar
    /// already stored.
    pub from_ms: Option<i64>,
    pub to: Day,
    pub adjusted: bool,
    /// `None` leaves the server's default (5000), as the original pipeline did.
    pub limit: Option<u32>,
}

impl Client {
    pub fn new(base_url: &str, key: Option<ApiKey>, timeout: Duration) -> anyhow::Result<Client> {
        let base = Url::parse(base_url)?;
        let auth = match &key {
            Some(k) => {
                crate::secret::check_key_text(k.expose()).map_err(anyhow::Error::msg)?;
                let mut value = HeaderValue::from_str(&format!("Bearer {}", k.expose()))
                    .map_err(|_| anyhow::anyhow!("the API key has characters an HTTP header cannot carry"))?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let http = reqwest::Client::builder()
            .user_agent(concat!("barfill/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .build()?;
        Ok(Client { transport: Transport::Http(http), base, key, auth, timeout, room: None })
    }

    /// A client whose requests `server` answers, with a run's default timeout (30 s); the
    /// key, when given, is handled as for the network (checked, and scrubbed from what
    /// comes back).
    #[cfg(test)]
    pub fn fake(base_url: &str, key: Option<ApiKey>, server: Arc<super::fake::FakeServer>) -> Client {
        let mut client = Client::new(base_url, key, Duration::from_secs(30)).expect("a valid base URL");
        client.transport = Transport::Fake(server);
        client
    }

    /// At most `pages` answers read, decoded or waiting to be handed on at once.
    pub fn with_page_room(mut self, pages: usize) -> Client {
        self.room = Some(Arc::new(Semaphore::new(pages.max(1))));
        self
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// A range request. Dates in the path are days as the API bounds them for the class
    /// (New York midnights for stocks); the minute and hour bars of a class whose days are
    /// UTC days are asked for between epoch-ms bounds instead, so a window holds the days
    /// barfill counts and no more. Indices take no `adjusted`.
    pub fn range_url(&self, r: &RangeRequest<'_>) -> Url {
        let utc_days = r.class.zone() == DayZone::Utc && r.timeframe.minutes().is_some();
        let from = match r.from_ms {
            Some(ms) => ms.to_string(),
            None if utc_days => r.class.zone().start_ms(r.from).to_string(),
            None => calendar::format_day(r.from),
        };
        let to =
            if utc_days { (r.class.zone().start_ms(r.to + 1) - 1).to_string() } else { calendar::format_day(r.to) };
        let mut url = self.base.clone();
        url.path_segments_mut().expect("http base URL").pop_if_empty().extend([
            "v2",
            "aggs",
            "ticker",
            r.ticker,
            "range",
            &r.timeframe.multiplier.to_string(),
            r.timeframe.timespan.as_str(),
            &from,
            &to,
        ]);
        {
            let mut q = url.query_pairs_mut();
            if r.class.takes_adjusted() {
                q.append_pair("adjusted", if r.adjusted { "true" } else { "false" });
            }
            q.append_pair("sort", "asc");
            if let Some(limit) = r.limit {
                q.append_pair("limit", &limit.to_string());
            }
        }
        url
    }

    /// One day of a class's grouped-daily endpoint (`market`).
    pub fn grouped_url(&self, market: Grouped, day: Day, adjusted: bool) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut().expect("http base URL").pop_if_empty().extend([
            "v2",
            "aggs",
            "grouped",
            "locale",
            market.locale,
            "market",
            market.market,
            &calendar::format_day(day),
        ]);
        url.query_pairs_mut().append_pair("adjusted", if adjusted { "true" } else { "false" });
        // OTC tickers are left out of grouped stock answers unless asked for, while the
        // per-ticker endpoint serves them: ask, so both paths see the same tickers.
        if market.market == "stocks" {
            url.query_pairs_mut().append_pair("include_otc", "true");
        }
        url
    }

    /// Follows a `next_url` on the configured host, as the official Python client does:
    /// the key is never sent to a host the user did not configure. A base URL with a path
    /// (a proxy at `https://host/polygon`) keeps its prefix.
    pub fn resolve_next(&self, next_url: &str) -> Result<Url, FetchError> {
        let parsed = Url::parse(next_url)
            .or_else(|_| self.base.join(next_url))
            .map_err(|e| FetchError::Malformed(format!("next_url is not a URL: {e}")))?;
        let prefix = self.base.path().trim_end_matches('/');
        let path = if prefix.is_empty() || parsed.path().starts_with(&format!("{prefix}/")) {
            parsed.path().to_string()
        } else {
            format!("{prefix}{}", parsed.path())
        };
        let mut url = self.base.clone();
        url.set_path(&path);
        url.set_query(parsed.query());
        Ok(url)
    }

    /// What may be shown of a URL: its path, never its query (a cursor could carry a key).
    pub fn show(url: &Url) -> String {
        url.path().to_string()
    }

    /// An aggregates answer (range or grouped daily).
    pub async fn get(&self, url: &Url) -> Result<Page, FetchError> {
        let started = clock::now();
        let mut page = self.get_as(url, parse_page).await?.value;
        page.elapsed = clock::since(started);
        Ok(page)
    }

    /// Any answer, decoded by `parse`.
    pub async fn get_as<T>(
        &self,
        url: &Url,
        parse: fn(&[u8]) -> Result<T, FetchError>,
    ) -> Result<Answered<T>, FetchError> {
        let started = clock::now();
        // A server could echo the key back in any message, a 200 body included.
        self.fetch(url, started, parse).await.map_err(|e| self.scrub(e))
    }

    async fn fetch<T>(
        &self,
        url: &Url,
        started: Instant,
        parse: fn(&[u8]) -> Result<T, FetchError>,
    ) -> Result<Answered<T>, FetchError> {
        match &self.transport {
            Transport::Http(http) => self.fetch_http(http, url, started, parse).await,
            #[cfg(test)]
            Transport::Fake(server) => {
                let timed_out = |_| FetchError::Timeout(clock::since(started).as_secs_f64());
                let reply = tokio::time::timeout(self.timeout, server.answer(url, self.auth.is_some()))
                    .await
                    .map_err(timed_out)?;
                let room = self.room().await;
                decode(reply.status, reply.retry_after.as_deref(), &reply.body, room, parse)
            }
        }
    }

    async fn fetch_http<T>(
        &self,
        http: &reqwest::Client,
        url: &Url,
        started: Instant,
        parse: fn(&[u8]) -> Result<T, FetchError>,
    ) -> Result<Answered<T>, FetchError> {
        let mut req = http.get(url.clone());
        if let Some(auth) = &self.auth {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        // The timeout covers the server, headers and body each, never the wait for room:
        // a page waiting its turn in memory is not a slow server.
        let timed_out = |_| FetchError::Timeout(clock::since(started).as_secs_f64());
        let resp = tokio::time::timeout(self.timeout, req.send())
            .await
            .map_err(timed_out)?
            .map_err(|e| self.transport_error(e, started))?;
        let status = resp.status();
        let retry_after = resp.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_string);
        let room = self.room().await;
        let read_from = clock::now();
        let body = tokio::time::timeout(self.timeout, resp.bytes())
            .await
            .map_err(|_| FetchError::Timeout(clock::since(read_from).as_secs_f64()))?
            .map_err(|e| self.transport_error(e, started))?;
        decode(status.as_u16(), retry_after.as_deref(), &body, room, parse)
    }

    async fn room(&self) -> Option<OwnedSemaphorePermit> {
        match &self.room {
            Some(room) => Some(room.clone().acquire_owned().await.expect("the room is never closed")),
            None => None,
        }
    }

    fn transport_error(&self, e: reqwest::Error, started: Instant) -> FetchError {
        if e.is_timeout() {
            return FetchError::Timeout(clock::since(started).as_secs_f64().min(self.timeout.as_secs_f64()));
        }
        // The URL has no key in it, but drop it anyway: messages stay short and safe.
        let e = e.without_url();
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        if e.is_decode() { FetchError::Malformed(text) } else { FetchError::Transport(text) }
    }

    /// A server could echo the key back in a message; never pass it on.
    fn scrub(&self, err: FetchError) -> FetchError {
        let Some(key) = &self.key else { return err };
        match err {
            FetchError::RateLimited { retry_after, message } => {
                FetchError::RateLimited { retry_after, message: key.redact(&message) }
            }
            FetchError::Unauthorized { status, message } => {
                FetchError::Unauthorized { status, message: key.redact(&message) }
            }
            FetchError::PlanLimit { message } => FetchError::PlanLimit { message: key.redact(&message) },
            FetchError::Rejected { status, message } => FetchError::Rejected { status, message: key.redact(&message) },
            FetchError::Server { status, message } => FetchError::Server { status, message: key.redact(&message) },
            FetchError::Transport(m) => FetchError::Transport(key.redact(&m)),
            FetchError::Malformed(m) => FetchError::Malformed(key.redact(&m)),
            FetchError::WrongData(m) => FetchError::WrongData(key.redact(&m)),
            e @ FetchError::Timeout(_) => e,
        }
    }
}

/// An answer's status and body as the engine takes it: anything but a 200 classified,
/// a 200 decoded by `parse`.
fn decode<T>(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    room: Option<OwnedSemaphorePermit>,
    parse: fn(&[u8]) -> Result<T, FetchError>,
) -> Result<Answered<T>, FetchError> {
    if status != StatusCode::OK.as_u16() {
        return Err(classify_status(status, body, retry_after));
    }
    Ok(Answered { value: parse(body)?, bytes: body.len(), room })
}

/// Decodes a 200 body: range or grouped bars, `next_url`, status.
pub fn parse_page(body: &[u8]) -> Result<Page, FetchError> {
    let parsed: AggsBody = match super::scan::page(body) {
        Some(read) => read,
        None => {
            // Logged so that a change in the API's shape, which would send every page the
            // slower way, shows in the log rather than only in the CPU figures.
            tracing::debug!(bytes = body.len(), "page not in the shape the direct reader takes; decoded by serde");
            serde_json::from_slice(body).map_err(|e| FetchError::Malformed(format!("{e} ({} bytes)", body.len())))?
        }
    };
    if !matches!(parsed.status.as_str(), "OK" | "DELAYED") {
        return Err(FetchError::Malformed(format!("status '{}' in a 200 answer", parsed.status)));
    }
    let results = parsed.results.unwrap_or_default();
    let tickers = if parsed.ticker.is_none() { results.tickers } else { Vec::new() };
    Ok(Page {
        base: parsed.query_count.unwrap_or(results.bars.len() as u64),
        bars: results.bars,
        tickers,
        next_url: parsed.next_url,
        status: parsed.status,
        request_id: parsed.request_id,
        bytes: body.len(),
        elapsed: Duration::ZERO,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client::new("https://api.massive.com", Some(ApiKey::new("k")), Duration::from_secs(5)).unwrap()
    }

    #[test]
    fn range_url_has_no_key_and_encodes_the_path() {
        let c = client();
        let url = c.range_url(&RangeRequest {
            ticker: "BRK.B",
            class: Class::Stocks,
            timeframe: "5/minute".parse().unwrap(),
            from: calendar::parse_date("2024-01-02").unwrap(),
            from_ms: None,
            to: calendar::parse_date("2024-02-29").unwrap(),
            adjusted: true,
            limit: Some(MAX_LIMIT),
        });
        assert_eq!(
            url.as_str(),
            "https://api.massive.com/v2/aggs/ticker/BRK.B/range/5/minute/2024-01-02/2024-02-29?adjusted=true&sort=asc&limit=50000"
        );
        let g = c.grouped_url(Class::Stocks.grouped().unwrap(), calendar::parse_date("2023-01-09").unwrap(), false);
        assert_eq!(
            g.as_str(),
            "https://api.massive.com/v2/aggs/grouped/locale/us/market/stocks/2023-01-09?adjusted=false&include_otc=true"
        );
    }

    #[test]
    fn each_class_asks_for_its_own_days() {
        let c = client();
        let day = |s: &str| calendar::parse_date(s).unwrap();
        let ask = |ticker: &'static str, tf: &str| {
            c.range_url(&RangeRequest {
                ticker,
                class: Class::of(ticker).unwrap(),
                timeframe: tf.parse().unwrap(),
                from: day("2025-01-04"),
                from_ms: None,
                to: day("2025-01-05"),
                adjusted: false,
                limit: None,
            })
        };
        // Crypto minutes: from 2025-01-04 00:00Z to the last millisecond of 2025-01-05, UTC.
        assert_eq!(
            ask("X:BTCUSD", "1/minute").path(),
            "/v2/aggs/ticker/X:BTCUSD/range/1/minute/1735948800000/1736121599999"
        );
        // Day bars keep dates: the API bounds them by the class's own days.
        assert_eq!(ask("X:BTCUSD", "1/day").path(), "/v2/aggs/ticker/X:BTCUSD/range/1/day/2025-01-04/2025-01-05");
        assert_eq!(ask("I:SPX", "1/minute").query(), Some("sort=asc"), "indices take no adjusted");
        assert_eq!(ask("C:EURUSD", "1/day").query(), Some("adjusted=false&sort=asc"));
        let fx = c.grouped_url(Class::Forex.grouped().unwrap(), day("2025-01-06"), true);
        assert_eq!(fx.path(), "/v2/aggs/grouped/locale/global/market/fx/2025-01-06");
        assert_eq!(fx.query(), Some("adjusted=true"));
    }

    #[test]
    fn next_url_stays_on_the_configured_host() {
        let c = Client::new("http://127.0.0.1:9999", None, Duration::from_secs(5)).unwrap();
        let next = c
            .resolve_next("https://evil.example/v2/aggs/ticker/AAPL/range/1/day/1578114000000/2020-01-10?cursor=bGltaXQ9MiZzb3J0PWFzYw")
            .unwrap();
        assert_eq!(
            next.as_str(),
            "http://127.0.0.1:9999/v2/aggs/ticker/AAPL/range/1/day/1578114000000/2020-01-10?cursor=bGltaXQ9MiZzb3J0PWFzYw"
        );
        assert_eq!(Client::show(&next), "/v2/aggs/ticker/AAPL/range/1/day/1578114000000/2020-01-10");
    }

    #[test]
    fn next_url_keeps_the_base_path_of_a_proxy() {
        let c = Client::new("http://127.0.0.1:9999/polygon", None, Duration::from_secs(5)).unwrap();
        let next = c.resolve_next("https://api.massive.com/v2/aggs/ticker/AAPL/range/1/day/1/2?cursor=abc").unwrap();
        assert_eq!(next.as_str(), "http://127.0.0.1:9999/polygon/v2/aggs/ticker/AAPL/range/1/day/1/2?cursor=abc");
        // A server that already put the prefix in keeps one copy of it.
        let next = c.resolve_next("http://127.0.0.1:9999/polygon/v2/aggs/ticker/AAPL/range/1/day/1/2").unwrap();
        assert_eq!(next.path(), "/polygon/v2/aggs/ticker/AAPL/range/1/day/1/2");
    }

    #[test]
    fn a_key_no_header_can_carry_is_refused_up_front() {
        let e = Client::new("https://api.massive.com", Some(ApiKey::new("abc\u{e9}def")), Duration::from_secs(5));
        assert!(e.err().unwrap().to_string().contains("cannot carry"));
    }
}
