"""The FastAPI service of jonbu-ohlcv: REST, WebSocket fan-out, auth, rate limits, metrics.

:func:`jonbu_api.main.create_app` builds the app.
"""

__version__ = "0.1.0"
