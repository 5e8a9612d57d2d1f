//! `/v3/reference/options/contracts`: the chains of `options`, filtered as the real
//! endpoint filters (underlying, type, expiration and strike with their ranges), as of a
//! day (`as_of`, today by default: contracts listed by then), expired or not as of that
//! day (`expired`, false by default: a past expiration answers nothing without it),
//! sorted, and paged by `limit` (10 by default, 1000 at most) through `next_url`.

use std::cmp::Ordering;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;

use super::options::{self, Listed};
use super::reference::{cursor_token, date_param, open, page};
use super::state::{Params, SimState, flag, origin};
use super::{Endpoint, wire};
use crate::calendar::{self, Day};
use crate::markets::ContractType;

const SORTS: [&str; 4] = ["ticker", "underlying_ticker", "expiration_date", "strike_price"];

/// `key` and its `.gt`, `.gte`, `.lt` and `.lte` forms, as bounds on a value.
struct Bounds<T> {
    lo: Option<(T, bool)>,
    hi: Option<(T, bool)>,
}

impl<T: PartialOrd + Clone> Bounds<T> {
    fn read(p: &Params, key: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Bounds<T>, String> {
        let get = |suffix: &str| -> Result<Option<T>, String> {
            let name = format!("{key}{suffix}");
            match p.get(&name) {
                None => Ok(None),
                Some(v) => parse(v).map(Some).ok_or_else(|| format!("Invalid value for '{name}'")),
            }
        };
        let exact = get("")?;
        let lo =
            exact.clone().map(|v| (v, true)).or(get(".gte")?.map(|v| (v, true))).or(get(".gt")?.map(|v| (v, false)));
        let hi = exact.map(|v| (v, true)).or(get(".lte")?.map(|v| (v, true))).or(get(".lt")?.map(|v| (v, false)));
        Ok(Bounds { lo, hi })
    }

    fn holds(&self, x: &T) -> bool {
        self.lo.as_ref().is_none_or(|(v, eq)| x > v || (*eq && x == v))
            && self.hi.as_ref().is_none_or(|(v, eq)| x < v || (*eq && x == v))
    }
}

/// The contracts a request selects, sorted, before paging.
fn select(p: &Params, today: Day) -> Result<Vec<Listed>, String> {
    let day = |s: &str| calendar::parse_date(s).ok();
    let underlying = Bounds::read(p, "underlying_ticker", |s| Some(s.to_string()))?;
    let expiration = Bounds::read(p, "expiration_date", day)?;
    let strike = Bounds::read(p, "strike_price", |s| s.parse::<f64>().ok().filter(|x| x.is_finite()))?;
    let kind = p.get("contract_type").map(|s| ContractType::parse(s)).transpose()?;
    let as_of = date_param(p, "as_of")?.unwrap_or(today);
    let expired = flag(p, "expired", false)?;
    let sort = p.get("sort").map_or("ticker", String::as_str);
    if !SORTS.contains(&sort) {
        return Err(format!("Invalid sort field '{sort}'"));
    }
    let desc = match p.get("order").map(String::as_str) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(o) => return Err(format!("Invalid order '{o}'; use asc or desc")),
    };
    // Expired or not is as of `as_of`: it bounds the expirations worth making.
    let (mut from, mut to) = if expired { (Day::MIN, as_of - 1) } else { (as_of, Day::MAX) };
    if let Some((d, eq)) = expiration.lo {
        from = from.max(if eq { d } else { d + 1 });
    }
    if let Some((d, eq)) = expiration.hi {
        to = to.min(if eq { d } else { d - 1 });
    }
    if from > to {
        return Ok(Vec::new());
    }
    let (lo, hi) = (strike.lo.map_or(0.0, |(v, _)| v), strike.hi.map_or(f64::MAX, |(v, _)| v));
    let mut out: Vec<Listed> = options::underlyings()
        .filter(|u| underlying.holds(&u.to_string()))
        .flat_map(|u| options::chain(u, from, to, lo, hi, kind))
        .filter(|c| strike.holds(&c.contract.strike()) && c.list_date <= as_of)
        .collect();
    let key = |c: &Listed| -> (String, Day, u64, String) {
        let (e, k, t) = (c.contract.expiration, c.contract.strike_milli, c.ticker());
        match sort {
            "underlying_ticker" => (c.underlying.to_string(), 0, 0, t),
            "expiration_date" => (String::new(), e, 0, t),
            "strike_price" => (String::new(), 0, k, t),
            _ => (t, 0, 0, String::new()),
        }
    };
    out.sort_by(|a, b| key(a).partial_cmp(&key(b)).unwrap_or(Ordering::Equal));
    if desc {
        out.reverse();
    }
    Ok(out)
}

