"""audience part of departures."""
