"""The benchmark harness behind scripts/bench: fast fake upstreams, a bare proxy, load and measurement."""
