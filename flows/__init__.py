"""Example flows built from ``t4flows`` tasks: copy them, change them, schedule them.

- ``mirror_directory``: folder -> bucket, bucket -> folder, bucket -> bucket, incremental.
- ``annotate_and_publish``: derive and merge metadata, validate, publish, report.
- ``search_then_fetch``: search a bucket and download every hit.
"""
