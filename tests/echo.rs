//! A server that echoes the key back in a 200 body: the key must still reach no error,
//! event or message (the client scrubs every failure, not only non-200 answers).

use std::time::Duration;

use crate::common::*;
use barfill::engine::Event;
use barfill::engine::Source;
use barfill::engine::events::RowState;
use barfill::polygon::Client;
use barfill::secret::ApiKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const KEY: &str = "sekrit-KEY-1234567890";

/// A server answering every request with `200 OK` and `body`.
async fn canned_200(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = s.read(&mut buf).await;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                    body.len(),
                    body
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

fn echoing_bodies() -> [String; 2] {
    [
        format!(r#"{{"status":"{KEY}"}}"#),
        format!(r#"{{"status":"OK","results":[{{"o":"{KEY}","h":1,"l":1,"c":1,"v":1,"t":1}}]}}"#),
    ]
}

#[tokio::test]
async fn a_key_echoed_in_a_200_body_is_scrubbed_from_the_error() {
    for body in echoing_bodies() {
        let base = canned_200(body).await;
        let client = Client::new(&base, Some(ApiKey::new(KEY)), Duration::from_secs(5)).unwrap();
        let url =
            reqwest::Url::parse(&format!("{base}/v2/aggs/ticker/AAPL/range/1/day/2024-01-02/2024-01-05")).unwrap();
        let err = client.get(&url).await.unwrap_err().to_string();
        assert!(err.starts_with("malformed response"), "{err}");
        assert!(!err.contains(KEY), "the key leaked into: {err}");
    }
}

#[tokio::test]
async fn a_key_echoed_in_a_200_body_reaches_no_event() {
    for body in echoing_bodies() {
        let base = canned_200(body).await;
        let (_t, dir) = tmp();
        let mut c = config(&dir, &["AAPL"], &["1/day"], "2024-01-02", "2024-01-05");
        c.retry.max_attempts = 1;
        let src = Source { label: "live API".into(), base_url: base, key: Some(ApiKey::new(KEY)) };
        let (report, events) = run(&c, src).await;
        assert_eq!(report.failed_jobs, 1);
        let texts: Vec<String> = events
            .iter()
            .filter_map(|e| match e {
                Event::Request(r) => r.message.clone(),
                Event::WindowFailed { reason, .. } => Some(reason.clone()),
                Event::RowState { state: RowState::Failed(f), .. } => Some(f.clone()),
                Event::Notice { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect();
        assert!(!texts.is_empty());
        assert!(texts.iter().all(|t| !t.contains(KEY)), "key in events: {texts:?}");
    }
}
