"""Params: scikit-learn's parameter protocol (``get_params`` / ``set_params`` / ``repr``), once.

``__init__`` only stores its arguments as attributes of the same names; the
parameters are therefore read from the constructor's signature.
"""

from __future__ import annotations

import inspect
from typing import Any

from tagrank.baselines.validation import TagrankInputError


class Params:
    """Mixin: parameters = the constructor's arguments, stored under their own names."""

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters and their current values."""
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self" and hasattr(self, p)}

    def set_params(self, **params: Any) -> Any:
        """Set constructor parameters by name (an unknown name is an error); returns self."""
        known = self.get_params()
        for key, value in params.items():
            if key not in known:
                raise TagrankInputError(f"{type(self).__name__} has no parameter {key!r}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


__all__ = ["Params"]
