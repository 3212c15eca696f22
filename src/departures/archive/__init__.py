"""archive part of departures."""
