"""Generated protobuf modules (Loki's push API); regenerate as described in each .proto file."""
