"""Chat formatting that follows the model's own template.

llama-index's LlamaCPP sends raw text to the model; without this the GGUF's chat
template is ignored. We render the template stored in the GGUF metadata with
llama-cpp-python's Jinja2 formatter, and fall back to ChatML (the Qwen format)
only when a GGUF carries no template.
"""
from __future__ import annotations

from typing import Callable, Sequence

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _token_text(model, token_id: int) -> str:
    try:
        return model.detokenize([token_id], special=True).decode("utf-8", errors="ignore")
    except Exception:  # noqa: BLE001 - some vocabularies have no text for a control id
        return ""


def chat_formatter(model) -> Callable[[Sequence], str]:
    """Return messages_to_prompt for a loaded llama_cpp.Llama."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = (getattr(model, "metadata", None) or {}).get("tokenizer.chat_template") or CHATML
    eos = _token_text(model, model.token_eos())
    bos = _token_text(model, model.token_bos()) if model.token_bos() >= 0 else ""
    formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos, add_generation_prompt=True)

    def messages_to_prompt(messages: Sequence) -> str:
        msgs = [{"role": _role(m), "content": m.content or ""} for m in messages]
        prompt = formatter(messages=msgs).prompt
        # llama.cpp adds BOS itself when tokenizing; avoid a doubled one.
        if bos and prompt.startswith(bos):
            prompt = prompt[len(bos):]
        return prompt

    return messages_to_prompt


def _role(message) -> str:
    role = getattr(message, "role", "user")
    return getattr(role, "value", str(role))
