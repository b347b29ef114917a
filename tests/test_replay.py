"""Tests for aiodtls.record.replay: the per-epoch anti-replay window (SPEC A1–A3, §5 vectors)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiodtls.record.replay import ReplayWindow

BASE = 0xABCD12340000


def window_with(*seen: int, size: int = 64) -> ReplayWindow:
    """A window in which every number of ``seen`` was accepted, in the given order."""
    window = ReplayWindow(size)
    for seq in seen:
        window.mark(seq)
    return window


# -- mbedTLS ``ssl_dtls_replay`` (SPEC §5, window 64) -------------------------------------------

MBEDTLS_REPLAY_CASES = [
    # (already seen, new, is a replay)
    ((), 0x000000000000, False),
    ((0,), 0, True),
    ((BASE, BASE + 0x01, BASE + 0x03), BASE + 0x02, False),
    ((BASE, BASE + 0x01, BASE + 0x03), BASE + 0x03, True),
    ((BASE, BASE + 0x01, BASE + 0x3F), BASE + 0x00, True),
    ((BASE + 0x01, BASE + 0x02, BASE + 0x3F), BASE + 0x00, False),
    ((BASE + 0x01, BASE + 0x02, BASE + 0x3F), 0xABCD1233FFFF, True),
    ((BASE, BASE + 0x100), 0xABCD123400FF, False),
    ((BASE, BASE + 0x100), BASE + 0x100, True),
]


@pytest.mark.parametrize(("seen", "new", "replay"), MBEDTLS_REPLAY_CASES)
def test_mbedtls_replay_vectors(seen: tuple[int, ...], new: int, replay: bool) -> None:
    """mbedTLS ``ssl_dtls_replay`` table: seen ⇒ new ⇒ accept or reject (A1)."""
    assert window_with(*seen).is_replay(new) is replay


# -- OpenSSL ``bad_dtls_test.c`` sequence (SPEC §5, in order) -----------------------------------

OPENSSL_REPLAY_SEQUENCE: list[tuple[int, bool]] = [
    # (sequence number, must drop)
    (1, False),
    (3, False),
    (2, False),
    (0x1234, False),
    (0x1230, False),
    (0x1235, False),
    (0xFFFF, False),
    (0x10001, False),
    (0xFFFE, False),
    (0x10000, False),
    (0x10001, True),
    (0xFF, True),
    (0x100000, False),
    (0x800000, False),
    (0x7FFFE1, False),
    (0xFFFFFF, False),
    (0x1000000, False),
    (0xFFFFFE, False),
    (0xFFFFFF, True),
    (0x1000010, False),
    (0xFFFFFD, False),
    (0x1000011, False),
    (0x12, True),
    (0x1000012, False),
    (0x1FFFFFF, False),
    (0x2000000, False),
    (0x1FF00FE, True),
    (0x2000001, False),
    (0x20FFFFF, False),
    (0x2105500, False),
    (0x20FFFFE, True),
    (0x21054FF, False),
    (0x211FFFF, False),
    (0x2110000, True),
    (0x2120000, False),
]


@pytest.mark.parametrize("size", [32, 64, 128])
def test_openssl_bad_dtls_replay_sequence(size: int) -> None:
    """Each number accepted is marked before the next; D entries must be dropped (A1)."""
    window = ReplayWindow(size)
    for seq, must_drop in OPENSSL_REPLAY_SEQUENCE:
        assert window.is_replay(seq) is must_drop, hex(seq)
        if not must_drop:
            window.mark(seq)


# -- A1: size and sliding ----------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 16, 31])
def test_window_smaller_than_32_is_refused(size: int) -> None:
    """RFC 6347 §4.1.2.6 requires at least 32 (A1)."""
    with pytest.raises(ValueError):
        ReplayWindow(size)


@pytest.mark.parametrize("size", [32, 64, 100])
def test_window_covers_exactly_size_numbers(size: int) -> None:
    """Offsets 1..size-1 below the top are tracked; offset size is left of the window (A1)."""
    top = 1000
    window = window_with(top, size=size)
    assert not window.is_replay(top - (size - 1))
    assert window.is_replay(top - size)
    assert window.is_replay(0)


def test_default_window_is_64() -> None:
    """The default window holds 64 numbers (A1: SHOULD 64)."""
    window = window_with(200)
    assert not window.is_replay(200 - 63)
    assert window.is_replay(200 - 64)


def test_fresh_window_accepts_zero() -> None:
    """Nothing accepted yet: every number, 0 included, is new."""
    window = ReplayWindow()
    assert not window.is_replay(0)
    assert not window.is_replay((1 << 48) - 1)


def test_duplicate_is_a_replay() -> None:
    """An accepted number is a replay forever after, while in the window (A1)."""
    window = window_with(5, 7, 6)
    for seq in (5, 6, 7):
        assert window.is_replay(seq)
    assert not window.is_replay(4)
    assert not window.is_replay(8)


def test_window_slides_to_the_right() -> None:
    """A new highest number moves the window; old numbers fall off its left edge (A1)."""
    window = window_with(10)
    window.mark(10 + 64)
    assert window.is_replay(10)  # now exactly 64 below the top: left of the window
    assert not window.is_replay(11)
    assert window.is_replay(74)


def test_sliding_keeps_earlier_bits() -> None:
    """After a slide, numbers seen before are still known inside the window."""
    window = window_with(1, 3)
    window.mark(40)
    assert window.is_replay(1)
    assert window.is_replay(3)
    assert not window.is_replay(2)
    assert not window.is_replay(39)


def test_mark_left_of_window_changes_nothing() -> None:
    """Marking a number far to the left does not corrupt the bitmap."""
    window = window_with(1000)
    window.mark(3)
    assert window.is_replay(3)  # still left of the window
    assert not window.is_replay(999)
    assert window.is_replay(1000)


# -- A2: only mark moves the window ---------------------------------------------------------


def test_is_replay_does_not_move_the_window() -> None:
    """Asking about a far-future number leaves the window where it was (A2)."""
    window = window_with(0, 1, 2)
    assert not window.is_replay((1 << 48) - 2)
    assert not window.is_replay(3)
    assert window.is_replay(2)


def test_is_replay_never_marks() -> None:
    """Asking twice about the same new number says new both times (A2)."""
    window = window_with(10)
    assert not window.is_replay(11)
    assert not window.is_replay(11)
    window.mark(11)
    assert window.is_replay(11)


# -- reference model --------------------------------------------------------------------------


@given(
    size=st.sampled_from([32, 64, 96]),
    operations=st.lists(st.tuples(st.booleans(), st.integers(0, 400)), max_size=120),
)
@settings(max_examples=150)
def test_window_agrees_with_a_set_model(size: int, operations: list[tuple[bool, int]]) -> None:
    """is_replay equals "seen, or at least size below the highest seen" for any history."""
    window = ReplayWindow(size)
    seen: set[int] = set()
    for do_mark, seq in operations:
        top = max(seen, default=-1)
        expected = seq <= top and (top - seq >= size or seq in seen)
        assert window.is_replay(seq) is expected
        if do_mark:
            window.mark(seq)
            seen.add(seq)


# -- large jumps ------------------------------------------------------------------------------


def test_mark_accepts_a_jump_to_the_last_sequence_number() -> None:
    """A jump to the top of the 48-bit space just resets the window (A1).

    Regression: before 685f08a mark() shifted the bitmap by the whole jump and raised
    MemoryError here.
    """
    window = window_with(0)
    window.mark((1 << 48) - 2)
    assert window.is_replay((1 << 48) - 2)
    assert not window.is_replay((1 << 48) - 3)
    assert window.is_replay(0)
