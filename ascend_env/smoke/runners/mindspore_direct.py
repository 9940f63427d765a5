"""MindSpore, direct: the Llama forward pass in MindSpore ops (PyNative) over the checkpoint's safetensors.

Device: ``mindspore.set_device('Ascend'|'CPU'|'GPU')`` (MindSpore >= 2.5; older: ``set_context(device_target=)``),
chosen by :func:`..devices.mindspore_target`. On CPU the launch is made blocking
(``mindspore.runtime.launch_blocking()``, older ``set_context(pynative_synchronize=True)``): with the default
asynchronous launch a 2-core host measures the queue, not the model (measured: 12 tok/s instead of 74).
Greedy argmax is taken on the host (``asnumpy``), which also synchronises: first maximum, as numpy.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from ..checkpoint import ModelDir, read_weights
from ..devices import FIX, diagnose_load_failure, dist_version, installed, mindspore_target
from ..errors import RunnerUnavailable, SmokeFailed
from ..safetensors_io import to_float32
from .base import Availability, Generation, Runner, greedy_loop


def import_mindspore() -> Any:
    os.environ.setdefault("GLOG_v", "3")  # MindSpore's C++ log: errors only
    if not installed("mindspore"):
        raise RunnerUnavailable("mindspore is not installed here: pip install mindspore (the version "
                                "`python -m ascend_env matrix resolve --framework mindspore` gives), or choose "
                                "--framework numpy/torch")
    try:
        import mindspore
    except Exception as e:
        raise SmokeFailed(diagnose_load_failure(f"mindspore {dist_version('mindspore') or ''}".strip(), e,
                                                device=False)) from None
    return mindspore


def set_target(ms: Any, target: str) -> None:
    if hasattr(ms, "set_device"):
        ms.set_device(target)
    else:  # MindSpore < 2.5
        ms.set_context(device_target=target)
    ms.set_context(mode=ms.PYNATIVE_MODE)


def make_blocking(ms: Any) -> str:
    runtime = getattr(ms, "runtime", None)
    if runtime is not None and hasattr(runtime, "launch_blocking"):
        runtime.launch_blocking()
        return "mindspore.runtime.launch_blocking()"
    ms.set_context(pynative_synchronize=True)
    return "set_context(pynative_synchronize=True)"


class MindSporeLlama:
    def __init__(self, ms: Any, spec: Any, weights: dict[str, np.ndarray], dtype: Any) -> None:
        """``weights``: fp32 numpy arrays; linear weights are transposed on the host (``[in, out]``)."""
        self.ms, self.ops, self.spec, self.dtype = ms, ms.ops, spec, dtype

        def tensor(a: np.ndarray) -> Any:
            return ms.Tensor(np.ascontiguousarray(a)).astype(dtype)

        self.w = {n: tensor(a) for n, a in weights.items() if a.ndim == 1 or n == "model.embed_tokens.weight"}
        self.t = {n: tensor(a.T) for n, a in weights.items() if a.ndim == 2 and n != "model.embed_tokens.weight"}
        self.lm_head_t = self.t.get("lm_head.weight")
        if self.lm_head_t is None:  # tied embeddings
            self.lm_head_t = tensor(weights["model.embed_tokens.weight"].T)
        hd = spec.head_dim
        inv_freq = (1.0 / (spec.rope_theta ** (np.arange(0, hd, 2, dtype=np.int64).astype(np.float32) / hd)))
        freqs = np.arange(spec.max_position_embeddings, dtype=np.float32)[:, None] * inv_freq.astype(np.float32)
        emb = np.concatenate([freqs, freqs], axis=-1)
        self.cos = ms.Tensor(np.cos(emb).astype(np.float32)).astype(dtype)
        self.sin = ms.Tensor(np.sin(emb).astype(np.float32)).astype(dtype)
        self.cache: list[tuple[Any, Any]] = []

    def _norm(self, x: Any, w: Any) -> Any:
        ops, ms = self.ops, self.ms
        xf = x.astype(ms.float32)
        var = ops.mean(xf * xf, -1, True)
        return w * (xf * ops.rsqrt(var + self.spec.rms_norm_eps)).astype(x.dtype)

    def _rotate_half(self, x: Any) -> Any:
        half = x.shape[-1] // 2
        return self.ops.concat((-x[..., half:], x[..., :half]), -1)

    def forward(self, ids: list[int], start: int) -> Any:
        ms, ops, s, w, t_ = self.ms, self.ops, self.spec, self.w, self.t
        t = len(ids)
        nh, nkv, hd = s.num_attention_heads, s.num_key_value_heads, s.head_dim
        groups = nh // nkv
        if start == 0:
            self.cache = []
        x = ops.gather(w["model.embed_tokens.weight"], ms.Tensor(np.asarray(ids, dtype=np.int32)), 0)
        cos, sin = self.cos[start:start + t].expand_dims(0), self.sin[start:start + t].expand_dims(0)
        end = start + t
        mask = None
        if t > 1:
            allowed = np.arange(end)[None, :] <= (start + np.arange(t))[:, None]
            mask = ms.Tensor(np.where(allowed, 0.0, -np.inf).astype(np.float32)).astype(self.dtype)
        for n in range(s.num_hidden_layers):
            p = f"model.layers.{n}."
            h = self._norm(x, w[p + "input_layernorm.weight"])
            q = ops.matmul(h, t_[p + "self_attn.q_proj.weight"]).reshape(t, nh, hd).transpose(1, 0, 2)
            k = ops.matmul(h, t_[p + "self_attn.k_proj.weight"]).reshape(t, nkv, hd).transpose(1, 0, 2)
            v = ops.matmul(h, t_[p + "self_attn.v_proj.weight"]).reshape(t, nkv, hd).transpose(1, 0, 2)
            q = q * cos + self._rotate_half(q) * sin
            k = k * cos + self._rotate_half(k) * sin
            if len(self.cache) > n:
                k = ops.concat((self.cache[n][0], k), 1)
                v = ops.concat((self.cache[n][1], v), 1)
                self.cache[n] = (k, v)
            else:
                self.cache.append((k, v))
            keys = ops.repeat_interleave(k, groups, 0) if groups > 1 else k
            vals = ops.repeat_interleave(v, groups, 0) if groups > 1 else v
            scores = ops.matmul(q, keys.transpose(0, 2, 1)) * (1.0 / math.sqrt(hd))
            if mask is not None:
                scores = scores + mask
            probs = ops.softmax(scores.astype(ms.float32), -1).astype(self.dtype)
            attn = ops.matmul(probs, vals).transpose(1, 0, 2).reshape(t, nh * hd)
            x = x + ops.matmul(attn, t_[p + "self_attn.o_proj.weight"])
            h = self._norm(x, w[p + "post_attention_layernorm.weight"])
            gate = ops.matmul(h, t_[p + "mlp.gate_proj.weight"])
            up = ops.matmul(h, t_[p + "mlp.up_proj.weight"])
            x = x + ops.matmul(gate * ops.sigmoid(gate) * up, t_[p + "mlp.down_proj.weight"])
        last = self._norm(x[-1:], w["model.norm.weight"])
        return ops.matmul(last, self.lm_head_t)[0]

    def next_token(self, ids: list[int], start: int) -> int:
        return int(np.argmax(self.forward(ids, start).astype(self.ms.float32).asnumpy()))


class MindSporeDirectRunner(Runner):
    name = "mindspore-direct"
    framework = "mindspore"
    kind = "direct"
    path_description = "Llama forward in MindSpore ops (PyNative, blocking launch on CPU) over the safetensors"

    def availability(self) -> Availability:
        if not installed("mindspore"):
            return Availability(False, "mindspore is not installed (pip install mindspore; version from `python -m "
                                       "ascend_env matrix resolve --framework mindspore`)")
        return Availability(True, "", {"mindspore": dist_version("mindspore") or "?"})

    def prepare(self, device: str) -> str:
        target, why = mindspore_target(device)
        ms = import_mindspore()
        try:
            set_target(ms, target)
        except Exception as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            msg = (f"MindSpore {ms.__version__} cannot use device target {target} ({why}): {type(e).__name__}: "
                   f"{first}")
            if target == "Ascend":
                msg += f" -- CANN's set_env.sh is not sourced or CANN is not installed; {FIX}"
            raise (SmokeFailed(msg) if device == "auto" else RunnerUnavailable(msg)) from None
        self.ms = ms
        self.device = {"CPU": "cpu", "Ascend": "npu", "GPU": "cuda"}[target]
        self.versions["mindspore"] = ms.__version__
        self.versions["device_target"] = target
        self.notes.append(f"device {target}: {why}")
        if target == "CPU":
            self.notes.append(f"blocking launch: {make_blocking(ms)}")
        return self.device

    def load(self, model: ModelDir) -> None:
        ms = self.ms
        self.dtype = ms.float32 if self.device == "cpu" else {
            "bfloat16": ms.bfloat16, "float32": ms.float32}.get(str(model.config.get("torch_dtype")), ms.float16)
        weights = {n: to_float32(t) for n, t in read_weights(model).items()}
        self.net = MindSporeLlama(ms, model.spec, weights, self.dtype)
        self.versions["dtype"] = str(self.dtype).lower()
        self.load_tokenizer(model)

    def generate(self, prompt_ids: list[int], n: int) -> Generation:
        net = self.net
        return greedy_loop(lambda ids: net.next_token(ids, 0), lambda tok, pos: net.next_token([tok], pos),
                           prompt_ids, n)
