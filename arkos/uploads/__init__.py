"""File uploads: the secured `/api/uploads` routes, `uploads=` on ArkosRouter routes, and storage."""

from arkos.uploads.custom import UploadedFiles, Uploads, get_uploads
from arkos.uploads.receive import UploadedFile
from arkos.uploads.storage import LocalStorage, Storage, StoredFile

__all__ = ["LocalStorage", "Storage", "StoredFile", "UploadedFile", "UploadedFiles", "Uploads", "get_uploads"]
