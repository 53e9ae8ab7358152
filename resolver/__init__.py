"""The data plane: sockets, wire handling, answer cache, policy decision and upstreams."""
