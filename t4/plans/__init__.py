"""Plans for the bulk operations: list once, compare, decide what moves; then hand the
steps to ``t4.transfer.run_plan``. Written once for every backend, for every caller
(``put_dir``, ``put_files``, ``fetch``, ``fetch_keys``, ``copy_to``, the mirror), one module
per kind: ``upload``, ``fetch``, ``copy`` (and delete), on what they share in ``common``.
"""
