-- Bars, quarantine and the symbol registry.
CREATE TABLE IF NOT EXISTS bars (
    symbol      text             NOT NULL,
    timeframe   text             NOT NULL,
    ts          timestamptz      NOT NULL,
    open        double precision NOT NULL,
    high        double precision NOT NULL,
    low         double precision NOT NULL,
    close       double precision NOT NULL,
    volume      double precision NOT NULL,
    trade_count bigint,
    vwap        double precision,
    source      text             NOT NULL,
    CONSTRAINT bars_pkey PRIMARY KEY (symbol, timeframe, ts),
    CONSTRAINT bars_range CHECK (low <= high AND volume >= 0)
);
-- Time-range scans across symbols (daily jobs, dbt, maintenance): tiny BRIN index.
CREATE INDEX IF NOT EXISTS bars_ts_brin ON bars USING brin (ts);

CREATE TABLE IF NOT EXISTS quarantine (
    id             bigserial        PRIMARY KEY,
    symbol         text,
    timeframe      text,
    ts             timestamptz,
    open           double precision,
    high           double precision,
    low            double precision,
    close          double precision,
    volume         double precision,
    trade_count    bigint,
    vwap           double precision,
    source         text,
    reason         text             NOT NULL,
    quarantined_at timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS quarantine_at_idx ON quarantine (quarantined_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS quarantine_symbol_idx ON quarantine (symbol, quarantined_at DESC, id DESC);

CREATE TABLE IF NOT EXISTS symbols (
    symbol     text        PRIMARY KEY,
    active     boolean     NOT NULL DEFAULT true,
    added_at   timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
