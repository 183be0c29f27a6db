-- The scoring projections (everything GetProjectionDigest hashes) and the service's own
-- feedback comments. A rebuild creates the same tables in a fresh schema with
-- `CREATE TABLE <schema>.<table> (LIKE public.<table> INCLUDING ALL)`, so this file is the one
-- definition of both.
--
-- Facts (what the input events said, as JSON) and derived rows (scores, link health, impacts)
-- are both projections: a rebuild must reproduce every one of them byte for byte. Scores,
-- confidences and rates are integers (hundredths, ten-thousandths) so they hash the same.

-- Facts --------------------------------------------------------------------------------------

CREATE TABLE scoring_requests (
    request_id       uuid  PRIMARY KEY,
    case_id          uuid  NOT NULL,
    provider_team_id uuid  NOT NULL,
    consumer_team_id uuid  NOT NULL,
    facts            bytea NOT NULL
);
CREATE INDEX scoring_requests_by_case ON scoring_requests (case_id);
CREATE INDEX scoring_requests_by_link ON scoring_requests (provider_team_id, consumer_team_id);

CREATE TABLE scoring_links (
    provider_team_id uuid  NOT NULL,
    consumer_team_id uuid  NOT NULL,
    facts            bytea NOT NULL,
    PRIMARY KEY (provider_team_id, consumer_team_id)
);

CREATE TABLE scoring_tickets (
    ticket_id   uuid  PRIMARY KEY,
    customer_id uuid,
    facts       bytea NOT NULL
);

CREATE TABLE scoring_customers (
    customer_id uuid  PRIMARY KEY,
    facts       bytea NOT NULL
);

CREATE TABLE scoring_signals (
    subject  text        NOT NULL,
    at       timestamptz NOT NULL,
    event_id uuid        NOT NULL,
    signal   bytea       NOT NULL,
    PRIMARY KEY (subject, at, event_id)
);

-- Derived ------------------------------------------------------------------------------------

CREATE TABLE scoring_scores (
    subject             text        PRIMARY KEY,
    customer_id         uuid,
    provider_team_id    uuid,
    consumer_team_id    uuid,
    score_hundredths    integer     NOT NULL,
    confidence_e4       integer     NOT NULL,
    signal_count        integer     NOT NULL,
    as_of               timestamptz NOT NULL,
    lifecycle           text        NOT NULL,
    open_impacts        integer     NOT NULL,
    tier                text        NOT NULL,
    value_minor         bigint      NOT NULL,
    currency            text        NOT NULL,
    risk_e4             integer     NOT NULL,
    value_at_risk_minor bigint      NOT NULL
);
CREATE INDEX scoring_scores_at_risk ON scoring_scores (value_at_risk_minor DESC, customer_id)
    WHERE lifecycle IN ('at_risk', 'dissatisfied');

CREATE TABLE scoring_link_health (
    provider_team_id    uuid    NOT NULL,
    consumer_team_id    uuid    NOT NULL,
    health_hundredths   integer NOT NULL,
    confidence_e4       integer NOT NULL,
    completed           integer NOT NULL,
    on_time             integer NOT NULL,
    on_time_rate_e4     integer NOT NULL,
    lower_bound_e4      integer NOT NULL,
    mean_lateness_ms    bigint  NOT NULL,
    breakdowns          integer NOT NULL,
    customers_hurt      integer NOT NULL,
    value_at_risk_minor bigint  NOT NULL,
    currency            text    NOT NULL,
    PRIMARY KEY (provider_team_id, consumer_team_id)
);
CREATE INDEX scoring_link_health_worst_first ON scoring_link_health
    (health_hundredths, lower_bound_e4, customers_hurt DESC, provider_team_id, consumer_team_id);

CREATE TABLE scoring_impacts (
    impact_id          uuid        PRIMARY KEY,
    ticket_id          uuid        NOT NULL,
    promise_number     integer     NOT NULL,
    customer_id        uuid        NOT NULL,
    kind               text        NOT NULL,
    tier               text        NOT NULL,
    value_minor        bigint      NOT NULL,
    currency           text        NOT NULL,
    root_provider_id   uuid,
    root_consumer_id   uuid,
    root_request_id    uuid,
    recorded_at        timestamptz NOT NULL,
    due_at             timestamptz NOT NULL,
    projected_delay_ms bigint      NOT NULL,
    notified           boolean     NOT NULL,
    resolved           boolean     NOT NULL,
    outcome            text        NOT NULL,
    late_by_ms         bigint,
    facts              bytea       NOT NULL,
    attribution        bytea       NOT NULL,
    UNIQUE (ticket_id, promise_number)
);
CREATE INDEX scoring_impacts_newest_first ON scoring_impacts (recorded_at DESC, impact_id DESC);
CREATE INDEX scoring_impacts_by_customer ON scoring_impacts (customer_id);
CREATE INDEX scoring_impacts_by_root_team ON scoring_impacts (root_provider_id);

-- Every link on an impact's path (root cause first: hop 0).
CREATE TABLE scoring_impact_links (
    impact_id        uuid    NOT NULL,
    hop              integer NOT NULL,
    provider_team_id uuid    NOT NULL,
    consumer_team_id uuid    NOT NULL,
    request_id       uuid    NOT NULL,
    PRIMARY KEY (impact_id, hop)
);
CREATE INDEX scoring_impact_links_by_link ON scoring_impact_links (provider_team_id, consumer_team_id);

-- Each link's part of a resolved impact's loss.
CREATE TABLE scoring_impact_shares (
    impact_id        uuid   NOT NULL,
    provider_team_id uuid   NOT NULL,
    consumer_team_id uuid   NOT NULL,
    request_id       uuid   NOT NULL,
    delay_ms         bigint NOT NULL,
    share_e6         integer NOT NULL,
    value_minor      bigint NOT NULL,
    PRIMARY KEY (impact_id, request_id)
);
CREATE INDEX scoring_impact_shares_by_link ON scoring_impact_shares (provider_team_id, consumer_team_id);

-- How many events of each input store the projections hold (reported beside the digest).
CREATE TABLE scoring_progress (
    store          text   PRIMARY KEY,
    events_applied bigint NOT NULL
);

-- Service data (not a projection) ----------------------------------------------------------

-- Personal data: feedback comments, kept out of events, logs and traces.
CREATE TABLE scoring_feedback_comments (
    feedback_id uuid        PRIMARY KEY,
    comment     text        NOT NULL,
    recorded_at timestamptz NOT NULL
);
