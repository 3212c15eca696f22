"""Opening an X archive wherever it is: a zip, an unzipped folder, or one data ``.js`` file.

An :class:`ArchiveSource` lists the archive's members by name (always with ``/`` separators,
relative to the container) and reads one member at a time. Zips are read member by member
with :mod:`zipfile`, never extracted to disk; unsafe member names (zip-slip) and absurd
compression ratios (zip bombs) are refused before anything is read.

The *root* is the prefix in front of ``data/`` (empty, or a wrapper folder such as
``twitter-2024-01-01-abc/``), found from ``data/manifest.js`` by suffix, else from the first
member under a ``data/`` folder.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import zipfile
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from departures.errors import ArchiveError

# A real archive's JSON compresses about 5-20 times; a zip bomb about 1000 times.
MAX_COMPRESSION_RATIO = 100
# Small members may compress absurdly well (a file of blanks) without harm.
RATIO_CHECK_MIN_BYTES = 1 << 20

# Blocks handed out by ArchiveSource.open_stream (inflated bytes, for a zip); measured on a
# 300,000-tweet zip, 256 KiB blocks cost less CPU than 1 or 4 MB (they stay in the cache).
STREAM_BLOCK = 1 << 18

_REDOWNLOAD = "Download the archive again from X (Settings > Your account > Download an archive)"


# A member in a media folder of the archive's data folder (``data/tweets_media/...``).
_MEDIA_MEMBER = re.compile(r"(?:^|/)data/[^/]*_media/")


def _media_key(name: str) -> int:
    # Deterministic (unlike hash()), so an index built in one process answers in another.
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little") - (
        1 << 63
    )


class MediaIndex:
    """Which media files an archive holds, in 8 bytes per file.

    An archive of a million tweets holds a couple of hundred thousand media files: their
    names as a set of strings would cost tens of MB and make the import's memory grow with
    the archive. A sorted array of 64-bit digests answers the same question (a false "yes"
    needs a digest collision, about one chance in 10^14 for such an archive).
    """

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._keys = array("q", sorted(_media_key(name) for name in names))

    @classmethod
    def of_keys(cls, keys: array[int]) -> MediaIndex:
        """The index of names already digested with :func:`_media_key` (in any order)."""
        index = cls()
        index._keys = array("q", sorted(keys))
        return index

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = _media_key(name)
        at = bisect_left(self._keys, key)
        return at < len(self._keys) and self._keys[at] == key

    def __len__(self) -> int:
        return len(self._keys)


def _is_unsafe_name(name: str) -> bool:
    """True for member names that would escape the extraction folder (zip-slip)."""
    if name.startswith(("/", "\\")) or "\\" in name or (len(name) > 1 and name[1] == ":"):
        return True
    return ".." in PurePosixPath(name).parts


class ArchiveSource:
    """One archive container: a zip file, a folder, or a single data file."""

    kind: str  # "zip", "dir" or "file"

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.display = str(path)

    def names(self) -> list[str]:
        """Every member (file) name, relative to the container, with ``/`` separators.

        Files in the media folders (``data/*_media/``) are not listed: ask
        :meth:`media_index` whether one is there.
        """
        raise NotImplementedError

    def media_index(self) -> MediaIndex:
        """The files of the archive's media folders (``data/tweets_media/`` ...)."""
        return MediaIndex()

    def read(self, name: str) -> bytes:
        """The bytes of member ``name``."""
        raise NotImplementedError

    def read_buffer(self, name: str) -> bytearray:
        """The bytes of member ``name`` in a buffer the caller may change (see ytd)."""
        return bytearray(self.read(name))

    def open_stream(self, name: str) -> Iterator[bytes]:
        """The bytes of member ``name`` in blocks of about ``STREAM_BLOCK`` (a generator).

        For a zip this inflates as it goes, so a 100 MB member is never in memory whole;
        faults (a corrupt stream, a bad checksum, a lying header) raise ArchiveError when
        they are met, which may be after some blocks were handed out.
        """
        data = self.read(name)
        for start in range(0, len(data), STREAM_BLOCK):
            yield data[start : start + STREAM_BLOCK]

    def exists(self, name: str) -> bool:
        """Whether member ``name`` exists."""
        raise NotImplementedError

    def local_file(self, name: str) -> Path | None:
        """The file on disk that holds member ``name`` as is (not in a zip), else None."""
        return None

    def size(self, name: str) -> int:
        """The (uncompressed) size of member ``name`` in bytes."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the container (the zip file handle)."""

    def find_root(self) -> str:
        """The prefix in front of ``data/``: ``""`` or a wrapper folder ending in ``/``."""
        names = self.names()
        manifests = [n for n in names if n.endswith("data/manifest.js")]
        if manifests:
            # The shortest one: a wrapper may hold stray copies deeper down.
            best = min(manifests, key=len)
            return best[: -len("data/manifest.js")]
        for name in sorted(names, key=len):
            index = name.find("data/")
            if index == 0 or (index > 0 and name[index - 1] == "/"):
                return name[:index]
        return ""


# What zipfile raises on a damaged member (RuntimeError: an encrypted one).
_ZIP_FAULTS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError)


class _MembersKept(list[zipfile.ZipInfo]):
    """zipfile's list of members, keeping all but the media files (see _LeanZipFile)."""

    def __init__(self, owner: _LeanZipFile) -> None:
        super().__init__()
        self._owner = owner

    def append(self, info: zipfile.ZipInfo) -> None:
        self._owner.saw(info.filename)
        if not _MEDIA_MEMBER.search(info.filename):
            super().append(info)


class _NamesKept(dict[str, zipfile.ZipInfo]):
    """zipfile's member lookup by name, without the media files (see _LeanZipFile)."""

    def __setitem__(self, name: str, info: zipfile.ZipInfo) -> None:
        if not _MEDIA_MEMBER.search(name):
            super().__setitem__(name, info)


class _LeanZipFile(zipfile.ZipFile):
    """A ZipFile that keeps no entry for the archive's media files, even while it opens.

    zipfile builds a ZipInfo (some 500 bytes) for every member of the central directory: for
    the ~180,000 media files of a million-tweet archive, ~120 MB at once, which would be the
    import's peak. The media files are only ever looked up by name, so their entries are
    dropped as they are read (only a 64-bit digest each is kept, for the MediaIndex), and
    the other members are kept as zipfile keeps them.
    """

    unsafe_name: str | None = None

    def _RealGetContents(self) -> None:
        # zipfile fills these two with every entry it reads from the central directory.
        self.media_keys = array("q")
        self.filelist = _MembersKept(self)
        self.NameToInfo = _NamesKept()
        super()._RealGetContents()  # type: ignore[misc]

    def saw(self, name: str) -> None:
        """Note one member read from the central directory (its name checked, media kept)."""
        if self.unsafe_name is None and _is_unsafe_name(name):
            self.unsafe_name = name
        if _MEDIA_MEMBER.search(name) and not name.endswith("/"):
            self.media_keys.append(_media_key(name))


class ZipSource(ArchiveSource):
    """A zip archive, read member by member."""

    kind = "zip"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        try:
            self._zip = _LeanZipFile(self.path)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise ArchiveError(
                f"{self.display} is not a readable zip file (corrupt or truncated: {exc})",
                _REDOWNLOAD + ", or unzip it and pass the folder",
            ) from exc
        if self._zip.unsafe_name is not None:
            self._zip.close()
            raise ArchiveError(
                f"{self.display} contains an unsafe file name '{self._zip.unsafe_name}' that "
                "points outside the archive",
                "This is not an archive made by X; download yours again from X",
            )
        self._media = MediaIndex.of_keys(self._zip.media_keys)
        self._zip.media_keys = array("q")
        self._infos = {info.filename: info for info in self._zip.infolist() if not info.is_dir()}

    def names(self) -> list[str]:
        return list(self._infos)

    def media_index(self) -> MediaIndex:
        return self._media

    def exists(self, name: str) -> bool:
        return name in self._infos

    def size(self, name: str) -> int:
        return self._infos[name].file_size

    def _checked_info(self, name: str) -> zipfile.ZipInfo:
        """The member's entry, refused when its header announces a zip bomb."""
        info = self._infos[name]
        if info.file_size >= RATIO_CHECK_MIN_BYTES and info.file_size > MAX_COMPRESSION_RATIO * max(
            info.compress_size, 1
        ):
            ratio = info.file_size // max(info.compress_size, 1)
            raise ArchiveError(
                f"{self.display}: member {name} expands {ratio} times (a zip bomb?)",
                "This is not an archive made by X; download yours again from X",
            )
        return info

    def _unreadable(self, name: str, exc: BaseException) -> ArchiveError:
        return ArchiveError(
            f"{self.display}: member {name} cannot be read (corrupt or truncated zip: {exc})",
            _REDOWNLOAD + ", or unzip it and pass the folder",
        )

    def _too_large(self, name: str) -> ArchiveError:
        return ArchiveError(
            f"{self.display}: member {name} is larger than its zip header says",
            "This is not an archive made by X; download yours again from X",
        )

    def read(self, name: str) -> bytes:
        info = self._checked_info(name)
        try:
            with self._zip.open(info) as member:
                # Read at most one byte more than declared: a lying header cannot make us
                # inflate without bound.
                data = member.read(info.file_size + 1)
        except _ZIP_FAULTS as exc:
            raise self._unreadable(name, exc) from exc
        if len(data) > info.file_size:
            raise self._too_large(name)
        return data

    def open_stream(self, name: str) -> Iterator[bytes]:
        info = self._checked_info(name)
        left = info.file_size + 1  # one byte more than declared: see read()
        try:
            with self._zip.open(info) as member:
                while left > 0:
                    # zipfile inflates with zlib's streaming decompressor, a block at a
                    # time: only this block is in memory, whatever the member's size.
                    block = member.read(min(STREAM_BLOCK, left))
                    if not block:
                        return
                    left -= len(block)
                    if left <= 0:
                        raise self._too_large(name)
                    yield block
        except _ZIP_FAULTS as exc:
            raise self._unreadable(name, exc) from exc

    def close(self) -> None:
        self._zip.close()


class DirSource(ArchiveSource):
    """An unzipped archive folder (with or without a wrapper folder)."""

    kind = "dir"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._names: list[str] | None = None
        self._media_dirs: list[str] = []

    def names(self) -> list[str]:
        if self._names is None:
            found: list[str] = []
            media_dirs: list[str] = []
            for dirpath, dirnames, filenames in os.walk(self.path):
                rel = os.path.relpath(dirpath, self.path)
                prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
                # Skip the offline viewer's assets (thousands of files we never read) and
                # the media folders (listed only when asked, see media_index).
                keep = []
                for name in dirnames:
                    if name == "assets":
                        continue
                    if name.endswith("_media") and (rel == "data" or rel.endswith("/data")):
                        media_dirs.append(prefix + name + "/")
                        continue
                    keep.append(name)
                dirnames[:] = keep
                found.extend(prefix + f for f in filenames)
            self._names = found
            self._media_dirs = media_dirs
        return self._names

    def media_index(self) -> MediaIndex:
        self.names()
        return MediaIndex(self._media_files())

    def _media_files(self) -> Iterable[str]:
        for folder in self._media_dirs:
            with os.scandir(self.path / folder) as entries:
                for entry in entries:
                    if entry.is_file():
                        yield folder + entry.name

    def exists(self, name: str) -> bool:
        if self._names is not None:
            return name in self._name_set()
        return (self.path / name).is_file()

    def size(self, name: str) -> int:
        try:
            return (self.path / name).stat().st_size
        except OSError:
            return 0

    def local_file(self, name: str) -> Path | None:
        return self.path / name

    def _name_set(self) -> set[str]:
        cached: set[str] | None = getattr(self, "_set", None)
        if cached is None:
            cached = set(self.names())
            self._set = cached
        return cached

    def read(self, name: str) -> bytes:
        try:
            return (self.path / name).read_bytes()
        except OSError as exc:
            raise ArchiveError(
                f"{self.path / name} cannot be read ({exc.strerror or exc})",
                "Check the file's permissions, or unzip the archive again",
            ) from exc

    def read_buffer(self, name: str) -> bytearray:
        try:
            return _read_into_buffer(self.path / name)
        except OSError as exc:
            raise ArchiveError(
                f"{self.path / name} cannot be read ({exc.strerror or exc})",
                "Check the file's permissions, or unzip the archive again",
            ) from exc


class FileSource(ArchiveSource):
    """A single data file such as ``tweets.js`` or ``following.js``."""

    kind = "file"

    def names(self) -> list[str]:
        return [self.path.name]

    def exists(self, name: str) -> bool:
        return name == self.path.name

    def find_root(self) -> str:
        return ""

    def local_file(self, name: str) -> Path | None:
        return self.path

    def size(self, name: str) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def read(self, name: str) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise ArchiveError(
                f"{self.path} cannot be read ({exc.strerror or exc})",
                "Check the file's permissions",
            ) from exc

    def read_buffer(self, name: str) -> bytearray:
        try:
            return _read_into_buffer(self.path)
        except OSError as exc:
            raise ArchiveError(
                f"{self.path} cannot be read ({exc.strerror or exc})",
                "Check the file's permissions",
            ) from exc


def _read_into_buffer(path: Path) -> bytearray:
    """The whole file in one bytearray, read in place (no second copy of a 100 MB part)."""
    with path.open("rb") as file:
        size = os.fstat(file.fileno()).st_size
        buffer = bytearray(size)
        got = file.readinto(buffer)
        if got < size:
            del buffer[got:]  # the file shrank while we read it
        rest = file.read()
    if rest:
        buffer += rest  # ... or grew
    return buffer


def open_source(path: Path) -> ArchiveSource:
    """Open the archive at ``path`` (zip, folder or one ``.js`` file) or raise ArchiveError."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        raise ArchiveError(
            f"{path} does not exist",
            "Pass the path of the zip X sent you, its unzipped folder, or one data .js file",
        ) from exc
    except OSError as exc:
        raise ArchiveError(
            f"{path} cannot be opened ({exc.strerror or exc})", "Check the path and its permissions"
        ) from exc
    if stat.S_ISDIR(mode):
        return DirSource(path)
    if path.suffix.lower() == ".js":
        return FileSource(path)
    if zipfile.is_zipfile(path) or path.suffix.lower() == ".zip":
        return ZipSource(path)
    raise ArchiveError(
        f"{path} is neither a zip file, a folder, nor a data .js file",
        "Pass the zip X sent you, its unzipped folder, or one data .js file such as tweets.js",
    )
