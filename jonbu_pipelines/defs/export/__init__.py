"""Export definitions: candle narratives, their embeddings in LanceDB, training sets."""
