"""Orders: members buy in the H5 mall and pick up at their store (see docs/orders.md)."""
