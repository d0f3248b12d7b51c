"""The plugin system's host side: hook specs, the registry, loading, provenance and trust, hook
tracing, and the interfaces plugins are built against (contexts, contracts)."""
