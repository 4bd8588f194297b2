"""Tooling: demo seeding and benchmarks. May import every app; no app imports it."""
