-- Sluice outbox table (Postgres). The table is insert-only: the application
-- inserts events in its own transactions, Sluice routes the inserts from the
-- WAL (source.outbox.table), and rows may be deleted once routed.
CREATE TABLE IF NOT EXISTS {{table}} (
    id            uuid        PRIMARY KEY,
    aggregatetype text        NOT NULL,
    aggregateid   text        NOT NULL,
    type          text        NOT NULL,
    payload       jsonb       NOT NULL,
    headers       jsonb,
    created_at    timestamptz NOT NULL DEFAULT now()
);
