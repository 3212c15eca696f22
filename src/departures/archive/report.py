"""What an import tells its caller: counts per kind of data, warnings, progress."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# progress(stage, done, total): stage is "tweets", "storing" or "linking"; total may be None.
Progress = Callable[[str, int, int | None], None]


@dataclass
class ImportWarning:
    """Something the import could not read or use, and the file it concerns."""

    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


@dataclass
class ImportReport:
    """What one import read: counts per kind of data, warnings, time taken."""

    source: str
    account_id: int | None = None
    username: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[ImportWarning] = field(default_factory=list)
    seconds: float = 0.0

    def warn(self, file: str, message: str) -> None:
        """Record a warning about ``file``."""
        self.warnings.append(ImportWarning(file, message))

    def add(self, key: str, amount: int) -> None:
        """Add ``amount`` to the count ``key``."""
        self.counts[key] = self.counts.get(key, 0) + amount
