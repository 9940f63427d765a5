"""A Llama model's shape, from a Hugging Face ``config.json``: what every direct runner builds its forward pass from."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import CheckpointError

REQUIRED = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")


@dataclass(frozen=True)
class LlamaSpec:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-6
    max_position_embeddings: int = 4096
    tie_word_embeddings: bool = False
    bos_token_id: int = 1
    eos_token_id: int = 2

    @property
    def looks_like_7b(self) -> bool:
        return self.hidden_size == 4096 and self.num_hidden_layers == 32

    def summary(self) -> dict:
        return asdict(self)

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """Hugging Face Llama's tensor names and shapes (``[out, in]`` for linear layers)."""
        h, i, v = self.hidden_size, self.intermediate_size, self.vocab_size
        q, kv = self.num_attention_heads * self.head_dim, self.num_key_value_heads * self.head_dim
        shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (v, h)}
        for n in range(self.num_hidden_layers):
            p = f"model.layers.{n}."
            shapes.update({
                p + "self_attn.q_proj.weight": (q, h), p + "self_attn.k_proj.weight": (kv, h),
                p + "self_attn.v_proj.weight": (kv, h), p + "self_attn.o_proj.weight": (h, q),
                p + "mlp.gate_proj.weight": (i, h), p + "mlp.up_proj.weight": (i, h),
                p + "mlp.down_proj.weight": (h, i),
                p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,),
            })
        shapes["model.norm.weight"] = (h,)
        if not self.tie_word_embeddings:
            shapes["lm_head.weight"] = (v, h)
        return shapes


def _first_id(value: object, default: int) -> int:
    if isinstance(value, list):
        return int(value[0]) if value else default
    return default if value is None else int(value)  # type: ignore[call-overload]


def spec_from_config(cfg: dict, source: str = "config.json") -> LlamaSpec:
    """The LlamaSpec of a config.json mapping; CheckpointError names the file and the missing or unsupported key."""
    missing = [k for k in REQUIRED if k not in cfg]
    if missing:
        raise CheckpointError(f"{source}: missing {', '.join(missing)} -- not a complete Llama config")
    scaling = cfg.get("rope_scaling")
    if scaling and (scaling.get("rope_type") or scaling.get("type")) not in (None, "default"):
        raise CheckpointError(f"{source}: rope_scaling {scaling} is not supported by the direct runners "
                              "(plain RoPE only, as Llama-2); use --runner transformers")
    heads = int(cfg["num_attention_heads"])
    kv = int(cfg.get("num_key_value_heads") or heads)
    hidden = int(cfg["hidden_size"])
    if heads % kv:
        raise CheckpointError(f"{source}: num_attention_heads {heads} is not a multiple of num_key_value_heads {kv}")
    return LlamaSpec(
        vocab_size=int(cfg["vocab_size"]), hidden_size=hidden, intermediate_size=int(cfg["intermediate_size"]),
        num_hidden_layers=int(cfg["num_hidden_layers"]), num_attention_heads=heads, num_key_value_heads=kv,
        head_dim=int(cfg.get("head_dim") or hidden // heads), rope_theta=float(cfg.get("rope_theta", 10000.0)),
        rms_norm_eps=float(cfg.get("rms_norm_eps", 1e-6)),
        max_position_embeddings=int(cfg.get("max_position_embeddings", 4096)),
        tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        bos_token_id=_first_id(cfg.get("bos_token_id"), 1), eos_token_id=_first_id(cfg.get("eos_token_id"), 2))
