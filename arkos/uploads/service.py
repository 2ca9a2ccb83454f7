"""UploadService: the resolved file types and the storage, reachable as `runtime.uploads`."""

from __future__ import annotations

from collections.abc import Mapping

from arkos.config import ConfigError, FileUploadConfig
from arkos.uploads.images import ImageOptions
from arkos.uploads.kinds import FileKind, resolve_kinds
from arkos.uploads.receive import FileRule, Receiver
from arkos.uploads.storage import LocalStorage, Storage


class UploadService:
    def __init__(self, config: FileUploadConfig) -> None:
        self.config = config
        self.kinds: dict[str, FileKind] = resolve_kinds(config)
        storage = config.storage if config.storage is not None else LocalStorage(config.base_upload_dir)
        if not isinstance(storage, Storage):
            raise ConfigError(
                "file_upload.storage: expected an object with async save/open/delete/exists and "
                "url() (see arkos.uploads.Storage)"
            )
        self.storage: Storage = storage

    def receiver(
        self, rules: Mapping[str, FileRule], *, image_options: ImageOptions | None = None
    ) -> Receiver:
        return Receiver(
            self.storage,
            rules,
            base_route=self.config.base_route,
            image_options=image_options,
            max_image_pixels=self.config.max_image_pixels,
        )

    def key(self, file_type: str, name: str) -> str:
        return f"{self.kinds[file_type].directory}/{name}"
