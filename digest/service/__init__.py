"""``digest serve``: the always-on service and its schedule."""
