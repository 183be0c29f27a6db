//! `chainctl tickets …`: every RPC of tickets-svc (TicketService).

use chain_proto::customerchain::v1 as pb;
use clap::Subcommand;

use crate::client::{Service, TicketsClient, call};
use crate::commands::requests::{Page, Write};
use crate::commands::{Ctx, more_pages, parsed};
use crate::error::Failure;
use crate::input::{self, Kind, Remedy, TicketState, Tier};
use crate::views::tickets as view;

/// The RPCs of tickets-svc.
#[derive(Debug, Subcommand)]
pub enum TicketsCommand {
    /// RegisterCustomer: an external customer with a value.
    RegisterCustomer {
        /// The customer's name.
        name: String,
        /// The customer's value in major units, e.g. 25000.00.
        #[arg(long)]
        value: String,
        /// ISO 4217 currency of the value.
        #[arg(long, default_value = "EUR")]
        currency: String,
        /// Contact e-mail.
        #[arg(long, default_value = "")]
        email: String,
        /// Idempotency key (default: a fresh one).
        #[arg(long)]
        key: Option<String>,
    },
    /// UpdateCustomer: change a customer's name, e-mail or value (only those given).
    UpdateCustomer {
        /// The customer.
        customer_id: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New e-mail.
        #[arg(long)]
        email: Option<String>,
        /// New value in major units.
        #[arg(long)]
        value: Option<String>,
        /// ISO 4217 currency of the value.
        #[arg(long, default_value = "EUR")]
        currency: String,
        #[command(flatten)]
        write: Write,
    },
    /// GetCustomer: one customer.
    GetCustomer {
        /// The customer.
        customer_id: String,
    },
    /// ListCustomers: highest value first.
    ListCustomers {
        /// Only these tiers (repeatable).
        #[arg(long = "tier", value_enum)]
        tiers: Vec<Tier>,
        #[command(flatten)]
        page: Page,
    },
    /// OpenTicket: a ticket for a customer, served by a front-line team (default: the acting
    /// team).
    OpenTicket {
        /// The customer.
        customer_id: String,
        /// What the customer asks for.
        #[arg(long)]
        subject: String,
        /// The front-line team serving it.
        #[arg(long, default_value = "")]
        front_line_team_id: String,
        /// Idempotency key (default: a fresh one).
        #[arg(long)]
        key: Option<String>,
    },
    /// MakePromise: promise a due time on a ticket.
    MakePromise {
        /// The ticket.
        ticket_id: String,
        /// The due time: RFC 3339 or a span from now (e.g. 14d).
        #[arg(long)]
        due: String,
        /// What kind of promise.
        #[arg(long, value_enum, default_value = "personal")]
        kind: Kind,
        /// The promise as told to the customer.
        #[arg(long, default_value = "")]
        wording: String,
        /// Promise even though the chain is projected to be later.
        #[arg(long)]
        acknowledge_risk: bool,
        #[command(flatten)]
        write: Write,
    },
    /// NotifyCustomer: record that the customer was told of a delay, with a remedy.
    NotifyCustomer {
        /// The ticket.
        ticket_id: String,
        /// The new expected time: RFC 3339 or a span from now.
        #[arg(long)]
        new_expected: String,
        /// The remedy offered.
        #[arg(long, value_enum, default_value = "none")]
        remedy: Remedy,
        /// What exactly was offered.
        #[arg(long, default_value = "")]
        remedy_description: String,
        /// A credit's amount in major units (remedy credit).
        #[arg(long)]
        credit: Option<String>,
        /// What the customer was told.
        #[arg(long, default_value = "")]
        message: String,
        #[command(flatten)]
        write: Write,
    },
    /// RecordCustomerResponse: the customer's answer to the latest notice.
    RecordCustomerResponse {
        /// The ticket.
        ticket_id: String,
        /// The customer accepted the new time.
        #[arg(
            long,
            conflicts_with = "declined",
            required_unless_present = "declined"
        )]
        accepted: bool,
        /// The customer declined it.
        #[arg(long)]
        declined: bool,
        /// What the customer said.
        #[arg(long, default_value = "")]
        note: String,
        #[command(flatten)]
        write: Write,
    },
    /// ResolveTicket: close the ticket; the outcome is derived.
    ResolveTicket {
        /// The ticket.
        ticket_id: String,
        /// Closed without delivery (default: delivered).
        #[arg(long)]
        not_delivered: bool,
        #[command(flatten)]
        write: Write,
    },
    /// GetTicket: one ticket with its promises, risk and notices.
    GetTicket {
        /// The ticket.
        ticket_id: String,
    },
    /// ListTickets: at risk first, then by value at stake.
    ListTickets {
        /// Only this customer's tickets.
        #[arg(long, default_value = "")]
        customer: String,
        /// Only tickets of this front-line team.
        #[arg(long, default_value = "")]
        front_line_team_id: String,
        /// Only these states (repeatable).
        #[arg(long = "state", value_enum)]
        states: Vec<TicketState>,
        /// Only tickets at risk or broken.
        #[arg(long)]
        at_risk_only: bool,
        #[command(flatten)]
        page: Page,
    },
    /// ListImpactedCustomers: the customers whose open tickets depend on a team or request
    /// (see also `chainctl impact`).
    ListImpactedCustomers {
        /// The team whose breakdown to trace.
        #[arg(long, required_unless_present = "request", conflicts_with = "request")]
        team: Option<String>,
        /// The request whose breakdown to trace.
        #[arg(long)]
        request: Option<String>,
        /// Only tickets at risk or broken.
        #[arg(long)]
        at_risk_only: bool,
        #[command(flatten)]
        page: Page,
    },
    /// WatchTickets: ticket and customer events, then live ones (see also `chainctl watch`).
    WatchTickets {
        /// Only this customer's events.
        #[arg(long, default_value = "")]
        customer: String,
        /// Only tickets of this front-line team.
        #[arg(long, default_value = "")]
        front_line_team_id: String,
        #[command(flatten)]
        stream: crate::commands::watch::StreamArgs,
    },
    /// ReadEvents: tickets-svc's event store in commit order.
    ReadEvents {
        #[command(flatten)]
        read: crate::commands::watch::ReadArgs,
    },
}

