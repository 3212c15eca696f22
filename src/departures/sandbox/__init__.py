"""sandbox part of departures."""
