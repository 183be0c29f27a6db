//! Each consumer's lag and load during a phase, from the services' `/metrics`: the
//! `chain_consumer_lag_seconds` histogram (bus → applied, one observation per transaction), and
//! `chain_consumer_transaction_seconds` and `chain_consumer_transaction_messages` (how long each
//! transaction took and how many messages it applied), read before and after the measured
//! window, so the report says which stage of the pipeline was behind, and how each one cut its
//! work (events a transaction, time a transaction, share of the window), without a special
//! build.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::requests::traced::metrics_text;

/// The histograms' names on `/metrics`.
const LAG: &str = "chain_consumer_lag_seconds";
const TRANSACTION_SECONDS: &str = "chain_consumer_transaction_seconds";
const TRANSACTION_MESSAGES: &str = "chain_consumer_transaction_messages";

/// One histogram as served: observations, their sum and the cumulative count at each bucket's
/// upper bound.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    count: f64,
    sum: f64,
    buckets: Vec<(f64, f64)>,
}

/// One consumer's three histograms.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConsumerHistograms {
    lag: Histogram,
    seconds: Histogram,
    messages: Histogram,
}

/// Every consumer's histograms, by consumer name.
pub type Lags = BTreeMap<String, ConsumerHistograms>;

/// A consumer's lag and load over a window.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsumerLag {
    /// The consumer's durable name.
    pub consumer: String,
    /// Transactions that applied events in the window.
    pub transactions: u64,
    /// Their mean lag, ms.
    pub mean_ms: f64,
    /// The bucket bound under which 99 % of them fell, ms (`None` past the last bound).
    pub p99_at_most_ms: Option<f64>,
    /// Messages a transaction applied, on average.
    pub messages_per_transaction: f64,
    /// How long a transaction took, on average, ms.
    pub transaction_ms: f64,
    /// The share of the window its transactions took. A consumer takes whatever has arrived,
    /// so it is seldom idle at any load: its limit shows as transactions that grow with the
    /// load while the lag grows with them, not as this share alone.
    pub busy: f64,
}

/// The histograms the service at `addr` serves.
pub async fn scrape(addr: SocketAddr) -> anyhow::Result<Lags> {
    Ok(parse(&metrics_text(addr).await?))
}

/// The consumers' histograms in Prometheus text.
fn parse(text: &str) -> Lags {
    let mut lags = Lags::new();
    for line in text.lines() {
        let Some((name, rest)) = [LAG, TRANSACTION_SECONDS, TRANSACTION_MESSAGES]
            .into_iter()
            .find_map(|name| Some((name, line.strip_prefix(name)?)))
        else {
            continue;
        };
        let Some((series, value)) = rest.rsplit_once(' ') else {
            continue;
        };
        let (Some(consumer), Ok(value)) = (label(series, "consumer"), value.parse::<f64>()) else {
            continue;
        };
        let histograms = lags.entry(consumer.to_owned()).or_default();
        let histogram = match name {
            LAG => &mut histograms.lag,
            TRANSACTION_SECONDS => &mut histograms.seconds,
            _ => &mut histograms.messages,
        };
        if series.starts_with("_count") {
            histogram.count = value;
        } else if series.starts_with("_sum") {
            histogram.sum = value;
        } else if series.starts_with("_bucket")
            && let Some(Ok(bound)) = label(series, "le").map(str::parse::<f64>)
        {
            histogram.buckets.push((bound, value));
        }
    }
    lags
}

/// The value of label `name` in `series` (`…{a="x",b="y"}`).
fn label<'a>(series: &'a str, name: &str) -> Option<&'a str> {
    let start = series.find(&format!("{name}=\""))? + name.len() + 2;
    let length = series[start..].find('"')?;
    Some(&series[start..start + length])
}

/// What each consumer's lag and load were between two scrapes `seconds` apart, for the
/// consumers that applied events.
pub fn between(before: &Lags, after: &Lags, seconds: f64) -> Vec<ConsumerLag> {
    let empty = ConsumerHistograms::default();
    after
        .iter()
        .filter_map(|(consumer, now)| {
            let then = before.get(consumer).unwrap_or(&empty);
            let transactions = now.lag.count - then.lag.count;
            let added = |of: fn(&ConsumerHistograms) -> &Histogram| of(now).sum - of(then).sum;
            (transactions >= 1.0).then(|| ConsumerLag {
                consumer: consumer.clone(),
                transactions: transactions as u64,
                mean_ms: added(|h| &h.lag) / transactions * 1e3,
                p99_at_most_ms: p99_bound(&then.lag, &now.lag, transactions),
                messages_per_transaction: added(|h| &h.messages) / transactions,
                transaction_ms: added(|h| &h.seconds) * 1e3 / transactions,
                busy: added(|h| &h.seconds) / seconds,
            })
        })
        .collect()
}

