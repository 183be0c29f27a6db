//! What tracing costs: an OTLP/gRPC trace receiver in the bench's process that the traced
//! service exports to and that counts the spans it is sent, and the service's own span counters
//! (`chain_spans_*` on its `/metrics`), which say how many spans its batch queue dropped.
//!
//! The receiver is a bare tonic service for `opentelemetry.proto.collector.trace.v1.
//! TraceService/Export` with a codec that only walks the request's protobuf to count spans
//! (`ExportTraceServiceRequest.resource_spans[].scope_spans[].spans[]`) and answers the empty
//! `ExportTraceServiceResponse`: it costs the machine as little as a collector can.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Buf as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{BoxFuture, Service, http};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Status};

/// The collector's gRPC service and its one method.
const TRACE_SERVICE: &str = "opentelemetry.proto.collector.trace.v1.TraceService";
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Spans received, shared with the gRPC service.
#[derive(Clone, Debug, Default)]
struct Counted {
    spans: Arc<AtomicU64>,
}

/// A counting OTLP receiver on a loopback port; it stops when dropped.
pub struct SpanReceiver {
    counted: Counted,
    address: SocketAddr,
    server: JoinHandle<()>,
}

impl SpanReceiver {
    /// Starts the receiver on a free loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .context("binding the span receiver")?;
        let address = listener.local_addr()?;
        let counted = Counted::default();
        let service = ExportService(counted.clone());
        let server = tokio::spawn(async move {
            // Ends only when aborted (or when the listener fails, which the counts then show).
            let _ = Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpIncoming::from(listener))
                .await;
        });
        Ok(Self {
            counted,
            address,
            server,
        })
    }

    /// `OTEL_EXPORTER_OTLP_ENDPOINT` for the service.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Spans received so far.
    pub fn spans(&self) -> u64 {
        self.counted.spans.load(Ordering::Acquire)
    }

    /// Waits until no span arrived for `quiet` (the exporter emptied its queue), at most
    /// `limit`; returns the spans received.
    pub async fn wait_quiet(&self, quiet: Duration, limit: Duration) -> u64 {
        let give_up = Instant::now() + limit;
        let mut last = self.spans();
        let mut since = Instant::now();
        while Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = self.spans();
            if now != last {
                (last, since) = (now, Instant::now());
            } else if since.elapsed() >= quiet {
                break;
            }
        }
        last
    }
}

impl Drop for SpanReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The tonic service answering `Export`.
#[derive(Clone)]
struct ExportService(Counted);

impl NamedService for ExportService {
    const NAME: &'static str = TRACE_SERVICE;
}

impl<B> Service<http::Request<B>> for ExportService
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let counted = self.0.clone();
        if request.uri().path() != EXPORT_PATH {
            return Box::pin(async {
                Ok(Status::new(Code::Unimplemented, "only Export is served").into_http())
            });
        }
        Box::pin(async move {
            let mut grpc = Grpc::new(SpanCountCodec);
            Ok(grpc.unary(CountSpans(counted), request).await)
        })
    }
}

/// Adds each request's span count to the totals.
struct CountSpans(Counted);

impl UnaryService<u64> for CountSpans {
    type Response = ();
    type Future = BoxFuture<tonic::Response<()>, Status>;

    fn call(&mut self, request: tonic::Request<u64>) -> Self::Future {
        let counted = self.0.clone();
        Box::pin(async move {
            counted
                .spans
                .fetch_add(request.into_inner(), Ordering::AcqRel);
            Ok(tonic::Response::new(()))
        })
    }
}

/// Decodes an `ExportTraceServiceRequest` into its span count; encodes the empty response.
#[derive(Clone, Copy, Default)]
struct SpanCountCodec;

impl Codec for SpanCountCodec {
    type Encode = ();
    type Decode = u64;
    type Encoder = SpanCountCodec;
    type Decoder = SpanCountCodec;

    fn encoder(&mut self) -> Self::Encoder {
        *self
    }

    fn decoder(&mut self) -> Self::Decoder {
        *self
    }
}

impl Encoder for SpanCountCodec {
    type Item = ();
    type Error = Status;

    /// `ExportTraceServiceResponse {}` is zero bytes on the wire.
    fn encode(&mut self, _item: (), _dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        Ok(())
    }
}

