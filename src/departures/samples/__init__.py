"""Sample data the project writes for itself: the demo's, the tests' and the benchmarks'.

Nothing here is read by the import: :mod:`departures.samples.x_archive` WRITES archives laid
out as X lays them out, which :mod:`departures.archive` then reads like any other.
"""