/// The smallest bucket bound that holds 99 % of the window's observations, ms.
fn p99_bound(then: &Histogram, now: &Histogram, transactions: f64) -> Option<f64> {
    let earlier = |bound: f64| {
        then.buckets
            .iter()
            .find(|(b, _)| *b == bound)
            .map_or(0.0, |(_, count)| *count)
    };
    now.buckets
        .iter()
        .find(|(bound, count)| count - earlier(*bound) >= 0.99 * transactions)
        .map(|(bound, _)| bound * 1e3)
        .filter(|ms| ms.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"# TYPE chain_consumer_lag_seconds histogram
chain_consumer_lag_seconds_bucket{consumer="tickets-chain-view",le="0.05"} 90
chain_consumer_lag_seconds_bucket{consumer="tickets-chain-view",le="1"} 100
chain_consumer_lag_seconds_bucket{consumer="tickets-chain-view",le="+Inf"} 100
chain_consumer_lag_seconds_sum{consumer="tickets-chain-view"} 2
chain_consumer_lag_seconds_count{consumer="tickets-chain-view"} 100
chain_consumer_transaction_seconds_sum{consumer="tickets-chain-view"} 1
chain_consumer_transaction_seconds_count{consumer="tickets-chain-view"} 100
chain_consumer_transaction_messages_sum{consumer="tickets-chain-view"} 1000
chain_consumer_transaction_messages_count{consumer="tickets-chain-view"} 100
chain_outbox_lag_seconds{relay="tickets"} 0.01
"#;

    const AFTER: &str = r#"chain_consumer_lag_seconds_bucket{consumer="tickets-chain-view",le="0.05"} 90
chain_consumer_lag_seconds_bucket{consumer="tickets-chain-view",le="1"} 110
chain_consumer_lag_seconds_bucket{consumer="tickets-chain-view",le="+Inf"} 200
chain_consumer_lag_seconds_sum{consumer="tickets-chain-view"} 202
chain_consumer_lag_seconds_count{consumer="tickets-chain-view"} 200
chain_consumer_transaction_seconds_sum{consumer="tickets-chain-view"} 3.5
chain_consumer_transaction_seconds_count{consumer="tickets-chain-view"} 200
chain_consumer_transaction_messages_sum{consumer="tickets-chain-view"} 4000
chain_consumer_transaction_messages_count{consumer="tickets-chain-view"} 200
chain_consumer_lag_seconds_bucket{consumer="tickets-projector",le="0.05"} 10
chain_consumer_lag_seconds_bucket{consumer="tickets-projector",le="1"} 10
chain_consumer_lag_seconds_bucket{consumer="tickets-projector",le="+Inf"} 10
chain_consumer_lag_seconds_sum{consumer="tickets-projector"} 0.1
chain_consumer_lag_seconds_count{consumer="tickets-projector"} 10
"#;

    #[test]
    fn a_window_counts_only_what_it_added() {
        let lags = between(&parse(BEFORE), &parse(AFTER), 5.0);
        assert_eq!(
            lags,
            [
                ConsumerLag {
                    consumer: "tickets-chain-view".into(),
                    transactions: 100,
                    mean_ms: 2_000.0,
                    // 10 of the window's 100 fell under 1 s, the rest only under +Inf.
                    p99_at_most_ms: None,
                    // 3,000 messages in 2.5 s of transactions, over a 5 s window.
                    messages_per_transaction: 30.0,
                    transaction_ms: 25.0,
                    busy: 0.5,
                },
                ConsumerLag {
                    consumer: "tickets-projector".into(),
                    transactions: 10,
                    mean_ms: 10.0,
                    p99_at_most_ms: Some(50.0),
                    // No transaction histograms served: nothing to say of its load.
                    messages_per_transaction: 0.0,
                    transaction_ms: 0.0,
                    busy: 0.0,
                },
            ]
        );
    }

    #[test]
    fn a_consumer_that_applied_nothing_in_the_window_is_left_out() {
        assert_eq!(between(&parse(BEFORE), &parse(BEFORE), 2.0), []);
    }
}
