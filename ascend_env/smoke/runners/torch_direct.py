"""torch, direct: the Llama forward pass written in torch ops over the checkpoint's safetensors (no transformers).

Runs on ``npu`` (torch_npu), ``cuda`` or ``cpu`` (rules: :mod:`..devices`). Compute dtype: fp32 on CPU; on an
accelerator the checkpoint's ``torch_dtype`` (fp16/bf16 for real models, fp32 for the generated one).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..checkpoint import ModelDir, read_weights
from ..devices import dist_version, installed, setup_torch
from ..safetensors_io import RawTensor
from .base import Availability, Generation, Runner, greedy_loop


def _to_tensor(torch: Any, t: RawTensor) -> Any:
    if t.dtype == "BF16":
        return torch.from_numpy(np.array(t.data).view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(np.array(t.data))


class TorchRunner(Runner):
    """A runner on torch: :func:`prepare_torch` sets its ``torch`` module and its device."""

    torch: Any


def prepare_torch(runner: TorchRunner, device: str) -> str:
    """Import torch (+ torch_npu when the device needs it) for ``runner``: its module, device, notes, versions."""
    setup = setup_torch(device)
    runner.torch, runner.device = setup.torch, setup.device
    runner.notes.extend(setup.notes)
    runner.versions.update(setup.versions)
    return setup.device


def compute_dtype(torch: Any, device: str, config: dict) -> Any:
    if device == "cpu":
        return torch.float32
    name = str(config.get("torch_dtype") or config.get("dtype") or "float16")
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}.get(name, torch.float16)


class TorchLlama:
    """Llama in torch ops, KV cache as a growing tensor per layer (layout as transformers: heads first)."""

    def __init__(self, torch: Any, spec: Any, weights: dict[str, Any], device: str, dtype: Any) -> None:
        self.torch, self.spec, self.w = torch, spec, weights
        hd = spec.head_dim
        inv_freq = 1.0 / (spec.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
        freqs = torch.arange(spec.max_position_embeddings, dtype=torch.float32)[:, None] * inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        self.cos, self.sin = emb.cos().to(device, dtype), emb.sin().to(device, dtype)
        self.lm_head = weights.get("lm_head.weight", weights["model.embed_tokens.weight"])
        self.device, self.dtype = device, dtype
        self.cache: list[tuple[Any, Any]] = []

    def _norm(self, x: Any, w: Any) -> Any:
        xf = x.float()
        var = xf.pow(2).mean(-1, keepdim=True)
        return w * (xf * self.torch.rsqrt(var + self.spec.rms_norm_eps)).to(x.dtype)

    @staticmethod
    def _rotate_half(torch: Any, x: Any) -> Any:
        half = x.shape[-1] // 2
        return torch.cat((-x[..., half:], x[..., :half]), dim=-1)

    def forward(self, ids: list[int], start: int) -> Any:
        torch, s, w = self.torch, self.spec, self.w
        t = len(ids)
        nh, nkv, hd = s.num_attention_heads, s.num_key_value_heads, s.head_dim
        groups = nh // nkv
        if start == 0:
            self.cache = []
        x = w["model.embed_tokens.weight"][torch.tensor(ids, device=self.device)]
        cos, sin = self.cos[start:start + t][None], self.sin[start:start + t][None]  # (1, t, hd)
        end = start + t
        mask = None
        if t > 1:
            rows = start + torch.arange(t, device=self.device)
            allowed = torch.arange(end, device=self.device)[None, :] <= rows[:, None]
            mask = torch.zeros(t, end, dtype=self.dtype, device=self.device).masked_fill(~allowed, float("-inf"))
        for n in range(s.num_hidden_layers):
            p = f"model.layers.{n}."
            h = self._norm(x, w[p + "input_layernorm.weight"])
            q = (h @ w[p + "self_attn.q_proj.weight"].T).view(t, nh, hd).transpose(0, 1)
            k = (h @ w[p + "self_attn.k_proj.weight"].T).view(t, nkv, hd).transpose(0, 1)
            v = (h @ w[p + "self_attn.v_proj.weight"].T).view(t, nkv, hd).transpose(0, 1)
            q = q * cos + self._rotate_half(torch, q) * sin
            k = k * cos + self._rotate_half(torch, k) * sin
            if len(self.cache) > n:
                k = torch.cat((self.cache[n][0], k), dim=1)
                v = torch.cat((self.cache[n][1], v), dim=1)
                self.cache[n] = (k, v)
            else:
                self.cache.append((k, v))
            keys = k.repeat_interleave(groups, dim=0)  # (nh, end, hd)
            vals = v.repeat_interleave(groups, dim=0)
            scores = (q @ keys.transpose(1, 2)) * (1.0 / math.sqrt(hd))
            if mask is not None:
                scores = scores + mask
            probs = torch.softmax(scores.float(), dim=-1).to(self.dtype)
            attn = (probs @ vals).transpose(0, 1).reshape(t, nh * hd)
            x = x + attn @ w[p + "self_attn.o_proj.weight"].T
            h = self._norm(x, w[p + "post_attention_layernorm.weight"])
            gate = h @ w[p + "mlp.gate_proj.weight"].T
            x = x + (torch.nn.functional.silu(gate) * (h @ w[p + "mlp.up_proj.weight"].T)) @ \
                w[p + "mlp.down_proj.weight"].T
        last = self._norm(x[-1:], w["model.norm.weight"])
        return (last @ self.lm_head.T)[0]

    def next_token(self, ids: list[int], start: int) -> int:
        return int(self.torch.argmax(self.forward(ids, start)).item())


class TorchDirectRunner(TorchRunner):
    name = "torch-direct"
    framework = "torch"
    kind = "direct"
    path_description = "Llama forward in torch ops (+ torch_npu on NPU hosts) over the safetensors"

    def availability(self) -> Availability:
        if not installed("torch"):
            return Availability(False, "torch is not installed (pip install torch; version from `python -m "
                                       "ascend_env matrix resolve --framework torch`)")
        versions = {"torch": dist_version("torch") or "?"}
        note = ""
        if installed("torch_npu"):
            versions["torch_npu"] = dist_version("torch_npu") or dist_version("torch-npu") or "?"
            note = "torch_npu is installed: --device auto loads it (and fails, diagnosed, without CANN); --device " \
                   "cpu never loads it"
        return Availability(True, note, versions)

    def prepare(self, device: str) -> str:
        return prepare_torch(self, device)

    def load(self, model: ModelDir) -> None:
        torch = self.torch
        torch.set_grad_enabled(False)
        self.dtype = compute_dtype(torch, self.device, model.config)
        weights = {n: _to_tensor(torch, t).to(self.device, self.dtype) for n, t in read_weights(model).items()}
        self.net = TorchLlama(torch, model.spec, weights, self.device, self.dtype)
        self.versions["dtype"] = str(self.dtype).replace("torch.", "")
        self.load_tokenizer(model)

    def generate(self, prompt_ids: list[int], n: int) -> Generation:
        net = self.net
        with self.torch.inference_mode():
            return greedy_loop(lambda ids: net.next_token(ids, 0), lambda tok, pos: net.next_token([tok], pos),
                               prompt_ids, n)
