"""a06: Grad-CAM and Integrated Gradients on adversarial examples.

Question: does an FGSM perturbation change where the model "looks"? Compare Grad-CAM and
Integrated Gradients (Captum) on clean images and their FGSM twins (top-k% IoU, rank correlation,
mass shift). Then the course's question: Grad-CAM through the softmax output versus the logits, and
IG attributed to the logit (the layer before the softmax) versus the probability: what differs and
why (saturation). Finally, check IG's completeness axiom and how many steps it needs.

    nndl run a06                  # quick: real ImageNet EfficientNet-Lite0 on 6 photos, ~2.5 min
    nndl run a06 --profile full   # ResNet-50 ImageNet weights on the photos and yours

What to expect (quick, seed 0): EfficientNet-Lite0's bundled ImageNet weights (the model a05
attacks) on six real photographs. The FGSM twin's maps for its new (wrong) class overlap the clean
maps less than a Gaussian-noise twin's of the same L2 norm, and less as eps grows (top-20% IoU
~0.6 for Grad-CAM and ~0.35 for IG at eps 0.5-2/255, against ~0.9 and ~0.55 for noise). The
softmax Grad-CAM is a median ~0.1 times the size of the logit map, and its log size tracks
log p(1 - p) (r ~ 0.7); these photographs are classified with p 0.27-0.95, so the softmax
saturates less than on a confident training-set image. IG's completeness error falls slowly on
this network (above 1% at 64 steps): the report says how many steps each rule needs.
The smoke profile uses a small CNN trained on rendered shapes instead.

The report's sections, one module each: `images` (the classifier and the images), `adversarial`
(clean versus adversarial maps), `saturation` (softmax versus logits), `completeness`, and
`findings`; `figures` draws the maps. Grad-CAM and IG themselves: `nndl.methods.attribution`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from nndl import classifiers
from nndl.classifiers import ClassifierOptions
from nndl.config import opt
from nndl.expect import Expect
from nndl.registry import study

from .adversarial import clean_vs_adversarial, clean_vs_adversarial_section
from .completeness import IG_METHODS, completeness_section, measure_completeness
from .findings import findings_section
from .images import choose_images, intro_section
from .sanity import randomisation_check
from .saturation import saturation_section, softmax_vs_logit


@dataclass(frozen=True)
class Config(ClassifierOptions):
    num_images: int = opt(
        6,
        "correctly classified images explained, clean and adversarial; "
        "as many of the most confident ones for the softmax question",
    )
    num_completeness: int = opt(2, "of the most confident images, those in the completeness check")
    num_show: int = opt(4, "of which shown in the map figures")
    epsilons: tuple[float, ...] = opt((0.5, 1.0, 2.0), "FGSM eps (1/255) of the adversarial twins")
    demo_epsilon: float = opt(1.0, "eps (1/255) of the twins shown in the map figure")
    topk: float = opt(0.2, "share of pixels that makes up a map's 'important region'")
    ig_steps: int = opt(16, "Integrated Gradients steps (Captum n_steps) for the maps")
    ig_method: Literal["riemann_trapezoid", "gausslegendre", "riemann_middle"] = opt(
        "gausslegendre", "Captum's quadrature for the maps (its default)"
    )
    ig_batch: int = opt(32, "Captum internal_batch_size for IG (0 = all steps in one batch)")
    completeness_steps: tuple[int, ...] = opt(
        (8, 16, 32, 64), "IG step counts of the completeness check"
    )
    num_saturation: int = opt(8, "clean images for the softmax-versus-logit Grad-CAM statistics")
    cam_layer: str = opt("", "module for Grad-CAM ('' = the model's last spatial feature map)")

    PROFILES: ClassVar[dict] = classifiers.merge_profiles(
        classifiers.PROFILES,
        {
            "smoke": {
                "num_images": 3,
                "num_completeness": 2,
                "num_show": 2,
                "epsilons": (4.0, 16.0),
                "demo_epsilon": 16.0,
                "ig_steps": 16,
                "completeness_steps": (4, 16, 64),
                "num_saturation": 16,
                "ig_batch": 0,
            },
            "full": {
                "num_completeness": 4,
                "ig_steps": 128,
                "completeness_steps": (16, 32, 64, 128, 256, 512),
            },
        },
    )

    def plan(self, data_root) -> list[str]:
        n_steps = sum(self.completeness_steps) * 2 * len(IG_METHODS)
        n = (
            self.num_images
            if classifiers.is_small_cnn(self)
            else len(self.photos) + len(self.images)
        )
        return [
            f"classifier: {classifiers.weights_plan(self)}",
            f"{n} images x {len(self.epsilons)} eps: Grad-CAM and IG ({self.ig_steps} steps) on "
            f"clean, FGSM and noisy twins; completeness with {n_steps} IG steps per image",
            f"~{n * (len(self.epsilons) * 3 * 2 * self.ig_steps + n_steps):,} forward+backward "
            f"passes",
        ]


# What the headline numbers should be (the verdict table that opens the report; nndl.expect).
# Top-20% region IoU between the clean map and the FGSM twin's map at the demo eps. Quick:
# EfficientNet-Lite0 (bundled ImageNet weights) on the bundled photos, measured Grad-CAM 0.55-0.63,
# IG 0.31-0.38 (noise twins: 0.88-0.98 and 0.45-0.69). Full: ResNet-50.
_FRAGILE = (
    "Ghorbani et al. 2019, 'Interpretation of neural networks is fragile': small adversarial "
    "perturbations move saliency maps' top-k regions (top-1000 intersection often below 50%)"
)
EXPECT = (
    Expect(
        "iou_gradcam_demo",
        definition=(
            "IoU of the top-20% pixels of the clean map and of the FGSM twin's map (explaining the "
            "twin's prediction), mean over images, at the demo eps"
        ),
        quick=(0.3, 0.85),
        full=(0.2, 0.9),
        source=_FRAGILE,
    ),
    Expect("iou_ig_demo", quick=(0.15, 0.6), full=(0.1, 0.8), source=_FRAGILE),
    Expect(
        "sanity_rank_corr_gradcam",
        quick=(-0.5, 0.5),
        full=(-0.5, 0.5),
        split="n/a",
        epoch_rule="n/a",
        source="Adebayo et al. 2018: Grad-CAM passes the model-randomisation test (rank "
        "correlation with the randomised model's map falls towards 0)",
    ),
)


@study(
    "a06",
    "attribution",
    "Grad-CAM and Integrated Gradients on adversarial examples",
    config=Config,
    datasets=("shapes", "photos"),
    headline=("iou_gradcam_demo", "iou_ig_demo", "ig_steps_for_1pct"),
    expect=EXPECT,
)
def run(ctx) -> None:
    cfg: Config = ctx.config
    classifiers.check_options(cfg)

    with ctx.timer("classifier_s"):
        clf = classifiers.load_classifier(cfg, ctx)  # a05's, from the artifact cache
    if cfg.cam_layer:
        clf.cam_layer_name, clf.cam_layer = classifiers.find_cam_layer(
            clf.model, clf.image_size, cfg.cam_layer
        )
    images = choose_images(ctx, cfg, clf)
    intro_section(ctx, cfg, clf, images)

    with ctx.timer("clean_vs_adversarial_s"):
        regions = clean_vs_adversarial(ctx, cfg, clf, images)
    clean_vs_adversarial_section(ctx, cfg, clf, images, regions)
    with ctx.timer("sanity_s"):
        randomisation_check(ctx, cfg, clf, images, regions.clean)

    with ctx.timer("softmax_vs_logit_s"):
        saturation = softmax_vs_logit(cfg, clf, images)
    saturation_section(ctx, cfg, clf, images, saturation)

    with ctx.timer("completeness_s"):
        comp = measure_completeness(cfg, clf, images)
    completeness_section(ctx, cfg, comp)

    findings_section(ctx, cfg, regions, saturation, comp)
