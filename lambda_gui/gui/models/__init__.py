"""Qt table models over the domain's plain values (tested without a window)."""