/// Runs one tickets-svc command.
pub async fn run(ctx: &Ctx, command: TicketsCommand) -> Result<(), Failure> {
    if let TicketsCommand::ListImpactedCustomers {
        team,
        request,
        at_risk_only,
        page,
    } = command
    {
        return crate::commands::impact::list(ctx, team, request, at_risk_only, page).await;
    }
    let client = ctx.connection.tickets().await?;
    match command {
        TicketsCommand::RegisterCustomer {
            name,
            value,
            currency,
            email,
            key,
        } => {
            let value = parsed("--value", &value, input::parse_amount)?;
            let message = pb::RegisterCustomerRequest {
                idempotency_key: input::key(key.as_ref()),
                display_name: name,
                email,
                value: Some(pb::Money {
                    currency_code: currency,
                    value_minor: value,
                }),
            };
            let customer = call(Service::Tickets, "RegisterCustomer", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.register_customer(request).await }
            })
            .await?;
            show_customer(ctx, &customer)
        }
        TicketsCommand::UpdateCustomer {
            customer_id,
            name,
            email,
            value,
            currency,
            write,
        } => {
            let mut paths = Vec::new();
            if name.is_some() {
                paths.push("display_name".to_owned());
            }
            if email.is_some() {
                paths.push("email".to_owned());
            }
            let value = value
                .map(|v| parsed("--value", &v, input::parse_amount))
                .transpose()?;
            if value.is_some() {
                paths.push("value".to_owned());
            }
            if paths.is_empty() {
                return Err(Failure::Usage(
                    "give at least one of --name, --email, --value".to_owned(),
                ));
            }
            let message = pb::UpdateCustomerRequest {
                idempotency_key: input::key(write.key.as_ref()),
                customer_id,
                expected_version: write.expected_version,
                display_name: name.unwrap_or_default(),
                email: email.unwrap_or_default(),
                value: value.map(|value_minor| pb::Money {
                    currency_code: currency,
                    value_minor,
                }),
                update_mask: Some(prost_types::FieldMask { paths }),
            };
            let customer = call(Service::Tickets, "UpdateCustomer", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.update_customer(request).await }
            })
            .await?;
            show_customer(ctx, &customer)
        }
        TicketsCommand::GetCustomer { customer_id } => {
            let message = pb::GetCustomerRequest { customer_id };
            let customer = call(Service::Tickets, "GetCustomer", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.get_customer(request).await }
            })
            .await?;
            show_customer(ctx, &customer)
        }
        TicketsCommand::ListCustomers { tiers, page } => {
            let message = pb::ListCustomersRequest {
                page_size: page.page_size,
                page_token: page.page_token,
                tiers: tiers
                    .into_iter()
                    .map(|t| pb::CustomerTier::from(t).into())
                    .collect(),
            };
            let reply = call(Service::Tickets, "ListCustomers", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.list_customers(request).await }
            })
            .await?;
            if ctx.printer.json() {
                return ctx.printer.message(&reply);
            }
            ctx.printer
                .say(view::customers(&ctx.printer, &reply.customers))?;
            more_pages(ctx, &reply.next_page_token)
        }
        TicketsCommand::OpenTicket {
            customer_id,
            subject,
            front_line_team_id,
            key,
        } => {
            let message = pb::OpenTicketRequest {
                idempotency_key: input::key(key.as_ref()),
                customer_id,
                subject,
                front_line_team_id,
            };
            let ticket = call(Service::Tickets, "OpenTicket", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.open_ticket(request).await }
            })
            .await?;
            show_ticket(ctx, &ticket).await
        }
        TicketsCommand::MakePromise {
            ticket_id,
            due,
            kind,
            wording,
            acknowledge_risk,
            write,
        } => {
            let due = parsed("--due", &due, input::parse_time)?;
            let message = pb::MakePromiseRequest {
                idempotency_key: input::key(write.key.as_ref()),
                ticket_id,
                expected_version: write.expected_version,
                due_at: input::stamp(due),
                kind: pb::CommitmentKind::from(kind).into(),
                wording,
                acknowledge_risk,
            };
            let ticket = call(Service::Tickets, "MakePromise", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.make_promise(request).await }
            })
            .await?;
            show_ticket(ctx, &ticket).await
        }
        TicketsCommand::NotifyCustomer {
            ticket_id,
            new_expected,
            remedy,
            remedy_description,
            credit,
            message,
            write,
        } => {
            let new_expected = parsed("--new-expected", &new_expected, input::parse_time)?;
            let credit = credit
                .map(|c| parsed("--credit", &c, input::parse_amount))
                .transpose()?;
            let request = pb::NotifyCustomerRequest {
                idempotency_key: input::key(write.key.as_ref()),
                ticket_id,
                expected_version: write.expected_version,
                new_expected_at: input::stamp(new_expected),
                remedy: Some(pb::Remedy {
                    kind: pb::RemedyKind::from(remedy).into(),
                    description: remedy_description,
                    credit: credit.map(|value_minor| pb::Money {
                        currency_code: "EUR".to_owned(),
                        value_minor,
                    }),
                }),
                message,
            };
            let ticket = call(Service::Tickets, "NotifyCustomer", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(request.clone());
                async move { client.notify_customer(request).await }
            })
            .await?;
            show_ticket(ctx, &ticket).await
        }
        TicketsCommand::RecordCustomerResponse {
            ticket_id,
            accepted,
            declined,
            note,
            write,
        } => {
            let message = pb::RecordCustomerResponseRequest {
                idempotency_key: input::key(write.key.as_ref()),
                ticket_id,
                expected_version: write.expected_version,
                accepted: accepted && !declined,
                note,
            };
            let ticket = call(Service::Tickets, "RecordCustomerResponse", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.record_customer_response(request).await }
            })
            .await?;
            show_ticket(ctx, &ticket).await
        }
        TicketsCommand::ResolveTicket {
            ticket_id,
            not_delivered,
            write,
        } => {
            let message = pb::ResolveTicketRequest {
                idempotency_key: input::key(write.key.as_ref()),
                ticket_id,
                expected_version: write.expected_version,
                delivered: !not_delivered,
            };
            let ticket = call(Service::Tickets, "ResolveTicket", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.resolve_ticket(request).await }
            })
            .await?;
            show_ticket(ctx, &ticket).await
        }
        TicketsCommand::GetTicket { ticket_id } => {
            let ticket = get_ticket(ctx, &client, &ticket_id).await?;
            show_ticket(ctx, &ticket).await
        }
        TicketsCommand::ListTickets {
            customer,
            front_line_team_id,
            states,
            at_risk_only,
            page,
        } => {
            let message = pb::ListTicketsRequest {
                page_size: page.page_size,
                page_token: page.page_token,
                customer_id: customer,
                front_line_team_id,
                states: states
                    .into_iter()
                    .map(|s| pb::TicketState::from(s).into())
                    .collect(),
                at_risk_only,
            };
            let reply = call(Service::Tickets, "ListTickets", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.list_tickets(request).await }
            })
            .await?;
            if ctx.printer.json() {
                return ctx.printer.message(&reply);
            }
            let directory = ctx.directory(None).await;
            ctx.printer
                .say(view::tickets(&ctx.printer, &reply.tickets, &directory))?;
            more_pages(ctx, &reply.next_page_token)
        }
        TicketsCommand::WatchTickets {
            customer,
            front_line_team_id,
            stream,
        } => {
            let message = pb::WatchTicketsRequest {
                customer_id: customer,
                front_line_team_id,
                after_position: stream.after.clone(),
                live_only: stream.live_only(),
            };
            crate::commands::watch::tickets_only(ctx, &client, message, stream).await
        }
        TicketsCommand::ReadEvents { read } => {
            crate::commands::watch::read_events(ctx, Service::Tickets, read).await
        }
        // Answered above, before connecting: it needs requests-svc's team names as well.
        TicketsCommand::ListImpactedCustomers { .. } => Ok(()),
    }
}

/// GetTicket.
pub async fn get_ticket(
    ctx: &Ctx,
    client: &TicketsClient,
    ticket_id: &str,
) -> Result<pb::Ticket, Failure> {
    let message = pb::GetTicketRequest {
        ticket_id: ticket_id.to_owned(),
    };
    call(Service::Tickets, "GetTicket", || {
        let mut client = client.clone();
        let request = ctx.actor.unary(message.clone());
        async move { client.get_ticket(request).await }
    })
    .await
}

fn show_customer(ctx: &Ctx, customer: &pb::Customer) -> Result<(), Failure> {
    if ctx.printer.json() {
        return ctx.printer.message(customer);
    }
    ctx.printer.say(view::customer(&ctx.printer, customer))
}

async fn show_ticket(ctx: &Ctx, ticket: &pb::Ticket) -> Result<(), Failure> {
    if ctx.printer.json() {
        return ctx.printer.message(ticket);
    }
    let directory = ctx.directory(None).await;
    ctx.printer
        .say(view::ticket(&ctx.printer, ticket, &directory))
}
