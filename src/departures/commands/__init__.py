"""Click command groups, one module per part of the product; :mod:`departures.cli` joins them."""
