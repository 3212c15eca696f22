"""migrate part of departures."""
