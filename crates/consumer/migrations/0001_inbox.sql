-- The consuming side of the bus: which events each consumer has applied, how far each aggregate
-- stream has got, and the messages it could not apply (parked, never dropped).

CREATE TABLE inbox_processed (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE inbox_stream_versions (
    consumer       text   NOT NULL,
    aggregate_type text   NOT NULL,
    aggregate_id   text   NOT NULL,
    version        bigint NOT NULL,
    PRIMARY KEY (consumer, aggregate_type, aggregate_id)
);

CREATE TABLE dead_letters (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer        text        NOT NULL,
    subject         text        NOT NULL,
    stream_sequence bigint      NOT NULL,
    deliveries      bigint      NOT NULL,
    event_id        text,
    event_type      text,
    reason          text        NOT NULL,
    body            bytea       NOT NULL,
    parked_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX dead_letters_by_consumer ON dead_letters (consumer, id);
