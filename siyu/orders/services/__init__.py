"""Order services: checkout, state transitions, payment notifications, pickup verification, expiry."""
