"""``departures migrate run/status/verify/undo``: the publisher's commands.

They attach themselves to the ``migrate`` group of :mod:`departures.commands.migrate`, which
imports this module at its end. (A stub until the publisher fills it.)
"""
