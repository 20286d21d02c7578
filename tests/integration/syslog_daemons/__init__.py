"""Run real rsyslog and syslog-ng daemons in the foreground, with their own config in a temporary directory."""
