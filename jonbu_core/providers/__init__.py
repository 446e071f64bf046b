"""Market-data providers: the history port, the mock market and Alpaca."""
