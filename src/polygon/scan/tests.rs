use super::*;
use crate::polygon::wire::AggsBody;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/polygon/v2/aggs");

fn serde(body: &[u8]) -> Option<AggsBody> {
    serde_json::from_slice(body).ok()
}

/// Whatever the reader returns, serde agrees: the same value, or the reader declined.
fn agrees(body: &[u8]) -> bool {
    match page(body) {
        Some(read) => serde(body).as_ref() == Some(&read),
        None => true,
    }
}

fn recorded() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(FIXTURES)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.push(std::fs::read(path).unwrap());
            }
        }
    }
    assert_eq!(out.len(), 3, "the recorded range, grouped and spec pages");
    out
}

#[test]
fn recorded_answers_and_the_simulators_pages_read_as_serde_reads_them() {
    let mut bodies = recorded();
    bodies.push(crate::sim::sample_range_body(3));
    for body in &bodies {
        let read = page(body).expect("the API's own shape is read directly");
        assert_eq!(Some(read), serde(body));
    }
    let grouped = bodies.iter().find_map(|b| page(b).filter(|p| p.ticker.is_none())).unwrap();
    assert!(!grouped.results.unwrap().tickers.is_empty());
}

#[test]
fn numbers_in_every_form_the_api_uses_give_serdes_bits() {
    let bar = |fields: &str| format!(r#"{{"status":"OK","results":[{{"o":1,"h":2,"l":0.5,"c":1.5,{fields}}}]}}"#);
    for fields in [
        r#""v":1.029145e+06,"t":1"#,
        r#""v":1.029145E6,"t":1,"n":12.0"#,
        r#""v":642646396.0,"t":1112331600000,"n":82132,"vw":1.469"#,
        r#""v":0.000001,"t":0,"vw":null,"n":null,"otc":true"#,
        r#""v":123456789012345,"t":9,"vw":0.1,"otc":false"#,
        r#""v":1e-22,"t":9,"vw":12345.678901e-3"#,
        r#""v" : 7 , "t" : 7 , "T" : "BRK.B""#,
    ] {
        let body = bar(fields);
        assert!(page(body.as_bytes()).is_some(), "{body}");
        assert!(agrees(body.as_bytes()), "{body}");
    }
}

#[test]
fn what_the_reader_does_not_take_is_left_to_serde() {
    let ok = |bars: &str| format!(r#"{{"status":"OK","results":[{bars}]}}"#);
    for body in [
        // serde reads these (an escape, a sign, a long or tiny number, a nested value)...
        ok(r#"{"T":"A\u0042","o":1,"h":2,"l":0.5,"c":1.5,"v":1,"t":1}"#),
        ok(r#"{"o":-1,"h":2,"l":0.5,"c":1.5,"v":1,"t":1}"#),
        ok(r#"{"o":1,"h":2,"l":0.5,"c":1.5,"v":12345678901234567,"t":1}"#),
        ok(r#"{"o":1,"h":2,"l":0.5,"c":1.5,"v":1e-23,"t":1}"#),
        ok(r#"{"o":1,"h":2,"l":0.5,"c":1.5,"v":1,"t":1,"extra":{"a":1}}"#),
        r#"{"status":"OK","note":[1,2]}"#.to_string(),
        // ...and refuses these: a repeated key, a missing one, bad numbers, trailing bytes.
        ok(r#"{"o":1,"o":1,"h":2,"l":0.5,"c":1.5,"v":1,"t":1}"#),
        ok(r#"{"h":2,"l":0.5,"c":1.5,"v":1,"t":1}"#),
        ok(r#"{"o":01,"h":2,"l":0.5,"c":1.5,"v":1,"t":1}"#),
        ok(r#"{"o":1.,"h":2,"l":0.5,"c":1.5,"v":1,"t":1}"#),
        ok(r#"{"o":1,"h":2,"l":0.5,"c":1.5,"v":1,"t":1.5}"#),
        ok(r#"{"o":1,"h":2,"l":0.5,"c":1.5,"v":1,"t":99999999999999999999}"#),
        r#"{"status":"OK","status":"OK"}"#.to_string(),
        r#"{"results":[]}"#.to_string(),
        r#"{"status":"OK"} x"#.to_string(),
    ] {
        assert!(page(body.as_bytes()).is_none(), "{body}");
    }
}

/// A tiny deterministic generator, so a failure names a case that can be run again.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

#[test]
fn damaged_bodies_read_the_same_or_go_to_serde() {
    let alphabet = b"0123456789.eE+-\"{}[],: \\nulltruefalseTovwx\x01\xff";
    let mut rng = Lcg(7);
    let mut read_directly = 0;
    for body in recorded() {
        for _ in 0..4_000 {
            let mut b = body.clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(b.len());
                let c = alphabet[rng.below(alphabet.len())];
                match rng.below(3) {
                    0 => b[at] = c,
                    1 => b.insert(at, c),
                    _ => drop(b.remove(at)),
                }
            }
            assert!(agrees(&b), "{}", String::from_utf8_lossy(&b));
            read_directly += page(&b).is_some() as usize;
        }
    }
    // Many damaged bodies are still valid pages: the reader's own answers were compared.
    assert!(read_directly > 1_000, "{read_directly}");
}

#[test]
fn an_index_bar_has_no_volume_both_ways() {
    // The spec's index bars: o h l c t, nothing else.
    let body = br#"{"ticker":"I:SPX","status":"OK","queryCount":1,"resultsCount":1,"results":[{"o":4000.5,"h":4010.25,"l":3990.0,"c":4005.0,"t":1678338000000}]}"#;
    let read = page(body).expect("read directly");
    assert_eq!(Some(&read), serde(body).as_ref());
    let bar = &read.results.unwrap().bars[0];
    assert_eq!((bar.volume, bar.vwap, bar.trades), (None, None, None));
}
