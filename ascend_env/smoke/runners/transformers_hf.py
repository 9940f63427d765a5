"""transformers: the high-level path users call -- ``AutoModelForCausalLM.from_pretrained`` + ``generate``.

Greedy (``do_sample=False``), ``max_new_tokens = min_new_tokens = n`` (EOS does not stop it). The clock is a streamer
whose ``put()`` stamps the time: the first put is the prompt, each later one a new token (already copied to the host,
so the device is synchronised). Tokenizer: ``AutoTokenizer.from_pretrained`` (needs sentencepiece + protobuf for a
``tokenizer.model``); if it cannot load, the checkpoint's ``tokenizer.model`` is read directly and a note says so.
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any

from ..checkpoint import ModelDir
from ..devices import dist_version, installed
from ..errors import RunnerUnavailable, SmokeFailed
from .base import Availability, Generation
from .torch_direct import TorchRunner, compute_dtype, prepare_torch


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:2])


def npu_import_trap(exc: BaseException) -> str | None:
    """The diagnosis when transformers failed because it imports an unloadable torch_npu (it does so whenever
    torch_npu is installed: ``is_torch_npu_available``)."""
    text = f"{type(exc).__name__}: {exc}"
    if not installed("torch_npu") or not any(s in text for s in ("torch_npu", "libhccl", "libascend", ".so")):
        return None
    return (f"transformers imports torch_npu whenever it is installed, and torch_npu cannot load here ({text.strip()}) "
            "-- source CANN's set_env.sh, use --runner direct (which keeps torch_npu out of the CPU path), or use a "
            "venv without torch_npu; `python -m ascend_env doctor` checks CANN")


class TransformersRunner(TorchRunner):
    name = "transformers"
    framework = "torch"
    kind = "transformers"
    path_description = "transformers AutoModelForCausalLM.from_pretrained + generate (greedy)"

    def availability(self) -> Availability:
        missing = [m for m in ("torch", "transformers") if not installed(m)]
        if missing:
            return Availability(False, f"{' and '.join(missing)} not installed: pip install {' '.join(missing)} "
                                       "(torch at the version of this stack: `python -m ascend_env matrix resolve "
                                       "--framework torch`)")
        versions = {"torch": dist_version("torch") or "?", "transformers": dist_version("transformers") or "?"}
        note = "" if installed("sentencepiece") and installed("google.protobuf") else \
            "AutoTokenizer needs sentencepiece and protobuf for tokenizer.model; without them the smoke run " \
            "reads tokenizer.model itself"
        return Availability(True, note, versions)

    def prepare(self, device: str) -> str:
        prepare_torch(self, device)
        try:
            import transformers
            from transformers import AutoModelForCausalLM, AutoTokenizer
            from transformers.generation.streamers import BaseStreamer
        except Exception as e:
            trap = npu_import_trap(e)
            if trap:
                raise RunnerUnavailable(trap) from None
            raise RunnerUnavailable(f"transformers cannot be imported: {type(e).__name__}: {e}") from None
        with contextlib.suppress(Exception):  # the "Loading weights" bar is noise in a smoke report
            transformers.utils.logging.disable_progress_bar()
        self.transformers, self.auto_model, self.auto_tok = transformers, AutoModelForCausalLM, AutoTokenizer
        self.streamer_base = BaseStreamer
        self.versions["transformers"] = transformers.__version__
        return self.device

    def load(self, model: ModelDir) -> None:
        torch = self.torch
        dtype = compute_dtype(torch, self.device, model.config)
        key = "dtype" if _version_tuple(self.transformers.__version__) >= (4, 56) else "torch_dtype"
        try:
            net = self.auto_model.from_pretrained(str(model.path), **{key: dtype})
        except Exception as e:
            trap = npu_import_trap(e)
            if trap:
                raise RunnerUnavailable(trap) from None
            raise SmokeFailed(f"transformers from_pretrained({model.path}) failed: {type(e).__name__}: {e}") from None
        self.net = net.to(self.device).eval()
        self.versions["dtype"] = str(dtype).replace("torch.", "")
        self.hf_tok = None
        try:
            self.hf_tok = self.auto_tok.from_pretrained(str(model.path))
            self.versions["tokenizer"] = f"transformers {type(self.hf_tok).__name__}"
        except Exception as e:
            self.notes.append(f"AutoTokenizer could not load ({type(e).__name__}: {str(e).splitlines()[0][:160]}); "
                              "tokenizer.model read directly")
            self.load_tokenizer(model)

    def encode(self, text: str) -> list[int]:
        if self.hf_tok is None:
            return super().encode(text)
        return list(self.hf_tok(text)["input_ids"])

    def decode(self, ids: list[int]) -> str:
        if self.hf_tok is None:
            return super().decode(ids)
        return self.hf_tok.decode(ids, skip_special_tokens=True)

    def generate(self, prompt_ids: list[int], n: int) -> Generation:
        torch = self.torch
        stamps: list[float] = []

        class Stamps(self.streamer_base):  # type: ignore[name-defined]  # a transformers class, known at run time
            def put(self, value: Any) -> None:
                stamps.append(time.perf_counter())

            def end(self) -> None:
                pass

        ids = torch.tensor([prompt_ids], device=self.device)
        eos = self.net.config.eos_token_id
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = self.net.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=n,
                                    min_new_tokens=n, streamer=Stamps(), pad_token_id=eos if eos is not None else 0)
        new = [int(i) for i in out[0, len(prompt_ids):].tolist()]
        token_stamps = [s - t0 for s in stamps[1:]]  # stamps[0] is the prompt
        if len(token_stamps) != len(new):
            token_stamps = (token_stamps + [time.perf_counter() - t0] * len(new))[:len(new)]
        return Generation(new, token_stamps)
