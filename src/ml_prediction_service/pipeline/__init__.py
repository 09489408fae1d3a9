"""The real-time path: events → batch → history → features → models → predictions."""
