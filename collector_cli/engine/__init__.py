"""The run: planning, the two-stage async pipeline, checkpoints and cancellation. Never prints."""
