"""The footer: the keys that work right now, on one line, clickable.

Textual's ``Footer`` builds one widget per key and rebuilds them whenever focus or the screen
changes, which costs 40–100 ms per view switch on a slow machine; this draws the same
information as a single line of text (a click on a key presses it).
"""

from __future__ import annotations

from typing import Any

from textual.content import Content
from textual.widgets import Static


class KeyBar(Static):
    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._update_keys)
        self._update_keys()

    def _update_keys(self, _screen: Any = None) -> None:
        app = self.app
        parts: list[Content] = []
        groups: dict[str, list[str]] = {}
        group_at: dict[str, int] = {}
        seen: set[tuple[str, str]] = set()
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if not binding.show or not active.enabled:
                continue
            if (binding.action, binding.description) in seen:
                continue  # "escape,backspace": one entry, the first key
            seen.add((binding.action, binding.description))
            key = app.get_key_display(binding)
            if binding.group is not None:
                name = binding.group.description
                if name not in groups:
                    groups[name] = []
                    group_at[name] = len(parts)
                    parts.append(Content(""))
                groups[name].append(key)
                continue
            parts.append(_key(key, binding.key.split(",")[0], binding.description))
        for name, keys in groups.items():
            parts[group_at[name]] = Content.assemble((_key_range(keys), "bold $accent"), " ", name)
        if app.ENABLE_COMMAND_PALETTE:
            parts.append(_key("^p", "ctrl+p", "palette"))
        self.update(Content("  ").join(parts))


def _key(display: str, key: str, description: str) -> Content:
    return Content.from_markup(
        f"[@click=app.simulate_key({key!r})]$display[/] $description",
        display=display,
        description=description,
    )


def _key_range(keys: list[str]) -> str:
    """``1 2 3 4 5`` → ``1-5`` when consecutive digits, else the keys run together."""
    if len(keys) > 2 and all(k.isdigit() and len(k) == 1 for k in keys):
        digits = [int(k) for k in keys]
        if digits == list(range(digits[0], digits[0] + len(digits))):
            return f"{keys[0]}-{keys[-1]}"
    return "".join(keys)
