-- 1h bars rolled up from the lake's 1m bars (Parquet under $JONBU_DATA_DIR/dbt/marts).
{{ rollup_bars('1h') }}