fn contract_out(c: &Listed) -> wire::ContractOut {
    let call = c.contract.kind == ContractType::Call;
    wire::ContractOut {
        cfi: if call { "OCASPS" } else { "OPASPS" },
        contract_type: c.contract.kind.name(),
        exercise_style: "american",
        expiration_date: calendar::format_day(c.contract.expiration),
        primary_exchange: "BATO",
        shares_per_contract: 100,
        strike_price: c.contract.strike(),
        ticker: c.ticker(),
        underlying_ticker: c.underlying,
    }
}

pub async fn contracts(
    State(state): State<Arc<SimState>>,
    query: Result<Query<Params>, QueryRejection>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let (gate, p, offset) = match open(&state, Endpoint::Contracts, query, &headers, &uri).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let today = state.opts.today.unwrap_or_else(calendar::today_ny);
    let (selected, limit) = match (select(&p, today), super::state::limit(&p, 10, 1000)) {
        (Ok(s), Ok(l)) => (s, l),
        (Err(e), _) | (_, Err(e)) => return state.bad_request(&gate, &e),
    };
    let base = format!("{}{}", origin(&headers), uri.path());
    let (range, next_url) =
        page(selected.len(), offset, limit, |end| format!("{base}?cursor={}", cursor_token(&p, end)));
    let items: Vec<wire::ContractOut> = selected[range].iter().map(contract_out).collect();
    state.latency(items.len()).await;
    state.deliver(wire::contracts_body(&items, &gate.rid, next_url.as_deref()), &gate, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn day(s: &str) -> Day {
        calendar::parse_date(s).unwrap()
    }

    #[test]
    fn expired_and_as_of_decide_what_a_past_expiration_answers() {
        let today = day("2025-06-02");
        let jan = [("underlying_ticker", "SPY"), ("expiration_date", "2025-01-17"), ("strike_price.gte", "480")];
        let with = |extra: &[(&str, &str)]| {
            let mut p = params(&jan);
            p.extend(params(extra));
            select(&p, today).unwrap()
        };
        // Neither: a past expiration answers nothing.
        assert!(with(&[]).is_empty());
        let expired = with(&[("expired", "true"), ("strike_price.lte", "520")]);
        assert_eq!(expired.len(), 9 * 2);
        // As of a day before it expired, only the strikes listed by then: the round tens.
        let early = with(&[("as_of", "2024-10-01"), ("strike_price.lte", "520")]);
        assert_eq!(early.len(), 5 * 2);
        assert!(early.iter().all(|c| c.contract.strike_milli.is_multiple_of(10_000)));
    }

    #[test]
    fn filters_and_sorts_as_asked() {
        let today = day("2025-01-02");
        let p = params(&[
            ("underlying_ticker", "QQQ"),
            ("contract_type", "put"),
            ("expiration_date.gt", "2025-01-03"),
            ("expiration_date.lte", "2025-01-17"),
            ("strike_price.gt", "500"),
            ("strike_price.lt", "520"),
            ("sort", "strike_price"),
            ("order", "desc"),
        ]);
        let got: Vec<String> = select(&p, today).unwrap().iter().map(Listed::ticker).collect();
        // Two expirations (10th, 17th), strikes 505, 510, 515; puts only; highest strike first.
        assert_eq!(got.len(), 6);
        assert!(got[0].ends_with("P00515000") && got[5].ends_with("P00505000"), "{got:?}");
        assert!(select(&params(&[("contract_type", "straddle")]), today).is_err());
        assert!(select(&params(&[("sort", "volume")]), today).is_err());
    }
}
