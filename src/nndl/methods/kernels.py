"""Kernel types and activations, read from real module graphs.

`scan(model)` runs one forward pass on the `meta` device (shapes only: no memory, no arithmetic)
with hooks on every convolution and linear layer and a dispatch mode that records every operator,
so what it reports is what the network executes, in execution order:

- per convolution: regular (k > 1), dilated (dilation > 1), depthwise (groups == channels),
  grouped (1 < groups < channels), pointwise (1x1), deformable (`torchvision.ops.DeformConv2d`);
- per block, from the order in which channel-mixing layers run (layers applied to a 1x1 map, i.e.
  squeeze-excitation gates and classifiers, are left out):
  depthwise-separable      dw -> pw                       (MobileNet v1, Xception, ConvNeXt)
  inverted residual        pw expand -> dw -> pw project  (MobileNet v2/v3, EfficientNet)
  ghost module             pw -> cheap dw, concatenated   (GhostNet: the next layer reads both)
  shuffle unit             pw -> dw -> pw, constant width, with a channel shuffle in the graph
                           (ShuffleNet v2)
- activations: both the activation modules (class names) and the activation operators executed
  (which also finds functional calls such as `F.relu` inside a forward).

`receptive_field` measures the theoretical receptive field of any layer from the module graph:
the support of d(centre unit)/d(input) in a copy whose convolutions are all-positive averages,
pooling is averaging and activations/norms are identities (so no gradient can cancel to zero).
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field

import torch

KERNEL_TYPES = (
    "regular",
    "dilated",
    "depthwise-separable",
    "modified depthwise-separable",
    "pointwise",
    "deformable",
)
MODIFIED_DS = ("inverted residual", "ghost module", "shuffle unit")

# aten operator (in-place variants share the name without the trailing _) -> activation name
ACTIVATION_OPS = {
    "relu": "ReLU",
    "relu6": "ReLU6",
    "leaky_relu": "LeakyReLU",
    "elu": "ELU",
    "selu": "SELU",
    "celu": "CELU",
    "gelu": "GELU",
    "silu": "SiLU",
    "mish": "Mish",
    "hardswish": "Hardswish",
    "hardsigmoid": "Hardsigmoid",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "softplus": "Softplus",
    "prelu": "PReLU",
    "_prelu_kernel": "PReLU",
    "rrelu_with_noise": "RReLU",
}
GATES = ("Sigmoid", "Hardsigmoid")  # squeeze-excitation gates, not the network's nonlinearity


@dataclass
class Layer:
    """One channel-mixing layer as it ran: a convolution or a linear layer."""

    name: str
    kind: str  # regular | dilated | depthwise | grouped | pointwise | deformable | linear
    in_channels: int
    out_channels: int
    kernel: tuple[int, int] = (1, 1)
    spatial: tuple[int, int] = (1, 1)  # input height, width (1x1 for SE gates and classifiers)


@dataclass
class Scan:
    layers: list[Layer] = field(default_factory=list)
    conv_kinds: Counter = field(default_factory=Counter)  # per-convolution kinds
    blocks: Counter = field(default_factory=Counter)  # depthwise-separable / IR / ghost / shuffle
    activation_modules: Counter = field(default_factory=Counter)  # class name -> count
    activation_ops: Counter = field(default_factory=Counter)  # executed operator -> count
    channel_shuffles: int = 0
    traced: bool = True  # False when the forward failed and only module order was read

    def kernel_types(self) -> dict[str, int]:
        """Counts of the six kernel types of the course question."""
        return {
            "regular": self.conv_kinds["regular"],
            "dilated": self.conv_kinds["dilated"],
            "depthwise-separable": self.blocks["depthwise-separable"],
            "modified depthwise-separable": sum(self.blocks[k] for k in MODIFIED_DS),
            "pointwise": self.conv_kinds["pointwise"],
            "deformable": self.conv_kinds["deformable"],
        }

    def main_activation(self) -> str:
        """The most frequent activation that is not a gate (a gate when it is the only one)."""
        counts = self.activation_ops or self.activation_modules
        body = Counter({k: v for k, v in counts.items() if k not in GATES})
        return (body or counts).most_common(1)[0][0] if counts else "none"


def conv_kind(module) -> str | None:
    """The kernel type of one layer, from its hyper-parameters (None if not a 2-D conv/linear)."""
    from torchvision.ops import DeformConv2d

    if isinstance(module, DeformConv2d):
        return "deformable"
    if isinstance(module, torch.nn.Linear):
        return "linear"
    if not isinstance(module, torch.nn.Conv2d):
        return None
    k, groups, c_in = tuple(module.kernel_size), module.groups, module.in_channels
    if max(module.dilation) > 1 and k != (1, 1):
        return "dilated"
    if k == (1, 1):
        return "pointwise"
    if groups == c_in and groups > 1:
        return "depthwise"
    if groups > 1:
        return "grouped"
    return "regular"


def is_activation_module(module) -> bool:
    """torch.nn's activation classes and timm's (read from where the class is defined)."""

    home = type(module).__module__.rsplit(".", 1)[-1]
    return home.startswith("activation") and not isinstance(
        module, torch.nn.MultiheadAttention | torch.nn.Softmax | torch.nn.Softmin
    )


def _record_forward(model, input_size: int):
    """Run one forward pass, recording layers (in execution order) and operators."""
    from torch.utils._python_dispatch import TorchDispatchMode

    layers: list[Layer] = []
    ops: Counter = Counter()
    shuffles = [0]

    def hook(name, module):
        def fn(mod, args, output):
            x, kind = args[0], conv_kind(mod)
            if kind == "linear":  # on (B, C), (B, tokens, C) or channels-last (B, H, W, C)
                c_in, c_out = mod.in_features, mod.out_features
                if x.dim() == 4:  # a 1x1 convolution written as a linear layer (ConvNeXt)
                    kind = "pointwise"
                spatial = (
                    tuple(x.shape[1:3])
                    if x.dim() == 4
                    else (x.shape[1], 1)
                    if x.dim() == 3
                    else (1, 1)
                )
            else:  # (B, C, H, W)
                c_in, c_out, spatial = x.shape[1], output.shape[1], tuple(x.shape[-2:])
            layers.append(
                Layer(
                    name,
                    kind,
                    int(c_in),
                    int(c_out),
                    tuple(getattr(mod, "kernel_size", (1, 1))),
                    spatial,
                )
            )

        return fn

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func.overloadpacket.__name__
            ops[name.rstrip("_") if name != "_prelu_kernel" else name] += 1
            # channel shuffle: (B, groups, C/groups, H, W) with dims 1 and 2 swapped
            if name == "transpose" and args[0].dim() == 5 and sorted(args[1:3]) == [1, 2]:
                shuffles[0] += 1
            return func(*args, **(kwargs or {}))

    handles = [
        m.register_forward_hook(hook(n, m))
        for n, m in model.named_modules()
        if conv_kind(m) is not None
    ]
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        # on the meta device the native size costs nothing; on a CPU fallback keep it small
        size = input_size if device.type == "meta" else min(input_size, 64)
        x = torch.zeros(1, 3, size, size, device=device)
        model.eval()
        with torch.no_grad(), Record():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return layers, ops, shuffles[0]


def _block_patterns(layers: list[Layer], shuffles: int) -> Counter:
    """Depthwise-separable and modified depthwise-separable blocks, from execution order."""
    # channel-mixing layers applied to spatial maps (SE gates and classifiers run on 1x1 maps)
    seq = [la for la in layers if la.spatial != (1, 1) or la.kind not in ("pointwise", "linear")]
    found: Counter = Counter()

    def pw(la):
        return la is not None and la.kind in ("pointwise", "linear")

    for i, d in enumerate(seq):
        if d.kind != "depthwise":
            continue
        p = seq[i - 1] if i > 0 else None
        n = seq[i + 1] if i + 1 < len(seq) else None
        feeds = pw(p) and p.out_channels == d.in_channels  # the pw produced the dw's input
        if feeds and n is not None and n.in_channels > d.out_channels:
            found["ghost module"] += 1  # the next layer reads the pw and dw outputs concatenated
        elif pw(n) and n.in_channels == d.out_channels:
            if feeds and p.out_channels > p.in_channels and n.out_channels < n.in_channels:
                found["inverted residual"] += 1
            elif feeds and p.out_channels == p.in_channels == n.out_channels and shuffles:
                found["shuffle unit"] += 1
            else:
                found["depthwise-separable"] += 1
    return found


def scan(model, input_size: int = 224) -> Scan:
    """Kernel types and activations of `model` (best built on the meta device)."""
    result = Scan()
    result.activation_modules = Counter(
        type(m).__name__ for m in model.modules() if is_activation_module(m)
    )
    try:
        layers, ops, shuffles = _record_forward(model, input_size)
    except Exception:  # noqa: BLE001 - a model that cannot run here: read module order instead
        result.traced = False
        layers = [
            Layer(
                n,
                conv_kind(m),
                getattr(m, "in_channels", getattr(m, "in_features", 0)),
                getattr(m, "out_channels", getattr(m, "out_features", 0)),
                tuple(getattr(m, "kernel_size", (1, 1))),
                (2, 2),
            )
            for n, m in model.named_modules()
            if conv_kind(m) is not None
        ]
        ops, shuffles = Counter(), 0
    result.layers = layers
    result.conv_kinds = Counter(
        la.kind for la in layers if la.kind != "linear" and la.spatial != (1, 1)
    )
    result.blocks = _block_patterns(layers, shuffles)
    result.channel_shuffles = shuffles
    result.activation_ops = Counter(
        {ACTIVATION_OPS[k]: v for k, v in ops.items() if k in ACTIVATION_OPS}
    )
    if "hardtanh" in ops and result.activation_modules.get("ReLU6"):
        result.activation_ops["ReLU6"] += ops["hardtanh"]  # ReLU6 runs as hardtanh(0, 6)
    return result


# -- swapping activations --------------------------------------------------------------------------


def swap_activations(model, factory, *, keep=GATES) -> int:
    """Replace every activation module (except gates) by `factory()`; returns how many."""
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if is_activation_module(child) and type(child).__name__ not in keep:
                setattr(parent, name, factory())
                count += 1
    return count


# -- receptive field -------------------------------------------------------------------------------


def _pair(v) -> tuple[int, int]:
    return (int(v[0]), int(v[-1])) if isinstance(v, list | tuple) else (int(v), int(v))


def _kernel_of(name: str, args) -> tuple | None:
    """((kh, kw), (sh, sw), (dh, dw)) of a convolution or pooling operator, else None."""
    if name == "convolution":  # (input, weight, bias, stride, padding, dilation, transposed, ...)
        k, s, d = tuple(args[1].shape[-2:]), _pair(args[3]), _pair(args[5])
        if args[6]:  # transposed convolution upsamples: the jump shrinks
            return k, (1 / s[0], 1 / s[1]), d
        return k, s, d
    if name == "deform_conv2d":  # torchvision: (input, weight, offset, mask, bias, sh, sw, ...)
        return tuple(args[1].shape[-2:]), (args[5], args[6]), (args[9], args[10])
    if name in ("max_pool2d_with_indices", "max_pool2d", "avg_pool2d"):
        k = _pair(args[1])
        s = _pair(args[2]) if len(args) > 2 and args[2] else k
        d = _pair(args[4]) if name.startswith("max") and len(args) > 4 else (1, 1)
        return k, s, d
    return None


GLOBAL_POOLS = ("_adaptive_avg_pool2d", "adaptive_max_pool2d", "mean", "amax", "sum")


def receptive_fields(model, layers: list[str], input_size: int = 224) -> dict[str, tuple[int, int]]:
    """{layer: (theoretical receptive field side in input pixels, stride)} for module names.

    One forward pass of a copy of the model on the meta device (shapes only, no arithmetic) under
    a dispatch mode that carries, for every tensor computed from the input, its receptive field
    r and jump j (input pixels between neighbouring units). A convolution or pooling with kernel
    k, dilation d and stride s gives r' = r + (k - 1) d j, j' = j s; an operator with several
    inputs (add, concatenate) takes the largest r; a global pooling sees the whole input;
    everything else keeps (r, j). The textbook recursion, applied to the graph the model runs.
    """
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    rf: dict[int, tuple[float, float]] = {}  # id(tensor) -> (r, j)
    alive = []  # tensors stay referenced during the pass, so their ids stay unique

    class Carry(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            ins = [
                rf[id(t)]
                for t in tree_flatten(args)[0]
                if isinstance(t, torch.Tensor) and id(t) in rf
            ]
            if not ins:  # weights, constants: not computed from the input
                return out
            name = func.overloadpacket.__name__
            r, j = max(i[0] for i in ins), max(i[1] for i in ins)
            kernel = _kernel_of(name, args)
            if kernel is not None:
                (kh, _), (sh, _), (dh, _) = kernel
                r, j = r + (kh - 1) * dh * j, j * sh
            elif name in GLOBAL_POOLS:
                r = max(r, float(input_size))
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    rf[id(t)] = (r, j)
                    alive.append(t)
            return out

    m = copy.deepcopy(model).to("meta").eval()
    found: dict[str, tuple[float, float] | None] = {}
    handles = [
        module.register_forward_hook(
            lambda mod, a, o, name=name: found.__setitem__(name, rf.get(id(o)))
        )
        for name, module in m.named_modules()
        if name in layers
    ]
    x = torch.zeros(1, 3, input_size, input_size, device="meta")
    rf[id(x)] = (1.0, 1.0)
    try:
        with torch.no_grad(), Carry():
            m(x)
    finally:
        for h in handles:
            h.remove()
    missing = [la for la in layers if found.get(la) is None]
    if missing:
        raise ValueError(f"layers {', '.join(missing)} did not run on the input")
    return {la: (round(found[la][0]), round(found[la][1])) for la in layers}


# -- the kernel types as layers, for measurement ---------------------------------------------------


class OffsetDeformConv(torch.nn.Module):
    """A deformable 3x3 convolution: a regular conv predicts the 2*3*3 sampling offsets per
    output pixel, `torchvision.ops.DeformConv2d` samples the input there (bilinearly)."""

    def __init__(self, channels: int, kernel_size: int = 3):
        from torchvision.ops import DeformConv2d

        super().__init__()
        pad = kernel_size // 2
        self.offset = torch.nn.Conv2d(
            channels, 2 * kernel_size * kernel_size, kernel_size, padding=pad
        )
        torch.nn.init.zeros_(self.offset.weight)  # start as a regular conv (the usual init)
        torch.nn.init.zeros_(self.offset.bias)
        self.conv = DeformConv2d(channels, channels, kernel_size, padding=pad, bias=False)
        self.bn = torch.nn.BatchNorm2d(channels)
        self.act = torch.nn.ReLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x, self.offset(x))))


def kernel_type_layers(channels: int) -> dict[str, object]:
    """One layer (or block) per kernel type, each mapping (B, C, H, W) -> (B, C, H, W).

    Library blocks where the libraries have them (torchvision's Conv2dNormActivation and
    MobileNet v2 / ShuffleNet v2 blocks, timm's depthwise-separable and ghost blocks), each with
    its normalisation and activation, as the networks use them.
    """
    from timm.models._efficientnet_blocks import DepthwiseSeparableConv
    from timm.models.ghostnet import GhostModule
    from torchvision.models.mobilenetv2 import InvertedResidual
    from torchvision.models.shufflenetv2 import InvertedResidual as ShuffleUnit
    from torchvision.ops import Conv2dNormActivation as ConvBNAct

    c = channels
    return {
        "regular 3x3": ConvBNAct(c, c, 3),
        "dilated 3x3 (d=2)": ConvBNAct(c, c, 3, dilation=2),
        "pointwise 1x1": ConvBNAct(c, c, 1),
        "depthwise-separable": DepthwiseSeparableConv(c, c, dw_kernel_size=3, noskip=True),
        "inverted residual (x6)": InvertedResidual(c, c, stride=1, expand_ratio=6),
        "ghost module": GhostModule(c, c),
        "shuffle unit": ShuffleUnit(c, c, stride=1),
        "deformable 3x3": OffsetDeformConv(c),
    }


def register_deform_conv_flops() -> None:
    """Teach torch's FLOP counter torchvision's deform_conv2d (idempotent).

    Same convention as convolutions: 2 FLOPs per multiply-add of the kernel, plus the bilinear
    sampling (4 multiply-adds per sampled input value), which a regular convolution does not do.
    """
    import torchvision  # noqa: F401 - registers torch.ops.torchvision
    from torch.utils import flop_counter

    op = torch.ops.torchvision.deform_conv2d
    if op in flop_counter.flop_registry or op.default in flop_counter.flop_registry:
        return

    @flop_counter.register_flop_formula(op)
    def _deform_flops(x_shape, w_shape, *args, out_shape=None, **kwargs) -> int:
        n, c_in = x_shape[0], x_shape[1]
        c_out, c_per_group, kh, kw = w_shape
        h_out, w_out = out_shape[-2:]
        macs = n * c_out * h_out * w_out * c_per_group * kh * kw
        samples = n * c_in * kh * kw * h_out * w_out
        return 2 * macs + 2 * 4 * samples
