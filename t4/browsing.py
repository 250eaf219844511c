"""The methods of ``Bucket`` a file browser reads with: one folder a page, and a link that
downloads an object without credentials (the web catalog's pages use both)."""

from __future__ import annotations

from t4.backends.base import Backend, FolderPage
from t4.keys import as_prefix, check_file_key, check_key
from t4.surface import named

__all__ = ["BrowsingMethods"]


class BrowsingMethods:
    """Mixed into ``Bucket``, which sets these attributes."""

    _backend: Backend

    def ls_folder(
        self, prefix: str = "", token: str | None = None, limit: int = 1000
    ) -> FolderPage:
        """One page of what is directly under ``prefix``, as a file browser shows a folder:
        ``.folders`` (sub-prefixes ending in ``/``), ``.objects`` and ``.next_token`` (pass
        it back for the next page; ``None`` on the last). One request on S3, at most
        ``limit`` (up to 1,000) entries however many keys lie below.

        Example:
            >>> page = b.ls_folder("raw/")  # doctest: +SKIP
            >>> page.folders, [o.key for o in page.objects]  # doctest: +SKIP
            (['raw/2024/'], ['raw/a.csv'])
        """
        prefix = as_prefix(prefix)
        if prefix:
            check_key(prefix, self._backend.uri)
        return self._backend.list_folder(prefix, token, max(1, min(limit, 1000)))

    def download_url(
        self, key: str, version_id: str | None = None, expires: int = 3600
    ) -> str | None:
        """A presigned URL that downloads the object (that version) for ``expires`` seconds,
        with no credentials, on S3; ``None`` for a folder bucket (read it with ``open``).

        Example:
            >>> b.download_url("data/a.csv")  # doctest: +SKIP
            'https://b.s3.amazonaws.com/data/a.csv?X-Amz-Signature=...'
        """
        key = check_file_key(key, self._backend.uri, hint=named("keys(prefix)"))
        return self._backend.presign(key, version_id, expires)
