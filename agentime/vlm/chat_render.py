"""Chat turns of text and frames -> the prompt text a model's own chat template makes, frames kept in place.

agentime binds each frame to its timestamp by writing the timestamp text right before the frame. Most chat
templates keep the order of a turn's text and image items, but some (LLaVA-OneVision's, LLaVA-NeXT's)
write every image of a turn first and the text after it, which would leave the timestamps far from their
frames. `ChatRenderer` probes the template once: when it does not keep the order, each turn is given to the
template as one text item with the template's own image placeholder written where each frame goes, which
the processor then expands exactly as it expands the placeholders the template writes itself.

It renders text only; images, tokens and models are the backend's business.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentime.video.frames import Frame

_FIRST, _SECOND = "\u2460first\u2460", "\u2461second\u2461"  # probe texts no template writes by itself


class ChatRenderer:
    """Renders chat turns with `template` (the processor's or tokenizer's chat template)."""

    def __init__(self, processor, tokenizer, template: str):
        self.processor = processor
        self.tokenizer = tokenizer
        self.template = template
        try:
            self.image_placeholder = self._image_placeholder()
            self.keeps_order = self._keeps_order()
        except Exception:  # noqa: BLE001 - a template that cannot render the probe is used as it is
            self.image_placeholder, self.keeps_order = "", True

    def render_messages(self, messages: list[dict]) -> str:
        """The template applied to typed messages, with the assistant turn opened."""
        # Processors that declare a video processor may read its settings while rendering; built without
        # one (no torchvision), the tokenizer renders the same template with the same special tokens.
        renderer = self.processor
        if "video_processor" in getattr(type(self.processor), "get_attributes", lambda: [])() and getattr(
                self.processor, "video_processor", None) is None:
            renderer = self.tokenizer
        return renderer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False,
                                            chat_template=self.template)

    def messages(self, chat: Sequence[tuple[str, Sequence]]) -> list[dict]:
        """Chat turns as typed messages, frames inlined as placeholders where the template would move them."""
        messages = []
        for role, parts in chat:
            if self.keeps_order or not any(isinstance(p, Frame) for p in parts):
                content = [{"type": "image"} if isinstance(p, Frame) else {"type": "text", "text": p} for p in parts]
            else:
                text = "".join(self.image_placeholder if isinstance(p, Frame) else p for p in parts)
                content = [{"type": "text", "text": text}]
            messages.append({"role": role, "content": content})
        return messages

    def render(self, chat: Sequence[tuple[str, Sequence]]) -> str:
        return self.render_messages(self.messages(chat))

    def _probe(self, *items: str | None) -> str:
        content = [{"type": "image"} if item is None else {"type": "text", "text": item} for item in items]
        return self.render_messages([{"role": "user", "content": content}])

    def _image_placeholder(self) -> str:
        """What the template writes for one image: the difference between a turn with and without one."""
        # The probe text sits right before the image in order-keeping templates; matching the common suffix
        # first anchors the placeholder on that text, which it cannot overlap (a placeholder starting with
        # the same character as what follows it would otherwise come out rotated: "image><").
        with_image, without = self._probe(_FIRST, None), self._probe(_FIRST)
        shorter = min(len(with_image), len(without))
        end = 0
        while end < shorter and with_image[-1 - end] == without[-1 - end]:
            end += 1
        start = 0
        while start < shorter - end and with_image[start] == without[start]:
            start += 1
        return with_image[start:len(with_image) - end]

    def _keeps_order(self) -> bool:
        """Whether an image given between two text items is rendered between them."""
        text = self._probe(_FIRST, None, _SECOND)
        first, second = text.find(_FIRST), text.find(_SECOND)
        image = text.find(self.image_placeholder, first + len(_FIRST)) if self.image_placeholder else -1
        return 0 <= first < image < second