impl Decoder for SpanCountCodec {
    type Item = u64;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<u64>, Status> {
        let message = src.copy_to_bytes(src.remaining());
        count_spans(&message)
            .map(Some)
            .ok_or_else(|| Status::invalid_argument("not an ExportTraceServiceRequest"))
    }
}

/// Spans in an encoded `ExportTraceServiceRequest`: field 1 (`resource_spans`) → field 2
/// (`scope_spans`) → field 2 (`spans`), each length-delimited. `None` if it does not parse.
fn count_spans(request: &[u8]) -> Option<u64> {
    let mut spans = 0;
    for resource_spans in nested(request, 1)? {
        for scope_spans in nested(resource_spans, 2)? {
            spans += nested(scope_spans, 2)?.len() as u64;
        }
    }
    Some(spans)
}

/// The length-delimited values of field `number` in `message`, skipping every other field.
fn nested(mut message: &[u8], number: u64) -> Option<Vec<&[u8]>> {
    let mut found = Vec::new();
    while !message.is_empty() {
        let key = varint(&mut message)?;
        let skip = match key & 0x7 {
            0 => {
                varint(&mut message)?;
                0
            }
            1 => 8,
            2 => usize::try_from(varint(&mut message)?).ok()?,
            5 => 4,
            _ => return None,
        };
        let (value, rest) = message.split_at_checked(skip)?;
        if key & 0x7 == 2 && key >> 3 == number {
            found.push(value);
        }
        message = rest;
    }
    Some(found)
}

/// Reads one protobuf varint from the front of `bytes`.
fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The service's span counters, scraped from its `/metrics` once it is idle.
#[derive(Clone, Copy, Debug, Default)]
pub struct SpanTally {
    /// Spans the service ended (`chain_spans_ended_total`).
    pub ended: u64,
    /// Spans the receiver accepted, as the service counted them (`chain_spans_exported_total`).
    pub exported: u64,
    /// Spans whose export failed (`chain_spans_export_failed_total`).
    pub export_failed: u64,
    /// Spans ended but neither exported nor failed (`chain_spans_not_exported`): once the
    /// service is idle and its queue exported, the spans its batch queue dropped.
    pub dropped: u64,
    /// Spans the bench's receiver counted.
    pub received: u64,
}

/// Reads the span counters from the Prometheus text at `addr`.
pub async fn scrape(addr: SocketAddr, received: u64) -> anyhow::Result<SpanTally> {
    let text = metrics_text(addr).await?;
    let value = |name: &str| -> anyhow::Result<u64> {
        let line = text
            .lines()
            .find(|line| line.split_whitespace().next() == Some(name))
            .with_context(|| format!("no {name} on /metrics"))?;
        let number: f64 = line
            .split_whitespace()
            .nth(1)
            .context("a metric without a value")?
            .parse()?;
        Ok(number as u64)
    };
    Ok(SpanTally {
        ended: value("chain_spans_ended_total")?,
        exported: value("chain_spans_exported_total")?,
        export_failed: value("chain_spans_export_failed_total")?,
        dropped: value("chain_spans_not_exported")?,
        received,
    })
}

/// The Prometheus text a service serves on `/metrics` at `addr`.
pub async fn metrics_text(addr: SocketAddr) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to the service's metrics on {addr}"))?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await?;
    Ok(text)
}

/// One tracing mode's phase, for the comparison.
#[derive(Clone, Debug)]
pub struct TracingRow {
    /// The mode ([`super::service::TracingMode::name`]).
    pub mode: &'static str,
    /// HTTP/2 connections the clients shared.
    pub channels: usize,
    /// Successful commands per second.
    pub rate: f64,
    /// Median latency, ms.
    pub p50: f64,
    /// 99th percentile latency, ms.
    pub p99: f64,
    /// The span counts, when the mode exports.
    pub spans: Option<SpanTally>,
}

/// The same load against the service in each tracing mode, measured in one run.
#[derive(Clone, Debug, Default)]
pub struct TracingComparison {
    /// One row per mode and channel setting, in the order measured.
    pub rows: Vec<TracingRow>,
}

