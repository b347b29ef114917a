"""Build the API reference of aiodtls from its docstrings with pdoc (``pip install '.[docs]'``).

    python3 docs/build_api.py [OUTPUT_DIRECTORY]      # default: site/api

Documents every module of the package (``aiodtls`` lists only its re-exported names in
``__all__``, which would hide the submodules from a plain ``pdoc aiodtls``), then checks that
every public module, class, function, method and property, and every module-level name in a
module's ``__all__``, has a docstring (pdoc counts a docstring inherited from a base class).
Exits 1 and lists what lacks one; ``tests/test_api_docs.py`` runs this script so the
reference cannot rot. Open ``OUTPUT_DIRECTORY/index.html`` in a browser.
"""

from __future__ import annotations

import pkgutil
import sys
from pathlib import Path

import pdoc
import pdoc.doc

import aiodtls


def modules() -> list[str]:
    """Every public module of the package (``aiodtls.__main__`` runs the CLI: not a module)."""
    names = ["aiodtls"]
    for info in pkgutil.walk_packages(aiodtls.__path__, "aiodtls."):
        parts = info.name.split(".")
        if info.name != "aiodtls.__main__" and not any(p.startswith("_") for p in parts):
            names.append(info.name)
    return names


def missing_docstrings(names: list[str]) -> list[str]:
    """The public names among ``names``' modules without a docstring."""
    missing: list[str] = []

    def walk(namespace: pdoc.doc.Namespace[object], exported: set[str] | None) -> None:
        for name, member in namespace.members.items():
            if name.startswith("_") or isinstance(member, pdoc.doc.Module):
                continue
            if member.taken_from[0] != namespace.modulename:
                continue  # imported or inherited: checked where it is defined
            # Class attributes (enum members, dataclass fields) are not checked; a
            # module-level name is when the module exports it.
            if isinstance(member, pdoc.doc.Variable) and (exported is None or name not in exported):
                continue
            if not member.docstring.strip():
                missing.append(member.fullname)
            if isinstance(member, pdoc.doc.Class):
                walk(member, None)

    for name in names:
        module = pdoc.doc.Module.from_name(name)
        if not module.docstring.strip():
            missing.append(name)
        exported = getattr(module.obj, "__all__", None)
        walk(module, set(exported) if exported is not None else set())
    return missing


def main(argv: list[str]) -> int:
    """Build into ``argv[0]`` (default ``site/api``), then check the docstrings."""
    output = Path(argv[0] if argv else "site/api")
    names = modules()
    pdoc.pdoc(*names, output_directory=output)
    print(f"API reference of {len(names)} modules written to {output}/index.html")
    missing = missing_docstrings(names)
    for name in missing:
        print(f"no docstring: {name}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
