"""Quality of the shipped embedded models on a small fresh sample (seed never used in training).

Each check compares with the issue's target minus a margin for the sample size (two binomial standard
errors). Where the shipped models do not reach a target yet (see their model cards and
`python -m pipelines.eval_embedded`), the test asserts the floor they do reach, so a regression fails; the
gap to the target is tracked in the issue, not hidden here.
"""

import math

import pytest

from pipelines.bench import eval_embedded as ev

SEED = 424242  # not a training seed: training streams are named "<training seed>-<stage>-<step>"
N = 40
N_YES_NO = 160  # yes/no prompts are scored 32 per forward pass: a larger sample costs little
N_BINDING = 80

# task: (issue target, floor asserted while the target is not reached, or None when the target is reached).
# Measured with `python -m pipelines.eval_embedded --seed 777` (150-300 samples per task, 60-minute video):
# target yes/no 0.98, binding negatives 0.93, describe 0.91, read 1.0, multi-frame 0.51 (when 0.04, what at
# 0.29, after 0.49, needle 0.83, count 0.96, choice 0.44), sufficiency 0.96; draft yes/no 0.94 at 11.8x fewer
# model FLOPs per frame than the target (5.2x its frames per second on this shared CPU); embedder recall@5
# 0.98. On this test's seed: target yes/no 0.975, binding 0.875 (80), describe 0.925, sufficiency 1.0,
# multi-frame 0.46 (12 per kind), draft yes/no 0.94. Floors sit about two standard errors of the test's sample
# below those. Binding negatives are yes/no statements, so they share the yes/no target.
TARGETS = {
    "target.yes_no": (0.97, None),
    "target.binding": (0.97, 0.8),
    "target.describe": (0.90, None),
    "target.read": (0.95, None),
    "target.sufficiency": (0.90, None),
    "target.multi_frame": (0.85, 0.34),
    "draft.yes_no": (0.90, None),
    "embedder.recall_at_5": (0.95, 0.8),
    "draft.flops_ratio": (4.0, None),
}
N_MULTI = 12  # per question kind


def margin(target: float, n: int) -> float:
    return 2 * math.sqrt(target * (1 - target) / n) if target < 1 else 0.0


def check(key: str, measured: float, n: int) -> None:
    target, floor = TARGETS[key]
    threshold = target - margin(target, n) if target <= 1 else target
    if measured >= threshold:
        return
    if floor is not None and measured >= floor:
        return  # below the target, at or above what the shipped models are known to reach
    raise AssertionError(f"{key}: {measured:.3f} on {n} samples, below {threshold:.3f}"
                         + (f" and below the floor {floor}" if floor is not None else ""))


@pytest.fixture(scope="module")
def models():
    return ev.load_models(None)


def test_target_yes_no(models):
    check("target.yes_no", ev.yes_no_accuracy(models["target"], SEED, N_YES_NO), N_YES_NO)


def test_target_binds_colour_and_shape_to_one_object(models):
    """'There is a green diamond.' over a blue diamond and a green square is false (the old target: chance)."""
    check("target.binding", ev.binding_accuracy(models["target"], SEED, N_BINDING), N_BINDING)


def test_target_describe(models):
    check("target.describe", ev.describe_accuracy(models["target"], SEED, N), N)


def test_target_read(models):
    check("target.read", ev.read_accuracy(models["target"], SEED, N), N)


def test_target_sufficiency(models):
    check("target.sufficiency", ev.sufficiency_accuracy(models["target"], SEED, N), N)


def test_target_multi_frame(models):
    result = ev.multi_frame_accuracy(models["target"], SEED, N_MULTI)
    kinds = [k for k in result if k != "overall"]
    check("target.multi_frame", result["overall"], N_MULTI * len(kinds))


def test_draft_yes_no(models):
    check("draft.yes_no", ev.yes_no_accuracy(models["draft"], SEED, N_YES_NO), N_YES_NO)


def test_draft_is_cheaper_per_frame_than_target(models):
    """Model FLOPs per scored frame (frames per second are reported by eval_embedded, not asserted here)."""
    target = ev.mflops_per_frame(models["target"], SEED)
    draft = ev.mflops_per_frame(models["draft"], SEED)
    check("draft.flops_ratio", target / draft, 1)


def test_embedder_recall(models):
    result = ev.embedder_recall(models["embedder"], SEED, minutes=10)
    check("embedder.recall_at_5", result["recall_at_5"], result["queries"])
