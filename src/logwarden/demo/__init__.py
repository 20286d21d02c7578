"""`logwarden demo`: a server on a temporary data dir, realistic traffic with periodic incidents, sample rules and
a receiver that prints the notifications (generator.py, rules.py, receiver.py, runner.py)."""
