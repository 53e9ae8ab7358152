"""The control plane: config, the `straja` CLI, the supervisor that starts the workers."""
