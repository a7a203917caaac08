-- Webhooks and their delivery queue (DESIGN §11).
--
-- webhooks are the subscriptions. A worker turns new events into webhook_deliveries (dispatch:
-- one per event and active webhook subscribed to its type), leases the due ones (claim), and
-- records each attempt in webhook_attempts, the delivery log, which either ends the delivery or
-- schedules its retry. The queue is these tables, so any number of workers share it: claims
-- lock rows FOR UPDATE SKIP LOCKED and lease them (lease, lease_until); a worker that dies lets
-- its leases run out and the deliveries are claimed again.
--
-- webhook_dispatch_position is how far dispatch got in the event feed, in the feed's (txn, seq)
-- order; dispatch takes only events below the snapshot's xmin, as the feed's readers do
-- (migration 0002), so an event that commits later is never placed before the position. A
-- dispatcher locks the row FOR UPDATE SKIP LOCKED: a second one skips, so no event is dispatched
-- twice. It starts at the start of the feed: with no webhook yet, the first dispatches only move
-- it to the end.
--
-- Deleting a webhook deletes its deliveries and its log; purging an event deletes its deliveries
-- (only a webhook off for the whole event retention can still have one).
--
-- New tables only: the release before this one never touches them, so this runs while it serves.

CREATE TABLE webhooks (
    id                 uuid        PRIMARY KEY,
    url                text        NOT NULL,
    types              text[]      NOT NULL,
    secret             text        NOT NULL,
    description        text,
    active             boolean     NOT NULL,
    deactivated_reason text,
    version            integer     NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    CONSTRAINT webhooks_url_check
        CHECK (char_length(url) BETWEEN 1 AND 2000 AND url ~* '^https?://'),
    CONSTRAINT webhooks_types_check CHECK (
        cardinality(types) >= 1
        AND array_position(types, NULL) IS NULL
        AND types <@ ARRAY[
            'item.created', 'item.updated', 'location.created', 'location.updated',
            'movement.posted', 'reservation.created', 'reservation.expired',
            'reservation.fulfilled', 'reservation.released', 'stock.below_reorder'
        ]::text[]
    ),
    CONSTRAINT webhooks_secret_check CHECK (secret ~ '^whsec_[A-Za-z0-9+/]+={0,2}$'),
    CONSTRAINT webhooks_description_check
        CHECK (char_length(description) <= 500 AND description !~ '[\x01-\x08\x0b-\x1f]'),
    CONSTRAINT webhooks_deactivated_reason_check
        CHECK (NOT active OR deactivated_reason IS NULL),
    CONSTRAINT webhooks_version_check CHECK (version >= 1)
);

CREATE TABLE webhook_deliveries (
    id              uuid        PRIMARY KEY,
    -- Dispatch order (the feed's): among deliveries due at the same time, the first claimed.
    seq             bigint      GENERATED ALWAYS AS IDENTITY,
    webhook_id      uuid        NOT NULL,
    event_id        uuid        NOT NULL,
    status          text        NOT NULL,
    attempts        integer     NOT NULL,
    next_attempt_at timestamptz,
    lease           uuid,
    lease_until     timestamptz,
    created_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    CONSTRAINT webhook_deliveries_webhook_id_fkey
        FOREIGN KEY (webhook_id) REFERENCES webhooks (id) ON DELETE CASCADE,
    CONSTRAINT webhook_deliveries_event_id_fkey
        FOREIGN KEY (event_id) REFERENCES events (id) ON DELETE CASCADE,
    -- One delivery per event and webhook: what dispatching each event exactly once promises.
    CONSTRAINT webhook_deliveries_event_webhook_key UNIQUE (event_id, webhook_id),
    CONSTRAINT webhook_deliveries_status_check
        CHECK (status IN ('pending', 'delivered', 'failed')),
    CONSTRAINT webhook_deliveries_attempts_check CHECK (attempts >= 0),
    -- Pending: due at next_attempt_at. Delivered or failed: finished, never due again.
    CONSTRAINT webhook_deliveries_pending_check CHECK (
        (status = 'pending') = (next_attempt_at IS NOT NULL)
        AND (status = 'pending') = (finished_at IS NULL)
    ),
    CONSTRAINT webhook_deliveries_lease_check CHECK ((lease IS NULL) = (lease_until IS NULL))
);
-- Claiming: the pending deliveries in order of when they are due.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (status, next_attempt_at, seq);
-- Deleting a webhook (the cascade), and purging the finished deliveries.
CREATE INDEX webhook_deliveries_webhook_id_idx ON webhook_deliveries (webhook_id);
CREATE INDEX webhook_deliveries_finished_at_idx ON webhook_deliveries (finished_at)
    WHERE finished_at IS NOT NULL;

CREATE TABLE webhook_attempts (
    id              uuid        PRIMARY KEY,
    webhook_id      uuid        NOT NULL,
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    attempt         integer     NOT NULL,
    attempted_at    timestamptz NOT NULL,
    status_code     integer,
    error           text,
    duration_ms     integer     NOT NULL,
    next_attempt_at timestamptz,
    CONSTRAINT webhook_attempts_webhook_id_fkey
        FOREIGN KEY (webhook_id) REFERENCES webhooks (id) ON DELETE CASCADE,
    CONSTRAINT webhook_attempts_attempt_check CHECK (attempt >= 1),
    CONSTRAINT webhook_attempts_status_code_check CHECK (status_code BETWEEN 100 AND 999),
    CONSTRAINT webhook_attempts_duration_ms_check CHECK (duration_ms >= 0)
);
-- A webhook's log, newest first (the listing), and the cascade.
CREATE INDEX webhook_attempts_log_idx ON webhook_attempts (webhook_id, id DESC);
-- Purging the log.
CREATE INDEX webhook_attempts_attempted_at_idx ON webhook_attempts (attempted_at);

CREATE TABLE webhook_dispatch_position (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    txn      xid8    NOT NULL,
    seq      bigint  NOT NULL
);
INSERT INTO webhook_dispatch_position (only_row, txn, seq) VALUES (true, '0', 0);
