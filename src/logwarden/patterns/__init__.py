"""Log patterns: the miner that gives every stored line its template id, and the store that keeps them."""
