"""bluesky part of departures."""
