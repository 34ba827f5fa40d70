"""Model cards (README.md) for the shipped embedded models, filled with measured evaluation numbers.

Called by `eval_embedded --write-cards`; knows the training recipe only as text. Writes nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parents[2] / "agentime" / "models"

COMMON = """
## Scope: the synthetic world only

This model was trained only on agentime's synthetic long-video world (`pipelines/synthetic/world.py`):
flat backgrounds (gray, navy, brown, teal, black, olive), six shapes (circle, square, triangle, star, hexagon,
diamond) in eight colours (red, green, blue, yellow, purple, orange, white, pink), and a caption at the top
(a number 10-99 or one of the words CAT SUN MAP BOX KEY FOX JAM OWL HAT CUP). It does not understand real
images or open-domain language. It exists so that agentime's demo, tests and benchmarks run offline; for
real videos plug in a real model (`hf:/path/to/a/vlm` or `openai:http://host:8000/v1#model`).

## Training

Trained from scratch, mostly on a 2-core CPU, with `python -m pipelines.train_embedded --ship` (a plain PyTorch loop;
staged: vision tower with dense per-patch colour x shape, caption, count and background supervision plus a
sigmoid contrastive loss, then connector and text model on question tasks, the vision tower fine-tuned at a
reduced learning rate, then focus stages at a low learning rate: mostly yes/no statements worded exactly as
agentime's search asks them, and for the target multi-frame and sufficiency questions; the target's last CPU
focus pass added binding negatives, the colour of one visible object with the shape of another). A last pass of
6.5 minutes on one GPU trained the target on mostly multi-frame questions in large batches and the draft on
single frames (`--device cuda --workers N`). The exact commands and stage lengths used are listed in
`datasets/embedded_training.md`.
Data: frames rendered on the fly from fresh synthetic worlds (see `datasets/embedded_training.md`).

## Measured quality

Held-out data generated with evaluation seed {seed} (`python -m pipelines.eval_embedded --seed {seed}`), on
a 2-core CPU:

```json
{numbers}
```

Loads with plain transformers: `AutoModelForImageTextToText.from_pretrained(folder)` (VLMs) or
`AutoModel.from_pretrained(folder)` (embedder), with `AutoProcessor.from_pretrained(folder)`.
"""

def _sizes(config: dict) -> dict:
    """The sizes a card states, read from the folder's config.json (so a card follows the shipped model)."""
    vision, text = config["vision_config"], config["text_config"]
    side = vision["image_size"] // vision["patch_size"]
    scale = config.get("scale_factor", 1)
    return dict(image=vision["image_size"], patch=vision["patch_size"], v_layers=vision["num_hidden_layers"],
                v_width=vision["hidden_size"], scale=scale, tokens=side * side // scale ** 2,
                t_layers=text["num_hidden_layers"], t_width=text["hidden_size"],
                t_max=text.get("max_position_embeddings"), projection=text.get("projection_size"))


HEADERS = {
    "target": """# agentime embedded target VLM

`Idefics3ForConditionalGeneration` (the SmolVLM architecture): a SigLIP-style vision tower
({v_layers} layers, width {v_width}, {image} px input, patch {patch}), pixel shuffle
{scale} ({tokens} tokens per frame) and a Llama text model ({t_layers} layers, width {t_width}),
float16 safetensors. Prompts follow agentime's timestamp-bound frame format (`[HH:MM:SS.s]` before each frame).
Tasks: yes/no statements about a frame or clip, frame descriptions ("red triangle, blue circle; text: 42"),
reading the on-screen number or word, multi-frame questions (when, what is shown at a time, what comes right
after, which number is shown while an object is on screen, how many times, 4-option multiple choice answered
with a letter) and sufficiency ("Can the question
be answered from these frames?").
""",
    "draft": """# agentime embedded draft VLM

`Idefics3ForConditionalGeneration` at {image} px: vision tower {v_layers} layers, width
{v_width}, patch {patch}, pixel shuffle {scale} ({tokens} tokens per frame); Llama text model {t_layers} layers, width
{t_width}; float16 safetensors. Made to scan many frames cheaply with yes/no statements (the draft of
speculative search); it also describes and reads frames, less reliably.
""",
    "embedder": """# agentime embedded embedder

`SiglipModel` dual encoder: vision tower {v_layers} layers, width {v_width}, {image} px, patch {patch},
attention-pooling head; text tower {t_layers} layers, width {t_width}, {t_max} tokens (padded to {t_max}, as SigLIP is used);
{projection}-d normalised embeddings; float16 safetensors. Short queries such as "red triangle",
"the number 42" or "When does the red triangle first appear?" retrieve matching frames.
""",
}


def write_cards(result: dict, models_dir: Path | None = None) -> None:
    folder = models_dir or MODELS_DIR
    for name, header in HEADERS.items():
        if name in result and (folder / name).is_dir():
            numbers = json.dumps({name: result[name], "seed": result["seed"], "samples": result["samples"]}, indent=1)
            header = header.format(**_sizes(json.loads((folder / name / "config.json").read_text())))
            (folder / name / "README.md").write_text(header + COMMON.format(seed=result["seed"], numbers=numbers))
