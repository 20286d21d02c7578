"""Query helpers; the full search language arrives here later."""
