-- tickets-svc's own tables beside the event store and the consumer inbox (tracked in
-- `_tickets_migrations`). Three kinds:
-- * command side (written in the transaction of the command that appends the events):
--   `customer_values` (values and Pareto tiers) and `customer_details` (personal data, never
--   in an event);
-- * read model of the service's own events (the projector): `customers`, `tickets`,
--   `deadlines`;
-- * the chain view of requests-svc's events (the chain view consumer): `chain_requests`,
--   `chain_request_events`, `ticket_chains`.

-- Every customer's value and tier, recomputed together under an advisory lock whenever a
-- value changes; `version` is the customer stream's version.
CREATE TABLE customer_values (
    customer_id   uuid        PRIMARY KEY,
    value_minor   bigint      NOT NULL CHECK (value_minor >= 0),
    currency      text        NOT NULL,
    tier          text,
    version       bigint      NOT NULL,
    registered_at timestamptz NOT NULL
);
CREATE INDEX customer_values_by_value ON customer_values (value_minor DESC, customer_id);

-- Personal data: a customer's name and e-mail, here and only here (correctable, erasable).
CREATE TABLE customer_details (
    customer_id  uuid        PRIMARY KEY,
    display_name text        NOT NULL,
    email        text        NOT NULL,
    updated_at   timestamptz NOT NULL
);

-- Customers as their events tell them: what ListCustomers pages through and what tickets are
-- ranked by (value at stake).
CREATE TABLE customers (
    customer_id   uuid        PRIMARY KEY,
    value_minor   bigint      NOT NULL,
    currency      text        NOT NULL,
    tier          text,
    registered_at timestamptz NOT NULL,
    version       bigint      NOT NULL
);
CREATE INDEX customers_by_value ON customers (value_minor DESC, customer_id);

-- Tickets: what ListTickets and ListImpactedCustomers filter and sort on, and the encoded
-- Ticket as of the last event (without the overlays read at query time: the customer's
-- current tier and value, the chain's projection).
CREATE TABLE tickets (
    ticket_id          uuid        PRIMARY KEY,
    customer_id        uuid        NOT NULL,
    front_line_team_id uuid        NOT NULL,
    -- The TicketState value name, e.g. TICKET_STATE_AT_RISK.
    state              text        NOT NULL,
    -- At risk or broken: listed first.
    at_risk            boolean     NOT NULL,
    -- The due time of the promise in force in microseconds since the epoch, or the largest
    -- bigint when there is none (sorts last, keeps keyset pagination free of NULLs).
    due_key            bigint      NOT NULL,
    opened_at          timestamptz NOT NULL,
    version            bigint      NOT NULL,
    view               bytea       NOT NULL
);
CREATE INDEX tickets_by_customer ON tickets (customer_id, ticket_id);
CREATE INDEX tickets_by_front_line ON tickets (front_line_team_id, ticket_id);

-- The one time-based event each promised ticket waits for: its promise's due time passing
-- unresolved (see chain_domain::ticket::next_deadline), fired by the deadline watch.
CREATE TABLE deadlines (
    ticket_id uuid        PRIMARY KEY,
    due_at    timestamptz NOT NULL
);
CREATE INDEX deadlines_by_due ON deadlines (due_at);

-- The requests of every case rooted at a ticket, as requests-svc's events tell them, with
-- what the case tree says about each (recomputed on every event of the case).
CREATE TABLE chain_requests (
    request_id           uuid        PRIMARY KEY,
    ticket_id            uuid        NOT NULL,
    parent_request_id    uuid,
    consumer_team_id     uuid        NOT NULL,
    provider_team_id     uuid        NOT NULL,
    version              bigint      NOT NULL,
    -- The request's status name: Opened, Committed, Fulfilled, Breached, Cancelled.
    status               text        NOT NULL,
    expected_by          timestamptz NOT NULL,
    projected_completion timestamptz,
    at_risk              boolean     NOT NULL,
    on_critical_path     boolean     NOT NULL
);
CREATE INDEX chain_requests_by_ticket ON chain_requests (ticket_id);
CREATE INDEX chain_requests_by_provider ON chain_requests (provider_team_id, ticket_id);

-- The requests' events themselves (payloads as requests-svc wrote them), folded into the case
-- tree whenever one of them changes.
CREATE TABLE chain_request_events (
    request_id     uuid        NOT NULL,
    version        bigint      NOT NULL,
    event_id       uuid        NOT NULL,
    event_type     text        NOT NULL,
    schema_version integer     NOT NULL,
    occurred_at    timestamptz NOT NULL,
    payload        bytea       NOT NULL,
    PRIMARY KEY (request_id, version)
);

-- What the chain behind each ticket can do: when it is projected to deliver (NULL when a
-- breach or breakdown makes that unknowable), its earliest feasible time and the link that
-- bounds it.
CREATE TABLE ticket_chains (
    ticket_id                 uuid        PRIMARY KEY,
    projected_completion      timestamptz,
    earliest_feasible         timestamptz,
    critical_request_id       uuid,
    critical_provider_team_id uuid,
    critical_consumer_team_id uuid,
    updated_at                timestamptz NOT NULL
);
