-- requests-svc's own tables beside the event store and the consumer inbox (tracked in
-- `_requests_migrations`). Everything here but `team_names` is a read model the projector
-- derives from the events and could rebuild from them.

-- Teams, listed by name.
CREATE TABLE teams (
    team_id    uuid        PRIMARY KEY,
    name       text        NOT NULL,
    name_key   text        NOT NULL,
    front_line boolean     NOT NULL,
    created_at timestamptz NOT NULL,
    version    bigint      NOT NULL
);
CREATE INDEX teams_by_name ON teams (name_key, team_id);

-- Command side, not a projection: one row per team name (lower-cased), written in the same
-- transaction as the team's events, so two teams can never take the same name.
CREATE TABLE team_names (
    name_key text PRIMARY KEY,
    team_id  uuid NOT NULL
);

-- Provider -> consumer links with their operational level agreement.
CREATE TABLE links (
    link_id          uuid        PRIMARY KEY,
    provider_team_id uuid        NOT NULL,
    consumer_team_id uuid        NOT NULL,
    ola_ms           bigint      NOT NULL,
    declared_at      timestamptz NOT NULL,
    version          bigint      NOT NULL,
    UNIQUE (provider_team_id, consumer_team_id)
);
CREATE INDEX links_by_consumer ON links (consumer_team_id, link_id);

-- Internal requests: what ListRequests filters and sorts on, the case each belongs to (the
-- case membership GetCase reads), and the encoded InternalRequest as of the last event.
CREATE TABLE requests (
    request_id           uuid        PRIMARY KEY,
    case_id              uuid        NOT NULL,
    root_ticket_id       uuid,
    parent_request_id    uuid,
    parent_ticket_id     uuid,
    consumer_team_id     uuid        NOT NULL,
    provider_team_id     uuid        NOT NULL,
    -- The RequestState value name, e.g. REQUEST_STATE_COMMITTED.
    state                text        NOT NULL,
    -- The time the request is expected by: its due time, or needed_by before a commitment.
    due_at               timestamptz NOT NULL,
    projected_completion timestamptz,
    at_risk              boolean     NOT NULL,
    -- Request ids of the risk's cause path, root cause first, ending with this request.
    cause_path           uuid[]      NOT NULL DEFAULT '{}',
    opened_at            timestamptz NOT NULL,
    version              bigint      NOT NULL,
    view                 bytea       NOT NULL
);
CREATE INDEX requests_by_consumer ON requests (consumer_team_id, at_risk DESC, due_at, request_id);
CREATE INDEX requests_by_provider ON requests (provider_team_id, at_risk DESC, due_at, request_id);
CREATE INDEX requests_by_case ON requests (case_id, opened_at);

-- The one time-based event each open request waits for (see chain_domain::deadline), fired by
-- the deadline watch. The projector (re)schedules a row after each of the request's events and
-- sends NOTIFY chain_deadlines.
CREATE TABLE deadlines (
    request_id uuid        PRIMARY KEY,
    due_at     timestamptz NOT NULL,
    kind       text        NOT NULL
);
CREATE INDEX deadlines_by_due ON deadlines (due_at);
