-- Sluice outbox table (MySQL, MariaDB). The table is insert-only: the
-- application inserts events in its own transactions, Sluice routes the
-- inserts from the binlog (source.outbox.table), and rows may be deleted once
-- routed.
CREATE TABLE IF NOT EXISTS {{table}} (
    id            CHAR(36)     NOT NULL PRIMARY KEY,
    aggregatetype VARCHAR(255) NOT NULL,
    aggregateid   VARCHAR(255) NOT NULL,
    type          VARCHAR(255) NOT NULL,
    payload       JSON         NOT NULL,
    headers       JSON         NULL,
    created_at    TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
);
