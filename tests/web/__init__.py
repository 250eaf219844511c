"""The catalog's web pages, over HTTP and in a real browser."""
