"""The disk buffer on real SQLite files: order, the byte bound, set-aside batches, crashes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fireroom.errors import SpoolError
from gateway.influx import DiskBuffer, compress, decompress


def body(n: int, size: int = 100) -> bytes:
    return f"{n:06d}".encode().ljust(size, b".")


def test_batches_come_out_oldest_first_and_stay_until_removed(tmp_path: Path) -> None:
    buffer = DiskBuffer(tmp_path / "b.sqlite3", max_bytes=10_000)
    buffer.append([(body(1), 10), (body(2), 20)])
    buffer.append([(body(3), 30)])
    first = buffer.peek(2)
    assert [b.body for b in first] == [body(1), body(2)]
    assert [b.points for b in first] == [10, 20]
    assert buffer.peek(1)[0].id == first[0].id  # peeking takes nothing
    assert buffer.remove(first[0].id)
    assert not buffer.remove(first[0].id)
    assert [b.body for b in buffer.peek(10)] == [body(2), body(3)]
    counts = buffer.counts()
    assert (counts.batches, counts.points, counts.bytes) == (2, 50, 200)
    buffer.close()


def test_ids_keep_growing_after_the_buffer_empties(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite3"
    buffer = DiskBuffer(path, max_bytes=10_000)
    buffer.append([(body(1), 1)])
    old = buffer.peek()[0].id
    buffer.remove(old)
    buffer.close()
    buffer = DiskBuffer(path, max_bytes=10_000)
    buffer.append([(body(2), 1)])
    assert buffer.peek()[0].id > old
    buffer.close()


def test_a_full_buffer_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    buffer = DiskBuffer(tmp_path / "b.sqlite3", max_bytes=1000)
    for n in range(7):
        dropped = buffer.append([(body(n), 5)])
        assert dropped.batches == 0
    dropped = buffer.append([(body(7), 5), (body(8), 5), (body(9), 5), (body(10), 5)])
    # 11 batches of 100 bytes into 1000: the single oldest goes.
    assert (dropped.batches, dropped.points, dropped.bytes) == (1, 5, 100)
    dropped = buffer.append([(body(11, 350), 70)])
    assert (dropped.batches, dropped.points) == (4, 20)  # 1000 - 350 leaves room for 6
    kept = buffer.peek(100)
    assert [b.body[:6] for b in kept] == [f"{n:06d}".encode() for n in (5, 6, 7, 8, 9, 10, 11)]
    counts = buffer.counts()
    assert counts.bytes == 950
    assert counts.bytes <= buffer.max_bytes
    assert counts.points == 6 * 5 + 70
    buffer.close()


def test_a_batch_larger_than_the_bound_is_dropped_not_stored(tmp_path: Path) -> None:
    buffer = DiskBuffer(tmp_path / "b.sqlite3", max_bytes=500)
    buffer.append([(body(1), 1)])
    dropped = buffer.append([(body(2, 600), 9)])
    assert (dropped.batches, dropped.points, dropped.bytes) == (1, 9, 600)
    assert [b.body for b in buffer.peek(10)] == [body(1)]  # nothing made room for it in vain
    buffer.close()


def test_rejected_batches_are_set_aside_and_bounded(tmp_path: Path) -> None:
    buffer = DiskBuffer(tmp_path / "b.sqlite3", max_bytes=10_000, max_rejected_bytes=250)
    buffer.append([(body(n), 1) for n in range(4)])
    for batch in buffer.peek(3):
        assert buffer.reject(batch, f"bad {batch.body[:6].decode()}")
    assert [b.body for b in buffer.peek(10)] == [body(3)]
    aside = buffer.rejected()
    # 300 bytes were set aside into 250: the oldest went.
    assert [reason for _, reason in aside] == ["bad 000001", "bad 000002"]
    counts = buffer.counts()
    assert (counts.batches, counts.rejected_batches, counts.rejected_bytes) == (1, 2, 200)
    buffer.close()


def test_counts_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite3"
    buffer = DiskBuffer(path, max_bytes=10_000, now=lambda: 1234.5)
    buffer.append([(body(1), 3), (body(2), 4)])
    buffer.close()
    again = DiskBuffer(path, max_bytes=10_000)
    counts = again.counts()
    assert (counts.batches, counts.points, counts.bytes, counts.oldest) == (2, 7, 200, 1234.5)
    again.close()


def test_a_killed_process_loses_no_committed_batch(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite3"
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from gateway.influx import DiskBuffer, compress
        buffer = DiskBuffer(Path({str(path)!r}), max_bytes=100_000_000)
        for n in range(200):
            buffer.append([(compress(("line %d" % n).encode()), 1)])
        print("stored", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60,
                            check=False, cwd=Path(__file__).resolve().parents[3])
    assert result.returncode == -9, result.stderr.decode()
    assert result.stdout == b"stored\n"
    assert (tmp_path / "b.sqlite3-wal").exists()  # the kill left an uncheckpointed WAL
    buffer = DiskBuffer(path, max_bytes=100_000_000)
    batches = buffer.peek(1000)
    assert [decompress(b.body) for b in batches] == [f"line {n}".encode() for n in range(200)]
    assert buffer.counts().points == 200
    buffer.close()


def test_gzip_round_trip() -> None:
    data = b"reading,site=a value=1.0 1\n" * 1000
    packed = compress(data)
    assert packed[:2] == b"\x1f\x8b"
    assert len(packed) < len(data) // 10
    assert decompress(packed) == data


def test_an_unusable_path_is_a_spool_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(SpoolError, match="cannot open"):
        DiskBuffer(tmp_path / "file" / "b.sqlite3", max_bytes=1000)
