"""Built-in exchanges. Each one registers itself with the ExchangeFactory here."""
