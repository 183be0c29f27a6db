//! `chainctl demo`: seeds a realistic organisation (a dozen teams with OLAs, three front-line
//! teams, a few hundred customers with Pareto values), plays the furniture story of seed 002,
//! then plays a few hundred cases while one team's links fail on purpose, waits (bounded) for
//! the services' projections, and summarises the impact: the worst links, the customers they
//! hurt, the value at risk, and the trace of the worst breakdown.
//!
//! Deadlines cannot be waited for in a demo, so links break by revisions past the customer's
//! due time and by breakdown reports, which the services propagate at once.

mod cases;
mod chain;
mod customers;
mod faults;
mod org;
mod report;
mod settle;
mod story;
mod summary;

use std::io::IsTerminal as _;
use std::time::Duration;

use rand::SeedableRng as _;
use rand::rngs::StdRng;

use crate::commands::{Ctx, parsed};
use crate::error::Failure;
use crate::input::parse_span;
use crate::output::{Printer, Tone};

use chain::Chain;
use faults::FaultPlan;
use report::Report;

/// Arguments of `chainctl demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// How many cases to play after the story.
    #[arg(long, default_value_t = 300)]
    pub cases: usize,
    /// How many customers the organisation has (existing ones count).
    #[arg(long, default_value_t = 300)]
    pub customers: usize,
    /// The team whose links fail.
    #[arg(long, default_value = "Transport")]
    pub failing_team: String,
    /// The share of the failing team's requests that fail, 0 to 1.
    #[arg(long, default_value_t = 0.3)]
    pub failure_rate: f64,
    /// How late a failing link delivers after the customer's due time.
    #[arg(long, default_value = "3d")]
    pub delay: String,
    /// The share of other teams' requests that fail too (background noise), 0 to 1.
    #[arg(long, default_value_t = 0.03)]
    pub noise_rate: f64,
    /// Extra time each faulty call takes, so the slow hop stands out in traces (e.g. 200ms).
    #[arg(long, default_value = "0s")]
    pub fault_latency: String,
    /// Seed of the random choices: the same seed plays the same cases.
    #[arg(long, default_value_t = 2)]
    pub seed: u64,
    /// Cases played at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// The longest wait for the projections before summarising.
    #[arg(long, default_value = "90s")]
    pub wait: String,
    /// Plain text for CI: no progress bar, no colour (also when stdout is not a terminal).
    #[arg(long)]
    pub non_interactive: bool,
    /// Leave the furniture story out.
    #[arg(long)]
    pub skip_story: bool,
}

/// Runs the demo.
pub async fn run(ctx: &Ctx, args: DemoArgs, plain: bool) -> Result<(), Failure> {
    let plain = plain || args.non_interactive || !std::io::stdout().is_terminal();
    let report = Report {
        printer: Printer {
            colour: ctx.printer.colour && !plain,
            ..ctx.printer
        },
        plain,
    };
    let delay = parsed("--delay", &args.delay, parse_span)?;
    let latency = parsed("--fault-latency", &args.fault_latency, parse_span)?
        .to_std()
        .unwrap_or(Duration::ZERO);
    let wait = parsed("--wait", &args.wait, parse_span)?
        .to_std()
        .unwrap_or(Duration::ZERO);
    for (flag, rate) in [
        ("--failure-rate", args.failure_rate),
        ("--noise-rate", args.noise_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            return Err(Failure::Usage(format!(
                "{flag} must be between 0 and 1, not {rate}"
            )));
        }
    }
    let chain = Chain::connect(&ctx.connection).await?;
    let mut rng = StdRng::seed_from_u64(args.seed);

    report.heading(&format!(
        "customer-chain demo: {} cases, {} failing at {:.0}% ({} late), seed {}",
        args.cases,
        args.failing_team,
        args.failure_rate * 100.0,
        crate::output::time::span(delay),
        args.seed
    ))?;
    let (org, new_teams, new_links) = org::seed(&chain).await?;
    let failing = org.team(&args.failing_team)?.clone();
    let registrar = org.team("Sales")?.id.clone();
    report.step(format!(
        "organisation: {} teams ({} front line), {} links ({new_teams} teams and {new_links} links created now)",
        org.teams.len(),
        org.teams.iter().filter(|t| t.front_line).count(),
        org.providers.values().map(Vec::len).sum::<usize>(),
    ))?;
    let (customers, registered) = customers::seed(
        &chain,
        &registrar,
        args.customers,
        args.concurrency,
        &mut rng,
    )
    .await?;
    report.step(format!(
        "customers: {} ({registered} registered now), values Pareto-distributed",
        customers.len()
    ))?;
    let impacts_before = chain.impact_summary("").await?.impacts;

    if !args.skip_story {
        story::play(&chain, &org, &registrar, &report).await?;
    }

    report.heading(&format!("{} cases", args.cases))?;
    let faults = FaultPlan {
        failing_team: failing.clone(),
        failure_rate: args.failure_rate,
        noise_rate: args.noise_rate,
        delay,
        latency,
    };
    let plans = cases::plan(&org, &customers, &faults, args.cases, &mut rng);
    let bar = report.progress(plans.len(), "cases");
    let records = cases::play(&chain, &faults, plans, args.concurrency, || bar.inc(1)).await?;
    bar.finish_and_clear();
    let injected = records
        .iter()
        .filter(|r| r.fault.as_ref().is_some_and(|(f, _)| f.injected))
        .count();
    let noise = records
        .iter()
        .filter(|r| r.fault.as_ref().is_some_and(|(f, _)| !f.injected))
        .count();
    let delivered = records.iter().filter(|r| r.delivered).count();
    report.step(format!(
        "played {} cases: {delivered} delivered and resolved, {injected} broken at {} on purpose, {noise} broken elsewhere (noise), the rest in flight",
        records.len(),
        failing.name,
    ))?;

    report.step(format!(
        "waiting up to {} s for tickets-svc and scoring-svc to reflect the broken cases…",
        wait.as_secs()
    ))?;
    let deadline = tokio::time::Instant::now() + wait;
    let story_impacts = u32::from(!args.skip_story);
    let settled = settle::wait(
        &chain,
        &records,
        impacts_before,
        story_impacts,
        deadline,
        args.concurrency,
    )
    .await?;
    if settled.at_risk.len() < settled.broken || !settled.scored {
        report.step(report.paint(
            format!(
                "the projections still lag after {} s: {} of {} broken cases visible at risk{}; the summary below is partial",
                wait.as_secs(),
                settled.at_risk.len(),
                settled.broken,
                if settled.scored { "" } else { ", scoring not caught up" },
            ),
            Tone::Warn,
        ))?;
    } else {
        report.step(format!(
            "all {} broken cases are at risk, and scored",
            settled.broken
        ))?;
    }
    summary::print(&chain, &org, &failing, &records, &settled, &report).await
}
