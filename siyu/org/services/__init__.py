"""Organisation services: access scope, audit, API tokens, staff login throttling."""
