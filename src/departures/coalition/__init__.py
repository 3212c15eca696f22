"""coalition part of departures."""
