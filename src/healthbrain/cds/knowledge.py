"""The live knowledge base: packaged files overridden by uploaded versions, swapped atomically on change."""

from __future__ import annotations

import threading
from typing import Any

import orjson

from healthbrain.cds.kb import (
    KNOWLEDGE_NAMES,
    KnowledgeBase,
    KnowledgeFile,
    build_knowledge_base,
    packaged_files,
    parse_knowledge_file,
)
from healthbrain.cds.store_admin import AdminStore
from healthbrain.core.errors import NotFound

__all__ = ["KnowledgeHolder"]


class KnowledgeHolder:
    """Holds the compiled knowledge base; uploads are validated against the whole base before use."""

    def __init__(self, admin: AdminStore) -> None:
        self.admin = admin
        self._packaged = packaged_files()
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._current: KnowledgeBase = build_knowledge_base(self._packaged)
        self.reload()

    @property
    def current(self) -> KnowledgeBase:
        return self._current

    def _files(self) -> dict[str, KnowledgeFile]:
        files = dict(self._packaged)
        for name, (_, content) in self.admin.active_knowledge().items():
            if name in files:
                files[name] = parse_knowledge_file(name, content.encode(), "upload")
        return files

    def reload(self, *, force: bool = False) -> bool:
        """Rebuild from the database when an upload or activation happened (any process)."""
        stamp = self.admin.knowledge_stamp()
        if stamp == self._stamp and not force:
            return False
        with self._lock:
            self._current = build_knowledge_base(self._files())
            self._stamp = stamp
        return True

    def listing(self) -> list[dict[str, Any]]:
        """Every knowledge file: the version in use, where it comes from, its hash and its sources."""
        kb = self._current
        out = []
        for name in KNOWLEDGE_NAMES:
            f = kb.files[name]
            out.append(
                {
                    "name": name,
                    "version": f.version,
                    "origin": f.origin,
                    "sha256": f.sha256,
                    "description": f.document.get("description"),
                    "sources": len(f.document.get("sources", {})),
                }
            )
        return out

    def versions(self, name: str) -> list[dict[str, Any]]:
        if name not in KNOWLEDGE_NAMES:
            raise NotFound(f"unknown knowledge file '{name}'", code="cds.unknown_knowledge_file")
        packaged = self._packaged[name]
        uploads = self.admin.knowledge_versions(name)
        in_use = self._current.files[name]
        rows = [{**u, "origin": "upload", "in_use": bool(u["active"])} for u in uploads]
        rows.append(
            {
                "id": None,
                "version": packaged.version,
                "sha256": packaged.sha256,
                "origin": "package",
                "in_use": in_use.origin == "package",
            }
        )
        return rows

    def document(self, name: str) -> dict[str, Any]:
        if name not in KNOWLEDGE_NAMES:
            raise NotFound(f"unknown knowledge file '{name}'", code="cds.unknown_knowledge_file")
        return dict(self._current.files[name].document)

    def upload(self, name: str, raw: bytes, uploaded_by: str) -> dict[str, Any]:
        """Validate a new version (alone and with the other files), store it and start using it."""
        new = parse_knowledge_file(name, raw, "upload")
        files = self._files()
        files[name] = new
        build_knowledge_base(files)  # cross-file references must resolve before it is accepted
        content = orjson.dumps(new.document).decode()
        row_id = self.admin.add_knowledge(name, new.version, new.sha256, content, uploaded_by)
        self.reload(force=True)
        return {"id": row_id, "name": name, "version": new.version, "sha256": new.sha256}

    def activate(self, name: str, version_id: int | None) -> None:
        """Use an earlier upload again, or (None) go back to the packaged file."""
        if name not in KNOWLEDGE_NAMES:
            raise NotFound(f"unknown knowledge file '{name}'", code="cds.unknown_knowledge_file")
        if not self.admin.activate_knowledge(name, version_id):
            raise NotFound("no such knowledge version", code="cds.unknown_knowledge_version")
        self.reload(force=True)
