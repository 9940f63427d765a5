"""MindFormers (best effort): the high-level path MindSpore users call -- ``LlamaForCausalLM`` + ``generate``.

Built from the Hugging Face ``config.json``; the safetensors weights are renamed with MindFormers' own
``convert_weight.name_replace`` and loaded with ``load_param_into_net``; tokenizer: MindFormers' ``LlamaTokenizer``.
Verified with MindFormers 1.9.0 + MindSpore 2.9.0 on CPU (the only MindFormers release on PyPI that installs and runs
on CPU: 2.0 needs ``hyper-parallel`` and 2.1 needs MindSpore 2.11, neither on PyPI). On CPU MindFormers needs, in
order: ``fused_rms_norm=False`` (no RmsNorm CPU kernel), ``use_rope_slice=True`` (rotate_half's BatchMatMul does not
broadcast on CPU), ``ops.Argmax`` instead of ``mint.argmax`` (no ArgMaxExt CPU kernel) and ``use_past=False``
(the KV-cache path's ApplyRotaryPosEmb has no CPU kernel) -- so on CPU every step recomputes the whole sequence.
On Ascend the model keeps MindFormers' defaults (KV cache, fused kernels). MindFormers prints its log to stdout and
writes files under ``$LOCAL_DEFAULT_PATH`` (default ``./output``): stdout is sent to stderr while it runs (so
``--json`` stays clean) and ``LOCAL_DEFAULT_PATH`` defaults to a directory under the system temp dir.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from ..checkpoint import ModelDir, read_weights
from ..devices import dist_version, installed
from ..errors import RunnerUnavailable, SmokeFailed
from ..safetensors_io import to_float32
from .base import Availability, Generation
from .mindspore_direct import MindSporeDirectRunner

VERIFIED = "1.9"
NOT_INSTALLED = ("mindformers is not installed. On CPU, mindformers 1.6.0 (with mindspore 2.7.0) and 1.9.0 (with "
                 "mindspore 2.9.0) install from PyPI and run: e.g. pip install mindformers==1.9.0 mindspore==2.9.0 "
                 "(2.0 needs hyper-parallel, 2.1 mindspore 2.11, neither on PyPI); on Ascend use the release "
                 "`python -m ascend_env matrix resolve --framework mindspore` gives")

HF_TO_MF = (("embed_tokens.weight", "tok_embeddings.embedding_weight"), (".self_attn.q_proj.", ".attention.wq."),
            (".self_attn.k_proj.", ".attention.wk."), (".self_attn.v_proj.", ".attention.wv."),
            (".self_attn.o_proj.", ".attention.wo."), (".mlp.gate_proj.", ".feed_forward.w1."),
            (".mlp.down_proj.", ".feed_forward.w2."), (".mlp.up_proj.", ".feed_forward.w3."),
            (".input_layernorm.", ".attention_norm."), (".post_attention_layernorm.", ".ffn_norm."),
            (".norm.", ".norm_out."))


def fallback_name_replace(name: str) -> str:
    """MindFormers 1.x Llama's parameter name for a Hugging Face one (as its convert_weight.name_replace)."""
    for old, new in HF_TO_MF:
        name = name.replace(old, new)
    return name


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send fd 1 (and sys.stdout) to stderr: MindFormers logs to stdout, which must stay clean for --json."""
    sys.stdout.flush()
    saved = os.dup(1)
    old = sys.stdout
    try:
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        yield
    finally:
        sys.stdout.flush()
        sys.stdout = old
        os.dup2(saved, 1)
        os.close(saved)


class MindFormersRunner(MindSporeDirectRunner):
    name = "mindformers"
    framework = "mindspore"
    kind = "mindformers"
    path_description = "MindFormers LlamaForCausalLM + generate (greedy); CPU: no KV cache (see docs/smoke.md)"
    net: Any  # MindFormers' LlamaForCausalLM (the direct runner's is a MindSporeLlama)

    def availability(self) -> Availability:
        if not installed("mindformers"):
            return Availability(False, NOT_INSTALLED)
        if not installed("mindspore"):
            return Availability(False, "mindformers is installed but mindspore is not (pip install the mindspore "
                                       "its release needs)")
        version = dist_version("mindformers") or "?"
        versions = {"mindformers": version, "mindspore": dist_version("mindspore") or "?"}
        note = "" if version.startswith(VERIFIED) else f"verified with mindformers {VERIFIED}.x only"
        return Availability(True, note, versions)

    def prepare(self, device: str) -> str:
        os.environ.setdefault("LOCAL_DEFAULT_PATH", os.path.join(tempfile.gettempdir(), "ascend-env-mindformers"))
        with stdout_to_stderr():
            dev = super().prepare(device)
            try:
                import mindformers
                from mindformers import LlamaConfig, LlamaForCausalLM
            except Exception as e:
                raise RunnerUnavailable(f"mindformers {dist_version('mindformers')} cannot be imported: "
                                        f"{type(e).__name__}: {e}. {NOT_INSTALLED.split('. ', 1)[1]}") from None
            try:
                from mindformers.models.llama.convert_weight import name_replace
            except ImportError:
                name_replace = fallback_name_replace
        self.mf, self.config_cls, self.model_cls, self.name_replace = mindformers, LlamaConfig, LlamaForCausalLM, \
            name_replace
        self.versions["mindformers"] = getattr(mindformers, "__version__", dist_version("mindformers"))
        return dev

    def load(self, model: ModelDir) -> None:
        ms, s = self.ms, model.spec
        on_cpu = self.device == "cpu"
        dtype = "float32" if on_cpu else {"bfloat16": "bfloat16", "float32": "float32"}.get(
            str(model.config.get("torch_dtype")), "float16")
        self.seq_length = min(s.max_position_embeddings, max(64, -(-(self.max_len_hint or 94) // 64) * 64))
        kwargs: dict = dict(
            batch_size=1, seq_length=self.seq_length, hidden_size=s.hidden_size, num_layers=s.num_hidden_layers,
            num_heads=s.num_attention_heads, n_kv_heads=s.num_key_value_heads, intermediate_size=s.intermediate_size,
            vocab_size=s.vocab_size, rms_norm_eps=s.rms_norm_eps, theta=s.rope_theta, compute_dtype=dtype,
            param_init_type=dtype, layernorm_compute_type="float32", softmax_compute_type="float32",
            rotary_dtype="float32" if on_cpu else dtype, do_sample=False,
            max_position_embedding=s.max_position_embeddings, tie_word_embeddings=s.tie_word_embeddings,
            bos_token_id=s.bos_token_id, eos_token_id=s.eos_token_id, pad_token_id=0, checkpoint_name_or_path="")
        if on_cpu:
            kwargs.update(use_past=False, use_rope_slice=True, fused_rms_norm=False)
        else:
            kwargs.update(use_past=True)
        with stdout_to_stderr():
            net = self.model_cls(self.config_cls(**kwargs))
            params = {}
            for n, t in read_weights(model).items():
                name = self.name_replace(n)
                params[name] = ms.Parameter(ms.Tensor(to_float32(t)).astype(getattr(ms, dtype)), name=name)
            not_loaded, _ = ms.load_param_into_net(net, params)
        if not_loaded:
            raise SmokeFailed(f"mindformers: {len(not_loaded)} parameters not loaded from {model.path} (e.g. "
                              f"{not_loaded[0]}): its weight-name mapping does not fit this checkpoint")
        if on_cpu:  # mint.argmax -> ArgMaxExt, which has no CPU kernel
            argmax = ms.ops.Argmax

            def cpu_argmax(x: Any, axis: int = -1) -> Any:
                return argmax(axis=axis)(x)

            net.argmax = cpu_argmax
            self.notes.append("CPU workarounds: fused_rms_norm=False, use_rope_slice=True, ops.Argmax, "
                              "use_past=False (no KV cache)")
        self.net = net
        self.versions["dtype"] = dtype
        self.mf_tok = None
        try:
            with stdout_to_stderr():
                self.mf_tok = self.mf.LlamaTokenizer(vocab_file=str(model.tokenizer))
            self.versions["tokenizer"] = "mindformers LlamaTokenizer"
        except Exception as e:
            self.notes.append(f"MindFormers LlamaTokenizer failed ({type(e).__name__}: {e}); tokenizer.model read "
                              "directly")
            self.load_tokenizer(model)

    def encode(self, text: str) -> list[int]:
        if self.mf_tok is None:
            return super().encode(text)
        return [int(i) for i in self.mf_tok(text)["input_ids"]]

    def decode(self, ids: list[int]) -> str:
        if self.mf_tok is None:
            return super().decode(ids)
        return self.mf_tok.decode(ids, skip_special_tokens=True)

    def generate(self, prompt_ids: list[int], n: int) -> Generation:
        if len(prompt_ids) + n > self.seq_length:
            raise SmokeFailed(f"mindformers runner: prompt + new tokens = {len(prompt_ids) + n} exceeds the "
                              f"seq_length {self.seq_length} it was built with")
        stamps: list[float] = []

        class Stamps:
            def put(self, value: Any) -> None:
                stamps.append(time.perf_counter())

            def end(self) -> None:
                pass

        t0 = time.perf_counter()
        with stdout_to_stderr():
            out = self.net.generate([prompt_ids], do_sample=False, max_new_tokens=n, min_new_tokens=n,
                                    streamer=Stamps())
        new = [int(i) for i in list(out[0])[len(prompt_ids):]]
        token_stamps = [s - t0 for s in stamps[1:]]  # the first put is the prompt
        if len(token_stamps) != len(new):
            token_stamps = (token_stamps + [time.perf_counter() - t0] * len(new))[:len(new)]
        return Generation(new, token_stamps)