/// The goal: traced throughput at least this share of the untraced one.
pub const GOAL_TRACED_SHARE: f64 = 0.90;

impl TracingComparison {
    /// The baseline of `row`: the first mode measured with the same channels that exported
    /// nothing (whatever its place in `--tracing`), else the first one measured.
    fn baseline(&self, row: &TracingRow) -> Option<&TracingRow> {
        let same = || self.rows.iter().filter(|r| r.channels == row.channels);
        same().find(|r| r.spans.is_none()).or_else(|| same().next())
    }

    /// The comparison as text: a table, the goals, and `bench:` figures.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::from("\n== tracing: the same load in each mode ==\n");
        let _ = writeln!(
            out,
            "{:<12} {:>8} {:>12} {:>8} {:>8} {:>9} {:>10} {:>10} {:>10} {:>8}",
            "tracing",
            "channels",
            "commands/s",
            "vs base",
            "p50 ms",
            "p99 ms",
            "spans",
            "exported",
            "received",
            "dropped"
        );
        for row in &self.rows {
            let share = self
                .baseline(row)
                .map_or(1.0, |base| row.rate / base.rate.max(f64::EPSILON));
            let count = |pick: fn(&SpanTally) -> u64| {
                row.spans
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |s| pick(s).to_string())
            };
            let _ = writeln!(
                out,
                "{:<12} {:>8} {:>12.0} {:>7.1}% {:>8.2} {:>9.2} {:>10} {:>10} {:>10} {:>8}",
                row.mode,
                row.channels,
                row.rate,
                share * 100.0,
                row.p50,
                row.p99,
                count(|s| s.ended),
                count(|s| s.exported),
                count(|s| s.received),
                count(|s| s.dropped),
            );
        }
        for row in self.rows.iter().filter(|row| row.spans.is_some()) {
            let Some(base) = self.baseline(row) else {
                continue;
            };
            let share = row.rate / base.rate.max(f64::EPSILON);
            let dropped = row.spans.map_or(0, |s| s.dropped);
            let _ = writeln!(
                out,
                "goal: {} over {} channel(s) at {:.1}% of {} (>= {:.0}%: {}), {} spans dropped \
                 (goal 0: {})",
                row.mode,
                row.channels,
                share * 100.0,
                base.mode,
                GOAL_TRACED_SHARE * 100.0,
                verdict(share >= GOAL_TRACED_SHARE),
                dropped,
                verdict(dropped == 0)
            );
        }
        for row in &self.rows {
            let stem = format!("requests_tracing_{}_ch{}", row.mode, row.channels);
            let _ = writeln!(
                out,
                "bench: {stem}_commands_per_s={:.0} commands/s",
                row.rate
            );
            let _ = writeln!(out, "bench: {stem}_p99={:.3} ms", row.p99);
            if let Some(spans) = row.spans {
                let _ = writeln!(out, "bench: {stem}_spans_ended={} spans", spans.ended);
                let _ = writeln!(out, "bench: {stem}_spans_received={} spans", spans.received);
                let _ = writeln!(out, "bench: {stem}_spans_dropped={} spans", spans.dropped);
                let _ = writeln!(
                    out,
                    "bench: {stem}_spans_export_failed={} spans",
                    spans.export_failed
                );
            }
        }
        out
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A length-delimited field.
    fn field(number: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![number << 3 | 2, u8::try_from(value.len()).unwrap_or(0)];
        out.extend_from_slice(value);
        out
    }

    #[test]
    fn counts_spans_across_resources_and_scopes_and_skips_other_fields() {
        // A span is field 2 of a ScopeSpans, whose field 1 is the scope.
        let span = field(2, b"0123456789abcdef");
        let scope_of_two = [field(1, b"scope"), span.clone(), span.clone()].concat();
        let scope_of_one = [span.clone(), vec![3 << 3, 42]].concat();
        let first = [field(1, b"resource"), field(2, &scope_of_two)].concat();
        let second = field(2, &scope_of_one);
        let request = [field(1, &first), field(1, &second)].concat();
        assert_eq!(count_spans(&request), Some(3));
        assert_eq!(count_spans(&[]), Some(0));
        assert_eq!(count_spans(&[0x0a, 0x05, 0x01]), None, "truncated");
    }
}
