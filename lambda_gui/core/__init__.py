"""Pure domain: no Qt, no network, no disk."""
