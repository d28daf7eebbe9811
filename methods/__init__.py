"""Methods of the paper, one file each, found by name through a registry.

Every module in this folder whose name does not start with ``_`` is imported here,
so a new method is one new file plus one config entry. See ``_registry.py``.
"""
import importlib
import pkgutil

from methods._registry import (
    Method,
    MethodConfig,
    build_method,
    get_method_class,
    known_methods,
    register_method,
)

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["Method", "MethodConfig", "build_method", "get_method_class", "known_methods", "register_method"]
