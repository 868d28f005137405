"""Print the names of every choice element (`value[x]` → `value`) in the R4B models.

The FHIRPath indexer only looks for `valueQuantity`-style keys under these names (see
`healthbrain.fhir.fhirpath.CHOICE_ELEMENTS`); rerun this when the models change.
"""

from __future__ import annotations

import importlib
import pkgutil

import fhir.resources.R4B as r4b


def main() -> None:
    names: set[str] = set()
    for info in pkgutil.iter_modules(r4b.__path__):
        module = importlib.import_module(f"fhir.resources.R4B.{info.name}")
        for obj in vars(module).values():
            for field in getattr(obj, "model_fields", {}).values() if isinstance(obj, type) else ():
                extra = field.json_schema_extra
                if isinstance(extra, dict) and extra.get("one_of_many"):
                    names.add(str(extra["one_of_many"]))
    print(sorted(names))


if __name__ == "__main__":
    main()
