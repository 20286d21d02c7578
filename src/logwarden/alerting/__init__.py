"""Alert routing and notification, Alertmanager-shaped (../../docs/alerting.md).

rules engine ─► alert_log (outbox) ─► router: dispatch (routing tree, aggregation groups, group_wait /
group_interval / repeat_interval) ─► mute (silences, inhibition, time intervals: one `Muter`) ─► notify stages
(dedup through the notification log, persisted queue, retry with backoff) ─► notifiers (one module per channel).
"""
