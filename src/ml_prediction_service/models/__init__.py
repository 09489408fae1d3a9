"""Model registry: import/download/verify/load/cache/hot reload, and the model runtimes."""
