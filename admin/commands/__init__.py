"""One module per `straja` CLI command group."""
