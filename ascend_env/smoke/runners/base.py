"""What every runner provides, and the greedy loop with its clock.

A runner: ``availability()`` (cheap: can it run here, and if not why and the fix), ``prepare(device)`` (import the
framework, pick the device), ``load(model_dir)``, ``generate(prompt_ids, n)`` -> :class:`Generation`, plus
``encode``/``decode`` (by default the checkpoint's ``tokenizer.model`` through :class:`~..tokenizer.Tokenizer`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..checkpoint import ModelDir
from ..errors import CheckpointError
from ..tokenizer import Tokenizer


@dataclass
class Availability:
    usable: bool
    reason: str = ""  # why not (and the fix), or a note when usable
    versions: dict = field(default_factory=dict)


@dataclass
class Generation:
    """The new token ids and the clock: stamps[i] = seconds from the start until new token i was known."""

    ids: list[int]
    stamps: list[float]

    @property
    def ttft_s(self) -> float:
        return self.stamps[0]

    @property
    def total_s(self) -> float:
        return self.stamps[-1]

    @property
    def decode_tok_s(self) -> float | None:
        """(n - 1) / (t_last - t_first): the incremental rate, first token excluded; None for n < 2."""
        if len(self.stamps) < 2 or self.stamps[-1] <= self.stamps[0]:
            return None
        return (len(self.stamps) - 1) / (self.stamps[-1] - self.stamps[0])


def greedy_loop(prefill: Callable[[list[int]], int], step: Callable[[int, int], int], prompt_ids: list[int],
                n: int) -> Generation:
    """Greedy decoding with min_new_tokens = max_new_tokens = n: EOS does not stop it.

    ``prefill(ids)`` runs the prompt and returns the first new token; ``step(token, position)`` feeds one token at
    ``position`` and returns the next. Both must return a host int (which synchronises any device).
    """
    t0 = time.perf_counter()
    tok = prefill(prompt_ids)
    ids, stamps = [tok], [time.perf_counter() - t0]
    pos = len(prompt_ids)
    while len(ids) < n:
        tok = step(tok, pos)
        pos += 1
        ids.append(tok)
        stamps.append(time.perf_counter() - t0)
    return Generation(ids, stamps)


def check_length(model: ModelDir, prompt_ids: list[int], n: int) -> None:
    total = len(prompt_ids) + n
    if total > model.spec.max_position_embeddings:
        raise CheckpointError(f"prompt ({len(prompt_ids)} tokens) + --max-new-tokens {n} = {total} exceeds the "
                              f"model's max_position_embeddings {model.spec.max_position_embeddings}: shorten them")


class Runner:
    """Base runner: subclasses set the names and implement availability/prepare/load/generate."""

    name = "?"
    framework = "?"
    kind = "direct"
    path_description = ""

    def __init__(self) -> None:
        self.device = "cpu"
        self.notes: list[str] = []
        self.versions: dict = {}
        self.tokenizer: Tokenizer | None = None
        self.max_len_hint = 0  # an upper bound of prompt + new tokens, for runners that size buffers at load

    def availability(self) -> Availability:  # pragma: no cover - overridden
        raise NotImplementedError

    def prepare(self, device: str) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def load(self, model: ModelDir) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def generate(self, prompt_ids: list[int], n: int) -> Generation:  # pragma: no cover - overridden
        raise NotImplementedError

    def load_tokenizer(self, model: ModelDir) -> None:
        self.tokenizer = Tokenizer(model.tokenizer)
        self.versions.setdefault("tokenizer", self.tokenizer.backend)

    def encode(self, text: str) -> list[int]:
        assert self.tokenizer is not None
        return self.tokenizer.encode(text)

    def decode(self, ids: list[int]) -> str:
        assert self.tokenizer is not None
        return self.tokenizer.decode(ids)
