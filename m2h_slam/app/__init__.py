"""The application layer: one module per command, the run loop, snapshots, outputs, data-set evaluation and
training glue. It may import every layer below it; nothing below imports it."""
