"""The reference: a plain numpy Llama forward pass (fp32, CPU), the source of the golden token ids.

As Hugging Face's ``LlamaForCausalLM``: RMSNorm (``x * rsqrt(mean(x^2) + eps) * w``), rotary embedding with
``rotate_half`` over ``cat(freqs, freqs)``, grouped-query attention (kv head ``j // groups`` serves query head ``j``),
causal softmax in fp32, SwiGLU MLP ``down(silu(gate(x)) * up(x))``, a KV cache, greedy argmax (first maximum).
"""

from __future__ import annotations

import numpy as np

from ..checkpoint import ModelDir, read_weights
from ..errors import RunnerUnavailable
from ..model_spec import LlamaSpec
from ..safetensors_io import to_float32
from .base import Availability, Generation, Runner, greedy_loop


def rope_tables(spec: LlamaSpec, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """cos, sin of shape (max_len, head_dim), computed in fp32 as transformers does."""
    hd = spec.head_dim
    inv_freq = (1.0 / (spec.rope_theta ** (np.arange(0, hd, 2, dtype=np.int64).astype(np.float32) / hd)))
    inv_freq = inv_freq.astype(np.float32)
    freqs = np.arange(max_len, dtype=np.float32)[:, None] * inv_freq[None, :]
    emb = np.concatenate([freqs, freqs], axis=-1)
    return np.cos(emb).astype(np.float32), np.sin(emb).astype(np.float32)


def rotate_half(x: np.ndarray) -> np.ndarray:
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


class NumpyLlama:
    """The forward pass with a preallocated KV cache; ``margins`` records top-1 minus top-2 logit per token."""

    def __init__(self, spec: LlamaSpec, weights: dict[str, np.ndarray], max_len: int) -> None:
        self.spec, self.w = spec, weights
        self.cos, self.sin = rope_tables(spec, max_len)
        shape = (spec.num_hidden_layers, max_len, spec.num_key_value_heads, spec.head_dim)
        self.k_cache = np.zeros(shape, dtype=np.float32)
        self.v_cache = np.zeros(shape, dtype=np.float32)
        self.lm_head = weights.get("lm_head.weight", weights["model.embed_tokens.weight"])
        self.margins: list[float] = []

    def _norm(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        var = np.mean(x * x, axis=-1, keepdims=True)
        return w * (x / np.sqrt(var + np.float32(self.spec.rms_norm_eps)))

    def forward(self, ids: list[int], start: int) -> np.ndarray:
        """Logits (vocab,) of the last position, after feeding ``ids`` at positions ``start..``."""
        s, w = self.spec, self.w
        t = len(ids)
        nh, nkv, hd = s.num_attention_heads, s.num_key_value_heads, s.head_dim
        groups = nh // nkv
        x = w["model.embed_tokens.weight"][np.asarray(ids)]
        cos, sin = self.cos[start:start + t][:, None, :], self.sin[start:start + t][:, None, :]
        end = start + t
        # causal mask over the whole cache: query i (absolute start+i) sees keys 0..start+i
        mask = np.where(np.arange(end)[None, :] <= (start + np.arange(t))[:, None], 0.0, -np.inf).astype(np.float32)
        scale = np.float32(1.0 / np.sqrt(hd))
        for n in range(s.num_hidden_layers):
            p = f"model.layers.{n}."
            h = self._norm(x, w[p + "input_layernorm.weight"])
            q = (h @ w[p + "self_attn.q_proj.weight"].T).reshape(t, nh, hd)
            k = (h @ w[p + "self_attn.k_proj.weight"].T).reshape(t, nkv, hd)
            v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(t, nkv, hd)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            self.k_cache[n, start:end], self.v_cache[n, start:end] = k, v
            keys = np.repeat(self.k_cache[n, :end], groups, axis=1).transpose(1, 2, 0)  # (nh, hd, end)
            vals = np.repeat(self.v_cache[n, :end], groups, axis=1).transpose(1, 0, 2)  # (nh, end, hd)
            scores = (q.transpose(1, 0, 2) @ keys) * scale + mask  # (nh, t, end)
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            probs = scores / scores.sum(axis=-1, keepdims=True)
            attn = (probs @ vals).transpose(1, 0, 2).reshape(t, nh * hd)
            x = x + attn @ w[p + "self_attn.o_proj.weight"].T
            h = self._norm(x, w[p + "post_attention_layernorm.weight"])
            gate = h @ w[p + "mlp.gate_proj.weight"].T
            up = h @ w[p + "mlp.up_proj.weight"].T
            x = x + ((gate / (1.0 + np.exp(-gate))) * up) @ w[p + "mlp.down_proj.weight"].T
        last = self._norm(x[-1:], w["model.norm.weight"])
        return (last @ self.lm_head.T)[0]

    def next_token(self, ids: list[int], start: int) -> int:
        logits = self.forward(ids, start)
        top2 = np.partition(logits, -2)[-2:]
        self.margins.append(float(top2[1] - top2[0]))
        return int(np.argmax(logits))


class NumpyRunner(Runner):
    name = "numpy"
    framework = "numpy"
    kind = "direct"
    path_description = "plain numpy Llama forward (fp32, CPU): the reference for the golden ids"

    def availability(self) -> Availability:
        return Availability(True, "", {"numpy": np.__version__})

    def prepare(self, device: str) -> str:
        if device not in ("auto", "cpu"):
            raise RunnerUnavailable(f"--framework numpy runs on the CPU only, not --device {device}: "
                                    "pass --device cpu (or auto), or --framework torch/mindspore")
        self.device = "cpu"
        self.versions = {"numpy": np.__version__}
        return self.device

    def load(self, model: ModelDir) -> None:
        self.model_dir = model
        self.weights = {n: to_float32(t) for n, t in read_weights(model).items()}
        self.load_tokenizer(model)

    def generate(self, prompt_ids: list[int], n: int) -> Generation:
        net = NumpyLlama(self.model_dir.spec, self.weights, len(prompt_ids) + n)
        self.net = net
        return greedy_loop(lambda ids: net.next_token(ids, 0), lambda tok, pos: net.next_token([tok], pos),
                           prompt_ids, n)
