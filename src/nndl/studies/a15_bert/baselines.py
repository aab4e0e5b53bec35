"""The pretrained baseline: where its weights are, the check that the scratch code reproduces
transformers with them, and a fresh copy to fine-tune."""

from __future__ import annotations

from pathlib import Path


def resolve_baseline(name: str) -> Path:
    """A transformers BERT folder for `name` (bundled MiniLM, a folder, or a Hugging Face id)."""
    from nndl.errors import WeightsError
    from nndl.models.bert import minilm_path
    from nndl.offline import require_online

    if name == "minilm":
        return minilm_path()
    if Path(name).expanduser().is_dir():
        return Path(name).expanduser()
    require_online(
        f"The pretrained baseline '{name}'",
        "Use the bundled one (--set baseline=minilm) or name a folder holding its config.json, "
        "model.safetensors and tokenizer.json (--set baseline=PATH).",
    )
    try:
        from huggingface_hub import snapshot_download

        return Path(
            snapshot_download(
                name,
                allow_patterns=["config.json", "model.safetensors", "tokenizer.json", "vocab.txt"],
            )
        )
    except Exception as e:  # noqa: BLE001 - hub errors come in many types
        raise WeightsError(f"Cannot download '{name}' from the Hugging Face hub: {e}") from e


def equivalence_check(folder: Path, model) -> float | None:
    """Max |h_ours - h_transformers| over all layers' hidden states on a fixed batch (None when
    transformers is not installed)."""
    import torch

    from nndl import offline

    try:
        from transformers import BertModel as HFBertModel
        from transformers.utils import logging as hf_logging
    except ImportError:
        return None
    offline.configure()  # offline, transformers must not probe the hub for a local folder
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    hf = HFBertModel.from_pretrained(str(folder)).eval()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, model.config.vocab_size, (4, 24), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 18:], mask[3, 9:] = 0, 0
    types = torch.zeros_like(ids)
    types[:, 12:] = 1
    model.eval()
    with torch.no_grad():
        a = hf(ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
        b = model(ids, types, mask, output_hidden_states=True)
    keep = mask[..., None].bool()  # padded positions are garbage in both, compared at tokens
    diffs = [
        ((x - y).abs() * keep).max().item()
        for x, y in zip(a.hidden_states, b.hidden_states, strict=True)
    ]
    return max(diffs + [(a.pooler_output - b.pooled).abs().max().item()])


def load_baseline(folder: Path, freeze_embeddings: bool):
    from nndl.models.bert import BertModel, load_hf_state_dict, read_hf_checkpoint

    config, state = read_hf_checkpoint(folder)
    bert = BertModel(config)
    load_hf_state_dict(bert, state)
    bert.embeddings.word.weight.requires_grad_(not freeze_embeddings)
    return bert


PUBLISHED_PRETRAINING = {
    "minilm": (
        "published, not measured here: MiniLM-L6-H384 distilled from UniLMv2 (Wang et al. "
        "2020), then 100k steps x 1,024 pairs of contrastive training on >1B sentence "
        "pairs on a TPU v3-8 (model card of all-MiniLM-L6-v2)"
    ),
    "bert-base-uncased": (
        "published, not measured here: 1M steps x 256 sequences of 512 tokens "
        "(~128k tokens/step) on BooksCorpus + English Wikipedia, 3.3B words "
        "(Devlin et al. 2019)"
    ),
}
