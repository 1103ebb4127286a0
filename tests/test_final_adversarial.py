"""Final adversarial review of the newest pieces: Workers (turns), IdSuggester (time bound).

Each test fails on the code it was written against; the docstrings say why.
"""

from __future__ import annotations

import asyncio
import difflib
import random
import threading
from typing import TYPE_CHECKING, Any

from nanogpt_images import _problems as problems_module
from nanogpt_images._pace import Workers
from nanogpt_images._problems import IdSuggester

if TYPE_CHECKING:
    import pytest


async def test_a_cancelled_run_keeps_its_turn_until_its_thread_ends() -> None:
    """Workers.run promises "one piece at a time", but a cancelled run gives up its turn at once.

    A thread cannot be cancelled: the awaiting task ends, the ``asyncio.Lock`` is
    released, and the next ``run`` starts a second thread while the first one
    still works - the two busy threads the turns exist to prevent.  close() does
    exactly this: it cancels the cache's fetch (a big read in a thread) and a
    retire task waiting for the turn takes it and starts its diff alongside.
    """
    workers = Workers()
    first_started = threading.Event()
    first_may_end = threading.Event()
    first_ended = threading.Event()

    def first() -> None:
        first_started.set()
        # Fixed code never lets second() run before this ends: give up waiting then.
        first_may_end.wait(2.0)
        first_ended.set()

    def second() -> bool:
        overlapped = not first_ended.is_set()
        first_may_end.set()
        return overlapped

    running = asyncio.create_task(workers.run(first))
    await asyncio.to_thread(first_started.wait, 5.0)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    overlapped = await workers.run(second)
    first_may_end.set()
    await workers.stop(5.0)
    assert not overlapped, "a second piece of work ran while the cancelled one's thread still ran"


def _hostile_ids(length: int, count: int = 10_000) -> tuple[list[str], str]:
    """Ids of ``length`` distinct characters (no junk for difflib's autojunk), all alike."""
    rng = random.Random(1)
    alphabet = [chr(0x4E00 + i) for i in range(20_000)]
    base = rng.sample(alphabet, length)
    ids = []
    for i in range(count):
        chars = base[:]
        chars[rng.randrange(length)] = alphabet[(i * 7) % len(alphabet)]
        ids.append("".join(chars) + str(i))
    word = "".join([*base[: length // 2], "#", *base[length // 2 :]])
    return ids, word


def test_a_miss_in_a_hostile_catalog_compares_a_bounded_amount(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """IdSuggester bounds how many ids are scored (3 x 128) *and* how much of each.

    difflib's ratio is quadratic-ish in an id's length when no character is
    common enough for autojunk: 10,000 such 1,000-character ids made a miss
    take 120 ms (294 ms at 2,000).  Only COMPARED characters are compared now
    (the time is a benchmark's to report, not a test's to assert).
    """
    ids, word = _hostile_ids(1_000)
    suggester = IdSuggester(ids)
    seen: list[tuple[str, list[str]]] = []
    close_matches = difflib.get_close_matches

    def recording(word: str, candidates: Any, *args: Any, **kwargs: Any) -> list[str]:
        seen.append((word, list(candidates)))
        return close_matches(word, candidates, *args, **kwargs)

    monkeypatch.setattr(problems_module.difflib, "get_close_matches", recording)
    suggester(word)
    [(compared, candidates)] = seen
    assert len(compared) == IdSuggester.COMPARED
    assert len(candidates) <= max(IdSuggester.EXACT_UP_TO, 3 * 2 * IdSuggester.NEAR)
    assert max(map(len, candidates)) <= IdSuggester.COMPARED
